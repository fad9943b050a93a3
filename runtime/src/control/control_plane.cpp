#include "control/control_plane.hpp"

#include "common/clock.hpp"
#include "common/crypto.hpp"
#include "common/log.hpp"
#include "common/uri.hpp"
#include "store/audit.hpp"

#include <boost/json.hpp>
#include <boost/url/parse.hpp>
#include <openssl/crypto.h>

#include <algorithm>
#include <set>

namespace patchbay::control {

namespace json = boost::json;
using store::Principal;
using store::Tx;
using store::Value;

namespace {

constexpr std::string_view kMask = "********";

Error forbidden(std::string what) { return Error(Errc::forbidden, std::move(what)); }
Error admins_only(std::string_view what) {
    return Error(Errc::forbidden, "only team admins may " + std::string(what) + "; ask an admin of your team");
}
Error no_connection(std::string_view id) {
    return Error(Errc::unknown_connection, "no connection '" + std::string(id) + "' in your team; GET /v1/connections lists them");
}

std::string auth_names(const manifest::Manifest& m) {
    std::string s;
    for (const auto& a : m.auth) s += (s.empty() ? "" : ", ") + a.name;
    return s;
}

Status check_base_url(const json::value& v) {
    if (!v.is_string()) return Error(Errc::invalid_input, "base_url must be a string such as https://api.example.com", "/base_url");
    std::string_view s = v.get_string();
    if (s.empty()) return std::nullopt;
    auto u = parse_absolute_uri(s);
    if (!u || (u->scheme() != "http" && u->scheme() != "https") || u->host().empty())
        return Error(Errc::invalid_input, "base_url must be an absolute http(s) URL such as https://api.example.com", "/base_url");
    return std::nullopt;
}

// Checks settings and secrets against the auth type's fields. `creating` also requires the
// required ones. `secrets` values may be null in an update (removes the field).
Status check_fields(const manifest::AuthType& auth, const json::object* settings, const json::object* secrets, bool creating) {
    auto field = [&](std::string_view n) -> const manifest::AuthField* {
        for (const auto& f : auth.fields)
            if (f.name == n) return &f;
        return nullptr;
    };
    std::string names;
    for (const auto& f : auth.fields) names += (names.empty() ? "" : ", ") + f.name + (f.secret ? " (secret)" : "");
    if (names.empty()) names = "none";
    if (settings)
        for (const auto& [k, v] : *settings) {
            const auto* f = field(k);
            if (f && f->secret)
                return Error(Errc::invalid_input, "'" + std::string(k) + "' is a secret of auth type '" + auth.name + "'; send it under secrets",
                             "/settings/" + std::string(k));
            // Settings the host itself reads: a CA bundle for any connection; for OAuth2, a
            // provider URL or scopes of the connection's own (tenants, regions).
            bool oauth2 = auth.type.rfind("oauth2_", 0) == 0;
            bool host_setting = k == "base_url" || k == "ca_bundle" || (oauth2 && (k == "token_url" || k == "authorization_url" || k == "scopes"));
            if (!f && !host_setting)
                return Error(Errc::invalid_input, "auth type '" + auth.name + "' has no field '" + std::string(k) + "'; its fields: " + names +
                                                      (oauth2 ? ", and token_url, authorization_url, scopes, ca_bundle" : ", and ca_bundle"),
                             "/settings/" + std::string(k));
            if (host_setting && k != "base_url" && !v.is_string() && !v.is_null())
                return Error(Errc::invalid_input, "'" + std::string(k) + "' is a string", "/settings/" + std::string(k));
            if (!(v.is_string() || v.is_number() || v.is_bool() || v.is_null()))
                return Error(Errc::invalid_input, "settings values are strings, numbers or booleans", "/settings/" + std::string(k));
        }
    if (secrets)
        for (const auto& [k, v] : *secrets) {
            const auto* f = field(k);
            if (!f || !f->secret)
                return Error(Errc::invalid_input, "auth type '" + auth.name + "' has no secret field '" + std::string(k) + "'; its fields: " + names,
                             "/secrets/" + std::string(k));
            if (!(v.is_string() || (v.is_null() && !creating)))
                return Error(Errc::invalid_input, "secret values are strings", "/secrets/" + std::string(k));
        }
    if (creating)
        for (const auto& f : auth.fields) {
            if (!f.required || !f.default_value.is_null()) continue;
            const json::object* where = f.secret ? secrets : settings;
            if (!where || !where->contains(f.name))
                return Error(Errc::invalid_input, "auth type '" + auth.name + "' needs '" + f.name + "' under " + (f.secret ? "secrets" : "settings"),
                             std::string(f.secret ? "/secrets/" : "/settings/") + f.name);
        }
    return std::nullopt;
}

Result<std::vector<std::string>> string_list(const json::value& v, std::string_view pointer) {
    std::vector<std::string> out;
    if (!v.is_array()) return Error(Errc::invalid_input, "expected a list of user names", std::string(pointer));
    for (const auto& e : v.get_array()) {
        if (!e.is_string()) return Error(Errc::invalid_input, "expected a list of user names", std::string(pointer));
        out.emplace_back(e.get_string());
    }
    return out;
}

Status only_keys(const json::object& o, std::initializer_list<std::string_view> allowed) {
    for (const auto& [k, _] : o)
        if (std::find(allowed.begin(), allowed.end(), std::string_view(k)) == allowed.end()) {
            std::string list;
            for (auto a : allowed) list += (list.empty() ? "" : ", ") + std::string(a);
            return Error(Errc::invalid_input, "unknown field '" + std::string(k) + "'; allowed: " + list, "/" + std::string(k));
        }
    return std::nullopt;
}

// `body[key]`, when present, must be an object; `out` points at it (or stays null).
Status optional_object(const json::object& body, std::string_view key, const json::object*& out) {
    if (const auto* v = body.if_contains(key)) {
        if (!v->is_object()) return Error(Errc::invalid_input, std::string(key) + " must be an object", "/" + std::string(key));
        out = &v->get_object();
    }
    return std::nullopt;
}

std::string new_connection_id() { return "c_" + crypto::random_hex(8); }

}  // namespace

// ---------------------------------------------------------------------------------------------

ResolvedConnection::~ResolvedConnection() {
    for (auto& [_, v] : secrets) OPENSSL_cleanse(v.data(), v.size());
}

json::object ResolvedConnection::plugin_view(bool raw) const {
    json::object o{{"id", id}, {"name", name}, {"auth_type", auth_type}, {"base_url", base_url}, {"settings", settings}};
    if (raw) {
        json::object s;
        for (const auto& [k, v] : secrets) s[k] = v;
        o["secrets"] = std::move(s);
    }
    return o;
}

host::Injection credentials_for(const ResolvedConnection& c, const manifest::AuthType* auth) {
    host::Injection in;
    in.base_url = c.base_url;
    if (in.base_url.empty())
        if (const auto* b = c.settings.if_contains("base_url"); b && b->is_string()) in.base_url = b->get_string();
    if (in.base_url.empty() || !auth) return in;
    auto secret = [&](std::string_view f) -> std::string {
        for (const auto& [k, v] : c.secrets)
            if (k == f) return v;
        return {};
    };
    auto setting = [&](std::string_view f) -> std::string {
        if (const auto* v = c.settings.if_contains(f); v && v->is_string()) return std::string(v->get_string());
        return {};
    };
    if (auth->type == "api_key") {
        std::string key = secret("api_key");
        if (key.empty()) return in;
        std::string param = auth->parameter.empty() ? "X-API-Key" : auth->parameter;
        if (auth->in == "query") in.query.emplace_back(param, auth->prefix + key);
        else if (auth->in == "cookie") in.headers.emplace_back("Cookie", param + "=" + auth->prefix + key);
        else in.headers.emplace_back(param, auth->prefix + key);
    } else if (auth->type == "basic") {
        in.headers.emplace_back("Authorization", "Basic " + crypto::base64(setting("username") + ":" + secret("password")));
    } else if (auth->type == "bearer") {
        std::string token = secret("token");
        if (!token.empty()) in.headers.emplace_back("Authorization", "Bearer " + token);
    }  // OAuth2 types: the token comes from the connection's token source, fresh for each request
    return in;
}

struct ControlPlane::Facts {
    std::string id;
    std::string integration;
    ConnectionFacts facts;
};

ControlPlane::ControlPlane(store::Database& db, store::PrincipalStore& principals, secrets::Vault& vault, catalog::Catalog& catalog)
    : db_(db), principals_(principals), vault_(vault), catalog_(catalog) {
    usage_thread_ = std::thread([this] {
        std::unique_lock lock(usage_mu_);
        while (!stopping_) {
            usage_cv_.wait_for(lock, std::chrono::seconds(1));
            lock.unlock();
            flush_usage();
            lock.lock();
        }
    });
}

ControlPlane::~ControlPlane() {
    {
        std::lock_guard lock(usage_mu_);
        stopping_ = true;
    }
    usage_cv_.notify_all();
    usage_thread_.join();
    flush_usage();
}

// --- integrations ----------------------------------------------------------------------------

bool ControlPlane::installed(int64_t team_id, std::string_view integration) {
    // Asked on every invocation: answered from memory, re-read at most every 2 s so that changes
    // made by another process (the CLI) show up too.
    auto key = std::make_pair(team_id, std::string(integration));
    auto now = std::chrono::steady_clock::now();
    {
        std::lock_guard lock(installed_mu_);
        if (now - installed_loaded_ > std::chrono::seconds(2)) {
            installed_cache_.clear();
            installed_loaded_ = now;
        }
        if (auto it = installed_cache_.find(key); it != installed_cache_.end()) return it->second;
    }
    bool yes = false;
    db_.read([&](Tx& tx) {
        yes = tx.query_one("SELECT 1 FROM installations WHERE team_id = ? AND integration = ?", {team_id, std::string(integration)}).has_value();
    });
    std::lock_guard lock(installed_mu_);
    installed_cache_[key] = yes;
    return yes;
}

json::object ControlPlane::list_integrations(const Principal& p, std::string_view q, bool installed_only) {
    std::map<std::string, std::pair<std::string, std::string>> inst;  // name -> (at, by)
    db_.read([&](Tx& tx) {
        for (const auto& r : tx.query("SELECT i.integration, i.installed_at, coalesce(u.name, '') FROM installations i "
                                      "LEFT JOIN users u ON u.id = i.installed_by WHERE i.team_id = ?",
                                      {p.team_id}))
            inst[r.text(0)] = {r.text(1), r.text(2)};
    });
    std::string needle(q);
    std::transform(needle.begin(), needle.end(), needle.begin(), [](unsigned char c) { return std::tolower(c); });
    json::array items;
    std::set<std::string> seen;
    for (const auto& e : catalog_.list()) {
        std::string hay = e->name + " " + (e->manifest ? e->manifest->title : "");
        std::transform(hay.begin(), hay.end(), hay.begin(), [](unsigned char c) { return std::tolower(c); });
        if (!needle.empty() && hay.find(needle) == std::string::npos) continue;
        auto it = inst.find(e->name);
        if (installed_only && it == inst.end()) continue;
        seen.insert(e->name);
        json::object o{{"name", e->name},
                       {"title", e->manifest ? e->manifest->title : ""},
                       {"version", e->manifest ? e->manifest->version : ""},
                       {"status", e->ready() ? "ready" : "error"},
                       {"installed", it != inst.end()},
                       {"raw_secrets", e->manifest ? e->manifest->raw_secrets : false}};
        if (it != inst.end()) {
            o["installed_at"] = it->second.first;
            o["installed_by"] = it->second.second;
        }
        items.push_back(std::move(o));
    }
    // Installed integrations whose manifest left the catalog still show, so they can be removed.
    for (const auto& [name, at_by] : inst) {
        if (seen.count(name)) continue;
        std::string lname = name;
        std::transform(lname.begin(), lname.end(), lname.begin(), [](unsigned char c) { return std::tolower(c); });
        if (!needle.empty() && lname.find(needle) == std::string::npos) continue;
        items.push_back(json::object{{"name", name}, {"status", "missing"}, {"installed", true}, {"installed_at", at_by.first},
                                     {"installed_by", at_by.second}});
    }
    return json::object{{"integrations", std::move(items)}};
}

Result<json::object> ControlPlane::install(const Principal& p, std::string_view integration) {
    if (!p.admin()) return admins_only("install integrations");
    bool known = false;
    for (const auto& e : catalog_.list())
        if (e->name == integration) known = true;
    if (!known)
        return Error(Errc::unknown_integration, "no integration named '" + std::string(integration) + "' is in the catalog; GET /v1/integrations lists them");
    bool already = false;
    std::string at = iso_now();
    db_.write([&](Tx& tx) {
        if (tx.query_one("SELECT 1 FROM installations WHERE team_id = ? AND integration = ?", {p.team_id, std::string(integration)})) {
            already = true;
            return;
        }
        tx.exec("INSERT INTO installations (team_id, integration, installed_by, installed_at) VALUES (?, ?, ?, ?)",
                {p.team_id, std::string(integration), p.user_id, at});
        store::record_audit(tx, p.team_id, p.user, "integration.install", "integration", integration);
    });
    {
        std::lock_guard lock(installed_mu_);
        installed_cache_.clear();
    }
    return json::object{{"integration", integration}, {"installed", true}, {"already_installed", already}};
}

Result<json::object> ControlPlane::uninstall(const Principal& p, std::string_view integration, bool force) {
    if (!p.admin()) return admins_only("uninstall integrations");
    std::optional<Error> err;
    json::array removed;
    db_.write([&](Tx& tx) {
        if (!tx.query_one("SELECT 1 FROM installations WHERE team_id = ? AND integration = ?", {p.team_id, std::string(integration)})) {
            err = Error(Errc::not_installed, "'" + std::string(integration) + "' is not installed in your team");
            return;
        }
        auto conns = tx.query("SELECT id, name FROM connections WHERE team_id = ? AND integration = ? ORDER BY name",
                              {p.team_id, std::string(integration)});
        json::array list;
        for (const auto& r : conns) list.push_back(json::object{{"id", r.text(0)}, {"name", r.text(1)}});
        if (!conns.empty() && !force) {
            err = Error(Errc::conflict,
                        std::to_string(conns.size()) + " connection(s) still use '" + std::string(integration) +
                            "'; remove them first, or uninstall with ?force=true to remove them too",
                        "", json::object{{"connections", list}});
            return;
        }
        for (const auto& r : conns) {
            tx.exec("DELETE FROM connections WHERE id = ?", {r.text(0)});
            store::record_audit(tx, p.team_id, p.user, "connection.delete", "connection", r.text(0),
                                json::object{{"name", r.text(1)}, {"reason", "integration uninstalled with force"}});
        }
        tx.exec("DELETE FROM installations WHERE team_id = ? AND integration = ?", {p.team_id, std::string(integration)});
        store::record_audit(tx, p.team_id, p.user, "integration.uninstall", "integration", integration,
                            json::object{{"forced", force}, {"connections_removed", list}});
        removed = std::move(list);
    });
    if (err) return *err;
    {
        std::lock_guard lock(installed_mu_);
        installed_cache_.clear();
    }
    return json::object{{"integration", integration}, {"installed", false}, {"connections_removed", std::move(removed)}};
}

// --- connections -----------------------------------------------------------------------------

std::optional<ControlPlane::Facts> ControlPlane::load_facts(const Principal& p, std::string_view id) {
    std::optional<Facts> f;
    db_.read([&](Tx& tx) {
        auto r = tx.query_one(
            "SELECT c.integration, c.owner_id, c.restricted, u.active, coalesce(m.active, 0), "
            "EXISTS (SELECT 1 FROM connection_users cu WHERE cu.connection_id = c.id AND cu.user_id = ?) "
            "FROM connections c JOIN users u ON u.id = c.owner_id "
            "LEFT JOIN memberships m ON m.team_id = c.team_id AND m.user_id = c.owner_id "
            "WHERE c.id = ? AND c.team_id = ?",
            {p.user_id, std::string(id), p.team_id});
        if (!r) return;
        f = Facts{std::string(id), r->text(0),
                  ConnectionFacts{r->integer(1), r->integer(3) != 0 && r->integer(4) != 0, r->integer(2) != 0, r->integer(5) != 0}};
    });
    return f;
}

json::object ControlPlane::view(const Principal& p, std::string_view id) {
    json::object o;
    db_.read([&](Tx& tx) {
        auto r = tx.query_one(
            "SELECT c.id, c.integration, c.name, c.auth_type, c.base_url, c.settings, o.name, cr.name, c.restricted, c.created_at, "
            "c.updated_at, c.owner_id, o.active, coalesce(m.active, 0) FROM connections c JOIN users o ON o.id = c.owner_id "
            "JOIN users cr ON cr.id = c.created_by LEFT JOIN memberships m ON m.team_id = c.team_id AND m.user_id = c.owner_id "
            "WHERE c.id = ? AND c.team_id = ?",
            {std::string(id), p.team_id});
        if (!r) return;
        boost::system::error_code ec;
        json::value settings = json::parse(r->text(5), ec);
        json::object secrets;
        // (Trigger subscriptions keep their secrets here too, as "subscription:..." fields: not the connection's.)
        for (const auto& s : tx.query("SELECT field FROM connection_secrets WHERE connection_id = ? AND field NOT LIKE 'subscription:%' ORDER BY field",
                                      {std::string(id)}))
            secrets[s.text(0)] = kMask;
        json::array allowed;
        bool named = false;
        for (const auto& u : tx.query("SELECT u.name, u.id FROM connection_users cu JOIN users u ON u.id = cu.user_id "
                                      "WHERE cu.connection_id = ? ORDER BY u.name",
                                      {std::string(id)})) {
            allowed.push_back(json::string(u.text(0)));
            if (u.integer(1) == p.user_id) named = true;
        }
        ConnectionFacts f{r->integer(11), r->integer(12) != 0 && r->integer(13) != 0, r->integer(8) != 0, named};
        o = json::object{{"id", r->text(0)},
                         {"integration", r->text(1)},
                         {"name", r->text(2)},
                         {"auth_type", r->text(3)},
                         {"base_url", r->text(4)},
                         {"settings", ec ? json::value(json::object{}) : settings},
                         {"secrets", std::move(secrets)},
                         {"owner", r->text(6)},
                         {"owner_active", f.owner_active},
                         {"created_by", r->text(7)},
                         {"restricted", f.restricted},
                         {"allowed_users", std::move(allowed)},
                         {"can_use", may(p, f, ConnectionOp::use)},
                         {"can_edit", may(p, f, ConnectionOp::edit)},
                         {"created_at", r->text(9)},
                         {"updated_at", r->text(10)}};
        if (r->text(3).rfind("oauth2_", 0) == 0) {
            // Where the connection's OAuth2 authorization stands: pending until the first token,
            // reauthorization_required after the provider refused its grant.
            json::object a{{"status", "pending"}};
            if (auto t = tx.query_one("SELECT status, status_message, expires_at FROM oauth_tokens WHERE connection_id = ?", {std::string(id)})) {
                a["status"] = t->text(0);
                if (!t->text(1).empty()) a["message"] = t->text(1);
                if (!t->is_null(2))
                    a["expires_at"] = iso_time(std::chrono::system_clock::time_point(std::chrono::milliseconds(t->integer(2))));
            }
            o["authorization"] = std::move(a);
        }
    });
    return o;
}

Result<json::object> ControlPlane::list_connections(const Principal& p, std::string_view integration) {
    std::vector<std::string> ids;
    db_.read([&](Tx& tx) {
        std::string sql = "SELECT id FROM connections WHERE team_id = ?";
        std::vector<Value> params{p.team_id};
        if (!integration.empty()) {
            sql += " AND integration = ?";
            params.emplace_back(std::string(integration));
        }
        for (const auto& r : tx.query(sql + " ORDER BY integration, name", params)) ids.push_back(r.text(0));
    });
    json::array items;
    for (const auto& id : ids) {
        auto v = view(p, id);
        if (!v.empty()) items.push_back(std::move(v));
    }
    return json::object{{"connections", std::move(items)}};
}

Result<json::object> ControlPlane::get_connection(const Principal& p, std::string_view id) {
    auto v = view(p, id);
    if (v.empty()) return no_connection(id);
    return v;
}

Result<json::object> ControlPlane::create_connection(const Principal& p, const json::object& body) {
    if (!p.admin()) return admins_only("create connections");
    if (auto e = only_keys(body, {"integration", "name", "auth_type", "base_url", "settings", "secrets", "allowed_users"})) return *e;
    const auto* integ = body.if_contains("integration");
    const auto* name = body.if_contains("name");
    if (!integ || !integ->is_string() || integ->get_string().empty())
        return Error(Errc::invalid_input, "'integration' is required: the name of an installed integration", "/integration");
    if (!name || !name->is_string() || name->get_string().empty() || name->get_string().size() > 100)
        return Error(Errc::invalid_input, "'name' is required: 1-100 characters, unique per integration in your team", "/name");
    std::string integration(integ->get_string());
    auto entry = catalog_.find(integration);
    if (!entry || !entry->manifest)
        return Error(Errc::unknown_integration, "no usable integration named '" + integration + "' is in the catalog");
    if (!installed(p.team_id, integration))
        return Error(Errc::not_installed, "'" + integration + "' is not installed in your team; an admin installs it with POST /v1/installations");
    const auto& m = *entry->manifest;
    std::string auth_name;
    if (const auto* a = body.if_contains("auth_type")) {
        if (!a->is_string()) return Error(Errc::invalid_input, "auth_type must be a string", "/auth_type");
        auth_name = a->get_string();
    } else if (m.auth.size() == 1) {
        auth_name = m.auth.front().name;
    } else {
        return Error(Errc::invalid_input, "'auth_type' is required; '" + integration + "' accepts: " + auth_names(m), "/auth_type");
    }
    const auto* auth = m.find_auth(auth_name);
    if (!auth)
        return Error(Errc::invalid_input, "'" + integration + "' has no auth type '" + auth_name + "'; it accepts: " + auth_names(m), "/auth_type");
    const json::object* settings = nullptr;
    const json::object* secret_values = nullptr;
    if (auto e = optional_object(body, "settings", settings)) return *e;
    if (auto e = optional_object(body, "secrets", secret_values)) return *e;
    if (auto e = check_fields(*auth, settings, secret_values, true)) return *e;
    std::string base_url;
    if (const auto* b = body.if_contains("base_url")) {
        if (auto e = check_base_url(*b)) return *e;
        base_url = b->get_string();
    }
    std::vector<int64_t> allowed;
    if (const auto* a = body.if_contains("allowed_users")) {
        auto names = string_list(*a, "/allowed_users");
        if (!names) return names.error();
        auto ids = principals_.member_ids(p.team_id, *names);
        if (!ids) return ids.error();
        allowed = *ids;
    }

    std::string id = new_connection_id();
    std::string now = iso_now();
    bool duplicate = false;
    json::array secret_names;
    db_.write([&](Tx& tx) {
        if (tx.query_one("SELECT 1 FROM connections WHERE team_id = ? AND integration = ? AND name = ?",
                         {p.team_id, integration, std::string(name->get_string())})) {
            duplicate = true;
            return;
        }
        tx.exec("INSERT INTO connections (id, team_id, integration, name, auth_type, base_url, settings, created_by, owner_id, restricted, "
                "created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                {id, p.team_id, integration, std::string(name->get_string()), auth_name, base_url,
                 json::serialize(settings ? *settings : json::object{}), p.user_id, p.user_id, int64_t{!allowed.empty()}, now, now});
        if (secret_values)
            for (const auto& [k, v] : *secret_values) {
                auto sealed = vault_.seal_secret(p.team_id, id, k, v.get_string());
                tx.exec("INSERT INTO connection_secrets (connection_id, field, key_id, sealed) VALUES (?, ?, ?, ?)",
                        {id, std::string(k), secrets::sealed_key_id(sealed), store::Blob(sealed.begin(), sealed.end())});
                secret_names.push_back(json::string(k));
            }
        for (auto uid : allowed) tx.exec("INSERT INTO connection_users (connection_id, user_id) VALUES (?, ?)", {id, uid});
        store::record_audit(tx, p.team_id, p.user, "connection.create", "connection", id,
                            json::object{{"name", name->get_string()}, {"integration", integration}, {"auth_type", auth_name},
                                         {"secret_fields", secret_names}, {"restricted", !allowed.empty()}});
    });
    if (duplicate)
        return Error(Errc::conflict, "your team already has a connection named '" + std::string(name->get_string()) + "' for '" + integration + "'",
                     "/name");
    return view(p, id);
}

