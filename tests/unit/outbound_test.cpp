// The host's HTTP service around the client: retries and Retry-After, redirects (credentials kept
// to their origin, every hop re-checked), circuit breakers, rate budgets and the in-flight cap.
#include "http/outbound.hpp"
#include "upstream.hpp"

#include <boost/json.hpp>
#include <catch2/catch.hpp>

#include <boost/asio/ip/tcp.hpp>

#include <atomic>
#include <future>
#include <thread>

using namespace testing;
using patchbay::Errc;
using Clock = std::chrono::steady_clock;
namespace json = boost::json;
namespace host = patchbay::host;
namespace phttp = patchbay::http;

namespace {

struct Rig {
    phttp::Client client;
    phttp::OutboundService service;
    std::vector<host::RateRule> rules;

    static phttp::ClientOptions client_options(std::vector<std::string> allow) {
        phttp::ClientOptions o;
        o.egress = phttp::EgressPolicy::parse(allow).value();
        o.max_response_bytes = 4096;
        return o;
    }
    static phttp::OutboundOptions fast(phttp::OutboundOptions o) {
        o.backoff_base = std::chrono::milliseconds(5);
        o.backoff_cap = std::chrono::milliseconds(20);
        return o;
    }
    explicit Rig(phttp::OutboundOptions o = {}, std::vector<std::string> allow = {"127.0.0.1"})
        : client(client_options(std::move(allow))), service(client, fast(o)) {}

    patchbay::Result<host::OutboundResponse> send(host::OutboundRequest r, const host::CallScope* scope = nullptr,
                                                  std::chrono::milliseconds budget = std::chrono::seconds(10)) {
        pb_call call;
        call.integration = "demo";
        call.http = &service;
        call.scope = scope;
        call.rate_rules = &rules;
        call.deadline = Clock::now() + budget;
        return service.execute(std::move(r), call);
    }
    patchbay::Result<host::OutboundResponse> get(const std::string& url, const host::CallScope* scope = nullptr,
                                                 std::chrono::milliseconds budget = std::chrono::seconds(10)) {
        host::OutboundRequest r;
        r.url = url;
        return send(std::move(r), scope, budget);
    }
};

host::OutboundRequest post(const std::string& url, std::string body = "{}") {
    host::OutboundRequest r;
    r.method = "POST";
    r.url = url;
    r.body = std::move(body);
    r.headers = {{"Content-Type", "application/json"}};
    return r;
}

json::object body_of(const host::OutboundResponse& r) { return json::parse(r.body).as_object(); }

}  // namespace

TEST_CASE("an origin is scheme, host and port in one form, however the URL writes them", "[outbound]") {
    using patchbay::http::origin_of;
    CHECK(origin_of("http://127.0.0.1:8080/data.json") == "http://127.0.0.1:8080");
    CHECK(origin_of("HTTPS://API.Example.com/v1?x=1") == "https://api.example.com:443");
    CHECK(origin_of("http://example.com") == "http://example.com:80");
    CHECK(origin_of("http://example.com?q") == "http://example.com:80");
    CHECK(origin_of("https://example.com:8443#top") == "https://example.com:8443");
    // What the direct reading leaves to the full parser comes out the same way.
    CHECK(origin_of("https://user:secret@Example.com:9000/x") == "https://example.com:9000");
    CHECK(origin_of("http://[::1]:8080/") == origin_of("http://[::1]:8080/other"));
    CHECK(origin_of("http://[::1]:8080/").find(":8080") != std::string::npos);
    CHECK(origin_of("http://ex%41mple.com/") == "http://ex%41mple.com:80");
    CHECK(origin_of("/relative/path").empty());
    CHECK(origin_of("not a url").empty());
}

