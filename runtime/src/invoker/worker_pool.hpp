// Threads that run plugin hooks. Hooks are blocking C calls (they wait for their HTTP requests), so
// they never run on the network threads. The pool grows on demand up to a bound, so one slow
// plugin cannot starve the others, and idle threads retire after a while so an idle runtime stays
// small. A hook that never returns keeps its thread; the pool detaches such threads at shutdown
// instead of hanging.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>

namespace patchbay::invoker {

class WorkerPool {
public:
    explicit WorkerPool(size_t max_threads = 256, std::chrono::milliseconds idle_timeout = std::chrono::seconds(30));
    ~WorkerPool();
    WorkerPool(const WorkerPool&) = delete;
    WorkerPool& operator=(const WorkerPool&) = delete;

    // Queues `task`; it runs on a pool thread. Returns false once shutdown() has begun.
    bool submit(std::function<void()> task);

    // Stops taking work, lets queued tasks finish, and waits up to `grace` for running ones.
    void shutdown(std::chrono::milliseconds grace = std::chrono::seconds(5));

    size_t thread_count() const;

    struct State;  // shared with the threads, so a thread that outlives the pool stays safe

private:
    std::shared_ptr<State> state_;
};

}  // namespace patchbay::invoker