Result<json::object> ControlPlane::update_connection(const Principal& p, std::string_view id, const json::object& body) {
    auto f = load_facts(p, id);
    if (!f) return no_connection(id);
    if (!may(p, f->facts, ConnectionOp::edit)) return forbidden("only the connection's owner may edit it");
    if (auto e = only_keys(body, {"name", "base_url", "settings", "secrets"})) return *e;
    auto entry = catalog_.find(f->integration);
    std::string auth_name;
    db_.read([&](Tx& tx) { auth_name = tx.query_one("SELECT auth_type FROM connections WHERE id = ?", {std::string(id)})->text(0); });
    const json::object* settings = nullptr;
    const json::object* secret_values = nullptr;
    if (auto e = optional_object(body, "settings", settings)) return *e;
    if (auto e = optional_object(body, "secrets", secret_values)) return *e;
    if (entry && entry->manifest) {
        if (const auto* auth = entry->manifest->find_auth(auth_name))
            if (auto e = check_fields(*auth, settings, secret_values, false)) return *e;
    }
    if (const auto* b = body.if_contains("base_url"))
        if (auto e = check_base_url(*b)) return *e;
    const auto* name = body.if_contains("name");
    if (name && (!name->is_string() || name->get_string().empty() || name->get_string().size() > 100))
        return Error(Errc::invalid_input, "name must be 1-100 characters", "/name");

    bool duplicate = false;
    db_.write([&](Tx& tx) {
        json::array changed;
        if (name) {
            if (tx.query_one("SELECT 1 FROM connections WHERE team_id = ? AND integration = ? AND name = ? AND id <> ?",
                             {p.team_id, f->integration, std::string(name->get_string()), std::string(id)})) {
                duplicate = true;
                return;
            }
            tx.exec("UPDATE connections SET name = ? WHERE id = ?", {std::string(name->get_string()), std::string(id)});
            changed.push_back("name");
        }
        if (const auto* b = body.if_contains("base_url")) {
            tx.exec("UPDATE connections SET base_url = ? WHERE id = ?", {std::string(b->get_string()), std::string(id)});
            changed.push_back("base_url");
        }
        if (settings) {
            boost::system::error_code ec;
            auto current = json::parse(tx.query_one("SELECT settings FROM connections WHERE id = ?", {std::string(id)})->text(0), ec);
            json::object merged = (!ec && current.is_object()) ? current.get_object() : json::object{};
            for (const auto& [k, v] : *settings) {
                if (v.is_null()) merged.erase(k);
                else merged[k] = v;
                changed.push_back(json::string("settings." + std::string(k)));
            }
            tx.exec("UPDATE connections SET settings = ? WHERE id = ?", {json::serialize(merged), std::string(id)});
        }
        if (secret_values)
            for (const auto& [k, v] : *secret_values) {
                if (v.is_null()) {
                    tx.exec("DELETE FROM connection_secrets WHERE connection_id = ? AND field = ?", {std::string(id), std::string(k)});
                } else {
                    auto sealed = vault_.seal_secret(p.team_id, id, k, v.get_string());
                    tx.exec("INSERT INTO connection_secrets (connection_id, field, key_id, sealed) VALUES (?, ?, ?, ?) "
                            "ON CONFLICT (connection_id, field) DO UPDATE SET key_id = excluded.key_id, sealed = excluded.sealed",
                            {std::string(id), std::string(k), secrets::sealed_key_id(sealed), store::Blob(sealed.begin(), sealed.end())});
                }
                changed.push_back(json::string("secrets." + std::string(k)));
            }
        tx.exec("UPDATE connections SET updated_at = ? WHERE id = ?", {iso_now(), std::string(id)});
        store::record_audit(tx, p.team_id, p.user, "connection.update", "connection", id, json::object{{"changed", std::move(changed)}});
    });
    if (duplicate) return Error(Errc::conflict, "another connection of this integration is already named that", "/name");
    return view(p, id);
}

