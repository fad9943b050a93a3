// The quick head reader against Beast's parser: whatever it accepts, Beast accepts with the same
// meaning; whatever Beast refuses, it leaves to Beast.
#include "http/head_scan.hpp"

#include <boost/asio/buffer.hpp>
#include <boost/beast/http.hpp>
#include <catch2/catch.hpp>

#include <random>
#include <string>
#include <vector>

namespace bhttp = boost::beast::http;
using patchbay::http::MessageHead;
using patchbay::http::Scan;
using patchbay::http::ScanLimits;

namespace {

struct Reading {
    enum { done, need_more, error } outcome = error;
    unsigned version = 0;
    int status = 0;
    std::string method, target, body;
    std::vector<std::pair<std::string, std::string>> fields;
    bool keep_alive = false;
    size_t consumed = 0;
};

// Beast's parser, keeping every field in the order it came (as the runtime's own readers do;
// Beast's field container groups repeated names).
template <bool isRequest>
class Collector : public bhttp::basic_parser<isRequest> {
public:
    Reading r;

private:
    using error_code = boost::system::error_code;
    void on_request_impl(bhttp::verb, boost::beast::string_view m, boost::beast::string_view t, int v, error_code&) override {
        r.method = std::string(m);
        r.target = std::string(t);
        r.version = static_cast<unsigned>(v);
    }
    void on_response_impl(int code, boost::beast::string_view, int v, error_code&) override {
        r.status = code;
        r.version = static_cast<unsigned>(v);
    }
    void on_field_impl(bhttp::field, boost::beast::string_view n, boost::beast::string_view v, error_code&) override {
        r.fields.emplace_back(std::string(n), std::string(v));
    }
    void on_header_impl(error_code&) override {}
    void on_body_init_impl(const boost::optional<std::uint64_t>&, error_code&) override {}
    size_t on_body_impl(boost::beast::string_view b, error_code&) override {
        r.body.append(b.data(), b.size());
        return b.size();
    }
    void on_chunk_header_impl(std::uint64_t, boost::beast::string_view, error_code&) override {}
    size_t on_chunk_body_impl(std::uint64_t, boost::beast::string_view b, error_code&) override {
        r.body.append(b.data(), b.size());
        return b.size();
    }
    void on_finish_impl(error_code&) override {}
};

// What Beast makes of `bytes` (no end of stream after them), with the same limits.
template <bool isRequest>
Reading beast_reads(std::string_view bytes, const ScanLimits& limits) {
    Collector<isRequest> p;
    p.header_limit(static_cast<std::uint32_t>(limits.head_limit));
    p.body_limit(limits.body_limit);
    p.eager(true);
    Reading& r = p.r;
    boost::system::error_code ec;
    while (!p.is_done()) {
        size_t n = p.put(boost::asio::buffer(bytes.data() + r.consumed, bytes.size() - r.consumed), ec);
        r.consumed += n;
        if (ec == bhttp::error::need_more || (!ec && n == 0)) {
            r.outcome = Reading::need_more;
            return r;
        }
        if (ec) {
            r.outcome = Reading::error;
            return r;
        }
    }
    r.outcome = Reading::done;
    r.keep_alive = p.keep_alive();
    return r;
}

// Checks the quick reader against Beast on `bytes`; returns what the quick reader said.
template <bool isRequest>
Scan compare(const std::string& bytes, const ScanLimits& limits = {}) {
    MessageHead head;
    Scan s = isRequest ? patchbay::http::scan_request_head(bytes, limits, head) : patchbay::http::scan_response_head(bytes, limits, head);
    Reading b = beast_reads<isRequest>(bytes, limits);
    INFO("message: " << std::string(bytes));
    if (b.outcome == Reading::error) CHECK(s == Scan::other);
    if (s != Scan::done) return s;
    REQUIRE(b.outcome != Reading::error);
    const size_t whole = head.head_size + head.content_length;
    if (bytes.size() < whole) {
        CHECK(b.outcome == Reading::need_more);
        return s;
    }
    REQUIRE(b.outcome == Reading::done);
    CHECK(b.consumed == whole);
    CHECK(b.version == head.version);
    if (isRequest) {
        CHECK(b.method == head.method);
        CHECK(b.target == head.target);
    } else {
        CHECK(b.status == head.status);
    }
    REQUIRE(b.fields.size() == head.fields().size());
    for (size_t i = 0; i < b.fields.size(); ++i) {
        CHECK(b.fields[i].first == head.fields()[i].name);
        CHECK(b.fields[i].second == head.fields()[i].value);
    }
    CHECK(b.body == bytes.substr(head.head_size, head.content_length));
    CHECK(b.keep_alive == head.keep_alive);
    return s;
}

const std::vector<std::string> kResponses = {
    "HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\nDate: Wed, 02 Dec 2026 13:41:18 GMT\r\nContent-Type: application/json\r\n"
    "Content-Length: 66\r\nLast-Modified: Wed, 02 Dec 2026 13:40:00 GMT\r\nConnection: keep-alive\r\nETag: \"6568a1b0-42\"\r\n"
    "Accept-Ranges: bytes\r\n\r\n{\"id\":42,\"name\":\"Acme Corp\",\"active\":true,\"tags\":[\"msp\",\"psa\"]}\n",
    "HTTP/1.1 404 Not Found\r\ncontent-length: 3\r\n\r\nno!",
    "HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nhi",
    "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\nhi",
    "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n",
    "HTTP/1.1 201 \r\nX-Empty:\r\nX-Spaces:   a b  \t\r\nContent-Length: 1\r\n\r\nx",
    "HTTP/1.1 500 Internal Server Error\r\nContent-Length: 5\r\nSet-Cookie: a=1\r\nSet-Cookie: b=2\r\n\r\nerror",
    "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
    "HTTP/1.1 200 OK\r\n\r\nuntil the end",
    "HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n",
    "HTTP/1.1 304 Not Modified\r\n\r\n",
    "HTTP/1.1 100 Continue\r\n\r\n",
    "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc",
    "HTTP/1.1 200 OK\r\nX-Folded: a\r\n b\r\nContent-Length: 0\r\n\r\n",
    "HTTP/1.1 200 OK\nContent-Length: 0\n\n",
    "HTTP/1.1 200 OK\r\nConnection: close, upgrade\r\nContent-Length: 0\r\n\r\n",
    "HTTP/1.1 200 OK\r\nProxy-Connection: close\r\nContent-Length: 0\r\n\r\n",
    "HTTP/1.1 200 OK\r\nX-Latin: caf\xc3\xa9\r\nContent-Length: 0\r\n\r\n",
    "HTTP/2.0 200 OK\r\nContent-Length: 0\r\n\r\n",
    "HTTP/1.1 2000 OK\r\nContent-Length: 0\r\n\r\n",
};

const std::vector<std::string> kRequests = {
    "POST /v1/integrations/http/actions/request/invoke HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nContent-Type: application/json\r\n"
    "Authorization: Bearer pbt_abc\r\nContent-Length: 17\r\n\r\n{\"input\": {\"a\":1}}",
    "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n",
    "GET /healthz HTTP/1.0\r\n\r\n",
    "GET /healthz HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
    "DELETE /v1/connections/7?force=1 HTTP/1.1\r\nConnection: close\r\nX-Request-Id: abc\r\n\r\n",
    "POST /x HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\nhi",
    "POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n0\r\n\r\n",
    "POST /x HTTP/1.1\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nhi",
    "GET /x HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
    "get /x HTTP/1.1\r\n\r\n",
    "GET  /x HTTP/1.1\r\n\r\n",
    "GET /x\x7f HTTP/1.1\r\n\r\n",
    "GET /x HTTP/1.1\r\nBad Name: v\r\n\r\n",
    "GET /x HTTP/1.1\r\n: v\r\n\r\n",
    "GET /x HTTP/1.1\r\nX: a\x01z\r\n\r\n",
};

std::string mutate(std::string s, std::mt19937& rng) {
    static const std::string alphabet = std::string("\r\n \t:,;\"\\/0129aAzZ-._~\x7f\x80\xff", 26) + std::string(1, '\0');
    auto pick = [&](size_t n) { return std::uniform_int_distribution<size_t>(0, n - 1)(rng); };
    int edits = 1 + static_cast<int>(pick(3));
    for (int e = 0; e < edits && !s.empty(); ++e) {
        size_t at = pick(s.size());
        switch (pick(5)) {
            case 0: s[at] = alphabet[pick(alphabet.size())]; break;
            case 1: s.insert(at, 1, alphabet[pick(alphabet.size())]); break;
            case 2: s.erase(at, 1); break;
            case 3: s.resize(at); break;
            case 4: {  // a line of another message, or of this one, again
                size_t nl = s.find('\n', at);
                if (nl != std::string::npos) s.insert(nl + 1, s.substr(at, nl + 1 - at));
                break;
            }
        }
    }
    return s;
}

}  // namespace

