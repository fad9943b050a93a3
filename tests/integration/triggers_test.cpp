// Triggers end to end: subscriptions and their hook URLs, webhook deliveries verified by the host
// (signature, timestamp, duplicates), turned into events by the plugin or taken whole, stored
// before the 2xx, and pulled by the engine in order with leases, acknowledgements and redelivery.
#include "common/clock.hpp"
#include "common/crypto.hpp"
#include "triggers/cron.hpp"
#include "test_support.hpp"
#include "upstream.hpp"

#include <boost/json.hpp>
#include <catch2/catch.hpp>

#include <set>

using namespace testing;
namespace json = boost::json;
namespace c = patchbay::crypto;

namespace {

std::string manifest() {
    return testkit_manifest("kit", "v1") + R"(auth:
  - type: bearer
triggers:
  - name: ticket_created
    title: Ticket created
    kind: webhook
    webhook:
      signature: {algorithm: hmac-sha256, header: X-Kit-Signature, format: "sha256={hex}", signed: "{timestamp}.{body}"}
      timestamp: {header: X-Kit-Timestamp, tolerance: 60s}
      deliveryId: X-Kit-Delivery
  - name: raw
    title: Anything posted
    kind: webhook
  - name: token_checked
    title: GitLab-style
    kind: webhook
    webhook: {verifiedBy: plugin, deliveryId: X-Gitlab-Event-UUID}
  - name: new_items
    title: New items
    kind: poll
    interval: 1s
  - name: tick
    title: Every second
    kind: schedule
    interval: 1s
)";
}

struct World {
    TempDir folder;
    std::unique_ptr<Served> server;
    std::map<std::string, std::string> token;
    std::string connection;

    explicit World(std::vector<std::string> serve_args = {}) {
        fs::copy(staged_manifests(), folder.path(), fs::copy_options::recursive);
        write_file(folder / "kit.yaml", manifest());
        server = std::make_unique<Served>(folder.path(), std::move(serve_args));
        token["admin"] = server->admin_token();
        server->install({"kit"});
        add("member", "member");
        add("other", "member");
        auto r = server->call("POST", "/v1/connections",
                              R"({"integration": "kit", "name": "main", "auth_type": "bearer", "secrets": {"token": "t"}})");
        REQUIRE(r.status == 201);
        connection = std::string(r.json().at("id").as_string());
    }
    void add(const std::string& user, const std::string& role) {
        auto a = run({patchbay_bin(), "admin", "--data", server->data_dir().string(), "users", "add", user, "--team", "default", "--role", role});
        REQUIRE(a.exit_code == 0);
        auto t = run({patchbay_bin(), "admin", "--data", server->data_dir().string(), "tokens", "create", "--team", "default", "--user", user});
        REQUIRE(t.exit_code == 0);
        token[user] = t.out.substr(0, t.out.find('\n'));
    }
    Response as(const std::string& who, const std::string& method, const std::string& path, const std::string& body = "") {
        return server->call_as(token.at(who), method, path, body);
    }
    json::object subscribe(const std::string& who, const std::string& body) {
        auto r = as(who, "POST", "/v1/subscriptions", body);
        INFO(r.body);
        REQUIRE(r.status == 201);
        return r.json().as_object();
    }
    json::object pull(const std::string& query = "") {
        auto r = server->call("GET", "/v1/events" + query);
        INFO(r.body);
        REQUIRE(r.status == 200);
        return r.json().as_object();
    }
};

// A delivery signed as the kit trigger declares.
Response deliver(const std::string& hook_url, const std::string& secret, const std::string& body, const std::string& delivery,
                 int64_t skew_seconds = 0, const std::string& signed_body = "") {
    auto now = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count() + skew_seconds;
    std::string ts = std::to_string(now);
    std::string sig = "sha256=" + c::hex(c::hmac(c::Mac::hmac_sha256, secret, ts + "." + (signed_body.empty() ? body : signed_body)));
    return http("POST", hook_url, body,
                {{"Content-Type", "application/json"}, {"X-Kit-Signature", sig}, {"X-Kit-Timestamp", ts}, {"X-Kit-Delivery", delivery}});
}

