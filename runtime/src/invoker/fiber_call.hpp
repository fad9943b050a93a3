// Runs one plugin hook as a fiber (Boost.Context) on the network thread that received the call.
//
// Only for plugins that declare PB_PLUGIN_COOPERATIVE: their hooks wait only through host
// services. When such a hook asks the host for an HTTP request, the host starts the exchange on
// this thread's io_context and suspends the fiber; the thread goes on serving other connections,
// and the exchange's completion resumes the fiber on the same thread. A call then costs no thread
// hand-off at all (see docs/adr/004-cooperative-plugins-on-fibers.md).
#pragma once

#include <boost/asio/io_context.hpp>

#include <functional>
#include <memory>

namespace patchbay::invoker {

class FiberCall : public std::enable_shared_from_this<FiberCall> {
public:
    // `body` runs on the fiber. Call start() once, on a thread running `ioc`.
    FiberCall(boost::asio::io_context& ioc, std::function<void()> body);
    ~FiberCall();

    void start();
    // Inside the fiber: give the thread back until resume() is called.
    void suspend();
    // Outside the fiber, on the io_context's thread: continue the fiber where it suspended.
    void resume();

    boost::asio::io_context& io_context() { return ioc_; }

    // The fiber running on this thread, if any.
    static FiberCall* current();

    struct Impl;

private:
    boost::asio::io_context& ioc_;
    std::unique_ptr<Impl> impl_;
};

}  // namespace patchbay::invoker
