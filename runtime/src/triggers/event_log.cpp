#include "triggers/event_log.hpp"

#include "common/clock.hpp"
#include "common/crypto.hpp"
#include "common/log.hpp"

#include <boost/json.hpp>

#include <set>

namespace patchbay::triggers {

namespace json = boost::json;
using store::Tx;

namespace {

std::string iso(int64_t unix_seconds) {
    std::time_t t = static_cast<std::time_t>(unix_seconds);
    std::tm tm{};
    gmtime_r(&t, &tm);
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return buf;
}

constexpr size_t kMaxBatch = 512;

}  // namespace

json::object event_json(const store::Row& r) {
    boost::system::error_code ec;
    json::value data = json::parse(r.text(3), ec);
    if (ec) data = json::string(r.text(3));
    return json::object{{"id", r.text(1)},           {"seq", r.integer(0)},          {"subscription", r.text(2)},
                        {"integration", r.text(6)},  {"trigger", r.text(7)},         {"connection", r.text(8)},
                        {"received_at", iso(r.integer(4))}, {"attempt", r.integer(5) + 1}, {"data", std::move(data)}};
}

std::vector<NewEvent> events_from_hook(const json::value& output) {
    std::vector<NewEvent> events;
    const auto* out = output.if_object();
    const auto* list = out ? out->if_contains("events") : nullptr;
    if (!list || !list->is_array()) return events;
    for (const auto& e : list->get_array()) {
        const auto* eo = e.if_object();
        if (!eo) continue;
        const auto* id = eo->if_contains("id");
        const auto* data = eo->if_contains("data");
        events.push_back({id && !id->is_null() ? (id->is_string() ? std::string(id->get_string()) : json::serialize(*id)) : std::string(),
                          json::serialize(data ? *data : json::value(nullptr))});
    }
    return events;
}

EventLog::EventLog(store::Database& db, std::chrono::hours dedup_window) : db_(db), dedup_window_(dedup_window) {
    writer_ = std::thread([this] { run(); });
}

EventLog::~EventLog() {
    {
        std::lock_guard lock(mu_);
        stopping_ = true;
    }
    cv_.notify_all();
    writer_.join();
}

void EventLog::append(Delivery delivery, std::function<void(Result<Stored>)> done) {
    {
        std::lock_guard lock(mu_);
        if (!stopping_) {
            queue_.push_back({std::move(delivery), std::move(done)});
            cv_.notify_one();
            return;
        }
    }
    done(Error(Errc::shutting_down, "the runtime is shutting down; send it again"));
}

void EventLog::run() {
    for (;;) {
        std::vector<Pending> batch;
        {
            std::unique_lock lock(mu_);
            cv_.wait_for(lock, std::chrono::seconds(60), [&] { return stopping_ || !queue_.empty(); });
            if (queue_.empty() && stopping_) return;
            while (!queue_.empty() && batch.size() < kMaxBatch) {
                batch.push_back(std::move(queue_.front()));
                queue_.pop_front();
            }
        }
        if (!batch.empty()) commit(batch);
        if (std::chrono::steady_clock::now() - last_housekeeping_ > std::chrono::minutes(1)) housekeeping();
    }
}

void EventLog::commit(std::vector<Pending>& batch) {
    std::vector<std::optional<Result<Stored>>> results(batch.size());
    std::set<int64_t> teams;
    int64_t now = unix_now();
    try {
        db_.write([&](Tx& tx) {
            for (size_t i = 0; i < batch.size(); ++i) {
                const Delivery& d = batch[i].delivery;
                tx.exec("SAVEPOINT delivery");
                try {
                    Stored s;
                    if (!d.delivery_id.empty()) {
                        // Seen within the window: a retry of what is stored already.
                        auto seen = tx.query_one("SELECT received_at FROM webhook_deliveries WHERE subscription_id = ? AND delivery_id = ?",
                                                 {d.subscription_id, d.delivery_id});
                        if (seen && seen->integer(0) > now - std::chrono::duration_cast<std::chrono::seconds>(dedup_window_).count()) {
                            s.duplicate = true;
                        } else {
                            tx.exec("INSERT INTO webhook_deliveries (subscription_id, delivery_id, received_at) VALUES (?, ?, ?) "
                                    "ON CONFLICT (subscription_id, delivery_id) DO UPDATE SET received_at = excluded.received_at",
                                    {d.subscription_id, d.delivery_id, now});
                        }
                    }
                    if (!s.duplicate) {
                        for (const auto& e : d.events) {
                            std::string id = "evt_" + crypto::random_hex(12);
                            store::Value source = e.source_id.empty() ? store::Value{} : store::Value{e.source_id};
                            auto n = tx.exec("INSERT INTO events (id, team_id, subscription_id, source_id, data, received_at) VALUES (?, ?, ?, ?, ?, ?) "
                                             "ON CONFLICT (subscription_id, source_id) DO NOTHING",
                                             {id, d.team_id, d.subscription_id, source, e.data, now});
                            if (n > 0) s.event_ids.push_back(std::move(id));
                        }
                        if (!s.event_ids.empty()) teams.insert(d.team_id);
                    }
                    if (d.run) {
                        auto n = tx.exec("UPDATE subscriptions SET cursor = COALESCE(?, cursor), next_run_at = ?, running_until = NULL, failures = 0, "
                                         "last_error = NULL WHERE id = ?",
                                         {d.run->cursor ? store::Value{*d.run->cursor} : store::Value{}, d.run->next_run_at, d.subscription_id});
                        if (n == 0) throw store::StoreError("the subscription no longer exists", true);
                    }
                    tx.exec("RELEASE delivery");
                    results[i] = std::move(s);
                } catch (const store::StoreError& e) {
                    tx.exec("ROLLBACK TO delivery");
                    tx.exec("RELEASE delivery");
                    log::warn("trigger delivery not stored", {{"subscription", d.subscription_id}, {"reason", e.what()}});
                    results[i] = Result<Stored>(Error(e.constraint() ? Errc::not_found : Errc::store_unavailable,
                                                      e.constraint() ? "the subscription no longer exists" : "the event could not be stored; send it again"));
                }
            }
        });
    } catch (const store::StoreError& e) {
        log::error("event log write failed", {{"reason", e.what()}, {"deliveries", batch.size()}});
        for (auto& p : batch) p.done(Error(Errc::store_unavailable, "the event could not be stored; send it again"));
        return;
    }
    for (size_t i = 0; i < batch.size(); ++i) batch[i].done(std::move(*results[i]));
    if (teams.empty()) return;
    std::vector<std::function<void()>> wake;
    {
        std::lock_guard lock(mu_);
        for (auto it = waiters_.begin(); it != waiters_.end();) {
            if (it->second.first == 0 || teams.count(it->second.first)) {
                wake.push_back(std::move(it->second.second));
                it = waiters_.erase(it);
            } else {
                ++it;
            }
        }
    }
    for (auto& w : wake) w();
}

void EventLog::housekeeping() {
    last_housekeeping_ = std::chrono::steady_clock::now();
    int64_t horizon = unix_now() - std::chrono::duration_cast<std::chrono::seconds>(dedup_window_).count();
    try {
        db_.write([&](Tx& tx) {
            tx.exec("DELETE FROM webhook_deliveries WHERE received_at < ?", {horizon});
            // Acknowledged events are kept as long as deliveries are remembered, then dropped.
            tx.exec("DELETE FROM events WHERE acked_at IS NOT NULL AND acked_at < ?", {horizon});
        });
    } catch (const store::StoreError& e) {
        log::warn("event log housekeeping failed", {{"reason", e.what()}});
    }
}

std::vector<json::object> EventLog::lease(int64_t team_id, const PullOptions& o, bool one_per_subscription) {
    std::vector<json::object> events;
    int64_t now = unix_now();
    int64_t limit = static_cast<int64_t>(std::max<size_t>(1, std::min<size_t>(o.limit, 1000)));
    db_.write([&](Tx& tx) {
        // Pending, not out on lease, and no earlier event of its subscription in the way.
        auto rows = tx.query(
            std::string("SELECT ") + kEventColumns + " FROM events e JOIN subscriptions s ON s.id = e.subscription_id "
            "WHERE e.team_id = ? AND e.acked_at IS NULL AND e.dead_at IS NULL AND (e.lease_until IS NULL OR e.lease_until <= ?) "
            "AND (e.seq > ? OR e.attempts > 0) "
            "AND NOT EXISTS (SELECT 1 FROM events p WHERE p.subscription_id = e.subscription_id AND p.seq < e.seq "
            "                AND p.acked_at IS NULL AND p.dead_at IS NULL AND (? = 1 OR p.lease_until > ?)) "
            "ORDER BY e.seq LIMIT ?",
            {team_id, now, o.after, int64_t{one_per_subscription}, now, limit});
        for (const auto& r : rows) {
            events.push_back(event_json(r));
            tx.exec("UPDATE events SET lease_until = ?, attempts = attempts + 1 WHERE seq = ?", {now + o.lease.count(), r.integer(0)});
        }
    });
    return events;
}

Result<json::object> EventLog::pull(int64_t team_id, const PullOptions& o) {
    json::array events;
    int64_t cursor = o.after;
    for (auto& e : lease(team_id, o, false)) {
        cursor = std::max(cursor, e.at("seq").as_int64());
        events.push_back(std::move(e));
    }
    return json::object{{"events", std::move(events)}, {"cursor", cursor}};
}

Result<json::object> EventLog::ack(int64_t team_id, const std::vector<std::string>& ids) {
    int64_t acknowledged = 0;
    json::array unknown;
    int64_t now = unix_now();
    db_.write([&](Tx& tx) {
        for (const auto& id : ids) {
            auto n = tx.exec("UPDATE events SET acked_at = ?, lease_until = NULL WHERE id = ? AND team_id = ? AND acked_at IS NULL",
                             {now, id, team_id});
            if (n > 0) acknowledged += n;
            else if (!tx.query_one("SELECT 1 FROM events WHERE id = ? AND team_id = ?", {id, team_id})) unknown.push_back(json::string(id));
        }
    });
    return json::object{{"acknowledged", acknowledged}, {"unknown", std::move(unknown)}};
}

uint64_t EventLog::wait_for(int64_t team_id, std::function<void()> wake) {
    std::lock_guard lock(mu_);
    uint64_t t = next_ticket_++;
    waiters_.emplace(t, std::make_pair(team_id, std::move(wake)));
    return t;
}

void EventLog::cancel_wait(uint64_t ticket) {
    std::lock_guard lock(mu_);
    waiters_.erase(ticket);
}

}  // namespace patchbay::triggers
