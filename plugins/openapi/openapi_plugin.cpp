// Stock plugin `openapi`: the generic plugin behind every integration imported from an OpenAPI
// description (`patchbay openapi import`). Its actions come from the configuring manifest: for each
// one, `config.operations.<action>` says the method, the path, how each parameter is serialized
// (OpenAPI styles simple, label, matrix, form, spaceDelimited, pipeDelimited, deepObject, with
// explode), the body's media type and the operation's security. The host adds the connection's
// credentials, retries, limits and guards; this plugin only builds requests and reads answers.
#include <patchbay/sdk/plugin.hpp>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <random>
#include <string>
#include <variant>

namespace sdk = patchbay::sdk;
namespace json = sdk::json;

namespace {

std::string encode(std::string_view s, bool allow_reserved = false) { return sdk::url_encode(s, allow_reserved); }


std::string text_of(const json::value& v) {
    if (v.is_string()) return std::string(v.get_string());
    if (v.is_bool()) return v.get_bool() ? "true" : "false";
    if (v.is_null()) return "";
    return json::serialize(v);
}

std::string get(const json::object& o, std::string_view k, std::string fallback = {}) {
    const auto* v = o.if_contains(k);
    return v && v->is_string() ? std::string(v->get_string()) : fallback;
}

bool flag(const json::object& o, std::string_view k) {
    const auto* v = o.if_contains(k);
    return v && v->is_bool() && v->get_bool();
}

struct Param {
    std::string name, in, style, property;
    bool explode = false, allow_reserved = false, json_content = false;
};

Param read_param(const json::object& p) {
    Param x;
    x.name = get(p, "name");
    x.in = get(p, "in");
    x.style = get(p, "style", x.in == "query" || x.in == "cookie" ? "form" : "simple");
    x.property = get(p, "property", x.name);
    x.explode = flag(p, "explode");
    x.allow_reserved = flag(p, "allowReserved");
    x.json_content = p.contains("content");
    return x;
}

// Path, header and label/matrix values: "simple" joins with commas, objects as k,v or k=v.
std::string path_value(const Param& p, const json::value& v) {
    auto enc = [&](const std::string& s) { return p.in == "header" ? s : encode(s); };
    std::string prefix, sep = ",", kv_sep = p.explode ? "=" : ",";
    if (p.style == "label") {
        prefix = ".";
        if (p.explode) sep = ".";
    } else if (p.style == "matrix") {
        if (v.is_array() && p.explode) {
            std::string out;
            for (const auto& x : v.get_array()) out += ";" + p.name + "=" + enc(text_of(x));
            return out;
        }
        if (v.is_object() && p.explode) {
            std::string out;
            for (const auto& [k, x] : v.get_object()) out += ";" + std::string(k) + "=" + enc(text_of(x));
            return out;
        }
        prefix = ";" + p.name + "=";
    }
    if (p.json_content) return prefix + enc(json::serialize(v));
    std::string out;
    if (const auto* a = v.if_array()) {
        for (const auto& x : *a) out += (out.empty() ? "" : sep) + enc(text_of(x));
    } else if (const auto* o = v.if_object()) {
        for (const auto& [k, x] : *o) out += (out.empty() ? "" : sep) + enc(std::string(k)) + kv_sep + enc(text_of(x));
    } else {
        out = enc(text_of(v));
    }
    return prefix + out;
}

// Query (and cookie) pairs, already encoded: "name=value" each.
std::vector<std::string> query_pairs(const Param& p, const json::value& v) {
    auto enc = [&](const std::string& s) { return encode(s, p.allow_reserved); };
    std::vector<std::string> out;
    std::string name = encode(p.name);
    if (p.json_content) return {name + "=" + enc(json::serialize(v))};
    if (p.style == "deepObject" && v.is_object()) {
        for (const auto& [k, x] : v.get_object()) {
            if (const auto* nested = x.if_object()) {
                for (const auto& [k2, x2] : *nested)
                    out.push_back(name + "%5B" + encode(std::string(k)) + "%5D%5B" + encode(std::string(k2)) + "%5D=" + enc(text_of(x2)));
            } else if (const auto* list = x.if_array()) {
                for (const auto& item : *list) out.push_back(name + "%5B" + encode(std::string(k)) + "%5D=" + enc(text_of(item)));
            } else {
                out.push_back(name + "%5B" + encode(std::string(k)) + "%5D=" + enc(text_of(x)));
            }
        }
        return out;
    }
    if (const auto* a = v.if_array()) {
        if (p.style == "form" && p.explode) {
            for (const auto& x : *a) out.push_back(name + "=" + enc(text_of(x)));
            return out;
        }
        std::string sep = p.style == "spaceDelimited" ? "%20" : p.style == "pipeDelimited" ? "%7C" : ",";
        std::string joined;
        for (const auto& x : *a) joined += (joined.empty() ? "" : sep) + enc(text_of(x));
        return {name + "=" + joined};
    }
    if (const auto* o = v.if_object()) {
        if (p.explode) {
            for (const auto& [k, x] : *o) out.push_back(encode(std::string(k)) + "=" + enc(text_of(x)));
            return out;
        }
        std::string joined;
        for (const auto& [k, x] : *o) joined += (joined.empty() ? "" : ",") + enc(std::string(k)) + "," + enc(text_of(x));
        return {name + "=" + joined};
    }
    return {name + "=" + enc(text_of(v))};
}

std::string lower(std::string s) {
    for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return s;
}

bool json_type(const std::string& ct) {
    std::string t = lower(ct.substr(0, ct.find(';')));
    return t == "application/json" || (t.size() > 5 && t.compare(t.size() - 5, 5, "+json") == 0);
}

// Base64 to bytes: the standard or the URL-safe alphabet, padding optional, whitespace (line
// breaks of MIME-style base64) skipped. Throws invalid_input naming `what` on anything else.
std::string unbase64(std::string_view in, const std::string& what) {
    auto value = [](char c) -> int {
        if (c >= 'A' && c <= 'Z') return c - 'A';
        if (c >= 'a' && c <= 'z') return c - 'a' + 26;
        if (c >= '0' && c <= '9') return c - '0' + 52;
        if (c == '+' || c == '-') return 62;
        if (c == '/' || c == '_') return 63;
        return -1;
    };
    std::string out;
    out.reserve(in.size() / 4 * 3);
    uint32_t acc = 0;
    int bits = 0;
    size_t padding = 0;
    for (size_t i = 0; i < in.size(); ++i) {
        char c = in[i];
        if (c == ' ' || c == '\n' || c == '\r' || c == '\t') continue;
        if (c == '=') {
            ++padding;
            continue;
        }
        int v = value(c);
        if (v < 0 || padding)
            throw sdk::Failure(sdk::Error::invalid_input(what + " is not base64: unexpected " +
                                                         (padding ? std::string("data after '='") : "character at offset " + std::to_string(i)) +
                                                         "; send the file's content in base64, or {\"text\": ...} for text"));
        acc = (acc << 6) | uint32_t(v);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out += static_cast<char>((acc >> bits) & 0xFF);
        }
    }
    if (bits >= 6 || padding > 2)  // a lone sextet cannot end a byte
        throw sdk::Failure(sdk::Error::invalid_input(what + " is not base64: its length is wrong (truncated?)"));
    return out;
}

