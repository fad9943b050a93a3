#include "http/head_scan.hpp"

#include "common/text.hpp"

#include <bit>
#include <cstring>

namespace patchbay::http {
namespace {

constexpr uint8_t kToken = 1;  // tchar (RFC 9110 5.6.2)
constexpr uint8_t kValue = 2;  // printable ASCII, space, tab: a field value or a reason phrase
constexpr uint8_t kTarget = 4; // printable ASCII: a request target

constexpr std::array<uint8_t, 256> make_classes() {
    std::array<uint8_t, 256> t{};
    for (int c = 0x21; c <= 0x7e; ++c) t[c] = kValue | kTarget;
    t[' '] = kValue;
    t['\t'] = kValue;
    for (int c = '0'; c <= '9'; ++c) t[c] |= kToken;
    for (int c = 'a'; c <= 'z'; ++c) t[c] |= kToken;
    for (int c = 'A'; c <= 'Z'; ++c) t[c] |= kToken;
    for (char c : std::string_view("!#$%&'*+-.^_`|~")) t[static_cast<unsigned char>(c)] |= kToken;
    return t;
}
constexpr auto kClasses = make_classes();

inline bool is(char c, uint8_t cls) { return (kClasses[static_cast<unsigned char>(c)] & cls) != 0; }

// Skips the value characters from p: eight at a time while all eight are printable ASCII or
// spaces (most values); in the word that is not, straight to its first other byte, and past it
// when it is a tab. Near the end of the buffer, one at a time.
const char* skip_value(const char* p, const char* end) {
    constexpr uint64_t ones = 0x0101010101010101ULL, tops = 0x8080808080808080ULL;
    while (end - p >= 8) {
        uint64_t v;
        std::memcpy(&v, p, sizeof v);
        // The lowest flagged byte is exact in both tests (a borrow or carry only moves upwards).
        uint64_t below_space = (v - ones * 0x20) & ~v & tops;  // a byte < 0x20
        uint64_t above_tilde = ((v & ~tops) + ones) & tops;    // a byte >= 0x7f among the low seven bits
        uint64_t other = below_space | above_tilde | (v & tops);
        if (other == 0) {
            p += 8;
            continue;
        }
        if constexpr (std::endian::native != std::endian::little) break;  // the lowest byte is not the first
        p += std::countr_zero(other) / 8;
        if (*p != '\t') return p;
        ++p;
    }
    while (p < end && is(*p, kValue)) ++p;
    return p;
}

// Reads "HTTP/1.0" or "HTTP/1.1" at p. 10 or 11; 0 when it is something else; -1 when `end`
// comes first and what there is could still be one of them.
int read_version(const char*& p, const char* end) {
    static constexpr std::string_view prefix = "HTTP/1.";
    for (size_t i = 0; i <= prefix.size(); ++i) {
        if (p + i == end) return -1;
        if (i == prefix.size()) break;
        if (p[i] != prefix[i]) return 0;
    }
    char minor = p[prefix.size()];
    if (minor != '0' && minor != '1') return 0;
    p += prefix.size() + 1;
    return minor == '1' ? 11 : 10;
}

// Reads CRLF at p: done, incomplete, or other.
Scan read_crlf(const char*& p, const char* end) {
    if (p == end) return Scan::incomplete;
    if (*p != '\r') return Scan::other;
    if (p + 1 == end) return Scan::incomplete;
    if (p[1] != '\n') return Scan::other;
    p += 2;
    return Scan::done;
}

// Reads the header fields from p through the blank line, filling `out`.
Scan read_fields(const char* begin, const char*& p, const char* end, const ScanLimits& limits, MessageHead& out) {
    bool close = false, keep = false, has_length = false;
    for (;;) {
        if (static_cast<size_t>(p - begin) >= limits.head_limit) return Scan::other;
        if (p == end) return Scan::incomplete;
        if (*p == '\r') {
            Scan s = read_crlf(p, end);
            if (s != Scan::done) return s;
            break;
        }
        const char* name = p;
        while (p < end && is(*p, kToken)) ++p;
        if (p == end) return Scan::incomplete;
        if (*p != ':' || p == name) return Scan::other;  // obs-fold, a bad name, a missing colon
        std::string_view field_name(name, static_cast<size_t>(p - name));
        ++p;
        while (p < end && (*p == ' ' || *p == '\t')) ++p;
        const char* value = p;
        p = skip_value(p, end);
        const char* value_end = p;
        Scan s = read_crlf(p, end);
        if (s != Scan::done) return s;
        while (value_end > value && (value_end[-1] == ' ' || value_end[-1] == '\t')) --value_end;
        std::string_view field_value(value, static_cast<size_t>(value_end - value));
        if (out.field_count == MessageHead::kMaxFields) return Scan::other;
        out.field_array[out.field_count++] = HeadField{field_name, field_value};

        switch (field_name.size()) {
            case 6:
                if (iequals(field_name, "expect")) return Scan::other;
                break;
            case 7:
                if (iequals(field_name, "upgrade")) return Scan::other;
                break;
            case 10:
                if (iequals(field_name, "connection")) {
                    if (iequals(field_value, "close")) close = true;
                    else if (iequals(field_value, "keep-alive")) keep = true;
                    else return Scan::other;  // a list, or another token
                }
                break;
            case 14:
                if (iequals(field_name, "content-length")) {
                    if (has_length || field_value.empty() || field_value.size() > 18) return Scan::other;
                    uint64_t n = 0;
                    for (char c : field_value) {
                        if (c < '0' || c > '9') return Scan::other;
                        n = n * 10 + static_cast<uint64_t>(c - '0');
                    }
                    if (n > limits.body_limit) return Scan::other;
                    has_length = true;
                    out.content_length = n;
                }
                break;
            case 16:
                if (iequals(field_name, "proxy-connection")) return Scan::other;  // Beast reads it as Connection
                break;
            case 17:
                if (iequals(field_name, "transfer-encoding")) return Scan::other;
                break;
            default: break;
        }
    }
    out.head_size = static_cast<size_t>(p - begin);
    if (out.head_size >= limits.head_limit) return Scan::other;
    // HTTP/1.1 stays open unless told to close; HTTP/1.0 closes unless told to stay open.
    out.keep_alive = out.version == 11 ? !close : keep;
    out.has_content_length = has_length;
    return Scan::done;
}

// A head that is not complete within the limit is not the common shape.
Scan bounded(Scan s, std::string_view bytes, const ScanLimits& limits) {
    return s == Scan::incomplete && bytes.size() >= limits.head_limit ? Scan::other : s;
}

Scan request_head(std::string_view bytes, const ScanLimits& limits, MessageHead& out) {
    const char* begin = bytes.data();
    const char* end = begin + bytes.size();
    const char* p = begin;
    out = MessageHead{};
    const char* m = p;
    while (p < end && *p >= 'A' && *p <= 'Z') ++p;
    if (p == end) return Scan::incomplete;
    if (*p != ' ' || p == m) return Scan::other;
    out.method = std::string_view(m, static_cast<size_t>(p - m));
    const char* t = ++p;
    while (p < end && is(*p, kTarget)) ++p;
    if (p == end) return Scan::incomplete;
    if (*p != ' ' || p == t) return Scan::other;
    out.target = std::string_view(t, static_cast<size_t>(p - t));
    ++p;
    int version = read_version(p, end);
    if (version == 0) return Scan::other;
    if (version < 0) return Scan::incomplete;
    out.version = static_cast<unsigned>(version);
    if (Scan s = read_crlf(p, end); s != Scan::done) return s;
    return read_fields(begin, p, end, limits, out);
}

Scan response_head(std::string_view bytes, const ScanLimits& limits, MessageHead& out) {
    const char* begin = bytes.data();
    const char* end = begin + bytes.size();
    const char* p = begin;
    out = MessageHead{};
    int version = read_version(p, end);
    if (version == 0) return Scan::other;
    if (version < 0) return Scan::incomplete;
    out.version = static_cast<unsigned>(version);
    if (p == end) return Scan::incomplete;
    if (*p++ != ' ') return Scan::other;
    int status = 0;
    for (int i = 0; i < 3; ++i, ++p) {
        if (p == end) return Scan::incomplete;
        if (*p < '0' || *p > '9') return Scan::other;
        status = status * 10 + (*p - '0');
    }
    if (p == end) return Scan::incomplete;
    if (*p++ != ' ') return Scan::other;
    // No body or a body the status decides on: the full parser's business.
    if (status < 200 || status > 599 || status == 204 || status == 304) return Scan::other;
    out.status = status;
    while (p < end && is(*p, kValue)) ++p;
    if (Scan s = read_crlf(p, end); s != Scan::done) return s;
    Scan s = read_fields(begin, p, end, limits, out);
    if (s == Scan::done && !out.has_content_length) return Scan::other;  // read to the end of the connection
    return s;
}

}  // namespace

Scan scan_request_head(std::string_view bytes, const ScanLimits& limits, MessageHead& out) {
    return bounded(request_head(bytes, limits, out), bytes, limits);
}

Scan scan_response_head(std::string_view bytes, const ScanLimits& limits, MessageHead& out) {
    return bounded(response_head(bytes, limits, out), bytes, limits);
}

}  // namespace patchbay::http
