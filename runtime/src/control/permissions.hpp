// Who may do what to a connection. A pure function of the caller and the connection's facts, so
// that the whole matrix is tested in one place (tests/unit/permissions_test.cpp) and the HTTP
// layer, the CLI and later the admin console cannot disagree.
//
//   list, read          every active member of the connection's team
//   use                 the owner; everyone in the team unless the owner restricted use to
//                       named users, then only those
//   edit, remove,
//   change permissions  the owner only (not other admins)
//   take over           an admin, when the owner's account or membership is deactivated
//
// Members of other teams never reach this check: lookups are scoped to the caller's team and
// answer 404.
#pragma once

#include "store/principals.hpp"

#include <string_view>

namespace patchbay::control {

enum class ConnectionOp { list, read, use, edit, remove, change_permissions, take_over };
std::string_view op_name(ConnectionOp op);

struct ConnectionFacts {
    int64_t owner_id = 0;
    bool owner_active = true;
    bool restricted = false;
    bool caller_named = false;  // the caller is on the connection's list of permitted users
};

bool may(const store::Principal& caller, const ConnectionFacts& connection, ConnectionOp op);

}  // namespace patchbay::control
