#include "api/network_thread.hpp"
#include "test_support.hpp"

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <catch2/catch.hpp>
#include <fstream>

#include <functional>
#include <thread>

using namespace testing;
namespace api = patchbay::api;
using namespace std::chrono_literals;

TEST_CASE("spin policy: polls while polls find work, backs off exponentially after far misses", "[network]") {
    api::SpinPolicy p(500us);
    for (int i = 0; i < 5; ++i) {
        REQUIRE(p.should_poll(true));
        p.found(10us);
    }
    // Each miss in a row whose event came after the longest window doubles the chances skipped
    // before the next poll: 1, 2, 4, ...
    size_t expected_skip = 1;
    for (int miss = 0; miss < 4; ++miss) {
        REQUIRE(p.should_poll(true));
        p.missed(20ms);
        for (size_t i = 0; i < expected_skip; ++i) REQUIRE_FALSE(p.should_poll(true));
        expected_skip *= 2;
    }
    // One poll that finds work starts the series again.
    REQUIRE(p.should_poll(true));
    p.found(10us);
    REQUIRE(p.should_poll(true));
    p.missed(20ms);
    REQUIRE_FALSE(p.should_poll(true));
    REQUIRE(p.should_poll(true));
}

TEST_CASE("spin policy: the back-off stops growing at 1024 skipped chances", "[network]") {
    api::SpinPolicy p(500us);
    for (int miss = 0; miss < 30; ++miss) {
        while (!p.should_poll(true)) {}
        p.missed(1s);
    }
    REQUIRE(p.chances_to_skip() == 1024);
}

TEST_CASE("spin policy: never polls without a CPU to spare, and that does not count as a miss", "[network]") {
    api::SpinPolicy p(500us);
    for (int i = 0; i < 10; ++i) REQUIRE_FALSE(p.should_poll(false));
    REQUIRE(p.chances_to_skip() == 0);
    REQUIRE(p.should_poll(true));
}

TEST_CASE("spin policy: the window learns how soon events come, within its bounds", "[network]") {
    api::SpinPolicy p(500us);
    REQUIRE(p.window() == api::SpinPolicy::kFirstWindow);

    SECTION("a narrow miss grows the window to twice the wait, with no back-off") {
        REQUIRE(p.missed(150us));
        REQUIRE(p.window() == 300us);
        REQUIRE(p.chances_to_skip() == 0);
        REQUIRE(p.should_poll(true));
        // Events that keep coming at about that distance are found, and the window stays.
        for (int i = 0; i < 20; ++i) p.found(150us);
        REQUIRE(p.window() >= 290us);
        REQUIRE(p.window() <= 310us);
    }
    SECTION("never longer than the longest window") {
        p.missed(450us);
        REQUIRE(p.window() == 500us);
        // At the longest window already, a miss backs off like a far one.
        REQUIRE_FALSE(p.missed(480us));
        REQUIRE(p.chances_to_skip() == 1);
    }
    SECTION("quick answers shrink it, gradually, down to the shortest window") {
        p.missed(200us);
        REQUIRE(p.window() == 400us);
        p.found(0us);
        REQUIRE(p.window() < 400us);
        REQUIRE(p.window() > 200us);  // one quick answer among slow ones does not halve it
        for (int i = 0; i < 50; ++i) p.found(1us);
        REQUIRE(p.window() == api::SpinPolicy::kShortestWindow);
    }
    SECTION("a far miss leaves the window as it was") {
        p.missed(100us);
        auto w = p.window();
        REQUIRE_FALSE(p.missed(50ms));
        REQUIRE(p.window() == w);
        REQUIRE(p.chances_to_skip() == 1);
    }
    SECTION("a longest window below the first and the shortest caps both") {
        api::SpinPolicy tiny(10us);
        REQUIRE(tiny.window() == 10us);
        tiny.found(0us);
        REQUIRE(tiny.window() == 10us);
        tiny.missed(8us);  // at the longest already: backs off
        REQUIRE(tiny.chances_to_skip() == 1);
    }
}

