// End to end: the real `patchbay serve` on an ephemeral 127.0.0.1 port, stopped by pid.
#include "test_support.hpp"
#include "upstream.hpp"

#include <boost/json.hpp>
#include <catch2/catch.hpp>

#include <csignal>
#include <future>
#include <sstream>
#include <unistd.h>
#include <thread>

using namespace testing;
namespace json = boost::json;

namespace {

std::string invoke_path(const std::string& integration, const std::string& action) {
    return "/v1/integrations/" + integration + "/actions/" + action + "/invoke";
}

// The stock manifests plus a testkit manifest, in a folder of our own.
struct Folder {
    TempDir dir;
    fs::path path() const { return dir / "manifests"; }
    Folder(const std::string& sleep_timeout = "400ms") {
        fs::create_directories(path());
        fs::copy(staged_manifests(), path(), fs::copy_options::recursive);
        write_file(path() / "kit.yaml", testkit_manifest("kit", "v1", "", sleep_timeout));
    }
};

}  // namespace

TEST_CASE("the http plugin calls a local upstream through the API", "[e2e]") {
    Folder folder;
    Served server(folder.path());
    server.install({"http", "kit"});
    Upstream up;

    auto r = server.call("POST", invoke_path("http", "request"), "{\"input\": {\"url\": \"" + up.url("/json") + "\"}}");
    REQUIRE(r.status == 200);
    auto body = r.json();
    CHECK(body.at("output").at("status").as_int64() == 200);
    CHECK(body.at("output").at("body").at("hello").as_string() == "world");  // parsed: the content type is JSON
    CHECK(body.at("output").at("json").as_bool());
    CHECK(body.at("integration").as_string() == "http");
    CHECK(body.at("action").as_string() == "request");
    CHECK(body.at("version").as_string() == "1.0.0");
    CHECK(body.at("duration_us").as_int64() > 0);
    CHECK_FALSE(r.headers["x-request-id"].empty());
    CHECK(body.at("request_id").as_string() == r.headers["x-request-id"]);
    CHECK(body.as_object().size() == 6);

    // POST with a JSON body, custom headers and query parameters (a list repeats the key).
    std::string input = "{\"input\": {\"method\": \"POST\", \"url\": \"" + up.url("/echo") +
                        "\", \"headers\": {\"X-Trace\": \"t-1\"}, \"query\": {\"q\": \"a b&c\", \"tag\": [\"x\", \"y\"]}, "
                        "\"json\": {\"answer\": 42}}}";
    auto e = server.call("POST", invoke_path("http", "request"), input);
    REQUIRE(e.status == 200);
    auto echoed = e.json().at("output").at("body");  // the echo answers application/json: parsed
    CHECK(echoed.at("method").as_string() == "POST");
    CHECK(echoed.at("target").as_string() == "/echo?q=a%20b%26c&tag=x&tag=y");
    CHECK(echoed.at("headers").at("x-trace").as_string() == "t-1");
    CHECK(echoed.at("headers").at("content-type").as_string() == "application/json");
    CHECK(json::parse(std::string(echoed.at("body").as_string())).at("answer").as_int64() == 42);
    CHECK(e.json().at("output").at("headers").at("content-type").as_string() == "application/json");  // names in lower case

    // The caller's own Content-Type, in any case, is sent as it is, with none added beside it.
    auto typed = server.call("POST", invoke_path("http", "request"),
                             "{\"input\": {\"method\": \"POST\", \"url\": \"" + up.url("/echo") +
                                 "\", \"headers\": {\"CONTENT-type\": \"application/vnd.acme+json\"}, \"json\": {\"a\": 1}}}");
    REQUIRE(typed.status == 200);
    CHECK(typed.json().at("output").at("body").at("headers").at("content-type").as_string() == "application/vnd.acme+json");

    // The request's own timeout_ms bounds the wait for the upstream, well inside the call's deadline.
    auto late = server.call("POST", invoke_path("http", "request"),
                            "{\"input\": {\"url\": \"" + up.url("/slow?ms=5000") + "\", \"timeout_ms\": 300}}");
    CHECK(late.status == 504);
    CHECK(late.json().at("error").at("code").as_string() == "TIMEOUT");
    CHECK(late.json().at("error").at("message").as_string().find("before the deadline") != std::string::npos);

    // A large answer arrives whole through the fiber's reads (many of them, the buffer growing).
    auto big = server.call("POST", invoke_path("http", "request"), "{\"input\": {\"url\": \"" + up.url("/big?bytes=3000000") + "\"}}");
    REQUIRE(big.status == 200);
    CHECK(big.json().at("output").at("body").as_string().size() == 3000000);

    // HEAD: the upstream's headers (its Content-Length included) and no body to wait for.
    auto h = server.call("POST", invoke_path("http", "request"), "{\"input\": {\"method\": \"HEAD\", \"url\": \"" + up.url("/text") + "\"}}");
    REQUIRE(h.status == 200);
    CHECK(h.json().at("output").at("status").as_int64() == 200);
    CHECK(h.json().at("output").at("headers").at("content-length").as_string() == "10");
    CHECK(h.json().at("output").at("body").as_string() == "");

    // A JSON body is passed on as the upstream wrote it: a number wider than a double keeps
    // its digits. A repeated header's values are joined; a Latin-1 header value is read as such.
    auto v = server.call("POST", invoke_path("http", "request"), "{\"input\": {\"url\": \"" + up.url("/verbatim") + "\"}}");
    REQUIRE(v.status == 200);
    CHECK(v.body.find("\"id\": 123456789012345678901234567890") != std::string::npos);
    CHECK(v.json().at("output").at("json").as_bool());
    CHECK(v.json().at("output").at("body").at("price").as_double() == 1.5);
    CHECK(v.json().at("output").at("headers").at("x-multi").as_string() == "a, b");
    CHECK(v.json().at("output").at("headers").at("x-latin").as_string() == "caf\xc3\xa9");
    // The same of an answer of the common shape (read without Beast's parser): names lowered
    // eight bytes at a time and one at a time alike.
    auto m = server.call("POST", invoke_path("http", "request"), "{\"input\": {\"url\": \"" + up.url("/mixed") + "\"}}");
    REQUIRE(m.status == 200);
    CHECK(m.json().at("output").at("headers").at("x-multi").as_string() == "a, b");
    CHECK(m.json().at("output").at("headers").at("x-patchbay-long-header-name").as_string() == "v");
    CHECK(m.json().at("output").at("body").at("mixed").as_bool());
    // Bytes that are not UTF-8 text arrive in base64, with their content type.
    auto b = server.call("POST", invoke_path("http", "request"), "{\"input\": {\"url\": \"" + up.url("/bytes") + "\"}}");
    REQUIRE(b.status == 200);
    CHECK(b.json().at("output").at("body").at("base64").as_string() == "//4AAQ==");
    CHECK(b.json().at("output").at("body").at("content_type").as_string() == "application/octet-stream");
    CHECK_FALSE(b.json().at("output").at("json").as_bool());
    // A body that says it is JSON but is not stays text.
    auto nj = server.call("POST", invoke_path("http", "request"), "{\"input\": {\"url\": \"" + up.url("/notjson") + "\"}}");
    REQUIRE(nj.status == 200);
    CHECK(nj.json().at("output").at("body").as_string() == "{\"cut\": short");
    CHECK_FALSE(nj.json().at("output").at("json").as_bool());
    // JSON nested 31 deep fits in the answer under the limit of 32 levels; one level more is
    // returned as text rather than failing the call.
    auto d31 = server.call("POST", invoke_path("http", "request"), "{\"input\": {\"url\": \"" + up.url("/deep?levels=31") + "\"}}");
    REQUIRE(d31.status == 200);
    json::parse_options deep;  // the API's answer adds a level of its own
    deep.max_depth = 64;
    CHECK(json::parse(d31.body, {}, deep).at("output").at("json").as_bool());
    auto d32 = server.call("POST", invoke_path("http", "request"), "{\"input\": {\"url\": \"" + up.url("/deep?levels=32") + "\"}}");
    REQUIRE(d32.status == 200);
    CHECK_FALSE(d32.json().at("output").at("json").as_bool());
    CHECK(d32.json().at("output").at("body").as_string().size() == 64);

    // A text answer stays text; a 404 upstream is returned, or raised when asked.
    auto t = server.call("POST", invoke_path("http", "request"), "{\"input\": {\"url\": \"" + up.url("/text") + "\"}}");
    CHECK(t.json().at("output").at("body").as_string() == "plain text");
    CHECK_FALSE(t.json().at("output").at("json").as_bool());
    auto nf = server.call("POST", invoke_path("http", "request"), "{\"input\": {\"url\": \"" + up.url("/status/404") + "\"}}");
    CHECK(nf.json().at("output").at("status").as_int64() == 404);
    auto raised = server.call("POST", invoke_path("http", "request"),
                       "{\"input\": {\"url\": \"" + up.url("/status/503") + "\", \"fail_on_status\": true}}");
    CHECK(raised.status == 502);
    CHECK(raised.json().at("error").at("code").as_string() == "UPSTREAM_ERROR");
    CHECK(raised.json().at("error").at("details").at("status").as_int64() == 503);
    CHECK(raised.json().at("error").at("details").at("body").at("status").as_int64() == 503);  // a JSON body, parsed
    auto raised_bytes = server.call("POST", invoke_path("http", "request"),
                                    "{\"input\": {\"url\": \"" + up.url("/bytes?status=500") + "\", \"fail_on_status\": true}}");
    CHECK(raised_bytes.status == 502);
    CHECK(raised_bytes.json().at("error").at("details").at("body").at("base64").as_string() == "//4AAQ==");
}