std::vector<std::string> ids_of(const json::object& page) {
    std::vector<std::string> ids;
    for (const auto& e : page.at("events").as_array()) ids.emplace_back(e.at("id").as_string());
    return ids;
}

}  // namespace

TEST_CASE("signed webhook deliveries become events the engine pulls, in order, at least once", "[triggers]") {
    World w;
    auto sub = w.subscribe("member", R"({"connection": ")" + w.connection + R"(", "trigger": "ticket_created", "params": {"queue": "vip"}})");
    CHECK(sub.at("status") == "active");
    CHECK(sub.at("kind") == "webhook");
    std::string hook(sub.at("hook_url").as_string());
    CHECK(hook.rfind(w.server->url() + "/hooks/wh_", 0) == 0);
    std::string secret(sub.at("signing_secret").as_string());  // generated, shown once
    CHECK(secret.rfind("whsec_", 0) == 0);
    auto again = w.as("member", "GET", "/v1/subscriptions/" + std::string(sub.at("id").as_string()));
    CHECK(again.json().at("hook_url").as_string() == hook);
    CHECK_FALSE(again.json().as_object().contains("signing_secret"));
    // The connection's own view does not list the subscription's secrets.
    auto conn = w.server->call("GET", "/v1/connections/" + w.connection);
    CHECK(conn.json().at("secrets").as_object().size() == 1);

    auto first = deliver(hook, secret, R"({"id": 1, "title": "Printer on fire"})", "d-1");
    INFO(first.body);
    REQUIRE(first.status == 200);
    CHECK(first.json().at("received") == 1);
    // The same delivery again (the sender retrying): answered, not stored twice.
    auto retry = deliver(hook, secret, R"({"id": 1, "title": "Printer on fire"})", "d-1");
    REQUIRE(retry.status == 200);
    CHECK(retry.json().at("duplicate") == true);
    // A list: one event per element, in order.
    REQUIRE(deliver(hook, secret, R"([{"id": 2}, {"id": 3}])", "d-2").status == 200);

    // A lease long enough that the check below runs inside it on a slow (sanitizer) build.
    auto page = w.pull("?limit=10&lease=4");
    auto events = page.at("events").as_array();
    REQUIRE(events.size() == 3);
    CHECK(events[0].at("data").at("ticket").at("title") == "Printer on fire");
    CHECK(events[0].at("data").at("verified") == true);
    CHECK(events[0].at("data").at("params").at("queue") == "vip");  // the subscription's params reach the plugin
    CHECK(events[0].at("trigger") == "ticket_created");
    CHECK(events[0].at("connection").as_string() == w.connection);
    CHECK(events[1].at("data").at("ticket").at("id") == 2);
    CHECK(events[2].at("data").at("ticket").at("id") == 3);
    CHECK(events[0].at("seq").as_int64() < events[1].at("seq").as_int64());
    CHECK(events[0].at("attempt") == 1);
    int64_t cursor = page.at("cursor").as_int64();
    // Out on lease: not handed out again meanwhile.
    CHECK(w.pull("?after=" + std::to_string(cursor)).at("events").as_array().empty());
    // Only the first acknowledged; after the lease the others come again, still in order.
    auto ack = w.server->call("POST", "/v1/events/ack", json::serialize(json::object{{"ids", json::array{events[0].at("id")}}}));
    REQUIRE(ack.status == 200);
    CHECK(ack.json().at("acknowledged") == 1);
    std::vector<std::string> redelivered;
    REQUIRE(eventually(
        [&] {
            redelivered = ids_of(w.pull("?after=" + std::to_string(cursor) + "&lease=30"));
            return !redelivered.empty();
        },
        std::chrono::seconds(20)));
    CHECK(redelivered == std::vector<std::string>{std::string(events[1].at("id").as_string()), std::string(events[2].at("id").as_string())});
    auto both = w.server->call("POST", "/v1/events/ack",
                               json::serialize(json::object{{"ids", json::array{json::string(redelivered[0]), json::string(redelivered[1]), "evt_nope"}}}));
    CHECK(both.json().at("acknowledged") == 2);
    CHECK(both.json().at("unknown") == json::array{"evt_nope"});
    CHECK(w.pull().at("events").as_array().empty());
    auto view = w.as("member", "GET", "/v1/subscriptions/" + std::string(sub.at("id").as_string()));
    CHECK(view.json().at("pending_events") == 0);
}

