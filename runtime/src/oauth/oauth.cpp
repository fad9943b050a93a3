#include "oauth/oauth.hpp"

#include "common/clock.hpp"
#include "common/crypto.hpp"
#include "common/log.hpp"
#include "common/uri.hpp"
#include "http/outbound.hpp"
#include "store/audit.hpp"

#include <boost/json.hpp>
#include <boost/url.hpp>

#include <cctype>

namespace patchbay::oauth {

namespace json = boost::json;
using Clock = std::chrono::steady_clock;
using store::Tx;

namespace {

int64_t now_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

// application/x-www-form-urlencoded, as token endpoints expect it.
std::string form_encode(std::string_view s) {
    static const char* hex = "0123456789ABCDEF";
    std::string out;
    for (unsigned char c : s) {
        if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
            out += static_cast<char>(c);
        } else if (c == ' ') {
            out += '+';
        } else {
            out += '%';
            out += hex[c >> 4];
            out += hex[c & 15];
        }
    }
    return out;
}

std::string form(const std::vector<std::pair<std::string, std::string>>& fields) {
    std::string body;
    for (const auto& [k, v] : fields) body += (body.empty() ? "" : "&") + form_encode(k) + "=" + form_encode(v);
    return body;
}

std::string join(const std::vector<std::string>& items, const char* sep) {
    std::string out;
    for (const auto& i : items) out += (out.empty() ? "" : sep) + i;
    return out;
}

std::string html_escape(std::string_view s) {
    std::string out;
    for (char c : s) {
        switch (c) {
            case '<': out += "&lt;"; break;
            case '>': out += "&gt;"; break;
            case '&': out += "&amp;"; break;
            case '"': out += "&quot;"; break;
            case '\'': out += "&#39;"; break;
            default: out += c;
        }
    }
    return out;
}

std::string random_token() {
    auto bytes = crypto::random_bytes(32);
    return crypto::base64url(std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()));
}

// PKCE S256: BASE64URL(SHA256(verifier)).
std::string challenge_for(const std::string& verifier) {
    std::string hex = crypto::sha256_hex(verifier), raw;
    for (size_t i = 0; i + 1 < hex.size(); i += 2) raw += static_cast<char>(std::stoi(hex.substr(i, 2), nullptr, 16));
    return crypto::base64url(raw);
}

Error reauthorize(const ClientConfig& c, const std::string& why) {
    return Error(Errc::reauthorization_required,
                 "connection '" + c.connection_name + "' needs to be authorized again (" + why +
                     "); an admin must run POST /v1/connections/" + c.connection_id + "/authorize and log in at the provider",
                 "", json::object{{"connection", c.connection_id}});
}

class ConnectionTokens final : public host::TokenSource {
public:
    ConnectionTokens(std::shared_ptr<Manager> m, ClientConfig c) : manager_(std::move(m)), client_(std::move(c)) {}
    Result<std::string> access_token(std::string_view refused, Clock::time_point deadline) override {
        return manager_->access_token(client_, refused, deadline);
    }

private:
    std::shared_ptr<Manager> manager_;
    ClientConfig client_;
};

void put_secret(Tx& tx, secrets::Vault& vault, const ClientConfig& c, const char* field, const std::string& value) {
    auto sealed = vault.seal_secret(c.team_id, c.connection_id, field, value);
    tx.exec("INSERT INTO connection_secrets (connection_id, field, key_id, sealed) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (connection_id, field) DO UPDATE SET key_id = excluded.key_id, sealed = excluded.sealed",
            {c.connection_id, std::string(field), secrets::sealed_key_id(sealed), store::Blob(sealed.begin(), sealed.end())});
}

void ensure_row(Tx& tx, const std::string& connection_id) {
    tx.exec("INSERT INTO oauth_tokens (connection_id, status, updated_at) VALUES (?, 'pending', ?) ON CONFLICT (connection_id) DO NOTHING",
            {connection_id, iso_now()});
}

}  // namespace

