// Where an outbound request goes: an absolute http or https URL, read into what the client needs
// (TLS or not, host, port, Host header, request target).
#pragma once

#include "common/error.hpp"

#include <cstdint>
#include <string>
#include <string_view>

namespace patchbay::http {

struct Target {
    bool tls = false;
    std::string host;  // without brackets; an IPv4 address in its canonical form
    std::string port;
    uint16_t port_number = 0;
    std::string host_header;
    std::string path_and_query;
    std::string trust;  // which extra CA bundle verifies the server ("" = the client's own)
    std::string key() const { return (tls ? "https://" : "http://") + host + ":" + port + (trust.empty() ? "" : "#" + trust); }
};

// Letters, digits, '.' and '-': the host characters that the fast paths (parse_target here,
// origin_of in outbound.cpp) read themselves; any other host goes to the full parser.
constexpr bool plain_host_char(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '-';
}

// Reads `url`. The common shape ("http(s)://name-or-ipv4[:port]/path?query" in plain characters)
// is read directly; everything else goes through parse_target_rfc3986, and both give the same
// answer for every URL (a test compares them).
Result<Target> parse_target(std::string_view url);

// The same with Boost.URL's full RFC 3986 parser, whatever the URL looks like.
Result<Target> parse_target_rfc3986(std::string_view url);

}  // namespace patchbay::http
