#include "http/client.hpp"

#include "common/uri.hpp"
#include "http/target.hpp"
#include "test_support.hpp"
#include "upstream.hpp"

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/json.hpp>
#include <catch2/catch.hpp>

#include <atomic>
#include <sys/socket.h>
#include <thread>

using namespace testing;
using patchbay::Errc;
using Clock = std::chrono::steady_clock;

namespace {
struct ClientRig {
    patchbay::http::Client client;
    patchbay::Result<patchbay::host::OutboundResponse> get(const std::string& url, std::chrono::milliseconds budget = std::chrono::seconds(10)) {
        patchbay::host::OutboundRequest r;
        r.url = url;
        return client.perform(r, Clock::now() + budget);
    }
};
}  // namespace

TEST_CASE("keep-alive connections are pooled and reused", "[http]") {
    ClientRig rig;
    Upstream up;
    for (int i = 0; i < 5; ++i) {
        auto r = rig.get(up.url("/json"));
        REQUIRE(r.ok());
        CHECK(r->status == 200);
    }
    CHECK(up.connections() == 1);
    CHECK(rig.client.idle_connections() == 1);
}

TEST_CASE("a connection the server closed is not reused", "[http]") {
    ClientRig rig;
    Upstream up;
    REQUIRE(rig.get(up.url("/close")).ok());
    REQUIRE(rig.get(up.url("/json")).ok());
    CHECK(up.connections() == 2);
}

TEST_CASE("request line, headers and body reach the upstream", "[http]") {
    ClientRig rig;
    Upstream up;
    patchbay::host::OutboundRequest r;
    r.method = "POST";
    r.url = up.url("/echo?q=a%20b&x=1");
    r.headers = {{"X-Custom", "yes"}, {"Content-Type", "application/json"}};
    r.body = R"({"k":1})";
    auto res = rig.client.perform(r, Clock::now() + std::chrono::seconds(10));
    REQUIRE(res.ok());
    auto echo = boost::json::parse(res->body);
    CHECK(echo.at("method").as_string() == "POST");
    CHECK(echo.at("target").as_string() == "/echo?q=a%20b&x=1");
    CHECK(echo.at("headers").at("x-custom").as_string() == "yes");
    CHECK(echo.at("headers").at("host").as_string() == "127.0.0.1:" + std::to_string(up.port()));
    CHECK(echo.at("body").as_string() == R"({"k":1})");
}

TEST_CASE("answers of the common shape and of any other shape are read alike", "[http]") {
    ClientRig rig;
    Upstream up;
    auto mixed = rig.get(up.url("/mixed"));  // read by the quick head reader
    REQUIRE(mixed.ok());
    CHECK(mixed->status == 200);
    CHECK(mixed->body == R"({"mixed":true})");
    std::vector<std::string> multi;
    bool long_name = false;
    for (const auto& [k, v] : mixed->headers) {
        if (k == "X-Multi") multi.push_back(v);
        if (k == "X-Patchbay-Long-Header-NAME") long_name = v == "v";
    }
    CHECK(multi == std::vector<std::string>{"a", "b"});
    CHECK(long_name);
    auto chunked = rig.get(up.url("/chunked"));  // chunked: Beast's parser
    REQUIRE(chunked.ok());
    CHECK(chunked->body == R"({"chunked":true})");
    auto latin = rig.get(up.url("/verbatim"));  // a byte above 0x7f in a value: Beast's parser
    REQUIRE(latin.ok());
    CHECK(latin->body.find("123456789012345678901234567890") != std::string::npos);
    auto again = rig.get(up.url("/mixed"));
    REQUIRE(again.ok());
    CHECK(up.connections() == 1);  // every one of them left the connection reusable
}

namespace {
// A server that answers one request with `pieces`, written apart (50 ms between them), then
// closes; for the reads of an answer that arrives in parts, or not whole.
struct PieceServer {
    boost::asio::io_context ioc;
    boost::asio::ip::tcp::acceptor acceptor{ioc, {boost::asio::ip::make_address("127.0.0.1"), 0}};
    std::thread thread;
    std::atomic<int> accepted{0};
    explicit PieceServer(std::vector<std::string> pieces, int connections = 1) {
        thread = std::thread([this, pieces = std::move(pieces), connections] {
          for (int i = 0; i < connections; ++i) {
            boost::system::error_code ec;
            boost::asio::ip::tcp::socket s(ioc);
            acceptor.accept(s, ec);
            if (ec) return;
            ++accepted;
            s.set_option(boost::asio::ip::tcp::no_delay(true), ec);
            std::string request;
            char buf[4096];
            while (request.find("\r\n\r\n") == std::string::npos) {
                size_t n = s.read_some(boost::asio::buffer(buf), ec);
                if (ec) return;
                request.append(buf, n);
            }
            for (const auto& p : pieces) {
                boost::asio::write(s, boost::asio::buffer(p), ec);
                std::this_thread::sleep_for(std::chrono::milliseconds(50));
            }
            s.close(ec);
          }
        });
    }
    ~PieceServer() {
        ::shutdown(acceptor.native_handle(), SHUT_RDWR);  // wakes an accept still waiting for a connection that never came
        thread.join();
    }
    std::string url() const { return "http://127.0.0.1:" + std::to_string(acceptor.local_endpoint().port()) + "/"; }
};
}  // namespace

