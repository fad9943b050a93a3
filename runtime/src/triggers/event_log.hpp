// The event log: where trigger events wait, durably, until the workflow engine has them.
//
// Appends go through one writer thread that commits whatever has queued up in a single
// transaction (group commit): a webhook answers 2xx only after its events are on disk, and a
// burst of deliveries shares the cost of one sync. A delivery whose id was seen in the last 72
// hours is dropped as a duplicate; an event whose source id (a polled item's id) is already in
// the log is too. Each delivery is its own savepoint, so one that cannot be stored (its
// subscription was just deleted) does not fail the others.
//
// The engine pulls: events not yet acknowledged, in the order they were stored, each handed out
// under a lease; one not acknowledged before its lease ends is handed out again. A subscription's
// later events wait while an earlier one is out on lease, so each subscription's events arrive in
// order. Waiting pulls are woken when this process stores events for their team (other nodes'
// events are seen when the wait ends).
#pragma once

#include "common/error.hpp"
#include "store/database.hpp"

#include <boost/json/object.hpp>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace patchbay::triggers {

struct NewEvent {
    std::string source_id;  // the tool's id for it, when it has one (deduplication); may be empty
    std::string data;       // JSON text
};

// The events a plugin's webhook or poll hook returned: {"events": [{"id"?, "data"}]}. Ids that
// are not strings are used as their JSON text.
std::vector<NewEvent> events_from_hook(const boost::json::value& output);

// How an event is handed to the engine (pulled or pushed): a row of kEventColumns (events `e`
// joined to their subscription `s`) as {"id", "seq", "subscription", "integration", "trigger",
// "connection", "received_at", "attempt", "data"}, `attempt` counting this hand-out.
inline constexpr const char* kEventColumns =
    "e.seq, e.id, e.subscription_id, e.data, e.received_at, e.attempts, s.integration, s.trigger_name, s.connection_id";
boost::json::object event_json(const store::Row& row);

// What a poll or a schedule run moves its subscription to, in the same transaction as its events:
// a cursor is never ahead of the events it covers.
struct RunUpdate {
    std::optional<std::string> cursor;  // JSON text; nullopt keeps the current one
    int64_t next_run_at = 0;            // Unix seconds
};

struct Delivery {
    int64_t team_id = 0;
    std::string subscription_id;
    std::string delivery_id;  // the sender's id for this delivery; "" when it gives none
    std::vector<NewEvent> events;
    std::optional<RunUpdate> run;
};

struct Stored {
    bool duplicate = false;             // the delivery id was seen before: nothing stored
    std::vector<std::string> event_ids;  // the ids given to the events stored
};

struct PullOptions {
    int64_t after = 0;                     // the caller's cursor: the last seq it has seen
    size_t limit = 100;
    std::chrono::seconds lease{60};
};

class EventLog {
public:
    explicit EventLog(store::Database& db, std::chrono::hours dedup_window = std::chrono::hours(72));
    ~EventLog();  // stores what is queued, then stops
    EventLog(const EventLog&) = delete;
    EventLog& operator=(const EventLog&) = delete;

    // Stores a delivery's events together. `done` runs on the writer thread once they are
    // committed, or with STORE_UNAVAILABLE when they could not be.
    void append(Delivery delivery, std::function<void(Result<Stored>)> done);

    // Hands out up to `limit` events of the team: {"events": [...], "cursor": N}.
    Result<boost::json::object> pull(int64_t team_id, const PullOptions& options);
    // The hand-out itself (event_json views, leased). `one_per_subscription`: only each
    // subscription's oldest pending event, for a sender that must finish one before the next
    // (push); otherwise a subscription's events wait only while an earlier one is out on lease.
    std::vector<boost::json::object> lease(int64_t team_id, const PullOptions& options, bool one_per_subscription);
    // Marks events done: {"acknowledged": n, "unknown": [ids not pending for this team]}.
    Result<boost::json::object> ack(int64_t team_id, const std::vector<std::string>& ids);

    // Calls `wake` once, on the writer thread, after events for `team_id` (0: any team) are next
    // stored here.
    uint64_t wait_for(int64_t team_id, std::function<void()> wake);
    void cancel_wait(uint64_t ticket);

private:
    struct Pending {
        Delivery delivery;
        std::function<void(Result<Stored>)> done;
    };
    void run();
    void commit(std::vector<Pending>& batch);
    void housekeeping();

    store::Database& db_;
    std::chrono::hours dedup_window_;
    std::mutex mu_;
    std::condition_variable cv_;
    std::deque<Pending> queue_;
    bool stopping_ = false;
    std::map<uint64_t, std::pair<int64_t, std::function<void()>>> waiters_;
    uint64_t next_ticket_ = 1;
    std::chrono::steady_clock::time_point last_housekeeping_{};
    std::thread writer_;
};

}  // namespace patchbay::triggers