Result<json::object> ControlPlane::delete_connection(const Principal& p, std::string_view id, bool confirm) {
    auto f = load_facts(p, id);
    if (!f) return no_connection(id);
    if (!may(p, f->facts, ConnectionOp::remove)) return forbidden("only the connection's owner may remove it");
    flush_usage();
    std::optional<Error> err;
    json::array workflows;
    db_.write([&](Tx& tx) {
        for (const auto& r : tx.query("SELECT workflow_id, last_used_at, uses FROM connection_usage WHERE connection_id = ? ORDER BY last_used_at DESC",
                                      {std::string(id)}))
            workflows.push_back(json::object{{"workflow_id", r.text(0)}, {"last_used_at", r.text(1)}, {"uses", r.integer(2)}});
        if (!workflows.empty() && !confirm) {
            err = Error(Errc::confirmation_required,
                        std::to_string(workflows.size()) + " workflow(s) used this connection; removing it breaks them. Repeat with ?confirm=true to remove it anyway",
                        "", json::object{{"workflows", workflows}});
            return;
        }
        auto name = tx.query_one("SELECT name FROM connections WHERE id = ?", {std::string(id)})->text(0);
        tx.exec("DELETE FROM connections WHERE id = ?", {std::string(id)});
        store::record_audit(tx, p.team_id, p.user, "connection.delete", "connection", id,
                            json::object{{"name", name}, {"workflows_affected", workflows.size()}});
    });
    if (err) return *err;
    return json::object{{"id", id}, {"removed", true}, {"workflows", std::move(workflows)}};
}

