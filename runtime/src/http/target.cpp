#include "http/target.hpp"

#include "common/text.hpp"
#include "common/uri.hpp"
#include "http/egress.hpp"


#include <charconv>

namespace patchbay::http {

namespace {

// The port's number, checked: the last step of both parsers.
Result<Target> finish(Target t) {
    unsigned long number = 0;
    auto [end, bad] = std::from_chars(t.port.data(), t.port.data() + t.port.size(), number);
    if (bad != std::errc() || end != t.port.data() + t.port.size() || number == 0 || number > 65535)
        return Error(Errc::invalid_input, "the URL's port '" + t.port.substr(0, 20) + "' is not a port number (1 to 65535)");
    t.port_number = static_cast<uint16_t>(number);
    return t;
}

// An IPv4 address in dotted decimal, as inet_ntop writes it, without its printf.
std::string ipv4_text(const boost::asio::ip::address_v4& a) {
    std::string out;
    out.reserve(15);
    auto bytes = a.to_bytes();
    for (size_t i = 0; i < bytes.size(); ++i) {
        if (i) out += '.';
        char digits[3];
        auto [end, ec] = std::to_chars(digits, digits + sizeof digits, static_cast<unsigned>(bytes[i]));
        out.append(digits, end);
    }
    return out;
}

bool digit(char c) { return c >= '0' && c <= '9'; }
// A path segment's characters (pchar) without percent-encoding, which the fast path leaves to the
// full parser.
bool plain_pchar(char c) { return uri_unreserved_or_sub_delim(c) || c == ':' || c == '@'; }

}  // namespace

Result<Target> parse_target_rfc3986(std::string_view url) {
    auto parsed = parse_uri(url);
    if (!parsed) return Error(Errc::invalid_input, "'" + std::string(url.substr(0, 200)) + "' is not a valid absolute URL");
    const auto& u = *parsed;
    Target t;
    // scheme_id() compares case-insensitively, without a lower-cased copy.
    if (u.scheme_id() == boost::urls::scheme::https) t.tls = true;
    else if (u.scheme_id() != boost::urls::scheme::http)
        return Error(Errc::invalid_input, "only http and https URLs are allowed, not '" + std::string(u.scheme()) + "'");
    if (u.has_userinfo()) return Error(Errc::invalid_input, "credentials in URLs are not allowed; configure them on a connection");
    if (u.host_type() == boost::urls::host_type::ipv6) t.host = u.host_ipv6_address().to_string();
    else if (u.host_type() == boost::urls::host_type::ipvfuture) return Error(Errc::invalid_input, "IP-literal futures are not supported");
    else t.host = std::string(u.encoded_host());
    if (t.host.empty()) return Error(Errc::invalid_input, "the URL has no host");
    // "2130706433", "0x7f.1" and friends name an IPv4 address to the system resolver: treat them as
    // the address they spell, so the checks and the pool see one canonical form.
    if (u.host_type() == boost::urls::host_type::name)
        if (auto a = parse_ipv4_loose(t.host)) t.host = ipv4_text(*a);
    t.port = u.has_port() ? std::string(u.port()) : (t.tls ? "443" : "80");
    std::string authority_host = u.host_type() == boost::urls::host_type::ipv6 ? "[" + t.host + "]" : t.host;
    t.host_header = u.has_port() ? authority_host + ":" + t.port : authority_host;
    t.path_and_query = u.encoded_path().empty() ? "/" : std::string(u.encoded_path());
    if (u.has_query()) t.path_and_query += "?" + std::string(u.encoded_query());
    return finish(std::move(t));
}

Result<Target> parse_target(std::string_view url) {
    Target t;
    size_t at = 0;
    auto scheme_is = [&](std::string_view s) {
        return url.size() >= s.size() + 3 && iequals(url.substr(0, s.size()), s) && url.substr(s.size(), 3) == "://";
    };
    if (scheme_is("https")) t.tls = true, at = 8;
    else if (scheme_is("http")) at = 7;
    else return parse_target_rfc3986(url);

    // Authority: a host of letters, digits, '.' and '-' (a registered name or a dotted IPv4
    // address), and an optional port of digits. Anything else (user info, IPv6, percent-encoding,
    // an empty port) is the full parser's.
    size_t host_end = at;
    while (host_end < url.size() && plain_host_char(url[host_end])) ++host_end;
    if (host_end == at) return parse_target_rfc3986(url);
    size_t authority_end = host_end;
    bool has_port = false;
    if (authority_end < url.size() && url[authority_end] == ':') {
        ++authority_end;
        while (authority_end < url.size() && digit(url[authority_end])) ++authority_end;
        if (authority_end == host_end + 1) return parse_target_rfc3986(url);
        has_port = true;
    }
    // Path and query in plain characters, no fragment.
    size_t query = std::string_view::npos;
    for (size_t i = authority_end; i < url.size(); ++i) {
        char c = url[i];
        if (c == '/' || plain_pchar(c)) continue;
        if (c == '?') {
            if (query == std::string_view::npos) query = i;
            continue;
        }
        return parse_target_rfc3986(url);
    }
    if (authority_end < url.size() && url[authority_end] != '/' && url[authority_end] != '?') return parse_target_rfc3986(url);

    t.host.assign(url.substr(at, host_end - at));
    if (auto a = parse_ipv4_loose(t.host)) t.host = ipv4_text(*a);
    t.port = has_port ? std::string(url.substr(host_end + 1, authority_end - host_end - 1)) : (t.tls ? "443" : "80");
    t.host_header = has_port ? t.host + ":" + t.port : t.host;
    std::string_view path = url.substr(authority_end, (query == std::string_view::npos ? url.size() : query) - authority_end);
    t.path_and_query = path.empty() ? "/" : std::string(path);
    if (query != std::string_view::npos) t.path_and_query.append(url.substr(query));
    return finish(std::move(t));
}

}  // namespace patchbay::http