std::optional<ClientConfig> client_for(const control::ResolvedConnection& rc, const manifest::AuthType& auth) {
    if (auth.type != "oauth2_authorization_code" && auth.type != "oauth2_client_credentials") return std::nullopt;
    ClientConfig c;
    c.connection_id = rc.id;
    c.team_id = rc.team_id;
    c.connection_name = rc.name;
    c.grant = auth.type == "oauth2_authorization_code" ? "authorization_code" : "client_credentials";
    c.authorization_url = auth.authorization_url;
    c.token_url = auth.token_url;
    c.scopes = auth.scopes;
    c.client_auth_post = auth.client_auth == "post";
    // Providers with a URL per tenant or region: the connection's settings may name its own.
    auto setting = [&](const char* k) -> std::string {
        const auto* v = rc.settings.if_contains(k);
        return v && v->is_string() ? std::string(v->get_string()) : std::string();
    };
    if (auto t = setting("token_url"); !t.empty()) c.token_url = t;
    if (auto a = setting("authorization_url"); !a.empty()) c.authorization_url = a;
    if (auto sc = setting("scopes"); !sc.empty()) {
        c.scopes.clear();
        size_t start = 0;
        while (start < sc.size()) {
            size_t sp = sc.find(' ', start);
            if (sp == std::string::npos) sp = sc.size();
            if (sp > start) c.scopes.push_back(sc.substr(start, sp - start));
            start = sp + 1;
        }
    }
    for (const auto& [k, v] : rc.secrets) {
        if (k == "client_secret") c.client_secret = v;
        if (k == "client_id") c.client_id = v;
    }
    if (c.client_id.empty()) c.client_id = setting("client_id");
    return c;
}

Manager::Manager(store::Database& db, secrets::Vault& vault, host::OutboundHttp& transport, Options options, ClientLookup lookup)
    : db_(db), vault_(vault), transport_(transport), options_(std::move(options)), lookup_(std::move(lookup)),
      node_(crypto::random_hex(8)) {}

std::shared_ptr<host::TokenSource> Manager::token_source(ClientConfig client) {
    return std::make_shared<ConnectionTokens>(shared_from_this(), std::move(client));
}

bool Manager::fresh(int64_t expires_at_ms) const {
    if (expires_at_ms == 0) return true;  // the provider gave no lifetime: a 401 will tell
    return now_ms() + std::chrono::duration_cast<std::chrono::milliseconds>(options_.refresh_margin).count() < expires_at_ms;
}

std::shared_ptr<std::mutex> Manager::flight(const std::string& connection_id) {
    std::lock_guard lock(mu_);
    auto& f = flights_[connection_id];
    if (!f) f = std::make_shared<std::mutex>();
    return f;
}

Result<Manager::Stored> Manager::load(const ClientConfig& c) {
    Stored s;
    std::vector<std::pair<std::string, store::Blob>> sealed;
    db_.read([&](Tx& tx) {
        if (auto r = tx.query_one("SELECT status, expires_at FROM oauth_tokens WHERE connection_id = ?", {c.connection_id})) {
            s.status = r->text(0);
            s.expires_at_ms = r->is_null(1) ? 0 : r->integer(1);
        }
        for (const auto& row : tx.query("SELECT field, sealed FROM connection_secrets WHERE connection_id = ? AND field IN "
                                        "('access_token', 'refresh_token')",
                                        {c.connection_id}))
            sealed.emplace_back(row.text(0), row.blob(1));
    });
    for (const auto& [field, blob] : sealed) {
        auto opened = vault_.open_secret(c.team_id, c.connection_id, field, secrets::Sealed(blob.begin(), blob.end()));
        if (!opened) return Error(Errc::internal, "the " + field + " of connection '" + c.connection_id + "' cannot be opened; an operator must check the master keys");
        (field == "access_token" ? s.access_token : s.refresh_token) = std::move(*opened);
    }
    return s;
}

bool Manager::take_lease(const std::string& connection_id) {
    int64_t changed = 0;
    int64_t now = now_ms();
    db_.write([&](Tx& tx) {
        ensure_row(tx, connection_id);
        changed = tx.exec("UPDATE oauth_tokens SET lease_owner = ?, lease_until = ? WHERE connection_id = ? AND "
                          "(lease_owner IS NULL OR lease_until < ? OR lease_owner = ?)",
                          {node_, now + std::chrono::duration_cast<std::chrono::milliseconds>(options_.lease).count(), connection_id, now, node_});
    });
    return changed > 0;
}

void Manager::release_lease(const std::string& connection_id) {
    db_.write([&](Tx& tx) {
        tx.exec("UPDATE oauth_tokens SET lease_owner = NULL, lease_until = NULL WHERE connection_id = ? AND lease_owner = ?",
                {connection_id, node_});
    });
}