Result<json::object> ControlPlane::set_permissions(const Principal& p, std::string_view id, const json::object& body) {
    auto f = load_facts(p, id);
    if (!f) return no_connection(id);
    if (!may(p, f->facts, ConnectionOp::change_permissions)) return forbidden("only the connection's owner may change who may use it");
    if (auto e = only_keys(body, {"restricted", "allowed_users"})) return *e;
    std::vector<std::string> names;
    if (const auto* a = body.if_contains("allowed_users")) {
        auto n = string_list(*a, "/allowed_users");
        if (!n) return n.error();
        names = *n;
    }
    bool restricted = !names.empty();
    if (const auto* r = body.if_contains("restricted")) {
        if (!r->is_bool()) return Error(Errc::invalid_input, "restricted must be true or false", "/restricted");
        restricted = r->get_bool();
    }
    if (!restricted && !names.empty())
        return Error(Errc::invalid_input, "allowed_users only applies when restricted is true", "/allowed_users");
    auto ids = principals_.member_ids(p.team_id, names);
    if (!ids) return ids.error();
    db_.write([&](Tx& tx) {
        tx.exec("UPDATE connections SET restricted = ?, updated_at = ? WHERE id = ?", {int64_t{restricted}, iso_now(), std::string(id)});
        tx.exec("DELETE FROM connection_users WHERE connection_id = ?", {std::string(id)});
        for (auto uid : *ids) tx.exec("INSERT INTO connection_users (connection_id, user_id) VALUES (?, ?)", {std::string(id), uid});
        json::array list;
        for (const auto& n : names) list.push_back(json::string(n));
        store::record_audit(tx, p.team_id, p.user, "connection.permissions", "connection", id,
                            json::object{{"restricted", restricted}, {"allowed_users", std::move(list)}});
    });
    return view(p, id);
}

