#include "common/error.hpp"

namespace patchbay {

std::string_view code_name(Errc code) {
    switch (code) {
        case Errc::invalid_input: return "INVALID_INPUT";
        case Errc::malformed_json: return "MALFORMED_JSON";
        case Errc::bad_request: return "BAD_REQUEST";
        case Errc::unknown_integration: return "UNKNOWN_INTEGRATION";
        case Errc::unknown_action: return "UNKNOWN_ACTION";
        case Errc::integration_unavailable: return "INTEGRATION_UNAVAILABLE";
        case Errc::plugin_error: return "PLUGIN_ERROR";
        case Errc::upstream_error: return "UPSTREAM_ERROR";
        case Errc::upstream_auth_failed: return "UPSTREAM_AUTH_FAILED";
        case Errc::upstream_unavailable: return "UPSTREAM_UNAVAILABLE";
        case Errc::not_found: return "NOT_FOUND";
        case Errc::rate_limited: return "RATE_LIMITED";
        case Errc::timeout: return "TIMEOUT";
        case Errc::unsupported: return "UNSUPPORTED";
        case Errc::payload_too_large: return "PAYLOAD_TOO_LARGE";
        case Errc::headers_too_large: return "HEADERS_TOO_LARGE";
        case Errc::method_not_allowed: return "METHOD_NOT_ALLOWED";
        case Errc::route_not_found: return "ROUTE_NOT_FOUND";
        case Errc::shutting_down: return "SHUTTING_DOWN";
        case Errc::unauthenticated: return "UNAUTHENTICATED";
        case Errc::forbidden: return "FORBIDDEN";
        case Errc::conflict: return "CONFLICT";
        case Errc::confirmation_required: return "CONFIRMATION_REQUIRED";
        case Errc::not_installed: return "NOT_INSTALLED";
        case Errc::unknown_connection: return "UNKNOWN_CONNECTION";
        case Errc::store_unavailable: return "STORE_UNAVAILABLE";
        case Errc::egress_denied: return "EGRESS_DENIED";
        case Errc::circuit_open: return "CIRCUIT_OPEN";
        case Errc::upstream_busy: return "UPSTREAM_BUSY";
        case Errc::reauthorization_required: return "REAUTHORIZATION_REQUIRED";
        case Errc::signature_invalid: return "SIGNATURE_INVALID";
        case Errc::not_mapped: return "NOT_MAPPED";
        case Errc::internal: return "INTERNAL";
    }
    return "INTERNAL";
}

int http_status(Errc code) {
    switch (code) {
        case Errc::invalid_input: return 400;
        case Errc::malformed_json: return 400;
        case Errc::bad_request: return 400;
        case Errc::unknown_integration: return 404;
        case Errc::unknown_action: return 404;
        case Errc::integration_unavailable: return 503;
        case Errc::plugin_error: return 500;
        case Errc::upstream_error: return 502;
        case Errc::upstream_auth_failed: return 502;
        case Errc::upstream_unavailable: return 502;
        case Errc::not_found: return 404;
        case Errc::rate_limited: return 429;
        case Errc::timeout: return 504;
        case Errc::unsupported: return 501;
        case Errc::payload_too_large: return 413;
        case Errc::headers_too_large: return 431;
        case Errc::method_not_allowed: return 405;
        case Errc::route_not_found: return 404;
        case Errc::shutting_down: return 503;
        case Errc::unauthenticated: return 401;
        case Errc::forbidden: return 403;
        case Errc::conflict: return 409;
        case Errc::confirmation_required: return 409;
        case Errc::not_installed: return 409;
        case Errc::unknown_connection: return 404;
        case Errc::store_unavailable: return 503;
        case Errc::egress_denied: return 403;
        case Errc::circuit_open: return 503;
        case Errc::upstream_busy: return 503;
        case Errc::reauthorization_required: return 409;
        case Errc::signature_invalid: return 401;
        case Errc::not_mapped: return 409;
        case Errc::internal: return 500;
    }
    return 500;
}

boost::json::object to_json(const Error& e) {
    boost::json::object o;
    o["code"] = code_name(e.code);
    o["message"] = e.message;
    if (!e.pointer.empty() || e.code == Errc::invalid_input) o["pointer"] = e.pointer;
    if (!e.details.is_null()) o["details"] = e.details;
    return o;
}

}  // namespace patchbay
