// The host's HTTP service seen through the API: the egress guard is on by default, manifest rate
// budgets answer 429 with Retry-After, and the refusals reach callers with their own codes.
#include "test_support.hpp"
#include "upstream.hpp"

#include <boost/json.hpp>
#include <catch2/catch.hpp>

#include <future>

using namespace testing;
namespace json = boost::json;

namespace {

std::string fetch(const std::string& url) { return json::serialize(json::object{{"input", json::object{{"url", url}}}}); }

}  // namespace

TEST_CASE("the egress guard is on unless an admin allows a target", "[outbound][egress]") {
    TempDir folder;
    write_file(folder / "kit.yaml", testkit_manifest("kit", "v1"));
    Upstream up;
    {
        Served server(folder.path(), {"--no-test-egress-allow"});
        server.install({"kit"});
        for (const std::string& url : std::vector<std::string>{up.url("/json"), "http://localhost:" + std::to_string(up.port()) + "/json",
                                      "http://2130706433:" + std::to_string(up.port()) + "/json", std::string("http://169.254.169.254/")}) {
            auto r = server.call("POST", "/v1/integrations/kit/actions/fetch/invoke", fetch(url));
            INFO(url << " -> " << r.body);
            CHECK(r.status == 403);
            CHECK(r.error_code() == "EGRESS_DENIED");
            CHECK(r.body.find("--egress-allow") != std::string::npos);
        }
        CHECK(up.connections() == 0);
    }
    Served allowed(folder.path(), {"--no-test-egress-allow", "--egress-allow", "10.0.0.0/8,127.0.0.1"});
    allowed.install({"kit"});
    auto ok = allowed.call("POST", "/v1/integrations/kit/actions/fetch/invoke", fetch(up.url("/json")));
    CHECK(ok.status == 200);
    CHECK(up.connections() == 1);

    TempDir data;
    auto bad = run({patchbay_bin(), "serve", "--manifests", folder.path().string(), "--data", data.path().string(), "--egress-allow", "10.0.0.0/99"});
    CHECK(bad.exit_code == 2);
    CHECK(bad.err.find("egress allow entry '10.0.0.0/99'") != std::string::npos);
}

TEST_CASE("a manifest's rate budget is applied before sending and answered with Retry-After", "[outbound][limits]") {
    TempDir folder;
    write_file(folder / "kit.yaml", testkit_manifest("kit", "v1") + "rateLimits:\n  - {requests: 2, per: 1h, scope: connection}\n");
    Upstream up;
    Served server(folder.path());
    server.install({"kit"});
    auto described = server.call("GET", "/v1/integrations/kit");
    REQUIRE(described.status == 200);
    CHECK(described.json().at("rate_limits").at(0).at("requests") == 2);

    for (int i = 0; i < 2; ++i) CHECK(server.call("POST", "/v1/integrations/kit/actions/fetch/invoke", fetch(up.url("/json"))).status == 200);
    auto limited = server.call("POST", "/v1/integrations/kit/actions/fetch/invoke", fetch(up.url("/json")));
    INFO(limited.body);
    CHECK(limited.status == 429);
    CHECK(limited.error_code() == "RATE_LIMITED");
    auto after = limited.json().at("error").at("details").at("retry_after_ms").to_number<int64_t>();
    CHECK(after > 0);
    REQUIRE(limited.headers.count("retry-after"));
    CHECK(std::stoll(limited.headers.at("retry-after")) == (after + 999) / 1000);
    CHECK(up.requests() == 2);
}

TEST_CASE("an upstream's 429 past the deadline reaches the caller as RATE_LIMITED", "[outbound][retry]") {
    TempDir folder;
    write_file(folder / "kit.yaml", testkit_manifest("kit", "v1"));
    Upstream up;
    Served server(folder.path());
    server.install({"kit"});
    auto r = server.call("POST", "/v1/integrations/kit/actions/fetch/invoke", fetch(up.url("/status/429?retry_after=3600")));
    INFO(r.body);
    CHECK(r.status == 429);
    CHECK(r.error_code() == "RATE_LIMITED");
    CHECK(r.json().at("error").at("details").at("retry_after_ms") == 3'600'000);
    CHECK(r.headers.at("retry-after") == "3600");
}