Result<json::object> ControlPlane::take_over(const Principal& p, std::string_view id) {
    auto f = load_facts(p, id);
    if (!f) return no_connection(id);
    if (!may(p, f->facts, ConnectionOp::take_over)) {
        if (!p.admin()) return admins_only("take over connections");
        if (p.user_id == f->facts.owner_id) return Error(Errc::conflict, "you already own this connection");
        return Error(Errc::conflict, "the connection's owner is active; only a deactivated owner's connections can be taken over");
    }
    db_.write([&](Tx& tx) {
        auto prev = tx.query_one("SELECT u.name FROM connections c JOIN users u ON u.id = c.owner_id WHERE c.id = ?", {std::string(id)})->text(0);
        tx.exec("UPDATE connections SET owner_id = ?, updated_at = ? WHERE id = ?", {p.user_id, iso_now(), std::string(id)});
        store::record_audit(tx, p.team_id, p.user, "connection.take_over", "connection", id,
                            json::object{{"previous_owner", prev}, {"new_owner", p.user}});
    });
    return view(p, id);
}

Result<json::object> ControlPlane::connection_usage(const Principal& p, std::string_view id) {
    auto f = load_facts(p, id);
    if (!f) return no_connection(id);
    flush_usage();
    json::array workflows;
    db_.read([&](Tx& tx) {
        for (const auto& r : tx.query("SELECT workflow_id, last_used_at, uses FROM connection_usage WHERE connection_id = ? ORDER BY last_used_at DESC",
                                      {std::string(id)}))
            workflows.push_back(json::object{{"workflow_id", r.text(0)}, {"last_used_at", r.text(1)}, {"uses", r.integer(2)}});
    });
    return json::object{{"id", id}, {"workflows", std::move(workflows)}};
}

