#include "triggers/push.hpp"

#include "common/clock.hpp"
#include "common/crypto.hpp"
#include "common/log.hpp"
#include "common/uri.hpp"
#include "store/audit.hpp"

#include <boost/json.hpp>
#include <boost/url/parse.hpp>

namespace patchbay::triggers {

namespace json = boost::json;
using store::Principal;
using store::Tx;

namespace {

Error admins_only() { return Error(Errc::forbidden, "only admins may change where the team's events are delivered"); }

constexpr int64_t kBatch = 50;
constexpr int64_t kClaimSeconds = 60;

}  // namespace

PushDelivery::PushDelivery(store::Database& db, secrets::Vault& vault, http::Client& client, EventLog& events, PushOptions options)
    : db_(db), vault_(vault), client_(client), events_(events), options_(options) {}

PushDelivery::~PushDelivery() {
    {
        std::lock_guard lock(mu_);
        stopping_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
    if (wait_ticket_) events_.cancel_wait(wait_ticket_);
}

void PushDelivery::start() {
    thread_ = std::thread([this] { loop(); });
}

Result<json::object> PushDelivery::set_target(const Principal& p, const json::object& body) {
    if (!p.admin()) return admins_only();
    for (const auto& [k, v] : body) {
        (void)v;
        if (k != "url" && k != "secret") return Error(Errc::invalid_input, "unknown field '" + std::string(k) + "'; send url and, if you like, secret", "/" + std::string(k));
    }
    const auto* u = body.if_contains("url");
    bool valid = false;
    if (u && u->is_string())
        if (auto parsed = parse_uri(u->get_string()))
            valid = (parsed->scheme() == "https" || parsed->scheme() == "http") && !parsed->host().empty();
    if (!valid)
        return Error(Errc::invalid_input, "url must be the engine's http(s) URL that takes the events, such as https://engine.example.com/patchbay", "/url");
    std::string secret;
    bool generated = false;
    if (const auto* s = body.if_contains("secret")) {
        if (!s->is_string() || s->get_string().size() < 16) return Error(Errc::invalid_input, "secret must be at least 16 characters", "/secret");
        secret = std::string(s->get_string());
    } else {
        secret = "pbwh_" + crypto::random_hex(24);
        generated = true;
    }
    std::string url(u->get_string());
    auto sealed = vault_.seal_secret(p.team_id, secrets::kDeliveryTarget, "secret", secret);
    std::string now = iso_now();
    db_.write([&](Tx& tx) {
        tx.exec("INSERT INTO delivery_targets (team_id, url, key_id, sealed, created_by, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (team_id) DO UPDATE SET url = excluded.url, key_id = excluded.key_id, sealed = excluded.sealed, updated_at = excluded.updated_at",
                {p.team_id, url, secrets::sealed_key_id(sealed), store::Blob(sealed.begin(), sealed.end()), p.user_id, now, std::string(now)});
        store::record_audit(tx, p.team_id, p.user, "delivery.set", "delivery", std::to_string(p.team_id),
                            json::object{{"url", url}, {"secret", generated ? "generated" : "given"}});
    });
    {
        std::lock_guard lock(mu_);
        woken_ = true;
    }
    cv_.notify_all();
    auto v = get_target(p);
    if (v && generated) (*v)["secret"] = secret;  // shown this once; the engine verifies with it
    return v;
}

Result<json::object> PushDelivery::get_target(const Principal& p) {
    json::object out{{"mode", "pull"}};
    db_.read([&](Tx& tx) {
        if (auto r = tx.query_one("SELECT url, updated_at FROM delivery_targets WHERE team_id = ?", {p.team_id})) {
            out["mode"] = "push";
            out["url"] = r->text(0);
            out["updated_at"] = r->text(1);
        }
        auto pending = tx.query_one("SELECT COUNT(*) FROM events WHERE team_id = ? AND acked_at IS NULL AND dead_at IS NULL", {p.team_id});
        auto dead = tx.query_one("SELECT COUNT(*) FROM events WHERE team_id = ? AND dead_at IS NOT NULL AND acked_at IS NULL", {p.team_id});
        out["pending_events"] = pending ? pending->integer(0) : 0;
        out["dead_letters"] = dead ? dead->integer(0) : 0;
    });
    return out;
}

Result<json::object> PushDelivery::remove_target(const Principal& p) {
    if (!p.admin()) return admins_only();
    db_.write([&](Tx& tx) {
        if (tx.exec("DELETE FROM delivery_targets WHERE team_id = ?", {p.team_id}) > 0)
            store::record_audit(tx, p.team_id, p.user, "delivery.remove", "delivery", std::to_string(p.team_id), json::object{});
    });
    return get_target(p);
}

bool PushDelivery::pushes(int64_t team_id) {
    bool yes = false;
    db_.read([&](Tx& tx) { yes = tx.query_one("SELECT 1 FROM delivery_targets WHERE team_id = ?", {team_id}).has_value(); });
    return yes;
}

Result<json::object> PushDelivery::dead_letters(const Principal& p, size_t limit) {
    json::array items;
    db_.read([&](Tx& tx) {
        for (const auto& r : tx.query("SELECT e.id, e.seq, e.subscription_id, s.trigger_name, e.attempts, e.last_error, e.dead_at, e.data "
                                      "FROM events e JOIN subscriptions s ON s.id = e.subscription_id "
                                      "WHERE e.team_id = ? AND e.dead_at IS NOT NULL AND e.acked_at IS NULL ORDER BY e.seq LIMIT ?",
                                      {p.team_id, static_cast<int64_t>(std::min<size_t>(std::max<size_t>(limit, 1), 1000))})) {
            boost::system::error_code ec;
            json::value data = json::parse(r.text(7), ec);
            items.push_back(json::object{{"id", r.text(0)},
                                         {"seq", r.integer(1)},
                                         {"subscription", r.text(2)},
                                         {"trigger", r.text(3)},
                                         {"attempts", r.integer(4)},
                                         {"last_error", r.text(5)},
                                         {"dead_at", iso_unix(r.integer(6))},
                                         {"data", ec ? json::value(r.text(7)) : std::move(data)}});
        }
    });
    return json::object{{"dead_letters", std::move(items)}};
}

Result<json::object> PushDelivery::replay(const Principal& p, const std::vector<std::string>& ids) {
    int64_t replayed = 0;
    json::array unknown;
    db_.write([&](Tx& tx) {
        for (const auto& id : ids) {
            // Back in line with a fresh age: the 72 hours start again.
            auto n = tx.exec("UPDATE events SET dead_at = NULL, attempts = 0, lease_until = NULL, last_error = NULL, received_at = ? "
                             "WHERE id = ? AND team_id = ? AND dead_at IS NOT NULL AND acked_at IS NULL",
                             {unix_now(), id, p.team_id});
            if (n > 0) replayed += n;
            else unknown.push_back(json::string(id));
        }
        if (replayed > 0)
            store::record_audit(tx, p.team_id, p.user, "delivery.replay", "delivery", std::to_string(p.team_id), json::object{{"events", replayed}});
    });
    {
        std::lock_guard lock(mu_);
        woken_ = true;
    }
    cv_.notify_all();
    return json::object{{"replayed", replayed}, {"unknown", std::move(unknown)}};
}

void PushDelivery::loop() {
    for (;;) {
        {
            std::unique_lock lock(mu_);
            if (!woken_ && !stopping_) {
                if (!wait_ticket_)
                    wait_ticket_ = events_.wait_for(0, [this] {
                        {
                            std::lock_guard l(mu_);
                            woken_ = true;
                            wait_ticket_ = 0;
                        }
                        cv_.notify_all();
                    });
                cv_.wait_for(lock, std::chrono::milliseconds(250), [&] { return woken_ || stopping_; });
            }
            if (stopping_) return;
            woken_ = false;
        }
        std::vector<Target> targets;
        try {
            std::vector<std::tuple<int64_t, std::string, store::Blob>> rows;
            db_.read([&](Tx& tx) {
                for (const auto& r : tx.query("SELECT team_id, url, sealed FROM delivery_targets")) rows.emplace_back(r.integer(0), r.text(1), r.blob(2));
            });
            for (auto& [team, url, blob] : rows) {
                // Opened again only when the sealed value changed (set anew, or re-sealed by a
                // key rotation), not on every pass.
                auto& cached = opened_[team];
                if (cached.first != blob) {
                    auto secret = vault_.open_secret(team, secrets::kDeliveryTarget, "secret", secrets::Sealed(blob.begin(), blob.end()));
                    if (!secret) {
                        opened_.erase(team);
                        log::error("a push delivery secret cannot be opened", {{"team_id", team}, {"reason", secret.error().message}});
                        continue;
                    }
                    cached = {blob, std::move(*secret)};
                }
                targets.push_back({team, url, cached.second});
            }
            for (const auto& t : targets) push_team(t);
        } catch (const store::StoreError& e) {
            log::warn("push delivery could not read the store", {{"reason", e.what()}});
        }
    }
}

void PushDelivery::push_team(const Target& t) {
    // Each subscription's oldest pending event only, so events of one subscription never race
    // each other and a retry holds back the ones after it.
    auto batch = events_.lease(t.team_id, PullOptions{0, kBatch, std::chrono::seconds(kClaimSeconds)}, true);
    for (const auto& event : batch) {
        int64_t seq = event.at("seq").as_int64(), attempt = event.at("attempt").as_int64();
        std::string body = json::serialize(event);
        std::string ts = std::to_string(unix_now());
        host::OutboundRequest req;
        req.method = "POST";
        req.url = t.url;
        req.body = body;
        req.timeout = options_.timeout;
        req.follow_redirects = false;
        req.headers = {{"Content-Type", "application/json"},
                       {"X-Patchbay-Event-Id", std::string(event.at("id").as_string())},
                       {"X-Patchbay-Attempt", std::to_string(attempt)},
                       {"X-Patchbay-Signature", "t=" + ts + ",v1=" + crypto::hex(crypto::hmac(crypto::Mac::hmac_sha256, t.secret, ts + "." + body))}};
        auto res = client_.perform(req, std::chrono::steady_clock::now() + options_.timeout);
        bool ok = res && res->status >= 200 && res->status < 300;
        std::string problem = ok ? "" : res ? "the engine answered " + std::to_string(res->status) : res.error().message;
        try {
            db_.write([&](Tx& tx) {
                int64_t now2 = unix_now();
                if (ok) {
                    tx.exec("UPDATE events SET acked_at = ?, lease_until = NULL, last_error = NULL WHERE seq = ?", {now2, seq});
                    return;
                }
                auto row = tx.query_one("SELECT received_at FROM events WHERE seq = ?", {seq});
                if (!row) return;
                if (now2 - row->integer(0) >= options_.max_age.count()) {
                    tx.exec("UPDATE events SET dead_at = ?, lease_until = NULL, last_error = ? WHERE seq = ?", {now2, problem.substr(0, 500), seq});
                    log::warn("event parked as a dead letter", {{"event", event.at("id")}, {"attempts", attempt}, {"reason", problem}});
                    return;
                }
                // Back off: retry_after, doubling per attempt, at most an hour.
                int64_t wait_ms = options_.retry_after.count();
                for (int64_t a = 1; a < attempt && wait_ms < 3'600'000; ++a) wait_ms *= 2;
                wait_ms = std::min<int64_t>(wait_ms, 3'600'000);
                tx.exec("UPDATE events SET lease_until = ?, last_error = ? WHERE seq = ?", {now2 + (wait_ms + 999) / 1000, problem.substr(0, 500), seq});
            });
        } catch (const store::StoreError& e) {
            log::warn("push delivery result not recorded", {{"reason", e.what()}});
        }
        if (!ok) log::info("push delivery failed; retrying later", {{"event", event.at("id")}, {"attempt", attempt}, {"reason", problem}});
    }
}

}  // namespace patchbay::triggers