// A file as the caller gives it: its content in base64, or {"base64" | "text", "filename",
// "content_type"} (the shape binary answers come back in, so one action's download can be
// another's upload).
struct File {
    std::string content, filename, content_type;
};

File file_of(const json::value& v, const std::string& what) {
    File f;
    if (v.is_string()) {
        f.content = unbase64(v.get_string(), what);
        return f;
    }
    const auto* o = v.if_object();
    const auto* b64 = o ? o->if_contains("base64") : nullptr;
    const auto* text = o ? o->if_contains("text") : nullptr;
    if (!o || (b64 == nullptr) == (text == nullptr) || (b64 && !b64->is_string()) || (text && !text->is_string()))
        throw sdk::Failure(sdk::Error::invalid_input(what + " must be the file's content in base64, or an object with one of \"base64\" or \"text\" "
                                                            "(and optionally \"filename\" and \"content_type\")"));
    f.content = b64 ? unbase64(b64->get_string(), what + ".base64") : std::string(text->get_string());
    f.filename = get(*o, "filename");
    f.content_type = get(*o, "content_type");
    return f;
}

// A name or file name in a Content-Disposition header: quotes and line breaks percent-encoded, as
// browsers do, so no value can end the header or start another.
std::string disposition_value(std::string_view s) {
    std::string out;
    for (char c : s) {
        if (c == '"') out += "%22";
        else if (c == '\r') out += "%0D";
        else if (c == '\n') out += "%0A";
        else out += c;
    }
    return out;
}

