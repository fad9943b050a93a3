#include "control/permissions.hpp"

namespace patchbay::control {

std::string_view op_name(ConnectionOp op) {
    switch (op) {
        case ConnectionOp::list: return "list";
        case ConnectionOp::read: return "read";
        case ConnectionOp::use: return "use";
        case ConnectionOp::edit: return "edit";
        case ConnectionOp::remove: return "remove";
        case ConnectionOp::change_permissions: return "change permissions";
        case ConnectionOp::take_over: return "take over";
    }
    return "?";
}

bool may(const store::Principal& caller, const ConnectionFacts& c, ConnectionOp op) {
    const bool owner = caller.user_id == c.owner_id;
    switch (op) {
        case ConnectionOp::list:
        case ConnectionOp::read: return true;
        case ConnectionOp::use: return owner || !c.restricted || c.caller_named;
        case ConnectionOp::edit:
        case ConnectionOp::remove:
        case ConnectionOp::change_permissions: return owner;
        case ConnectionOp::take_over: return caller.admin() && !owner && !c.owner_active;
    }
    return false;
}

}  // namespace patchbay::control