TEST_CASE("an answer that arrives in parts is read whole; one cut short is an error", "[http]") {
    ClientRig rig;
    {
        PieceServer server({"HTTP/1.1 200 OK\r\nContent-Le", "ngth: 10\r\nX-A: 1\r\n\r\n0123", "456789"});
        auto r = rig.get(server.url());
        REQUIRE(r.ok());
        CHECK(r->status == 200);
        CHECK(r->body == "0123456789");
        REQUIRE(r->headers.size() == 2);
        CHECK(r->headers[1] == std::pair<std::string, std::string>("X-A", "1"));
    }
    {
        // A head that arrives a few bytes at a time (more reads than the quick reader scans).
        std::vector<std::string> bytes;
        for (char c : std::string("HTTP/1.1 20")) bytes.emplace_back(1, c);
        bytes.emplace_back("0 OK\r\nContent-Length: 2\r\n\r\nok");
        PieceServer server(bytes);
        auto r = rig.get(server.url());
        REQUIRE(r.ok());
        CHECK(r->body == "ok");
    }
    {
        // Bytes after the answer: the connection is not used again, so the next answer is not
        // read from them.
        PieceServer server({"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhiHTTP/1.1 500 Not Asked\r\n\r\n"}, 2);
        auto first = rig.get(server.url());
        REQUIRE(first.ok());
        CHECK(first->body == "hi");
        auto second = rig.get(server.url());
        REQUIRE(second.ok());
        CHECK(second->status == 200);
        CHECK(server.accepted == 2);
    }
    for (std::string cut : {"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n0123", "HTTP/1.1 200 OK\r\nContent-Len"}) {
        PieceServer server({cut});
        auto r = rig.get(server.url());
        REQUIRE_FALSE(r.ok());
        CHECK(r.error().code == Errc::upstream_unavailable);
        CHECK(r.error().message.find("partial message") != std::string::npos);
    }
}

TEST_CASE("timeouts, refused connections and bad URLs are errors, not hangs", "[http]") {
    ClientRig rig;
    Upstream up;
    auto slow = rig.get(up.url("/slow?ms=2000"), std::chrono::milliseconds(200));
    REQUIRE_FALSE(slow.ok());
    CHECK(slow.error().code == Errc::timeout);
    auto refused = rig.get("http://127.0.0.1:1/");
    REQUIRE_FALSE(refused.ok());
    CHECK(refused.error().code == Errc::upstream_unavailable);
    auto scheme = rig.get("ftp://example.com/file");
    REQUIRE_FALSE(scheme.ok());
    CHECK(scheme.error().message.find("only http and https") != std::string::npos);
    for (const char* port : {"70000", "0", ""}) {
        auto out_of_range = rig.get(std::string("http://127.0.0.1:") + port + "/");
        REQUIRE_FALSE(out_of_range.ok());
        CHECK(out_of_range.error().code == Errc::invalid_input);
        CHECK(out_of_range.error().message.find("is not a port number (1 to 65535)") != std::string::npos);
    }
    auto userinfo = rig.get("http://user:pass@127.0.0.1/");
    REQUIRE_FALSE(userinfo.ok());
    CHECK(userinfo.error().message.find("pass") == std::string::npos);  // never echo credentials
    auto tls_to_plain = rig.get("https://127.0.0.1:" + std::to_string(up.port()) + "/json");
    REQUIRE_FALSE(tls_to_plain.ok());
    CHECK(tls_to_plain.error().message.find("TLS handshake") != std::string::npos);
}

TEST_CASE("responses larger than the limit are refused", "[http]") {
    {
        patchbay::http::ClientOptions o;
        o.max_response_bytes = 8;
        patchbay::http::Client client(o);
        Upstream up;
        patchbay::host::OutboundRequest r;
        r.url = up.url("/json");
        auto res = client.perform(r, Clock::now() + std::chrono::seconds(10));
        REQUIRE_FALSE(res.ok());
        CHECK(res.error().message.find("larger than 8 bytes") != std::string::npos);
    }
}

