// The audit log: who changed what, when, in which team. Written in the same transaction as the
// change it records, so neither exists without the other. Details are JSON chosen by the caller and
// never hold secret values (the callers record field names, not contents).
#pragma once

#include "store/database.hpp"

#include <boost/json/object.hpp>

#include <optional>
#include <string>
#include <vector>

namespace patchbay::store {

struct AuditEvent {
    int64_t id = 0;
    std::string at;
    std::string actor;  // user name, or "cli:NAME" / "system" for changes not made through the API
    std::string action;  // e.g. connection.create, integration.install, key.rotate
    std::string object_type;
    std::string object_id;
    boost::json::object details;
};

void record_audit(Tx& tx, std::optional<int64_t> team_id, std::string_view actor, std::string_view action, std::string_view object_type,
                  std::string_view object_id, const boost::json::object& details = {});

// Newest first. `before` is an event id from a previous page (exclusive). A team's list includes
// the events that belong to no team (master key changes), which concern every team; without a
// team, only those are listed.
std::vector<AuditEvent> list_audit(Database& db, std::optional<int64_t> team_id, size_t limit, std::optional<int64_t> before);

}  // namespace patchbay::store
