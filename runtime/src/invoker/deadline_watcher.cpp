#include "invoker/deadline_watcher.hpp"

#include "common/thread_slot.hpp"

#include <algorithm>
#include <vector>

namespace patchbay::invoker {

DeadlineWatcher::DeadlineWatcher(std::chrono::milliseconds tick) : tick_(tick), thread_([this] { run(); }) {}

DeadlineWatcher::~DeadlineWatcher() {
    {
        std::lock_guard lock(wake_mutex_);
        stopping_ = true;
    }
    cv_.notify_all();
    thread_.join();
}

DeadlineWatcher::Ticket DeadlineWatcher::watch(Clock::time_point when, std::function<void()> on_expire) {
    const unsigned s = thread_slot() % kShards;
    Shard& shard = shards_[s];
    Ticket t;
    {
        std::lock_guard lock(shard.mutex);
        t = Ticket{when, (shard.next++ * kShards) | s};
        shard.queue.emplace(t, std::move(on_expire));
    }
    if (when.time_since_epoch().count() < wake_at_.load()) {  // the thread would look too late: wake it
        {
            std::lock_guard lock(wake_mutex_);
            kicked_ = true;
        }
        cv_.notify_one();
    }
    return t;
}

bool DeadlineWatcher::cancel(Ticket ticket) {
    Shard& shard = shards_[ticket.id % kShards];
    std::function<void()> dropped;  // destroyed outside the lock
    std::lock_guard lock(shard.mutex);
    auto it = shard.queue.find(ticket);
    if (it == shard.queue.end()) return false;
    dropped = std::move(it->second);
    shard.queue.erase(it);
    return true;
}

size_t DeadlineWatcher::pending() const {
    size_t n = 0;
    for (const auto& shard : shards_) {
        std::lock_guard lock(shard.mutex);
        n += shard.queue.size();
    }
    return n;
}

void DeadlineWatcher::run() {
    std::vector<std::pair<Ticket, std::function<void()>>> due;
    for (;;) {
        wake_at_.store(std::numeric_limits<Clock::rep>::max());  // looking: every booking wakes us
        auto now = Clock::now();
        auto next_look = now + tick_;
        for (auto& shard : shards_) {
            std::lock_guard lock(shard.mutex);
            auto& q = shard.queue;
            while (!q.empty() && q.begin()->first.when <= now) {
                auto node = q.extract(q.begin());
                due.emplace_back(node.key(), std::move(node.mapped()));
            }
            if (!q.empty()) next_look = std::min(next_look, q.begin()->first.when);
        }
        if (!due.empty()) {
            {
                std::lock_guard lock(wake_mutex_);
                if (stopping_) return;  // shutting down: what is due is dropped, not fired
            }
            std::sort(due.begin(), due.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
            for (auto& [ticket, fire] : due) {
                fire();
                fire = nullptr;
            }
            due.clear();
            continue;  // time has passed while they ran: look again
        }
        std::unique_lock lock(wake_mutex_);
        if (stopping_) return;
        if (kicked_) {
            kicked_ = false;
            continue;
        }
        wake_at_.store(next_look.time_since_epoch().count());
        cv_.wait_until(lock, next_look, [this] { return kicked_ || stopping_; });
        kicked_ = false;
        if (stopping_) return;
    }
}

}  // namespace patchbay::invoker