// The request body in the operation's media type. `body` is the operation's body config:
// contentType, and for uploads `files` (multipart fields that carry files, with their default
// content type) or `binary` (the whole body is one file).
std::string encode_body(const json::object& body, const json::value& v, std::string& content_type) {
    std::string type = get(body, "contentType", "application/json");
    std::string t = lower(type);
    content_type = type;
    if (flag(body, "binary")) {
        File f = file_of(v, "input field '" + get(body, "property", "body") + "'");
        // A wildcard in the spec ("*/*", "image/*") is no content type to send.
        if (!f.content_type.empty() || type.find('*') != std::string::npos)
            content_type = f.content_type.empty() ? "application/octet-stream" : f.content_type;
        return f.content;
    }
    if (t == "application/x-www-form-urlencoded") {
        std::string out;
        if (const auto* o = v.if_object())
            for (const auto& [k, x] : *o) {
                auto add = [&](const json::value& item) { out += (out.empty() ? "" : "&") + encode(std::string(k)) + "=" + encode(text_of(item)); };
                if (x.is_array()) for (const auto& item : x.get_array()) add(item);
                else add(x);
            }
        return out;
    }
    if (t == "multipart/form-data") {
        const json::object no_files;
        const auto* files_value = body.if_contains("files");
        const json::object& files = files_value && files_value->is_object() ? files_value->get_object() : no_files;
        struct Part {
            std::string headers, content;
        };
        std::vector<Part> parts;
        if (const auto* o = v.if_object())
            for (const auto& [k, x] : *o) {
                std::string name = disposition_value(k);
                if (const auto* spec = files.if_contains(k)) {
                    std::string default_type = spec->is_object() ? get(spec->get_object(), "contentType") : "";
                    auto add_file = [&](const json::value& item, const std::string& what) {
                        File f = file_of(item, what);
                        std::string ct = !f.content_type.empty() ? f.content_type : !default_type.empty() ? default_type : "application/octet-stream";
                        // Without a file name many servers take the part for a plain field.
                        std::string filename = disposition_value(f.filename.empty() ? std::string(k) : f.filename);
                        parts.push_back({"Content-Disposition: form-data; name=\"" + name + "\"; filename=\"" + filename +
                                             "\"\r\nContent-Type: " + ct,
                                         std::move(f.content)});
                    };
                    std::string what = "input field 'body." + std::string(k) + "'";
                    if (x.is_array())
                        for (size_t i = 0; i < x.get_array().size(); ++i) add_file(x.get_array()[i], what + "[" + std::to_string(i) + "]");
                    else
                        add_file(x, what);
                } else if (x.is_object() || x.is_array()) {
                    parts.push_back({"Content-Disposition: form-data; name=\"" + name + "\"\r\nContent-Type: application/json", json::serialize(x)});
                } else {
                    parts.push_back({"Content-Disposition: form-data; name=\"" + name + "\"", text_of(x)});
                }
            }
        // A boundary that no part contains (files are arbitrary bytes).
        thread_local std::mt19937_64 rng{std::random_device{}()};
        std::string boundary;
        auto clashes = [&] {
            return std::any_of(parts.begin(), parts.end(), [&](const Part& p) { return p.content.find(boundary) != std::string::npos; });
        };
        do {
            char hex[33];
            std::snprintf(hex, sizeof hex, "%016llx%016llx", static_cast<unsigned long long>(rng()), static_cast<unsigned long long>(rng()));
            boundary = "patchbay-" + std::string(hex);
        } while (clashes());
        content_type = "multipart/form-data; boundary=" + boundary;
        std::string out;
        for (const auto& p : parts) out += "--" + boundary + "\r\n" + p.headers + "\r\n\r\n" + p.content + "\r\n";
        out += "--" + boundary + "--\r\n";
        return out;
    }
    if (json_type(t)) return json::serialize(v);
    return text_of(v);  // text/plain, XML written by the caller
}

// The operation's config, or nullptr.
const json::object* operation(const sdk::Call& call, std::string_view action) {
    const auto* ops = sdk::find(call.config(), "operations");
    const auto* op = ops && ops->is_object() ? ops->get_object().if_contains(action) : nullptr;
    return op ? op->if_object() : nullptr;
}

