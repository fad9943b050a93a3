// Stock plugin `http`: one action, `request`, that sends an arbitrary HTTP request through the
// host's HTTP service (the host does DNS, TLS and pooling) and returns status, headers and body.
#include <patchbay/sdk/plugin.hpp>

#include <cctype>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

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

// Eight bytes of a header name at a time: when none is a control character, space, DEL, '"', '\\'
// or above 0x7f (any HTTP token passes), writes them lowered to `w` and says true.
bool lower_token_word(const char* p, char* w) {
    constexpr uint64_t ones = 0x0101010101010101ULL, tops = 0x8080808080808080ULL;
    uint64_t v;
    std::memcpy(&v, p, sizeof v);
    auto has_zero = [&](uint64_t x) { return (x - ones) & ~x & tops; };
    uint64_t bad = ((v - ones * 0x21) & ~v & tops) | (((v & ~tops) + ones) & tops) | (v & tops) | has_zero(v ^ (ones * '"')) |
                   has_zero(v ^ (ones * '\\'));
    if (bad != 0) return false;
    uint64_t upper = ((v + ones * (0x80 - 'A')) ^ (v + ones * (0x80 - 'Z' - 1))) & tops;  // bytes 'A'..'Z'
    v |= upper >> 2;                                                                      // + 0x20 each
    std::memcpy(w, &v, sizeof v);
    return true;
}

// The action's output, written as JSON text: header names in lower case, a repeated header's
// values joined with ", " (as RFC 9110 allows), and a JSON body passed on as the upstream wrote
// it, checked but neither parsed into a value nor written again (numbers keep all their digits).
// A body that is not UTF-8 text goes as {"content_type", "base64"}, as the openapi plugin's do.
sdk::JsonText answer(const sdk::HttpResponse& res, const std::string& content_type, bool json_body) {
    std::string out;
    out.reserve(res.body.size() + 48 * res.headers.size() + 64);
    out += "{\"status\":";
    out += std::to_string(res.status);
    out += ",\"headers\":{";
    // Names in lower case, each once: a repeated header's values joined with ", ". Most answers
    // repeat none, so each name is compared with the earlier ones in place.
    bool first = true;
    for (size_t i = 0; i < res.headers.size(); ++i) {
        const std::string& name = res.headers[i].first;
        bool seen = false;
        for (size_t j = 0; j < i && !seen; ++j) seen = sdk::ascii_iequals(res.headers[j].first, name);
        if (seen) continue;
        if (!first) out += ',';
        first = false;
        // A field name is an HTTP token (no quote, backslash or control character): it goes out
        // lowered as it is, without a lowered copy. Anything else is escaped.
        const size_t mark = out.size();
        out.resize(mark + name.size() + 2);
        char* w = out.data() + mark;
        *w++ = '"';
        bool token = true;
        size_t k = 0;
        while (k + 8 <= name.size() && lower_token_word(name.data() + k, w)) {
            k += 8;
            w += 8;
        }
        if (k + 8 <= name.size()) token = false;  // a word that is not all token characters
        for (char c : std::string_view(name).substr(token ? k : name.size())) {
            auto u = static_cast<unsigned char>(c);
            if (u <= 0x20 || u >= 0x7f || c == '"' || c == '\\') {
                token = false;
                break;
            }
            *w++ = sdk::ascii_lower(c);
        }
        *w = '"';
        if (!token) {
            out.resize(mark);
            sdk::append_json_string(out, sdk::ascii_lower(name));
        }
        out += ':';
        std::string joined;  // only for a repeated header
        for (size_t j = i + 1; j < res.headers.size(); ++j) {
            if (!sdk::ascii_iequals(res.headers[j].first, name)) continue;
            if (joined.empty()) joined = res.headers[i].second;
            joined.append(", ").append(res.headers[j].second);
        }
        sdk::append_json_string(out, joined.empty() ? res.headers[i].second : joined);
    }
    out += "},\"body\":";
    if (json_body) {
        out += res.body;
    } else if (sdk::valid_utf8(res.body)) {
        sdk::append_json_string(out, res.body);
    } else {
        out += "{\"content_type\":";
        sdk::append_json_string(out, content_type);
        out += ",\"base64\":\"";
        out += sdk::base64(res.body);
        out += "\"}";
    }
    out += ",\"json\":";
    out += json_body ? "true" : "false";
    out += '}';
    return sdk::JsonText{std::move(out)};
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
    auto ct = res.header("content-type");
    // One level less than the host's limit: the body goes inside the answer's object.
    bool answered_json = ct && is_json_type(*ct) && !res.body.empty() && sdk::is_json(res.body, 31);
    const auto* fail = sdk::find(input, "fail_on_status");
    if (fail && fail->as_bool() && res.status >= 400) {
        json::value body = answered_json           ? json::parse(res.body)
                           : sdk::valid_utf8(res.body) ? json::value(json::string(res.body))
                                                       : json::value(json::object{{"content_type", ct ? *ct : std::string()},
                                                                                  {"base64", sdk::base64(res.body)}});
        return sdk::Error::upstream("the server answered HTTP " + std::to_string(res.status),
                                    json::object{{"status", res.status}, {"body", std::move(body)}});
    }
    return answer(res, ct ? *ct : std::string(), answered_json);
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
