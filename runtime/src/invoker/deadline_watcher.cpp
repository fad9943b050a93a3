#include "invoker/deadline_watcher.hpp"

namespace patchbay::invoker {

DeadlineWatcher::DeadlineWatcher(std::chrono::milliseconds tick) : tick_(tick), thread_([this] { run(); }) {}

DeadlineWatcher::~DeadlineWatcher() {
    {
        std::lock_guard lock(mutex_);
        stopping_ = true;
    }
    cv_.notify_all();
    thread_.join();
}

DeadlineWatcher::Ticket DeadlineWatcher::watch(Clock::time_point when, std::function<void()> on_expire) {
    std::unique_lock lock(mutex_);
    Ticket t{when, next_++};
    bool sooner = when < wake_at_;  // the thread would look too late: wake it
    queue_.emplace(t, std::move(on_expire));
    lock.unlock();
    if (sooner) cv_.notify_one();
    return t;
}

bool DeadlineWatcher::cancel(Ticket ticket) {
    std::function<void()> dropped;  // destroyed outside the lock
    std::lock_guard lock(mutex_);
    auto it = queue_.find(ticket);
    if (it == queue_.end()) return false;
    dropped = std::move(it->second);
    queue_.erase(it);
    return true;
}

size_t DeadlineWatcher::pending() const {
    std::lock_guard lock(mutex_);
    return queue_.size();
}

void DeadlineWatcher::run() {
    std::unique_lock lock(mutex_);
    while (!stopping_) {
        auto now = Clock::now();
        auto next_look = now + tick_;
        if (queue_.empty() || queue_.begin()->first.when > now) {
            wake_at_ = queue_.empty() ? next_look : std::min(next_look, queue_.begin()->first.when);
            cv_.wait_until(lock, wake_at_);
            continue;
        }
        auto it = queue_.begin();
        auto fire = std::move(it->second);
        queue_.erase(it);
        lock.unlock();
        fire();
        fire = nullptr;
        lock.lock();
    }
}

}  // namespace patchbay::invoker
