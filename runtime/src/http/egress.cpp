#include "http/egress.hpp"

#include "common/text.hpp"

#include <array>
#include <cctype>
#include <charconv>
#include <cstdint>

namespace patchbay::http {

namespace ip = boost::asio::ip;

namespace {

struct V4Range {
    uint32_t network;
    unsigned prefix;
    const char* name;
};

constexpr uint32_t v4(unsigned a, unsigned b, unsigned c, unsigned d) { return (a << 24) | (b << 16) | (c << 8) | d; }

// RFC 6890 special-purpose blocks, and the ones that are private by convention.
constexpr std::array<V4Range, 15> kV4Refused{{
    {v4(0, 0, 0, 0), 8, "unspecified or 'this network' 0.0.0.0/8"},
    {v4(10, 0, 0, 0), 8, "private 10.0.0.0/8"},
    {v4(100, 64, 0, 0), 10, "carrier-grade NAT 100.64.0.0/10"},
    {v4(127, 0, 0, 0), 8, "loopback 127.0.0.0/8"},
    {v4(169, 254, 0, 0), 16, "link-local 169.254.0.0/16 (cloud metadata services live here)"},
    {v4(172, 16, 0, 0), 12, "private 172.16.0.0/12"},
    {v4(192, 0, 0, 0), 24, "IETF protocol assignments 192.0.0.0/24"},
    {v4(192, 0, 2, 0), 24, "documentation 192.0.2.0/24"},
    {v4(192, 88, 99, 0), 24, "6to4 relay anycast 192.88.99.0/24"},
    {v4(192, 168, 0, 0), 16, "private 192.168.0.0/16"},
    {v4(198, 18, 0, 0), 15, "benchmarking 198.18.0.0/15"},
    {v4(198, 51, 100, 0), 24, "documentation 198.51.100.0/24"},
    {v4(203, 0, 113, 0), 24, "documentation 203.0.113.0/24"},
    {v4(224, 0, 0, 0), 4, "multicast 224.0.0.0/4"},
    {v4(240, 0, 0, 0), 4, "reserved 240.0.0.0/4 (and broadcast)"},
}};

struct V6Range {
    std::array<uint8_t, 16> network;
    unsigned prefix;
    const char* name;
};

bool prefix_match(const uint8_t* a, const uint8_t* b, unsigned prefix) {
    unsigned full = prefix / 8, rest = prefix % 8;
    for (unsigned i = 0; i < full; ++i)
        if (a[i] != b[i]) return false;
    if (rest == 0) return true;
    uint8_t mask = static_cast<uint8_t>(0xFF << (8 - rest));
    return (a[full] & mask) == (b[full] & mask);
}

const std::vector<V6Range>& v6_refused() {
    static const std::vector<V6Range> ranges = [] {
        std::vector<V6Range> r;
        auto add = [&](const char* text, unsigned prefix, const char* name) {
            r.push_back({ip::make_address_v6(text).to_bytes(), prefix, name});
        };
        add("::", 128, "unspecified ::");
        add("::1", 128, "loopback ::1");
        add("::ffff:0:0", 96, "IPv4-mapped ::ffff:0:0/96");
        add("::", 96, "IPv4-compatible ::/96");
        add("::ffff:0:0:0", 96, "IPv4-translated ::ffff:0:0:0/96");
        add("64:ff9b::", 96, "NAT64 64:ff9b::/96");
        add("64:ff9b:1::", 48, "local NAT64 64:ff9b:1::/48");
        add("100::", 64, "discard 100::/64");
        add("2001::", 23, "IETF protocol assignments 2001::/23 (Teredo included)");
        add("2001:db8::", 32, "documentation 2001:db8::/32");
        add("2002::", 16, "6to4 2002::/16");
        add("3fff::", 20, "documentation 3fff::/20");
        add("5f00::", 16, "segment routing 5f00::/16");
        add("fc00::", 7, "unique-local fc00::/7");
        add("fe80::", 10, "link-local fe80::/10");
        add("fec0::", 10, "site-local fec0::/10");
        add("ff00::", 8, "multicast ff00::/8");
        return r;
    }();
    return ranges;
}

std::optional<uint64_t> parse_part(std::string_view p) {
    if (p.empty()) return std::nullopt;
    int base = 10;
    if (p.size() > 1 && p[0] == '0' && (p[1] == 'x' || p[1] == 'X')) {
        base = 16;
        p.remove_prefix(2);
        if (p.empty()) return 0;  // "0x" alone is zero to inet_aton
    } else if (p.size() > 1 && p[0] == '0') {
        base = 8;
        p.remove_prefix(1);
    }
    uint64_t v = 0;
    for (char c : p) {
        int d;
        if (c >= '0' && c <= '9') d = c - '0';
        else if (base == 16 && c >= 'a' && c <= 'f') d = c - 'a' + 10;
        else if (base == 16 && c >= 'A' && c <= 'F') d = c - 'A' + 10;
        else return std::nullopt;
        if (d >= base) return std::nullopt;
        v = v * static_cast<uint64_t>(base) + static_cast<uint64_t>(d);
        if (v > 0xFFFFFFFFull) return std::nullopt;
    }
    return v;
}

}  // namespace

std::optional<ip::address_v4> parse_ipv4_loose(std::string_view host) {
    if (!host.empty() && host.back() == '.') host.remove_suffix(1);  // "127.0.0.1." is the same host
    std::array<uint64_t, 4> parts{};
    size_t count = 0;
    size_t start = 0;
    for (;;) {
        size_t dot = host.find('.', start);
        auto part = parse_part(host.substr(start, dot == std::string_view::npos ? std::string_view::npos : dot - start));
        if (!part || count == parts.size()) return std::nullopt;
        parts[count++] = *part;
        if (dot == std::string_view::npos) break;
        start = dot + 1;
    }
    uint32_t value = 0;
    for (size_t i = 0; i + 1 < count; ++i) {
        if (parts[i] > 255) return std::nullopt;
        value |= static_cast<uint32_t>(parts[i]) << (24 - 8 * i);
    }
    uint64_t last = parts[count - 1];
    unsigned last_bits = static_cast<unsigned>(32 - 8 * (count - 1));
    if (last_bits < 32 && last >= (1ull << last_bits)) return std::nullopt;
    value |= static_cast<uint32_t>(last);
    return ip::address_v4(value);
}

std::optional<std::string> refused_range(const ip::address& a) {
    if (a.is_v4()) {
        uint32_t x = a.to_v4().to_uint();
        for (const auto& r : kV4Refused) {
            uint32_t mask = r.prefix == 0 ? 0 : 0xFFFFFFFFu << (32 - r.prefix);
            if ((x & mask) == r.network) return std::string(r.name);
        }
        return std::nullopt;
    }
    auto bytes = a.to_v6().to_bytes();
    for (const auto& r : v6_refused())
        if (prefix_match(bytes.data(), r.network.data(), r.prefix)) return std::string(r.name);
    return std::nullopt;
}

Result<EgressPolicy> EgressPolicy::parse(const std::vector<std::string>& allow) {
    EgressPolicy p;
    for (const auto& raw : allow) {
        std::string entry = ascii_lower(raw);
        while (!entry.empty() && std::isspace(static_cast<unsigned char>(entry.back()))) entry.pop_back();
        while (!entry.empty() && std::isspace(static_cast<unsigned char>(entry.front()))) entry.erase(0, 1);
        if (entry.empty()) continue;
        auto bad = [&](const std::string& why) {
            return Error(Errc::invalid_input, "egress allow entry '" + raw + "' " + why +
                                                  "; write a host name (api.example.com), a wildcard (*.example.com), an address "
                                                  "(10.1.2.3) or a range (10.0.0.0/8, fd00::/8)");
        };
        std::string addr = entry;
        std::optional<unsigned> prefix;
        if (auto slash = entry.find('/'); slash != std::string::npos) {
            addr = entry.substr(0, slash);
            unsigned n = 0;
            auto tail = std::string_view(entry).substr(slash + 1);
            auto [ptr, ec] = std::from_chars(tail.data(), tail.data() + tail.size(), n);
            if (ec != std::errc() || ptr != tail.data() + tail.size()) return bad("has a prefix length that is not a number");
            prefix = n;
        }
        if (addr.size() > 2 && addr.front() == '[' && addr.back() == ']') addr = addr.substr(1, addr.size() - 2);
        boost::system::error_code ec;
        auto a = ip::make_address(addr, ec);
        if (!ec) {
            unsigned max = a.is_v4() ? 32 : 128;
            unsigned n = prefix.value_or(max);
            if (n > max) return bad("has a prefix longer than " + std::to_string(max) + " bits");
            p.ranges_.push_back({a, n});
            continue;
        }
        if (prefix) return bad("has a prefix length but no address before it");
        std::string_view name = entry;
        if (name.substr(0, 2) == "*.") name.remove_prefix(2);
        if (name.empty()) return bad("is empty");
        for (char c : name)
            if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.' || c == '_')) return bad("is not a host name");
        p.hosts_.push_back(entry);
    }
    return p;
}

bool EgressPolicy::allowed_host(std::string_view host) const {
    std::string h = ascii_lower(host);
    if (!h.empty() && h.back() == '.') h.pop_back();
    for (const auto& e : hosts_) {
        if (e.size() > 2 && e[0] == '*' && e[1] == '.') {
            std::string_view suffix = std::string_view(e).substr(1);  // ".example.com"
            if (h.size() > suffix.size() && h.compare(h.size() - suffix.size(), suffix.size(), suffix) == 0) return true;
        } else if (h == e) {
            return true;
        }
    }
    return false;
}

bool EgressPolicy::allowed_address(const ip::address& a) const {
    for (const auto& r : ranges_) {
        if (r.network.is_v4() != a.is_v4()) continue;
        if (a.is_v4()) {
            uint32_t mask = r.prefix == 0 ? 0 : 0xFFFFFFFFu << (32 - r.prefix);
            if ((a.to_v4().to_uint() & mask) == (r.network.to_v4().to_uint() & mask)) return true;
        } else if (prefix_match(a.to_v6().to_bytes().data(), r.network.to_v6().to_bytes().data(), r.prefix)) {
            return true;
        }
    }
    return false;
}

std::optional<Error> EgressPolicy::check(std::string_view host, const ip::address& address) const {
    auto range = refused_range(address);
    if (!range) return std::nullopt;
    if (allowed_address(address) || allowed_host(host)) return std::nullopt;
    std::string shown = address.to_string();
    std::string target = host == shown ? "'" + shown + "'" : "'" + std::string(host) + "' (resolved to " + shown + ")";
    return Error(Errc::egress_denied,
                 "outbound request to " + target + " refused: the address is in the " + *range +
                     " range, which plugins may not reach. If this host is meant to be reachable, an admin can allow it "
                     "with `patchbay serve --egress-allow " + (host == shown ? shown : std::string(host)) + "`",
                 "", boost::json::object{{"host", std::string(host)}, {"address", shown}});
}

}  // namespace patchbay::http
