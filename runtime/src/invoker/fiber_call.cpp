#include "invoker/fiber_call.hpp"

#include <boost/context/fiber.hpp>
#include <boost/context/protected_fixedsize_stack.hpp>

#include <mutex>
#include <vector>

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/common_interface_defs.h>
#define PATCHBAY_ASAN_FIBERS 1
#endif

namespace patchbay::invoker {

namespace ctx = boost::context;

namespace {

constexpr size_t kStackSize = 256 * 1024;

// Stacks are mmap'ed with a guard page; reusing them spares two system calls per call. Each
// thread keeps the stacks it used last (still in its core's cache) and shares the rest.
class StackCache {
public:
    ctx::stack_context allocate() {
        auto& mine = local().free;
        if (!mine.empty()) {
            auto sc = mine.back();
            mine.pop_back();
            return sc;
        }
        {
            std::lock_guard lock(mutex_);
            if (!free_.empty()) {
                auto sc = free_.back();
                free_.pop_back();
                return sc;
            }
        }
        return ctx::protected_fixedsize_stack(kStackSize).allocate();
    }
    void deallocate(ctx::stack_context& sc) {
        auto& mine = local().free;
        if (mine.size() < kPerThread) {
            mine.push_back(sc);
            return;
        }
        share(sc);
    }

private:
    static constexpr size_t kPerThread = 32;
    struct Local {
        std::vector<ctx::stack_context> free;
        ~Local();
    };
    static Local& local() {
        thread_local Local l;
        return l;
    }
    void share(ctx::stack_context& sc) {
        {
            std::lock_guard lock(mutex_);
            if (free_.size() < 256) {
                free_.push_back(sc);
                return;
            }
        }
        ctx::protected_fixedsize_stack(kStackSize).deallocate(sc);
    }

    std::mutex mutex_;
    std::vector<ctx::stack_context> free_;
};

StackCache& stacks() {
    static StackCache* cache = new StackCache;  // outlives every fiber, even at exit
    return *cache;
}

StackCache::Local::~Local() {
    for (auto& sc : free) stacks().share(sc);  // a thread that ends hands its stacks on
}

thread_local FiberCall* running = nullptr;

}  // namespace

struct FiberCall::Impl {
    std::function<void()> body;
    ctx::fiber suspended;  // the hook's fiber while it waits
    ctx::fiber back;       // inside the fiber: the thread's own context to return to
    ctx::stack_context stack{};

    // AddressSanitizer must be told about every stack switch, or it takes the fiber's frames for
    // overflows of the thread's stack.
    void* fake_thread = nullptr;
    void* fake_fiber = nullptr;
    const void* thread_bottom = nullptr;
    size_t thread_size = 0;

    void entering_fiber() {
#ifdef PATCHBAY_ASAN_FIBERS
        __sanitizer_start_switch_fiber(&fake_thread, static_cast<char*>(stack.sp) - stack.size, stack.size);
#endif
    }
    void back_on_thread() {
#ifdef PATCHBAY_ASAN_FIBERS
        __sanitizer_finish_switch_fiber(fake_thread, nullptr, nullptr);
#endif
    }
    void arrived_in_fiber() {
#ifdef PATCHBAY_ASAN_FIBERS
        __sanitizer_finish_switch_fiber(fake_fiber, &thread_bottom, &thread_size);
#endif
    }
    void leaving_fiber(bool for_good) {
#ifdef PATCHBAY_ASAN_FIBERS
        __sanitizer_start_switch_fiber(for_good ? nullptr : &fake_fiber, thread_bottom, thread_size);
#else
        (void)for_good;
#endif
    }
};

namespace {
// Allocates from the cache and records the stack's bounds for the sanitizer annotations.
struct CachedStack {
    FiberCall::Impl* impl;
    ctx::stack_context allocate() {
        impl->stack = stacks().allocate();
        return impl->stack;
    }
    void deallocate(ctx::stack_context& sc) noexcept { stacks().deallocate(sc); }
};
}  // namespace

FiberCall::FiberCall(boost::asio::io_context& ioc, std::function<void()> body) : ioc_(ioc), impl_(std::make_unique<Impl>()) {
    impl_->body = std::move(body);
}

FiberCall::~FiberCall() {
    // Destroying a suspended fiber would unwind its stack with an exception, through plugin frames
    // behind a C ABI. It only happens when the process shuts down with a call still suspended
    // (an exchange always resumes its fiber otherwise), so leave that fiber and its stack be.
    if (impl_->suspended) new ctx::fiber(std::move(impl_->suspended));
}

FiberCall* FiberCall::current() { return running; }

void FiberCall::start() {
    auto self = shared_from_this();  // alive until the fiber finishes
    ctx::fiber f(std::allocator_arg, CachedStack{impl_.get()}, [self](ctx::fiber&& caller) {
        auto& impl = *self->impl_;
        impl.arrived_in_fiber();
        impl.back = std::move(caller);
        impl.body();
        impl.body = nullptr;
        impl.leaving_fiber(true);
        return std::move(impl.back);
    });
    FiberCall* previous = running;
    running = this;
    impl_->entering_fiber();
    f = std::move(f).resume();
    impl_->back_on_thread();
    running = previous;
    if (f) impl_->suspended = std::move(f);
}

void FiberCall::suspend() {
    impl_->leaving_fiber(false);
    impl_->back = std::move(impl_->back).resume();
    impl_->arrived_in_fiber();
}

void FiberCall::resume() {
    auto keep = shared_from_this();
    FiberCall* previous = running;
    running = this;
    impl_->entering_fiber();
    auto f = std::move(impl_->suspended).resume();
    impl_->back_on_thread();
    running = previous;
    if (f) impl_->suspended = std::move(f);
}

}  // namespace patchbay::invoker