TEST_CASE("cpu headroom: reads the runnable count of /proc/loadavg", "[network]") {
    REQUIRE(api::CpuHeadroom::runnable_in("0.45 1.04 1.26 2/345 12345\n") == 2);
    REQUIRE(api::CpuHeadroom::runnable_in("12.00 8.50 7.25 17/1203 999") == 17);
    REQUIRE(api::CpuHeadroom::runnable_in("") == -1);
    REQUIRE(api::CpuHeadroom::runnable_in("0.45 1.04 1.26") == -1);
    REQUIRE(api::CpuHeadroom::runnable_in("0.45 1.04 1.26 x/345 1") == -1);
    REQUIRE(api::CpuHeadroom::runnable_in("0.45 1.04 1.26 3 1") == -1);

    // The real file parses on this machine (Linux).
    api::CpuHeadroom real;
    REQUIRE(real.cpus() >= 1);
    std::string text = read_file("/proc/loadavg");
    REQUIRE(api::CpuHeadroom::runnable_in(text) >= 1);  // at least this test is running
}

TEST_CASE("cpu headroom: reads the stall total of /proc/pressure/cpu", "[network]") {
    REQUIRE(api::CpuHeadroom::stalled_us_in("some avg10=0.04 avg60=1.08 avg300=2.51 total=1704758406\n"
                                            "full avg10=0.00 avg60=0.00 avg300=0.00 total=0\n") == 1704758406);
    REQUIRE(api::CpuHeadroom::stalled_us_in("some avg10=0.00 avg60=0.00 avg300=0.00 total=0") == 0);
    REQUIRE(api::CpuHeadroom::stalled_us_in("") == -1);
    // Only the "some" line counts, and it comes first.
    REQUIRE(api::CpuHeadroom::stalled_us_in("full avg10=0.00 avg60=0.00 avg300=0.00 total=12\n") == -1);
    REQUIRE(api::CpuHeadroom::stalled_us_in("some avg10=0.04 avg60=1.08 avg300=2.51\nfull avg10=0 total=5\n") == -1);
    REQUIRE(api::CpuHeadroom::stalled_us_in("some avg10=0.04 total=\n") == -1);
    REQUIRE(api::CpuHeadroom::stalled_us_in("some avg10=0.04 total=12x\n") == -1);
    REQUIRE(api::CpuHeadroom::stalled_us_in("some total=99999999999999999999999\n") == -1);  // overflows
}

TEST_CASE("cpu headroom, runnable threads: spare while no more are runnable than CPUs, sampled at most once per interval", "[network]") {
    TempDir dir;
    auto file = dir / "loadavg";
    write_file(file, "0.10 0.20 0.30 2/100 4242\n");
    api::CpuHeadroom h({(dir / "no-pressure").string(), file.string()}, 2);
    REQUIRE(api::CpuHeadroom::kRunnableEvery == 5ms);
    REQUIRE(h.signal() == api::CpuHeadroom::Signal::runnable);
    auto t0 = std::chrono::steady_clock::now();
    REQUIRE(h.to_spare(t0));

    write_file(file, "3.10 2.20 1.30 5/100 4242\n");
    REQUIRE(h.to_spare(t0 + 1ms));        // the last sample still holds
    REQUIRE_FALSE(h.to_spare(t0 + 6ms));  // sampled again: 5 runnable on 2 CPUs
    write_file(file, "3.10 2.20 1.30 1/100 4242\n");
    REQUIRE(h.to_spare(t0 + 12ms));

    // No signal, no polling.
    api::CpuHeadroom missing({(dir / "no-pressure").string(), (dir / "nothing-here").string()}, 2);
    REQUIRE_FALSE(missing.to_spare(t0));
    write_file(file, "garbage\n");
    REQUIRE_FALSE(h.to_spare(t0 + 20ms));
}

