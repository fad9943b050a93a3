// Writing JSON text directly, for the few hot paths where building a boost::json value only to
// serialize it would cost more than the text itself.
#pragma once

#include <boost/system/error_code.hpp>

#include <cstdint>
#include <string>
#include <string_view>

namespace patchbay {

// Whether `text` is one JSON document that boost::json::parse would accept (same grammar, UTF-8
// and nesting-depth rules), checked without building it; `ec` says what is wrong when not.
bool well_formed_json(std::string_view text, boost::system::error_code& ec);

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

// Appends `s` as a JSON string literal. Text that is not UTF-8 (header values may carry any
// octets) is read as Latin-1, so the result is always valid JSON.
inline void append_json_string(std::string& out, std::string_view s) {
    static const char* hex = "0123456789abcdef";
    bool utf8 = true;
    for (char ch : s)
        if (static_cast<unsigned char>(ch) >= 0x80) {
            utf8 = valid_utf8(s);
            break;
        }
    out.reserve(out.size() + s.size() + 2);
    out += '"';
    size_t run = 0;  // start of the characters that go out as they are
    for (size_t i = 0; i < s.size(); ++i) {
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
            default:
                out += "\\u00";
                out += hex[c >> 4];
                out += hex[c & 15];
        }
    }
    out.append(s.data() + run, s.size() - run);
    out += '"';
}

}  // namespace patchbay
