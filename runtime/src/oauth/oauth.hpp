// OAuth2 for connections: the authorization code grant with PKCE and `state` (an admin logs in at
// the provider, the callback exchanges the code), the client credentials grant, and the token
// lifecycle behind every call.
//
// Tokens live sealed in connection_secrets (access_token, refresh_token); their state (expiry,
// status, a refresh lease) in oauth_tokens. A token is refreshed ahead of expiry by a margin, and
// when an upstream answers 401 to it. Concurrent calls that find a token expired cause one refresh:
// in a process, one caller refreshes while the others wait; across processes sharing the store, a
// lease row decides which one does. A rotated refresh token is committed in the same transaction as
// the access token, before any call uses it. An `invalid_grant` marks the connection as needing
// re-authorization, which its status and every caller's error then say.
#pragma once

#include "common/error.hpp"
#include "control/control_plane.hpp"
#include "loader/host.hpp"
#include "manifest/manifest.hpp"
#include "secrets/vault.hpp"
#include "store/database.hpp"

#include <boost/json/object.hpp>

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace patchbay::oauth {

struct Options {
    std::chrono::seconds refresh_margin{60};  // refresh when the token expires within this
    std::string redirect_uri;                 // PUBLIC_URL/oauth/callback, registered at the provider
    std::chrono::seconds lease{30};           // how long one node may hold the refresh of a connection
    std::chrono::seconds authorization_ttl{600};
};

// A connection as an OAuth2 client: from its settings, its opened secrets and its manifest auth type.
struct ClientConfig {
    std::string connection_id;
    int64_t team_id = 0;
    std::string connection_name;
    std::string grant;  // "authorization_code" or "client_credentials"
    std::string authorization_url;
    std::string token_url;
    std::string client_id;
    std::string client_secret;
    std::vector<std::string> scopes;
    bool client_auth_post = false;
};

// The OAuth2 client a connection is, by its manifest auth type; nullopt for other auth types.
std::optional<ClientConfig> client_for(const control::ResolvedConnection& connection, const manifest::AuthType& auth);

// How the manager finds a connection's client configuration when only its id is known (the
// callback of an authorization).
using ClientLookup = std::function<Result<ClientConfig>(std::string_view connection_id)>;

// What the callback page says.
struct CallbackOutcome {
    bool ok = false;
    std::string connection_name;
    std::string message;
};

class Manager : public std::enable_shared_from_this<Manager> {
public:
    // `transport` sends the token requests (the egress guard applies to token URLs too).
    Manager(store::Database& db, secrets::Vault& vault, host::OutboundHttp& transport, Options options, ClientLookup lookup);

    // A token source for one call on this connection.
    std::shared_ptr<host::TokenSource> token_source(ClientConfig client);

    // A current access token: from memory, from the store, or from the provider.
    Result<std::string> access_token(const ClientConfig& client, std::string_view refused,
                                     std::chrono::steady_clock::time_point deadline);

    // Starts an authorization: {"authorization_url", "redirect_uri", "expires_at"}.
    Result<boost::json::object> begin_authorization(const ClientConfig& client, std::string_view started_by);
    // The provider's redirect back to us, with its raw query string.
    CallbackOutcome complete_authorization(std::string_view query);


    const Options& options() const { return options_; }
    // Set once the server knows its address, before it serves.
    void set_redirect_uri(std::string uri) { options_.redirect_uri = std::move(uri); }

private:
    struct Cached {
        std::string token;
        int64_t expires_at_ms = 0;  // 0 when the provider did not say
    };
    struct Stored {
        std::string status;
        std::string access_token;
        std::string refresh_token;
        int64_t expires_at_ms = 0;
    };
    struct Grant {
        std::string access_token;
        std::string refresh_token;  // empty when the provider kept the old one
        int64_t expires_at_ms = 0;
    };

    bool fresh(int64_t expires_at_ms) const;
    Result<Stored> load(const ClientConfig& client);
    bool take_lease(const std::string& connection_id);
    void release_lease(const std::string& connection_id);
    // Calls the token endpoint with `form`. invalid_grant comes back as REAUTHORIZATION_REQUIRED.
    Result<Grant> request_token(const ClientConfig& client, std::vector<std::pair<std::string, std::string>> form,
                                std::chrono::steady_clock::time_point deadline);
    // Seals and commits the new tokens; the lease is released in the same transaction.
    void save(const ClientConfig& client, const Grant& grant, std::string_view actor, std::string_view audit_action);
    void mark_reauthorization(const ClientConfig& client, const std::string& message);
    std::shared_ptr<std::mutex> flight(const std::string& connection_id);

    store::Database& db_;
    secrets::Vault& vault_;
    host::OutboundHttp& transport_;
    Options options_;
    ClientLookup lookup_;
    std::string node_;  // this process's lease owner id

    std::mutex mu_;
    std::map<std::string, Cached> cache_;
    std::map<std::string, std::shared_ptr<std::mutex>> flights_;
};

// The HTML page the admin lands on after the provider's login.
std::string callback_page(const CallbackOutcome& outcome);

}  // namespace patchbay::oauth