TEST_CASE("the quick head reader reads nginx's answer as Beast does", "[http][head_scan]") {
    MessageHead head;
    REQUIRE(compare<false>(kResponses[0]) == Scan::done);
    REQUIRE(patchbay::http::scan_response_head(kResponses[0], {}, head) == Scan::done);
    CHECK(head.status == 200);
    CHECK(head.content_length == 66);
    CHECK(head.keep_alive);
    REQUIRE(head.fields().size() == 8);
    CHECK(head.fields()[1].name == "Date");
    CHECK(head.fields()[1].value == "Wed, 02 Dec 2026 13:41:18 GMT");
}

TEST_CASE("the quick head reader leaves every uncommon shape to Beast", "[http][head_scan]") {
    // Seeds 0-6 are the common shape; from 7 on, each has one thing the quick reader does not read.
    for (size_t i = 0; i < kResponses.size(); ++i) CHECK(compare<false>(kResponses[i]) == (i < 7 ? Scan::done : Scan::other));
    for (size_t i = 0; i < kRequests.size(); ++i) CHECK(compare<true>(kRequests[i]) == (i < 5 ? Scan::done : Scan::other));
}

TEST_CASE("the quick head reader waits for the rest of a head cut anywhere", "[http][head_scan]") {
    for (const auto& m : kResponses)
        for (size_t n = 0; n < m.size(); ++n) {
            Scan s = compare<false>(m.substr(0, n));
            MessageHead whole;
            if (patchbay::http::scan_response_head(m, {}, whole) == Scan::done && n < whole.head_size) CHECK(s == Scan::incomplete);
        }
    for (const auto& m : kRequests)
        for (size_t n = 0; n < m.size(); ++n) {
            Scan s = compare<true>(m.substr(0, n));
            MessageHead whole;
            if (patchbay::http::scan_request_head(m, {}, whole) == Scan::done && n < whole.head_size) CHECK(s == Scan::incomplete);
        }
}

