// The platform's organizations, per team: the customers an MSP's platform knows (id, name,
// optional parent, optional domain), which connections' remote companies and tenants are mapped
// onto. The workflow engine keeps them in step with one bulk upsert; admins may also edit them.
//
// Bulk upserts are atomic: every item is checked first (the errors name the item's index and
// field) and either all are written or none. Deleting an organization that is another's parent
// is refused. Every change is audited.
#pragma once

#include "common/error.hpp"
#include "store/database.hpp"
#include "store/principals.hpp"

#include <boost/json/object.hpp>

#include <string>
#include <string_view>

namespace patchbay::mapping {

struct OrganizationQuery {
    std::string q;      // case-insensitive part of the name
    std::string after;  // the last id of the previous page
    size_t limit = 100;
};

class Organizations {
public:
    explicit Organizations(store::Database& db) : db_(db) {}

    // {"organizations": [{"id", "name", "parent", "domain", "updated_at"}], "next_after"?}
    Result<boost::json::object> list(const store::Principal& p, const OrganizationQuery& q);
    Result<boost::json::object> get(const store::Principal& p, std::string_view id);
    // {"organizations": [{"id", "name", "parent"?, "domain"?}], "remove_missing"?: bool}: admins.
    // Answers {"created", "updated", "unchanged", "removed"}.
    Result<boost::json::object> upsert(const store::Principal& p, const boost::json::object& body);
    // The same for tools without a principal (the CLI), in team `team_id`, audited as `actor`.
    Result<boost::json::object> upsert_as(int64_t team_id, std::string_view actor, const boost::json::object& body);
    Result<boost::json::object> remove(const store::Principal& p, std::string_view id);

private:
    store::Database& db_;
};

}  // namespace patchbay::mapping