TEST_CASE("deliveries that fail verification are refused and store nothing", "[triggers][webhook]") {
    World w;
    auto sub = w.subscribe("member", R"({"connection": ")" + w.connection + R"(", "trigger": "ticket_created", "signing_secret": "given-secret-1"})");
    CHECK_FALSE(sub.contains("signing_secret"));  // the admin gave it: not echoed
    std::string hook(sub.at("hook_url").as_string());
    const std::string body = R"({"id": 9})";
    auto code = [](const Response& r) { return std::to_string(r.status) + " " + r.error_code(); };
    CHECK(code(deliver(hook, "wrong-secret", body, "x-1")) == "401 SIGNATURE_INVALID");
    CHECK(code(deliver(hook, "given-secret-1", body, "x-2", 0, R"({"id": 8})")) == "401 SIGNATURE_INVALID");  // a byte changed
    CHECK(code(deliver(hook, "given-secret-1", body, "x-3", -120)) == "401 SIGNATURE_INVALID");             // stale
    CHECK(code(deliver(hook, "given-secret-1", body, "x-4", +120)) == "401 SIGNATURE_INVALID");             // from the future
    auto unsigned_post = http("POST", hook, body, {{"X-Kit-Delivery", "x-5"}});
    CHECK(code(unsigned_post) == "401 SIGNATURE_INVALID");
    CHECK(unsigned_post.body.find("X-Kit-Signature") != std::string::npos);
    CHECK(unsigned_post.body.find("given-secret-1") == std::string::npos);
    // An unknown hook URL says nothing more.
    CHECK(http("POST", w.server->url() + "/hooks/wh_0123456789abcdef", body).status == 404);
    CHECK(w.pull().at("events").as_array().empty());
    // The right secret passes.
    CHECK(deliver(hook, "given-secret-1", body, "x-6").status == 200);
    CHECK(w.pull().at("events").as_array().size() == 1);

    // Rotation: the new secret works at once, the previous one until the next rotation.
    auto rotated = w.as("member", "POST", "/v1/subscriptions/" + std::string(sub.at("id").as_string()) + "/rotate-secret", "{}");
    REQUIRE(rotated.status == 200);
    std::string fresh(rotated.json().at("signing_secret").as_string());
    CHECK(deliver(hook, fresh, R"({"id": 10})", "x-7").status == 200);
    CHECK(deliver(hook, "given-secret-1", R"({"id": 11})", "x-8").status == 200);
    REQUIRE(w.as("member", "POST", "/v1/subscriptions/" + std::string(sub.at("id").as_string()) + "/rotate-secret", "{}").status == 200);
    CHECK(code(deliver(hook, "given-secret-1", R"({"id": 12})", "x-9")) == "401 SIGNATURE_INVALID");
}

