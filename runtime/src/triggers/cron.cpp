#include "triggers/cron.hpp"

#include "common/text.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>
#include <cstdlib>
#include <fstream>
#include <sstream>

namespace patchbay::triggers {

namespace {

// Days since 1970-01-01 of a proleptic Gregorian date, and back (era-based arithmetic).
int64_t days_from_civil(int64_t y, int m, int d) {
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

struct Civil {
    int64_t year;
    int month, day;
};

Civil civil_from_days(int64_t z) {
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t y = yoe + era * 400;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    int d = static_cast<int>(doy - (153 * mp + 2) / 5 + 1);
    int m = static_cast<int>(mp < 10 ? mp + 3 : mp - 9);
    return {y + (m <= 2), m, d};
}

int64_t floor_div(int64_t a, int64_t b) { return a / b - ((a % b != 0) && ((a < 0) != (b < 0))); }

bool leap(int64_t y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

int64_t be64(const unsigned char* p) {
    uint64_t v = 0;
    for (int i = 0; i < 8; ++i) v = (v << 8) | p[i];
    return static_cast<int64_t>(v);
}
int32_t be32(const unsigned char* p) { return static_cast<int32_t>((uint32_t(p[0]) << 24) | (uint32_t(p[1]) << 16) | (uint32_t(p[2]) << 8) | p[3]); }

// [+-]hh[:mm[:ss]]
std::optional<int64_t> parse_hms(std::string_view& s) {
    int sign = 1;
    if (!s.empty() && (s[0] == '+' || s[0] == '-')) {
        sign = s[0] == '-' ? -1 : 1;
        s.remove_prefix(1);
    }
    int64_t total = 0;
    for (int part = 0; part < 3; ++part) {
        int64_t n = 0;
        auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), n);
        if (ec != std::errc()) return part == 0 ? std::nullopt : std::optional<int64_t>(sign * total);
        total += n * (part == 0 ? 3600 : part == 1 ? 60 : 1);
        s.remove_prefix(static_cast<size_t>(end - s.data()));
        if (s.empty() || s[0] != ':' || part == 2) break;
        s.remove_prefix(1);
    }
    return sign * total;
}

bool skip_name(std::string_view& s) {
    if (!s.empty() && s[0] == '<') {
        auto close = s.find('>');
        if (close == std::string_view::npos) return false;
        s.remove_prefix(close + 1);
        return true;
    }
    size_t n = 0;
    while (n < s.size() && std::isalpha(static_cast<unsigned char>(s[n]))) ++n;
    if (n < 3) return false;
    s.remove_prefix(n);
    return true;
}

}  // namespace

TimeZone TimeZone::utc() {
    TimeZone z;
    z.name_ = "UTC";
    return z;
}

Result<TimeZone> TimeZone::load(std::string_view name) {
    if (name.empty() || name == "UTC" || name == "Etc/UTC" || name == "Z") return utc();
    bool ok = name.front() != '/' && name.find("..") == std::string_view::npos;
    for (char c : name) ok = ok && (std::isalnum(static_cast<unsigned char>(c)) || c == '/' || c == '_' || c == '-' || c == '+');
    if (!ok) return Error(Errc::invalid_input, "'" + std::string(name) + "' is not a time zone name; use an IANA name such as Europe/Berlin");
    const char* dir = std::getenv("TZDIR");
    std::string path = std::string(dir && *dir ? dir : "/usr/share/zoneinfo") + "/" + std::string(name);
    std::ifstream in(path, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    std::string data = ss.str();
    auto bad = [&] {
        return Error(Errc::invalid_input, "unknown time zone '" + std::string(name) + "' (not in " + (dir && *dir ? std::string(dir) : "/usr/share/zoneinfo") +
                                              "; the tzdata package provides them); use an IANA name such as America/New_York");
    };
    if (!in.good() && data.empty()) return bad();
    auto u = reinterpret_cast<const unsigned char*>(data.data());
    if (data.size() < 44 || data.compare(0, 4, "TZif") != 0) return bad();
    auto counts = [&](size_t at) {
        std::array<int64_t, 6> c{};
        for (int i = 0; i < 6; ++i) c[i] = be32(u + at + 20 + 4 * i);
        return c;  // isut, isstd, leap, time, type, char
    };
    auto c1 = counts(0);
    TimeZone z;
    z.name_ = std::string(name);
    size_t at = 44;
    size_t time_size = 4;
    if (data[4] >= '2') {  // skip the 32-bit block, read the 64-bit one
        at += c1[3] * 4 + c1[3] + c1[4] * 6 + c1[5] + c1[2] * 8 + c1[1] + c1[0];
        if (data.size() < at + 44 || data.compare(at, 4, "TZif") != 0) return bad();
        c1 = counts(at);
        at += 44;
        time_size = 8;
    }
    size_t need = c1[3] * time_size + c1[3] + c1[4] * 6 + c1[5] + c1[2] * (time_size + 4) + c1[1] + c1[0];
    if (data.size() < at + need || c1[4] < 1) return bad();
    std::vector<int64_t> times;
    for (int64_t i = 0; i < c1[3]; ++i) times.push_back(time_size == 8 ? be64(u + at + i * 8) : be32(u + at + i * 4));
    size_t idx_at = at + c1[3] * time_size, types_at = idx_at + c1[3];
    std::vector<int64_t> type_offsets;
    for (int64_t i = 0; i < c1[4]; ++i) type_offsets.push_back(be32(u + types_at + i * 6));
    for (int64_t i = 0; i < c1[3]; ++i) {
        size_t t = u[idx_at + i];
        if (t >= type_offsets.size()) return bad();
        z.transitions_.push_back(times[i]);
        z.offsets_.push_back(type_offsets[t]);
    }
    z.initial_offset_ = type_offsets[0];
    if (time_size == 8) {
        size_t footer = at + need;
        if (footer < data.size() && data[footer] == '\n') {
            auto end = data.find('\n', footer + 1);
            if (end != std::string::npos) z.rule_ = parse_rule(std::string_view(data).substr(footer + 1, end - footer - 1));
        }
    }
    return z;
}

std::optional<TimeZone::Rule> TimeZone::parse_rule(std::string_view s) {
    Rule r;
    if (!skip_name(s)) return std::nullopt;
    auto std_off = parse_hms(s);
    if (!std_off) return std::nullopt;
    r.std_offset = -*std_off;  // POSIX offsets count west of Greenwich
    if (s.empty()) return r;
    if (!skip_name(s)) return std::nullopt;
    r.has_dst = true;
    r.dst_offset = r.std_offset + 3600;
    if (!s.empty() && s[0] != ',') {
        auto d = parse_hms(s);
        if (!d) return std::nullopt;
        r.dst_offset = -*d;
    }
    auto when = [&](Rule::When& w) -> bool {
        if (s.empty() || s[0] != ',') return false;
        s.remove_prefix(1);
        auto number = [&](int& out) {
            auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
            if (ec != std::errc()) return false;
            s.remove_prefix(static_cast<size_t>(end - s.data()));
            return true;
        };
        if (!s.empty() && s[0] == 'M') {
            s.remove_prefix(1);
            w.kind = 'M';
            if (!number(w.month) || s.empty() || s[0] != '.') return false;
            s.remove_prefix(1);
            if (!number(w.week) || s.empty() || s[0] != '.') return false;
            s.remove_prefix(1);
            if (!number(w.day)) return false;
        } else if (!s.empty() && s[0] == 'J') {
            s.remove_prefix(1);
            w.kind = 'J';
            if (!number(w.day)) return false;
        } else {
            w.kind = 'n';
            if (!number(w.day)) return false;
        }
        if (!s.empty() && s[0] == '/') {
            s.remove_prefix(1);
            auto t = parse_hms(s);
            if (!t) return false;
            w.time = *t;
        }
        return true;
    };
    if (!when(r.start) || !when(r.end)) return std::nullopt;
    return r;
}

// The UTC time of a rule's transition in `year`, given the wall clock's offset before it.
int64_t TimeZone::transition(const Rule::When& w, int year, int64_t offset) {
    int64_t day;  // days since the epoch of the transition's local date
    if (w.kind == 'M') {
        int64_t first = days_from_civil(year, w.month, 1);
        int wday_first = static_cast<int>(((first % 7) + 11) % 7);  // 1970-01-01 was a Thursday (4)
        int64_t d = first + ((w.day - wday_first + 7) % 7) + 7 * (w.week - 1);
        static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
        int64_t len = mdays[w.month - 1] + (w.month == 2 && leap(year));
        while (d >= first + len) d -= 7;  // week 5 = the last one
        day = d;
    } else if (w.kind == 'J') {
        day = days_from_civil(year, 1, 1) + w.day - 1 + (leap(year) && w.day >= 60);
    } else {
        day = days_from_civil(year, 1, 1) + w.day;
    }
    return day * 86400 + w.time - offset;
}

int64_t TimeZone::rule_offset(int64_t utc) const {
    const Rule& r = *rule_;
    if (!r.has_dst) return r.std_offset;
    int year = static_cast<int>(civil_from_days(floor_div(utc + r.std_offset, 86400)).year);
    int64_t start = transition(r.start, year, r.std_offset);  // leaves standard time
    int64_t end = transition(r.end, year, r.dst_offset);      // leaves daylight time
    bool dst = start < end ? (utc >= start && utc < end) : (utc >= start || utc < end);
    return dst ? r.dst_offset : r.std_offset;
}

int64_t TimeZone::offset_at(int64_t utc) const {
    if (transitions_.empty()) return rule_ ? rule_offset(utc) : initial_offset_;
    if (utc < transitions_.front()) return initial_offset_;
    if (utc >= transitions_.back() && rule_) return rule_offset(utc);
    auto it = std::upper_bound(transitions_.begin(), transitions_.end(), utc);
    return offsets_[static_cast<size_t>(it - transitions_.begin()) - 1];
}

Result<CronSchedule> CronSchedule::parse(std::string_view expression) {
    std::string text(expression);
    while (!text.empty() && text.back() == ' ') text.pop_back();
    while (!text.empty() && text.front() == ' ') text.erase(0, 1);
    std::string expanded = ascii_lower(text);
    if (expanded == "@yearly" || expanded == "@annually") expanded = "0 0 1 1 *";
    else if (expanded == "@monthly") expanded = "0 0 1 * *";
    else if (expanded == "@weekly") expanded = "0 0 * * 0";
    else if (expanded == "@daily" || expanded == "@midnight") expanded = "0 0 * * *";
    else if (expanded == "@hourly") expanded = "0 * * * *";
    std::vector<std::string> fields;
    std::istringstream words(expanded);
    for (std::string w; words >> w;) fields.push_back(w);
    auto bad = [&](std::string why) {
        return Error(Errc::invalid_input, "cron '" + text + "': " + why + "; write 5 fields: minute hour day-of-month month day-of-week (e.g. '0 9 * * mon-fri')");
    };
    if (fields.size() != 5) return bad("has " + std::to_string(fields.size()) + " fields");
    CronSchedule c;
    c.text_ = text;
    static const char* months[] = {"jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"};
    static const char* days[] = {"sun", "mon", "tue", "wed", "thu", "fri", "sat"};
    struct Spec {
        const char* what;
        int low, high;
        const char* const* names;
        int name_base;
    };
    const Spec specs[] = {{"minute", 0, 59, nullptr, 0}, {"hour", 0, 23, nullptr, 0}, {"day of month", 1, 31, nullptr, 0},
                          {"month", 1, 12, months, 1},   {"day of week", 0, 7, days, 0}};
    for (int f = 0; f < 5; ++f) {
        const Spec& sp = specs[f];
        auto value = [&](std::string_view v) -> std::optional<int> {
            if (sp.names)
                for (int i = 0; i < (f == 3 ? 12 : 7); ++i)
                    if (v == sp.names[i]) return i + sp.name_base;
            int n = 0;
            auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
            if (ec != std::errc() || end != v.data() + v.size() || n < sp.low || n > sp.high) return std::nullopt;
            return n;
        };
        bool any = fields[f][0] == '*';  // "*" or "*/n": the day fields' either-or rule ignores it
        for (const auto& item : comma_list({fields[f]})) {
            std::string_view part = item;
            int step = 1;
            if (auto slash = part.find('/'); slash != std::string_view::npos) {
                auto st = part.substr(slash + 1);
                auto [end, ec] = std::from_chars(st.data(), st.data() + st.size(), step);
                if (ec != std::errc() || end != st.data() + st.size() || step < 1) return bad(std::string(sp.what) + " step '" + std::string(st) + "' is not a positive number");
                part = part.substr(0, slash);
            }
            int from, to;
            if (part == "*") {
                from = sp.low;
                to = sp.high == 7 ? 6 : sp.high;
            } else if (auto dash = part.find('-'); dash != std::string_view::npos) {
                auto a = value(part.substr(0, dash)), b = value(part.substr(dash + 1));
                if (!a || !b || *a > *b) return bad(std::string(sp.what) + " range '" + std::string(part) + "' is not within " + std::to_string(sp.low) + "-" + std::to_string(sp.high));
                from = *a;
                to = *b;
            } else {
                auto a = value(part);
                if (!a) return bad(std::string(sp.what) + " '" + std::string(part) + "' is not within " + std::to_string(sp.low) + "-" + std::to_string(sp.high));
                from = *a;
                to = item.find('/') != std::string::npos ? (sp.high == 7 ? 6 : sp.high) : *a;  // "5/15" = from 5 on
            }
            for (int v = from; v <= to; v += step) {
                switch (f) {
                    case 0: c.minutes_.set(v); break;
                    case 1: c.hours_.set(v); break;
                    case 2: c.mdays_.set(v); break;
                    case 3: c.months_.set(v); break;
                    default: c.wdays_.set(v % 7); break;  // 7 is Sunday too
                }
            }
        }
        if (f == 2) c.mday_any_ = any;
        if (f == 4) c.wday_any_ = any;
    }
    return c;
}

bool CronSchedule::day_matches(int mday, int month, int wday) const {
    if (!months_.test(month)) return false;
    if (mday_any_ && wday_any_) return true;
    if (mday_any_) return wdays_.test(wday);
    if (wday_any_) return mdays_.test(mday);
    return mdays_.test(mday) || wdays_.test(wday);  // both restricted: either (Vixie cron)
}

std::optional<int64_t> CronSchedule::next_after(int64_t after, const TimeZone& tz) const {
    int64_t t = floor_div(after, 60) * 60 + 60;
    int64_t last_wall = after + tz.offset_at(after);
    const int64_t limit = after + int64_t{5} * 366 * 86400;
    while (t <= limit) {
        int64_t wall = t + tz.offset_at(t);
        int64_t day = floor_div(wall, 86400);
        int64_t sec = wall - day * 86400;
        int minute = static_cast<int>(sec / 60 % 60), hour = static_cast<int>(sec / 3600);
        Civil cv = civil_from_days(day);
        int wday = static_cast<int>(((day % 7) + 11) % 7);
        if (!day_matches(cv.day, cv.month, wday)) {
            // To (about) the next local midnight: two hours early, in case the offset changes on
            // the way, then by the hour.
            int64_t jump = (86400 - sec) - 7200;
            t += jump >= 3600 ? jump : std::max<int64_t>(60, (60 - minute) * 60);
            continue;
        }
        if (!hours_.test(hour)) {
            t += std::max<int64_t>(60, (60 - minute) * 60);
            continue;
        }
        // A wall time already passed (the repeated hour when clocks go back) does not fire again.
        if (minutes_.test(minute) && wall > last_wall) return t;
        t += 60;
    }
    return std::nullopt;
}

}  // namespace patchbay::triggers
