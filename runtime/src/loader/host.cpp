#include "loader/host.hpp"

#include "common/json_text.hpp"

#include "common/log.hpp"
#include "common/text.hpp"
#include "common/uri.hpp"

#include <patchbay/sdk/header_views.hpp>

#include <boost/json.hpp>
#include <boost/url.hpp>

#include <cctype>
#include <cstddef>
#include <optional>
#include <vector>

namespace json = boost::json;

void pb_call::set_deadline(std::chrono::milliseconds budget) {
    deadline = std::chrono::steady_clock::now() + budget;
    deadline_unix_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                           (std::chrono::system_clock::now() + budget).time_since_epoch())
                           .count();
}

namespace patchbay::host {

namespace {

std::string_view view(pb_str s) { return s.data ? std::string_view(s.data, s.size) : std::string_view(); }

int32_t h_set_output(pb_call* call, pb_str text) {
    if (!call) return PB_ERR_INVALID_INPUT;
    call->output.emplace(view(text));
    return PB_OK;
}

int32_t h_set_error(pb_call* call, int32_t code, pb_str message, pb_str details) {
    if (!call) return PB_ERR_INVALID_INPUT;
    call->has_error = true;
    call->error_code = code == PB_OK ? PB_ERR_PLUGIN : code;
    call->error_message.assign(view(message));
    call->error_details.assign(view(details));
    return PB_OK;
}

void h_log(pb_call* call, int32_t level, pb_str message, pb_str fields_json) {
    auto lvl = static_cast<log::Level>(std::clamp(level, 0, 3));
    if (!log::enabled(lvl)) return;
    json::object fields;
    if (call) {
        fields["integration"] = call->integration;
        fields["operation"] = call->operation;
    }
    auto text = view(fields_json);
    if (!text.empty()) {
        boost::system::error_code ec;
        auto parsed = json::parse(text, ec);
        if (!ec && parsed.is_object()) {
            for (auto& [k, v] : parsed.get_object()) fields[k] = v;
        } else {
            fields["fields_invalid"] = true;
        }
    }
    fields["source"] = "plugin";
    log::write(lvl, view(message), fields);
}

int64_t h_deadline(const pb_call* call) { return call ? call->deadline_unix_ms : 0; }

void respond_error(pb_http_response_fn cb, void* user, int32_t code, const std::string& message) {
    pb_http_response_v1 r{};
    r.struct_size = sizeof r;
    r.error_code = code;
    r.error_message = pb_str{message.data(), message.size()};
    static const char empty[] = "[]";
    r.headers_json = pb_str{empty, 2};
    r.headers = nullptr;
    r.header_count = 0;
    cb(user, &r);
}

// The refusal both HTTP entry points start with: no callback to answer, or no HTTP service for
// this call. The code to return, or nothing when the request may go on.
std::optional<int32_t> refuse_without_http(pb_call* call, pb_http_response_fn cb, void* user) {
    if (!cb) return PB_ERR_INVALID_INPUT;
    if (!call || !call->http) {
        respond_error(cb, user, PB_ERR_UNSUPPORTED, "HTTP is not available to this call");
        return PB_ERR_UNSUPPORTED;
    }
    return std::nullopt;
}

// Sends `out` for the plugin and hands it the answer: the headers as an array, and for
// http_request (`json_headers`) also as the JSON text that v1.0-1.2 plugins read.
int32_t send_for_plugin(pb_call* call, OutboundRequest out, bool json_headers, pb_http_response_fn cb, void* user) {
    auto result = call->http->execute(std::move(out), *call);
    if (!result) {
        const auto& e = result.error();
        call->host_error = e;
        respond_error(cb, user, plugin_code_from(e.code), e.message);
        return plugin_code_from(e.code);
    }
    const auto& resp = result.value();
    const sdk::HeaderViews list(resp.headers);  // no allocation for the usual few headers
    std::string headers_text;  // [["name", "value"], ...], written directly
    if (json_headers) {
        headers_text.reserve(2 + resp.headers.size() * 48);
        headers_text += '[';
        for (const auto& [k, v] : resp.headers) {
            if (headers_text.size() > 1) headers_text += ',';
            headers_text += '[';
            append_json_string(headers_text, k);
            headers_text += ',';
            append_json_string(headers_text, v);
            headers_text += ']';
        }
        headers_text += ']';
    }
    pb_http_response_v1 r{};
    r.struct_size = sizeof r;
    r.status = resp.status;
    r.headers_json = pb_str{headers_text.data(), headers_text.size()};
    r.body = pb_str{resp.body.data(), resp.body.size()};
    r.error_code = PB_OK;
    r.headers = list.data();
    r.header_count = list.size();
    cb(user, &r);
    return PB_OK;
}

int32_t h_http_request(pb_call* call, pb_str request_json, pb_str body, pb_http_response_fn cb, void* user) {
    if (auto refused = refuse_without_http(call, cb, user)) return *refused;
    boost::system::error_code ec;
    unsigned char buffer[2048];  // the request description dies with this function
    json::monotonic_resource arena(buffer, sizeof buffer);
    json::value req = json::parse(view(request_json), ec, &arena);
    if (ec || !req.is_object()) {
        respond_error(cb, user, PB_ERR_PLUGIN, "http_request: request_json is not a JSON object");
        return PB_ERR_PLUGIN;
    }
    const auto& o = req.get_object();
    OutboundRequest out;
    if (const auto* m = o.if_contains("method"); m && m->is_string()) out.method = m->get_string();
    if (const auto* u = o.if_contains("url"); u && u->is_string()) out.url = u->get_string();
    if (out.url.empty()) {
        respond_error(cb, user, PB_ERR_INVALID_INPUT, "http_request: 'url' is required");
        return PB_ERR_INVALID_INPUT;
    }
    if (const auto* h = o.if_contains("headers")) {
        if (h->is_object()) {
            for (const auto& [k, v] : h->get_object())
                if (v.is_string()) out.headers.emplace_back(std::string(k), std::string(v.get_string()));
        } else if (h->is_array()) {
            for (const auto& pair : h->get_array()) {
                const auto* p = pair.if_array();
                if (p && p->size() == 2 && (*p)[0].is_string() && (*p)[1].is_string())
                    out.headers.emplace_back(std::string((*p)[0].get_string()), std::string((*p)[1].get_string()));
            }
        }
    }
    if (const auto* t = o.if_contains("timeout_ms"); t && t->is_number()) {
        auto ms = t->to_number<int64_t>();
        if (ms > 0) out.timeout = std::chrono::milliseconds(ms);
    }
    out.body.assign(view(body));
    if (const auto* f = o.if_contains("follow_redirects"); f && f->is_bool()) out.follow_redirects = f->get_bool();
    if (const auto* c = o.if_contains("credentials"); c && c->is_bool()) out.with_credentials = c->get_bool();
    return send_for_plugin(call, std::move(out), true, cb, user);
}

int32_t h_http_send(pb_call* call, const pb_http_request_v1* request, pb_http_response_fn cb, void* user) {
    if (auto refused = refuse_without_http(call, cb, user)) return *refused;
    if (!request || request->struct_size < offsetof(pb_http_request_v1, timeout_ms) + sizeof(int64_t)) {
        respond_error(cb, user, PB_ERR_PLUGIN, "http_send: the request is missing or too short for ABI v1.3");
        return PB_ERR_PLUGIN;
    }
    OutboundRequest out;
    if (request->method.size) out.method.assign(view(request->method));
    out.url.assign(view(request->url));
    if (out.url.empty()) {
        respond_error(cb, user, PB_ERR_INVALID_INPUT, "http_send: 'url' is required");
        return PB_ERR_INVALID_INPUT;
    }
    if (request->header_count && !request->headers) {
        respond_error(cb, user, PB_ERR_PLUGIN, "http_send: header_count is set but headers is NULL");
        return PB_ERR_PLUGIN;
    }
    out.headers.reserve(request->header_count);
    for (uint32_t i = 0; i < request->header_count; ++i)
        out.headers.emplace_back(std::string(view(request->headers[i].name)), std::string(view(request->headers[i].value)));
    out.body.assign(view(request->body));
    if (request->timeout_ms > 0) out.timeout = std::chrono::milliseconds(request->timeout_ms);
    out.follow_redirects = !(request->flags & PB_HTTP_NO_REDIRECTS);
    out.with_credentials = !(request->flags & PB_HTTP_NO_CREDENTIALS);
    return send_for_plugin(call, std::move(out), false, cb, user);
}

const pb_host_v1 kHost = {
    sizeof(pb_host_v1), PATCHBAY_ABI_MAJOR, PATCHBAY_ABI_MINOR,
    &h_set_output, &h_set_error, &h_log, &h_deadline, &h_http_request, &h_http_send,
};

}  // namespace

const pb_host_v1* host_table() { return &kHost; }

Result<OutboundResponse> OutboundHttp::execute(OutboundRequest request, pb_call& call) {
    if (call.scope && request.with_credentials) call.scope->injection.apply(request);
    return call.on_fiber ? perform_suspending(request, call.deadline) : perform(request, call.deadline);
}

bool Injection::applies_to(std::string_view url) const {
    if (base_url.empty()) return false;
    auto b = parse_absolute_uri(base_url);
    auto u = parse_absolute_uri(url);
    if (!b || !u) return false;
    if (!iequals(b->scheme(), u->scheme()) || !iequals(b->encoded_host(), u->encoded_host())) return false;
    if (b->port_number() != u->port_number()) {
        auto default_port = [](const boost::urls::url_view& v) -> uint16_t {
            if (v.has_port()) return v.port_number();
            return iequals(v.scheme(), "https") ? 443 : 80;
        };
        if (default_port(*b) != default_port(*u)) return false;
    }
    std::string_view bp = b->encoded_path(), up = u->encoded_path();
    while (!bp.empty() && bp.back() == '/') bp.remove_suffix(1);
    if (bp.empty()) return true;
    // "/v2" covers "/v2" and "/v2/...", not "/v2beta" or "/v2/../admin".
    if (up.substr(0, bp.size()) != bp || (up.size() > bp.size() && up[bp.size()] != '/')) return false;
    return up.find("/..") == std::string_view::npos && up.find("%2e%2e") == std::string_view::npos &&
           up.find("%2E%2E") == std::string_view::npos;
}

bool Injection::apply(OutboundRequest& request) const {
    if (!applies_to(request.url)) return false;
    add(request);
    return true;
}

void Injection::add(OutboundRequest& request) const {
    for (const auto& [name, value] : headers) {
        std::erase_if(request.headers, [&](const auto& h) { return iequals(h.first, name); });
        request.headers.emplace_back(name, value);
    }
    if (!query.empty()) {
        boost::urls::url u(request.url);
        for (const auto& [k, v] : query) u.params().set(k, v);
        request.url = std::string(u.buffer());
    }
}

Errc errc_from_plugin(int32_t code) {
    switch (code) {
        case PB_ERR_INVALID_INPUT: return Errc::invalid_input;
        case PB_ERR_PLUGIN: return Errc::plugin_error;
        case PB_ERR_UPSTREAM: return Errc::upstream_error;
        case PB_ERR_UNAUTHORIZED: return Errc::upstream_auth_failed;
        case PB_ERR_NOT_FOUND: return Errc::not_found;
        case PB_ERR_RATE_LIMITED: return Errc::rate_limited;
        case PB_ERR_TIMEOUT: return Errc::timeout;
        case PB_ERR_UNAVAILABLE: return Errc::upstream_unavailable;
        case PB_ERR_UNSUPPORTED: return Errc::unsupported;
        case PB_ERR_EGRESS_DENIED: return Errc::egress_denied;
        case PB_ERR_CIRCUIT_OPEN: return Errc::circuit_open;
        case PB_ERR_REAUTHORIZE: return Errc::reauthorization_required;
        default: return Errc::plugin_error;
    }
}

int32_t plugin_code_from(Errc code) {
    switch (code) {
        case Errc::invalid_input: return PB_ERR_INVALID_INPUT;
        case Errc::upstream_error: return PB_ERR_UPSTREAM;
        case Errc::upstream_auth_failed: return PB_ERR_UNAUTHORIZED;
        case Errc::not_found: return PB_ERR_NOT_FOUND;
        case Errc::rate_limited: return PB_ERR_RATE_LIMITED;
        case Errc::timeout: return PB_ERR_TIMEOUT;
        case Errc::upstream_unavailable: return PB_ERR_UNAVAILABLE;
        case Errc::unsupported: return PB_ERR_UNSUPPORTED;
        case Errc::egress_denied: return PB_ERR_EGRESS_DENIED;
        case Errc::circuit_open: return PB_ERR_CIRCUIT_OPEN;
        case Errc::upstream_busy: return PB_ERR_UNAVAILABLE;
        case Errc::reauthorization_required: return PB_ERR_REAUTHORIZE;
        default: return PB_ERR_PLUGIN;
    }
}

}  // namespace patchbay::host
