#include "triggers/poller.hpp"

#include "common/clock.hpp"
#include "common/log.hpp"
#include "triggers/cron.hpp"

#include <boost/json.hpp>

namespace patchbay::triggers {

namespace json = boost::json;

namespace {

constexpr int kMaxInFlight = 8;
constexpr int64_t kClaimSeconds = 300;  // a run not finished by then may be claimed again

}  // namespace

Poller::Poller(store::Database& db, catalog::Catalog& catalog, invoker::Invoker& invoker, control::ControlPlane& control, EventLog& events,
               Attach attach)
    : db_(db), catalog_(catalog), invoker_(invoker), control_(control), events_(events), attach_(std::move(attach)) {}

Poller::~Poller() {
    {
        std::lock_guard lock(mu_);
        stopping_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return in_flight_ == 0; });
}

void Poller::start() {
    thread_ = std::thread([this] { loop(); });
}

void Poller::loop() {
    for (;;) {
        {
            std::unique_lock lock(mu_);
            cv_.wait_for(lock, std::chrono::milliseconds(500), [&] { return stopping_; });
            if (stopping_) return;
        }
        try {
            claim_and_run();
            // Checked every tick, run each `reconcile_every_`: the subscriptions' own times decide
            // which registrations are due, so a short interval is cheap.
            if (reconcile_ && std::chrono::steady_clock::now() - last_reconcile_ >= std::min<std::chrono::seconds>(reconcile_every_, std::chrono::seconds(60))) {
                last_reconcile_ = std::chrono::steady_clock::now();
                reconcile_();
            }
        } catch (const store::StoreError& e) {
            log::warn("poller could not read the store", {{"reason", e.what()}});
        }
    }
}

void Poller::claim_and_run() {
    int room;
    {
        std::lock_guard lock(mu_);
        room = kMaxInFlight - in_flight_;
    }
    if (room <= 0) return;
    std::vector<Claimed> due;
    int64_t now = unix_now();
    db_.write([&](store::Tx& tx) {
        auto rows = tx.query(
            "SELECT id, team_id, connection_id, integration, trigger_name, kind, params, cursor, failures, next_run_at, schedule FROM subscriptions "
            "WHERE kind IN ('poll', 'schedule') AND status = 'active' AND COALESCE(next_run_at, 0) <= ? AND COALESCE(running_until, 0) < ? "
            "ORDER BY COALESCE(next_run_at, 0) LIMIT ?",
            {now, now, int64_t{room}});
        for (const auto& r : rows) {
            Claimed c;
            c.id = r.text(0);
            c.team_id = r.integer(1);
            c.connection_id = r.text(2);
            c.integration = r.text(3);
            c.trigger = r.text(4);
            c.kind = r.text(5);
            boost::system::error_code ec;
            c.params = json::parse(r.text(6), ec);
            if (ec || !c.params.is_object()) c.params = json::object{};
            if (!r.is_null(7)) {
                c.cursor = json::parse(r.text(7), ec);
                if (ec) c.cursor = nullptr;
            }
            c.failures = r.integer(8);
            if (!r.is_null(9)) c.next_run_at = r.integer(9);
            if (!r.is_null(10)) {
                c.schedule = json::parse(r.text(10), ec);
                if (ec) c.schedule = nullptr;
            }
            tx.exec("UPDATE subscriptions SET running_until = ? WHERE id = ?", {now + kClaimSeconds, c.id});
            due.push_back(std::move(c));
        }
    });
    for (auto& c : due) {
        {
            std::lock_guard lock(mu_);
            ++in_flight_;
        }
        run(std::move(c));
    }
}

