// Structured logging: one JSON object per line on stderr, so log shippers need no parser.
//
// The level check is a relaxed atomic load, cheap enough for hot paths. Fields are a JSON object
// merged into the line. Nothing here knows about secrets: callers never pass them (the HTTP host
// service redacts credentials before logging).
#pragma once

#include <boost/json/object.hpp>

#include <atomic>
#include <cstdio>
#include <mutex>
#include <optional>
#include <string_view>

namespace patchbay::log {

enum class Level { debug = 0, info = 1, warn = 2, error = 3, off = 4 };

std::optional<Level> parse_level(std::string_view name);
std::string_view level_name(Level level);

void set_level(Level level);
Level level();
inline bool enabled(Level l);

// Where lines go; stderr by default. Tests point it at a file to inspect what was logged.
void set_sink(std::FILE* sink);

void write(Level level, std::string_view message, const boost::json::object& fields = {});

inline void debug(std::string_view m, const boost::json::object& f = {}) { if (enabled(Level::debug)) write(Level::debug, m, f); }
inline void info(std::string_view m, const boost::json::object& f = {}) { if (enabled(Level::info)) write(Level::info, m, f); }
inline void warn(std::string_view m, const boost::json::object& f = {}) { if (enabled(Level::warn)) write(Level::warn, m, f); }
inline void error(std::string_view m, const boost::json::object& f = {}) { if (enabled(Level::error)) write(Level::error, m, f); }

namespace detail {
extern std::atomic<int> current_level;
}
inline bool enabled(Level l) {
    return static_cast<int>(l) >= detail::current_level.load(std::memory_order_relaxed);
}

}  // namespace patchbay::log
