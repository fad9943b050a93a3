// One thread that fires call deadlines. Registering a deadline and cancelling it are one map
// insert and erase under a mutex: unlike a timer per call on the network threads, they wake nobody, so a
// call that finishes in time costs no thread hand-off for its deadline. The thread looks at the
// queue at least every `tick`, so only a deadline sooner than its next look needs a wake-up.
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <mutex>
#include <thread>

namespace patchbay::invoker {

class DeadlineWatcher {
public:
    using Clock = std::chrono::steady_clock;
    // Names one registered deadline: its time and a sequence number (the queue's key).
    struct Ticket {
        Clock::time_point when{};
        uint64_t id = 0;
        auto operator<=>(const Ticket&) const = default;
    };

    explicit DeadlineWatcher(std::chrono::milliseconds tick = std::chrono::milliseconds(250));
    ~DeadlineWatcher();
    DeadlineWatcher(const DeadlineWatcher&) = delete;
    DeadlineWatcher& operator=(const DeadlineWatcher&) = delete;

    // Runs `on_expire` on the watcher thread at `when`, unless cancelled first.
    Ticket watch(Clock::time_point when, std::function<void()> on_expire);
    // Returns true if the deadline was still pending (it will not fire).
    bool cancel(Ticket ticket);
    size_t pending() const;

private:
    void run();

    mutable std::mutex mutex_;
    std::condition_variable cv_;
    std::map<Ticket, std::function<void()>> queue_;  // soonest first; one node per deadline
    uint64_t next_ = 1;
    std::chrono::milliseconds tick_;
    Clock::time_point wake_at_ = Clock::time_point::min();
    bool stopping_ = false;
    std::thread thread_;
};

}  // namespace patchbay::invoker