TEST_CASE("subscriptions: unsigned triggers only when said, handshakes, pause, who may change them", "[triggers]") {
    World w;
    // A trigger without a signature: refused unless marked unsigned.
    auto refused = w.as("member", "POST", "/v1/subscriptions", R"({"connection": ")" + w.connection + R"(", "trigger": "raw"})");
    CHECK(refused.status == 400);
    CHECK(std::string(refused.json().at("error").at("message").as_string()).find("\"unsigned\": true") != std::string::npos);
    // Accepting unsigned deliveries is an admin's decision.
    CHECK(w.as("member", "POST", "/v1/subscriptions", R"({"connection": ")" + w.connection + R"(", "trigger": "raw", "unsigned": true})").status == 403);
    auto raw = w.subscribe("admin", R"({"connection": ")" + w.connection + R"(", "trigger": "raw", "unsigned": true})");
    CHECK(raw.at("unsigned") == true);
    CHECK_FALSE(raw.contains("signing_secret"));
    // The plugin has no hook for it: the host takes the body as the event.
    auto posted = http("POST", std::string(raw.at("hook_url").as_string()), "plain words", {{"Content-Type", "text/plain"}});
    REQUIRE(posted.status == 200);
    auto events = w.pull().at("events").as_array();
    REQUIRE(events.size() == 1);
    CHECK(events[0].at("data") == json::parse(R"({"body": "plain words"})"));

    // The plugin answers a handshake itself, storing nothing.
    auto signed_sub = w.subscribe("member", R"({"connection": ")" + w.connection + R"(", "trigger": "ticket_created"})");
    std::string hook(signed_sub.at("hook_url").as_string()), secret(signed_sub.at("signing_secret").as_string());
    auto handshake = deliver(hook, secret, R"({"challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"})", "h-1");
    REQUIRE(handshake.status == 200);
    CHECK(handshake.body == "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P");

    std::string id(signed_sub.at("id").as_string());
    // Not the creator, not an admin: may not pause or delete.
    CHECK(w.as("other", "POST", "/v1/subscriptions/" + id + "/pause").status == 403);
    CHECK(w.as("other", "DELETE", "/v1/subscriptions/" + id).status == 403);
    // Paused: deliveries are turned away with a 503 so the sender retries later.
    REQUIRE(w.as("admin", "POST", "/v1/subscriptions/" + id + "/pause").status == 200);
    auto paused = deliver(hook, secret, R"({"id": 1})", "p-1");
    CHECK(paused.status == 503);
    CHECK(paused.headers.count("retry-after") == 1);
    REQUIRE(w.as("member", "POST", "/v1/subscriptions/" + id + "/resume").status == 200);
    CHECK(deliver(hook, secret, R"({"id": 1})", "p-1").status == 200);
    auto list = w.as("other", "GET", "/v1/subscriptions?connection=" + w.connection);
    CHECK(list.json().at("subscriptions").as_array().size() == 2);
    // Deleted: its URL is gone and its secrets with it.
    REQUIRE(w.as("member", "DELETE", "/v1/subscriptions/" + id).status == 200);
    CHECK(deliver(hook, secret, R"({"id": 2})", "p-2").status == 404);
    auto audit = w.server->call("GET", "/v1/audit?limit=50").body;
    for (const char* a : {"subscription.create", "subscription.pause", "subscription.resume", "subscription.delete"})
        CHECK(audit.find(a) != std::string::npos);
    // Bad requests say what to send.
    CHECK(w.as("member", "POST", "/v1/subscriptions", R"({"connection": ")" + w.connection + R"(", "trigger": "nope"})").body.find(
              "its triggers are: ticket_created, raw") != std::string::npos);
    CHECK(w.as("member", "POST", "/v1/subscriptions", R"({"connection": "c_nope", "trigger": "raw", "unsigned": true})").status == 404);
}

TEST_CASE("a waiting pull returns as soon as an event is stored", "[triggers]") {
    World w;
    auto raw = w.subscribe("admin", R"({"connection": ")" + w.connection + R"(", "trigger": "raw", "unsigned": true})");
    std::string hook(raw.at("hook_url").as_string());
    std::thread poster([&] {
        std::this_thread::sleep_for(std::chrono::milliseconds(300));
        http("POST", hook, R"({"n": 1})");
    });
    auto page = w.pull("?wait=20");
    poster.join();
    REQUIRE(page.at("events").as_array().size() == 1);
    CHECK(page.at("events").at(0).at("data").at("n") == 1);
    auto empty = w.pull("?wait=1&after=" + std::to_string(page.at("cursor").as_int64()));
    CHECK(empty.at("events").as_array().empty());
}

