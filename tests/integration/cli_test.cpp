// The `patchbay` command line, run as a user would run it.
#include "test_support.hpp"
#include "upstream.hpp"

#include <boost/json.hpp>
#include <catch2/catch.hpp>

using namespace testing;
namespace json = boost::json;

TEST_CASE("patchbay invoke runs an action in-process and against a server", "[cli]") {
    Upstream up;
    std::string input = "{\"url\": \"" + up.url("/json") + "\"}";
    auto local = run({patchbay_bin(), "invoke", "http", "request", "--input", input, "--manifests", staged_manifests().string()});
    INFO(local.err);
    REQUIRE(local.exit_code == 0);
    CHECK(json::parse(local.out).at("body").at("hello").as_string() == "world");
    // The output as the plugin wrote it: a number wider than a double keeps its digits.
    auto verbatim = run({patchbay_bin(), "invoke", "http", "request", "--input", "{\"url\": \"" + up.url("/verbatim") + "\"}",
                         "--manifests", staged_manifests().string()});
    REQUIRE(verbatim.exit_code == 0);
    CHECK(verbatim.out.find("\"id\": 123456789012345678901234567890") != std::string::npos);

    Served server(staged_manifests());
    server.install({"http"});
    ::setenv("PATCHBAY_TOKEN", server.admin_token().c_str(), 1);  // the CLI's --server calls use it
    auto remote = run({patchbay_bin(), "invoke", "http", "request", "--input", input, "--server", server.url()});
    INFO(remote.err);
    REQUIRE(remote.exit_code == 0);
    CHECK(json::parse(remote.out).at("status").as_int64() == 200);

    // Input from standard input and from a file.
    auto piped = run({patchbay_bin(), "invoke", "http", "request", "--input", "-", "--server", server.url()}, input);
    CHECK(piped.exit_code == 0);
    TempDir dir;
    write_file(dir / "in.json", input);
    auto from_file = run({patchbay_bin(), "invoke", "http", "request", "--input", "@" + (dir / "in.json").string(), "--server", server.url()});
    CHECK(from_file.exit_code == 0);
}

TEST_CASE("patchbay invoke reports failures with their code and exit status", "[cli]") {
    auto bad = run({patchbay_bin(), "invoke", "http", "request", "--input", R"({"method":"GET"})", "--manifests", staged_manifests().string()});
    CHECK(bad.exit_code == 1);
    CHECK(bad.err.find("INVALID_INPUT") != std::string::npos);
    CHECK(bad.err.find("/url") != std::string::npos);
    auto unknown = run({patchbay_bin(), "invoke", "nope", "x", "--manifests", staged_manifests().string()});
    CHECK(unknown.exit_code == 1);
    CHECK(unknown.err.find("UNKNOWN_INTEGRATION") != std::string::npos);
    auto not_json = run({patchbay_bin(), "invoke", "http", "request", "--input", "{oops"});
    CHECK(not_json.exit_code == 2);
    CHECK(not_json.err.find("not valid JSON") != std::string::npos);
    auto usage = run({patchbay_bin(), "invoke", "http"});
    CHECK(usage.exit_code == 2);
    auto flag = run({patchbay_bin(), "invoke", "http", "request", "--bogus"});
    CHECK(flag.exit_code == 2);
    CHECK(flag.err.find("unknown option --bogus") != std::string::npos);
    auto down = run({patchbay_bin(), "invoke", "http", "request", "--server", "http://127.0.0.1:1"});
    CHECK(down.exit_code == 1);
    CHECK(down.err.find("cannot reach") != std::string::npos);
}

TEST_CASE("patchbay manifest validate prints file:line:column and exits non-zero", "[cli]") {
    TempDir dir;
    write_file(dir / "good.yaml", testkit_manifest("good", "g"));
    write_file(dir / "typo.yaml", "apiVersion: patchbay/v1\nname: typo\nversion: 1.0.0\ntitle: T\nlibrary: " + fixture_library("testkit") +
                                      "\nactons:\n  - {name: echo, title: E}\n");
    write_file(dir / "nolib.yaml", "apiVersion: patchbay/v1\nname: nolib\nversion: 1.0.0\ntitle: T\nlibrary: " +
                                       fixture_library("no-entry") + "\nactions:\n  - {name: a, title: A}\n");
    auto good = run({patchbay_bin(), "manifest", "validate", (dir / "good.yaml").string()});
    CHECK(good.exit_code == 0);
    CHECK(good.out.find("good.yaml: ok") != std::string::npos);
    auto all = run({patchbay_bin(), "manifest", "validate", dir.path().string()});
    CHECK(all.exit_code == 1);
    CHECK(all.err.find("typo.yaml:6:1: unknown key 'actons'; did you mean 'actions'?") != std::string::npos);
    CHECK(all.err.find("nolib.yaml: 'libfixture-no-entry.so' does not export the entry symbol") != std::string::npos);
    CHECK(all.out.find("good.yaml: ok") != std::string::npos);
    auto stock = run({patchbay_bin(), "manifest", "validate", staged_manifests().string()});
    CHECK(stock.exit_code == 0);
    auto missing = run({patchbay_bin(), "manifest", "validate", (dir / "absent.yaml").string()});
    CHECK(missing.exit_code == 1);
}

TEST_CASE("patchbay integrations list and --help", "[cli]") {
    auto list = run({patchbay_bin(), "integrations", "list", "--manifests", staged_manifests().string()});
    CHECK(list.exit_code == 0);
    CHECK(list.out.find("http") != std::string::npos);
    CHECK(list.out.find("ready") != std::string::npos);
    auto as_json = run({patchbay_bin(), "integrations", "list", "--json", "--manifests", staged_manifests().string()});
    CHECK(json::parse(as_json.out).at("integrations").as_array().size() == 2);  // http and openapi
    Served server(staged_manifests());
    ::setenv("PATCHBAY_TOKEN", server.admin_token().c_str(), 1);
    auto remote = run({patchbay_bin(), "integrations", "list", "--server", server.url()});
    CHECK(remote.exit_code == 0);
    CHECK(remote.out.find("request") != std::string::npos);
    for (auto cmd : {"serve", "invoke", "integrations", "manifest"}) {
        auto help = run({patchbay_bin(), cmd, "--help"});
        CHECK(help.exit_code == 0);
        CHECK(help.out.find("Usage: patchbay") != std::string::npos);
    }
    auto top = run({patchbay_bin(), "--help"});
    CHECK(top.out.find("serve") != std::string::npos);
    auto bad = run({patchbay_bin(), "frobnicate"});
    CHECK(bad.exit_code == 2);
}

TEST_CASE("serve refuses a missing manifests folder with a clear message", "[cli]") {
    TempDir dir;
    auto r = run({patchbay_bin(), "serve", "--manifests", (dir / "nope").string(), "--listen", "127.0.0.1:0"}, "", std::chrono::seconds(10));
    CHECK(r.exit_code == 1);
    CHECK(r.err.find("does not exist") != std::string::npos);
    auto listen = run({patchbay_bin(), "serve", "--listen", "nowhere"});
    CHECK(listen.exit_code == 2);
}
