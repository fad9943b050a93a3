// Writing JSON text directly, for the few hot paths where building a boost::json value only to
// serialize it would cost more than the text itself. The code is the SDK's (header-only, shared
// with plugins); well_formed_json keeps its parser instantiation in one translation unit.
#pragma once

#include <patchbay/sdk/json_text.hpp>

#include <boost/system/error_code.hpp>

#include <string_view>

namespace patchbay {

// Whether `text` is one JSON document that boost::json::parse would accept (same grammar, UTF-8
// and nesting-depth rules), checked without building it; `ec` says what is wrong when not.
bool well_formed_json(std::string_view text, boost::system::error_code& ec);

using sdk::append_json_string;
using sdk::valid_utf8;

}  // namespace patchbay
