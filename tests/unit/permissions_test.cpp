// The connection permission rules as a table: every role against every operation.
#include "control/permissions.hpp"

#include <catch2/catch.hpp>

using namespace patchbay;
using control::ConnectionOp;

TEST_CASE("connection permissions: the whole matrix", "[permissions]") {
    // Team members: 1 = owner (an admin), 2 = another admin, 3 = permitted member, 4 = other member.
    auto principal = [](int64_t id, bool admin) {
        store::Principal p;
        p.user_id = id;
        p.team_id = 1;
        p.role = admin ? store::Role::admin : store::Role::member;
        return p;
    };
    struct Case {
        const char* who;
        store::Principal p;
        bool named;
        // list, read, use, edit, remove, change permissions
        bool restricted_expect[6];
        bool open_expect[6];
    };
    std::vector<Case> cases = {
        {"owner", principal(1, true), false, {1, 1, 1, 1, 1, 1}, {1, 1, 1, 1, 1, 1}},
        {"other admin", principal(2, true), false, {1, 1, 0, 0, 0, 0}, {1, 1, 1, 0, 0, 0}},
        {"permitted member", principal(3, false), true, {1, 1, 1, 0, 0, 0}, {1, 1, 1, 0, 0, 0}},
        {"unpermitted member", principal(4, false), false, {1, 1, 0, 0, 0, 0}, {1, 1, 1, 0, 0, 0}},
    };
    const ConnectionOp ops[] = {ConnectionOp::list, ConnectionOp::read, ConnectionOp::use, ConnectionOp::edit, ConnectionOp::remove,
                                ConnectionOp::change_permissions};
    int deviations = 0;
    for (const auto& c : cases)
        for (bool restricted : {true, false})
            for (int i = 0; i < 6; ++i) {
                control::ConnectionFacts f{1, true, restricted, c.named};
                bool expect = restricted ? c.restricted_expect[i] : c.open_expect[i];
                if (control::may(c.p, f, ops[i]) != expect) {
                    ++deviations;
                    UNSCOPED_INFO(c.who << " / " << control::op_name(ops[i]) << " / restricted=" << restricted << ": expected " << expect);
                }
            }
    CHECK(deviations == 0);
}

TEST_CASE("taking a connection over needs an admin and a deactivated owner", "[permissions]") {
    store::Principal admin;
    admin.user_id = 2;
    admin.role = store::Role::admin;
    store::Principal member = admin;
    member.role = store::Role::member;
    CHECK_FALSE(control::may(admin, {1, true, false, false}, ConnectionOp::take_over));
    CHECK(control::may(admin, {1, false, false, false}, ConnectionOp::take_over));
    CHECK_FALSE(control::may(member, {1, false, false, false}, ConnectionOp::take_over));
    store::Principal owner = admin;
    owner.user_id = 1;
    CHECK_FALSE(control::may(owner, {1, false, false, false}, ConnectionOp::take_over));
}
