#include "common/json_text.hpp"

#include <boost/json/array.hpp>
#include <boost/json/basic_parser_impl.hpp>
#include <boost/json/object.hpp>
#include <boost/json/string.hpp>

namespace patchbay {

namespace {

// A parser handler that keeps nothing: the grammar, UTF-8 and depth checks are the parser's.
struct Discard {
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

}  // namespace

bool well_formed_json(std::string_view text, boost::system::error_code& ec) {
    boost::json::basic_parser<Discard> parser{boost::json::parse_options{}};
    std::size_t used = parser.write_some(false, text.data(), text.size(), ec);
    if (!ec && used < text.size()) ec = boost::json::error::extra_data;
    return !ec;
}

}  // namespace patchbay