TEST_CASE("polling: new items become events once each, the cursor moves with them, failures back off", "[triggers][poll]") {
    World w({"--retry-attempts", "1"});  // one request per poll, so the feed's failures are counted as polls
    Upstream up;
    up.set_feed(3);
    auto sub = w.subscribe("member", R"({"connection": ")" + w.connection + R"(", "trigger": "new_items", "params": {"url": ")" +
                                         up.url("/feed") + R"("}})");
    CHECK(sub.at("kind") == "poll");
    CHECK_FALSE(sub.contains("hook_url"));
    std::string id(sub.at("id").as_string());
    std::vector<int64_t> seen;
    std::set<std::string> event_ids;
    auto drain = [&] {
        auto page = w.pull("?limit=100");
        json::array ack;
        for (const auto& e : page.at("events").as_array()) {
            seen.push_back(e.at("data").at("id").as_int64());
            event_ids.insert(std::string(e.at("id").as_string()));
            ack.push_back(e.at("id"));
        }
        if (!ack.empty()) REQUIRE(w.server->call("POST", "/v1/events/ack", json::serialize(json::object{{"ids", ack}})).status == 200);
    };
    REQUIRE(eventually([&] { drain(); return seen.size() >= 3; }));
    // The list grows between polls: only the new items come.
    up.set_feed(5);
    REQUIRE(eventually([&] { drain(); return seen.size() >= 5; }));
    CHECK(seen == std::vector<int64_t>{1, 2, 3, 4, 5});
    auto view = w.as("member", "GET", "/v1/subscriptions/" + id).json();
    CHECK(view.at("cursor") == 5);
    CHECK(view.at("failures") == 0);

    // The feed fails: no events, the failure shows, and polling slows down.
    up.set_feed(5, true);
    REQUIRE(eventually([&] { return w.as("member", "GET", "/v1/subscriptions/" + id).json().at("failures").as_int64() >= 2; }));
    auto failing = w.as("member", "GET", "/v1/subscriptions/" + id).json();
    CHECK(failing.at("last_error").as_string().find("the feed answered 503") != std::string::npos);
    CHECK(failing.at("cursor") == 5);  // unchanged by a failed poll
    int hits_before = up.hits("feed");
    std::this_thread::sleep_for(std::chrono::milliseconds(2500));
    CHECK(up.hits("feed") - hits_before <= 2);  // backed off: 2, then 4 s between tries, not 1 s
    // It recovers, and the cursor picks up where it was.
    up.set_feed(7);
    REQUIRE(eventually([&] { drain(); return seen.size() >= 7; }, std::chrono::seconds(20)));
    CHECK(seen == std::vector<int64_t>{1, 2, 3, 4, 5, 6, 7});
    CHECK(event_ids.size() == 7);
    REQUIRE(eventually([&] { return w.as("member", "GET", "/v1/subscriptions/" + id).json().at("failures") == 0; }));
}

