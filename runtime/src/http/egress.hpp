// The egress guard: which network addresses the host's HTTP service may connect to on a plugin's
// behalf.
//
// Plugins name URLs that come from admins, from third-party APIs and from workflow input, so a URL
// is untrusted. The client resolves a host once, checks every address it got against this policy,
// and connects only to those checked addresses (no second lookup a DNS rebinding could change).
// Loopback, private, link-local (cloud metadata), CGNAT, unique-local, multicast, reserved,
// unspecified and IPv4-mapped/embedded IPv6 ranges are refused unless an admin allows a host name or
// an address range explicitly.
#pragma once

#include "common/error.hpp"

#include <boost/asio/ip/address.hpp>

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace patchbay::http {

// The name of the refused range `a` falls in ("loopback 127.0.0.0/8", ...), or nullopt when the
// address is public. IPv6 addresses that embed an IPv4 address (mapped, NAT64, 6to4, compatible)
// are refused outright: they are how filters that look only at IPv4 get bypassed.
std::optional<std::string> refused_range(const boost::asio::ip::address& a);

// Reads a host the way inet_aton and URL parsers do: one to four parts, each decimal, octal
// (leading 0) or hex (0x), the last part filling the remaining bytes ("127.1", "0x7f000001",
// "2130706433", "0177.0.0.01"). nullopt when `host` is not such a number.
std::optional<boost::asio::ip::address_v4> parse_ipv4_loose(std::string_view host);

class EgressPolicy {
public:
    // Entries: a host name ("api.internal.example"), a wildcard ("*.corp.example"), an address
    // ("127.0.0.1", "::1") or a range ("10.20.0.0/16", "fd00::/8"). Errors name the bad entry.
    static Result<EgressPolicy> parse(const std::vector<std::string>& allow);

    // Whether a request to `host` may connect to `address`: nullopt when it may, else the
    // EGRESS_DENIED error that says why and how to allow it.
    std::optional<Error> check(std::string_view host, const boost::asio::ip::address& address) const;

    bool empty() const { return hosts_.empty() && ranges_.empty(); }

private:
    struct Range {
        boost::asio::ip::address network;
        unsigned prefix = 0;
    };
    bool allowed_host(std::string_view host) const;
    bool allowed_address(const boost::asio::ip::address& a) const;

    std::vector<std::string> hosts_;  // lower case; "*.x" wildcards keep their star
    std::vector<Range> ranges_;
};

}  // namespace patchbay::http
