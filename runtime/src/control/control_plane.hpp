// The control plane: what admins and members do to a team's state, with the rules applied and
// every change audited in the same transaction. The HTTP API and the CLI are thin layers over it.
//
// Results are JSON objects in the shape the API returns, or an Error with a stable code. Secrets
// go in through create/update and come out only through resolve_for_use(), for the host's HTTP
// service; every other view shows them masked.
#pragma once

#include "catalog/catalog.hpp"
#include "common/error.hpp"
#include "control/permissions.hpp"
#include "loader/host.hpp"
#include "secrets/vault.hpp"
#include "store/database.hpp"
#include "store/principals.hpp"

#include <boost/json/object.hpp>

#include <condition_variable>
#include <map>
#include <mutex>
#include <thread>

namespace patchbay::control {

// A connection ready for a call: its settings and its opened secrets. Lives only for the call.
struct ResolvedConnection {
    std::string id;
    int64_t team_id = 0;
    std::string name;
    std::string integration;
    std::string auth_type;
    std::string base_url;
    boost::json::object settings;
    std::vector<std::pair<std::string, std::string>> secrets;  // field -> plaintext

    ~ResolvedConnection();
    // The context the plugin sees: {"id", "name", "auth_type", "base_url", "settings"} plus
    // "secrets" only when `raw` (the manifest declared raw_secrets).
    boost::json::object plugin_view(bool raw) const;
};

// The credentials the host's HTTP service adds for this connection, per its manifest auth type:
// api_key (header, query or cookie, with the manifest's prefix), basic, bearer; OAuth2 types send
// a stored access_token as a bearer token. Nothing when the connection has no base URL.
host::Injection credentials_for(const ResolvedConnection& connection, const manifest::AuthType* auth);

struct ListOptions {
    size_t limit = 50;
    std::optional<int64_t> before;
};

class ControlPlane {
public:
    ControlPlane(store::Database& db, store::PrincipalStore& principals, secrets::Vault& vault, catalog::Catalog& catalog);
    ~ControlPlane();

    // Integrations: the catalog seen by a team.
    boost::json::object list_integrations(const store::Principal& p, std::string_view q, bool installed_only);
    bool installed(int64_t team_id, std::string_view integration);
    Result<boost::json::object> install(const store::Principal& p, std::string_view integration);
    Result<boost::json::object> uninstall(const store::Principal& p, std::string_view integration, bool force);

    // Connections.
    Result<boost::json::object> list_connections(const store::Principal& p, std::string_view integration);
    Result<boost::json::object> get_connection(const store::Principal& p, std::string_view id);
    Result<boost::json::object> create_connection(const store::Principal& p, const boost::json::object& body);
    Result<boost::json::object> update_connection(const store::Principal& p, std::string_view id, const boost::json::object& body);
    Result<boost::json::object> delete_connection(const store::Principal& p, std::string_view id, bool confirm);
    Result<boost::json::object> set_permissions(const store::Principal& p, std::string_view id, const boost::json::object& body);
    Result<boost::json::object> take_over(const store::Principal& p, std::string_view id);
    Result<boost::json::object> connection_usage(const store::Principal& p, std::string_view id);
    // For an invocation or a connection test: checks `use` permission and that the connection
    // belongs to `integration`, then opens its secrets.
    Result<ResolvedConnection> resolve_for_use(const store::Principal& p, std::string_view id, std::string_view integration);
    // For changing its credentials (an OAuth2 authorization): the owner only.
    Result<ResolvedConnection> resolve_for_edit(const store::Principal& p, std::string_view id);
    // With no principal, for the host's own use (an OAuth2 callback names only the connection).
    Result<ResolvedConnection> open_connection(std::string_view id);
    // Remembers that a workflow used a connection. Buffered in memory and written about once a
    // second: last use is advisory, and a write per call would cost an fsync per call.
    void record_use(std::string_view connection_id, std::string_view workflow_id);
    void flush_usage();

    // Members and tokens.
    Result<boost::json::object> list_members(const store::Principal& p);
    Result<boost::json::object> add_member(const store::Principal& p, const boost::json::object& body);
    Result<boost::json::object> update_member(const store::Principal& p, std::string_view user, const boost::json::object& body);
    Result<boost::json::object> list_tokens(const store::Principal& p);
    Result<boost::json::object> create_token(const store::Principal& p, const boost::json::object& body);
    Result<boost::json::object> revoke_token(const store::Principal& p, int64_t token_id);

    Result<boost::json::object> audit(const store::Principal& p, const ListOptions& page);
    // Records something done outside the control plane (an OpenAPI import) in the team's audit log.
    void record(const store::Principal& p, std::string_view action, std::string_view object_type, std::string_view object_id,
                const boost::json::object& details);

private:
    struct Facts;
    std::optional<Facts> load_facts(const store::Principal& p, std::string_view id);
    boost::json::object view(const store::Principal& p, std::string_view id);

    store::Database& db_;
    store::PrincipalStore& principals_;
    secrets::Vault& vault_;
    catalog::Catalog& catalog_;

    std::mutex installed_mu_;
    std::map<std::pair<int64_t, std::string>, bool> installed_cache_;  // cleared on change and every 2 s
    std::chrono::steady_clock::time_point installed_loaded_{};

    std::mutex usage_mu_;
    std::condition_variable usage_cv_;
    bool stopping_ = false;
    std::map<std::pair<std::string, std::string>, std::pair<std::string, int64_t>> usage_;  // (conn, workflow) -> (last, count)
    std::thread usage_thread_;
};

}  // namespace patchbay::control
