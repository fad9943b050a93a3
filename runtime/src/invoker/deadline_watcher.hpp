// One thread that fires call deadlines. Registering a deadline and cancelling it are one map
// insert and erase under a mutex: unlike a timer per call on the network threads, they wake nobody, so a
// call that finishes in time costs no thread hand-off for its deadline. The thread looks at the
// queues at least every `tick`, so only a deadline sooner than its next look needs a wake-up.
//
// The queue is split into shards, one per calling thread (by thread_slot()): each network thread
// books and cancels its calls' deadlines under its own mutex, in its own map, so two threads
// never pass one lock and one tree between their caches on every call.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <limits>
#include <map>
#include <mutex>
#include <thread>

namespace patchbay::invoker {

class DeadlineWatcher {
public:
    using Clock = std::chrono::steady_clock;
    static constexpr unsigned kShards = 8;
    // Names one registered deadline: its time and a sequence number whose low bits name the
    // shard (the queue's key).
    struct Ticket {
        Clock::time_point when{};
        uint64_t id = 0;
        auto operator<=>(const Ticket&) const = default;
    };

    explicit DeadlineWatcher(std::chrono::milliseconds tick = std::chrono::milliseconds(250));
    ~DeadlineWatcher();
    DeadlineWatcher(const DeadlineWatcher&) = delete;
    DeadlineWatcher& operator=(const DeadlineWatcher&) = delete;

    // Runs `on_expire` on the watcher thread at `when`, unless cancelled first. Deadlines due at
    // the same look fire in time order, whichever threads booked them.
    Ticket watch(Clock::time_point when, std::function<void()> on_expire);
    // Returns true if the deadline was still pending (it will not fire); false once it has fired
    // or has been taken, with the others due at the same look, to be fired.
    bool cancel(Ticket ticket);
    size_t pending() const;

private:
    struct alignas(64) Shard {
        mutable std::mutex mutex;
        std::map<Ticket, std::function<void()>> queue;  // soonest first; one node per deadline
        uint64_t next = 0;
    };

    void run();

    std::array<Shard, kShards> shards_;
    std::chrono::milliseconds tick_;
    // When the watcher thread next looks, in clock ticks; the largest value while it is looking
    // (a deadline booked then always wakes it, so none slips between its look and its sleep).
    alignas(64) std::atomic<Clock::rep> wake_at_{std::numeric_limits<Clock::rep>::max()};
    std::mutex wake_mutex_;
    std::condition_variable cv_;
    bool kicked_ = false;    // under wake_mutex_
    bool stopping_ = false;  // under wake_mutex_
    std::thread thread_;
};

}  // namespace patchbay::invoker
