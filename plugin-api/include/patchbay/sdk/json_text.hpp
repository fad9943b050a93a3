// JSON text without json::value: a check that text is one JSON document, and JSON string
// literals written straight into a std::string. For the hot paths where building a value only to
// serialize it again would cost more than the text itself: a handler that passes an upstream's
// JSON body on inside a small envelope (see sdk::JsonText in plugin.hpp). Header-only, so that the
// host uses the same code.
#pragma once

#include <boost/json/array.hpp>
#include <boost/json/basic_parser_impl.hpp>
#include <boost/json/object.hpp>
#include <boost/json/string.hpp>
#include <boost/system/error_code.hpp>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

namespace patchbay::sdk {

namespace detail {

// A parser handler that keeps nothing: the grammar, UTF-8 and depth checks are the parser's.
struct DiscardJson {
    using ec_t = boost::system::error_code;
    using sv = boost::json::string_view;
    // The limits of boost::json::parse's own handler, so that both refuse the same documents.
    static constexpr std::size_t max_array_size = boost::json::array::max_size();
    static constexpr std::size_t max_object_size = boost::json::object::max_size();
    static constexpr std::size_t max_string_size = boost::json::string::max_size();
    static constexpr std::size_t max_key_size = boost::json::string::max_size();
    bool on_document_begin(ec_t&) { return true; }
    bool on_document_end(ec_t&) { return true; }
    bool on_array_begin(ec_t&) { return true; }
    bool on_array_end(std::size_t, ec_t&) { return true; }
    bool on_object_begin(ec_t&) { return true; }
    bool on_object_end(std::size_t, ec_t&) { return true; }
    bool on_string_part(sv, std::size_t, ec_t&) { return true; }
    bool on_string(sv, std::size_t, ec_t&) { return true; }
    bool on_key_part(sv, std::size_t, ec_t&) { return true; }
    bool on_key(sv, std::size_t, ec_t&) { return true; }
    bool on_number_part(sv, ec_t&) { return true; }
    bool on_int64(int64_t, sv, ec_t&) { return true; }
    bool on_uint64(uint64_t, sv, ec_t&) { return true; }
    bool on_double(double, sv, ec_t&) { return true; }
    bool on_bool(bool, ec_t&) { return true; }
    bool on_null(ec_t&) { return true; }
    bool on_comment_part(sv, ec_t&) { return true; }
    bool on_comment(sv, ec_t&) { return true; }
};

}  // namespace detail

// Whether `text` is one JSON document that boost::json::parse (default options) would accept:
// the same grammar, UTF-8, nesting-depth and size rules, checked without building anything.
// `ec` says what is wrong when it is not. Text that will be put inside an envelope of its own
// (`{"body": TEXT}`) needs room for the envelope's levels under the host's limit of 32: pass a
// smaller `max_depth`.
inline bool is_json(std::string_view text, boost::system::error_code& ec, std::size_t max_depth = 32) {
    boost::json::parse_options options;
    options.max_depth = max_depth;
    boost::json::basic_parser<detail::DiscardJson> parser{options};
    std::size_t used = parser.write_some(false, text.data(), text.size(), ec);
    if (!ec && used < text.size()) ec = boost::json::error::extra_data;
    return !ec;
}
inline bool is_json(std::string_view text, std::size_t max_depth = 32) {
    boost::system::error_code ec;
    return is_json(text, ec, max_depth);
}

// Whether `s` is well-formed UTF-8 (no overlongs, no surrogates, nothing above U+10FFFF).
inline bool valid_utf8(std::string_view s) {
    size_t i = 0;
    while (i < s.size()) {
        auto c = static_cast<unsigned char>(s[i]);
        if (c < 0x80) {
            ++i;
            continue;
        }
        size_t n = c >= 0xF0 ? 3 : c >= 0xE0 ? 2 : c >= 0xC2 ? 1 : 0;  // continuation bytes
        if (n == 0 || c > 0xF4 || i + n >= s.size()) return false;
        uint32_t cp = c & (0x3F >> n);
        for (size_t k = 1; k <= n; ++k) {
            auto cc = static_cast<unsigned char>(s[i + k]);
            if ((cc & 0xC0) != 0x80) return false;
            cp = (cp << 6) | (cc & 0x3F);
        }
        if ((n == 2 && cp < 0x800) || (n == 3 && (cp < 0x10000 || cp > 0x10FFFF)) || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
        i += n + 1;
    }
    return true;
}

namespace detail {

// Eight bytes at a time: whether any of them is a control character, '"' or '\\', or (with
// `high`) has its top bit set. Exact: a word reported clean holds none of them.
inline bool json_plain_word(const char* p, bool high) {
    constexpr uint64_t ones = 0x0101010101010101ULL, tops = 0x8080808080808080ULL;
    uint64_t v;
    std::memcpy(&v, p, sizeof v);
    auto has_zero = [&](uint64_t x) { return (x - ones) & ~x & tops; };
    uint64_t special = ((v - ones * 0x20) & ~v & tops) | has_zero(v ^ (ones * '"')) | has_zero(v ^ (ones * '\\'));
    if (high) special |= v & tops;
    return special == 0;
}

// Whether none of eight bytes has its top bit set.
inline bool ascii_word(const char* p) {
    uint64_t v;
    std::memcpy(&v, p, sizeof v);
    return (v & 0x8080808080808080ULL) == 0;
}

// Whether `s` is printable ASCII with nothing to escape in a JSON string: one scan eight bytes
// at a time, the tail padded with spaces.
inline bool json_plain(std::string_view s) {
    const size_t n = s.size();
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        if (!json_plain_word(s.data() + i, true)) return false;
    if (i == n) return true;
    char tail[8];
    std::memset(tail, ' ', sizeof tail);
    std::memcpy(tail, s.data() + i, n - i);
    return json_plain_word(tail, true);
}

}  // namespace detail

// Appends `s` as a JSON string literal. Text that is not UTF-8 (header values may carry any
// octets) is read as Latin-1, so the result is always valid JSON.
inline void append_json_string(std::string& out, std::string_view s) {
    // Most strings (header names and values, ids) are printable ASCII with nothing to escape:
    // one scan, then one append.
    if (detail::json_plain(s)) {
        out.reserve(out.size() + s.size() + 2);
        out += '"';
        out.append(s);
        out += '"';
        return;
    }
    static const char* hex = "0123456789abcdef";
    bool utf8 = true;
    for (size_t i = 0; i < s.size(); ++i) {
        while (i + 8 <= s.size() && detail::ascii_word(s.data() + i)) i += 8;
        if (i < s.size() && static_cast<unsigned char>(s[i]) >= 0x80) {
            utf8 = valid_utf8(s);
            break;
        }
    }
    out.reserve(out.size() + s.size() + 2);
    out += '"';
    size_t run = 0;  // start of the characters that go out as they are
    for (size_t i = 0; i < s.size(); ++i) {
        while (i + 8 <= s.size() && detail::json_plain_word(s.data() + i, !utf8)) i += 8;
        if (i == s.size()) break;
        auto c = static_cast<unsigned char>(s[i]);
        bool plain = c >= 0x20 && c != '"' && c != '\\' && (c < 0x80 || utf8);
        if (plain) continue;
        out.append(s.data() + run, i - run);
        run = i + 1;
        switch (c) {
            case '"': out += "\\\""; break;
            case '\\': out += "\\\\"; break;
            case '\n': out += "\\n"; break;
            case '\r': out += "\\r"; break;
            case '\t': out += "\\t"; break;
            default:  // a control character, or a Latin-1 octet (U+0080..U+00FF)
                out += "\\u00";
                out += hex[c >> 4];
                out += hex[c & 15];
        }
    }
    out.append(s.data() + run, s.size() - run);
    out += '"';
}

// Standard base64 (RFC 4648, with padding): how bytes that are not UTF-8 text travel in JSON.
inline std::string base64(std::string_view in) {
    static const char* alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    std::string out;
    out.reserve((in.size() + 2) / 3 * 4);
    size_t i = 0;
    auto byte = [&](size_t k) { return static_cast<uint32_t>(static_cast<unsigned char>(in[k])); };
    for (; i + 2 < in.size(); i += 3) {
        uint32_t n = (byte(i) << 16) | (byte(i + 1) << 8) | byte(i + 2);
        out += alphabet[n >> 18], out += alphabet[(n >> 12) & 63], out += alphabet[(n >> 6) & 63], out += alphabet[n & 63];
    }
    if (i + 1 == in.size()) {
        uint32_t n = byte(i) << 16;
        out += alphabet[n >> 18], out += alphabet[(n >> 12) & 63], out += "==";
    } else if (i + 2 == in.size()) {
        uint32_t n = (byte(i) << 16) | (byte(i + 1) << 8);
        out += alphabet[n >> 18], out += alphabet[(n >> 12) & 63], out += alphabet[(n >> 6) & 63], out += '=';
    }
    return out;
}

}  // namespace patchbay::sdk
