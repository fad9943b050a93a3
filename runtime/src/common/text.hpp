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

// RFC 3986 unreserved characters and sub-delims: what a registered name, and (with ':' and '@')
// a path segment, a query or a fragment, may hold besides percent-escapes.
constexpr bool uri_unreserved_or_sub_delim(char c) {
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
    switch (c) {
        case '-': case '.': case '_': case '~':
        case '!': case '$': case '&': case '\'': case '(': case ')': case '*': case '+': case ',': case ';': case '=':
            return true;
        default:
            return false;
    }
}

// Where the RFC 3986 scheme that `s` starts with ends (the ':' after it), or npos when it starts
// with none.
inline size_t uri_scheme_end(std::string_view s) {
    auto alpha = [](char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); };
    if (s.empty() || !alpha(s[0])) return std::string_view::npos;
    size_t i = 1;
    while (i < s.size() && (alpha(s[i]) || (s[i] >= '0' && s[i] <= '9') || s[i] == '+' || s[i] == '-' || s[i] == '.')) ++i;
    return i < s.size() && s[i] == ':' ? i : std::string_view::npos;
}

// Whether `s` is a scheme and ':' followed by a character that can begin neither a path, nor a
// query, nor a fragment ("x:|", "x: "): text that is not a URI (see common/uri.hpp).
inline bool scheme_then_no_uri(std::string_view s) {
    size_t colon = uri_scheme_end(s);
    if (colon == std::string_view::npos || colon + 1 >= s.size()) return false;
    char c = s[colon + 1];
    return !uri_unreserved_or_sub_delim(c) && std::string_view(":@/%?#").find(c) == std::string_view::npos;
}

}  // namespace patchbay
