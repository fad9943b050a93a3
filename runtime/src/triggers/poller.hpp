// The poller: runs poll and schedule subscriptions when they are due.
//
// A poll calls the plugin's poll hook with the subscription's last cursor and parameters; its
// events (deduplicated on their item ids) and the new cursor are committed together, so a crash
// never leaves the cursor ahead of events that were not stored. A schedule stores one event per
// tick, its id the tick's time, so two nodes firing the same tick store it once. A run that fails
// is retried later, the wait doubling from the trigger's interval up to an hour, and the
// subscription shows the failure count and the last error.
//
// Subscriptions are claimed in the store (running_until) before they run, so several nodes on one
// store do not run the same one at once.
#pragma once

#include "catalog/catalog.hpp"
#include "control/control_plane.hpp"
#include "invoker/invoker.hpp"
#include "store/database.hpp"
#include "triggers/event_log.hpp"

#include <condition_variable>
#include <optional>
#include <functional>
#include <mutex>
#include <thread>

namespace patchbay::triggers {

class Poller {
public:
    // Adds a connection's credentials and context to a plugin call (the API's rule).
    using Attach = std::function<void(invoker::InvokeRequest&, const control::ResolvedConnection&)>;

    Poller(store::Database& db, catalog::Catalog& catalog, invoker::Invoker& invoker, control::ControlPlane& control, EventLog& events,
           Attach attach);
    ~Poller();  // stops claiming, waits for the runs in flight
    Poller(const Poller&) = delete;
    Poller& operator=(const Poller&) = delete;

    void start();
    // Also runs `reconcile` about every `every` (webhook registrations at the tools).
    void set_reconcile(std::function<void()> reconcile, std::chrono::seconds every) {
        reconcile_ = std::move(reconcile);
        reconcile_every_ = every;
    }

private:
    struct Claimed {
        std::string id;
        int64_t team_id = 0;
        std::string connection_id, integration, trigger, kind;
        boost::json::value params, cursor, schedule;
        int64_t failures = 0;
        std::optional<int64_t> next_run_at;
    };
    void loop();
    void claim_and_run();
    void run(Claimed c);
    void finished(const Claimed& c, const Error* error, std::chrono::seconds interval);

    store::Database& db_;
    catalog::Catalog& catalog_;
    invoker::Invoker& invoker_;
    control::ControlPlane& control_;
    EventLog& events_;
    Attach attach_;
    std::function<void()> reconcile_;
    std::chrono::seconds reconcile_every_{3600};
    std::chrono::steady_clock::time_point last_reconcile_{};

    std::mutex mu_;
    std::condition_variable cv_;
    bool stopping_ = false;
    int in_flight_ = 0;
    std::thread thread_;
};

}  // namespace patchbay::triggers
