// Organization mapping per connection: which of the tool's companies or tenants (its remote
// organizations) each of the platform's organizations is.
//
// - Refresh: pages through the plugin's organization-listing hook (through a PageFetcher the
//   caller supplies, so this component never touches the invoker) up to a cap, with progress
//   visible while it runs, and keeps the result with the time it was fetched. A failed refresh
//   keeps the previous options and is reported. After a complete refresh, a saved mapping whose
//   remote organization is gone is flagged stale.
// - Suggest: proposes, one-to-one, the best remote organization for each unmapped organization
//   (matcher.hpp); saved mappings are never touched unless the caller asks (overwrite).
// - Save: a bulk, atomic, audited change of saved mappings.
// - Resolve: for an invocation that names an organization, the connection that serves it (the
//   organization's override, else the installation's default) and its mapped remote id, or
//   NOT_MAPPED.
#pragma once

#include "common/error.hpp"
#include "store/database.hpp"
#include "store/principals.hpp"

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

namespace patchbay::mapping {

// Fetches one page: request {"cursor": ... or null, "page_size": N}; answers the hook's output
// ({"items": [...], "next_cursor": ...}) or its error.
using PageFetcher = std::function<void(boost::json::value request, std::function<void(Result<boost::json::value>)> done)>;

struct RefreshOptions {
    int64_t max_pages = 200;   // a cap on one refresh: 200 pages of 100 by default
    int64_t page_size = 100;
};

struct MappingQuery {
    int64_t page = 1;
    int64_t per_page = 10;
    std::string q;       // part of the organization's (or its remote organization's) name
    std::string filter;  // "", unmapped, suggested, mapped, stale
};

struct OptionQuery {
    std::string q;
    int64_t page = 1;
    int64_t per_page = 50;
};

// Where an invocation by organization goes.
struct Resolved {
    std::string connection_id;
    std::string organization_id, organization_name;
    std::string remote_id, remote_name;
    bool stale = false;
};

class Mappings {
public:
    explicit Mappings(store::Database& db) : db_(db) {}

    // Starts a refresh of `connection`'s options (admins). A refusal is returned at once, and
    // `done` is then never called (FORBIDDEN, INVALID_INPUT, NOT_FOUND, CONFLICT while one is
    // running). Otherwise `done` is called once, when the last page is in or a page failed, with
    // the refresh's status: possibly on another thread, and possibly before refresh returns.
    [[nodiscard]] std::optional<Error> refresh(const store::Principal& p, std::string_view connection, const RefreshOptions& o, PageFetcher fetch,
                 std::function<void(Result<boost::json::object>)> done);
    // {"state": "running"|"idle", "pages", "fetched", "fetched_at", "count", "complete", "last_error"?}
    Result<boost::json::object> refresh_status(const store::Principal& p, std::string_view connection);
    // The options a refresh kept, paged and searchable.
    Result<boost::json::object> options(const store::Principal& p, std::string_view connection, const OptionQuery& q);

    Result<boost::json::object> list(const store::Principal& p, std::string_view connection, const MappingQuery& q);
    // {"overwrite"?: bool, "min_confidence"?: 0..1}: admins.
    Result<boost::json::object> suggest(const store::Principal& p, std::string_view connection, const boost::json::object& body);
    // {"mappings": [{"organization": ID, "remote_id": ID or null}]} or {"accept_suggestions": true,
    // "min_confidence"?, "overwrite"?}: admins.
    Result<boost::json::object> save(const store::Principal& p, std::string_view connection, const boost::json::object& body);

    // Which connection serves `organization` for `integration`, and its mapped remote id.
    // `connection` (may be empty) is the caller's explicit choice.
    Result<Resolved> resolve(const store::Principal& p, std::string_view organization, std::string_view integration, std::string_view connection);

    // The installation's default connection ({"connection": ID or null}), and per-organization
    // overrides: admins set them, members read them.
    Result<boost::json::object> default_connection(const store::Principal& p, std::string_view integration);
    Result<boost::json::object> set_default_connection(const store::Principal& p, std::string_view integration, const boost::json::object& body);
    Result<boost::json::object> organization_connections(const store::Principal& p, std::string_view organization);
    Result<boost::json::object> set_organization_connection(const store::Principal& p, std::string_view organization,
                                                            std::string_view integration, const boost::json::object& body);
    Result<boost::json::object> clear_organization_connection(const store::Principal& p, std::string_view organization,
                                                              std::string_view integration);

private:
    struct Running {
        int64_t pages = 0;
        int64_t fetched = 0;
        std::string started_at;
    };
    struct Refresh;
    void next_page(std::shared_ptr<Refresh> r);
    void finish(std::shared_ptr<Refresh> r, std::optional<Error> failure);
    // The refresh status of a connection already checked to be the caller's.
    boost::json::object status_of(std::string_view connection);
    // The integration of `connection` when it is in the principal's team.
    Result<std::string> connection_integration(const store::Principal& p, std::string_view connection);

    store::Database& db_;
    std::mutex mu_;
    std::map<std::string, Running> running_;  // connection id -> progress
};

}  // namespace patchbay::mapping