TEST_CASE("the quick head reader leaves heads and bodies over the limits to Beast", "[http][head_scan]") {
    const std::string& m = kResponses[0];
    MessageHead head;
    REQUIRE(patchbay::http::scan_response_head(m, {}, head) == Scan::done);
    CHECK(compare<false>(m, ScanLimits{head.head_size, UINT64_MAX}) == Scan::other);
    CHECK(compare<false>(m, ScanLimits{head.head_size + 1, UINT64_MAX}) == Scan::done);
    CHECK(compare<false>(m, ScanLimits{8192, 65}) == Scan::other);
    CHECK(compare<false>(m, ScanLimits{8192, 66}) == Scan::done);
    // A head that never ends is refused once it passes the limit, not waited for.
    std::string endless = "HTTP/1.1 200 OK\r\nX-Long: " + std::string(200, 'a');
    CHECK(compare<false>(endless, ScanLimits{100, UINT64_MAX}) == Scan::other);
    CHECK(compare<true>("GET /" + std::string(200, 'a'), ScanLimits{100, UINT64_MAX}) == Scan::other);
}

TEST_CASE("the quick head reader agrees with Beast on mutated messages", "[http][head_scan]") {
    std::mt19937 rng(20261202);
    int accepted = 0;
    for (int round = 0; round < 4000; ++round) {
        for (const auto& m : kResponses)
            if (compare<false>(mutate(m, rng)) == Scan::done) ++accepted;
        for (const auto& m : kRequests)
            if (compare<true>(mutate(m, rng)) == Scan::done) ++accepted;
    }
    CHECK(accepted > 1000);  // the comparison covered messages the quick reader took, not only refusals
}
