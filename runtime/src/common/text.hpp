// Small text helpers shared by components that read URLs and query strings.
#pragma once

#include <cctype>
#include <string>
#include <string_view>
#include <vector>

namespace patchbay {

// ASCII lower case of one character: what HTTP, URLs and DNS mean by case-insensitive, inline and
// independent of the C locale (std::tolower is a library call per character).
constexpr char ascii_lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c + ('a' - 'A')) : c; }

// ASCII lower case (header names, schemes, hosts).
inline std::string ascii_lower(std::string_view s) {
    std::string out(s);
    for (auto& c : out) c = ascii_lower(c);
    return out;
}

inline bool iequals(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    for (size_t i = 0; i < a.size(); ++i)
        if (ascii_lower(a[i]) != ascii_lower(b[i])) return false;
    return true;
}

// %XX escapes decoded; with `plus_as_space`, '+' too (form and query strings).
inline std::string percent_decode(std::string_view s, bool plus_as_space = false) {
    auto hex = [](char c) { return std::isdigit(static_cast<unsigned char>(c)) ? c - '0' : (ascii_lower(c) - 'a' + 10); };
    std::string out;
    out.reserve(s.size());
    for (size_t i = 0; i < s.size(); ++i) {
        if (s[i] == '%' && i + 2 < s.size() && std::isxdigit(static_cast<unsigned char>(s[i + 1])) &&
            std::isxdigit(static_cast<unsigned char>(s[i + 2]))) {
            out += static_cast<char>(hex(s[i + 1]) * 16 + hex(s[i + 2]));
            i += 2;
        } else if (plus_as_space && s[i] == '+') {
            out += ' ';
        } else {
            out += s[i];
        }
    }
    return out;
}

// "a,b" and "c" given as separate values -> {"a", "b", "c"}; empty items dropped.
inline std::vector<std::string> comma_list(const std::vector<std::string>& values) {
    std::vector<std::string> out;
    for (const auto& v : values) {
        size_t start = 0;
        for (;;) {
            size_t comma = v.find(',', start);
            std::string item = v.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
            if (!item.empty()) out.push_back(item);
            if (comma == std::string::npos) break;
            start = comma + 1;
        }
    }
    return out;
}

// Whether `s` is a scheme and ':' followed by a character that can begin neither a path, nor a
// query, nor a fragment ("x:|", "x: "): text that is not a URI. Ask this before Boost.URL 1.81's
// parse_uri, whose debug builds stop on an assertion (path_segments, nseg == 0) on such text.
inline bool scheme_then_no_uri(std::string_view s) {
    auto alpha = [](char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); };
    auto digit = [](char c) { return c >= '0' && c <= '9'; };
    if (s.empty() || !alpha(s[0])) return false;
    size_t i = 1;
    while (i < s.size() && (alpha(s[i]) || digit(s[i]) || s[i] == '+' || s[i] == '-' || s[i] == '.')) ++i;
    if (i + 1 >= s.size() || s[i] != ':') return false;
    char c = s[i + 1];
    if (alpha(c) || digit(c)) return false;
    return std::string_view("-._~!$&'()*+,;=:@/%?#").find(c) == std::string_view::npos;
}

}  // namespace patchbay