TEST_CASE("cpu headroom, cpu pressure: spare while threads waited for a CPU at most a fifth of the time since the last sample", "[network]") {
    TempDir dir;
    auto file = dir / "pressure";
    auto psi = [](int64_t total) {
        return "some avg10=0.00 avg60=0.00 avg300=0.00 total=" + std::to_string(total) +
               "\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=0\n";
    };
    write_file(file, psi(1'000'000));
    // A busy loadavg beside it: the pressure signal wins when the kernel has it.
    write_file(dir / "loadavg", "9.00 9.00 9.00 9/100 1\n");
    api::CpuHeadroom h({file.string(), (dir / "loadavg").string()}, 2);
    REQUIRE(h.signal() == api::CpuHeadroom::Signal::pressure);

    // Samples 25 ms apart; the stall totals below are in microseconds.
    const auto step = api::CpuHeadroom::kPressureEvery;
    REQUIRE(step == 25ms);
    auto t0 = std::chrono::steady_clock::now();
    REQUIRE_FALSE(h.to_spare(t0));  // the first sample is only the baseline

    write_file(file, psi(1'002'500));          // 2.5 ms of waiting in the next 25 ms: 10 %
    REQUIRE_FALSE(h.to_spare(t0 + 10ms));      // not sampled yet: the last answer holds
    REQUIRE_FALSE(h.to_spare(t0 + step - 1ms));
    REQUIRE(h.to_spare(t0 + step));

    write_file(file, psi(1'002'500 + 7'500));  // 7.5 ms in 25 ms: 30 %
    REQUIRE_FALSE(h.to_spare(t0 + 2 * step));
    write_file(file, psi(1'010'000 + 5'000));  // 5 ms in 25 ms: 20 %, the most that still counts
    REQUIRE(h.to_spare(t0 + 3 * step));
    write_file(file, psi(1'015'000 + 20'000));  // 80 %, but not sampled before the interval ends
    REQUIRE(h.to_spare(t0 + 3 * step + 20ms));  // still the last answer

    // A counter that goes back, or a file that stops parsing, is no signal: no polling, and the
    // next good sample is a new baseline.
    write_file(file, psi(5));
    REQUIRE_FALSE(h.to_spare(t0 + 4 * step));
    REQUIRE(h.to_spare(t0 + 5 * step));
    write_file(file, "garbage\n");
    REQUIRE_FALSE(h.to_spare(t0 + 6 * step));
    write_file(file, psi(5));
    REQUIRE_FALSE(h.to_spare(t0 + 7 * step));
    REQUIRE(h.to_spare(t0 + 8 * step));
}

TEST_CASE("cpu headroom: a kernel with CPU pressure accounting gets the pressure signal", "[network]") {
    // Where the real file reads (PSI on), the real format must parse; otherwise the fallback.
    std::ifstream pressure("/proc/pressure/cpu");
    std::string first_line;
    bool readable = pressure && std::getline(pressure, first_line) && !first_line.empty();
    api::CpuHeadroom real;
    REQUIRE(real.signal() == (readable ? api::CpuHeadroom::Signal::pressure : api::CpuHeadroom::Signal::runnable));
}

namespace {

// Runs a network thread over a chain of `n` timers, each armed by the previous one's handler to
// fire `gap` later, and returns what the thread reports; `ran` counts the handlers that ran.
api::NetworkThreadStats run_chain(const api::NetworkThreadOptions& opts, int n, std::chrono::microseconds gap, int& ran) {
    boost::asio::io_context ctx;
    boost::asio::steady_timer timer(ctx);
    ran = 0;
    std::function<void()> arm = [&] {
        timer.expires_after(gap);
        timer.async_wait([&](boost::system::error_code ec) {
            if (ec) return;
            if (++ran < n) arm();
        });
    };
    boost::asio::post(ctx, arm);
    return api::run_network_thread(ctx, opts);  // returns once the chain ends: no work is left
}

}  // namespace

TEST_CASE("network thread: runs every handler and returns when its work is done, polling or not", "[network]") {
    TempDir dir;
    write_file(dir / "idle", "0.00 0.00 0.00 1/100 1\n");
    write_file(dir / "busy", "9.00 9.00 9.00 9/100 1\n");
    const std::string no_pressure = (dir / "no-pressure").string();
    api::CpuHeadroom idle({no_pressure, (dir / "idle").string()}, 2);
    api::CpuHeadroom busy({no_pressure, (dir / "busy").string()}, 2);
    int ran = 0;

    SECTION("polling: events soon after the last one are found by polling") {
        // A window far longer than the gap: a poll misses only if this thread is descheduled
        // for the whole window.
        auto st = run_chain({std::chrono::milliseconds(50), &idle}, 20, 200us, ran);
        REQUIRE(ran == 20);
        REQUIRE(st.polls >= 1);
        REQUIRE(st.found >= 1);
        REQUIRE(st.found <= st.polls);
    }
    SECTION("polling: a thread whose first window is too short learns a longer one") {
        // The first window (50 us) misses timers 2 ms apart; each narrow miss grows the window to
        // twice the wait, so the thread ends with a window of about 4 ms and finds the rest.
        auto st = run_chain({std::chrono::milliseconds(10), &idle}, 20, 2ms, ran);
        REQUIRE(ran == 20);
        REQUIRE(st.near_misses >= 1);
        REQUIRE(st.window >= 2ms);
        REQUIRE(st.window <= 10ms);
        REQUIRE(st.found >= 1);
    }
    SECTION("polling: events later than the longest window leave the window short") {
        auto st = run_chain({std::chrono::microseconds(100), &idle}, 4, 50ms, ran);
        REQUIRE(ran == 4);
        REQUIRE(st.near_misses == 0);
        REQUIRE(st.found == 0);
        REQUIRE(st.window == api::SpinPolicy::kFirstWindow);
    }
    SECTION("polling on the cpu pressure signal: after its baseline sample, polls find work") {
        write_file(dir / "calm", "some avg10=0.00 avg60=0.00 avg300=0.00 total=777\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=0\n");
        api::CpuHeadroom calm({(dir / "calm").string(), (dir / "busy").string()}, 2);
        REQUIRE(calm.signal() == api::CpuHeadroom::Signal::pressure);
        // 40 timers 2 ms apart: the gate opens at the second sample, 25 ms after the baseline.
        auto st = run_chain({std::chrono::milliseconds(10), &calm}, 40, 2ms, ran);
        REQUIRE(ran == 40);
        REQUIRE(st.polls >= 1);
        REQUIRE(st.found >= 1);
    }
    SECTION("no CPU to spare: the thread sleeps instead") {
        auto st = run_chain({std::chrono::milliseconds(50), &busy}, 20, 200us, ran);
        REQUIRE(ran == 20);
        REQUIRE(st.polls == 0);
    }
    SECTION("window zero: never polls") {
        auto st = run_chain({std::chrono::microseconds(0), &idle}, 20, 200us, ran);
        REQUIRE(ran == 20);
        REQUIRE(st.polls == 0);
    }
}

TEST_CASE("network thread: stop() from another thread ends a polling thread", "[network]") {
    TempDir dir;
    write_file(dir / "idle", "0.00 0.00 0.00 1/100 1\n");
    api::CpuHeadroom idle({(dir / "no-pressure").string(), (dir / "idle").string()}, 2);
    boost::asio::io_context ctx;
    auto guard = boost::asio::make_work_guard(ctx);
    std::atomic<int> ran{0};
    std::thread feeder([&] {
        for (int i = 0; i < 200; ++i) {
            boost::asio::post(ctx, [&] { ++ran; });
            std::this_thread::sleep_for(100us);
        }
        boost::asio::post(ctx, [&] { ctx.stop(); });
    });
    auto st = api::run_network_thread(ctx, {std::chrono::milliseconds(1), &idle});
    feeder.join();
    REQUIRE(ctx.stopped());
    REQUIRE(ran == 200);
    REQUIRE(st.polls >= 1);
}

TEST_CASE("cpu quota: found on the group or a parent, cgroup v2 and v1; none when unlimited or unknown", "[network]") {
    TempDir dir;
    const std::string fs = dir.path().string();

    SECTION("v2, a quota on a parent group") {
        write_file(dir / "app.slice" / "cpu.max", "50000 100000\n");
        write_file(dir / "app.slice" / "patchbay.service" / "cpu.max", "max 100000\n");
        REQUIRE(patchbay::api::cpu_quota_limited("0::/app.slice/patchbay.service\n", fs));
    }
    SECTION("v2, no quota anywhere") {
        write_file(dir / "app.slice" / "cpu.max", "max 100000\n");
        write_file(dir / "app.slice" / "patchbay.service" / "cpu.max", "max 100000\n");
        REQUIRE_FALSE(patchbay::api::cpu_quota_limited("0::/app.slice/patchbay.service\n", fs));
    }
    SECTION("v2 inside a container: the namespace's root group carries the limit") {
        write_file(dir / "cpu.max", "100000 100000\n");
        REQUIRE(patchbay::api::cpu_quota_limited("0::/\n", fs));
    }
    SECTION("v1, the cpu controller mounted with cpuacct") {
        write_file(dir / "cpu,cpuacct" / "docker" / "abc" / "cpu.cfs_quota_us", "150000\n");
        REQUIRE(patchbay::api::cpu_quota_limited("12:memory:/docker/abc\n4:cpu,cpuacct:/docker/abc\n0::/\n", fs));
    }
    SECTION("v1, a quota of -1 is none") {
        write_file(dir / "cpu" / "cpu.cfs_quota_us", "-1\n");
        REQUIRE_FALSE(patchbay::api::cpu_quota_limited("1:cpu:/\n2:cpuacct:/\n0::/\n", fs));
    }
    SECTION("nothing to read") {
        REQUIRE_FALSE(patchbay::api::cpu_quota_limited("", fs));
        REQUIRE_FALSE(patchbay::api::cpu_quota_limited("garbage without colons\n0::/nowhere\n", fs));
    }
}
