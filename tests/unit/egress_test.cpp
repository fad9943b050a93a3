// The egress guard: address ranges, odd IPv4 spellings, allow lists, and a table of targets that
// must all be refused before any connection is made (a loopback canary counts connections).
#include "http/client.hpp"
#include "http/egress.hpp"
#include "upstream.hpp"

#include <catch2/catch.hpp>

using namespace testing;
using patchbay::Errc;
using patchbay::http::EgressPolicy;
using Clock = std::chrono::steady_clock;
namespace ip = boost::asio::ip;

TEST_CASE("odd IPv4 spellings are read as the address they name", "[egress]") {
    auto is = [](const char* text, const char* address) {
        auto a = patchbay::http::parse_ipv4_loose(text);
        INFO(text);
        REQUIRE(a.has_value());
        CHECK(a->to_string() == address);
    };
    is("127.0.0.1", "127.0.0.1");
    is("127.1", "127.0.0.1");
    is("127.0.1", "127.0.0.1");
    is("2130706433", "127.0.0.1");
    is("0x7f000001", "127.0.0.1");
    is("0x7F.0.0.1", "127.0.0.1");
    is("0177.0.0.1", "127.0.0.1");
    is("017700000001", "127.0.0.1");
    is("0x7f.1", "127.0.0.1");
    is("127.0.0.1.", "127.0.0.1");
    is("0", "0.0.0.0");
    is("192.168.257", "192.168.1.1");
    is("0xa9fea9fe", "169.254.169.254");
    for (const char* name : {"example.com", "1.2.3.4.5", "256.0.0.1", "0x1g.0.0.1", "08.0.0.1", "4294967296", "1..2", "", "12a"}) {
        INFO(name);
        CHECK_FALSE(patchbay::http::parse_ipv4_loose(name).has_value());
    }
}

TEST_CASE("allow entries are parsed, and bad ones named", "[egress]") {
    auto ok = EgressPolicy::parse({"127.0.0.1", "10.20.0.0/16", "*.corp.example", "api.internal", "::1", "fd00::/8", " "});
    REQUIRE(ok.ok());
    CHECK_FALSE(ok->check("x", ip::make_address("127.0.0.1")).has_value());
    CHECK(ok->check("x", ip::make_address("127.0.0.2")).has_value());
    CHECK_FALSE(ok->check("x", ip::make_address("10.20.3.4")).has_value());
    CHECK(ok->check("x", ip::make_address("10.21.0.1")).has_value());
    CHECK_FALSE(ok->check("git.corp.example", ip::make_address("10.9.9.9")).has_value());
    CHECK(ok->check("corp.example.evil", ip::make_address("10.9.9.9")).has_value());
    CHECK_FALSE(ok->check("API.Internal", ip::make_address("192.168.1.1")).has_value());
    CHECK_FALSE(ok->check("x", ip::make_address("fd12::1")).has_value());
    CHECK_FALSE(ok->check("public.example", ip::make_address("93.184.216.34")).has_value());  // public: always fine
    for (const char* bad : {"10.0.0.0/33", "10.0.0.0/x", "/8", "exa mple.com", "http://x"}) {
        auto p = EgressPolicy::parse({bad});
        INFO(bad);
        REQUIRE_FALSE(p.ok());
        CHECK(p.error().message.find(bad) != std::string::npos);
    }
}

