#include "store/principals.hpp"

#include "common/clock.hpp"
#include "common/crypto.hpp"

#include <chrono>

namespace patchbay::store {

namespace {

// How long a cached authentication is trusted. Changes made through this process's store take
// effect at once; changes made by another process (the CLI, another node) within this bound.
constexpr auto kCacheTtl = std::chrono::seconds(2);
constexpr size_t kCacheMax = 10'000;

Member member_from(const Row& r) {
    Member m;
    m.user_id = r.integer(0);
    m.name = r.text(1);
    m.display_name = r.text(2);
    m.role = r.text(3) == "admin" ? Role::admin : Role::member;
    m.account_active = r.integer(5) != 0;
    m.active = r.integer(4) != 0 && m.account_active;
    m.created_at = r.text(6);
    return m;
}

constexpr std::string_view kMemberColumns =
    "u.id, u.name, u.display_name, m.role, m.active, u.active, m.created_at FROM memberships m JOIN users u ON u.id = m.user_id";

TokenInfo token_from(const Row& r) {
    return TokenInfo{r.integer(0), r.text(1), r.text(2), r.text(3), r.text(4), r.text(5), r.text(6)};
}

}  // namespace

std::string_view role_name(Role r) { return r == Role::admin ? "admin" : "member"; }

std::optional<Role> parse_role(std::string_view s) {
    if (s == "admin") return Role::admin;
    if (s == "member") return Role::member;
    return std::nullopt;
}

Status PrincipalStore::check_name(std::string_view what, std::string_view name) {
    bool ok = !name.empty() && name.size() <= 64;
    for (char c : name)
        if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' || c == '_' || c == '@')) ok = false;
    if (!ok)
        return Error(Errc::invalid_input, std::string(what) + " '" + std::string(name) +
                                              "' is not a valid name; use 1-64 letters, digits, '.', '-', '_' or '@'");
    return std::nullopt;
}

Result<Team> PrincipalStore::create_team(std::string_view name) {
    if (auto e = check_name("team", name)) return *e;
    Team t;
    t.name = name;
    t.created_at = iso_now();
    bool exists = false;
    db_.write([&](Tx& tx) {
        if (tx.query_one("SELECT 1 FROM teams WHERE name = ?", {t.name})) {
            exists = true;
            return;
        }
        t.id = tx.query_one("INSERT INTO teams (name, created_at) VALUES (?, ?) RETURNING id", {t.name, t.created_at})->integer(0);
    });
    if (exists) return Error(Errc::conflict, "a team named '" + t.name + "' already exists");
    return t;
}

std::optional<Team> PrincipalStore::find_team(std::string_view name) {
    std::optional<Team> t;
    db_.read([&](Tx& tx) {
        if (auto r = tx.query_one("SELECT id, name, created_at FROM teams WHERE name = ?", {std::string(name)}))
            t = Team{r->integer(0), r->text(1), r->text(2)};
    });
    return t;
}

std::vector<Team> PrincipalStore::list_teams() {
    std::vector<Team> out;
    db_.read([&](Tx& tx) {
        for (const auto& r : tx.query("SELECT id, name, created_at FROM teams ORDER BY name")) out.push_back({r.integer(0), r.text(1), r.text(2)});
    });
    return out;
}

Result<Member> PrincipalStore::add_member(int64_t team_id, std::string_view user, Role role, std::string_view display_name) {
    if (auto e = check_name("user", user)) return *e;
    std::optional<Member> out;
    bool duplicate = false;
    std::string now = iso_now();
    db_.write([&](Tx& tx) {
        auto u = tx.query_one("SELECT id FROM users WHERE name = ?", {std::string(user)});
        int64_t uid = u ? u->integer(0)
                        : tx.query_one("INSERT INTO users (name, display_name, created_at) VALUES (?, ?, ?) RETURNING id",
                                       {std::string(user), std::string(display_name), now})
                              ->integer(0);
        if (tx.query_one("SELECT 1 FROM memberships WHERE team_id = ? AND user_id = ?", {team_id, uid})) {
            duplicate = true;
            return;
        }
        tx.exec("INSERT INTO memberships (team_id, user_id, role, created_at) VALUES (?, ?, ?, ?)",
                {team_id, uid, std::string(role_name(role)), now});
        auto r = tx.query_one(std::string("SELECT ") + std::string(kMemberColumns) + " WHERE m.team_id = ? AND m.user_id = ?", {team_id, uid});
        out = member_from(*r);
    });
    if (duplicate) return Error(Errc::conflict, "'" + std::string(user) + "' is already a member of this team");
    forget_cached();
    return *out;
}

std::optional<Member> PrincipalStore::find_member(int64_t team_id, std::string_view user) {
    std::optional<Member> out;
    db_.read([&](Tx& tx) {
        if (auto r = tx.query_one(std::string("SELECT ") + std::string(kMemberColumns) + " WHERE m.team_id = ? AND u.name = ?",
                                  {team_id, std::string(user)}))
            out = member_from(*r);
    });
    return out;
}

std::vector<Member> PrincipalStore::list_members(int64_t team_id) {
    std::vector<Member> out;
    db_.read([&](Tx& tx) {
        for (const auto& r : tx.query(std::string("SELECT ") + std::string(kMemberColumns) + " WHERE m.team_id = ? ORDER BY u.name", {team_id}))
            out.push_back(member_from(r));
    });
    return out;
}

Status PrincipalStore::set_role(int64_t team_id, int64_t user_id, Role role) {
    int64_t n = 0;
    db_.write([&](Tx& tx) {
        n = tx.exec("UPDATE memberships SET role = ? WHERE team_id = ? AND user_id = ?", {std::string(role_name(role)), team_id, user_id});
    });
    forget_cached();
    if (!n) return Error(Errc::not_found, "no such member in this team");
    return std::nullopt;
}

Status PrincipalStore::set_member_active(int64_t team_id, int64_t user_id, bool active) {
    int64_t n = 0;
    db_.write([&](Tx& tx) {
        n = tx.exec("UPDATE memberships SET active = ? WHERE team_id = ? AND user_id = ?", {int64_t{active}, team_id, user_id});
    });
    forget_cached();
    if (!n) return Error(Errc::not_found, "no such member in this team");
    return std::nullopt;
}

Status PrincipalStore::set_account_active(std::string_view user, bool active) {
    int64_t n = 0;
    db_.write([&](Tx& tx) { n = tx.exec("UPDATE users SET active = ? WHERE name = ?", {int64_t{active}, std::string(user)}); });
    forget_cached();
    if (!n) return Error(Errc::not_found, "there is no user named '" + std::string(user) + "'");
    return std::nullopt;
}

Result<std::vector<int64_t>> PrincipalStore::member_ids(int64_t team_id, const std::vector<std::string>& names) {
    std::vector<int64_t> ids;
    std::optional<std::string> unknown;
    db_.read([&](Tx& tx) {
        for (const auto& n : names) {
            auto r = tx.query_one("SELECT u.id FROM users u JOIN memberships m ON m.user_id = u.id WHERE m.team_id = ? AND u.name = ?",
                                  {team_id, n});
            if (!r) {
                unknown = n;
                return;
            }
            ids.push_back(r->integer(0));
        }
    });
    if (unknown) return Error(Errc::invalid_input, "'" + *unknown + "' is not a member of this team");
    return ids;
}

Result<NewToken> PrincipalStore::create_token(int64_t team_id, int64_t user_id, std::string_view name) {
    if (name.empty() || name.size() > 100) return Error(Errc::invalid_input, "a token needs a name of 1-100 characters, e.g. \"workflow engine\"");
    auto raw = crypto::random_bytes(32);
    NewToken t;
    t.token = "pbt_" + crypto::base64url(std::string_view(reinterpret_cast<const char*>(raw.data()), raw.size()));
    t.info.hint = t.token.substr(0, 8) + "…";
    t.info.name = name;
    t.info.created_at = iso_now();
    std::string hash = crypto::sha256_hex(t.token);
    bool no_member = false;
    db_.write([&](Tx& tx) {
        auto who = tx.query_one("SELECT u.name FROM memberships m JOIN users u ON u.id = m.user_id WHERE m.team_id = ? AND m.user_id = ?",
                                {team_id, user_id});
        if (!who) {
            no_member = true;
            return;
        }
        t.info.user = who->text(0);
        t.info.id = tx.query_one("INSERT INTO api_tokens (team_id, user_id, name, token_hash, hint, created_at) VALUES (?, ?, ?, ?, ?, ?) "
                                 "RETURNING id",
                                 {team_id, user_id, t.info.name, hash, t.info.hint, t.info.created_at})
                        ->integer(0);
    });
    if (no_member) return Error(Errc::not_found, "that user is not a member of this team");
    return t;
}

std::vector<TokenInfo> PrincipalStore::list_tokens(int64_t team_id, std::optional<int64_t> user_id) {
    std::vector<TokenInfo> out;
    db_.read([&](Tx& tx) {
        std::string sql =
            "SELECT t.id, t.name, u.name, t.hint, t.created_at, t.last_used_at, t.revoked_at FROM api_tokens t JOIN users u ON u.id = t.user_id "
            "WHERE t.team_id = ?";
        std::vector<Value> params{team_id};
        if (user_id) {
            sql += " AND t.user_id = ?";
            params.push_back(*user_id);
        }
        for (const auto& r : tx.query(sql + " ORDER BY t.id", params)) out.push_back(token_from(r));
    });
    return out;
}

Status PrincipalStore::revoke_token(int64_t team_id, int64_t token_id, std::optional<int64_t> user_id) {
    int64_t n = 0;
    db_.write([&](Tx& tx) {
        std::string sql = "UPDATE api_tokens SET revoked_at = ? WHERE id = ? AND team_id = ? AND revoked_at IS NULL";
        std::vector<Value> params{iso_now(), token_id, team_id};
        if (user_id) {
            sql += " AND user_id = ?";
            params.push_back(*user_id);
        }
        n = tx.exec(sql, params);
    });
    forget_cached();
    if (!n) return Error(Errc::not_found, "no active token " + std::to_string(token_id) + " is yours to revoke in this team");
    return std::nullopt;
}

std::optional<Principal> PrincipalStore::authenticate(std::string_view token) {
    if (token.size() < 8 || token.size() > 200 || token.substr(0, 4) != "pbt_") return std::nullopt;
    const crypto::Hash128 key = crypto::siphash24_128(cache_key_, token);
    auto now = std::chrono::steady_clock::now();
    {
        std::lock_guard lock(cache_mu_);
        if (now - cache_loaded_ > kCacheTtl) {
            cache_.clear();
            cache_loaded_ = now;
        }
        if (auto it = cache_.find(key); it != cache_.end()) return it->second;
    }
    std::string hash = crypto::sha256_hex(token);  // as the store keeps it
    std::optional<Principal> p;
    std::string last_used;
    db_.read([&](Tx& tx) {
        auto r = tx.query_one(
            "SELECT t.id, u.id, u.name, tm.id, tm.name, m.role, t.last_used_at FROM api_tokens t "
            "JOIN memberships m ON m.team_id = t.team_id AND m.user_id = t.user_id "
            "JOIN users u ON u.id = t.user_id JOIN teams tm ON tm.id = t.team_id "
            "WHERE t.token_hash = ? AND t.revoked_at IS NULL AND m.active = 1 AND u.active = 1",
            {hash});
        if (!r) return;
        p = Principal{r->integer(1), r->text(2), r->integer(3), r->text(4), r->text(5) == "admin" ? Role::admin : Role::member, r->integer(0)};
        last_used = r->text(6);
    });
    // Last use, at minute resolution: a write per token per minute at most, not per call.
    std::string minute = iso_now().substr(0, 16);
    if (p && last_used.substr(0, 16) < minute) {
        db_.write([&](Tx& tx) {
            tx.exec("UPDATE api_tokens SET last_used_at = ? WHERE id = ? AND (last_used_at IS NULL OR substr(last_used_at, 1, 16) < ?)",
                    {iso_now(), p->token_id, minute});
        });
    }
    std::lock_guard lock(cache_mu_);
    if (cache_.size() >= kCacheMax) cache_.clear();
    cache_[key] = p;
    return p;
}

void PrincipalStore::forget_cached() {
    std::lock_guard lock(cache_mu_);
    cache_.clear();
}

}  // namespace patchbay::store
