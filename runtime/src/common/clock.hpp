// Wall-clock timestamps as the API and the store write them: RFC 3339, UTC, milliseconds.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace patchbay {

std::string iso_time(std::chrono::system_clock::time_point t);
inline std::string iso_now() { return iso_time(std::chrono::system_clock::now()); }

// Whole seconds since the Unix epoch: how the trigger tables keep times.
inline int64_t unix_now() {
    return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}
inline std::string iso_unix(int64_t seconds) { return iso_time(std::chrono::system_clock::time_point(std::chrono::seconds(seconds))); }

}  // namespace patchbay