// A request ready to send; `query` stays separate so paging can replace one parameter.
struct Prepared {
    sdk::HttpRequest req;
    std::string url_base;  // scheme, host and path
    std::vector<std::string> query;  // "name=value", encoded
    std::string label;               // "GET /pets/{id}" for messages
    void finish() {
        req.url = url_base;
        for (size_t i = 0; i < query.size(); ++i) req.url += (i == 0 ? "?" : "&") + query[i];
    }
    void set_query(const std::string& name, const std::string& value) {
        std::string key = encode(name) + "=";
        std::erase_if(query, [&](const std::string& q) { return q.rfind(key, 0) == 0; });
        query.push_back(key + encode(value));
        finish();
    }
};

std::variant<Prepared, sdk::Error> prepare(sdk::Call& call, std::string_view action, const json::object& op, const json::value& input) {
    const json::object empty;
    const auto& in = input.is_object() ? input.get_object() : empty;
    const json::value* connection = sdk::find(call.context(), "connection");

    // Where to send it: the connection's base URL, or the spec's first server with its variables
    // filled from the connection's settings (or their defaults).
    std::string base;
    if (connection) {
        if (const auto* b = sdk::find(*connection, "base_url"); b && b->is_string()) base = std::string(b->get_string());
    }
    if (base.empty()) {
        const auto* servers = sdk::find(call.config(), "servers");
        if (servers && servers->is_array() && !servers->get_array().empty()) base = text_of(servers->get_array()[0]);
        const auto* defaults = sdk::find(call.config(), "variables");
        const json::value* settings = connection ? sdk::find(*connection, "settings") : nullptr;
        for (size_t open = base.find('{'); open != std::string::npos; open = base.find('{', open)) {
            size_t close = base.find('}', open);
            if (close == std::string::npos) break;
            std::string var = base.substr(open + 1, close - open - 1);
            const json::value* v = settings ? sdk::find(*settings, var) : nullptr;
            if (!v && defaults) v = sdk::find(*defaults, var);
            if (!v) return sdk::Error::invalid_input("the server URL needs '" + var + "'; set it in the connection's settings");
            std::string value = text_of(*v);
            base.replace(open, close - open + 1, value);
            open += value.size();
        }
    }
    if (base.rfind("http://", 0) != 0 && base.rfind("https://", 0) != 0)
        return sdk::Error::invalid_input("this integration has no absolute server URL ('" + base +
                                         "'); give the connection a base_url such as https://api.example.com");
    while (!base.empty() && base.back() == '/') base.pop_back();

    // Security: an operation that needs no credentials is sent without; one that needs a kind the
    // connection does not have is refused before anything is sent.
    bool credentials = true;
    if (const auto* sec = op.if_contains("security"); sec && sec->is_array()) {
        std::string auth = "none";
        if (connection)
            if (const auto* a = sdk::find(*connection, "auth_type"); a && a->is_string()) auth = std::string(a->get_string());
        bool anonymous = sec->get_array().empty(), matches = false;
        std::string wanted;
        for (const auto& alt : sec->get_array()) {
            if (!alt.is_array()) continue;
            if (alt.get_array().empty()) anonymous = true;
            for (const auto& n : alt.get_array()) {
                wanted += (wanted.empty() ? "" : ", ") + text_of(n);
                if (n.is_string() && n.get_string() == auth) matches = true;
            }
        }
        if (sec->get_array().empty()) credentials = false;
        if (!anonymous && !matches)
            return sdk::Error::invalid_input("action '" + std::string(action) + "' needs a connection with auth type " + wanted +
                                             (connection ? "; this connection uses '" + auth + "'" : "; call it with a connection"));
    }

    std::string path = get(op, "path");
    std::vector<std::string> query;
    std::vector<std::pair<std::string, std::string>> headers{{"Accept", "application/json, */*;q=0.5"}};
    std::string cookies;
    if (const auto* params = op.if_contains("parameters"); params && params->is_array()) {
        for (const auto& pv : params->get_array()) {
            if (!pv.is_object()) continue;
            Param p = read_param(pv.get_object());
            const json::value* v = in.if_contains(p.property);
            if (!v || v->is_null()) {
                if (p.in == "path") return sdk::Error::invalid_input("missing field '" + p.property + "' (a path parameter)");
                continue;
            }
            if (p.in == "path") {
                std::string token = "{" + p.name + "}";
                for (size_t at = path.find(token); at != std::string::npos; at = path.find(token, at)) {
                    std::string value = path_value(p, *v);
                    path.replace(at, token.size(), value);
                    at += value.size();
                }
            } else if (p.in == "query") {
                for (auto& q : query_pairs(p, *v)) query.push_back(std::move(q));
            } else if (p.in == "header") {
                headers.emplace_back(p.name, path_value(p, *v));
            } else if (p.in == "cookie") {
                for (auto& c : query_pairs(p, *v)) cookies += (cookies.empty() ? "" : "; ") + c;
            }
        }
    }
    if (!cookies.empty()) headers.emplace_back("Cookie", cookies);

    sdk::HttpRequest req;
    req.method = get(op, "method", "GET");
    req.credentials = credentials;
    if (const auto* body = op.if_contains("body"); body && body->is_object()) {
        std::string property = get(body->get_object(), "property", "body");
        if (const auto* v = in.if_contains(property); v && !v->is_null()) {
            std::string content_type;
            req.body = encode_body(body->get_object(), *v, content_type);
            headers.emplace_back("Content-Type", content_type);
        }
    }
    req.headers = std::move(headers);
    Prepared out{std::move(req), base + path, std::move(query), get(op, "method", "GET") + " " + get(op, "path")};
    out.finish();
    return out;
}

