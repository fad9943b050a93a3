// The API's HTTP/1.1 server: Beast, asynchronous, keep-alive, with header and body size limits
// (431 / 413), an idle timeout, and a graceful drain: on drain() it stops accepting, lets requests
// in flight finish and answers them with Connection: close, closes idle connections, and reports
// when nothing is left (or the drain timeout passed).
#pragma once

#include "api/api.hpp"
#include "common/error.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace patchbay::api {

struct ServerOptions {
    std::string address = "127.0.0.1";
    unsigned short port = 8080;
    size_t header_limit = 16 * 1024;
    size_t body_limit = 4 * 1024 * 1024;
    std::chrono::milliseconds idle_timeout{60'000};
    std::chrono::milliseconds drain_timeout{30'000};
};

class Server {
public:
    // One io_context per network thread, each run by exactly one thread. The first also runs the
    // acceptor; accepted connections are spread over all of them and stay on theirs.
    Server(std::vector<boost::asio::io_context*> contexts, ServerOptions options, Api& api);
    ~Server();

    // Binds and listens; returns the bound endpoint (the real port when port 0 was asked).
    Result<boost::asio::ip::tcp::endpoint> listen();
    // Starts accepting on the io_context.
    void start();
    // Begins the graceful drain; `drained` runs once, on an io thread.
    void drain(std::function<void()> drained);

private:
    struct Impl;
    std::shared_ptr<Impl> impl_;
};

}  // namespace patchbay::api