Result<Manager::Grant> Manager::request_token(const ClientConfig& c, std::vector<std::pair<std::string, std::string>> fields,
                                              Clock::time_point deadline) {
    host::OutboundRequest req;
    req.method = "POST";
    req.url = c.token_url;
    req.headers = {{"Content-Type", "application/x-www-form-urlencoded"}, {"Accept", "application/json"}};
    if (c.client_auth_post) {
        fields.emplace_back("client_id", c.client_id);
        fields.emplace_back("client_secret", c.client_secret);
    } else {
        // RFC 6749 2.3.1: both parts form-encoded before they are joined.
        req.headers.emplace_back("Authorization", "Basic " + crypto::base64(form_encode(c.client_id) + ":" + form_encode(c.client_secret)));
        fields.emplace_back("client_id", c.client_id);
    }
    req.body = form(fields);
    auto res = transport_.perform_suspending(req, deadline);
    if (!res) {
        Error e = res.error();
        e.message = "the token endpoint of connection '" + c.connection_name + "' could not be reached: " + e.message;
        return e;
    }
    boost::system::error_code ec;
    json::value body = json::parse(res->body, ec);
    const json::object* o = ec ? nullptr : body.if_object();
    auto text = [&](const char* k) -> std::string {
        if (!o) return {};
        const auto* v = o->if_contains(k);
        return v && v->is_string() ? std::string(v->get_string()) : std::string();
    };
    if (res->status != 200) {
        std::string error = text("error"), description = text("error_description");
        std::string why = error.empty() ? "HTTP " + std::to_string(res->status) : error + (description.empty() ? "" : ": " + description);
        if (error == "invalid_grant") return reauthorize(c, "the provider answered " + why);
        if (res->status >= 500) return Error(Errc::upstream_unavailable, "the token endpoint of connection '" + c.connection_name + "' failed (" + why + ")");
        return Error(Errc::upstream_auth_failed, "the token endpoint refused connection '" + c.connection_name + "' (" + why +
                                                     "); check its client ID and secret");
    }
    Grant g;
    g.access_token = text("access_token");
    g.refresh_token = text("refresh_token");
    std::string type = text("token_type");
    for (auto& ch : type) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    if (g.access_token.empty()) return Error(Errc::upstream_error, "the token endpoint of connection '" + c.connection_name + "' answered without an access_token");
    if (!type.empty() && type != "bearer")
        return Error(Errc::unsupported, "the token endpoint issued a '" + type + "' token; only bearer tokens are supported");
    if (const auto* e = o->if_contains("expires_in"); e && e->is_number()) {
        auto seconds = e->to_number<double>();
        if (seconds > 0) g.expires_at_ms = now_ms() + static_cast<int64_t>(seconds * 1000);
    }
    return g;
}

void Manager::save(const ClientConfig& c, const Grant& g, std::string_view actor, std::string_view audit_action) {
    db_.write([&](Tx& tx) {
        ensure_row(tx, c.connection_id);
        put_secret(tx, vault_, c, "access_token", g.access_token);
        if (!g.refresh_token.empty()) put_secret(tx, vault_, c, "refresh_token", g.refresh_token);
        tx.exec("UPDATE oauth_tokens SET status = 'authorized', status_message = '', expires_at = ?, generation = generation + 1, "
                "lease_owner = NULL, lease_until = NULL, updated_at = ? WHERE connection_id = ?",
                {g.expires_at_ms ? store::Value(g.expires_at_ms) : store::Value(std::monostate{}), iso_now(), c.connection_id});
        if (!audit_action.empty())
            store::record_audit(tx, c.team_id, actor, audit_action, "connection", c.connection_id,
                                json::object{{"name", c.connection_name}, {"grant", c.grant}});
    });
    std::lock_guard lock(mu_);
    cache_[c.connection_id] = Cached{g.access_token, g.expires_at_ms};
}

void Manager::mark_reauthorization(const ClientConfig& c, const std::string& message) {
    db_.write([&](Tx& tx) {
        ensure_row(tx, c.connection_id);
        tx.exec("UPDATE oauth_tokens SET status = 'reauthorization_required', status_message = ?, lease_owner = NULL, lease_until = NULL, "
                "updated_at = ? WHERE connection_id = ?",
                {message, iso_now(), c.connection_id});
        store::record_audit(tx, c.team_id, "patchbay", "connection.reauthorization_required", "connection", c.connection_id,
                            json::object{{"name", c.connection_name}, {"reason", message}});
    });
    log::warn("connection needs re-authorization", {{"connection", c.connection_id}, {"reason", message}});
    std::lock_guard lock(mu_);
    cache_.erase(c.connection_id);
}

