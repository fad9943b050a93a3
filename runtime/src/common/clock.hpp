// Wall-clock timestamps as the API and the store write them: RFC 3339, UTC, milliseconds.
#pragma once

#include <chrono>
#include <string>

namespace patchbay {

std::string iso_time(std::chrono::system_clock::time_point t);
inline std::string iso_now() { return iso_time(std::chrono::system_clock::now()); }

}  // namespace patchbay