TEST_CASE("Retry-After is read in seconds and as an HTTP date", "[outbound]") {
    auto now = std::chrono::system_clock::from_time_t(784111777);  // Sun, 06 Nov 1994 08:49:37 GMT
    using ms = std::chrono::milliseconds;
    CHECK(phttp::parse_retry_after("120", now) == ms(120'000));
    CHECK(phttp::parse_retry_after(" 0 ", now) == ms(0));
    CHECK(phttp::parse_retry_after("Sun, 06 Nov 1994 08:50:07 GMT", now) == ms(30'000));
    CHECK(phttp::parse_retry_after("Sunday, 06-Nov-94 08:50:37 GMT", now) == ms(60'000));
    CHECK(phttp::parse_retry_after("Sun Nov  6 08:49:47 1994", now) == ms(10'000));
    CHECK(phttp::parse_retry_after("Sun, 06 Nov 1994 08:00:00 GMT", now) == ms(0));  // in the past: now
    CHECK_FALSE(phttp::parse_retry_after("soon", now).has_value());
    CHECK_FALSE(phttp::parse_retry_after("-5", now).has_value());
    CHECK_FALSE(phttp::parse_retry_after("", now).has_value());
}

TEST_CASE("idempotent requests are retried on 502/503/504/408/429; others are not", "[outbound][retry]") {
    Rig rig;
    Upstream up;
    auto ok = rig.get(up.url("/flaky?key=get&fails=2&status=503"));
    REQUIRE(ok.ok());
    CHECK(ok->status == 200);
    CHECK(up.hits("get") == 3);

    for (int status : {408, 429, 502, 504}) {
        std::string key = "s" + std::to_string(status);
        auto r = rig.get(up.url("/flaky?key=" + key + "&fails=1&status=" + std::to_string(status)));
        REQUIRE(r.ok());
        CHECK(r->status == 200);
        CHECK(up.hits(key) == 2);
    }

    // A POST may have taken effect: not retried, the plugin sees the 503.
    auto once = rig.send(post(up.url("/flaky?key=post&fails=1&status=503")));
    REQUIRE(once.ok());
    CHECK(once->status == 503);
    CHECK(up.hits("post") == 1);

    // ...unless it carries an idempotency key.
    auto keyed = post(up.url("/flaky?key=keyed&fails=1&status=503"));
    keyed.headers.emplace_back("Idempotency-Key", "order-42");
    auto twice = rig.send(keyed);
    REQUIRE(twice.ok());
    CHECK(twice->status == 200);
    CHECK(up.hits("keyed") == 2);

    // 500 and 4xx are answers, not transient failures.
    auto err = rig.get(up.url("/flaky?key=e500&fails=1&status=500"));
    REQUIRE(err.ok());
    CHECK(err->status == 500);
    CHECK(up.hits("e500") == 1);

    // Attempts are bounded.
    auto down = rig.get(up.url("/flaky?key=down&fails=100&status=503"));
    REQUIRE(down.ok());
    CHECK(down->status == 503);
    CHECK(up.hits("down") == rig.service.options().max_attempts);
}

TEST_CASE("Retry-After is honoured; a wait past the deadline is RATE_LIMITED with the time to retry", "[outbound][retry]") {
    Rig rig;
    Upstream up;
    auto quick = rig.get(up.url("/flaky?key=quick&fails=1&status=429&retry_after=0"));
    REQUIRE(quick.ok());
    CHECK(quick->status == 200);

    auto far = rig.get(up.url("/flaky?key=far&fails=1&status=429&retry_after=120"), nullptr, std::chrono::seconds(2));
    REQUIRE_FALSE(far.ok());
    CHECK(far.error().code == Errc::rate_limited);
    CHECK(far.error().details.at("retry_after_ms").to_number<int64_t>() == 120'000);
    CHECK(far.error().message.find("120 s") != std::string::npos);
    CHECK(up.hits("far") == 1);  // no sleeping through the deadline, no second attempt

    auto date = rig.get(up.url("/flaky?key=date&fails=1&status=503&retry_after=Wed,%2021%20Oct%202099%2007:28:00%20GMT"), nullptr,
                        std::chrono::seconds(2));
    REQUIRE_FALSE(date.ok());
    CHECK(date.error().code == Errc::rate_limited);
    CHECK(date.error().details.at("retry_after_ms").to_number<int64_t>() > 3'600'000);
}

TEST_CASE("connect failures are retried and reported; nothing waits past the deadline", "[outbound][retry]") {
    Rig rig;
    auto r = rig.get("http://127.0.0.1:1/json");
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().code == Errc::upstream_unavailable);
    CHECK(r.error().message.find("cannot connect to 127.0.0.1:1") != std::string::npos);
}

TEST_CASE("redirects: followed a few hops, credentials only where they belong, each hop re-checked", "[outbound][redirect]") {
    Rig rig;
    Upstream a, b;
    Upstream canary;
    host::CallScope scope;
    scope.connection_id = "c1";
    scope.injection.base_url = a.url("/");
    scope.injection.headers = {{"X-API-Key", "canary-key-123"}};
    a.expect_credential("canary-key-123");

    // Same origin: the credential is added again on the next hop.
    auto same = rig.get(a.url("/redirect?to=/protected/data"), &scope);
    REQUIRE(same.ok());
    CHECK(same->status == 200);

    // Another origin: neither the host's credentials nor the plugin's own auth headers go along.
    host::OutboundRequest r;
    r.url = a.url("/redirect?to=" + b.url("/echo"));
    r.headers = {{"Authorization", "Bearer plugin-own-token"}, {"Cookie", "session=abc"}, {"Accept", "application/json"}};
    auto cross = rig.send(r, &scope);
    REQUIRE(cross.ok());
    REQUIRE(cross->status == 200);
    auto headers = body_of(*cross).at("headers").as_object();
    CHECK_FALSE(headers.contains("x-api-key"));
    CHECK_FALSE(headers.contains("authorization"));
    CHECK_FALSE(headers.contains("cookie"));
    CHECK(headers.at("accept") == "application/json");

    // 303 after a POST becomes a GET without the body.
    auto see_other = rig.send(post(a.url("/redirect?status=303&to=/echo"), "{\"x\":1}"), &scope);
    REQUIRE(see_other.ok());
    CHECK(body_of(*see_other).at("method") == "GET");
    CHECK(body_of(*see_other).at("body") == "");
    // 307 keeps method and body.
    auto temporary = rig.send(post(a.url("/redirect?status=307&to=/echo"), "{\"x\":1}"), &scope);
    REQUIRE(temporary.ok());
    CHECK(body_of(*temporary).at("method") == "POST");
    CHECK(body_of(*temporary).at("body") == "{\"x\":1}");

    // A hop to a refused address is refused like a first request would be.
    for (const std::string& to : std::vector<std::string>{"http://0.0.0.0:" + std::to_string(canary.port()) + "/json",
                                 "http://%5B::ffff:127.0.0.1%5D:" + std::to_string(canary.port()) + "/json",
                                 "http://169.254.169.254/latest/meta-data/"}) {
        auto hop = rig.get(a.url("/redirect?to=" + to), &scope);
        INFO(to);
        REQUIRE_FALSE(hop.ok());
        CHECK(hop.error().code == Errc::egress_denied);
    }
    CHECK(canary.connections() == 0);
    auto scheme = rig.get(a.url("/redirect?to=file:///etc/passwd"));
    REQUIRE_FALSE(scheme.ok());
    CHECK(scheme.error().code == Errc::egress_denied);

    // Loops end.
    auto loop = rig.get(a.url("/redirect?to=/redirect%3Fto%3D/redirect"));
    REQUIRE_FALSE(loop.ok());
    CHECK(loop.error().code == Errc::upstream_error);
    CHECK(loop.error().message.find("more than 5 redirects") != std::string::npos);

    // A plugin that wants the 3xx itself can have it.
    host::OutboundRequest manual;
    manual.url = a.url("/redirect?to=/json");
    manual.follow_redirects = false;
    auto raw = rig.send(manual);
    REQUIRE(raw.ok());
    CHECK(raw->status == 302);
}

TEST_CASE("a circuit opens after repeated failures, fails fast, and a probe closes it", "[outbound][breaker]") {
    phttp::OutboundOptions o;
    o.breaker_failures = 3;
    o.breaker_open = std::chrono::milliseconds(300);
    Rig rig(o);
    Upstream failing, healthy;
    const std::string origin = "http://127.0.0.1:" + std::to_string(failing.port());
    for (int i = 0; i < 3; ++i) {
        auto r = rig.get(failing.url("/status/500"));
        REQUIRE(r.ok());
        CHECK(r->status == 500);
    }
    CHECK(rig.service.circuit_state("demo", origin) == "open");
    int before = failing.requests();
    auto fast = rig.get(failing.url("/json"));
    REQUIRE_FALSE(fast.ok());
    CHECK(fast.error().code == Errc::circuit_open);
    CHECK(failing.requests() == before);  // failed fast: nothing was sent

    // Other upstreams, and other integrations on the same upstream, are not affected.
    auto other = rig.get(healthy.url("/json"));
    REQUIRE(other.ok());
    CHECK(other->status == 200);
    CHECK(rig.service.circuit_state("other-integration", origin) == "closed");

    std::this_thread::sleep_for(std::chrono::milliseconds(350));
    CHECK(rig.service.circuit_state("demo", origin) == "half_open");
    auto probe = rig.get(failing.url("/json"));
    REQUIRE(probe.ok());
    CHECK(probe->status == 200);
    CHECK(rig.service.circuit_state("demo", origin) == "closed");

    // A failed probe opens it again at once.
    for (int i = 0; i < 3; ++i) (void)rig.get(failing.url("/status/500"));
    std::this_thread::sleep_for(std::chrono::milliseconds(350));
    (void)rig.get(failing.url("/status/500"));
    CHECK(rig.service.circuit_state("demo", origin) == "open");
}

TEST_CASE("rate budgets: shared per connection or per host, RATE_LIMITED when the wait passes the deadline", "[outbound][limits]") {
    Rig rig;
    Upstream up;
    rig.rules = {{2, std::chrono::hours(1), false}};
    host::CallScope one, two;
    one.connection_id = "c1";
    two.connection_id = "c2";
    CHECK(rig.get(up.url("/json"), &one).ok());
    CHECK(rig.get(up.url("/json"), &one).ok());
    int sent = up.requests();
    auto third = rig.get(up.url("/json"), &one, std::chrono::seconds(2));
    REQUIRE_FALSE(third.ok());
    CHECK(third.error().code == Errc::rate_limited);
    CHECK(third.error().details.at("scope") == "connection");
    auto retry_ms = third.error().details.at("retry_after_ms").to_number<int64_t>();
    CHECK(retry_ms > 1'000'000);  // about half an hour: one request every 30 minutes after the burst
    CHECK(retry_ms <= 1'800'000);
    CHECK(up.requests() == sent);  // refused before sending
    CHECK(rig.get(up.url("/json"), &two).ok());  // another connection has its own budget

    // Per host: every connection of the integration draws from one budget for that upstream.
    Rig shared;
    shared.rules = {{1, std::chrono::hours(1), true}};
    CHECK(shared.get(up.url("/json"), &one).ok());
    auto other = shared.get(up.url("/json"), &two, std::chrono::seconds(1));
    REQUIRE_FALSE(other.ok());
    CHECK(other.error().details.at("scope") == "host");

    // When the deadline allows, the request waits for its slot instead of failing.
    Rig paced;
    paced.rules = {{1, std::chrono::milliseconds(200), false}};
    auto start = Clock::now();
    CHECK(paced.get(up.url("/json"), &one).ok());
    CHECK(paced.get(up.url("/json"), &one).ok());
    CHECK(Clock::now() - start >= std::chrono::milliseconds(150));
}

TEST_CASE("a slow upstream holds at most its share of requests; calls elsewhere go on", "[outbound][limits]") {
    phttp::OutboundOptions o;
    o.max_in_flight_per_host = 2;
    Rig rig(o);
    Upstream slow, fast;
    auto first = std::async(std::launch::async, [&] { return rig.get(slow.url("/hold"), nullptr, std::chrono::seconds(30)); });
    auto second = std::async(std::launch::async, [&] { return rig.get(slow.url("/hold"), nullptr, std::chrono::seconds(30)); });
    while (slow.held() < 2) std::this_thread::sleep_for(std::chrono::milliseconds(5));

    auto third = rig.get(slow.url("/json"));
    REQUIRE_FALSE(third.ok());
    CHECK(third.error().code == Errc::upstream_busy);
    // The other upstream answers while the slow one still holds its two requests.
    auto other = rig.get(fast.url("/json"));
    REQUIRE(other.ok());
    CHECK(other->status == 200);
    CHECK(slow.held() == 2);

    slow.release();
    CHECK(first.get().ok());
    CHECK(second.get().ok());
    CHECK(rig.get(slow.url("/json")).ok());
}

TEST_CASE("responses larger than the configured maximum are refused with the limit named", "[outbound][limits]") {
    Rig rig;
    Upstream up;
    CHECK(rig.get(up.url("/big?bytes=1000")).ok());
    auto big = rig.get(up.url("/big?bytes=100000"));
    REQUIRE_FALSE(big.ok());
    CHECK(big.error().code == Errc::upstream_error);
    CHECK(big.error().message.find("larger than 4096 bytes") != std::string::npos);
}

TEST_CASE("connections that break before an answer are retried for idempotent requests only", "[outbound][retry]") {
    // A server that accepts and hangs up at once: every attempt is a fresh connection it counts.
    boost::asio::io_context ioc;
    boost::asio::ip::tcp::acceptor acceptor(ioc, {boost::asio::ip::make_address("127.0.0.1"), 0});
    std::atomic<int> accepted{0};
    std::atomic<bool> stop{false};
    std::thread hangup([&] {
        while (!stop) {
            boost::asio::ip::tcp::socket s(ioc);
            boost::system::error_code ec;
            acceptor.accept(s, ec);
            if (stop || ec) break;
            ++accepted;
            s.close(ec);
        }
    });
    std::string url = "http://127.0.0.1:" + std::to_string(acceptor.local_endpoint().port()) + "/json";
    Rig rig;
    auto get = rig.get(url);
    REQUIRE_FALSE(get.ok());
    CHECK(get.error().code == Errc::upstream_unavailable);
    CHECK(accepted == rig.service.options().max_attempts);
    auto posted = rig.send(post(url));
    REQUIRE_FALSE(posted.ok());
    CHECK(accepted == rig.service.options().max_attempts + 1);  // a POST is sent once
    stop = true;
    boost::asio::ip::tcp::socket poke(ioc);
    boost::system::error_code ec;
    poke.connect(acceptor.local_endpoint(), ec);
    hangup.join();
}
