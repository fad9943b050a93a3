#include "api/network_thread.hpp"

#include <fcntl.h>
#include <sched.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <string_view>
#include <vector>

namespace patchbay::api {

SpinPolicy::SpinPolicy(std::chrono::microseconds longest)
    : longest_(std::max(longest, std::chrono::microseconds(1))),
      shortest_(std::min(kShortestWindow, longest_)),
      window_(std::min(kFirstWindow, longest_)),
      typical_(window_ / 2) {}

void SpinPolicy::set_window() {
    auto w = std::chrono::duration_cast<std::chrono::microseconds>(2 * typical_);
    window_ = std::clamp(w, shortest_, longest_);
}

bool SpinPolicy::should_poll(bool cpu_to_spare) {
    if (!cpu_to_spare) return false;
    if (skip_ > 0) {
        --skip_;
        return false;
    }
    return true;
}

void SpinPolicy::found(std::chrono::microseconds after) {
    misses_ = 0;
    // A moving average over about the last four: one quick answer among slow ones does not
    // shrink the window at once.
    typical_ = (3 * typical_ + std::chrono::nanoseconds(std::max(after, std::chrono::microseconds(0)))) / 4;
    set_window();
}

bool SpinPolicy::missed(std::chrono::microseconds after) {
    if (after <= longest_ && window_ < longest_) {
        // Narrowly missed: a longer window would have caught it. Grow at once (the next event is
        // likely as far), without backing off.
        typical_ = std::max(typical_, std::chrono::nanoseconds(after));
        set_window();
        skip_ = 0;
        return true;
    }
    if (misses_ <= kMaxBackoffLog2) ++misses_;
    skip_ = 1u << (misses_ - 1);
    return false;
}

namespace {

unsigned allowed_cpus() {
    cpu_set_t set;
    CPU_ZERO(&set);
    if (sched_getaffinity(0, sizeof set, &set) == 0) {
        int n = CPU_COUNT(&set);
        if (n > 0) return static_cast<unsigned>(n);
    }
    return 1;
}

// The start of a small (procfs, cgroupfs) file; empty when it cannot be read.
std::string read_small_file(const std::string& path, size_t max = 4096) {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return {};
    std::string text(max, '\0');
    size_t got = 0;
    while (got < max) {
        ssize_t n = ::read(fd, text.data() + got, max - got);
        if (n <= 0) break;
        got += static_cast<size_t>(n);
    }
    ::close(fd);
    text.resize(got);
    return text;
}

}  // namespace

CpuHeadroom::CpuHeadroom(CpuSignalFiles files, unsigned cpus)
    : files_(std::move(files)), cpus_(cpus ? cpus : allowed_cpus()),
      // A kernel built with PSI but booted without it has the file, and reading it fails.
      signal_(stalled_us_in(read_small_file(files_.pressure, 256)) >= 0 ? Signal::pressure : Signal::runnable),
      every_(signal_ == Signal::pressure ? std::chrono::nanoseconds(kPressureEvery) : std::chrono::nanoseconds(kRunnableEvery)) {}

namespace {

// The unsigned decimal number at the start of `text`, and where it ends; -1 when there is none or
// it does not fit in an int64_t.
int64_t leading_number(std::string_view text, const char*& end) {
    end = text.data();
    if (text.empty() || text[0] < '0' || text[0] > '9') return -1;
    int64_t n = 0;
    auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
    if (ec != std::errc()) return -1;
    end = p;
    return n;
}

}  // namespace

int64_t CpuHeadroom::stalled_us_in(std::string_view text) {
    // "some avg10=0.04 avg60=1.08 avg300=2.51 total=1704758406\nfull ...": the first line.
    if (text.substr(0, 5) != "some ") return -1;
    text = text.substr(0, text.find('\n'));
    size_t at = text.find(" total=");
    if (at == std::string_view::npos) return -1;
    text.remove_prefix(at + 7);
    const char* end = nullptr;
    int64_t n = leading_number(text, end);
    if (n < 0 || (end != text.data() + text.size() && *end != ' ')) return -1;
    return n;
}

long CpuHeadroom::runnable_in(std::string_view text) {
    // "0.45 1.04 1.26 2/345 12345": skip three fields, then at most 9 digits up to '/'.
    size_t pos = 0;
    for (int field = 0; field < 3; ++field) {
        pos = text.find(' ', pos);
        if (pos == std::string_view::npos) return -1;
        while (pos < text.size() && text[pos] == ' ') ++pos;
    }
    text.remove_prefix(pos);
    const char* end = nullptr;
    int64_t n = leading_number(text, end);
    if (n < 0 || end - text.data() > 9 || end == text.data() + text.size() || *end != '/') return -1;
    return static_cast<long>(n);
}

bool CpuHeadroom::sample(int64_t now_ns) {
    if (signal_ == Signal::runnable) {
        long runnable = runnable_in(read_small_file(files_.loadavg, 128));
        return runnable >= 0 && static_cast<unsigned long>(runnable) <= cpus_;
    }
    int64_t stalled = stalled_us_in(read_small_file(files_.pressure, 256));
    int64_t before = last_stalled_us_, before_ns = last_sample_ns_;
    last_stalled_us_ = stalled;
    last_sample_ns_ = now_ns;
    // No baseline (the first sample, or the last one failed), or a counter that went back.
    if (stalled < 0 || before < 0 || stalled < before || now_ns <= before_ns) return false;
    // waited / elapsed <= kMostStallPercent / 100, in whole numbers (microseconds against ns).
    return (stalled - before) * 1000 * 100 <= kMostStallPercent * (now_ns - before_ns);
}

bool CpuHeadroom::to_spare(std::chrono::steady_clock::time_point now) {
    int64_t ns = std::chrono::duration_cast<std::chrono::nanoseconds>(now.time_since_epoch()).count();
    if (ns >= next_sample_ns_.load(std::memory_order_relaxed) && !sampling_.exchange(true, std::memory_order_acquire)) {
        // Looked again under the flag: another thread may have sampled since the first look.
        if (ns >= next_sample_ns_.load(std::memory_order_relaxed)) {
            spare_.store(sample(ns), std::memory_order_relaxed);
            next_sample_ns_.store(ns + every_.count(), std::memory_order_relaxed);
        }
        sampling_.store(false, std::memory_order_release);
    }
    return spare_.load(std::memory_order_relaxed);
}

NetworkThreadStats run_network_thread(boost::asio::io_context& ctx, const NetworkThreadOptions& options) {
    NetworkThreadStats stats;
    if (options.poll_window.count() <= 0 || !options.headroom) {
        ctx.run();
        return stats;
    }
    using clock = std::chrono::steady_clock;
    auto since = [](clock::time_point from, clock::time_point to) {
        return std::chrono::duration_cast<std::chrono::microseconds>(to - from);
    };
    SpinPolicy policy(options.poll_window);
    while (!ctx.stopped()) {
        if (ctx.poll() > 0) continue;  // ran what was ready; look again
        if (ctx.stopped()) break;
        auto start = clock::now();
        if (!policy.should_poll(options.headroom->to_spare(start))) {
            ctx.run_one();  // sleeps until the next event
            continue;
        }
        ++stats.polls;
        auto until = start + policy.window();
        bool found = false;
        auto looked = start;  // when the last poll began: the handlers it runs are not the wait
        do {
            if (ctx.poll() > 0) {
                found = true;
                break;
            }
        } while (!ctx.stopped() && (looked = clock::now()) < until);
        if (found) {
            ++stats.found;
            policy.found(since(start, looked));
            continue;
        }
        if (ctx.stopped()) break;
        // The event after a miss is timed with the one handler run_one runs: an upper bound,
        // which only errs towards a longer window.
        if (ctx.run_one() > 0 && policy.missed(since(start, clock::now()))) ++stats.near_misses;
    }
    stats.window = policy.window();
    return stats;
}

namespace {

// The group `path` ("/a/b") and each of its parents up to the root ("/"), deepest first.
std::vector<std::string> group_and_parents(std::string path) {
    std::vector<std::string> out;
    while (!path.empty()) {
        out.push_back(path);
        if (path == "/") break;
        auto slash = path.rfind('/');
        if (slash == std::string::npos) break;
        path.resize(slash == 0 ? 1 : slash);
    }
    return out;
}

std::string under(const std::string& mount, const std::string& group) { return mount + (group == "/" ? std::string() : group); }

}  // namespace

bool cpu_quota_limited(std::string_view self_cgroup, const std::string& cgroupfs) {
    // /proc/self/cgroup has one line per hierarchy, "ID:CONTROLLERS:/path". A quota on our group
    // or any parent caps us. Inside a container with its own cgroup namespace the group is "/",
    // and its limit sits at the mount's top (the host's root group has no such file).
    size_t pos = 0;
    while (pos < self_cgroup.size()) {
        size_t nl = self_cgroup.find('\n', pos);
        std::string_view line = self_cgroup.substr(pos, nl == std::string_view::npos ? std::string_view::npos : nl - pos);
        pos = nl == std::string_view::npos ? self_cgroup.size() : nl + 1;
        size_t c1 = line.find(':');
        size_t c2 = c1 == std::string_view::npos ? c1 : line.find(':', c1 + 1);
        if (c2 == std::string_view::npos) continue;
        std::string_view controllers = line.substr(c1 + 1, c2 - c1 - 1);
        std::string group(line.substr(c2 + 1));
        if (group.empty() || group[0] != '/') continue;
        if (controllers.empty()) {  // cgroup v2: "max 100000" is no quota, "50000 100000" half a CPU
            for (const auto& g : group_and_parents(group)) {
                std::string cpu_max = read_small_file(under(cgroupfs, g) + "/cpu.max");
                if (!cpu_max.empty() && cpu_max.rfind("max", 0) != 0) return true;
            }
            continue;
        }
        // cgroup v1: the cpu controller (mounted alone or as "cpu,cpuacct"); a quota of -1 is none.
        bool cpu = false;
        for (size_t at = 0; at <= controllers.size();) {
            size_t comma = controllers.find(',', at);
            if (controllers.substr(at, comma == std::string_view::npos ? std::string_view::npos : comma - at) == "cpu") cpu = true;
            if (comma == std::string_view::npos) break;
            at = comma + 1;
        }
        if (!cpu) continue;
        for (const char* mount : {"/cpu", "/cpu,cpuacct", "/cpuacct,cpu"})
            for (const auto& g : group_and_parents(group)) {
                std::string quota = read_small_file(under(cgroupfs + mount, g) + "/cpu.cfs_quota_us");
                if (!quota.empty() && quota[0] >= '1' && quota[0] <= '9') return true;
            }
    }
    return false;
}

bool cpu_quota_limited() { return cpu_quota_limited(read_small_file("/proc/self/cgroup"), "/sys/fs/cgroup"); }

}  // namespace patchbay::api
