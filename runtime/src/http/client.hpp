// The host's outbound HTTP client, used for every request a plugin makes (and by the CLI's
// --server mode).
//
// The exchange runs on the calling thread: non-blocking sockets bounded by the call's deadline.
// A hook on a worker thread blocks in poll() (handing the exchange to the network threads would
// cost two thread wake-ups per request, docs/adr/001); a hook running as a fiber on a network
// thread suspends only the fiber while it waits, and the thread serves others (docs/adr/010).
//
// HTTP/1.1 over Beast, TLS over OpenSSL with chain and hostname verification against the system CA
// store (or a given bundle) and TLS 1.2 as the floor. Connections are kept alive and pooled per
// scheme, host and port; a pooled connection the server has closed is detected before reuse, and a
// request that fails on a reused connection before any answer arrived is retried once on a fresh
// one. Every exchange has a connect timeout and a total deadline.
#pragma once

#include "common/error.hpp"
#include "http/egress.hpp"
#include "loader/host.hpp"

#include <boost/asio/io_context.hpp>

#include <chrono>
#include <memory>
#include <optional>
#include <string>

namespace patchbay::http {

struct ClientOptions {
    std::chrono::milliseconds connect_timeout{10'000};
    std::chrono::milliseconds handshake_timeout{10'000};  // TLS handshake, after the TCP connect
    size_t max_response_bytes = 64 * 1024 * 1024;
    size_t max_idle_per_host = 64;
    std::chrono::milliseconds idle_timeout{30'000};
    std::string ca_file;  // extra trusted CA bundle (PEM), on top of the system store
    std::string user_agent = "patchbay/0.1";
    // When set, every address a host resolves to is checked before connecting (the plugins'
    // client); the CLI's client, which talks to a Patchbay server, has none.
    std::optional<EgressPolicy> egress;
};

class Client final : public host::OutboundHttp {
public:
    explicit Client(ClientOptions options = {});
    ~Client() override;

    // Blocks the calling thread until the exchange completes or `deadline` passes.
    Result<host::OutboundResponse> perform(const host::OutboundRequest& request,
                                           std::chrono::steady_clock::time_point deadline) override;

    // The same exchange: perform() already suspends only the fiber when called from a hook
    // running as one.
    Result<host::OutboundResponse> perform_suspending(const host::OutboundRequest& request,
                                                      std::chrono::steady_clock::time_point deadline) override;

    size_t idle_connections() const;

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace patchbay::http
