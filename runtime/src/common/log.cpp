#include "common/log.hpp"

#include <boost/json/serialize.hpp>

#include <chrono>
#include <ctime>
#include <string>

namespace patchbay::log {

namespace detail {
std::atomic<int> current_level{static_cast<int>(Level::info)};
}

namespace {
std::mutex sink_mutex;
std::FILE* sink_file = nullptr;

std::string timestamp() {
    auto now = std::chrono::system_clock::now();
    auto secs = std::chrono::system_clock::to_time_t(now);
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000;
    std::tm tm{};
    gmtime_r(&secs, &tm);
    char buf[64];
    std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
                  tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(ms));
    return buf;
}
}  // namespace

std::optional<Level> parse_level(std::string_view name) {
    if (name == "debug") return Level::debug;
    if (name == "info") return Level::info;
    if (name == "warn" || name == "warning") return Level::warn;
    if (name == "error") return Level::error;
    if (name == "off" || name == "none") return Level::off;
    return std::nullopt;
}

std::string_view level_name(Level level) {
    switch (level) {
        case Level::debug: return "debug";
        case Level::info: return "info";
        case Level::warn: return "warn";
        case Level::error: return "error";
        case Level::off: return "off";
    }
    return "info";
}

void set_level(Level level) { detail::current_level.store(static_cast<int>(level), std::memory_order_relaxed); }
Level level() { return static_cast<Level>(detail::current_level.load(std::memory_order_relaxed)); }

void set_sink(std::FILE* sink) {
    std::lock_guard lock(sink_mutex);
    sink_file = sink;
}

void write(Level level, std::string_view message, const boost::json::object& fields) {
    boost::json::object line;
    line["ts"] = timestamp();
    line["level"] = level_name(level);
    line["msg"] = message;
    for (const auto& [k, v] : fields) line[k] = v;
    std::string text = boost::json::serialize(line);
    text.push_back('\n');
    std::lock_guard lock(sink_mutex);
    std::FILE* out = sink_file ? sink_file : stderr;
    std::fwrite(text.data(), 1, text.size(), out);
    std::fflush(out);
}

}  // namespace patchbay::log
