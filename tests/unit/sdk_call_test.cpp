// The SDK's Call::http, both forms, against a host table whose http_send answers from its own
// stack (as the real host does): what a plugin gets, and that nothing unwinds through the host.
#include <patchbay/sdk/plugin.hpp>

#include <catch2/catch.hpp>

#include <stdexcept>
#include <string>
#include <vector>

namespace sdk = patchbay::sdk;
namespace json = boost::json;

namespace {

struct FakeHost {
    int status = 200;
    std::vector<std::pair<std::string, std::string>> headers;
    std::string body;
    int32_t error_code = PB_OK;
    std::string error_message;
    // What the host saw of the request, and whether it got its frame back after answering.
    std::string method, url, request_body;
    std::vector<std::pair<std::string, std::string>> request_headers;
    bool returned = false;
};

FakeHost* g_host = nullptr;

int32_t fake_http_send(pb_call*, const pb_http_request_v1* req, pb_http_response_fn on_response, void* user) {
    FakeHost& h = *g_host;
    h.method.assign(req->method.data, req->method.size);
    h.url.assign(req->url.data, req->url.size);
    h.request_body.assign(req->body.data, req->body.size);
    for (uint32_t i = 0; i < req->header_count; ++i)
        h.request_headers.emplace_back(std::string(req->headers[i].name.data, req->headers[i].name.size),
                                       std::string(req->headers[i].value.data, req->headers[i].value.size));
    // The answer lives on this frame only, as the host's own buffers do.
    std::vector<pb_header> views;
    for (const auto& [n, v] : h.headers) views.push_back(pb_header{pb_str{n.data(), n.size()}, pb_str{v.data(), v.size()}});
    std::string body = h.body;
    std::string message = h.error_message;
    pb_http_response_v1 r{};
    r.struct_size = sizeof r;
    r.status = h.error_code == PB_OK ? h.status : 0;
    r.body = pb_str{body.data(), body.size()};
    r.error_code = h.error_code;
    r.error_message = pb_str{message.data(), message.size()};
    r.headers = views.data();
    r.header_count = static_cast<uint32_t>(views.size());
    on_response(user, &r);
    body.assign(body.size(), 'x');  // what a plugin kept a view of is gone now
    h.returned = true;
    return r.error_code;
}

pb_host_v1 fake_table() {
    pb_host_v1 t{};
    t.struct_size = sizeof t;
    t.abi_major = PATCHBAY_ABI_MAJOR;
    t.abi_minor = PATCHBAY_ABI_MINOR;
    t.http_send = &fake_http_send;
    return t;
}

}  // namespace

TEST_CASE("Call::http hands the answer over as a copy or as views", "[sdk]") {
    FakeHost host;
    host.status = 201;
    host.headers = {{"Content-Type", "application/json"}, {"X-Multi", "a"}, {"x-multi", "b"}};
    host.body = R"({"id": 7})";
    g_host = &host;
    pb_host_v1 table = fake_table();
    json::value config;
    sdk::Call call(&table, nullptr, &config, "");

    sdk::HttpRequest req;
    req.method = "POST";
    req.url = "https://example.test/things";
    req.headers = {{"X-Trace", "t-1"}};
    req.body = "{}";

    SECTION("the copying form keeps everything past the host's frame") {
        sdk::HttpResponse r = call.http(req);
        CHECK(host.returned);
        CHECK(r.status == 201);
        CHECK(r.body == R"({"id": 7})");
        REQUIRE(r.headers.size() == 3);
        CHECK(r.headers[2] == std::pair<std::string, std::string>("x-multi", "b"));
        CHECK(r.header("content-type") == "application/json");
        CHECK(host.method == "POST");
        CHECK(host.url == "https://example.test/things");
        CHECK(host.request_body == "{}");
        CHECK(host.request_headers == req.headers);
    }
    SECTION("the view form sees the answer while the host holds it") {
        int calls = 0;
        call.http(req, [&](const sdk::HttpResponseView& r) {
            ++calls;
            CHECK_FALSE(host.returned);
            CHECK(r.status() == 201);
            CHECK(r.body() == R"({"id": 7})");
            REQUIRE(r.header_count() == 3);
            CHECK(r.header_name(1) == "X-Multi");
            CHECK(r.header_value(2) == "b");
            CHECK(r.header("X-MULTI") == std::string_view("a"));  // the first of a repeated name
            CHECK_FALSE(r.header("etag").has_value());
        });
        CHECK(calls == 1);
        CHECK(host.returned);
    }
    SECTION("what the callback throws comes out of Call::http after the host got its frame back") {
        CHECK_THROWS_WITH(call.http(req, [](const sdk::HttpResponseView&) { throw std::runtime_error("bad answer"); }), "bad answer");
        CHECK(host.returned);
    }
    SECTION("no answer: both forms throw Failure with the host's code and message, the callback unseen") {
        host.error_code = PB_ERR_TIMEOUT;
        host.error_message = "the request to example.test timed out";
        bool seen = false;
        try {
            call.http(req, [&](const sdk::HttpResponseView&) { seen = true; });
            FAIL("no Failure thrown");
        } catch (const sdk::Failure& f) {
            CHECK(f.error.code == sdk::ErrorCode::timeout);
            CHECK(f.error.message == "the request to example.test timed out");
        }
        CHECK_FALSE(seen);
        CHECK_THROWS_AS(call.http(req), sdk::Failure);
    }
    g_host = nullptr;
}

TEST_CASE("Call::http says which host is too old for it", "[sdk]") {
    pb_host_v1 table = fake_table();
    table.http_send = nullptr;
    json::value config;
    sdk::Call call(&table, nullptr, &config, "");
    try {
        call.http(sdk::HttpRequest{}, [](const sdk::HttpResponseView&) {});
        FAIL("no Failure thrown");
    } catch (const sdk::Failure& f) {
        CHECK(f.error.code == sdk::ErrorCode::unsupported);
        CHECK(std::string(f.error.message).find("upgrade Patchbay") != std::string::npos);
    }
}
