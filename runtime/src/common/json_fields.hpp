// Refusing unknown fields in a request body by name, so a typo never silently does nothing.
#pragma once

#include "common/error.hpp"

#include <boost/json/object.hpp>

#include <initializer_list>
#include <string>
#include <string_view>

namespace patchbay {

// The first field of `body` not in `allowed`, as INVALID_INPUT pointing at it:
// "unknown field 'x'; <what> takes a, b, c".
inline Status only_fields(const boost::json::object& body, std::initializer_list<std::string_view> allowed, std::string_view what) {
    for (const auto& field : body) {
        bool ok = false;
        for (auto a : allowed) ok = ok || field.key() == a;
        if (ok) continue;
        std::string list;
        for (auto a : allowed) list += (list.empty() ? "" : ", ") + std::string(a);
        return Error(Errc::invalid_input, "unknown field '" + std::string(field.key()) + "'; " + std::string(what) + " takes " + list,
                     "/" + std::string(field.key()));
    }
    return std::nullopt;
}

}  // namespace patchbay