TEST_CASE("TLS: a server whose chain leads to a trusted CA is accepted; others are refused", "[http][tls]") {
    TestPki pki;
    Upstream good({pki.server_cert, pki.server_key});
    Upstream wrong_host({pki.wrong_host_cert, pki.wrong_host_key});

    patchbay::http::ClientOptions trusting;
    trusting.ca_file = pki.ca;
    patchbay::http::Client client(trusting);
    patchbay::host::OutboundRequest r;
    r.url = good.url("/json");
    auto ok = client.perform(r, Clock::now() + std::chrono::seconds(10));
    REQUIRE(ok.ok());
    CHECK(ok->status == 200);
    CHECK(ok->body == R"({"hello":"world"})");

    // The name in the URL must match the certificate, even when the CA is trusted.
    r.url = wrong_host.url("/json");
    auto mismatch = client.perform(r, Clock::now() + std::chrono::seconds(10));
    REQUIRE_FALSE(mismatch.ok());
    CHECK(mismatch.error().message.find("TLS handshake with 127.0.0.1 failed") != std::string::npos);

    // Without the test CA, only the system store is trusted: the chain does not verify.
    patchbay::http::Client system_only;
    r.url = good.url("/json");
    auto unknown = system_only.perform(r, Clock::now() + std::chrono::seconds(10));
    REQUIRE_FALSE(unknown.ok());
    CHECK(unknown.error().message.find("unable to get local issuer certificate") != std::string::npos);
}

TEST_CASE("TLS: expired and self-signed certificates are refused even when the CA is trusted", "[http][tls]") {
    TestPki pki;
    Upstream expired({pki.expired_cert, pki.expired_key});
    Upstream self_signed({pki.self_signed_cert, pki.self_signed_key});
    patchbay::http::ClientOptions trusting;
    trusting.ca_file = pki.ca;
    patchbay::http::Client client(trusting);
    patchbay::host::OutboundRequest r;
    r.url = expired.url("/json");
    auto old = client.perform(r, Clock::now() + std::chrono::seconds(10));
    REQUIRE_FALSE(old.ok());
    CHECK(old.error().message.find("certificate has expired") != std::string::npos);
    r.url = self_signed.url("/json");
    auto self = client.perform(r, Clock::now() + std::chrono::seconds(10));
    REQUIRE_FALSE(self.ok());
    CHECK(self.error().message.find("self-signed certificate") != std::string::npos);
    CHECK(expired.requests() == 0);
    CHECK(self_signed.requests() == 0);
}

TEST_CASE("TLS: a request's own CA bundle (a connection's) is trusted for that request only", "[http][tls]") {
    TestPki pki;
    Upstream good({pki.server_cert, pki.server_key});
    patchbay::http::Client client;  // system store only
    patchbay::host::OutboundRequest r;
    r.url = good.url("/json");
    r.ca_pem = read_file(pki.ca);
    auto ok = client.perform(r, Clock::now() + std::chrono::seconds(10));
    REQUIRE(ok.ok());
    CHECK(ok->status == 200);
    // The same server without the bundle: not trusted, and the pooled connection is not reused.
    r.ca_pem.clear();
    auto refused = client.perform(r, Clock::now() + std::chrono::seconds(10));
    REQUIRE_FALSE(refused.ok());
    CHECK(refused.error().message.find("unable to get local issuer certificate") != std::string::npos);
    // A bundle that is not PEM is the caller's mistake, said plainly.
    r.ca_pem = "not a certificate";
    auto bad = client.perform(r, Clock::now() + std::chrono::seconds(10));
    REQUIRE_FALSE(bad.ok());
    CHECK(bad.error().code == Errc::invalid_input);
    CHECK(bad.error().message.find("CA bundle") != std::string::npos);
}

TEST_CASE("TLS: servers offering less than TLS 1.2 are refused", "[http][tls]") {
    TestPki pki;
    // A server that speaks only TLS 1.1: the client's floor is 1.2, so no handshake completes.
    boost::asio::io_context ioc;
    boost::asio::ssl::context ctx(boost::asio::ssl::context::tls_server);
    ctx.use_certificate_chain_file(pki.server_cert);
    ctx.use_private_key_file(pki.server_key, boost::asio::ssl::context::pem);
    SSL_CTX_set_min_proto_version(ctx.native_handle(), TLS1_1_VERSION);
    SSL_CTX_set_max_proto_version(ctx.native_handle(), TLS1_1_VERSION);
    SSL_CTX_set_security_level(ctx.native_handle(), 0);
    boost::asio::ip::tcp::acceptor acceptor(ioc, {boost::asio::ip::make_address("127.0.0.1"), 0});
    std::thread t([&] {
        boost::asio::ip::tcp::socket s(ioc);
        acceptor.accept(s);
        boost::asio::ssl::stream<boost::asio::ip::tcp::socket&> stream(s, ctx);
        boost::system::error_code ec;
        stream.handshake(boost::asio::ssl::stream_base::server, ec);
    });
    patchbay::http::ClientOptions trusting;
    trusting.ca_file = pki.ca;
    patchbay::http::Client client(trusting);
    patchbay::host::OutboundRequest r;
    r.url = "https://127.0.0.1:" + std::to_string(acceptor.local_endpoint().port()) + "/json";
    auto res = client.perform(r, Clock::now() + std::chrono::seconds(10));
    t.join();
    REQUIRE_FALSE(res.ok());
    CHECK(res.error().message.find("TLS handshake with 127.0.0.1 failed") != std::string::npos);
}

