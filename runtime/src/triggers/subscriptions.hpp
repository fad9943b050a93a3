// Subscriptions: the engine's (or an admin's) standing request for a trigger's events from one
// connection, with its parameters.
//
// A webhook subscription gets its own unguessable hook URL (the token in it is sealed at rest and
// looked up by its hash) and a signing secret the host checks each delivery with: the one given
// at creation (what the tool was configured with) or one generated and shown once. A trigger whose
// manifest declares no signature can only be subscribed to with "unsigned": true, said out loud.
// Secrets are sealed as "subscription:<id>:..." fields of the connection, so key rotation and
// pruning cover them and deleting the connection deletes them.
//
// Who may: anyone who may use the connection subscribes; the subscription's creator or an admin
// pauses, resumes or deletes it. Every change is audited.
#pragma once

#include "catalog/catalog.hpp"
#include "common/error.hpp"
#include "control/control_plane.hpp"
#include "secrets/vault.hpp"
#include "store/database.hpp"
#include "store/principals.hpp"

#include <boost/json/object.hpp>

#include <chrono>
#include <functional>
#include <mutex>
#include <optional>
#include <unordered_map>
#include <string>
#include <vector>

namespace patchbay::triggers {

// What the hook endpoint needs to take a delivery.
struct HookTarget {
    std::string id;
    int64_t team_id = 0;
    std::string connection_id;
    std::string integration;
    std::string trigger;
    boost::json::object params;
    bool active = true;
    bool unsigned_ok = false;
    std::vector<std::string> secrets;  // current first, then one being rotated out
};

class Subscriptions {
public:
    Subscriptions(store::Database& db, control::ControlPlane& control, secrets::Vault& vault, catalog::Catalog& catalog);
    // Where senders reach this server (hook URLs start with it). Set before serving.
    void set_public_url(std::string url);

    // Calls the plugin's webhook registration hook (subscribe = true) or its removal hook, for a
    // connection, with `request`; returns the hook's output. UNSUPPORTED means the trigger needs
    // no registration. Set before serving.
    using Registrar = std::function<Result<boost::json::value>(bool subscribe, const std::string& connection_id, const std::string& integration,
                                                               const std::string& trigger, boost::json::object request)>;
    void set_registrar(Registrar r) { registrar_ = std::move(r); }
    // Asks the plugin to check each registered webhook not checked for `every`, re-creating what
    // drifted (the tool lost or changed it). Run by the poller.
    void reconcile(std::chrono::seconds every);

    // {"connection", "trigger", "params"?, "signing_secret"?, "unsigned"?}
    Result<boost::json::object> create(const store::Principal& p, const boost::json::object& body);
    Result<boost::json::object> list(const store::Principal& p, std::string_view connection, std::string_view status);
    Result<boost::json::object> get(const store::Principal& p, std::string_view id);
    Result<boost::json::object> set_active(const store::Principal& p, std::string_view id, bool active);
    // A new signing secret (given, or generated and shown once); the previous one keeps working
    // until the next rotation, so the tool can be switched over without losing deliveries.
    Result<boost::json::object> rotate_secret(const store::Principal& p, std::string_view id, const boost::json::object& body);
    Result<boost::json::object> remove(const store::Principal& p, std::string_view id);

    // The subscription a hook URL's token names; nullopt for none. Looked up in the store at most
    // every 2 s per token (a burst of deliveries must not queue behind the event log's writes);
    // a change made here is seen at once, one made on another node within those 2 s.
    std::optional<HookTarget> by_hook_token(std::string_view token);

private:
    std::optional<HookTarget> load_hook(const std::string& token_hash);
    void forget_hooks();
    Result<boost::json::object> view(const store::Principal& p, std::string_view id, bool with_hook_url);
    std::string hook_url(const std::string& token) const;

    store::Database& db_;
    control::ControlPlane& control_;
    secrets::Vault& vault_;
    catalog::Catalog& catalog_;
    std::string public_url_;
    Registrar registrar_;

    struct CachedHook {
        std::chrono::steady_clock::time_point loaded;
        std::optional<HookTarget> target;
    };
    std::mutex hooks_mu_;
    std::unordered_map<std::string, CachedHook> hooks_;  // by token hash
};

}  // namespace patchbay::triggers