Result<std::string> Manager::access_token(const ClientConfig& c, std::string_view refused, Clock::time_point deadline) {
    for (;;) {
        {
            std::lock_guard lock(mu_);
            if (auto it = cache_.find(c.connection_id); it != cache_.end() && it->second.token != refused && fresh(it->second.expires_at_ms))
                return it->second.token;
        }
        // One refresh per connection in this process; the others wait for its result.
        auto f = flight(c.connection_id);
        if (!f->try_lock()) {
            if (Clock::now() >= deadline) return Error(Errc::timeout, "waited for the token refresh of connection '" + c.connection_name + "' until the deadline");
            http::pause_until(std::min(deadline, Clock::now() + std::chrono::milliseconds(5)));
            continue;
        }
        std::unique_lock guard(*f, std::adopt_lock);
        auto stored = load(c);
        if (!stored) return stored.error();
        auto usable = [&](const Stored& s) { return !s.access_token.empty() && s.access_token != refused && fresh(s.expires_at_ms); };
        if (usable(*stored)) {
            std::lock_guard lock(mu_);
            cache_[c.connection_id] = Cached{stored->access_token, stored->expires_at_ms};
            return stored->access_token;
        }
        if (c.grant == "authorization_code" && stored->status == "reauthorization_required") return reauthorize(c, "its refresh token was refused");
        if (c.grant == "authorization_code" && stored->refresh_token.empty() && stored->access_token.empty())
            return reauthorize(c, "it was never authorized");

        // One refresh per connection across processes: whoever holds the lease.
        if (!take_lease(c.connection_id)) {
            guard.unlock();
            if (Clock::now() >= deadline) return Error(Errc::timeout, "waited for another node's token refresh of connection '" + c.connection_name + "' until the deadline");
            http::pause_until(std::min(deadline, Clock::now() + std::chrono::milliseconds(20)));
            continue;
        }
        stored = load(c);  // the previous holder may have finished just now
        if (!stored) {
            release_lease(c.connection_id);
            return stored.error();
        }
        if (usable(*stored)) {
            release_lease(c.connection_id);
            std::lock_guard lock(mu_);
            cache_[c.connection_id] = Cached{stored->access_token, stored->expires_at_ms};
            return stored->access_token;
        }

        Result<Grant> grant = Error(Errc::internal, "no grant");
        if (!stored->refresh_token.empty()) {
            grant = request_token(c, {{"grant_type", "refresh_token"}, {"refresh_token", stored->refresh_token}}, deadline);
            if (!grant && grant.error().code == Errc::reauthorization_required && c.grant == "client_credentials")
                grant = Error(Errc::not_found, "fall back");  // a client can always ask again
        }
        if (stored->refresh_token.empty() || (!grant && grant.error().code == Errc::not_found)) {
            if (c.grant == "client_credentials") {
                std::vector<std::pair<std::string, std::string>> fields{{"grant_type", "client_credentials"}};
                if (!c.scopes.empty()) fields.emplace_back("scope", join(c.scopes, " "));
                grant = request_token(c, std::move(fields), deadline);
            } else {
                grant = reauthorize(c, "the provider issued no refresh token and the access token expired");
            }
        }
        if (!grant) {
            if (grant.error().code == Errc::reauthorization_required) mark_reauthorization(c, grant.error().message);
            else release_lease(c.connection_id);
            return grant.error();
        }
        save(c, *grant, "", "");
        return grant->access_token;
    }
}

Result<json::object> Manager::begin_authorization(const ClientConfig& c, std::string_view started_by) {
    if (c.grant != "authorization_code")
        return Error(Errc::conflict, "connection '" + c.connection_name + "' uses the client credentials grant; it needs no login");
    if (options_.redirect_uri.empty()) return Error(Errc::internal, "no redirect URI is configured (serve --public-url)");
    auto base = parse_absolute_uri(c.authorization_url);
    if (!base) return Error(Errc::invalid_input, "the authorization URL of connection '" + c.connection_name + "' is not an absolute URL");
    std::string state = random_token(), verifier = random_token();
    boost::urls::url url(*base);
    url.params().append({"response_type", "code"});
    url.params().append({"client_id", c.client_id});
    url.params().append({"redirect_uri", options_.redirect_uri});
    if (!c.scopes.empty()) url.params().append({"scope", join(c.scopes, " ")});
    url.params().append({"state", state});
    url.params().append({"code_challenge", challenge_for(verifier)});
    url.params().append({"code_challenge_method", "S256"});
    int64_t expires = now_ms() + std::chrono::duration_cast<std::chrono::milliseconds>(options_.authorization_ttl).count();
    auto sealed = vault_.seal_secret(c.team_id, c.connection_id, "pkce_verifier", verifier);
    db_.write([&](Tx& tx) {
        tx.exec("DELETE FROM oauth_authorizations WHERE expires_at < ?", {now_ms()});
        tx.exec("INSERT INTO oauth_authorizations (state_hash, connection_id, team_id, started_by, verifier_key_id, verifier, "
                "redirect_uri, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                {crypto::sha256_hex(state), c.connection_id, c.team_id, std::string(started_by), secrets::sealed_key_id(sealed),
                 store::Blob(sealed.begin(), sealed.end()), options_.redirect_uri, expires});
        ensure_row(tx, c.connection_id);
        store::record_audit(tx, c.team_id, started_by, "connection.authorize_start", "connection", c.connection_id,
                            json::object{{"name", c.connection_name}});
    });
    return json::object{{"authorization_url", std::string(url.buffer())},
                        {"redirect_uri", options_.redirect_uri},
                        {"expires_at", iso_time(std::chrono::system_clock::time_point(std::chrono::milliseconds(expires)))}};
}

