// The host's HTTP service seen through the API: the egress guard is on by default, manifest rate
// budgets answer 429 with Retry-After, and the refusals reach callers with their own codes.
#include "test_support.hpp"
#include "upstream.hpp"

#include <boost/json.hpp>
#include <catch2/catch.hpp>

using namespace testing;
namespace json = boost::json;

namespace {

std::string code(const Response& r) {
    auto v = r.json();
    if (!v.is_object() || !v.as_object().contains("error")) return "";
    return std::string(v.at("error").at("code").as_string());
}

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
            CHECK(code(r) == "EGRESS_DENIED");
            CHECK(r.body.find("--egress-allow") != std::string::npos);
        }
        CHECK(up.connections() == 0);
    }
    Served allowed(folder.path(), {"--no-test-egress-allow", "--egress-allow", "10.0.0.0/8,127.0.0.1"});
    allowed.install({"kit"});
    auto ok = allowed.call("POST", "/v1/integrations/kit/actions/fetch/invoke", fetch(up.url("/json")));
    CHECK(ok.status == 200);
    CHECK(up.connections() == 1);

    auto bad = run({patchbay_bin(), "serve", "--manifests", folder.path().string(), "--egress-allow", "10.0.0.0/99"});
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
    CHECK(code(limited) == "RATE_LIMITED");
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
    CHECK(code(r) == "RATE_LIMITED");
    CHECK(r.json().at("error").at("details").at("retry_after_ms") == 3'600'000);
    CHECK(r.headers.at("retry-after") == "3600");
}