TEST_CASE("polls that return the same items again store each item once; schedules store one event per tick", "[triggers][poll]") {
    World w;
    Upstream up;
    up.set_feed(2);
    auto sub = w.subscribe("admin", R"({"connection": ")" + w.connection + R"(", "trigger": "new_items", "params": {"url": ")" + up.url("/feed") +
                                        R"(", "ignore_cursor": true}})");
    REQUIRE(eventually([&] { return up.hits("feed") >= 4; }));  // several polls, each returning items 1 and 2
    auto page = w.pull("?limit=100");
    CHECK(page.at("events").as_array().size() == 2);
    REQUIRE(w.as("admin", "DELETE", "/v1/subscriptions/" + std::string(sub.at("id").as_string())).status == 200);

    auto tick = w.subscribe("admin", R"({"connection": ")" + w.connection + R"(", "trigger": "tick", "params": {"job": "report"}})");
    std::set<std::string> times;
    bool ticked = eventually([&] {
        auto next = w.pull("?limit=100&after=" + std::to_string(page.at("cursor").as_int64()));
        json::array ack;
        for (const auto& e : next.at("events").as_array()) {
            CHECK(e.at("trigger") == "tick");
            CHECK(e.at("data").at("params").at("job") == "report");
            CHECK(times.insert(std::string(e.at("data").at("scheduled_at").as_string())).second);  // one event per tick
            ack.push_back(e.at("id"));
        }
        // (A subscription's next events wait until the ones handed out are acknowledged.)
        if (!ack.empty()) w.server->call("POST", "/v1/events/ack", json::serialize(json::object{{"ids", ack}}));
        return times.size() >= 2;
    });
    REQUIRE(ticked);
    auto view = w.as("admin", "GET", "/v1/subscriptions/" + std::string(tick.at("id").as_string())).json();
    CHECK_FALSE(view.at("next_run_at").is_null());

    // Its own cron and time zone: the first run only works out the next tick.
    auto daily = w.subscribe("admin", R"({"connection": ")" + w.connection +
                                          R"(", "trigger": "tick", "schedule": {"cron": "0 9 * * *", "timezone": "Europe/Berlin"}})");
    std::string daily_id(daily.at("id").as_string());
    json::value next_run;
    REQUIRE(eventually([&] {
        next_run = w.as("admin", "GET", "/v1/subscriptions/" + daily_id).json().at("next_run_at");
        return !next_run.is_null();
    }));
    auto berlin = patchbay::triggers::TimeZone::load("Europe/Berlin");
    REQUIRE(berlin.ok());
    auto when = patchbay::triggers::CronSchedule::parse("0 9 * * *")->next_after(
        std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count(), *berlin);
    REQUIRE(when);
    std::string expected = patchbay::iso_time(std::chrono::system_clock::time_point(std::chrono::seconds(*when)));
    CHECK(next_run.as_string() == expected);
    CHECK(w.as("admin", "GET", "/v1/subscriptions/" + daily_id).json().at("schedule").at("timezone") == "Europe/Berlin");
    // Bad schedules are refused with the field that is wrong.
    auto bad_zone = w.as("admin", "POST", "/v1/subscriptions",
                         R"({"connection": ")" + w.connection + R"(", "trigger": "tick", "schedule": {"cron": "0 9 * * *", "timezone": "Mars/Base"}})");
    CHECK(bad_zone.status == 400);
    CHECK(bad_zone.json().at("error").at("pointer") == "/schedule/timezone");
    auto bad_cron = w.as("admin", "POST", "/v1/subscriptions",
                         R"({"connection": ")" + w.connection + R"(", "trigger": "tick", "schedule": {"cron": "0 25 * * *"}})");
    CHECK(bad_cron.json().at("error").at("pointer") == "/schedule/cron");
    auto not_a_schedule = w.as("admin", "POST", "/v1/subscriptions",
                               R"({"connection": ")" + w.connection + R"(", "trigger": "new_items", "schedule": {"cron": "0 9 * * *"}})");
    CHECK(not_a_schedule.status == 400);
}

