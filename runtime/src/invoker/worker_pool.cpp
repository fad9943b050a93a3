#include "invoker/worker_pool.hpp"

#include <algorithm>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>
#include <vector>

namespace patchbay::invoker {

// Each idle worker waits on its own condition variable and is handed its next task directly, most
// recently idle first. One shared condition variable would make every submit contend with every
// waking worker on the same mutex (a lock convoy that showed up as the top cost under load), and
// LIFO keeps the threads whose stacks and caches are warm doing the work while the rest retire.
struct WorkerPool::State {
    struct Worker {
        std::condition_variable cv;
        std::function<void()> task;
        bool woken = false;
    };

    std::mutex mutex;
    std::condition_variable exit_cv;
    std::deque<std::function<void()>> queue;  // only used when no worker is idle and none may start
    std::vector<Worker*> idle;                // LIFO
    size_t max_threads = 0;
    std::chrono::milliseconds idle_timeout{};
    size_t threads = 0;
    bool stopping = false;
};

namespace {

void worker_loop(std::shared_ptr<WorkerPool::State> s, std::function<void()> first) {
    WorkerPool::State::Worker self;
    std::function<void()> task = std::move(first);
    std::unique_lock lock(s->mutex);
    for (;;) {
        if (task) {
            lock.unlock();
            task();
            task = nullptr;  // release captures before taking the lock again
            lock.lock();
            continue;
        }
        if (!s->queue.empty()) {
            task = std::move(s->queue.front());
            s->queue.pop_front();
            continue;
        }
        if (s->stopping) break;
        self.woken = false;
        s->idle.push_back(&self);
        bool woke = self.cv.wait_for(lock, s->idle_timeout, [&] { return self.woken; });
        if (!woke) {
            // Retire after a quiet spell, unless a submit picked us in the meantime.
            auto it = std::find(s->idle.begin(), s->idle.end(), &self);
            if (it != s->idle.end()) {
                s->idle.erase(it);
                break;
            }
        }
        task = std::move(self.task);
    }
    --s->threads;
    s->exit_cv.notify_all();
}

}  // namespace

WorkerPool::WorkerPool(size_t max_threads, std::chrono::milliseconds idle_timeout) : state_(std::make_shared<State>()) {
    state_->max_threads = max_threads == 0 ? 1 : max_threads;
    state_->idle_timeout = idle_timeout;
}

WorkerPool::~WorkerPool() { shutdown(); }

bool WorkerPool::submit(std::function<void()> task) {
    std::unique_lock lock(state_->mutex);
    if (state_->stopping) return false;
    if (!state_->idle.empty()) {
        State::Worker* w = state_->idle.back();
        state_->idle.pop_back();
        w->task = std::move(task);
        w->woken = true;
        lock.unlock();
        w->cv.notify_one();
        return true;
    }
    if (state_->threads < state_->max_threads) {
        ++state_->threads;
        lock.unlock();
        std::thread(worker_loop, state_, std::move(task)).detach();
        return true;
    }
    state_->queue.push_back(std::move(task));
    return true;
}

void WorkerPool::shutdown(std::chrono::milliseconds grace) {
    std::unique_lock lock(state_->mutex);
    state_->stopping = true;
    for (auto* w : state_->idle) {
        w->woken = true;
        w->cv.notify_one();
    }
    state_->idle.clear();
    // Threads own a reference to the state, so any that outlive this wait are safe to leave.
    state_->exit_cv.wait_for(lock, grace, [&] { return state_->threads == 0; });
}

size_t WorkerPool::thread_count() const {
    std::lock_guard lock(state_->mutex);
    return state_->threads;
}

}  // namespace patchbay::invoker
