#include "mapping/mappings.hpp"

#include "common/clock.hpp"
#include "common/json_fields.hpp"
#include "common/text.hpp"
#include "mapping/matcher.hpp"
#include "store/audit.hpp"

#include <boost/json.hpp>

#include <cmath>
#include <set>
#include <unordered_map>
#include <unordered_set>

namespace patchbay::mapping {

namespace json = boost::json;
using store::Principal;
using store::Tx;

namespace {

constexpr int64_t kMaxPagesLimit = 1000;
constexpr size_t kMaxOptions = 100'000;

struct Option {
    std::string id, name, domain;
};

Error admins_only(std::string_view what) { return Error(Errc::forbidden, "only admins " + std::string(what)); }

// A page's items as options: each needs an id and a name; the domain is optional.
Result<std::vector<Option>> read_page(const json::value& out, int64_t page, std::optional<std::string>& next) {
    const auto* o = out.if_object();
    const auto* items = o ? o->if_contains("items") : nullptr;
    if (!items || !items->is_array())
        return Error(Errc::plugin_error, "page " + std::to_string(page) + " of the organization listing has no 'items' list");
    next.reset();
    if (const auto* n = o->if_contains("next_cursor"); n && !n->is_null()) {
        if (n->is_string() && !n->get_string().empty()) next = std::string(n->get_string());
        else if (n->is_int64()) next = std::to_string(n->get_int64());
        else if (!n->is_string())
            return Error(Errc::plugin_error, "page " + std::to_string(page) + " of the organization listing has a next_cursor that is not a string");
    }
    std::vector<Option> list;
    size_t i = 0;
    for (const auto& v : items->get_array()) {
        std::string where = "page " + std::to_string(page) + ", item " + std::to_string(i++);
        const auto* it = v.if_object();
        if (!it) return Error(Errc::plugin_error, where + " of the organization listing is not an object");
        Option opt;
        const auto* id = it->if_contains("id");
        if (id && id->is_string()) opt.id = std::string(id->get_string());
        else if (id && id->is_int64()) opt.id = std::to_string(id->get_int64());
        else if (id && id->is_uint64()) opt.id = std::to_string(id->get_uint64());
        if (opt.id.empty() || opt.id.size() > 200) return Error(Errc::plugin_error, where + " of the organization listing has no usable id");
        const auto* name = it->if_contains("name");
        opt.name = name && name->is_string() && !name->get_string().empty() ? std::string(name->get_string()) : opt.id;
        if (opt.name.size() > 500) {
            size_t cut = 500;
            while (cut > 0 && (static_cast<unsigned char>(opt.name[cut]) & 0xC0) == 0x80) --cut;  // never half a character
            opt.name.resize(cut);
        }
        if (const auto* d = it->if_contains("domain"); d && d->is_string()) opt.domain = ascii_lower(d->get_string());
        list.push_back(std::move(opt));
    }
    return list;
}

json::value nullable(const store::Row& r, size_t i) { return r.is_null(i) ? json::value(nullptr) : json::value(r.text(i)); }

double confidence_of(int64_t milli) { return static_cast<double>(milli) / 1000.0; }

Result<double> read_confidence(const json::object& body, double fallback) {
    const auto* c = body.if_contains("min_confidence");
    if (!c) return fallback;
    if (!c->is_number()) return Error(Errc::invalid_input, "min_confidence is a number from 0 to 1", "/min_confidence");
    double v = c->to_number<double>();
    if (!(v >= 0 && v <= 1)) return Error(Errc::invalid_input, "min_confidence is a number from 0 to 1", "/min_confidence");
    return v;
}

Result<bool> read_flag(const json::object& body, std::string_view key) {
    const auto* v = body.if_contains(key);
    if (!v) return false;
    if (!v->is_bool()) return Error(Errc::invalid_input, std::string(key) + " is true or false", "/" + std::string(key));
    return v->get_bool();
}


}  // namespace

// --- refresh ---------------------------------------------------------------------------------

struct Mappings::Refresh {
    Principal who;
    std::string connection;
    RefreshOptions options;
    PageFetcher fetch;
    std::function<void(Result<json::object>)> done;
    std::vector<Option> items;
    std::unordered_set<std::string> seen;
    std::set<std::string> cursors;
    std::optional<std::string> cursor;
    int64_t pages = 0;
    int64_t failed_page = 0;  // the page a failure is about; 0 when storing failed
    bool complete = false;
};

Result<std::string> Mappings::connection_integration(const Principal& p, std::string_view connection) {
    std::optional<std::string> integration;
    db_.read([&](Tx& tx) {
        if (auto r = tx.query_one("SELECT integration FROM connections WHERE id = ? AND team_id = ?", {std::string(connection), p.team_id}))
            integration = r->text(0);
    });
    if (!integration)
        return Error(Errc::unknown_connection, "no connection '" + std::string(connection) + "' in your team; GET /v1/connections lists them");
    return *integration;
}

std::optional<Error> Mappings::refresh(const Principal& p, std::string_view connection, const RefreshOptions& o, PageFetcher fetch,
                                      std::function<void(Result<json::object>)> done) {
    if (!p.admin()) return admins_only("refresh a connection's organizations");
    if (o.max_pages < 1 || o.max_pages > kMaxPagesLimit)
        return Error(Errc::invalid_input, "max_pages is 1 to " + std::to_string(kMaxPagesLimit), "/max_pages");
    if (o.page_size < 1 || o.page_size > 1000) return Error(Errc::invalid_input, "page_size is 1 to 1000", "/page_size");
    auto integration = connection_integration(p, connection);
    if (!integration) return integration.error();
    {
        std::lock_guard lock(mu_);
        if (running_.count(std::string(connection)))
            return Error(Errc::conflict, "a refresh of connection '" + std::string(connection) +
                                             "' is already running; GET its refresh status to follow it");
        running_[std::string(connection)] = Running{0, 0, iso_now()};
    }
    auto r = std::make_shared<Refresh>();
    r->who = p;
    r->connection = std::string(connection);
    r->options = o;
    r->fetch = std::move(fetch);
    r->done = std::move(done);
    next_page(std::move(r));
    return std::nullopt;
}

void Mappings::next_page(std::shared_ptr<Refresh> r) {
    json::object request{{"page_size", r->options.page_size}};
    request["cursor"] = r->cursor ? json::value(*r->cursor) : json::value(nullptr);
    auto fetch = r->fetch;  // the callback may run before fetch returns
    fetch(std::move(request), [this, r](Result<json::value> page) mutable {
        r->failed_page = r->pages + 1;
        if (!page) return finish(r, page.error());
        ++r->pages;
        std::optional<std::string> next;
        auto items = read_page(*page, r->pages, next);
        if (!items) return finish(r, items.error());
        for (auto& item : *items)
            if (r->seen.insert(item.id).second) r->items.push_back(std::move(item));  // a page overlapping the last one
        {
            std::lock_guard lock(mu_);
            auto& run = running_[r->connection];
            run.pages = r->pages;
            run.fetched = static_cast<int64_t>(r->items.size());
        }
        if (r->items.size() > kMaxOptions)
            return finish(r, Error(Errc::plugin_error, "the tool lists more than " + std::to_string(kMaxOptions) +
                                                           " organizations; narrow the listing in the manifest's organizations.input"));
        if (!next) {
            r->complete = true;
            return finish(r, std::nullopt);
        }
        if (!r->cursors.insert(*next).second)
            return finish(r, Error(Errc::plugin_error, "the organization listing returned the same cursor twice (page " + std::to_string(r->pages) +
                                                           "); it would never end"));
        if (r->pages >= r->options.max_pages) return finish(r, std::nullopt);  // capped: kept, marked incomplete
        r->cursor = std::move(next);
        next_page(std::move(r));
    });
}

void Mappings::finish(std::shared_ptr<Refresh> r, std::optional<Error> failure) {
    const std::string now = iso_now();
    Result<json::object> answer = json::object{};
    try {
        if (failure) {
            // The previous options stay; the failure is kept for the status and the audit log.
            db_.write([&](Tx& tx) {
                tx.exec("INSERT INTO remote_refreshes (connection_id, last_attempt_at, last_error) VALUES (?, ?, ?) "
                        "ON CONFLICT (connection_id) DO UPDATE SET last_attempt_at = excluded.last_attempt_at, last_error = excluded.last_error",
                        {r->connection, now, failure->message});
                store::record_audit(tx, r->who.team_id, r->who.user, "organizations.refresh_failed", "connection", r->connection,
                                    json::object{{"pages", r->pages}, {"code", code_name(failure->code)}});
            });
        } else {
            db_.write([&](Tx& tx) {
                tx.exec("DELETE FROM remote_organizations WHERE connection_id = ?", {r->connection});
                int64_t pos = 0;
                for (const auto& o : r->items)
                    tx.exec("INSERT INTO remote_organizations (connection_id, remote_id, name, domain, position) VALUES (?, ?, ?, ?, ?)",
                            {r->connection, o.id, o.name, o.domain.empty() ? store::Value{} : store::Value{o.domain}, pos++});
                tx.exec("INSERT INTO remote_refreshes (connection_id, fetched_at, fetched_by, item_count, pages, complete, last_attempt_at, last_error) "
                        "VALUES (?, ?, ?, ?, ?, ?, ?, NULL) ON CONFLICT (connection_id) DO UPDATE SET fetched_at = excluded.fetched_at, "
                        "fetched_by = excluded.fetched_by, item_count = excluded.item_count, pages = excluded.pages, complete = excluded.complete, "
                        "last_attempt_at = excluded.last_attempt_at, last_error = NULL",
                        {r->connection, now, r->who.user, static_cast<int64_t>(r->items.size()), r->pages, int64_t{r->complete ? 1 : 0}, now});
                // Saved mappings follow their remote organization's current name; one that is
                // gone is stale. A capped listing proves nothing about what it did not reach.
                tx.exec("UPDATE organization_mappings SET stale = 0, remote_name = (SELECT name FROM remote_organizations ro "
                                  "WHERE ro.connection_id = organization_mappings.connection_id AND ro.remote_id = organization_mappings.remote_id) "
                                  "WHERE connection_id = ? AND remote_id IS NOT NULL AND EXISTS (SELECT 1 FROM remote_organizations ro "
                                  "WHERE ro.connection_id = organization_mappings.connection_id AND ro.remote_id = organization_mappings.remote_id)",
                                  {r->connection});
                if (r->complete)
                    tx.exec("UPDATE organization_mappings SET stale = 1 WHERE connection_id = ? AND remote_id IS NOT NULL AND stale = 0 "
                                      "AND NOT EXISTS (SELECT 1 FROM remote_organizations ro WHERE ro.connection_id = organization_mappings.connection_id "
                                      "AND ro.remote_id = organization_mappings.remote_id)",
                                      {r->connection});
                // Suggestions of organizations that are gone are dropped.
                tx.exec("UPDATE organization_mappings SET suggested_id = NULL, suggested_name = NULL, confidence_milli = NULL, suggested_at = NULL "
                        "WHERE connection_id = ? AND suggested_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM remote_organizations ro "
                        "WHERE ro.connection_id = organization_mappings.connection_id AND ro.remote_id = organization_mappings.suggested_id)",
                        {r->connection});
                store::record_audit(tx, r->who.team_id, r->who.user, "organizations.refresh", "connection", r->connection,
                                    json::object{{"count", r->items.size()}, {"pages", r->pages}, {"complete", r->complete}});
            });
        }
    } catch (const store::StoreError&) {
        failure = Error(Errc::store_unavailable, "the refreshed organizations could not be stored; retry shortly");
        r->failed_page = 0;
    }
    {
        std::lock_guard lock(mu_);
        running_.erase(r->connection);
    }
    auto done = std::move(r->done);
    if (failure) {
        Error e = *failure;
        e.message = "refreshing the organizations of connection '" + r->connection + "' failed" +
                    (r->failed_page > 0 ? " on page " + std::to_string(r->failed_page) : std::string()) + "; the previous options are kept: " + e.message;
        return done(std::move(e));
    }
    // Called on a worker thread: nothing may escape from here.
    try {
        done(status_of(r->connection));
    } catch (const store::StoreError&) {
        done(Error(Errc::store_unavailable, "the refresh was stored but its status could not be read; GET it again shortly"));
    }
}

Result<json::object> Mappings::refresh_status(const Principal& p, std::string_view connection) {
    if (auto i = connection_integration(p, connection); !i) return i.error();
    return status_of(connection);
}

json::object Mappings::status_of(std::string_view connection) {
    json::object out{{"connection", connection}, {"state", "idle"}};
    {
        std::lock_guard lock(mu_);
        if (auto it = running_.find(std::string(connection)); it != running_.end()) {
            out["state"] = "running";
            out["progress"] = json::object{{"pages", it->second.pages}, {"fetched", it->second.fetched}, {"started_at", it->second.started_at}};
        }
    }
    db_.read([&](Tx& tx) {
        auto r = tx.query_one("SELECT fetched_at, item_count, pages, complete, last_attempt_at, last_error, fetched_by FROM remote_refreshes "
                              "WHERE connection_id = ?",
                              {std::string(connection)});
        out["fetched_at"] = r ? nullable(*r, 0) : json::value(nullptr);
        out["count"] = r ? r->integer(1) : 0;
        out["pages"] = r ? r->integer(2) : 0;
        out["complete"] = r && !r->is_null(0) && r->integer(3) == 1;
        if (r && !r->is_null(6)) out["fetched_by"] = r->text(6);
        if (r && !r->is_null(5)) {
            out["last_error"] = r->text(5);
            out["last_attempt_at"] = nullable(*r, 4);
        }
    });
    return out;
}

Result<json::object> Mappings::options(const Principal& p, std::string_view connection, const OptionQuery& q) {
    if (auto i = connection_integration(p, connection); !i) return i.error();
    int64_t per_page = std::clamp<int64_t>(q.per_page, 1, 1000), page = std::clamp<int64_t>(q.page, 1, 1'000'000'000);
    json::array items;
    int64_t total = 0;
    std::string needle = ascii_lower(q.q);
    db_.read([&](Tx& tx) {
        total = tx.query_one("SELECT count(*) FROM remote_organizations WHERE connection_id = ? AND (? = '' OR instr(lower(name), ?) > 0)",
                             {std::string(connection), needle, needle})
                    ->integer(0);
        for (const auto& r : tx.query("SELECT remote_id, name, domain FROM remote_organizations WHERE connection_id = ? "
                                      "AND (? = '' OR instr(lower(name), ?) > 0) ORDER BY position LIMIT ? OFFSET ?",
                                      {std::string(connection), needle, needle, per_page, (page - 1) * per_page}))
            items.push_back(json::object{{"id", r.text(0)}, {"name", r.text(1)}, {"domain", nullable(r, 2)}});
    });
    return json::object{{"connection", connection}, {"items", std::move(items)}, {"page", page}, {"per_page", per_page}, {"total", total},
                        {"pages", (total + per_page - 1) / per_page}, {"refresh", status_of(connection)}};
}

// --- mappings --------------------------------------------------------------------------------

Result<json::object> Mappings::list(const Principal& p, std::string_view connection, const MappingQuery& q) {
    if (auto i = connection_integration(p, connection); !i) return i.error();
    static const std::set<std::string> filters = {"", "unmapped", "suggested", "mapped", "stale"};
    if (!filters.count(q.filter)) return Error(Errc::invalid_input, "filter is one of unmapped, suggested, mapped, stale", "/filter");
    int64_t per_page = std::clamp<int64_t>(q.per_page, 1, 100), page = std::clamp<int64_t>(q.page, 1, 1'000'000'000);
    // One state per organization: mapped (saved), suggested (no saved mapping, a proposal), or
    // unmapped; stale is a mapped one whose remote organization is gone.
    const std::string state = "CASE WHEN m.remote_id IS NOT NULL THEN 'mapped' WHEN m.suggested_id IS NOT NULL THEN 'suggested' ELSE 'unmapped' END";
    std::string where = "o.team_id = ? AND (? = '' OR instr(lower(o.name), ?) > 0 OR instr(lower(coalesce(m.remote_name, '')), ?) > 0)";
    if (q.filter == "stale") where += " AND m.remote_id IS NOT NULL AND m.stale = 1";
    else if (!q.filter.empty()) where += " AND " + state + " = '" + q.filter + "'";  // one of the fixed names above
    const std::string from = " FROM organizations o LEFT JOIN organization_mappings m ON m.team_id = o.team_id AND m.organization_id = o.id "
                             "AND m.connection_id = ? WHERE ";
    std::string needle = ascii_lower(q.q);
    json::array items;
    int64_t total = 0;
    json::object counts{{"mapped", 0}, {"suggested", 0}, {"unmapped", 0}, {"stale", 0}};
    db_.read([&](Tx& tx) {
        std::vector<store::Value> args = {std::string(connection), p.team_id, needle, needle, needle};
        total = tx.query_one("SELECT count(*)" + from + where, args)->integer(0);
        auto with_page = args;
        with_page.push_back(per_page);
        with_page.push_back((page - 1) * per_page);
        for (const auto& r : tx.query("SELECT o.id, o.name, o.domain, m.remote_id, m.remote_name, m.saved_by, m.saved_at, m.stale, m.suggested_id, "
                                      "m.suggested_name, m.confidence_milli, " + state + from + where + " ORDER BY lower(o.name), o.id LIMIT ? OFFSET ?",
                                      with_page)) {
            json::object item{{"organization", json::object{{"id", r.text(0)}, {"name", r.text(1)}, {"domain", nullable(r, 2)}}},
                              {"status", r.text(11)}};
            item["mapping"] = r.is_null(3) ? json::value(nullptr)
                                           : json::value(json::object{{"remote_id", r.text(3)}, {"remote_name", nullable(r, 4)}, {"saved_by", nullable(r, 5)},
                                                                      {"saved_at", nullable(r, 6)}, {"stale", r.integer(7) == 1}});
            item["suggestion"] = r.is_null(8) ? json::value(nullptr)
                                              : json::value(json::object{{"remote_id", r.text(8)}, {"remote_name", nullable(r, 9)},
                                                                         {"confidence", confidence_of(r.integer(10))}});
            items.push_back(std::move(item));
        }
        for (const auto& r : tx.query("SELECT " + state + ", count(*), sum(CASE WHEN m.remote_id IS NOT NULL AND m.stale = 1 THEN 1 ELSE 0 END) "
                                      "FROM organizations o LEFT JOIN organization_mappings m ON m.team_id = o.team_id AND m.organization_id = o.id "
                                      "AND m.connection_id = ? WHERE o.team_id = ? GROUP BY 1",
                                      {std::string(connection), p.team_id})) {
            counts[r.text(0)] = r.integer(1);
            if (r.text(0) == "mapped") counts["stale"] = r.integer(2);
        }
    });
    return json::object{{"connection", connection}, {"items", std::move(items)}, {"page", page}, {"per_page", per_page}, {"total", total},
                        {"pages", (total + per_page - 1) / per_page}, {"counts", std::move(counts)}, {"options", status_of(connection)}};
}

Result<json::object> Mappings::suggest(const Principal& p, std::string_view connection, const json::object& body) {
    if (!p.admin()) return admins_only("suggest mappings");
    if (auto i = connection_integration(p, connection); !i) return i.error();
    if (auto e = only_fields(body, {"overwrite", "min_confidence"}, "a suggestion")) return *e;
    auto overwrite = read_flag(body, "overwrite");
    if (!overwrite) return overwrite.error();
    auto min_conf = read_confidence(body, 0.75);
    if (!min_conf) return min_conf.error();

    struct Org {
        std::string id;
        NamedOrg named;
    };
    std::vector<Org> orgs;
    std::vector<Option> options;
    std::unordered_set<std::string> taken;  // remote ids of saved mappings kept as they are
    bool fetched = false;
    db_.read([&](Tx& tx) {
        fetched = tx.query_one("SELECT 1 FROM remote_refreshes WHERE connection_id = ? AND fetched_at IS NOT NULL", {std::string(connection)}).has_value();
        std::unordered_set<std::string> mapped;
        for (const auto& r : tx.query("SELECT organization_id, remote_id FROM organization_mappings WHERE connection_id = ? AND remote_id IS NOT NULL",
                                      {std::string(connection)})) {
            mapped.insert(r.text(0));
            if (!*overwrite) taken.insert(r.text(1));
        }
        for (const auto& r : tx.query("SELECT id, name, domain FROM organizations WHERE team_id = ? ORDER BY id", {p.team_id}))
            if (*overwrite || !mapped.count(r.text(0))) orgs.push_back(Org{r.text(0), NamedOrg{r.text(1), r.text(2)}});
        for (const auto& r : tx.query("SELECT remote_id, name, domain FROM remote_organizations WHERE connection_id = ? ORDER BY position",
                                      {std::string(connection)}))
            if (!taken.count(r.text(0))) options.push_back(Option{r.text(0), r.text(1), r.text(2)});
    });
    if (!fetched)
        return Error(Errc::conflict, "connection '" + std::string(connection) +
                                         "' has no remote organizations yet; refresh them first (POST /v1/connections/" + std::string(connection) +
                                         "/organizations/refresh)");
    std::vector<NamedOrg> left, right;
    left.reserve(orgs.size());
    for (const auto& o : orgs) left.push_back(o.named);
    for (const auto& o : options) right.push_back(NamedOrg{o.name, o.domain});
    auto matches = suggest_matches(left, right, *min_conf);

    const std::string now = iso_now();
    size_t written = 0;
    db_.write([&](Tx& tx) {
        written = 0;
        // The considered organizations' old proposals go; the new ones replace them.
        for (const auto& o : orgs)
            tx.exec("UPDATE organization_mappings SET suggested_id = NULL, suggested_name = NULL, confidence_milli = NULL, suggested_at = NULL "
                    "WHERE connection_id = ? AND organization_id = ?",
                    {std::string(connection), o.id});
        for (const auto& m : matches) {
            const auto& org = orgs[m.left];
            const auto& opt = options[m.right];
            // A refresh may have replaced the options since they were read: propose only what is still there.
            if (!tx.query_one("SELECT 1 FROM remote_organizations WHERE connection_id = ? AND remote_id = ?", {std::string(connection), opt.id}))
                continue;
            tx.exec("INSERT INTO organization_mappings (connection_id, team_id, organization_id, suggested_id, suggested_name, confidence_milli, suggested_at) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (connection_id, organization_id) DO UPDATE SET suggested_id = excluded.suggested_id, "
                    "suggested_name = excluded.suggested_name, confidence_milli = excluded.confidence_milli, suggested_at = excluded.suggested_at",
                    {std::string(connection), p.team_id, org.id, opt.id, opt.name, static_cast<int64_t>(std::lround(m.confidence * 1000)), now});
            ++written;
        }
        store::record_audit(tx, p.team_id, p.user, "mappings.suggest", "connection", connection,
                            json::object{{"considered", orgs.size()}, {"suggested", written}, {"overwrite", *overwrite}});
    });
    return json::object{{"connection", connection},        {"considered", orgs.size()},         {"options", options.size()},
                        {"suggested", written},            {"unmatched", orgs.size() - written}, {"min_confidence", *min_conf},
                        {"overwrite", *overwrite}};
}

Result<json::object> Mappings::save(const Principal& p, std::string_view connection, const json::object& body) {
    if (!p.admin()) return admins_only("save mappings");
    if (auto i = connection_integration(p, connection); !i) return i.error();
    if (auto e = only_fields(body, {"mappings", "accept_suggestions", "min_confidence", "overwrite"}, "a save")) return *e;
    auto accept = read_flag(body, "accept_suggestions");
    if (!accept) return accept.error();
    auto overwrite = read_flag(body, "overwrite");
    if (!overwrite) return overwrite.error();
    auto min_conf = read_confidence(body, 0.0);
    if (!min_conf) return min_conf.error();

    struct Change {
        std::string organization;
        std::optional<std::string> remote;  // nullopt: unmap
        std::string pointer;
    };
    std::vector<Change> changes;
    const auto* list = body.if_contains("mappings");
    if (*accept == (list != nullptr))
        return Error(Errc::invalid_input, "send either {\"mappings\": [{\"organization\": ID, \"remote_id\": ID or null}, ...]} or "
                                          "{\"accept_suggestions\": true}");
    if (list) {
        if (!list->is_array() || list->get_array().size() > 50'000)
            return Error(Errc::invalid_input, "mappings is a list of at most 50,000 {\"organization\", \"remote_id\"}", "/mappings");
        std::set<std::string> seen;
        size_t i = 0;
        for (const auto& v : list->get_array()) {
            std::string at = "/mappings/" + std::to_string(i++);
            const auto* o = v.if_object();
            if (!o) return Error(Errc::invalid_input, "each mapping is {\"organization\": ID, \"remote_id\": ID or null}", at);
            if (auto e = only_fields(*o, {"organization", "remote_id"}, "a mapping")) return Error(e->code, e->message, at + e->pointer);
            const auto* org = o->if_contains("organization");
            if (!org || !org->is_string() || org->get_string().empty())
                return Error(Errc::invalid_input, "organization is the platform organization's id", at + "/organization");
            const auto* remote = o->if_contains("remote_id");
            if (!remote || !(remote->is_null() || (remote->is_string() && !remote->get_string().empty())))
                return Error(Errc::invalid_input, "remote_id is the remote organization's id, or null to unmap", at + "/remote_id");
            Change c{std::string(org->get_string()), remote->is_null() ? std::nullopt : std::optional<std::string>(std::string(remote->get_string())), at};
            if (!seen.insert(c.organization).second)
                return Error(Errc::invalid_input, "organization '" + c.organization + "' appears twice in this call", at + "/organization");
            changes.push_back(std::move(c));
        }
    }

    std::optional<Error> err;
    int64_t mapped = 0, unmapped = 0, unchanged = 0;
    const std::string now = iso_now();
    struct Refused {};  // thrown to roll the whole call back
    auto apply = [&](Tx& tx) {
        if (*accept) {
            std::string sql = "SELECT organization_id, suggested_id FROM organization_mappings WHERE connection_id = ? AND suggested_id IS NOT NULL "
                              "AND confidence_milli >= ?";
            if (!*overwrite) sql += " AND remote_id IS NULL";
            for (const auto& r : tx.query(sql + " ORDER BY organization_id", {std::string(connection), static_cast<int64_t>(std::lround(*min_conf * 1000))}))
                changes.push_back(Change{r.text(0), r.text(1), ""});
        }
        for (const auto& c : changes) {
            if (!tx.query_one("SELECT 1 FROM organizations WHERE team_id = ? AND id = ?", {p.team_id, c.organization}))
                return void(err = Error(Errc::invalid_input, "no organization '" + c.organization + "' in this team; nothing was saved",
                                        c.pointer.empty() ? "" : c.pointer + "/organization"));
            auto current = tx.query_one("SELECT remote_id FROM organization_mappings WHERE connection_id = ? AND organization_id = ?",
                                        {std::string(connection), c.organization});
            std::optional<std::string> before = current && !current->is_null(0) ? std::optional<std::string>(current->text(0)) : std::nullopt;
            if (before == c.remote) {
                ++unchanged;
                continue;
            }
            if (!c.remote) {
                tx.exec("UPDATE organization_mappings SET remote_id = NULL, remote_name = NULL, saved_by = ?, saved_at = ?, stale = 0 "
                        "WHERE connection_id = ? AND organization_id = ?",
                        {p.user, now, std::string(connection), c.organization});
                ++unmapped;
                continue;
            }
            auto remote = tx.query_one("SELECT name FROM remote_organizations WHERE connection_id = ? AND remote_id = ?", {std::string(connection), *c.remote});
            if (!remote)
                return void(err = Error(Errc::invalid_input, "remote organization '" + *c.remote + "' is not among connection '" + std::string(connection) +
                                                                 "''s options; refresh them (POST /v1/connections/" + std::string(connection) +
                                                                 "/organizations/refresh) and pick one they list; nothing was saved",
                                        c.pointer.empty() ? "" : c.pointer + "/remote_id"));
            tx.exec("INSERT INTO organization_mappings (connection_id, team_id, organization_id, remote_id, remote_name, saved_by, saved_at, stale) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, 0) ON CONFLICT (connection_id, organization_id) DO UPDATE SET remote_id = excluded.remote_id, "
                    "remote_name = excluded.remote_name, saved_by = excluded.saved_by, saved_at = excluded.saved_at, stale = 0",
                    {std::string(connection), p.team_id, c.organization, *c.remote, remote->text(0), p.user, now});
            ++mapped;
        }
        if (mapped || unmapped)
            store::record_audit(tx, p.team_id, p.user, "mappings.save", "connection", connection,
                                json::object{{"mapped", mapped}, {"unmapped", unmapped}, {"accepted_suggestions", *accept}});
    };
    try {
        db_.write([&](Tx& tx) {
            apply(tx);
            if (err) throw Refused{};
        });
    } catch (const Refused&) {
    }
    if (err) return *err;
    return json::object{{"connection", connection}, {"mapped", mapped}, {"unmapped", unmapped}, {"unchanged", unchanged}};
}

// --- resolution ------------------------------------------------------------------------------

Result<Resolved> Mappings::resolve(const Principal& p, std::string_view organization, std::string_view integration, std::string_view connection) {
    Resolved out;
    std::optional<Error> err;
    db_.read([&](Tx& tx) {
        auto org = tx.query_one("SELECT id, name FROM organizations WHERE team_id = ? AND id = ?", {p.team_id, std::string(organization)});
        if (!org)
            return void(err = Error(Errc::not_found, "no organization '" + std::string(organization) + "' in your team; GET /v1/organizations lists them",
                                    "/organization"));
        out.organization_id = org->text(0);
        out.organization_name = org->text(1);
        std::string via = "the call";
        out.connection_id = std::string(connection);
        if (out.connection_id.empty()) {
            if (auto o = tx.query_one("SELECT connection_id FROM organization_connections WHERE team_id = ? AND organization_id = ? AND integration = ?",
                                      {p.team_id, std::string(organization), std::string(integration)})) {
                out.connection_id = o->text(0);
                via = "the organization's own connection";
            } else if (auto d = tx.query_one("SELECT default_connection FROM installations WHERE team_id = ? AND integration = ?",
                                             {p.team_id, std::string(integration)});
                       d && !d->is_null(0)) {
                out.connection_id = d->text(0);
                via = "the integration's default connection";
            } else {
                return void(err = Error(Errc::not_mapped, "organization '" + std::string(organization) + "' has no connection for '" +
                                                              std::string(integration) + "': an admin sets the integration's default connection "
                                                              "(PUT /v1/installations/" + std::string(integration) +
                                                              "/default-connection) or this organization's own (PUT /v1/organizations/" +
                                                              std::string(organization) + "/connections/" + std::string(integration) + ")",
                                        "/organization"));
            }
        }
        auto m = tx.query_one("SELECT remote_id, remote_name, stale FROM organization_mappings WHERE connection_id = ? AND team_id = ? "
                              "AND organization_id = ? AND remote_id IS NOT NULL",
                              {out.connection_id, p.team_id, std::string(organization)});
        if (!m)
            return void(err = Error(Errc::not_mapped, "organization '" + std::string(organization) + "' is not mapped on connection '" + out.connection_id +
                                                          "' (" + via + "); an admin maps it (PUT /v1/connections/" + out.connection_id + "/mappings)",
                                    "/organization", json::object{{"organization", organization}, {"connection", out.connection_id}}));
        out.remote_id = m->text(0);
        out.remote_name = m->text(1);
        out.stale = m->integer(2) == 1;
    });
    if (err) return *err;
    return out;
}

Result<json::object> Mappings::default_connection(const Principal& p, std::string_view integration) {
    std::optional<json::object> out;
    db_.read([&](Tx& tx) {
        if (auto r = tx.query_one("SELECT default_connection FROM installations WHERE team_id = ? AND integration = ?", {p.team_id, std::string(integration)}))
            out = json::object{{"integration", integration}, {"connection", nullable(*r, 0)}};
    });
    if (!out) return Error(Errc::not_installed, "'" + std::string(integration) + "' is not installed in your team");
    return *out;
}

Result<json::object> Mappings::set_default_connection(const Principal& p, std::string_view integration, const json::object& body) {
    if (!p.admin()) return admins_only("set an integration's default connection");
    if (auto e = only_fields(body, {"connection"}, "this call")) return *e;
    const auto* c = body.if_contains("connection");
    if (!c || !(c->is_null() || c->is_string())) return Error(Errc::invalid_input, "send {\"connection\": ID} or {\"connection\": null}", "/connection");
    std::optional<Error> err;
    db_.write([&](Tx& tx) {
        if (!tx.query_one("SELECT 1 FROM installations WHERE team_id = ? AND integration = ?", {p.team_id, std::string(integration)}))
            return void(err = Error(Errc::not_installed, "'" + std::string(integration) + "' is not installed in your team"));
        store::Value v;
        if (c->is_string()) {
            std::string id(c->get_string());
            auto r = tx.query_one("SELECT integration FROM connections WHERE id = ? AND team_id = ?", {id, p.team_id});
            if (!r) return void(err = Error(Errc::unknown_connection, "no connection '" + id + "' in your team", "/connection"));
            if (r->text(0) != integration)
                return void(err = Error(Errc::invalid_input, "connection '" + id + "' belongs to '" + r->text(0) + "', not '" + std::string(integration) + "'",
                                        "/connection"));
            v = id;
        }
        tx.exec("UPDATE installations SET default_connection = ? WHERE team_id = ? AND integration = ?", {v, p.team_id, std::string(integration)});
        store::record_audit(tx, p.team_id, p.user, "installation.default_connection", "integration", integration,
                            json::object{{"connection", *c}});
    });
    if (err) return *err;
    return default_connection(p, integration);
}

Result<json::object> Mappings::organization_connections(const Principal& p, std::string_view organization) {
    json::array items;
    bool exists = false;
    db_.read([&](Tx& tx) {
        exists = tx.query_one("SELECT 1 FROM organizations WHERE team_id = ? AND id = ?", {p.team_id, std::string(organization)}).has_value();
        for (const auto& r : tx.query("SELECT integration, connection_id, set_by, set_at FROM organization_connections WHERE team_id = ? "
                                      "AND organization_id = ? ORDER BY integration",
                                      {p.team_id, std::string(organization)}))
            items.push_back(json::object{{"integration", r.text(0)}, {"connection", r.text(1)}, {"set_by", r.text(2)}, {"set_at", r.text(3)}});
    });
    if (!exists) return Error(Errc::not_found, "no organization '" + std::string(organization) + "' in this team");
    return json::object{{"organization", organization}, {"connections", std::move(items)}};
}

Result<json::object> Mappings::set_organization_connection(const Principal& p, std::string_view organization, std::string_view integration,
                                                           const json::object& body) {
    if (!p.admin()) return admins_only("choose an organization's connection");
    if (auto e = only_fields(body, {"connection"}, "this call")) return *e;
    const auto* c = body.if_contains("connection");
    if (!c || !c->is_string()) return Error(Errc::invalid_input, "send {\"connection\": ID}", "/connection");
    std::string id(c->get_string());
    std::optional<Error> err;
    db_.write([&](Tx& tx) {
        if (!tx.query_one("SELECT 1 FROM organizations WHERE team_id = ? AND id = ?", {p.team_id, std::string(organization)}))
            return void(err = Error(Errc::not_found, "no organization '" + std::string(organization) + "' in this team"));
        auto r = tx.query_one("SELECT integration FROM connections WHERE id = ? AND team_id = ?", {id, p.team_id});
        if (!r) return void(err = Error(Errc::unknown_connection, "no connection '" + id + "' in your team", "/connection"));
        if (r->text(0) != integration)
            return void(err = Error(Errc::invalid_input, "connection '" + id + "' belongs to '" + r->text(0) + "', not '" + std::string(integration) + "'",
                                    "/connection"));
        tx.exec("INSERT INTO organization_connections (team_id, organization_id, integration, connection_id, set_by, set_at) VALUES (?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (team_id, organization_id, integration) DO UPDATE SET connection_id = excluded.connection_id, set_by = excluded.set_by, "
                "set_at = excluded.set_at",
                {p.team_id, std::string(organization), std::string(integration), id, p.user, iso_now()});
        store::record_audit(tx, p.team_id, p.user, "organization.connection", "organization", organization,
                            json::object{{"integration", integration}, {"connection", id}});
    });
    if (err) return *err;
    return organization_connections(p, organization);
}

Result<json::object> Mappings::clear_organization_connection(const Principal& p, std::string_view organization, std::string_view integration) {
    if (!p.admin()) return admins_only("choose an organization's connection");
    int64_t n = 0;
    db_.write([&](Tx& tx) {
        n = tx.exec("DELETE FROM organization_connections WHERE team_id = ? AND organization_id = ? AND integration = ?",
                    {p.team_id, std::string(organization), std::string(integration)});
        if (n) store::record_audit(tx, p.team_id, p.user, "organization.connection_cleared", "organization", organization, json::object{{"integration", integration}});
    });
    if (!n) return Error(Errc::not_found, "organization '" + std::string(organization) + "' has no connection of its own for '" + std::string(integration) + "'");
    return organization_connections(p, organization);
}

}  // namespace patchbay::mapping