TEST_CASE("each auth type's credential lands where its manifest says, under the base URL only", "[outbound][injection]") {
    TempDir folder;
    write_file(folder / "kit.yaml", testkit_manifest("kit", "v1") + R"(auth:
  - {type: api_key, name: header_key, in: header, parameter: X-Key, prefix: "Token "}
  - {type: api_key, name: query_key, in: query, parameter: api_key}
  - {type: api_key, name: cookie_key, in: cookie, parameter: sid}
  - {type: basic}
  - {type: bearer}
)");
    Upstream up, other;
    Served server(folder.path());
    server.install({"kit"});
    auto connect = [&](const std::string& auth, json::object settings, json::object secrets) {
        auto r = server.call("POST", "/v1/connections",
                             json::serialize(json::object{{"integration", "kit"}, {"name", auth}, {"auth_type", auth}, {"base_url", up.url("/")},
                                                          {"settings", std::move(settings)}, {"secrets", std::move(secrets)}}));
        REQUIRE(r.status == 201);
        return std::string(r.json().at("id").as_string());
    };
    auto echo = [&](const std::string& id, const std::string& url) {
        auto r = server.call("POST", "/v1/integrations/kit/actions/fetch/invoke",
                             json::serialize(json::object{{"input", json::object{{"url", url}}}, {"connection", id}}));
        REQUIRE(r.status == 200);
        return json::parse(r.json().at("output").at("body").as_string()).as_object();
    };
    auto header = [](const json::object& e, const char* name) {
        const auto* h = e.at("headers").as_object().if_contains(name);
        return h ? std::string(h->as_string()) : std::string();
    };
    auto h = echo(connect("header_key", {}, {{"api_key", "k1"}}), up.url("/echo"));
    CHECK(header(h, "x-key") == "Token k1");
    auto q = echo(connect("query_key", {}, {{"api_key", "k2"}}), up.url("/echo?page=2"));
    CHECK(q.at("target") == "/echo?page=2&api_key=k2");
    auto c = echo(connect("cookie_key", {}, {{"api_key", "k3"}}), up.url("/echo"));
    CHECK(header(c, "cookie") == "sid=k3");
    std::string basic_id = connect("basic", {{"username", "ada"}}, {{"password", "p4ss"}});
    CHECK(header(echo(basic_id, up.url("/echo")), "authorization") == "Basic YWRhOnA0c3M=");
    std::string bearer_id = connect("bearer", {}, {{"token", "t5"}});
    CHECK(header(echo(bearer_id, up.url("/echo")), "authorization") == "Bearer t5");
    // Another origin gets nothing.
    auto away = echo(bearer_id, other.url("/echo"));
    CHECK(header(away, "authorization").empty());
}

TEST_CASE("a connection's own CA bundle is trusted for its TLS upstream", "[outbound][tls]") {
    TestPki pki;
    Upstream secure({pki.server_cert, pki.server_key});
    TempDir folder;
    write_file(folder / "kit.yaml", testkit_manifest("kit", "v1") + "auth:\n  - {type: bearer}\n");
    Served server(folder.path());
    server.install({"kit"});
    auto make = [&](const std::string& name, bool with_ca) {
        json::object settings;
        if (with_ca) settings["ca_bundle"] = read_file(pki.ca);
        auto r = server.call("POST", "/v1/connections",
                             json::serialize(json::object{{"integration", "kit"}, {"name", name}, {"base_url", secure.url("/")},
                                                          {"settings", settings}, {"secrets", json::object{{"token", "t"}}}}));
        REQUIRE(r.status == 201);
        return std::string(r.json().at("id").as_string());
    };
    auto call = [&](const std::string& id) {
        return server.call("POST", "/v1/integrations/kit/actions/fetch/invoke",
                           json::serialize(json::object{{"input", json::object{{"url", secure.url("/json")}}}, {"connection", id}}));
    };
    auto trusted = call(make("private-ca", true));
    INFO(trusted.body);
    CHECK(trusted.status == 200);
    auto untrusted = call(make("system-only", false));
    CHECK(untrusted.status == 502);
    CHECK(untrusted.body.find("unable to get local issuer certificate") != std::string::npos);
}

TEST_CASE("cooperative plugins get the same retries and budgets, waiting without holding their thread", "[outbound][fiber]") {
    TempDir folder;
    write_file(folder / "coop.yaml", testkit_manifest("coop", "v1", "", "30s", "testkit-coop"));
    write_file(folder / "paced.yaml", testkit_manifest("paced", "v1", "", "30s", "testkit-coop") +
                                          "rateLimits:\n  - {requests: 1, per: 3s}\n");
    Upstream up;
    Served server(folder.path(), {"--threads", "1"});
    server.install({"coop", "paced"});
    auto flaky = server.call("POST", "/v1/integrations/coop/actions/fetch/invoke", fetch(up.url("/flaky?key=coop&fails=2&status=503")));
    INFO(flaky.body);
    CHECK(flaky.status == 200);
    CHECK(flaky.json().at("output").at("status") == 200);
    CHECK(up.hits("coop") == 3);

    // The second paced call waits about 3 s for its slot, as a timer on the only network thread.
    // Meanwhile that thread answers others: the wait suspends the call, not the thread.
    REQUIRE(server.call("POST", "/v1/integrations/paced/actions/fetch/invoke", fetch(up.url("/json"))).status == 200);
    auto waiting = std::async(std::launch::async, [&] {
        return server.call("POST", "/v1/integrations/paced/actions/fetch/invoke", fetch(up.url("/json")));
    });
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    CHECK(server.call("GET", "/v1/health").status == 200);
    CHECK(waiting.wait_for(std::chrono::seconds(0)) != std::future_status::ready);
    CHECK(waiting.get().status == 200);
}