TEST_CASE("the catalog API lists and shows integrations with their schemas", "[e2e]") {
    Folder folder;
    write_file(folder.path() / "broken.yaml", "apiVersion: patchbay/v1\nname: broken\nversion: 1.0.0\ntitle: B\nlibrary: missing.so\n"
                                              "actions:\n  - {name: a, title: A}\n");
    Served server(folder.path());
    server.install({"http", "kit"});
    auto list = server.call("GET", "/v1/integrations").json();
    CHECK(list.at("ready").as_int64() == 3);  // the stock http and openapi, and kit
    CHECK(list.at("error").as_int64() == 1);
    bool saw_broken = false;
    for (const auto& i : list.at("integrations").as_array()) {
        if (i.at("name").as_string() == "broken") {
            saw_broken = true;
            CHECK(i.at("status").as_string() == "error");
            CHECK(std::string(i.at("error").as_string()).find("missing.so") != std::string::npos);
        }
    }
    CHECK(saw_broken);
    auto filtered = server.call("GET", "/v1/integrations?status=ready&q=HTTP").json();
    REQUIRE(filtered.at("integrations").as_array().size() == 1);

    auto show = server.call("GET", "/v1/integrations/http");
    REQUIRE(show.status == 200);
    auto d = show.json();
    CHECK(d.at("status").as_string() == "ready");
    CHECK(d.at("actions").at(0).at("input").at("required").at(0).as_string() == "url");
    CHECK(d.at("plugin").at("sha256").as_string().size() == 64);

    auto broken = server.call("GET", "/v1/integrations/broken");
    CHECK(broken.status == 200);
    CHECK(broken.json().at("status").as_string() == "error");

    auto health = server.call("GET", "/healthz");
    CHECK(health.status == 200);
}

