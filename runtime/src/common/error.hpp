// Stable error codes of the runtime and the result type that carries them.
//
// Every expected failure (bad input, missing plugin, upstream 5xx, deadline) travels as a value of
// Error: a stable code that API clients switch on, the HTTP status it maps to, a message for people,
// and optionally the JSON pointer of the offending input field. Codes never change meaning once
// published; docs/api.md lists them.
#pragma once

#include <boost/json/value.hpp>

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace patchbay {

enum class Errc {
    invalid_input,
    malformed_json,
    bad_request,
    unknown_integration,
    unknown_action,
    integration_unavailable,
    plugin_error,
    upstream_error,
    upstream_auth_failed,
    upstream_unavailable,
    not_found,
    rate_limited,
    timeout,
    unsupported,
    payload_too_large,
    headers_too_large,
    method_not_allowed,
    route_not_found,
    shutting_down,
    unauthenticated,
    forbidden,
    conflict,
    confirmation_required,
    not_installed,
    unknown_connection,
    store_unavailable,
    egress_denied,
    circuit_open,
    upstream_busy,
    reauthorization_required,
    signature_invalid,
    not_mapped,
    internal,
};

std::string_view code_name(Errc code);
int http_status(Errc code);

struct Error {
    Errc code = Errc::internal;
    std::string message;
    std::string pointer;         // JSON pointer of the offending input field, when there is one
    boost::json::value details;  // extra structured context; never secrets

    Error() = default;
    Error(Errc c, std::string m, std::string p = {}, boost::json::value d = {})
        : code(c), message(std::move(m)), pointer(std::move(p)), details(std::move(d)) {}
};

// The error as the API shows it: {"code", "message", "pointer"?, "details"?}.
boost::json::object to_json(const Error& e);

template <class T>
class [[nodiscard]] Result {
public:
    Result(T value) : v_(std::move(value)) {}
    Result(Error error) : v_(std::move(error)) {}

    bool ok() const { return v_.index() == 0; }
    explicit operator bool() const { return ok(); }
    T& value() & { return std::get<0>(v_); }
    const T& value() const& { return std::get<0>(v_); }
    T&& value() && { return std::get<0>(std::move(v_)); }
    T* operator->() { return &value(); }
    const T* operator->() const { return &value(); }
    T& operator*() & { return value(); }
    const Error& error() const { return std::get<1>(v_); }

private:
    std::variant<T, Error> v_;
};

// For operations with nothing to return: empty on success, the error otherwise.
using Status = std::optional<Error>;

}  // namespace patchbay