TEST_CASE("push delivery: signed POSTs to the engine, retried with backoff in order, dead letters replayed", "[triggers][push]") {
    World w({"--push-retry-ms", "200", "--push-max-age", "3"});
    Upstream engine;
    auto raw = w.subscribe("admin", R"({"connection": ")" + w.connection + R"(", "trigger": "raw", "unsigned": true})");
    std::string hook(raw.at("hook_url").as_string());
    // Members may not redirect the team's events.
    CHECK(w.as("member", "PUT", "/v1/delivery", R"({"url": ")" + engine.url("/sink") + R"("})").status == 403);
    CHECK(w.as("admin", "PUT", "/v1/delivery", R"({"url": "ftp://x"})").status == 400);
    auto set = w.as("admin", "PUT", "/v1/delivery", R"({"url": ")" + engine.url("/sink") + R"("})");
    INFO(set.body);
    REQUIRE(set.status == 200);
    CHECK(set.json().at("mode") == "push");
    std::string secret(set.json().at("secret").as_string());
    CHECK_FALSE(w.as("admin", "GET", "/v1/delivery").json().as_object().contains("secret"));
    // Pulling is refused while events are pushed.
    CHECK(w.server->call("GET", "/v1/events").status == 409);

    for (int i = 1; i <= 3; ++i) REQUIRE(http("POST", hook, R"({"n": )" + std::to_string(i) + "}").status == 200);
    REQUIRE(eventually([&] { return engine.sunk().size() >= 3; }));
    auto sunk = engine.sunk();
    for (size_t i = 0; i < 3; ++i) {
        auto event = json::parse(sunk[i].body);
        CHECK(event.at("data").at("n") == static_cast<int64_t>(i + 1));  // in order
        std::string sig, id;
        for (const auto& [k, v] : sunk[i].headers) {
            if (k == "X-Patchbay-Signature") sig = v;
            if (k == "X-Patchbay-Event-Id") id = v;
        }
        CHECK(id == event.at("id").as_string());
        // The engine checks it as Stripe-style webhooks are checked.
        std::string ts = sig.substr(2, sig.find(',') - 2);
        CHECK(sig == "t=" + ts + ",v1=" + c::hex(c::hmac(c::Mac::hmac_sha256, secret, ts + "." + sunk[i].body)));
    }
    CHECK(w.as("admin", "GET", "/v1/delivery").json().at("pending_events") == 0);  // a 2xx acknowledged each

    // The engine is down: retried (attempt counts up), later events wait behind the first.
    engine.set_sink_failing(true);
    REQUIRE(http("POST", hook, R"({"n": 4})").status == 200);
    REQUIRE(http("POST", hook, R"({"n": 5})").status == 200);
    std::this_thread::sleep_for(std::chrono::milliseconds(1500));
    engine.set_sink_failing(false);
    REQUIRE(eventually([&] { return engine.sunk().size() >= 5; }));
    sunk = engine.sunk();
    CHECK(json::parse(sunk[3].body).at("data").at("n") == 4);
    CHECK(json::parse(sunk[4].body).at("data").at("n") == 5);
    CHECK(json::parse(sunk[3].body).at("attempt").as_int64() >= 2);

    // Down for longer than the events may age (3 s here, 72 h by default): dead letters.
    engine.set_sink_failing(true);
    REQUIRE(http("POST", hook, R"({"n": 6})").status == 200);
    json::array dead;
    REQUIRE(eventually([&] {
        dead = w.as("admin", "GET", "/v1/dead-letters").json().at("dead_letters").as_array();
        return !dead.empty();
    }, std::chrono::seconds(20)));
    CHECK(dead.at(0).at("data").at("n") == 6);
    CHECK(dead.at(0).at("last_error").as_string().find("the engine answered 500") != std::string::npos);
    CHECK(w.as("admin", "GET", "/v1/delivery").json().at("dead_letters") == 1);
    // Replayed once the engine is back: delivered.
    engine.set_sink_failing(false);
    auto replay = w.as("admin", "POST", "/v1/dead-letters/replay", json::serialize(json::object{{"ids", json::array{dead.at(0).at("id"), "evt_nope"}}}));
    REQUIRE(replay.status == 200);
    CHECK(replay.json().at("replayed") == 1);
    CHECK(replay.json().at("unknown") == json::array{"evt_nope"});
    REQUIRE(eventually([&] { return engine.sunk().size() >= 6; }));
    CHECK(json::parse(engine.sunk().back().body).at("data").at("n") == 6);
    CHECK(w.as("admin", "GET", "/v1/dead-letters").json().at("dead_letters").as_array().empty());
    // Back to pulling.
    REQUIRE(w.as("admin", "DELETE", "/v1/delivery").status == 200);
    CHECK(w.server->call("GET", "/v1/events").status == 200);
    auto audit = w.server->call("GET", "/v1/audit?limit=50").body;
    for (const char* a : {"delivery.set", "delivery.replay", "delivery.remove"}) CHECK(audit.find(a) != std::string::npos);
}

TEST_CASE("plugins register webhooks at the tool, a reconcile loop repairs drift, deletion removes them", "[triggers][registration]") {
    World w({"--reconcile-interval", "1"});
    Upstream tool;
    auto sub = w.subscribe("admin", R"({"connection": ")" + w.connection + R"(", "trigger": "ticket_created", "params": {"registry": ")" +
                                        tool.url("") + R"("}})");
    std::string id(sub.at("id").as_string());
    CHECK(sub.at("remote").at("id").as_string().starts_with("hook-"));
    auto first_remote = sub.at("remote");
    auto sunk = tool.sunk();
    REQUIRE(sunk.size() == 1);
    auto note = json::parse(sunk[0].body);
    CHECK(note.at("op") == "register");
    CHECK(note.at("hook_url") == sub.at("hook_url"));
    CHECK(note.at("secret") == sub.at("signing_secret"));  // the tool signs with the secret it is given
    CHECK(note.at("had").is_null());

    // The tool loses it (the first check answers 404): re-registered, and audited.
    REQUIRE(eventually([&] { return w.as("admin", "GET", "/v1/subscriptions/" + id).json().at("remote") != first_remote; }));
    CHECK(json::parse(tool.sunk().at(1).body).at("had") == first_remote);
    auto second_remote = w.as("admin", "GET", "/v1/subscriptions/" + id).json().at("remote");
    CHECK(w.server->call("GET", "/v1/audit?limit=50").body.find("subscription.reregistered") != std::string::npos);
    // Later checks find it: nothing changes.
    REQUIRE(eventually([&] { return tool.hits("check") >= 3; }));
    CHECK(w.as("admin", "GET", "/v1/subscriptions/" + id).json().at("remote") == second_remote);
    CHECK(tool.sunk().size() == 2);

    // Deleting the subscription removes the registration.
    auto removed = w.as("admin", "DELETE", "/v1/subscriptions/" + id);
    REQUIRE(removed.status == 200);
    CHECK(removed.json().at("remote_removed") == true);
    auto last = json::parse(tool.sunk().back().body);
    CHECK(last.at("op") == "unregister");
    CHECK(last.at("remote") == second_remote);

    // A tool that refuses the registration: nothing is subscribed.
    tool.set_sink_failing(true);
    auto refused = w.as("admin", "POST", "/v1/subscriptions",
                        R"({"connection": ")" + w.connection + R"(", "trigger": "ticket_created", "params": {"registry": ")" + tool.url("") + R"("}})");
    CHECK(refused.status >= 400);
    CHECK(std::string(refused.json().at("error").at("message").as_string()).find("could not be registered at the tool") != std::string::npos);
    CHECK(w.as("admin", "GET", "/v1/subscriptions").json().at("subscriptions").as_array().empty());
}

