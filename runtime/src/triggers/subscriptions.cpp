#include "triggers/subscriptions.hpp"

#include "common/clock.hpp"
#include "common/crypto.hpp"
#include "common/json_fields.hpp"
#include "common/log.hpp"
#include "store/audit.hpp"
#include "triggers/cron.hpp"

#include <boost/json.hpp>

namespace patchbay::triggers {

namespace json = boost::json;
using store::Principal;
using store::Tx;

namespace {

std::string secret_field(std::string_view id, std::string_view what) { return "subscription:" + std::string(id) + ":" + std::string(what); }

Error no_subscription(std::string_view id) {
    return Error(Errc::not_found, "no subscription '" + std::string(id) + "' in this team; GET /v1/subscriptions lists them");
}

Status only_keys(const json::object& body, std::initializer_list<std::string_view> allowed) {
    return only_fields(body, allowed, "a subscription");
}

void seal_into(Tx& tx, secrets::Vault& vault, int64_t team, const std::string& connection, const std::string& field, std::string_view value) {
    auto sealed = vault.seal_secret(team, connection, field, value);
    tx.exec("INSERT INTO connection_secrets (connection_id, field, key_id, sealed) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (connection_id, field) DO UPDATE SET key_id = excluded.key_id, sealed = excluded.sealed",
            {connection, field, secrets::sealed_key_id(sealed), store::Blob(sealed.begin(), sealed.end())});
}

// A sealed subscription field ("secret", "previous", "hook_token"), opened; nullopt when the
// subscription has none, an error when it cannot be opened.
Result<std::optional<std::string>> open_field(Tx& tx, secrets::Vault& vault, int64_t team, const std::string& connection, std::string_view id,
                                              std::string_view what) {
    auto row = tx.query_one("SELECT sealed FROM connection_secrets WHERE connection_id = ? AND field = ?", {connection, secret_field(id, what)});
    if (!row) return std::optional<std::string>();
    const auto& blob = row->blob(0);
    auto opened = vault.open_secret(team, connection, secret_field(id, what), secrets::Sealed(blob.begin(), blob.end()));
    if (!opened) return opened.error();
    return std::optional<std::string>(std::move(*opened));
}

// Removes a subscription with its secrets, audited.
void erase(Tx& tx, int64_t team, std::string_view actor, const std::string& connection, std::string_view id, json::object details) {
    tx.exec("DELETE FROM connection_secrets WHERE connection_id = ? AND field LIKE ?", {connection, secret_field(id, "%")});
    tx.exec("DELETE FROM subscriptions WHERE id = ?", {std::string(id)});
    store::record_audit(tx, team, actor, "subscription.delete", "subscription", id, std::move(details));
}

// The subscription `id` of the team, for a change only its creator or an admin may make (`what`
// says which, for the refusal): its row of "created_by, <columns>".
Result<store::Row> for_change(Tx& tx, const Principal& p, std::string_view id, const std::string& columns, std::string_view what) {
    auto r = tx.query_one("SELECT created_by, " + columns + " FROM subscriptions WHERE id = ? AND team_id = ?", {std::string(id), p.team_id});
    if (!r) return no_subscription(id);
    if (r->integer(0) != p.user_id && !p.admin())
        return Error(Errc::forbidden, "only the subscription's creator or an admin may " + std::string(what));
    return std::move(*r);
}

std::string new_secret() { return "whsec_" + crypto::base64url(std::string(reinterpret_cast<const char*>(crypto::random_bytes(32).data()), 32)); }

}  // namespace

Subscriptions::Subscriptions(store::Database& db, control::ControlPlane& control, secrets::Vault& vault, catalog::Catalog& catalog)
    : db_(db), control_(control), vault_(vault), catalog_(catalog) {}

void Subscriptions::set_public_url(std::string url) {
    public_url_ = std::move(url);
    while (!public_url_.empty() && public_url_.back() == '/') public_url_.pop_back();
}

std::string Subscriptions::hook_url(const std::string& token) const { return public_url_ + "/hooks/" + token; }

Result<json::object> Subscriptions::create(const Principal& p, const json::object& body) {
    if (auto e = only_keys(body, {"connection", "trigger", "params", "signing_secret", "unsigned", "schedule"})) return *e;
    const auto* c = body.if_contains("connection");
    const auto* t = body.if_contains("trigger");
    if (!c || !c->is_string() || !t || !t->is_string())
        return Error(Errc::invalid_input, "send {\"connection\": \"c_...\", \"trigger\": \"NAME\"} (and \"params\" if the trigger takes any)");
    std::string connection(c->get_string()), trigger(t->get_string());
    json::object params;
    if (const auto* pv = body.if_contains("params")) {
        if (!pv->is_object()) return Error(Errc::invalid_input, "params must be an object", "/params");
        params = pv->get_object();
    }
    std::string integration;
    db_.read([&](Tx& tx) {
        if (auto r = tx.query_one("SELECT integration FROM connections WHERE id = ? AND team_id = ?", {connection, p.team_id}))
            integration = r->text(0);
    });
    if (integration.empty()) return Error(Errc::unknown_connection, "no connection '" + connection + "' in this team", "/connection");
    // Subscribing uses the connection: the same rule as invoking with it.
    if (auto use = control_.resolve_for_use(p, connection, integration); !use) return use.error();
    auto entry = catalog_.find(integration);
    if (!entry || !entry->manifest)
        return Error(Errc::integration_unavailable, "integration '" + integration + "' is not in the catalog");
    const auto* tr = entry->manifest->find_trigger(trigger);
    if (!tr) {
        std::string names;
        for (const auto& x : entry->manifest->triggers) names += (names.empty() ? "" : ", ") + x.name;
        return Error(Errc::not_found, "integration '" + integration + "' has no trigger '" + trigger + "'; its triggers are: " +
                                          (names.empty() ? "none" : names),
                     "/trigger");
    }
    std::optional<json::object> schedule;  // a schedule trigger's own cron and time zone
    if (const auto* s = body.if_contains("schedule")) {
        if (tr->kind != "schedule") return Error(Errc::invalid_input, "schedule applies to schedule triggers; '" + trigger + "' is a " + tr->kind + " trigger", "/schedule");
        const auto* so = s->if_object();
        if (!so) return Error(Errc::invalid_input, "schedule is {\"cron\": \"0 9 * * mon-fri\", \"timezone\": \"Europe/Berlin\"}", "/schedule");
        if (auto e = only_keys(*so, {"cron", "timezone"})) return *e;
        std::string cron = so->contains("cron") && so->at("cron").is_string() ? std::string(so->at("cron").get_string()) : tr->cron;
        if (cron.empty()) return Error(Errc::invalid_input, "this trigger runs on an interval; give schedule.cron to run it on a cron schedule", "/schedule/cron");
        if (auto c = CronSchedule::parse(cron); !c) return Error(Errc::invalid_input, c.error().message, "/schedule/cron");
        if (const auto* z = so->if_contains("timezone")) {
            if (!z->is_string()) return Error(Errc::invalid_input, "schedule.timezone is an IANA name such as Europe/Berlin", "/schedule/timezone");
            if (auto tz = TimeZone::load(z->get_string()); !tz) return Error(Errc::invalid_input, tz.error().message, "/schedule/timezone");
        }
        schedule = *so;
    }
    bool unsigned_ok = false;
    if (const auto* u = body.if_contains("unsigned")) {
        if (!u->is_bool()) return Error(Errc::invalid_input, "unsigned must be true or false", "/unsigned");
        unsigned_ok = u->get_bool();
    }
    std::string secret;
    bool generated = false;
    std::string token;
    if (tr->kind == "webhook") {
        bool signs = tr->webhook_policy.signature.has_value() || tr->webhook_policy.plugin_verifies;
        if (signs && unsigned_ok)
            return Error(Errc::invalid_input, "trigger '" + trigger + "' is signed by the tool; leave out \"unsigned\"", "/unsigned");
        if (!signs && !unsigned_ok)
            return Error(Errc::invalid_input, "trigger '" + trigger + "' declares no signature, so nothing proves a delivery comes from the tool; "
                                                   "an admin may subscribe with \"unsigned\": true to accept that (the hook URL is then the only secret)",
                         "/unsigned");
        if (unsigned_ok && !p.admin())
            return Error(Errc::forbidden, "only admins may accept unsigned deliveries (\"unsigned\": true)");
        if (const auto* s = body.if_contains("signing_secret")) {
            if (!signs) return Error(Errc::invalid_input, "trigger '" + trigger + "' is unsigned; a signing_secret has no use", "/signing_secret");
            if (!s->is_string() || s->get_string().size() < 8)
                return Error(Errc::invalid_input, "signing_secret must be the secret the tool signs with (8 characters or more)", "/signing_secret");
            secret = std::string(s->get_string());
        } else if (signs) {
            secret = new_secret();
            generated = true;
        }
        token = "wh_" + crypto::random_hex(24);
    } else if (body.contains("signing_secret") || unsigned_ok) {
        return Error(Errc::invalid_input, "signing_secret and unsigned apply to webhook triggers; '" + trigger + "' is a " + tr->kind + " trigger");
    }

    std::string id = "sub_" + crypto::random_hex(8);
    std::string now = iso_now();
    db_.write([&](Tx& tx) {
        tx.exec("INSERT INTO subscriptions (id, team_id, connection_id, integration, trigger_name, kind, params, schedule, status, unsigned_ok, "
                "hook_hash, created_by, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'active', ?, ?, ?, ?, ?)",
                {id, p.team_id, connection, integration, trigger, tr->kind, json::serialize(params),
                 schedule ? store::Value{json::serialize(*schedule)} : store::Value{}, int64_t{unsigned_ok},
                 token.empty() ? store::Value{} : store::Value{crypto::sha256_hex(token)}, p.user_id, now, now});
        if (!token.empty()) seal_into(tx, vault_, p.team_id, connection, secret_field(id, "hook_token"), token);
        if (!secret.empty()) seal_into(tx, vault_, p.team_id, connection, secret_field(id, "secret"), secret);
        store::record_audit(tx, p.team_id, p.user, "subscription.create", "subscription", id,
                            json::object{{"connection", connection}, {"integration", integration}, {"trigger", trigger},
                                         {"unsigned", unsigned_ok}, {"secret", secret.empty() ? "none" : generated ? "generated" : "given"}});
    });
    // Tools that must be told where to send webhooks: the plugin registers the hook URL there.
    if (!token.empty() && registrar_) {
        json::object request{{"hook_url", hook_url(token)}, {"params", params}, {"remote", nullptr}};
        if (!secret.empty()) request["secret"] = secret;
        auto registered = registrar_(true, connection, integration, trigger, std::move(request));
        if (!registered && registered.error().code != Errc::unsupported) {
            db_.write([&](Tx& tx) {
                erase(tx, p.team_id, p.user, connection, id, json::object{{"reason", "the tool refused the webhook registration"}});
            });
            Error e = registered.error();
            e.message = "the webhook could not be registered at the tool, so nothing was subscribed: " + e.message;
            return e;
        }
        if (registered)
            if (const auto* r = registered->is_object() ? registered->get_object().if_contains("remote") : nullptr; r && !r->is_null())
                db_.write([&](Tx& tx) {
                    tx.exec("UPDATE subscriptions SET remote = ?, reconciled_at = ? WHERE id = ?",
                            {json::serialize(*r), unix_now(), id});
                });
    }
    auto v = view(p, id, true);
    if (v && generated) (*v)["signing_secret"] = secret;  // shown this once; configure the tool with it
    return v;
}

void Subscriptions::reconcile(std::chrono::seconds every) {
    if (!registrar_) return;
    int64_t now = unix_now();
    struct Item {
        std::string id, connection, integration, trigger, remote, params;
        int64_t team = 0;
        std::string token;
        std::optional<std::string> secret;
    };
    std::vector<Item> due;
    db_.read([&](Tx& tx) {
        for (const auto& r : tx.query("SELECT id, team_id, connection_id, integration, trigger_name, remote, params FROM subscriptions "
                                      "WHERE kind = 'webhook' AND status = 'active' AND remote IS NOT NULL AND COALESCE(reconciled_at, 0) <= ? LIMIT 50",
                                      {now - every.count()})) {
            Item it{r.text(0), r.text(2), r.text(3), r.text(4), r.text(5), r.text(6), r.integer(1), {}, {}};
            auto token = open_field(tx, vault_, it.team, it.connection, it.id, "hook_token");
            if (!token || !*token) continue;
            it.token = std::move(**token);
            if (auto secret = open_field(tx, vault_, it.team, it.connection, it.id, "secret")) it.secret = std::move(*secret);
            due.push_back(std::move(it));
        }
    });
    for (auto& it : due) {
        boost::system::error_code ec;
        json::value remote = json::parse(it.remote, ec), params = json::parse(it.params, ec);
        json::object request{{"hook_url", hook_url(it.token)}, {"params", params.is_object() ? params : json::value(json::object{})}, {"remote", remote}};
        if (it.secret) request["secret"] = *it.secret;
        auto out = registrar_(true, it.connection, it.integration, it.trigger, std::move(request));
        db_.write([&](Tx& tx) {
            if (!out) {
                log::warn("webhook registration check failed", {{"subscription", it.id}, {"reason", out.error().message}});
                tx.exec("UPDATE subscriptions SET reconciled_at = ?, last_error = ? WHERE id = ?", {now, out.error().message.substr(0, 500), it.id});
                return;
            }
            const auto* r = out->is_object() ? out->get_object().if_contains("remote") : nullptr;
            std::string fresh = r && !r->is_null() ? json::serialize(*r) : it.remote;
            tx.exec("UPDATE subscriptions SET reconciled_at = ?, remote = ?, last_error = NULL WHERE id = ?", {now, fresh, it.id});
            if (fresh != it.remote) {
                log::info("webhook registration repaired", {{"subscription", it.id}});
                store::record_audit(tx, it.team, "patchbay", "subscription.reregistered", "subscription", it.id,
                                    json::object{{"reason", "the tool no longer had the registration as made"}});
            }
        });
    }
}

Result<json::object> Subscriptions::view(const Principal& p, std::string_view id, bool with_hook_url) {
    std::optional<json::object> out;
    db_.read([&](Tx& tx) {
        auto r = tx.query_one(
            "SELECT s.id, s.connection_id, s.integration, s.trigger_name, s.kind, s.params, s.status, s.unsigned_ok, s.created_at, s.updated_at, "
            "u.name, s.cursor, s.next_run_at, s.failures, s.last_error, s.schedule, s.remote FROM subscriptions s JOIN users u ON u.id = s.created_by "
            "WHERE s.id = ? AND s.team_id = ?",
            {std::string(id), p.team_id});
        if (!r) return;
        boost::system::error_code ec;
        json::value params = json::parse(r->text(5), ec);
        json::object o{{"id", r->text(0)},          {"connection", r->text(1)}, {"integration", r->text(2)}, {"trigger", r->text(3)},
                       {"kind", r->text(4)},        {"params", ec ? json::value(json::object{}) : params},
                       {"status", r->text(6)},      {"unsigned", r->integer(7) != 0},
                       {"created_by", r->text(10)}, {"created_at", r->text(8)}, {"updated_at", r->text(9)}};
        if (r->text(4) == "webhook" && !r->is_null(16)) {  // registered at the tool by the plugin
            json::value remote = json::parse(r->text(16), ec);
            if (!ec) o["remote"] = std::move(remote);
            if (!r->is_null(14)) o["last_error"] = r->text(14);
        }
        if (r->text(4) != "webhook") {
            json::value cursor = nullptr;
            if (!r->is_null(11)) {
                cursor = json::parse(r->text(11), ec);
                if (ec) cursor = nullptr;
            }
            if (r->text(4) == "poll") o["cursor"] = std::move(cursor);
            o["next_run_at"] = r->is_null(12) ? json::value(nullptr) : json::value(iso_unix(r->integer(12)));
            o["failures"] = r->integer(13);
            o["last_error"] = r->is_null(14) ? json::value(nullptr) : json::value(r->text(14));
            if (!r->is_null(15)) {
                json::value sched = json::parse(r->text(15), ec);
                if (!ec) o["schedule"] = std::move(sched);
            }
        }
        auto pending = tx.query_one("SELECT COUNT(*) FROM events WHERE subscription_id = ? AND acked_at IS NULL", {std::string(id)});
        o["pending_events"] = pending ? pending->integer(0) : 0;
        if (with_hook_url)
            if (auto token = open_field(tx, vault_, p.team_id, r->text(1), id, "hook_token"); token && *token) o["hook_url"] = hook_url(**token);
        out = std::move(o);
    });
    if (!out) return no_subscription(id);
    return *out;
}

Result<json::object> Subscriptions::get(const Principal& p, std::string_view id) { return view(p, id, true); }

Result<json::object> Subscriptions::list(const Principal& p, std::string_view connection, std::string_view status) {
    if (!status.empty() && status != "active" && status != "paused")
        return Error(Errc::invalid_input, "status is active or paused");
    std::vector<std::string> ids;
    db_.read([&](Tx& tx) {
        for (const auto& r : tx.query("SELECT id FROM subscriptions WHERE team_id = ? AND (? = '' OR connection_id = ?) AND (? = '' OR status = ?) "
                                      "ORDER BY created_at, id",
                                      {p.team_id, std::string(connection), std::string(connection), std::string(status), std::string(status)}))
            ids.push_back(r.text(0));
    });
    json::array items;
    for (const auto& id : ids)
        if (auto v = view(p, id, false)) items.push_back(std::move(*v));
    return json::object{{"subscriptions", std::move(items)}};
}

Result<json::object> Subscriptions::set_active(const Principal& p, std::string_view id, bool active) {
    std::optional<Error> err;
    db_.write([&](Tx& tx) {
        auto r = for_change(tx, p, id, "status", "pause or resume it");
        if (!r) return void(err = r.error());
        std::string status = active ? "active" : "paused";
        if (r->text(1) == status) return;
        tx.exec("UPDATE subscriptions SET status = ?, updated_at = ? WHERE id = ?", {status, iso_now(), std::string(id)});
        store::record_audit(tx, p.team_id, p.user, active ? "subscription.resume" : "subscription.pause", "subscription", id, json::object{});
    });
    if (err) return *err;
    forget_hooks();
    return view(p, id, false);
}

Result<json::object> Subscriptions::rotate_secret(const Principal& p, std::string_view id, const json::object& body) {
    if (auto e = only_keys(body, {"signing_secret"})) return *e;
    std::string secret;
    bool generated = false;
    if (const auto* s = body.if_contains("signing_secret")) {
        if (!s->is_string() || s->get_string().size() < 8)
            return Error(Errc::invalid_input, "signing_secret must be the secret the tool signs with (8 characters or more)", "/signing_secret");
        secret = std::string(s->get_string());
    } else {
        secret = new_secret();
        generated = true;
    }
    std::optional<Error> err;
    db_.write([&](Tx& tx) {
        auto r = for_change(tx, p, id, "connection_id", "change its signing secret");
        if (!r) return void(err = r.error());
        std::string connection = r->text(1);
        auto old = open_field(tx, vault_, p.team_id, connection, id, "secret");
        if (!old) return void(err = old.error());
        if (!*old) return void(err = Error(Errc::conflict, "this subscription's trigger is not signed; it has no signing secret"));
        // The current secret becomes the previous one, sealed again under its new name (the
        // field is part of what the seal binds).
        seal_into(tx, vault_, p.team_id, connection, secret_field(id, "previous"), **old);
        seal_into(tx, vault_, p.team_id, connection, secret_field(id, "secret"), secret);
        tx.exec("UPDATE subscriptions SET updated_at = ? WHERE id = ?", {iso_now(), std::string(id)});
        store::record_audit(tx, p.team_id, p.user, "subscription.rotate_secret", "subscription", id,
                            json::object{{"secret", generated ? "generated" : "given"}});
    });
    if (err) return *err;
    forget_hooks();
    auto v = view(p, id, false);
    if (v && generated) (*v)["signing_secret"] = secret;
    return v;
}

Result<json::object> Subscriptions::remove(const Principal& p, std::string_view id) {
    std::optional<Error> err;
    struct Unregister {
        std::string connection, integration, trigger, remote, params;
    };
    std::optional<Unregister> unregister;
    db_.write([&](Tx& tx) {
        auto r = for_change(tx, p, id, "connection_id, trigger_name, remote, integration, params", "delete it");
        if (!r) return void(err = r.error());
        if (!r->is_null(3)) unregister = Unregister{r->text(1), r->text(4), r->text(2), r->text(3), r->text(5)};
        erase(tx, p.team_id, p.user, r->text(1), id, json::object{{"connection", r->text(1)}, {"trigger", r->text(2)}});
    });
    if (err) return *err;
    forget_hooks();
    json::object out{{"id", id}, {"removed", true}};
    if (unregister && registrar_) {
        // The tool forgets the webhook too (best effort: the subscription is gone either way).
        boost::system::error_code ec;
        json::value remote = json::parse(unregister->remote, ec), params = json::parse(unregister->params, ec);
        auto r = registrar_(false, unregister->connection, unregister->integration, unregister->trigger,
                            json::object{{"remote", remote}, {"params", params.is_object() ? params : json::value(json::object{})}});
        out["remote_removed"] = r.ok() || r.error().code == Errc::unsupported;
        if (!r && r.error().code != Errc::unsupported) out["remote_error"] = r.error().message;
    }
    return out;
}

std::optional<HookTarget> Subscriptions::by_hook_token(std::string_view token) {
    if (token.size() < 10 || token.size() > 100) return std::nullopt;
    std::string hash = crypto::sha256_hex(token);
    auto now = std::chrono::steady_clock::now();
    {
        std::lock_guard lock(hooks_mu_);
        if (auto it = hooks_.find(hash); it != hooks_.end() && now - it->second.loaded < std::chrono::seconds(2)) return it->second.target;
    }
    auto target = load_hook(hash);
    std::lock_guard lock(hooks_mu_);
    if (hooks_.size() >= 10'000) hooks_.clear();  // bounded: random tokens cannot grow it without end
    hooks_[hash] = CachedHook{now, target};
    return target;
}

void Subscriptions::forget_hooks() {
    std::lock_guard lock(hooks_mu_);
    hooks_.clear();
}

std::optional<HookTarget> Subscriptions::load_hook(const std::string& token_hash) {
    std::optional<HookTarget> h;
    db_.read([&](Tx& tx) {
        auto r = tx.query_one("SELECT id, team_id, connection_id, integration, trigger_name, params, status, unsigned_ok FROM subscriptions "
                              "WHERE hook_hash = ?",
                              {token_hash});
        if (!r) return;
        HookTarget t;
        t.id = r->text(0);
        t.team_id = r->integer(1);
        t.connection_id = r->text(2);
        t.integration = r->text(3);
        t.trigger = r->text(4);
        boost::system::error_code ec;
        auto params = json::parse(r->text(5), ec);
        if (!ec && params.is_object()) t.params = std::move(params.get_object());
        t.active = r->text(6) == "active";
        t.unsigned_ok = r->integer(7) != 0;
        for (const char* what : {"secret", "previous"}) {
            auto opened = open_field(tx, vault_, t.team_id, t.connection_id, t.id, what);
            if (!opened) {
                log::error("a subscription's signing secret cannot be opened", {{"subscription", t.id}, {"reason", opened.error().message}});
                continue;  // verification then fails closed
            }
            if (*opened) t.secrets.push_back(std::move(**opened));
        }
        h = std::move(t);
    });
    return h;
}

}  // namespace patchbay::triggers