void Poller::run(Claimed c) {
    auto entry = catalog_.find(c.integration);
    const manifest::Trigger* trigger = entry && entry->ready() ? entry->manifest->find_trigger(c.trigger) : nullptr;
    if (!trigger) {
        Error e(Errc::integration_unavailable, "integration '" + c.integration + "' or its trigger '" + c.trigger + "' is unavailable");
        return finished(c, &e, std::chrono::minutes(5));
    }
    auto interval = std::chrono::duration_cast<std::chrono::seconds>(trigger->interval);
    if (interval.count() < 1) interval = std::chrono::seconds(1);

    if (c.kind == "schedule" && (!trigger->cron.empty() || c.schedule.is_object())) {
        // The subscription's own schedule, else the manifest's.
        std::string cron = trigger->cron, zone = trigger->timezone;
        if (const auto* s = c.schedule.if_object()) {
            if (const auto* v = s->if_contains("cron"); v && v->is_string()) cron = std::string(v->get_string()), zone.clear();
            if (const auto* v = s->if_contains("timezone"); v && v->is_string()) zone = std::string(v->get_string());
        }
        auto schedule = CronSchedule::parse(cron);
        auto tz = TimeZone::load(zone);
        if (!schedule || !tz) return finished(c, schedule ? &tz.error() : &schedule.error(), std::chrono::hours(1));
        int64_t now = unix_now();
        auto next = schedule->next_after(std::max(now, c.next_run_at.value_or(0)), *tz);
        if (!next) {
            Error e(Errc::invalid_input, "cron '" + cron + "' never fires (within five years)");
            return finished(c, &e, std::chrono::hours(24));
        }
        std::vector<NewEvent> events;
        if (c.next_run_at) {  // the tick that came due; the first run only sets the next one
            int64_t tick = *c.next_run_at;
            json::object data{{"scheduled_at", iso_unix(tick)},
                              {"timezone", tz->name()},
                              {"params", c.params}};
            events.push_back({"tick:" + std::to_string(tick), json::serialize(data)});
        }
        Delivery d{c.team_id, c.id, "", std::move(events), RunUpdate{std::nullopt, *next}};
        events_.append(std::move(d), [this, c](Result<Stored> r) { finished(c, r ? nullptr : &r.error(), std::chrono::minutes(1)); });
        return;
    }
    if (c.kind == "schedule") {
        // One event per tick; the tick's own time is its id, so a tick is stored once.
        int64_t now = unix_now();
        int64_t tick = now - now % interval.count();
        json::object data{{"scheduled_at", iso_unix(tick)}, {"params", c.params}};
        Delivery d{c.team_id, c.id, "", {{"tick:" + std::to_string(tick), json::serialize(data)}}, RunUpdate{std::nullopt, tick + interval.count()}};
        events_.append(std::move(d), [this, c, interval](Result<Stored> r) { finished(c, r ? nullptr : &r.error(), interval); });
        return;
    }

    auto rc = control_.open_connection(c.connection_id);
    if (!rc) return finished(c, &rc.error(), interval);
    invoker::InvokeRequest ir;
    ir.hook = invoker::Hook::poll;
    ir.integration = c.integration;
    ir.action = c.trigger;
    ir.input = json::object{{"cursor", c.cursor}, {"params", c.params}};
    ir.context = json::object{{"subscription", json::object{{"id", c.id}, {"params", c.params}}}};
    ir.timeout = std::chrono::seconds(60);
    attach_(ir, *rc);
    invoker_.invoke(std::move(ir), [this, c, interval](invoker::InvokeOutcome o) {
        if (!o.ok()) return finished(c, &*o.error, interval);
        std::vector<NewEvent> events = events_from_hook(*o.output);  // item ids deduplicate: polls overlap
        std::optional<std::string> cursor;
        if (const auto* out = o.output->if_object())
            if (const auto* next = out->if_contains("cursor"); next && !next->is_null()) cursor = json::serialize(*next);
        Delivery d{c.team_id, c.id, "", std::move(events), RunUpdate{std::move(cursor), unix_now() + interval.count()}};
        events_.append(std::move(d), [this, c, interval](Result<Stored> r) { finished(c, r ? nullptr : &r.error(), interval); });
    });
}

void Poller::finished(const Claimed& c, const Error* error, std::chrono::seconds interval) {
    if (error) {
        // Back off: the interval, doubled per failure in a row, at most an hour (or the interval).
        int64_t wait = interval.count();
        for (int64_t i = 0; i < c.failures && wait < 3600; ++i) wait *= 2;
        wait = std::max<int64_t>(interval.count(), std::min<int64_t>(wait, 3600));
        log::warn("trigger run failed", {{"subscription", c.id}, {"trigger", c.trigger}, {"reason", error->message}, {"retry_in_s", wait}});
        try {
            db_.write([&](store::Tx& tx) {
                tx.exec("UPDATE subscriptions SET failures = failures + 1, last_error = ?, next_run_at = ?, running_until = NULL WHERE id = ?",
                        {error->message.substr(0, 500), unix_now() + wait, c.id});
            });
        } catch (const store::StoreError& e) {
            log::warn("trigger failure not recorded", {{"subscription", c.id}, {"reason", e.what()}});
        }
    }
    std::lock_guard lock(mu_);
    --in_flight_;
    cv_.notify_all();
}

}  // namespace patchbay::triggers