// One answer, decoded: JSON when the content type says so, text for text, base64 otherwise.
struct Answer {
    int status = 0;
    std::vector<std::pair<std::string, std::string>> headers;
    json::value body;
};

Answer fetch(sdk::Call& call, const sdk::HttpRequest& req) {
    auto res = call.http(req);
    Answer a;
    a.status = res.status;
    std::string ct;
    for (const auto& [k, v] : res.headers)
        if (lower(k) == "content-type") ct = v;
    if (res.body.empty()) {
        a.body = nullptr;
    } else if (json_type(ct)) {
        boost::system::error_code ec;
        a.body = json::parse(res.body, ec);
        if (ec) a.body = json::string(res.body);
    } else if (lower(ct).rfind("text/", 0) == 0 || lower(ct).find("xml") != std::string::npos || ct.empty()) {
        a.body = json::string(res.body);
    } else {
        a.body = json::object{{"content_type", ct}, {"base64", sdk::base64(res.body)}};
    }
    a.headers = std::move(res.headers);
    return a;
}

std::optional<sdk::Error> failure(const Answer& a, const Prepared& p) {
    if (a.status >= 200 && a.status < 300) return std::nullopt;
    json::object details{{"status", a.status}, {"body", a.body}};
    std::string what = "the API answered " + std::to_string(a.status) + " to " + p.label;
    if (a.status == 401 || a.status == 403) return sdk::Error{sdk::ErrorCode::unauthorized, what, details};
    if (a.status == 404) return sdk::Error{sdk::ErrorCode::not_found, what, details};
    if (a.status == 429) return sdk::Error{sdk::ErrorCode::rate_limited, what, details};
    if (a.status == 400 || a.status == 422) return sdk::Error{sdk::ErrorCode::invalid_input, what, details};
    return sdk::Error::upstream(what, details);
}

// ---- pagination ------------------------------------------------------------------------------
// config.operations.<action>.pagination:
//   {style: cursor, cursorParam: cursor, nextCursor: /meta/next, items: /data}
//   {style: link}                        (Link: <...>; rel="next"), or {style: link, nextField: /next}
//   {style: offset, offsetParam: offset, limitParam: limit, pageSize: 100, items: /items}
//   {style: page, pageParam: page, sizeParam: per_page, pageSize: 100, start: 1}

const json::value* pointer(const json::value& v, const std::string& p) {
    if (p.empty() || p == "/") return &v;
    boost::system::error_code ec;
    const json::value* r = v.find_pointer(p[0] == '/' ? p : "/" + p, ec);
    return ec ? nullptr : r;
}

const json::array* items_of(const json::object& pg, const json::value& body) {
    std::string where = get(pg, "items");
    const json::value* v = where.empty() ? &body : pointer(body, where);
    return v ? v->if_array() : nullptr;
}

int64_t number(const json::object& o, std::string_view k, int64_t fallback) {
    const auto* v = o.if_contains(k);
    return v && v->is_number() ? v->to_number<int64_t>() : fallback;
}

