// Boost.URL 1.81's URI parsers behind one guard. Its debug builds (the sanitizer preset) stop on
// an assertion (path_segments, nseg == 0) when the path after "scheme:" is empty and something
// follows it. Where that something can begin no part of a URI ("x:|", "x: "), the text is not a
// URI: it is refused here, without asking Boost.URL. "x:?" and "x:#" are URIs and still go to it
// (its release builds read them right); schema::is_uri accepts them before asking.
#pragma once

#include "common/text.hpp"

#include <boost/url/grammar/error.hpp>
#include <boost/url/parse.hpp>

#include <string_view>

namespace patchbay {

inline boost::urls::result<boost::urls::url_view> parse_uri(std::string_view s) {
    if (scheme_then_no_uri(s)) return boost::system::error_code(boost::urls::grammar::error::mismatch);
    return boost::urls::parse_uri(s);
}

inline boost::urls::result<boost::urls::url_view> parse_absolute_uri(std::string_view s) {
    if (scheme_then_no_uri(s)) return boost::system::error_code(boost::urls::grammar::error::mismatch);
    return boost::urls::parse_absolute_uri(s);
}

}  // namespace patchbay