TEST_CASE("a scheme only the plugin knows: it checks each delivery with the subscription's secret", "[triggers][webhook]") {
    World w;
    auto sub = w.subscribe("member", R"({"connection": ")" + w.connection + R"(", "trigger": "token_checked", "signing_secret": "gl-token-123"})");
    std::string hook(sub.at("hook_url").as_string());
    auto wrong = http("POST", hook, R"({"object_kind": "push"})", {{"X-Gitlab-Token", "nope"}, {"X-Gitlab-Event-UUID", "u-1"}});
    CHECK(wrong.status == 401);
    CHECK(wrong.error_code() == "SIGNATURE_INVALID");
    CHECK(wrong.body.find("gl-token-123") == std::string::npos);
    CHECK(http("POST", hook, R"({"object_kind": "push"})", {{"X-Gitlab-Event-UUID", "u-2"}}).status == 401);
    auto right = http("POST", hook, R"({"object_kind": "push"})", {{"X-Gitlab-Token", "gl-token-123"}, {"X-Gitlab-Event-UUID", "u-3"}});
    CHECK(right.status == 200);
    auto events = w.pull().at("events").as_array();
    REQUIRE(events.size() == 1);
    CHECK(events[0].at("data").at("object_kind") == "push");
    // Such a trigger cannot be subscribed unsigned.
    CHECK(w.as("member", "POST", "/v1/subscriptions", R"({"connection": ")" + w.connection + R"(", "trigger": "token_checked", "unsigned": true})")
              .status == 400);
}