Result<ResolvedConnection> ControlPlane::resolve_for_use(const Principal& p, std::string_view id, std::string_view integration) {
    auto f = load_facts(p, id);
    if (!f) return no_connection(id);
    if (!may(p, f->facts, ConnectionOp::use))
        return forbidden("you may not use connection '" + std::string(id) + "'; its owner restricted it to named users");
    if (f->integration != integration)
        return Error(Errc::invalid_input, "connection '" + std::string(id) + "' belongs to '" + f->integration + "', not '" + std::string(integration) + "'",
                     "/connection");
    return open_connection(id);
}

Result<ResolvedConnection> ControlPlane::resolve_for_edit(const Principal& p, std::string_view id) {
    auto f = load_facts(p, id);
    if (!f) return no_connection(id);
    if (!may(p, f->facts, ConnectionOp::edit))
        return forbidden("only the owner of connection '" + std::string(id) + "' may change its credentials");
    return open_connection(id);
}

Result<ResolvedConnection> ControlPlane::open_connection(std::string_view id) {
    ResolvedConnection rc;
    std::vector<std::pair<std::string, store::Blob>> sealed;
    db_.read([&](Tx& tx) {
        auto r = tx.query_one("SELECT id, team_id, name, integration, auth_type, base_url, settings FROM connections WHERE id = ?", {std::string(id)});
        if (!r) return;
        rc.id = r->text(0);
        rc.team_id = r->integer(1);
        rc.name = r->text(2);
        rc.integration = r->text(3);
        rc.auth_type = r->text(4);
        rc.base_url = r->text(5);
        boost::system::error_code ec;
        auto s = json::parse(r->text(6), ec);
        if (!ec && s.is_object()) rc.settings = std::move(s.get_object());
        for (const auto& row : tx.query("SELECT field, sealed FROM connection_secrets WHERE connection_id = ? AND field NOT LIKE 'subscription:%'",
                                        {std::string(id)}))
            sealed.emplace_back(row.text(0), row.blob(1));
    });
    if (rc.id.empty()) return no_connection(id);
    for (const auto& [field, blob] : sealed) {
        auto opened = vault_.open_secret(rc.team_id, rc.id, field, secrets::Sealed(blob.begin(), blob.end()));
        if (!opened) {
            log::error("a connection secret cannot be opened", {{"connection", rc.id}, {"field", field}, {"reason", opened.error().message}});
            return Error(Errc::internal, "the secret '" + field + "' of connection '" + rc.id + "' cannot be opened; an operator must check the master keys");
        }
        rc.secrets.emplace_back(field, std::move(*opened));
    }
    return rc;
}

