// Cooperative plugins: hooks run as fibers on the network thread that received the call. These
// tests serve with a single network thread, so any overlap between calls proves that a waiting
// hook gives the thread back instead of blocking it.
#include "test_support.hpp"
#include "upstream.hpp"

#include <boost/json.hpp>
#include <catch2/catch.hpp>

#include <future>

using namespace testing;

namespace {

struct CoopFolder {
    TempDir dir;
    fs::path path() const { return dir / "manifests"; }
    CoopFolder() {
        fs::create_directories(path());
        fs::copy(staged_manifests(), path(), fs::copy_options::recursive);
        write_file(path() / "coop.yaml", testkit_manifest("coop", "fiber", "", "500ms", "testkit-coop"));
    }
};

std::string fetch_body(const std::string& url) { return "{\"input\": {\"url\": \"" + url + "\"}}"; }
const std::string kFetch = "/v1/integrations/coop/actions/fetch/invoke";

}  // namespace

TEST_CASE("waiting cooperative hooks share one network thread", "[fiber]") {
    CoopFolder folder;
    Served server(folder.path(), {"--threads", "1"});
    server.install({"coop"});
    Upstream up;
    std::vector<std::future<Response>> calls;
    for (int i = 0; i < 12; ++i)
        calls.push_back(std::async(std::launch::async, [&] { return server.call("POST", kFetch, fetch_body(up.url("/slow?ms=300"))); }));
    for (auto& c : calls) {
        auto r = c.get();
        REQUIRE(r.status == 200);
        CHECK(r.json().at("output").at("status").as_int64() == 200);
    }
    // One network thread, yet several upstream requests were in progress at the same time.
    CHECK(up.max_concurrent() > 1);
}

TEST_CASE("a cooperative call past its deadline answers 504 and the thread keeps serving", "[fiber]") {
    CoopFolder folder;
    Served server(folder.path(), {"--threads", "1"});
    server.install({"coop"});
    Upstream up;
    auto slow = std::async(std::launch::async, [&] { return server.call("POST", kFetch, fetch_body(up.url("/slow?ms=3000"))); });
    // While that call waits on its upstream, the same (only) network thread answers others.
    CHECK(eventually([&] { return up.requests() >= 1; }));
    auto quick = server.call("POST", kFetch, fetch_body(up.url("/json")));
    CHECK(quick.status == 200);
    auto echo = server.call("POST", "/v1/integrations/coop/actions/echo/invoke", "{}");
    CHECK(echo.status == 200);
    CHECK(echo.json().at("output").at("label").as_string() == "fiber");
    auto r = slow.get();
    CHECK(r.status == 504);
    CHECK(r.json().at("error").at("code").as_string() == "TIMEOUT");
    // After the abandoned exchange is torn down, the plugin and the pool still work.
    auto after = server.call("POST", kFetch, fetch_body(up.url("/json")));
    CHECK(after.status == 200);
    CHECK(after.json().at("output").at("body").as_string() == R"({"hello":"world"})");
}

TEST_CASE("cooperative hooks report upstream failures and plugin errors like any other", "[fiber]") {
    CoopFolder folder;
    Served server(folder.path(), {"--threads", "1"});
    server.install({"coop"});
    auto refused = server.call("POST", kFetch, fetch_body("http://127.0.0.1:1/"));
    CHECK(refused.status == 502);
    CHECK(refused.json().at("error").at("code").as_string() == "UPSTREAM_UNAVAILABLE");
    auto thrown = server.call("POST", "/v1/integrations/coop/actions/throws/invoke", "{}");
    CHECK(thrown.status == 500);
    CHECK(thrown.json().at("error").at("message").as_string() == "handler threw: kaboom from the handler");
    auto bad = server.call("POST", kFetch, fetch_body("ftp://example.com/"));
    CHECK(bad.status == 400);
    CHECK(bad.json().at("error").at("code").as_string() == "INVALID_INPUT");
}

TEST_CASE("cooperative hooks verify TLS like the worker path", "[fiber][tls]") {
    TestPki pki;
    Upstream tls({pki.server_cert, pki.server_key});
    CoopFolder folder;
    Served trusting(folder.path(), {"--threads", "1", "--ca-file", pki.ca});
    trusting.install({"coop"});
    auto ok = trusting.call("POST", kFetch, fetch_body(tls.url("/json")));
    REQUIRE(ok.status == 200);
    CHECK(ok.json().at("output").at("body").as_string() == R"({"hello":"world"})");

    Served strict(folder.path(), {"--threads", "1"});
    strict.install({"coop"});
    auto refused = strict.call("POST", kFetch, fetch_body(tls.url("/json")));
    CHECK(refused.status == 502);
    CHECK(std::string(refused.json().at("error").at("message").as_string()).find("unable to get local issuer certificate") != std::string::npos);
}