CallbackOutcome Manager::complete_authorization(std::string_view query) {
    CallbackOutcome out;
    std::string state, code, error, description;
    for (auto p : boost::urls::params_view(query)) {
        if (p.key == "state") state = p.value;
        else if (p.key == "code") code = p.value;
        else if (p.key == "error") error = p.value;
        else if (p.key == "error_description") description = p.value;
    }
    if (state.empty()) {
        out.message = "This page was opened without an authorization state. Start the authorization again from Patchbay.";
        return out;
    }
    struct Pending {
        std::string connection_id, started_by, redirect_uri;
        int64_t team_id = 0, expires_at = 0;
        store::Blob verifier;
    };
    std::optional<Pending> pending;
    db_.write([&](Tx& tx) {
        // Single use: the row goes in the same transaction that reads it.
        auto r = tx.query_one("SELECT connection_id, team_id, started_by, verifier, redirect_uri, expires_at FROM oauth_authorizations "
                              "WHERE state_hash = ?",
                              {crypto::sha256_hex(state)});
        if (!r) return;
        pending = Pending{r->text(0), r->text(2), r->text(4), r->integer(1), r->integer(5), r->blob(3)};
        tx.exec("DELETE FROM oauth_authorizations WHERE state_hash = ?", {crypto::sha256_hex(state)});
    });
    if (!pending) {
        out.message = "This authorization is unknown or was already used. Start it again from Patchbay.";
        return out;
    }
    auto client = lookup_(pending->connection_id);
    if (!client) {
        out.message = "The connection this authorization was for no longer exists.";
        return out;
    }
    out.connection_name = client->connection_name;
    if (pending->expires_at < now_ms()) {
        out.message = "This authorization expired (they are valid for " + std::to_string(options_.authorization_ttl.count() / 60) +
                      " minutes). Start it again from Patchbay.";
        return out;
    }
    if (!error.empty()) {
        out.message = "The provider did not authorize the connection: " + error + (description.empty() ? "" : " (" + description + ")") + ".";
        return out;
    }
    if (code.empty()) {
        out.message = "The provider sent no authorization code. Start the authorization again.";
        return out;
    }
    auto verifier = vault_.open_secret(pending->team_id, pending->connection_id, "pkce_verifier",
                                       secrets::Sealed(pending->verifier.begin(), pending->verifier.end()));
    if (!verifier) {
        out.message = "The authorization's verifier cannot be opened (the master keys changed). Start it again.";
        return out;
    }
    auto grant = request_token(*client,
                               {{"grant_type", "authorization_code"}, {"code", code}, {"redirect_uri", pending->redirect_uri},
                                {"code_verifier", *verifier}},
                               Clock::now() + std::chrono::seconds(30));
    if (!grant) {
        out.message = "The provider did not accept the authorization code: " + grant.error().message;
        return out;
    }
    save(*client, *grant, pending->started_by, "connection.authorize");
    out.ok = true;
    out.message = "Connection '" + client->connection_name + "' is authorized. You can close this window.";
    log::info("connection authorized", {{"connection", pending->connection_id}});
    return out;
}

std::string callback_page(const CallbackOutcome& outcome) {
    std::string title = outcome.ok ? "Authorization complete" : "Authorization failed";
    return "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>Patchbay: " + title +
           "</title>\n<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
           "<style>body{font-family:system-ui,sans-serif;max-width:36rem;margin:4rem auto;padding:0 1rem;line-height:1.5}"
           "h1{font-size:1.4rem}.ok{color:#17633a}.failed{color:#a12a2a}</style></head>\n<body>\n<h1 class=\"" +
           std::string(outcome.ok ? "ok" : "failed") + "\" id=\"result\" data-ok=\"" + (outcome.ok ? "true" : "false") + "\">" + title +
           "</h1>\n<p id=\"message\">" + html_escape(outcome.message) + "</p>\n</body></html>\n";
}

}  // namespace patchbay::oauth