TEST_CASE("errors have stable codes and HTTP statuses", "[e2e]") {
    Folder folder;
    Served server(folder.path(), {"--max-body", "2048"});
    server.install({"http", "kit"});
    auto code = [](const Response& r) { return std::string(r.json().at("error").at("code").as_string()); };

    auto unknown = server.call("POST", invoke_path("nope", "x"), "{}");
    CHECK(unknown.status == 404);
    CHECK(code(unknown) == "UNKNOWN_INTEGRATION");
    auto action = server.call("POST", invoke_path("http", "nope"), "{}");
    CHECK(action.status == 404);
    CHECK(code(action) == "UNKNOWN_ACTION");
    auto invalid = server.call("POST", invoke_path("http", "request"), R"({"input": {"url": "http://x", "method": "FETCH"}})");
    CHECK(invalid.status == 400);
    CHECK(code(invalid) == "INVALID_INPUT");
    CHECK(invalid.json().at("error").at("pointer").as_string() == "/method");
    auto malformed = server.call("POST", invoke_path("http", "request"), R"({"input": )");
    CHECK(malformed.status == 400);
    CHECK(code(malformed) == "MALFORMED_JSON");
    auto extra = server.call("POST", invoke_path("http", "request"), R"({"inptu": {}})");
    CHECK(extra.status == 400);
    CHECK(extra.json().at("error").at("pointer").as_string() == "/inptu");
    auto too_big = server.call("POST", invoke_path("kit", "echo"), "{\"input\": {\"pad\": \"" + std::string(4096, 'x') + "\"}}");
    CHECK(too_big.status == 413);
    CHECK(code(too_big) == "PAYLOAD_TOO_LARGE");
    auto method = server.call("GET", invoke_path("http", "request"));
    CHECK(method.status == 405);
    CHECK(method.headers["allow"] == "POST");
    auto route = server.call("GET", "/v2/whatever");
    CHECK(route.status == 404);
    CHECK(code(route) == "ROUTE_NOT_FOUND");
    auto thrown = server.call("POST", invoke_path("kit", "throws"), "{}");
    CHECK(thrown.status == 500);
    CHECK(code(thrown) == "PLUGIN_ERROR");

    std::string huge_header = "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(20000, 'a') + "\r\n\r\n";
    auto raw = raw_exchange(server.port(), huge_header);
    CHECK(raw.rfind("HTTP/1.1 431", 0) == 0);
    CHECK(raw.find("HEADERS_TOO_LARGE") != std::string::npos);

    // The server is still healthy after all of that.
    CHECK(server.call("GET", "/healthz").status == 200);
}

TEST_CASE("keep-alive: several requests on one connection", "[e2e]") {
    Folder folder;
    Served server(folder.path());
    server.install({"http", "kit"});
    std::string two = "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\nGET /v1/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    auto raw = raw_exchange(server.port(), two);
    size_t first = raw.find("HTTP/1.1 200");
    REQUIRE(first != std::string::npos);
    CHECK(raw.find("HTTP/1.1 200", first + 1) != std::string::npos);
}

TEST_CASE("HTTP/1.1 details: 100-continue, bodies in pieces, HEAD, HTTP/1.0, malformed requests", "[e2e]") {
    Folder folder;
    Served server(folder.path());
    server.install({"kit"});
    const std::string auth = "Authorization: Bearer " + server.admin_token() + "\r\n";
    const std::string body = R"({"input": {"n": 7}})";
    const std::string post = "POST " + invoke_path("kit", "echo") + " HTTP/1.1\r\nHost: x\r\n" + auth + "Content-Type: application/json\r\n";

    SECTION("a client that waits for 100 Continue gets it before sending the body") {
        RawConnection c(server.port());
        REQUIRE(c.connected());
        c.send(post + "Expect: 100-continue\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n");
        auto got = c.read_until("\r\n\r\n");
        REQUIRE(got.rfind("HTTP/1.1 100 Continue\r\n", 0) == 0);
        c.send(body);
        got = c.read_until("\"n\":7");
        CHECK(got.find("HTTP/1.1 200 OK\r\n") != std::string::npos);
        CHECK(got.find("\"n\":7") != std::string::npos);
    }
    SECTION("a large body is read whole, over many reads") {
        std::string pad(300 * 1024, 'p');
        auto r = server.call("POST", invoke_path("kit", "echo"), "{\"input\": {\"n\": 3, \"pad\": \"" + pad + "\"}}");
        REQUIRE(r.status == 200);
        CHECK(r.json().at("output").at("input").at("pad").as_string().size() == pad.size());
    }
    SECTION("a request that arrives a few bytes at a time is read whole") {
        RawConnection c(server.port());
        std::string all = post + "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
        for (size_t i = 0; i < all.size(); i += 7) {
            c.send(all.substr(i, 7));
            std::this_thread::sleep_for(std::chrono::milliseconds(2));
        }
        auto got = c.read_until("\"n\":7");
        CHECK(got.rfind("HTTP/1.1 200 OK\r\n", 0) == 0);
        CHECK(got.find("X-Request-Id: ") != std::string::npos);
    }
    SECTION("pipelined requests are answered in order on one connection") {
        RawConnection c(server.port());
        std::string first = post + "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
        std::string last = post + "Connection: close\r\nContent-Length: 21\r\n\r\n" + R"({"input": {"n": 99}})" + " ";
        c.send(first + "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n" + last);
        REQUIRE(c.closed_by_peer());
        const auto& got = c.received();
        size_t one = got.find("\"n\":7"), health = got.find("\"status\":\"ok\""), three = got.find("\"n\":99");
        REQUIRE(one != std::string::npos);
        REQUIRE(health != std::string::npos);
        REQUIRE(three != std::string::npos);
        CHECK(one < health);
        CHECK(health < three);
    }
    SECTION("HEAD answers the headers of GET, with its length and without a body") {
        auto get = raw_exchange(server.port(), "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        auto head = raw_exchange(server.port(), "HEAD /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        auto length = [](const std::string& r) {
            auto at = r.find("Content-Length: ");
            return at == std::string::npos ? std::string() : r.substr(at + 16, r.find("\r\n", at) - at - 16);
        };
        REQUIRE(head.rfind("HTTP/1.1 200 OK\r\n", 0) == 0);
        CHECK(!length(head).empty());
        CHECK(length(head) == length(get));
        CHECK(head.substr(head.find("\r\n\r\n") + 4).empty());
        CHECK(head.find("Connection: close\r\n") != std::string::npos);
    }
    SECTION("an HTTP/1.0 client gets an HTTP/1.0 answer, kept alive only when it asks") {
        auto plain = raw_exchange(server.port(), "GET /healthz HTTP/1.0\r\n\r\n");
        CHECK(plain.rfind("HTTP/1.0 200 OK\r\n", 0) == 0);
        CHECK(plain.find("Connection: keep-alive") == std::string::npos);
        RawConnection c(server.port());
        c.send("GET /healthz HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
        auto got = c.read_until("\"ok\"");
        CHECK(got.find("Connection: keep-alive\r\n") != std::string::npos);
        c.send("GET /healthz HTTP/1.0\r\n\r\n");
        CHECK(c.closed_by_peer());
        CHECK(c.received().find("HTTP/1.0 200", 10) != std::string::npos);
    }
    SECTION("a malformed request line answers 400 and closes") {
        auto raw = raw_exchange(server.port(), "GET\x01 / HTTP/1.1\r\nHost: x\r\n\r\n");
        CHECK(raw.rfind("HTTP/1.1 400", 0) == 0);
        CHECK(raw.find("BAD_REQUEST") != std::string::npos);
        CHECK(raw.find("Connection: close\r\n") != std::string::npos);
    }
    SECTION("a head cut short by the end of the stream answers 400, naming it") {
        RawConnection c(server.port());
        c.send("GET /healthz HTTP/1.1\r\nHo");
        c.end_sending();
        REQUIRE(c.closed_by_peer());
        CHECK(c.received().rfind("HTTP/1.1 400", 0) == 0);
        CHECK(c.received().find("partial message") != std::string::npos);
    }
    SECTION("a body cut short by the client ends the connection without an answer, and the server carries on") {
        auto raw = raw_exchange(server.port(), post + "Content-Length: 500\r\n\r\n{\"input\":");
        CHECK(raw.empty());
    }
    CHECK(server.call("GET", "/healthz").status == 200);
}

TEST_CASE("connections idle for longer than --idle-timeout are closed; busy ones are not", "[e2e]") {
    Folder folder("5s");
    Served server(folder.path(), {"--idle-timeout", "300"});
    server.install({"kit"});
    RawConnection idle(server.port());
    REQUIRE(idle.connected());
    CHECK(idle.closed_by_peer(std::chrono::seconds(20)));

    // Half a request, then silence: closed as well.
    RawConnection slow(server.port());
    slow.send("GET /healthz HTTP/1.1\r\nHost: x\r\n");
    CHECK(slow.closed_by_peer(std::chrono::seconds(20)));

    // A call that runs longer than the idle timeout is answered.
    RawConnection busy(server.port());
    std::string body = R"({"input": {"ms": 900}})";
    busy.send("POST " + invoke_path("kit", "sleep") + " HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + server.admin_token() +
              "\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body);
    auto got = busy.read_until("\"slept\"", std::chrono::seconds(20));
    CHECK(got.rfind("HTTP/1.1 200 OK\r\n", 0) == 0);
}

TEST_CASE("a call past its deadline answers 504 while other calls carry on", "[e2e]") {
    Folder folder;
    Served server(folder.path());
    server.install({"http", "kit"});
    auto slow = std::async(std::launch::async, [&] {
        return server.call("POST", invoke_path("kit", "sleep"), R"({"input": {"ms": 5000}})");
    });
    // While the slow call occupies a worker, quick calls are answered.
    for (int i = 0; i < 5; ++i) CHECK(server.call("POST", invoke_path("kit", "echo"), "{}").status == 200);
    auto r = slow.get();
    CHECK(r.status == 504);
    CHECK(r.json().at("error").at("code").as_string() == "TIMEOUT");
}

TEST_CASE("manifests added, changed and removed while serving", "[e2e]") {
    Folder folder;
    Served server(folder.path());
    server.install({"http", "kit"});
    auto label = [&](const std::string& name) -> std::string {
        auto r = server.call("POST", invoke_path(name, "echo"), "{}");
        if (r.status != 200) return "status " + std::to_string(r.status);
        return std::string(r.json().at("output").at("label").as_string());
    };
    CHECK(label("kit") == "v1");
    write_file(folder.path() / "added.yaml", testkit_manifest("added", "new"));
    CHECK(eventually([&] { return server.call("POST", "/v1/installations", R"({"integration": "added"})").status == 201; }));
    CHECK(label("added") == "new");

    // A call in flight finishes on the version it started on.
    write_file(folder.path() / "kit.yaml", testkit_manifest("kit", "v1", "", "10s"));
    CHECK(eventually([&] {
        auto r = server.call("GET", "/v1/integrations/kit").json();
        for (const auto& a : r.at("actions").as_array())
            if (a.at("name").as_string() == "sleep") return a.at("timeout_ms").as_int64() == 10000;
        return false;
    }));
    auto in_flight = std::async(std::launch::async, [&] {
        return server.call("POST", invoke_path("kit", "sleep"), R"({"input": {"ms": 1500}})");
    });
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    write_file(folder.path() / "kit.yaml", testkit_manifest("kit", "v2", "", "10s"));
    CHECK(eventually([&] { return label("kit") == "v2"; }));
    auto finished = in_flight.get();
    REQUIRE(finished.status == 200);
    CHECK(finished.json().at("output").at("label").as_string() == "v1");

    fs::remove(folder.path() / "added.yaml");
    CHECK(eventually([&] { return label("added") == "status 404"; }));
    // A broken edit turns the integration into an error, visible in the listing.
    write_file(folder.path() / "kit.yaml", "apiVersion: patchbay/v1\nname: kit\nversion: oops\n");
    CHECK(eventually([&] { return label("kit") == "status 503"; }));
    auto others = server.call("GET", "/v1/integrations/http").json();
    CHECK(others.at("status").as_string() == "ready");  // the others are untouched
}

TEST_CASE("SIGTERM drains: calls in flight complete, then the process exits 0", "[e2e]") {
    Folder folder("10s");
    auto server = std::make_unique<Served>(folder.path());
    server->install({"kit"});
    auto in_flight = std::async(std::launch::async, [&] {
        return server->call("POST", invoke_path("kit", "sleep"), R"({"input": {"ms": 800}})");
    });
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    int code = server->terminate();
    auto r = in_flight.get();
    CHECK(r.status == 200);
    CHECK(r.headers["connection"] == "close");
    CHECK(code == 0);
    CHECK(raw_exchange(server->port(), "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").empty());  // nobody listens any more
}

TEST_CASE("busy polling (the default, or --busy-poll-us): calls are answered as usual, an idle server does not spin, SIGTERM still drains", "[e2e]") {
    Folder folder("10s");
    const bool by_default = GENERATE(true, false);
    std::vector<std::string> extra{"--threads", "2"};
    if (!by_default) extra.insert(extra.end(), {"--busy-poll-us", "300"});
    auto server = std::make_unique<Served>(folder.path(), extra);
    // The startup log says how the network threads wait: polls of up to 500 µs by default, none
    // under a CPU quota.
    std::string line;
    for (int i = 0; i < 100 && line.find("\"msg\":\"network threads\"") == std::string::npos; ++i) {
        if (i) std::this_thread::sleep_for(std::chrono::milliseconds(50));
        line = server->stderr_text();
    }
    REQUIRE(line.find("\"msg\":\"network threads\"") != std::string::npos);
    line = line.substr(line.find("\"msg\":\"network threads\""));
    line = line.substr(0, line.find('\n'));
    const bool quota = line.find("\"cpu_quota\":true") != std::string::npos;
    CHECK(line.find(by_default ? (quota ? "\"busy_poll_us\":0," : "\"busy_poll_us\":500,") : "\"busy_poll_us\":300,") != std::string::npos);
    server->install({"kit"});
    for (int i = 0; i < 50; ++i) {
        auto r = server->call("POST", invoke_path("kit", "echo"), "{\"input\": {\"n\": " + std::to_string(i) + "}}");
        REQUIRE(r.status == 200);
        CHECK(r.json().at("output").at("input").at("n").as_int64() == i);
    }
    // CPU time the process used (user + system), in clock ticks.
    auto cpu_ticks = [pid = server->pid()] {
        std::string stat = read_file("/proc/" + std::to_string(pid) + "/stat");
        std::istringstream fields(stat.substr(stat.rfind(')') + 2));
        std::string f;
        long long utime = 0, stime = 0;
        for (int i = 3; i <= 15 && fields >> f; ++i) {
            if (i == 14) utime = std::stoll(f);
            if (i == 15) stime = std::stoll(f);
        }
        return utime + stime;
    };
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    auto before = cpu_ticks();
    std::this_thread::sleep_for(std::chrono::seconds(1));
    auto used = cpu_ticks() - before;
    // Two threads spinning would use two CPU-seconds here; an idle server next to nothing.
    CHECK(used < sysconf(_SC_CLK_TCK) / 4);

    auto in_flight = std::async(std::launch::async, [&] {
        return server->call("POST", invoke_path("kit", "sleep"), R"({"input": {"ms": 500}})");
    });
    std::this_thread::sleep_for(std::chrono::milliseconds(150));
    int code = server->terminate();
    CHECK(in_flight.get().status == 200);
    CHECK(code == 0);
}

TEST_CASE("serve refuses busy-poll and idle timeouts out of range, saying what is allowed", "[e2e]") {
    auto busy = run({PATCHBAY_BIN, "serve", "--busy-poll-us", "20000"});
    CHECK(busy.exit_code == 2);
    CHECK(busy.err.find("--busy-poll-us is in microseconds, between 0 (off) and 10000") != std::string::npos);
    auto idle = run({PATCHBAY_BIN, "serve", "--idle-timeout", "abc"});
    CHECK(idle.exit_code == 2);
    CHECK(idle.err.find("take numbers") != std::string::npos);
    auto checks = run({PATCHBAY_BIN, "serve", "--output-checks", "sometimes"});
    CHECK(checks.exit_code == 2);
    CHECK(checks.err.find("--output-checks is every, sample or off, not 'sometimes'") != std::string::npos);
}