std::string next_link(const Answer& a) {
    for (const auto& [k, v] : a.headers) {
        if (lower(k) != "link") continue;
        // <https://api.example.com/items?page=2>; rel="next", <...>; rel="last"
        size_t pos = 0;
        while ((pos = v.find('<', pos)) != std::string::npos) {
            size_t close = v.find('>', pos);
            if (close == std::string::npos) break;
            std::string url = v.substr(pos + 1, close - pos - 1);
            size_t end = v.find(',', close);
            std::string params = v.substr(close + 1, end == std::string::npos ? std::string::npos : end - close - 1);
            if (params.find("rel=\"next\"") != std::string::npos || params.find("rel=next") != std::string::npos) return url;
            pos = close;
        }
    }
    return {};
}

// Points `p` at the page `cursor` names (what next_cursor returned).
void apply_cursor(const json::object& pg, Prepared& p, const std::string& cursor) {
    std::string style = get(pg, "style");
    if (style == "link") {
        if (cursor.rfind("http://", 0) == 0 || cursor.rfind("https://", 0) == 0) {
            p.req.url = cursor;
        } else {
            auto scheme = p.url_base.find("://");
            auto root = p.url_base.find('/', scheme == std::string::npos ? 0 : scheme + 3);
            p.req.url = (cursor.rfind("/", 0) == 0 ? p.url_base.substr(0, root) : p.url_base + "/") + cursor;
        }
    } else if (style == "cursor") {
        p.set_query(get(pg, "cursorParam", "cursor"), cursor);
    } else if (style == "offset") {
        p.set_query(get(pg, "offsetParam", "offset"), cursor);
    } else if (style == "page") {
        p.set_query(get(pg, "pageParam", "page"), cursor);
    }
}

// The cursor of the page after `a`, or "" when `a` was the last.
std::string next_cursor(const json::object& pg, const Answer& a, const std::string& cursor, size_t items) {
    std::string style = get(pg, "style");
    int64_t size = number(pg, "pageSize", 0);
    if (style == "link") {
        if (auto field = get(pg, "nextField"); !field.empty()) {
            const json::value* v = pointer(a.body, field);
            return v && v->is_string() ? std::string(v->get_string()) : std::string();
        }
        return next_link(a);
    }
    if (style == "cursor") {
        const json::value* v = pointer(a.body, get(pg, "nextCursor", "/next_cursor"));
        if (!v || v->is_null() || (v->is_string() && v->get_string().empty()) || v == &a.body) return {};
        return text_of(*v);
    }
    if (items == 0 || (size > 0 && static_cast<int64_t>(items) < size)) return {};
    if (style == "offset") return std::to_string((cursor.empty() ? 0 : std::stoll(cursor)) + static_cast<int64_t>(items));
    if (style == "page") return std::to_string((cursor.empty() ? number(pg, "start", 1) : std::stoll(cursor)) + 1);
    return {};
}

void first_page(const json::object& pg, Prepared& p) {
    std::string style = get(pg, "style");
    int64_t size = number(pg, "pageSize", 0);
    if (style == "offset" && size > 0) p.set_query(get(pg, "limitParam", "limit"), std::to_string(size));
    if (style == "page" && size > 0 && !get(pg, "sizeParam").empty()) p.set_query(get(pg, "sizeParam"), std::to_string(size));
}

sdk::Result call_operation(sdk::Call& call, std::string_view action, const json::value& input) {
    const json::object* op = operation(call, action);
    if (!op)
        return sdk::Error{sdk::ErrorCode::unsupported, "this integration's config has no operation for action '" + std::string(action) + "'", {}};
    auto prepared = prepare(call, action, *op, input);
    if (auto* e = std::get_if<sdk::Error>(&prepared)) return *e;
    Prepared& p = std::get<Prepared>(prepared);

    // Every page, when the caller asks for them ({"all_pages": true} in the invocation) and the
    // manifest says how this operation pages.
    const json::value* all = sdk::find(call.context(), "all_pages");
    const json::object* pg = op->if_contains("pagination") ? op->at("pagination").if_object() : nullptr;
    if (!pg || !all || !all->is_bool() || !all->get_bool()) {
        Answer a = fetch(call, p.req);
        if (auto e = failure(a, p)) return *e;
        return std::move(a.body);
    }
    int64_t cap = number(*pg, "maxPages", 100);
    if (const auto* asked = sdk::find(call.context(), "max_pages"); asked && asked->is_number())
        cap = std::min(cap, asked->to_number<int64_t>());
    first_page(*pg, p);
    json::array collected;
    std::string cursor;
    int64_t pages = 0;
    bool complete = false;
    while (pages < cap) {
        Answer a = fetch(call, p.req);
        if (auto e = failure(a, p)) return *e;
        ++pages;
        const json::array* items = items_of(*pg, a.body);
        if (!items) return sdk::Error::upstream("page " + std::to_string(pages) + " of " + p.label + " has no item list at '" + get(*pg, "items") + "'");
        for (const auto& item : *items) collected.push_back(item);
        cursor = next_cursor(*pg, a, cursor, items->size());
        if (cursor.empty()) {
            complete = true;
            break;
        }
        apply_cursor(*pg, p, cursor);
    }
    return json::object{{"items", std::move(collected)}, {"pages", pages}, {"complete", complete}};
}

