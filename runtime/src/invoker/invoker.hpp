// The invoker: from "run action A of integration I with this input" to a result.
//
// It resolves the integration in the catalog (holding that version for the whole call), checks
// the action exists, validates the input against the action's JSON Schema, runs the plugin hook on
// the worker pool with the action's deadline, and maps every failure onto a stable error code.
// When the deadline passes first the caller gets TIMEOUT at once; the hook's late result is
// dropped and its thread returns to the pool when the hook does.
#pragma once

#include "catalog/catalog.hpp"
#include "common/error.hpp"
#include "invoker/deadline_watcher.hpp"
#include "invoker/worker_pool.hpp"
#include "loader/host.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/json/value.hpp>

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>

namespace patchbay::invoker {

enum class Hook { action, test_connection, webhook, poll, subscribe, unsubscribe, organizations };

// How often an action's output is checked against the output schema its manifest declares. A
// mismatch is logged as a warning and the output is passed on either way: the check is there to
// show plugin authors where a plugin and its manifest disagree. `sample` checks the first 64
// outputs of each action (per loaded version), then one in 64.
enum class OutputChecks { every, sample, off };

struct InvokeRequest {
    Hook hook = Hook::action;
    std::string integration;
    std::string action;
    boost::json::value input = boost::json::object{};  // for a webhook: the request (method, path, query, headers)
    std::string body;                                   // a webhook's raw body
    boost::json::object context;  // workflow_id, request_id ... handed to the plugin as is
    std::optional<std::chrono::milliseconds> timeout;  // caller's own limit; never above the manifest's
    // The io_context of the network thread making the call, which only that thread runs. When set
    // and the plugin is cooperative, the hook runs as a fiber on this thread.
    boost::asio::io_context* network = nullptr;
    // The connection the call uses: the host adds its credentials to the plugin's requests to its
    // base URL, and counts its rate budget.
    std::shared_ptr<const host::CallScope> scope;
    // The caller uses only InvokeOutcome::output_text (the HTTP API passes the output on as the
    // plugin wrote it): the output is checked to be JSON but not kept as a parsed value.
    bool output_text_only = false;
    // The catalog entry of `integration`, when the caller has looked it up already (the HTTP API
    // has): the call runs on it, and the catalog is not asked a second time.
    std::shared_ptr<const catalog::Entry> entry;
};

struct InvokeOutcome {
    std::optional<boost::json::value> output;  // parsed, unless the request wanted the text only
    std::string output_text;  // the output as the plugin wrote it (valid JSON), to pass on unchanged
    std::optional<Error> error;
    std::chrono::microseconds elapsed{0};
    std::string version;  // the integration version that ran

    bool ok() const { return !error.has_value(); }
};

class Invoker {
public:
    // `http` is the plugins' outbound HTTP service.
    Invoker(catalog::Catalog& catalog, WorkerPool& pool, host::OutboundHttp* http);

    // Calls `done` exactly once: on the calling thread when the request is refused up front, on a
    // worker thread with the plugin's result, or on the deadline thread with TIMEOUT.
    void invoke(InvokeRequest request, std::function<void(InvokeOutcome)> done);

    // Runs `task` on the worker pool: host work that blocks (an OAuth2 code exchange). False when
    // the pool no longer takes work.
    bool run_detached(std::function<void()> task) { return pool_.submit(std::move(task)); }

    // Convenience for the CLI and tests: waits for the outcome.
    InvokeOutcome invoke_blocking(InvokeRequest request);

    // How often action outputs are checked against their schemas (default: sample). Set before
    // the first call.
    void set_output_checks(OutputChecks checks) { output_checks_ = checks; }

private:
    catalog::Catalog& catalog_;
    WorkerPool& pool_;
    host::OutboundHttp* http_;
    DeadlineWatcher deadlines_;
    OutputChecks output_checks_ = OutputChecks::sample;
};

// Runs the webhook hook (trigger `trigger`, the delivery in `request` and `body`) synchronously on
// the calling thread.
InvokeOutcome run_webhook(const catalog::Entry& entry, const std::string& trigger, const boost::json::value& request, const std::string& body,
                          const boost::json::object& context, pb_call& call);
// Runs a trigger hook that takes a request: poll ({"cursor", "params"}), subscribe or
// unsubscribe (see abi.h), synchronously.
InvokeOutcome run_trigger_hook(const catalog::Entry& entry, Hook hook, const std::string& trigger, const boost::json::value& request,
                               const boost::json::object& context, pb_call& call);
// Runs the organization-listing hook (request {"cursor", "page_size"}) synchronously.
InvokeOutcome run_list_organizations(const catalog::Entry& entry, const boost::json::value& request, const boost::json::object& context,
                                     pb_call& call);
// Runs the test-connection hook synchronously on the calling thread.
InvokeOutcome run_test_connection(const catalog::Entry& entry, const boost::json::object& context, pb_call& call);

// How run_action treats the output.
struct OutputHandling {
    bool text_only = false;  // see InvokeRequest::output_text_only
    OutputChecks checks = OutputChecks::every;
};

// Runs one action hook synchronously on the calling thread. Exposed for tests.
InvokeOutcome run_action(const catalog::Entry& entry, const manifest::Action& action, const boost::json::value& input,
                         const boost::json::object& context, pb_call& call, OutputHandling output = {});

}  // namespace patchbay::invoker