TEST_CASE("a server that accepts but never completes the TLS handshake hits the handshake timeout", "[http][tls]") {
    boost::asio::io_context ioc;
    boost::asio::ip::tcp::acceptor silent(ioc, {boost::asio::ip::make_address("127.0.0.1"), 0});  // the kernel accepts; nobody speaks
    patchbay::http::ClientOptions o;
    o.handshake_timeout = std::chrono::milliseconds(300);
    patchbay::http::Client client(o);
    patchbay::host::OutboundRequest r;
    r.url = "https://127.0.0.1:" + std::to_string(silent.local_endpoint().port()) + "/json";
    auto res = client.perform(r, Clock::now() + std::chrono::seconds(30));
    REQUIRE_FALSE(res.ok());
    CHECK(res.error().code == Errc::timeout);
    CHECK(res.error().message.find("TLS handshake with 127.0.0.1 timed out") != std::string::npos);
}

TEST_CASE("the guarded URI parsers refuse a scheme followed by no URI part, without Boost.URL's debug assertion", "[http]") {
    for (const char* text : {"x:|", "http: x", "x:{", "https:\"a"}) {
        INFO(text);
        CHECK_FALSE(patchbay::parse_uri(text));
        CHECK_FALSE(patchbay::parse_absolute_uri(text));
    }
    CHECK(patchbay::parse_uri("x:a"));
    CHECK(patchbay::parse_absolute_uri("https://example.com/a?b"));
    CHECK_FALSE(patchbay::parse_absolute_uri("https://example.com/a#b"));  // no fragment in an absolute URI
}

TEST_CASE("URLs read on the fast path give what the full RFC 3986 parser gives", "[http]") {
    using patchbay::http::parse_target;
    using patchbay::http::parse_target_rfc3986;
    const std::vector<std::string> urls = {
        "http://127.0.0.1:8080/data.json", "https://api.example.com/v1/items?page=2&per_page=50", "HTTP://Example.COM",
        "hTTpS://example.com:0443/a/b/", "http://example.com?x=1", "http://example.com/?", "http://example.com//a//b",
        "http://h/p;a=b/c@d:e/!$&'()*+,;=~_-.", "http://h/?q=/a?b:c@d", "http://0x7f.1/", "http://2130706433/x",
        "http://127.000.000.001/", "http://1.2.3/", "http://./", "http://-/", "http://a-b.c/", "http://example.com:65535/",
        // handed to the full parser
        "http://user:pw@example.com/", "http://example.com:80@evil.com/", "http://[::1]:8080/x", "http://[v1.x]/",
        "http://a_b.example/", "http://ex%41mple.com/", "http://example.com/a%20b", "http://example.com/#frag",
        "http://example.com/a b", "http://example.com:/x", "http:///x", "http://example.com:x/", "https://h:99999/",
        "https://h:0/", "http://h:99999999999999999999/", "ftp://example.com/", "mailto:a@b.c", "example.com/x",
        "http:/example.com", "http:", "", "http://example.com\\x", "http://example.com/\x01", "http://ex ample.com/",
        "http://example.com/?a=%zz", "https://example.com/\xc3\xa9", "http:|", "http: x", "x:{",  // (Boost.URL's debug builds assert on these)
    };
    for (const auto& url : urls) {
        INFO("url: " << url);
        auto fast = parse_target(url);
        auto full = parse_target_rfc3986(url);
        REQUIRE(fast.ok() == full.ok());
        if (!fast.ok()) {
            CHECK(fast.error().message == full.error().message);
            continue;
        }
        const auto& a = fast.value();
        const auto& b = full.value();
        CHECK(a.tls == b.tls);
        CHECK(a.host == b.host);
        CHECK(a.port == b.port);
        CHECK(a.port_number == b.port_number);
        CHECK(a.host_header == b.host_header);
        CHECK(a.path_and_query == b.path_and_query);
    }
    CHECK(parse_target("http://10.200.0.255/").value().host == "10.200.0.255");
    CHECK(parse_target("http://4294967295/").value().host == "255.255.255.255");
    CHECK(parse_target("http://0/").value().host == "0.0.0.0");
    auto t = parse_target("http://0x7f.1:8080/a?b=c").value();
    CHECK(t.host == "127.0.0.1");
    CHECK(t.host_header == "127.0.0.1:8080");
    CHECK(t.path_and_query == "/a?b=c");
}
