// Stock plugin `http`: one action, `request`, that sends an arbitrary HTTP request through the
// host's HTTP service (the host does DNS, TLS and pooling) and returns status, headers and body.
#include <patchbay/sdk/plugin.hpp>

#include <array>
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
    std::string_view type = ct.substr(0, ct.find(';'));
    while (!type.empty() && type.back() == ' ') type.remove_suffix(1);
    return sdk::ascii_iequals(type, "application/json") || (type.size() > 5 && sdk::ascii_iequals(type.substr(type.size() - 5), "+json"));
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

// Writes `name` lowered to `w` when it has no character that JSON would escape (a field name is
// an HTTP token: no quote, backslash, space or control character) and says true; otherwise false.
bool lower_plain_name(std::string_view name, char* w) {
    size_t k = 0;
    for (; k + 8 <= name.size(); k += 8)
        if (!lower_token_word(name.data() + k, w + k)) return false;
    if (k == name.size()) return true;
    // The last few bytes as one more word, padded with a letter.
    char in[8], out[8];
    std::memset(in, 'a', sizeof in);
    std::memcpy(in, name.data() + k, name.size() - k);
    if (!lower_token_word(in, out)) return false;
    std::memcpy(w + k, out, name.size() - k);
    return true;
}

// Appends `"name":"value"` with the name in lower case: in one piece when neither needs escaping
// (nearly every header), else through append_json_string.
void append_header(std::string& out, std::string_view name, std::string_view value) {
    const size_t mark = out.size();
    if (sdk::detail::json_plain(value)) {
        out.resize(mark + name.size() + value.size() + 5);
        char* w = out.data() + mark;
        *w++ = '"';
        if (lower_plain_name(name, w)) {
            w += name.size();
            std::memcpy(w, "\":\"", 3);
            w += 3;
            std::memcpy(w, value.data(), value.size());
            w[value.size()] = '"';
            return;
        }
        out.resize(mark);
    }
    sdk::append_json_string(out, sdk::ascii_lower(name));
    out += ':';
    sdk::append_json_string(out, value);
}

// The action's output, written as JSON text: header names in lower case, a repeated header's
// values joined with ", " (as RFC 9110 allows), and a JSON body passed on as the upstream wrote
// it, checked but neither parsed into a value nor written again (numbers keep all their digits).
// A body that is not UTF-8 text goes as {"content_type", "base64"}, as the openapi plugin's do.
sdk::JsonText answer(const sdk::HttpResponseView& res, std::string_view content_type, bool json_body) {
    const std::string_view body = res.body();
    const size_t count = res.header_count();
    size_t size = body.size() + 64;
    for (size_t i = 0; i < count; ++i) size += res.header_name(i).size() + res.header_value(i).size() + 6;
    std::string out;
    out.reserve(size);
    out += "{\"status\":";
    out += std::to_string(res.status());
    out += ",\"headers\":{";
    // Each name once, a repeated one with its values joined: one pass marks which names come
    // again and which came before (ascii_iequals compares lengths first, so it is cheap).
    constexpr uint8_t kEarlier = 1, kLater = 2;
    std::array<uint8_t, 64> local{};
    std::vector<uint8_t> many;
    uint8_t* mark = count <= local.size() ? local.data() : (many.resize(count), many.data());
    for (size_t i = 0; i < count; ++i) {
        if (mark[i] & kEarlier) continue;
        const std::string_view name = res.header_name(i);
        for (size_t j = i + 1; j < count; ++j) {
            if (!sdk::ascii_iequals(res.header_name(j), name)) continue;
            mark[j] |= kEarlier;
            mark[i] |= kLater;
        }
    }
    bool first = true;
    for (size_t i = 0; i < count; ++i) {
        if (mark[i] & kEarlier) continue;
        if (!first) out += ',';
        first = false;
        const std::string_view name = res.header_name(i);
        if (!(mark[i] & kLater)) {
            append_header(out, name, res.header_value(i));
            continue;
        }
        std::string joined(res.header_value(i));
        for (size_t j = i + 1; j < count; ++j)
            if (sdk::ascii_iequals(res.header_name(j), name)) joined.append(", ").append(res.header_value(j));
        append_header(out, name, joined);
    }
    out += "},\"body\":";
    if (json_body) {
        out += body;
    } else if (sdk::valid_utf8(body)) {
        sdk::append_json_string(out, body);
    } else {
        out += "{\"content_type\":";
        sdk::append_json_string(out, content_type);
        out += ",\"base64\":\"";
        out += sdk::base64(body);
        out += "\"}";
    }
    out += json_body ? ",\"json\":true}" : ",\"json\":false}";
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
            if (sdk::ascii_iequals(k, "content-type")) has_content_type = true;
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
    const auto* fail = sdk::find(input, "fail_on_status");
    const bool fail_on_status = fail && fail->as_bool();

    // The answer is read where the host holds it, without a copy; the result is built in place.
    std::optional<sdk::Result> result;
    call.http(req, [&](const sdk::HttpResponseView& res) {
        const std::string_view ct = res.header("content-type").value_or(std::string_view());
        // One level less than the host's limit: the body goes inside the answer's object.
        const std::string_view body = res.body();
        const bool answered_json = is_json_type(ct) && !body.empty() && sdk::is_json(body, 31);
        if (fail_on_status && res.status() >= 400) {
            json::value details_body = answered_json       ? json::parse(body)
                                       : sdk::valid_utf8(body) ? json::value(json::string(body))
                                                               : json::value(json::object{{"content_type", ct}, {"base64", sdk::base64(body)}});
            result.emplace(sdk::Error::upstream("the server answered HTTP " + std::to_string(res.status()),
                                                json::object{{"status", res.status()}, {"body", std::move(details_body)}}));
            return;
        }
        result.emplace(answer(res, ct, answered_json));
    });
    if (!result) return sdk::Error::upstream("the host's HTTP service gave no answer");
    return std::move(*result);
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