TEST_CASE("a table of local, private and reserved targets: all refused, none connected", "[egress]") {
    Upstream canary;  // on 127.0.0.1: any request that got through would be counted here
    const std::string p = std::to_string(canary.port());
    const std::vector<std::string> targets = {
        // loopback, spelled every way a resolver or a URL parser accepts
        "http://127.0.0.1:" + p + "/", "https://127.0.0.1:" + p + "/", "http://127.1:" + p + "/", "http://127.0.1:" + p + "/",
        "http://2130706433:" + p + "/", "http://0x7f000001:" + p + "/", "http://0x7f.0x0.0x0.0x1:" + p + "/",
        "http://0177.0.0.1:" + p + "/", "http://017700000001:" + p + "/", "http://0x7f.1:" + p + "/",
        "http://127.000.000.001:" + p + "/", "http://127.0.0.1.:" + p + "/", "http://localhost:" + p + "/",
        "http://LOCALHOST:" + p + "/", "http://127.0.0.2:" + p + "/",
        "http://127.255.255.254:" + p + "/", "http://[::1]:" + p + "/", "http://[0:0:0:0:0:0:0:1]:" + p + "/",
        "http://[::ffff:127.0.0.1]:" + p + "/", "http://[::ffff:7f00:1]:" + p + "/", "http://[0:0:0:0:0:ffff:127.0.0.1]:" + p + "/",
        "http://[::127.0.0.1]:" + p + "/", "http://[64:ff9b::7f00:1]:" + p + "/", "http://[2002:7f00:1::]:" + p + "/",
        // "this host": 0.0.0.0 reaches local listeners on Linux
        "http://0.0.0.0:" + p + "/", "http://0:" + p + "/", "http://0x0:" + p + "/", "http://[::]:" + p + "/",
        // private networks
        "http://10.0.0.1/", "http://10.255.255.255/", "http://10.1/", "http://172.16.0.1/", "http://172.31.255.254/",
        "http://192.168.0.1/", "http://192.168.1.1:8080/", "http://192.168.257/", "http://[::ffff:10.0.0.1]/",
        "http://[::ffff:192.168.0.1]:" + p + "/",
        // link-local and cloud metadata, also in decimal, hex and octal
        "http://169.254.169.254/latest/meta-data/", "http://169.254.170.2/v2/credentials", "http://0xa9fea9fe/",
        "http://2852039166/", "http://0251.0376.0251.0376/", "http://[::ffff:169.254.169.254]/", "http://[fd00:ec2::254]/",
        "http://[fe80::1]/",
        // carrier-grade NAT, special purpose, documentation, benchmarking
        "http://100.64.0.1/", "http://100.127.255.254/", "http://192.0.0.1/", "http://192.0.2.1/", "http://198.18.0.1/",
        "http://198.19.255.1/", "http://198.51.100.1/", "http://203.0.113.1/", "http://192.88.99.1/",
        // multicast, reserved, broadcast
        "http://224.0.0.1/", "http://239.255.255.250/", "http://240.0.0.1/", "http://255.255.255.255/",
        // IPv6 unique-local, site-local, multicast, documentation, discard, Teredo
        "http://[fc00::1]/", "http://[fd12:3456::1]/", "http://[fec0::1]/", "http://[ff02::1]/", "http://[2001:db8::1]/",
        "http://[100::1]/", "http://[2001::1]/",
    };
    REQUIRE(targets.size() >= 60);
    patchbay::http::ClientOptions options;
    options.egress = EgressPolicy::parse({}).value();
    options.connect_timeout = std::chrono::milliseconds(500);
    patchbay::http::Client client(options);
    for (const auto& url : targets) {
        patchbay::host::OutboundRequest r;
        r.url = url;
        auto res = client.perform(r, Clock::now() + std::chrono::seconds(5));
        INFO(url);
        REQUIRE_FALSE(res.ok());
        CHECK(res.error().code == Errc::egress_denied);
        CHECK(res.error().message.find("--egress-allow") != std::string::npos);
    }
    // Other schemes are not fetched at all.
    for (const std::string& url : std::vector<std::string>{"ftp://127.0.0.1:" + p + "/", std::string("file:///etc/passwd"), "gopher://127.0.0.1:" + p + "/_x"}) {
        patchbay::host::OutboundRequest r;
        r.url = url;
        auto res = client.perform(r, Clock::now() + std::chrono::seconds(5));
        INFO(url);
        REQUIRE_FALSE(res.ok());
        CHECK(res.error().message.find("only http and https") != std::string::npos);
    }
    CHECK(canary.connections() == 0);

    // The same canary is reachable once an admin allows its address, and only that address.
    options.egress = EgressPolicy::parse({"127.0.0.1"}).value();
    patchbay::http::Client allowed(options);
    patchbay::host::OutboundRequest r;
    r.url = "http://2130706433:" + p + "/json";
    auto ok = allowed.perform(r, Clock::now() + std::chrono::seconds(5));
    REQUIRE(ok.ok());
    CHECK(ok->status == 200);
    r.url = "http://[::ffff:127.0.0.1]:" + p + "/json";
    CHECK_FALSE(allowed.perform(r, Clock::now() + std::chrono::seconds(5)).ok());
    CHECK(canary.connections() == 1);
}
