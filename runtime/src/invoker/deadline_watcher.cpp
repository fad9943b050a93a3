#include "invoker/deadline_watcher.hpp"

namespace patchbay::invoker {

DeadlineWatcher::DeadlineWatcher() : thread_([this] { run(); }) {}

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
    Ticket t = next_++;
    bool earliest = queue_.empty() || when < queue_.begin()->first;
    auto it = queue_.emplace(when, std::make_pair(t, std::move(on_expire)));
    by_ticket_.emplace(t, it);
    lock.unlock();
    if (earliest) cv_.notify_one();  // only a new earliest deadline changes how long the thread sleeps
    return t;
}

bool DeadlineWatcher::cancel(Ticket ticket) {
    std::function<void()> dropped;  // destroyed outside the lock
    std::lock_guard lock(mutex_);
    auto it = by_ticket_.find(ticket);
    if (it == by_ticket_.end()) return false;
    dropped = std::move(it->second->second.second);
    queue_.erase(it->second);
    by_ticket_.erase(it);
    return true;
}

size_t DeadlineWatcher::pending() const {
    std::lock_guard lock(mutex_);
    return queue_.size();
}

void DeadlineWatcher::run() {
    std::unique_lock lock(mutex_);
    while (!stopping_) {
        if (queue_.empty()) {
            cv_.wait(lock);
            continue;
        }
        auto when = queue_.begin()->first;
        if (Clock::now() < when) {
            cv_.wait_until(lock, when);
            continue;
        }
        auto it = queue_.begin();
        auto fire = std::move(it->second.second);
        by_ticket_.erase(it->second.first);
        queue_.erase(it);
        lock.unlock();
        fire();
        fire = nullptr;
        lock.lock();
    }
}

}  // namespace patchbay::invoker
