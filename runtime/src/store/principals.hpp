// Teams, users, memberships and API tokens.
//
// A user is an account; a membership gives it a role (admin or member) in one team; a token
// belongs to a membership, so every authenticated call acts as one user in one team. Tokens are
// `pbt_` + 32 random bytes (base64url); only their SHA-256 is stored, and the plaintext is
// returned once, at creation. Authentication results are cached in memory and dropped whenever
// a principal-related write goes through this store.
#pragma once

#include "common/crypto.hpp"
#include "common/error.hpp"
#include "store/database.hpp"

#include <atomic>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

namespace patchbay::store {

enum class Role { admin, member };
std::string_view role_name(Role r);
std::optional<Role> parse_role(std::string_view s);

struct Principal {
    int64_t user_id = 0;
    std::string user;
    int64_t team_id = 0;
    std::string team;
    Role role = Role::member;
    int64_t token_id = 0;

    bool admin() const { return role == Role::admin; }
};

struct Team {
    int64_t id = 0;
    std::string name;
    std::string created_at;
};

struct Member {
    int64_t user_id = 0;
    std::string name;
    std::string display_name;
    Role role = Role::member;
    bool active = true;          // the membership and the account are both active
    bool account_active = true;
    std::string created_at;
};

struct TokenInfo {
    int64_t id = 0;
    std::string name;
    std::string user;
    std::string hint;  // "pbt_AbCd…" — enough to recognise, useless to attack
    std::string created_at;
    std::string last_used_at;
    std::string revoked_at;
};

struct NewToken {
    TokenInfo info;
    std::string token;  // the only time the plaintext exists outside the caller's hands
};

class PrincipalStore {
public:
    explicit PrincipalStore(Database& db) : db_(db) {}

    // Names: 1-64 of letters, digits, '.', '-', '_', '@'. Returns an INVALID_INPUT error otherwise.
    static Status check_name(std::string_view what, std::string_view name);

    Result<Team> create_team(std::string_view name);
    std::optional<Team> find_team(std::string_view name);
    std::vector<Team> list_teams();

    // Creates the account if it does not exist, then the membership (CONFLICT if already a member).
    Result<Member> add_member(int64_t team_id, std::string_view user, Role role, std::string_view display_name = {});
    std::optional<Member> find_member(int64_t team_id, std::string_view user);
    std::vector<Member> list_members(int64_t team_id);
    Status set_role(int64_t team_id, int64_t user_id, Role role);
    Status set_member_active(int64_t team_id, int64_t user_id, bool active);
    Status set_account_active(std::string_view user, bool active);
    // Ids of the team's users with the given names, or an error naming the first unknown one.
    Result<std::vector<int64_t>> member_ids(int64_t team_id, const std::vector<std::string>& names);

    Result<NewToken> create_token(int64_t team_id, int64_t user_id, std::string_view name);
    std::vector<TokenInfo> list_tokens(int64_t team_id, std::optional<int64_t> user_id);
    // Revokes a token of the team (of `user_id` only, when given). NOT_FOUND if there is none.
    Status revoke_token(int64_t team_id, int64_t token_id, std::optional<int64_t> user_id);

    // The principal a bearer token stands for, if the token is valid, unrevoked, and its account
    // and membership are active.
    std::optional<Principal> authenticate(std::string_view token);

    // Drops cached authentications (after writes made by another process, e.g. the CLI).
    void forget_cached();

private:
    Database& db_;
    std::mutex cache_mu_;
    // By a keyed hash of the token: a hit costs no SHA-256, and the cache holds no token.
    struct CacheKeyHash {
        size_t operator()(const crypto::Hash128& h) const { return static_cast<size_t>(h.lo); }
    };
    const crypto::SipKey cache_key_ = crypto::SipKey::random();
    std::unordered_map<crypto::Hash128, std::optional<Principal>, CacheKeyHash> cache_;
    std::chrono::steady_clock::time_point cache_loaded_{};
};

}  // namespace patchbay::store
