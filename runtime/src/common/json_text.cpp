#include "common/json_text.hpp"

namespace patchbay {

bool well_formed_json(std::string_view text, boost::system::error_code& ec) { return sdk::is_json(text, ec); }

}  // namespace patchbay
