// How a network thread waits for its next event: sleep in the kernel at once, or first poll for
// a short while (busy polling), and when polling is worth its CPU.
//
// A sleeping thread must be woken to go on, and a wake-up costs a few microseconds on bare metal
// and tens to hundreds on many virtual machines (an idle vCPU is halted by the host), on every
// hop of a proxied call. Polling for a moment before sleeping saves that when the next event is
// close, and wastes the CPU it burns when it is not, or when another process needs that CPU. So a
// thread polls only
// - for about twice as long as its next event has lately taken to come, learned from what its
//   polls found and from how soon events came after the ones that missed, and never longer than
//   the configured longest window (--busy-poll-us);
// - when its recent polls found work, or missed it only narrowly (after each poll whose event
//   came later than the longest window, it skips twice as many chances to poll as the last time,
//   up to 1024, and starts again after one that found work), and
// - while the machine has a CPU to spare: since the last sample (25 ms or more ago), threads
//   waited for a CPU at most a fifth of the time (the kernel's CPU pressure,
//   /proc/pressure/cpu), or, where the kernel has no pressure accounting, no more threads are
//   runnable than this process may use CPUs (/proc/loadavg).
#pragma once

#include <boost/asio/io_context.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

namespace patchbay::api {

// Whether to poll at each chance (each time a thread runs out of ready work) and for how long,
// learning from what the polls found. One per thread; not thread-safe.
class SpinPolicy {
public:
    static constexpr unsigned kMaxBackoffLog2 = 10;  // skip at most 1024 chances in a row
    static constexpr std::chrono::microseconds kShortestWindow{20};
    static constexpr std::chrono::microseconds kFirstWindow{50};

    // `longest`: the longest window (above zero); the shortest and the first are capped by it.
    explicit SpinPolicy(std::chrono::microseconds longest);

    // Whether to poll now. `cpu_to_spare` false: never (and it says nothing about the next event).
    bool should_poll(bool cpu_to_spare);
    // How long the poll that should_poll allows may last.
    std::chrono::microseconds window() const { return window_; }
    // The poll found work `after` it began.
    void found(std::chrono::microseconds after);
    // The poll found nothing in its window; the thread then slept, and its next event came
    // `after` the poll began. Within the longest window, the window grows to catch the next one
    // like it, and there is no back-off (a narrow miss: true); later, or when the window is the
    // longest already, the thread backs off (false).
    bool missed(std::chrono::microseconds after);

    unsigned chances_to_skip() const { return skip_; }

private:
    void set_window();

    std::chrono::microseconds longest_, shortest_, window_;
    std::chrono::nanoseconds typical_;  // how soon the next event has lately come (a moving average)
    unsigned skip_ = 0;      // chances left to skip before the next poll
    unsigned misses_ = 0;    // polls in a row whose event came after the longest window
};

// The files CpuHeadroom reads; tests point them at fixtures.
struct CpuSignalFiles {
    std::string pressure = "/proc/pressure/cpu";
    std::string loadavg = "/proc/loadavg";
};

// Whether the machine has a CPU to spare, sampled at most once per interval and shared by all
// network threads. Two signals, chosen once when it is made:
// - CPU pressure (Linux 4.20+ with PSI on): the share of the time since the last sample in which
//   some runnable thread waited for a CPU ("some ... total=" microseconds). Spare while that is
//   at most kMostStallPercent. It counts waiting, not running, so a polling thread that keeps a CPU busy
//   counts only when another thread queues behind it. The first sample is the baseline and
//   counts as "no CPU to spare". Sampled every kPressureEvery, not more often: each read of the
//   file folds the kernel's per-CPU times into the total, weighting each CPU by its busy time in
//   whole scheduler ticks (4 ms at HZ=250, 10 ms at HZ=100), so a read less than a tick after the
//   last one adds nothing, for this reader and for every other reader of the file.
// - Otherwise the runnable-thread count (the fourth field of /proc/loadavg, "runnable/total") at
//   one instant, every kRunnableEvery, at most the number of CPUs this process may run on. It
//   counts the polling thread itself, and one extra runnable thread at that instant closes the
//   gate until the next sample: on a noisy host it is often closed when it should not be.
// A signal that cannot be read or parsed counts as "no CPU to spare": without it, polling is not
// risked.
class CpuHeadroom {
public:
    static constexpr int64_t kMostStallPercent = 20;
    static constexpr std::chrono::milliseconds kPressureEvery{25};
    static constexpr std::chrono::milliseconds kRunnableEvery{5};
    enum class Signal { pressure, runnable };

    explicit CpuHeadroom(CpuSignalFiles files = {}, unsigned cpus = 0);

    bool to_spare(std::chrono::steady_clock::time_point now);
    unsigned cpus() const { return cpus_; }
    Signal signal() const { return signal_; }
    static const char* name(Signal s) { return s == Signal::pressure ? "cpu pressure" : "runnable threads"; }

    // The runnable-thread count in /proc/loadavg text, or -1 when it has none.
    static long runnable_in(std::string_view loadavg_text);
    // The "some" line's total (microseconds any thread waited for a CPU) in /proc/pressure/cpu
    // text, or -1 when it has none.
    static int64_t stalled_us_in(std::string_view pressure_text);

private:
    bool sample(int64_t now_ns);

    CpuSignalFiles files_;
    unsigned cpus_;
    Signal signal_;
    std::chrono::nanoseconds every_;
    // Written only by the thread that holds `sampling_`.
    int64_t last_stalled_us_ = -1;
    int64_t last_sample_ns_ = 0;
    std::atomic<int64_t> next_sample_ns_{0};
    std::atomic<bool> spare_{false};
    std::atomic<bool> sampling_{false};
};

struct NetworkThreadOptions {
    // The longest a thread polls before it sleeps, when it polls at all (it learns a window up to
    // this); zero: it always sleeps.
    std::chrono::microseconds poll_window{0};
    CpuHeadroom* headroom = nullptr;  // required when poll_window is above zero
};

struct NetworkThreadStats {
    uint64_t polls = 0;       // polls started
    uint64_t found = 0;       // polls that found work before their window ended
    uint64_t near_misses = 0; // polls that missed narrowly: the window grew, with no back-off
    std::chrono::microseconds window{0};  // the window the thread had learned when it stopped
};

// Runs `ctx` until it is stopped (as io_context::run would), polling as described above.
NetworkThreadStats run_network_thread(boost::asio::io_context& ctx, const NetworkThreadOptions& options);

// Whether this process's CPU time is capped (a cgroup v2 `cpu.max` or v1 `cpu.cfs_quota_us`
// quota on its group or a parent, as containers with a CPU limit have): polling then spends the
// quota and is off by default. False when unknown.
bool cpu_quota_limited();
// The same from the text of /proc/self/cgroup and the folder cgroup file systems are mounted
// under (/sys/fs/cgroup). Exposed for tests.
bool cpu_quota_limited(std::string_view self_cgroup, const std::string& cgroupfs);

}  // namespace patchbay::api
