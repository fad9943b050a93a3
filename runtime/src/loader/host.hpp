// The host side of the plugin ABI: the pb_host_v1 function table and the per-call state behind
// the opaque pb_call handle.
//
// A plugin never does I/O of its own. Its HTTP requests go through OutboundHttp, which the runtime
// implements with its pooled, TLS-verifying client (and, later, credential injection and the egress
// guard); tests can substitute their own.
#pragma once

#include "common/error.hpp"

#include <patchbay/abi.h>

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

struct pb_call;

namespace patchbay::host {

using Headers = std::vector<std::pair<std::string, std::string>>;

struct OutboundRequest {
    std::string method = "GET";
    std::string url;
    Headers headers;
    std::string body;
    std::chrono::milliseconds timeout{30'000};
    // Extra CA certificates (PEM) trusted for this request, on top of the system store: a
    // connection's own CA bundle for a tool behind a private CA.
    std::string ca_pem;
    bool follow_redirects = true;  // the host follows up to a few redirects, re-checking each hop
    bool with_credentials = true;  // false: no connection credentials (an operation that needs none)
};

struct OutboundResponse {
    int status = 0;
    Headers headers;
    std::string body;
};

// A connection's credentials as the HTTP service adds them: only to requests whose URL lies under
// `base_url` (same scheme, host and port; path below the base path). Built by the control plane
// from the connection and its manifest auth type; lives for one call.
struct Injection {
    std::string base_url;
    Headers headers;  // replace any header of the same name the plugin set
    std::vector<std::pair<std::string, std::string>> query;

    bool applies_to(std::string_view url) const;
    // Adds the credentials to `request` when its URL lies under base_url. Returns whether it did.
    bool apply(OutboundRequest& request) const;
    // Adds them unconditionally: for a caller that has just checked applies_to().
    void add(OutboundRequest& request) const;
};

// OAuth2 access tokens of one connection, obtained and refreshed by the host.
class TokenSource {
public:
    virtual ~TokenSource() = default;
    // A current access token. `refused` is a token the upstream just answered 401 to: a new one is
    // obtained unless another call already replaced it. Errors carry REAUTHORIZATION_REQUIRED when
    // the grant is gone.
    virtual Result<std::string> access_token(std::string_view refused, std::chrono::steady_clock::time_point deadline) = 0;
};

// A request budget from the manifest: at most `requests` per `window`, counted per connection or
// per upstream host.
struct RateRule {
    int64_t requests = 0;
    std::chrono::milliseconds window{0};
    bool per_host = false;
};

// What a call's outbound requests carry: the connection's identity and credentials.
struct CallScope {
    std::string connection_id;
    Injection injection;                  // static credentials, and the base URL they are for
    std::shared_ptr<TokenSource> tokens;  // OAuth2 connections
    std::string ca_pem;                   // the connection's own CA bundle, if any
};

class OutboundHttp {
public:
    virtual ~OutboundHttp() = default;
    // Blocks the calling (worker) thread until the exchange completes or `deadline` passes.
    virtual Result<OutboundResponse> perform(const OutboundRequest& request,
                                             std::chrono::steady_clock::time_point deadline) = 0;
    // For hooks running as fibers: suspends the calling fiber (not the thread) until the exchange,
    // run on the fiber's network thread, completes. Implementations without an asynchronous path
    // fall back to perform().
    virtual Result<OutboundResponse> perform_suspending(const OutboundRequest& request,
                                                        std::chrono::steady_clock::time_point deadline) {
        return perform(request, deadline);
    }
    // A plugin's request, with everything the call brings (credentials, limits, deadline). The
    // runtime's implementation adds retries, limits and redirects; this default only injects the
    // static credentials and sends.
    virtual Result<OutboundResponse> execute(OutboundRequest request, pb_call& call);
};

// The process-wide host table handed to every plugin's entry point.
const pb_host_v1* host_table();

// Maps a plugin's pb_error_code onto the runtime's error codes (unknown codes are plugin errors).
Errc errc_from_plugin(int32_t code);
int32_t plugin_code_from(Errc code);

}  // namespace patchbay::host

// One hook invocation as the host tracks it. Plugins only ever see a pointer to it.
struct pb_call {
    std::chrono::steady_clock::time_point deadline = std::chrono::steady_clock::time_point::max();
    int64_t deadline_unix_ms = 0;
    std::string integration;
    std::string operation;  // action or hook name, for logs
    patchbay::host::OutboundHttp* http = nullptr;
    const patchbay::host::CallScope* scope = nullptr;  // the call's connection, if any
    const std::vector<patchbay::host::RateRule>* rate_rules = nullptr;  // the manifest's budgets
    // The last refusal of the host's HTTP service. When the plugin passes the same code on, the
    // caller gets this error whole (its code and details, such as when to retry).
    std::optional<patchbay::Error> host_error;
    bool on_fiber = false;  // the hook runs as a fiber on a network thread

    std::optional<std::string> output;
    bool has_error = false;
    int32_t error_code = 0;
    std::string error_message;
    std::string error_details;

    void set_deadline(std::chrono::milliseconds budget);
};
