// Stock plugin `http`: one action, `request`, that sends an arbitrary HTTP request through the
// host's HTTP service (the host does DNS, TLS and pooling) and returns status, headers and body.
#include <patchbay/sdk/plugin.hpp>

#include <cctype>
#include <string>

namespace sdk = patchbay::sdk;
namespace json = sdk::json;

namespace {


std::string scalar_text(const json::value& v) {
    if (v.is_string()) return std::string(v.get_string());
    if (v.is_bool()) return v.get_bool() ? "true" : "false";
    return json::serialize(v);
}

std::string with_query(std::string url, const json::object& query) {
    std::string q;
    for (const auto& [k, v] : query) {
        auto add = [&](const json::value& item) { q += (q.empty() ? "" : "&") + sdk::url_encode(k) + "=" + sdk::url_encode(scalar_text(item)); };
        if (v.is_array()) for (const auto& item : v.get_array()) add(item);
        else add(v);
    }
    if (q.empty()) return url;
    auto hash = url.find('#');
    std::string fragment;
    if (hash != std::string::npos) {
        fragment = url.substr(hash);
        url.resize(hash);
    }
    url += (url.find('?') == std::string::npos ? "?" : "&") + q;
    return url + fragment;
}

bool is_json_type(std::string_view ct) {
    auto semi = ct.find(';');
    std::string type = sdk::ascii_lower(ct.substr(0, semi));
    while (!type.empty() && type.back() == ' ') type.pop_back();
    return type == "application/json" || (type.size() > 5 && type.compare(type.size() - 5, 5, "+json") == 0);
}

sdk::Result send_request(sdk::Call& call, const json::value& input) {
    sdk::HttpRequest req;
    if (const auto* m = sdk::find(input, "method")) req.method = std::string(m->as_string());
    req.url = sdk::get_string(input, "url");
    if (const auto* q = sdk::find(input, "query")) req.url = with_query(req.url, q->as_object());
    bool has_content_type = false;
    if (const auto* h = sdk::find(input, "headers")) {
        for (const auto& [k, v] : h->as_object()) {
            if (sdk::ascii_lower(k) == "content-type") has_content_type = true;
            req.headers.emplace_back(std::string(k), std::string(v.as_string()));
        }
    }
    const auto* json_body = sdk::find(input, "json");
    const auto* text_body = sdk::find(input, "body");
    if (json_body && text_body) return sdk::Error::invalid_input("give either 'json' or 'body', not both");
    if (json_body) {
        req.body = json::serialize(*json_body);
        if (!has_content_type) req.headers.emplace_back("Content-Type", "application/json");
    } else if (text_body) {
        req.body = std::string(text_body->as_string());
    }
    if (const auto* t = sdk::find(input, "timeout_ms")) req.timeout_ms = t->to_number<int64_t>();

    sdk::HttpResponse res = call.http(req);

    json::object headers(call.storage());
    headers.reserve(res.headers.size());
    for (const auto& [k, v] : res.headers) {
        auto [at, added] = headers.emplace(sdk::ascii_lower(k), v);
        if (!added) {  // a repeated header: one value, comma-separated, as RFC 9110 allows
            auto& joined = at->value().as_string();
            joined.append(", ");
            joined.append(v);
        }
    }
    json::value body = json::string(res.body, call.storage());
    bool parsed = false;
    if (auto ct = res.header("content-type"); ct && is_json_type(*ct) && !res.body.empty()) {
        boost::system::error_code ec;
        json::value v = json::parse(res.body, ec, call.storage());
        if (!ec) {
            body = std::move(v);
            parsed = true;
        }
    }
    const auto* fail = sdk::find(input, "fail_on_status");
    if (fail && fail->as_bool() && res.status >= 400) {
        return sdk::Error::upstream("the server answered HTTP " + std::to_string(res.status),
                                    json::object{{"status", res.status}, {"body", body}});
    }
    json::object out(call.storage());
    out.reserve(4);
    out.emplace("status", res.status);
    out.emplace("headers", std::move(headers));
    out.emplace("body", std::move(body));
    out.emplace("json", parsed);
    return json::value(std::move(out));
}

// Test connection: a GET of the connection's base URL, with its credentials (the host adds them).
// Any answer below 400 means the server is reachable and accepts the credentials.
sdk::Result test_connection(sdk::Call& call) {
    const auto* conn = sdk::find(call.context(), "connection");
    std::string base = conn ? sdk::get_string(*conn, "base_url") : std::string();
    if (base.empty()) return sdk::Error::invalid_input("the connection has no base_url to test; set one");
    sdk::HttpRequest req;
    req.url = base;
    sdk::HttpResponse res = call.http(req);
    if (res.status == 401 || res.status == 403)
        return sdk::Error::unauthorized("the server refused the connection's credentials (HTTP " + std::to_string(res.status) + ")");
    if (res.status >= 400) return sdk::Error::upstream("the server answered HTTP " + std::to_string(res.status), json::object{{"status", res.status}});
    return json::object{{"ok", true}, {"status", res.status}};
}

sdk::Plugin make_plugin() {
    sdk::Plugin plugin("http", "1.0.0");
    plugin.cooperative();  // it only waits on the host's HTTP service
    plugin.action("request", send_request);
    plugin.test_connection(test_connection);
    return plugin;
}

}  // namespace

PATCHBAY_PLUGIN(make_plugin)
