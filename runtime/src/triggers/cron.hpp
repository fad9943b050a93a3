// Cron schedules in a time zone: when a schedule trigger fires next.
//
// Expressions have the five classic fields (minute, hour, day of month, month, day of week) with
// lists, ranges, steps and month/day names, or one of @hourly, @daily (@midnight), @weekly,
// @monthly, @yearly (@annually). As in Vixie cron, when both day fields are restricted a day
// matches if either does.
//
// Time zones are the system's IANA database (TZDIR, else /usr/share/zoneinfo), read from its
// TZif files: the transitions they list, then the POSIX rule at their end for later years. Across
// a daylight-saving change, a wall time that does not exist that day is skipped and one that
// happens twice fires once.
#pragma once

#include "common/error.hpp"

#include <bitset>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace patchbay::triggers {

class TimeZone {
public:
    static TimeZone utc();
    // "Europe/Berlin", "UTC" ... Errors name the zone and say where zones come from.
    static Result<TimeZone> load(std::string_view name);

    // Seconds to add to a UTC time (Unix seconds) to get the wall time there.
    int64_t offset_at(int64_t utc) const;
    const std::string& name() const { return name_; }

private:
    struct Rule {  // a POSIX TZ rule: "CET-1CEST,M3.5.0,M10.5.0/3"
        int64_t std_offset = 0, dst_offset = 0;
        bool has_dst = false;
        struct When {
            char kind = 'M';  // 'M' month.week.day, 'J' julian 1-365, 'n' day 0-365
            int month = 0, week = 0, day = 0;
            int64_t time = 7200;  // seconds after local midnight
        } start, end;
    };
    static std::optional<Rule> parse_rule(std::string_view tz);
    static int64_t transition(const Rule::When& w, int year, int64_t offset);
    int64_t rule_offset(int64_t utc) const;

    std::string name_;
    std::vector<int64_t> transitions_;  // UTC seconds, ascending
    std::vector<int64_t> offsets_;      // offset in force from each transition on
    int64_t initial_offset_ = 0;
    std::optional<Rule> rule_;
};

class CronSchedule {
public:
    static Result<CronSchedule> parse(std::string_view expression);

    // The first minute strictly after `after` (UTC seconds) whose wall time in `tz` matches, as
    // UTC seconds; nullopt if none within five years (say, "0 0 30 2 *").
    std::optional<int64_t> next_after(int64_t after, const TimeZone& tz) const;
    const std::string& expression() const { return text_; }

private:
    bool day_matches(int mday, int month, int wday) const;

    std::string text_;
    std::bitset<60> minutes_;
    std::bitset<24> hours_;
    std::bitset<32> mdays_;
    std::bitset<13> months_;
    std::bitset<7> wdays_;
    bool mday_any_ = false, wday_any_ = false;
};

}  // namespace patchbay::triggers
