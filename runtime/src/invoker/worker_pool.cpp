#include "invoker/worker_pool.hpp"

#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>

namespace patchbay::invoker {

struct WorkerPool::State {
    std::mutex mutex;
    std::condition_variable work_cv;
    std::condition_variable exit_cv;
    std::deque<std::function<void()>> queue;
    size_t max_threads = 0;
    std::chrono::milliseconds idle_timeout{};
    size_t threads = 0;
    size_t idle = 0;
    bool stopping = false;
};

namespace {
void worker_loop(std::shared_ptr<WorkerPool::State> s) {
    std::unique_lock lock(s->mutex);
    for (;;) {
        if (s->queue.empty()) {
            if (s->stopping) break;
            ++s->idle;
            bool woke = s->work_cv.wait_for(lock, s->idle_timeout, [&] { return !s->queue.empty() || s->stopping; });
            --s->idle;
            if (!woke) break;  // idle for too long: retire
            continue;
        }
        auto task = std::move(s->queue.front());
        s->queue.pop_front();
        lock.unlock();
        task();
        task = nullptr;  // release captures before reacquiring the lock
        lock.lock();
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
    state_->queue.push_back(std::move(task));
    if (state_->idle >= state_->queue.size()) {
        state_->work_cv.notify_one();
    } else if (state_->threads < state_->max_threads) {
        ++state_->threads;
        std::thread(worker_loop, state_).detach();
    }
    return true;
}

void WorkerPool::shutdown(std::chrono::milliseconds grace) {
    std::unique_lock lock(state_->mutex);
    state_->stopping = true;
    state_->work_cv.notify_all();
    // Threads own a reference to the state, so any that outlive this wait are safe to leave.
    state_->exit_cv.wait_for(lock, grace, [&] { return state_->threads == 0; });
}

size_t WorkerPool::thread_count() const {
    std::lock_guard lock(state_->mutex);
    return state_->threads;
}

}  // namespace patchbay::invoker