void ControlPlane::record_use(std::string_view connection_id, std::string_view workflow_id) {
    if (workflow_id.empty()) return;
    std::lock_guard lock(usage_mu_);
    auto& slot = usage_[{std::string(connection_id), std::string(workflow_id)}];
    slot.first = iso_now();
    slot.second += 1;
}

void ControlPlane::flush_usage() {
    decltype(usage_) pending;
    {
        std::lock_guard lock(usage_mu_);
        pending.swap(usage_);
    }
    if (pending.empty()) return;
    try {
        db_.write([&](Tx& tx) {
            for (const auto& [key, val] : pending) {
                // The connection may be gone by now; then there is nothing to record.
                if (!tx.query_one("SELECT 1 FROM connections WHERE id = ?", {key.first})) continue;
                tx.exec("INSERT INTO connection_usage (connection_id, workflow_id, last_used_at, uses) VALUES (?, ?, ?, ?) "
                        "ON CONFLICT (connection_id, workflow_id) DO UPDATE SET last_used_at = excluded.last_used_at, uses = uses + excluded.uses",
                        {key.first, key.second, val.first, val.second});
            }
        });
    } catch (const store::StoreError& e) {
        log::warn("could not record connection usage", {{"reason", e.what()}});
    }
}

// --- members and tokens ----------------------------------------------------------------------

Result<json::object> ControlPlane::list_members(const Principal& p) {
    json::array items;
    for (const auto& m : principals_.list_members(p.team_id))
        items.push_back(json::object{{"name", m.name}, {"display_name", m.display_name}, {"role", store::role_name(m.role)}, {"active", m.active},
                                     {"created_at", m.created_at}});
    return json::object{{"team", p.team}, {"members", std::move(items)}};
}

Result<json::object> ControlPlane::add_member(const Principal& p, const json::object& body) {
    if (!p.admin()) return admins_only("add members");
    if (auto e = only_keys(body, {"name", "role", "display_name"})) return *e;
    const auto* name = body.if_contains("name");
    if (!name || !name->is_string()) return Error(Errc::invalid_input, "'name' is required", "/name");
    store::Role role = store::Role::member;
    if (const auto* r = body.if_contains("role")) {
        auto parsed = r->is_string() ? store::parse_role(r->get_string()) : std::nullopt;
        if (!parsed) return Error(Errc::invalid_input, "role is admin or member", "/role");
        role = *parsed;
    }
    std::string display;
    if (const auto* d = body.if_contains("display_name"); d && d->is_string()) display = d->get_string();
    auto m = principals_.add_member(p.team_id, name->get_string(), role, display);
    if (!m) return m.error();
    db_.write([&](Tx& tx) {
        store::record_audit(tx, p.team_id, p.user, "member.add", "user", m->name, json::object{{"role", store::role_name(role)}});
    });
    return json::object{{"name", m->name}, {"role", store::role_name(m->role)}, {"active", m->active}};
}

