#include "invoker/invoker.hpp"

#include "common/json_text.hpp"
#include "common/log.hpp"
#include "invoker/fiber_call.hpp"

#include <boost/json.hpp>

#include <atomic>
#include <future>

namespace patchbay::invoker {

namespace json = boost::json;
using Clock = std::chrono::steady_clock;

namespace {

std::string human(std::chrono::milliseconds d) {
    if (d.count() % 1000 == 0) return std::to_string(d.count() / 1000) + "s";
    return std::to_string(d.count()) + "ms";
}

std::string action_list(const manifest::Manifest& m) {
    std::string s;
    for (const auto& a : m.actions) s += (s.empty() ? "" : ", ") + a.name;
    return s.empty() ? "none" : s;
}

}  // namespace

namespace {

// The hook's reported result as an outcome: its error, or its output (parsed unless `text_only`).
InvokeOutcome collect(int32_t rc, pb_call& call, const std::string& version, bool text_only = false) {
    InvokeOutcome out;
    out.version = version;
    if (call.has_error) {
        json::value details;
        if (!call.error_details.empty()) {
            boost::system::error_code ec;
            details = json::parse(call.error_details, ec);
            if (ec) details = json::string(call.error_details);
        }
        out.error = Error(host::errc_from_plugin(call.error_code), call.error_message, "", std::move(details));
        // A refusal of the host's HTTP service the plugin passed on: the caller gets it whole,
        // with its own code and details (when to retry, which host).
        if (call.host_error && call.error_code == host::plugin_code_from(call.host_error->code) &&
            call.error_message == call.host_error->message)
            out.error = *call.host_error;
        return out;
    }
    if (!call.output) {
        out.error = Error(Errc::plugin_error, rc == PB_OK ? "the plugin returned without a result"
                                                          : "the plugin failed with code " + std::to_string(rc) + " and no message");
        return out;
    }
    boost::system::error_code ec;
    if (text_only) {
        well_formed_json(*call.output, ec);
    } else {
        // One block for the whole document (freed with the outcome), not an allocation per node.
        json::value parsed = json::parse(*call.output, ec, json::make_shared_resource<json::monotonic_resource>());
        if (!ec) out.output = std::move(parsed);
    }
    if (ec) {
        out.error = Error(Errc::plugin_error, "the plugin returned invalid JSON output (" + ec.message() + ")");
        return out;
    }
    out.output_text = std::move(*call.output);
    return out;
}

// The context a hook sees, as JSON text: the caller's context and a few fields of the call,
// without copying the context object.
std::string context_text(const json::object& context, std::initializer_list<std::pair<const char*, std::string_view>> fields) {
    std::string text = json::serialize(context);
    text.pop_back();  // the closing brace
    for (const auto& [k, v] : fields) {
        if (text.size() > 1) text += ',';
        append_json_string(text, k);
        text += ':';
        append_json_string(text, v);
    }
    text += '}';
    return text;
}

// A hook the plugin does not have.
InvokeOutcome unsupported(const catalog::Entry& entry, const std::string& what) {
    InvokeOutcome out;
    out.version = entry.manifest->version;
    out.error = Error(Errc::unsupported, "the plugin of '" + entry.name + "' " + what);
    return out;
}

// The context a trigger hook sees, as JSON text.
std::string trigger_context(const catalog::Entry& entry, const std::string& trigger, const json::object& context) {
    return context_text(context, {{"integration", entry.name}, {"trigger", trigger}});
}

// How a hook is named in the plugin call (pb_call::operation) and in logs.
const char* hook_name(Hook hook) {
    switch (hook) {
        case Hook::action: return "action";
        case Hook::webhook: return "webhook";
        case Hook::poll: return "poll";
        case Hook::subscribe: return "subscribe";
        case Hook::unsubscribe: return "unsubscribe";
        case Hook::organizations: return "list_organizations";
        case Hook::test_connection: break;
    }
    return "test_connection";
}

}  // namespace

InvokeOutcome run_action(const catalog::Entry& entry, const manifest::Action& action, const json::value& input,
                         const json::object& context, pb_call& call, OutputHandling handling) {
    const auto& desc = entry.instance->descriptor();
    if (!desc.invoke_action) return unsupported(entry, "does not implement actions");
    std::string input_text = json::serialize(input);
    std::string ctx_text = context_text(context, {{"integration", entry.name}, {"action", action.name}});
    int32_t rc = desc.invoke_action(entry.instance->handle(), &call, pb_str{action.name.data(), action.name.size()},
                                    pb_str{input_text.data(), input_text.size()}, pb_str{ctx_text.data(), ctx_text.size()});
    bool check = false;
    if (action.output && !call.has_error && call.output) {
        switch (handling.checks) {
            case OutputChecks::every: check = true; break;
            case OutputChecks::off: break;
            case OutputChecks::sample: {
                uint64_t n = action.calls.next();
                check = n < 64 || n % 64 == 0;
                break;
            }
        }
    }
    InvokeOutcome out = collect(rc, call, entry.manifest->version, handling.text_only && !check);
    if (check && out.output) {
        auto v = action.output->validate(*out.output, 1);
        if (!v.empty())
            log::warn("action output does not match its declared schema",
                      {{"integration", entry.name}, {"action", action.name}, {"pointer", v[0].pointer}, {"problem", v[0].message}});
        if (handling.text_only) out.output.reset();
    }
    return out;
}

InvokeOutcome run_webhook(const catalog::Entry& entry, const std::string& trigger, const json::value& request, const std::string& body,
                          const json::object& context, pb_call& call) {
    const auto& desc = entry.instance->descriptor();
    if (!desc.handle_webhook) return unsupported(entry, "has no webhook hook");
    std::string request_text = json::serialize(request);
    std::string ctx_text = trigger_context(entry, trigger, context);
    int32_t rc = desc.handle_webhook(entry.instance->handle(), &call, pb_str{trigger.data(), trigger.size()},
                                     pb_str{request_text.data(), request_text.size()}, pb_str{body.data(), body.size()},
                                     pb_str{ctx_text.data(), ctx_text.size()});
    return collect(rc, call, entry.manifest->version);
}

InvokeOutcome run_trigger_hook(const catalog::Entry& entry, Hook hook, const std::string& trigger, const json::value& request,
                               const json::object& context, pb_call& call) {
    const auto& lib = entry.instance->library();
    pb_trigger_request_fn fn = hook == Hook::poll        ? lib.descriptor().poll_trigger
                               : hook == Hook::subscribe ? lib.subscribe_hook()
                                                         : lib.unsubscribe_hook();
    if (!fn) return unsupported(entry, "has no " + std::string(hook_name(hook)) + " hook");
    std::string request_text = json::serialize(request);
    std::string ctx_text = trigger_context(entry, trigger, context);
    int32_t rc = fn(entry.instance->handle(), &call, pb_str{trigger.data(), trigger.size()}, pb_str{request_text.data(), request_text.size()},
                    pb_str{ctx_text.data(), ctx_text.size()});
    return collect(rc, call, entry.manifest->version);
}

InvokeOutcome run_list_organizations(const catalog::Entry& entry, const json::value& request, const json::object& context, pb_call& call) {
    const auto& desc = entry.instance->descriptor();
    if (!desc.list_organizations) return unsupported(entry, "does not list organizations");
    std::string request_text = json::serialize(request);
    std::string ctx_text = context_text(context, {{"integration", entry.name}});
    int32_t rc = desc.list_organizations(entry.instance->handle(), &call, pb_str{request_text.data(), request_text.size()},
                                         pb_str{ctx_text.data(), ctx_text.size()});
    return collect(rc, call, entry.manifest->version);
}

InvokeOutcome run_test_connection(const catalog::Entry& entry, const json::object& context, pb_call& call) {
    const auto& desc = entry.instance->descriptor();
    if (!desc.test_connection) return unsupported(entry, "has no connection test");
    std::string ctx_text = context_text(context, {{"integration", entry.name}});
    int32_t rc = desc.test_connection(entry.instance->handle(), &call, pb_str{ctx_text.data(), ctx_text.size()});
    return collect(rc, call, entry.manifest->version);
}

Invoker::Invoker(catalog::Catalog& catalog, WorkerPool& pool, host::OutboundHttp* http)
    : catalog_(catalog), pool_(pool), http_(http) {}

void Invoker::invoke(InvokeRequest req, std::function<void(InvokeOutcome)> done) {
    auto started = Clock::now();
    auto fail = [&](Error e) {
        InvokeOutcome o;
        o.error = std::move(e);
        done(std::move(o));
    };
    auto entry = req.entry ? std::move(req.entry) : catalog_.find(req.integration);
    if (entry && entry->name != req.integration) entry = catalog_.find(req.integration);  // not the entry named
    if (!entry) {
        return fail(Error(Errc::unknown_integration, "no integration named '" + req.integration +
                                                         "' is in the catalog; GET /v1/integrations lists them"));
    }
    if (!entry->ready()) {
        return fail(Error(Errc::integration_unavailable, "integration '" + req.integration + "' is unavailable: " + entry->error));
    }
    const manifest::Action* action = nullptr;
    if (req.hook == Hook::action) action = entry->manifest->find_action(req.action);
    if (req.hook == Hook::action && !action) {
        return fail(Error(Errc::unknown_action, "integration '" + req.integration + "' has no action '" + req.action +
                                                    "'; its actions are: " + action_list(*entry->manifest)));
    }
    auto violations = action ? action->input.validate(req.input) : std::vector<schema::Violation>{};
    if (!violations.empty()) {
        json::array all;
        for (const auto& v : violations) all.push_back(json::object{{"pointer", v.pointer}, {"message", v.message}});
        const auto& first = violations.front();
        std::string where = first.pointer.empty() ? "the input" : "'" + first.pointer + "'";
        return fail(Error(Errc::invalid_input, "invalid input for " + req.integration + "/" + req.action + ": " + where + " " + first.message,
                          first.pointer, json::object{{"violations", std::move(all)}}));
    }

    auto budget = action ? action->timeout : std::chrono::milliseconds(30'000);
    if (req.timeout && *req.timeout < budget) budget = *req.timeout;
    boost::asio::io_context* network = req.network;

    // Whichever comes first, the plugin's result or the deadline, answers; the other is dropped.
    struct Shared {
        std::atomic<bool> finished{false};
        DeadlineWatcher::Ticket ticket;
        std::function<void(InvokeOutcome)> done;
        std::chrono::milliseconds budget{};
        Clock::time_point started;
        std::string integration, action_name;
    };
    auto shared = std::make_shared<Shared>();
    shared->done = std::move(done);
    shared->budget = budget;
    shared->started = started;
    shared->integration = req.integration;
    shared->action_name = action                               ? req.action
                          : req.hook == Hook::test_connection ? "test connection"
                          : req.hook == Hook::organizations   ? "organization listing"
                                                               : std::string(hook_name(req.hook)) + " " + req.action;
    shared->ticket = deadlines_.watch(started + budget, [shared] {
        if (shared->finished.exchange(true)) return;
        InvokeOutcome o;
        o.error = Error(Errc::timeout, "action '" + shared->action_name + "' of '" + shared->integration + "' did not finish within " +
                                           human(shared->budget));
        o.elapsed = std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - shared->started);
        log::warn("action timed out",
                  {{"integration", shared->integration}, {"action", shared->action_name}, {"timeout_ms", shared->budget.count()}});
        auto done = std::move(shared->done);
        done(std::move(o));
    });

    const bool on_network = network && entry->instance->library().cooperative();
    auto run = [this, shared, entry = std::move(entry), action, req = std::move(req), budget, started](bool on_fiber) mutable {
        if (shared->finished.load()) return;  // timed out while queued
        pb_call call;
        call.integration = entry->name;
        call.operation = action ? action->name : hook_name(req.hook);
        call.http = http_;
        call.scope = req.scope.get();
        call.rate_rules = &entry->manifest->rate_rules;
        call.on_fiber = on_fiber;
        call.deadline = started + budget;
        call.deadline_unix_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                                    (std::chrono::system_clock::now() + (call.deadline - Clock::now())).time_since_epoch())
                                    .count();
        InvokeOutcome o = action                               ? run_action(*entry, *action, req.input, req.context, call,
                                                                            {req.output_text_only, output_checks_})
                          : req.hook == Hook::test_connection ? run_test_connection(*entry, req.context, call)
                          : req.hook == Hook::webhook         ? run_webhook(*entry, req.action, req.input, req.body, req.context, call)
                          : req.hook == Hook::organizations   ? run_list_organizations(*entry, req.input, req.context, call)
                                                               : run_trigger_hook(*entry, req.hook, req.action, req.input, req.context, call);
        o.elapsed = std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - started);
        if (shared->finished.exchange(true)) {
            log::debug("late result dropped", {{"integration", entry->name}, {"operation", call.operation}});
            return;
        }
        deadlines_.cancel(shared->ticket);
        auto done = std::move(shared->done);
        done(std::move(o));
    };

    if (on_network) {
        auto fiber = std::make_shared<FiberCall>(*network, [run = std::move(run)]() mutable { run(true); });
        fiber->start();
        return;
    }
    if (!pool_.submit([run = std::move(run)]() mutable { run(false); })) {
        if (!shared->finished.exchange(true)) {
            deadlines_.cancel(shared->ticket);
            InvokeOutcome o;
            o.error = Error(Errc::shutting_down, "the runtime is shutting down; retry on another node");
            auto done = std::move(shared->done);
            done(std::move(o));
        }
    }
}

InvokeOutcome Invoker::invoke_blocking(InvokeRequest request) {
    std::promise<InvokeOutcome> p;
    auto f = p.get_future();
    invoke(std::move(request), [&p](InvokeOutcome o) { p.set_value(std::move(o)); });
    return f.get();
}

}  // namespace patchbay::invoker
