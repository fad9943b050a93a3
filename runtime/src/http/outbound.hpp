// The host's HTTP service as plugins get it: the one place where credentials, retries, rate
// budgets, circuit breakers and redirects are handled, around the transport (http::Client, which
// owns TLS and the egress guard).
//
// For each plugin request: the connection's credentials are added when the URL lies under its base
// URL (an OAuth2 token is fetched or refreshed as needed); the integration's circuit for the host
// must be closed; the manifest's rate budgets must have room (waiting when the call's deadline
// allows, RATE_LIMITED with the time to retry otherwise); a per-host cap on requests in flight keeps
// a slow upstream from holding every worker. Failures worth retrying (connect/TLS errors, 408, 429,
// 502, 503, 504) are retried for idempotent requests with exponential backoff and full jitter,
// honouring Retry-After. Redirects are followed for a few hops, each hop checked again by the
// transport, credentials re-added only where they belong and the plugin's own auth headers dropped
// when a hop leaves the origin.
#pragma once

#include "http/client.hpp"
#include "loader/host.hpp"

#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <string>

namespace patchbay::http {

struct OutboundOptions {
    int max_attempts = 4;                            // per request, the first one included
    std::chrono::milliseconds backoff_base{200};     // the first retry waits up to this long
    std::chrono::milliseconds backoff_cap{10'000};   // no single wait is drawn from a longer range
    int max_redirects = 5;
    int breaker_failures = 5;                        // consecutive failures that open a circuit
    std::chrono::milliseconds breaker_open{30'000};  // how long it stays open before a probe
    size_t max_in_flight_per_host = 64;              // per integration and upstream origin
};

class OutboundService final : public host::OutboundHttp {
public:
    OutboundService(Client& transport, OutboundOptions options = {});

    Result<host::OutboundResponse> execute(host::OutboundRequest request, pb_call& call) override;

    // Without a call: straight to the transport.
    Result<host::OutboundResponse> perform(const host::OutboundRequest& request,
                                           std::chrono::steady_clock::time_point deadline) override;
    Result<host::OutboundResponse> perform_suspending(const host::OutboundRequest& request,
                                                      std::chrono::steady_clock::time_point deadline) override;

    // The circuit of one integration and origin ("https://api.example.com:443"): closed, open or
    // half_open. For tests and diagnostics.
    std::string circuit_state(std::string_view integration, std::string_view origin);

    const OutboundOptions& options() const { return options_; }

private:
    // The circuit and in-flight count of one integration and origin. Gates live as long as the
    // service (one per pair ever called), so a thread may keep pointers to them: each network
    // thread finds its gates in a map of its own, and a call to a healthy upstream only counts
    // itself in and out on the gate's atomic, taking no lock.
    struct Gate {
        std::string key;  // "integration|origin"
        std::atomic<int> in_flight{0};
        // Set while the circuit is anything but closed with no failures counted: the calls
        // through it then take mu_ to read and update the fields below.
        std::atomic<bool> troubled{false};
        // Under mu_:
        int failures = 0;
        bool open = false;
        std::chrono::steady_clock::time_point opened_at{};
        bool probing = false;
        void update_troubled() { troubled.store(failures > 0 || open || probing); }
    };
    struct Budget {
        std::chrono::steady_clock::time_point tat{};  // GCRA: the theoretical arrival time
    };

    Gate& gate(const std::string& integration, const std::string& origin);
    std::optional<Error> enter_circuit(Gate& gate, const std::string& origin, bool& probe);
    void leave_circuit(Gate& gate, bool failed, bool probe);
    // Reserves a slot in every budget of the call, or says how long until one is free.
    std::optional<Error> take_budget(pb_call& call, const std::string& origin, std::chrono::steady_clock::time_point deadline);
    Result<host::OutboundResponse> send_once(const host::OutboundRequest& request, pb_call& call, const std::string& origin);

    Client& transport_;
    OutboundOptions options_;
    const uint64_t id_;  // tells this service's gates from another's in the threads' own maps
    std::mutex mu_;
    std::map<std::string, std::unique_ptr<Gate>, std::less<>> gates_;  // under mu_; never erased
    std::map<std::string, Budget> budgets_;
};

// Reads a Retry-After value: delay-seconds or an HTTP-date. nullopt when it is neither.
std::optional<std::chrono::milliseconds> parse_retry_after(std::string_view value,
                                                           std::chrono::system_clock::time_point now);

// "https://api.example.com:443": the origin of an absolute URL, what a circuit, a host budget and
// the in-flight cap are per (scheme and host in lower case, the port always written). "" when
// the URL is not absolute.
std::string origin_of(std::string_view url);

// Waits until `when`: suspends the calling fiber (a timer on its network thread) or sleeps the thread.
void pause_until(std::chrono::steady_clock::time_point when);

}  // namespace patchbay::http