Result<json::object> ControlPlane::update_member(const Principal& p, std::string_view user, const json::object& body) {
    if (!p.admin()) return admins_only("change members");
    if (auto e = only_keys(body, {"role", "active"})) return *e;
    auto m = principals_.find_member(p.team_id, user);
    if (!m) return Error(Errc::not_found, "'" + std::string(user) + "' is not a member of your team");
    if (m->user_id == p.user_id) return Error(Errc::conflict, "you cannot change your own role or deactivate yourself; ask another admin");
    json::object changes;
    if (const auto* r = body.if_contains("role")) {
        auto parsed = r->is_string() ? store::parse_role(r->get_string()) : std::nullopt;
        if (!parsed) return Error(Errc::invalid_input, "role is admin or member", "/role");
        if (auto e = principals_.set_role(p.team_id, m->user_id, *parsed)) return *e;
        changes["role"] = store::role_name(*parsed);
    }
    if (const auto* a = body.if_contains("active")) {
        if (!a->is_bool()) return Error(Errc::invalid_input, "active is true or false", "/active");
        if (auto e = principals_.set_member_active(p.team_id, m->user_id, a->get_bool())) return *e;
        changes["active"] = a->get_bool();
    }
    db_.write([&](Tx& tx) { store::record_audit(tx, p.team_id, p.user, "member.update", "user", user, changes); });
    auto now = principals_.find_member(p.team_id, user);
    return json::object{{"name", now->name}, {"role", store::role_name(now->role)}, {"active", now->active}};
}

Result<json::object> ControlPlane::list_tokens(const Principal& p) {
    json::array items;
    for (const auto& t : principals_.list_tokens(p.team_id, p.admin() ? std::nullopt : std::optional<int64_t>(p.user_id)))
        items.push_back(json::object{{"id", t.id}, {"name", t.name}, {"user", t.user}, {"hint", t.hint}, {"created_at", t.created_at},
                                     {"last_used_at", t.last_used_at.empty() ? json::value(nullptr) : json::value(t.last_used_at)},
                                     {"revoked", !t.revoked_at.empty()}});
    return json::object{{"tokens", std::move(items)}};
}

Result<json::object> ControlPlane::create_token(const Principal& p, const json::object& body) {
    if (auto e = only_keys(body, {"name", "user"})) return *e;
    const auto* name = body.if_contains("name");
    if (!name || !name->is_string()) return Error(Errc::invalid_input, "'name' is required, e.g. \"workflow engine\"", "/name");
    int64_t uid = p.user_id;
    std::string for_user = p.user;
    if (const auto* u = body.if_contains("user"); u && !(u->is_string() && u->get_string() == p.user)) {
        if (!p.admin()) return admins_only("create tokens for other users");
        if (!u->is_string()) return Error(Errc::invalid_input, "user is a user name", "/user");
        auto m = principals_.find_member(p.team_id, u->get_string());
        if (!m) return Error(Errc::invalid_input, "'" + std::string(u->get_string()) + "' is not a member of your team", "/user");
        uid = m->user_id;
        for_user = m->name;
    }
    auto t = principals_.create_token(p.team_id, uid, name->get_string());
    if (!t) return t.error();
    db_.write([&](Tx& tx) {
        store::record_audit(tx, p.team_id, p.user, "token.create", "token", std::to_string(t->info.id),
                            json::object{{"name", t->info.name}, {"user", for_user}});
    });
    return json::object{{"id", t->info.id}, {"name", t->info.name}, {"user", for_user}, {"token", t->token}, {"hint", t->info.hint},
                        {"note", "this is the only time the token is shown; store it now"}};
}

Result<json::object> ControlPlane::revoke_token(const Principal& p, int64_t token_id) {
    if (auto e = principals_.revoke_token(p.team_id, token_id, p.admin() ? std::nullopt : std::optional<int64_t>(p.user_id))) return *e;
    db_.write([&](Tx& tx) { store::record_audit(tx, p.team_id, p.user, "token.revoke", "token", std::to_string(token_id)); });
    return json::object{{"id", token_id}, {"revoked", true}};
}

Result<json::object> ControlPlane::audit(const Principal& p, const ListOptions& page) {
    if (!p.admin()) return admins_only("read the audit log");
    size_t limit = std::clamp<size_t>(page.limit, 1, 500);
    auto events = store::list_audit(db_, p.team_id, limit, page.before);
    json::array items;
    for (auto& e : events)
        items.push_back(json::object{{"id", e.id}, {"at", e.at}, {"actor", e.actor}, {"action", e.action}, {"object_type", e.object_type},
                                     {"object_id", e.object_id}, {"details", std::move(e.details)}});
    json::object out{{"events", std::move(items)}};
    out["next_before"] = events.size() == limit ? json::value(events.back().id) : json::value(nullptr);
    return out;
}

void ControlPlane::record(const Principal& p, std::string_view action, std::string_view object_type, std::string_view object_id,
                          const json::object& details) {
    db_.write([&](Tx& tx) { store::record_audit(tx, p.team_id, p.user, action, object_type, object_id, details); });
}

}  // namespace patchbay::control