// The organization-listing hook: the manifest's `organizations` mapping names the operation that
// lists the tool's companies or tenants and where each one's id and name are.
sdk::Result list_organizations(sdk::Call& call, const json::value& request) {
    const json::value* mapping = sdk::find(call.config(), "organizations");
    if (!mapping || !mapping->is_object())
        return sdk::Error{sdk::ErrorCode::unsupported, "this integration's manifest names no operation that lists organizations", {}};
    const auto& m = mapping->get_object();
    std::string action = get(m, "operation");
    const json::object* op = operation(call, action);
    if (!op) return sdk::Error::invalid_input("organizations.operation '" + action + "' is not an action of this integration");
    // Fixed input for the listing operation (say, a filter for active companies only).
    const json::value* fixed = m.if_contains("input");
    auto prepared = prepare(call, action, *op, fixed && fixed->is_object() ? *fixed : json::value(json::object{}));
    if (auto* e = std::get_if<sdk::Error>(&prepared)) return *e;
    Prepared& p = std::get<Prepared>(prepared);
    const json::object no_paging;
    const json::object& pg = op->if_contains("pagination") && op->at("pagination").is_object() ? op->at("pagination").get_object() : no_paging;
    first_page(pg, p);
    std::string cursor;
    if (const auto* c = sdk::find(request, "cursor"); c && c->is_string() && !c->get_string().empty()) {
        cursor = std::string(c->get_string());
        apply_cursor(pg, p, cursor);
    }
    Answer a = fetch(call, p.req);
    if (auto e = failure(a, p)) return *e;
    const json::array* items = items_of(pg, a.body);
    if (!items && !m.contains("items")) items = a.body.if_array();
    if (!items) return sdk::Error::upstream("the answer of " + p.label + " has no list of organizations");
    std::string id = get(m, "id", "/id"), name = get(m, "name", "/name"), domain = get(m, "domain");
    json::array out;
    for (const auto& item : *items) {
        const json::value* i = pointer(item, id);
        const json::value* n = pointer(item, name);
        if (!i || i->is_null()) continue;
        json::object org{{"id", text_of(*i)}, {"name", n ? text_of(*n) : text_of(*i)}};
        // The tool's web domain, when it keeps one: it makes suggestions near-certain.
        if (const json::value* d = domain.empty() ? nullptr : pointer(item, domain); d && d->is_string() && !d->get_string().empty())
            org["domain"] = d->get_string();
        out.push_back(std::move(org));
    }
    std::string next = pg.empty() ? std::string() : next_cursor(pg, a, cursor, items->size());
    return json::object{{"items", std::move(out)}, {"next_cursor", next.empty() ? json::value(nullptr) : json::value(next)}};
}

sdk::Plugin make_plugin() {
    sdk::Plugin plugin("openapi", "1.0.0");
    plugin.on_create([](const json::value& config) -> std::optional<sdk::Error> {
        // The plugin's own manifest has no operations; an imported one has them all.
        const auto* ops = sdk::find(config, "operations");
        if (ops && !ops->is_object())
            return sdk::Error::invalid_input("config.operations must map action names to operations; re-run `patchbay openapi import`");
        const auto* servers = sdk::find(config, "servers");
        if (servers && !servers->is_array()) return sdk::Error::invalid_input("config.servers must be a list of URLs");
        return std::nullopt;
    });
    plugin.configured_actions(&call_operation);
    plugin.list_organizations(&list_organizations);
    plugin.cooperative();
    return plugin;
}

}  // namespace

PATCHBAY_PLUGIN(make_plugin)
