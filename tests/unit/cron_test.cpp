// Cron schedules and time zones: field syntax, the day-of-month/day-of-week rule, and wall times
// across daylight-saving changes and past the end of the zone files' transition lists. Expected
// instants were computed independently (Python's zoneinfo).
#include "triggers/cron.hpp"

#include <catch2/catch.hpp>

#include <ctime>

namespace tr = patchbay::triggers;

namespace {

// "2026-03-09T06:30" (UTC) as Unix seconds, and back.
int64_t at(const char* text) {
    std::tm tm{};
    REQUIRE(strptime(text, "%Y-%m-%dT%H:%M", &tm));
    return static_cast<int64_t>(timegm(&tm));
}
std::string show(std::optional<int64_t> t) {
    if (!t) return "never";
    std::time_t s = static_cast<std::time_t>(*t);
    std::tm tm{};
    gmtime_r(&s, &tm);
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M", &tm);
    return buf;
}
std::string next(const char* cron, const char* after, const char* zone = "UTC") {
    auto c = tr::CronSchedule::parse(cron);
    INFO((c ? "" : c.error().message));
    REQUIRE(c.ok());
    auto z = tr::TimeZone::load(zone);
    INFO((z ? "" : z.error().message));
    REQUIRE(z.ok());
    return show(c->next_after(at(after), *z));
}
std::string parse_error(const char* cron) {
    auto c = tr::CronSchedule::parse(cron);
    REQUIRE_FALSE(c.ok());
    return c.error().message;
}

}  // namespace

TEST_CASE("cron fields: lists, ranges, steps, names and macros", "[cron]") {
    CHECK(next("*/15 * * * *", "2026-11-23T10:07") == "2026-11-23T10:15");
    CHECK(next("*/15 * * * *", "2026-11-23T10:45") == "2026-11-23T11:00");
    CHECK(next("5,35 8-9 * * *", "2026-11-23T09:36") == "2026-11-24T08:05");
    CHECK(next("0 9 * * mon-fri", "2026-11-21T12:00") == "2026-11-23T09:00");  // Saturday -> Monday
    CHECK(next("0 9 * * 1-5", "2026-11-23T09:00") == "2026-11-24T09:00");      // strictly after
    CHECK(next("0 0 1 jan,jul *", "2026-02-01T00:00") == "2026-07-01T00:00");
    CHECK(next("30 4 * * 7", "2026-11-23T00:00") == "2026-11-29T04:30");  // 7 is Sunday too
    CHECK(next("0 0 29 2 *", "2026-03-01T00:00") == "2028-02-29T00:00");
    CHECK(next("0 0 30 2 *", "2026-03-01T00:00") == "never");
    // Both day fields restricted: either matches (the 13th, or a Friday).
    CHECK(next("0 0 13 * fri", "2026-11-23T00:00") == "2026-11-27T00:00");
    CHECK(next("0 0 13 * fri", "2026-11-27T00:00") == "2026-12-04T00:00");
    CHECK(next("0 0 13 * fri", "2026-12-05T00:00") == "2026-12-11T00:00");
    CHECK(next("0 0 13 * fri", "2026-12-11T00:00") == "2026-12-13T00:00");
    CHECK(next("@hourly", "2026-11-23T10:07") == "2026-11-23T11:00");
    CHECK(next("@daily", "2026-11-23T10:07") == "2026-11-24T00:00");
    CHECK(next("@weekly", "2026-11-23T10:07") == "2026-11-29T00:00");
    CHECK(next("@monthly", "2026-11-23T10:07") == "2026-12-01T00:00");
    CHECK(next("@yearly", "2026-11-23T10:07") == "2027-01-01T00:00");

    CHECK(parse_error("* * *").find("has 3 fields") != std::string::npos);
    CHECK(parse_error("60 * * * *").find("minute '60' is not within 0-59") != std::string::npos);
    CHECK(parse_error("0 9 * * fri-mon").find("day of week range 'fri-mon'") != std::string::npos);
    CHECK(parse_error("*/0 * * * *").find("step '0'") != std::string::npos);
    CHECK(parse_error("0 0 * foo *").find("month 'foo'") != std::string::npos);
}

TEST_CASE("cron in a time zone: offsets, daylight saving, half-hour zones, years past the zone file's list", "[cron]") {
    CHECK(next("0 9 * * *", "2026-07-01T00:00", "Europe/Berlin") == "2026-07-01T07:00");  // CEST, +2
    CHECK(next("0 9 * * *", "2026-01-15T00:00", "Europe/Berlin") == "2026-01-15T08:00");  // CET, +1
    CHECK(next("0 9 * * *", "2026-05-05T00:00", "Asia/Kolkata") == "2026-05-05T03:30");
    // Spring forward in New York (2026-03-08, 02:00 -> 03:00): 02:30 does not exist that day.
    CHECK(next("30 2 * * *", "2026-03-08T00:00", "America/New_York") == "2026-03-09T06:30");
    // Fall back (2026-11-01, 02:00 -> 01:00): 01:30 happens twice and fires once.
    CHECK(next("30 1 * * *", "2026-11-01T04:00", "America/New_York") == "2026-11-01T05:30");
    CHECK(next("30 1 * * *", "2026-11-01T05:30", "America/New_York") == "2026-11-02T06:30");
    // Beyond the transitions the file lists (to 2037): its POSIX rule.
    CHECK(next("0 12 1 7 *", "2045-06-01T00:00", "Europe/Berlin") == "2045-07-01T10:00");
    auto berlin = tr::TimeZone::load("Europe/Berlin");
    REQUIRE(berlin.ok());
    CHECK(berlin->offset_at(at("2045-01-01T00:00")) == 3600);
    CHECK(berlin->offset_at(at("2045-07-01T00:00")) == 7200);
    // The southern hemisphere: daylight time spans the new year.
    CHECK(next("0 9 10 * *", "2046-01-01T00:00", "Australia/Sydney") == "2046-01-09T22:00");
    CHECK(next("0 9 10 * *", "2046-07-01T00:00", "Australia/Sydney") == "2046-07-09T23:00");

    auto unknown = tr::TimeZone::load("Mars/Olympus_Mons");
    REQUIRE_FALSE(unknown.ok());
    CHECK(unknown.error().message.find("unknown time zone 'Mars/Olympus_Mons'") != std::string::npos);
    CHECK_FALSE(tr::TimeZone::load("../../etc/passwd").ok());
    CHECK_FALSE(tr::TimeZone::load("/etc/localtime").ok());
    CHECK(tr::TimeZone::load("UTC")->offset_at(at("2026-07-01T00:00")) == 0);
}
