#include "mapping/organizations.hpp"

#include "common/clock.hpp"
#include "common/text.hpp"
#include "store/audit.hpp"

#include <boost/json.hpp>

#include <map>
#include <set>

namespace patchbay::mapping {

namespace json = boost::json;
using store::Principal;
using store::Tx;

namespace {

struct Org {
    std::string id, name, parent, domain;
};

json::object view(const store::Row& r) {
    return json::object{{"id", r.text(0)},
                        {"name", r.text(1)},
                        {"parent", r.is_null(2) ? json::value(nullptr) : json::value(r.text(2))},
                        {"domain", r.is_null(3) ? json::value(nullptr) : json::value(r.text(3))},
                        {"updated_at", r.text(4)}};
}

// A domain as organizations carry it: "acme.com" (lower case, no scheme, path or port).
bool plausible_domain(std::string_view d) {
    if (d.empty() || d.size() > 253 || d.find('.') == std::string_view::npos || d.front() == '.' || d.back() == '.') return false;
    for (char c : d)
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.')) return false;
    return true;
}

Result<std::vector<Org>> read_items(const json::object& body, bool& remove_missing) {
    for (const auto& [k, v] : body) {
        (void)v;
        if (k != "organizations" && k != "remove_missing")
            return Error(Errc::invalid_input, "unknown field '" + std::string(k) + "'; send organizations and, if you like, remove_missing",
                         "/" + std::string(k));
    }
    const auto* list = body.if_contains("organizations");
    if (!list || !list->is_array())
        return Error(Errc::invalid_input, "send {\"organizations\": [{\"id\": \"...\", \"name\": \"...\"}, ...]}", "/organizations");
    if (list->get_array().size() > 50'000) return Error(Errc::invalid_input, "at most 50,000 organizations per call", "/organizations");
    remove_missing = false;
    if (const auto* r = body.if_contains("remove_missing")) {
        if (!r->is_bool()) return Error(Errc::invalid_input, "remove_missing is true or false", "/remove_missing");
        remove_missing = r->get_bool();
    }
    std::vector<Org> items;
    std::set<std::string> seen;
    size_t i = 0;
    for (const auto& v : list->get_array()) {
        std::string at = "/organizations/" + std::to_string(i++);
        const auto* o = v.if_object();
        if (!o) return Error(Errc::invalid_input, "each organization is an object with id and name", at);
        for (const auto& [k, x] : *o) {
            (void)x;
            if (k != "id" && k != "name" && k != "parent" && k != "domain")
                return Error(Errc::invalid_input, "unknown field '" + std::string(k) + "'; an organization has id, name, parent and domain", at + "/" + std::string(k));
        }
        Org org;
        auto text = [&](std::string_view key, std::string& out, size_t max, bool required) -> Status {
            const auto* x = o->if_contains(key);
            if (!x || x->is_null()) {
                if (required) return Error(Errc::invalid_input, std::string(key) + " is required", at + "/" + std::string(key));
                return std::nullopt;
            }
            if (!x->is_string() || x->get_string().empty() || x->get_string().size() > max)
                return Error(Errc::invalid_input, std::string(key) + " must be a string of 1 to " + std::to_string(max) + " characters",
                             at + "/" + std::string(key));
            out = std::string(x->get_string());
            return std::nullopt;
        };
        if (auto e = text("id", org.id, 200, true)) return *e;
        if (auto e = text("name", org.name, 500, true)) return *e;
        if (auto e = text("parent", org.parent, 200, false)) return *e;
        if (auto e = text("domain", org.domain, 253, false)) return *e;
        org.domain = ascii_lower(org.domain);
        if (!org.domain.empty() && !plausible_domain(org.domain))
            return Error(Errc::invalid_input, "domain '" + org.domain + "' is not a domain name such as acme.com", at + "/domain");
        if (org.parent == org.id) return Error(Errc::invalid_input, "an organization cannot be its own parent", at + "/parent");
        if (!seen.insert(org.id).second) return Error(Errc::invalid_input, "id '" + org.id + "' appears twice in this call", at + "/id");
        items.push_back(std::move(org));
    }
    return items;
}

}  // namespace

Result<json::object> Organizations::list(const Principal& p, const OrganizationQuery& q) {
    size_t limit = std::min<size_t>(std::max<size_t>(q.limit, 1), 1000);
    json::array items;
    std::string last;
    bool more = false;
    db_.read([&](Tx& tx) {
        auto rows = tx.query("SELECT id, name, parent_id, domain, updated_at FROM organizations WHERE team_id = ? AND id > ? "
                             "AND (? = '' OR instr(lower(name), ?) > 0) ORDER BY id LIMIT ?",
                             {p.team_id, q.after, ascii_lower(q.q), ascii_lower(q.q), static_cast<int64_t>(limit + 1)});
        more = rows.size() > limit;
        for (size_t i = 0; i < rows.size() && i < limit; ++i) {
            items.push_back(view(rows[i]));
            last = rows[i].text(0);
        }
    });
    json::object out{{"organizations", std::move(items)}};
    if (more) out["next_after"] = last;
    return out;
}

Result<json::object> Organizations::get(const Principal& p, std::string_view id) {
    std::optional<json::object> out;
    db_.read([&](Tx& tx) {
        if (auto r = tx.query_one("SELECT id, name, parent_id, domain, updated_at FROM organizations WHERE team_id = ? AND id = ?",
                                  {p.team_id, std::string(id)}))
            out = view(*r);
    });
    if (!out) return Error(Errc::not_found, "no organization '" + std::string(id) + "' in this team");
    return *out;
}

Result<json::object> Organizations::upsert(const Principal& p, const json::object& body) {
    if (!p.admin()) return Error(Errc::forbidden, "only admins change the team's organizations");
    return upsert_as(p.team_id, p.user, body);
}

Result<json::object> Organizations::upsert_as(int64_t team_id, std::string_view actor, const json::object& body) {
    bool remove_missing = false;
    auto items = read_items(body, remove_missing);
    if (!items) return items.error();
    int64_t created = 0, updated = 0, unchanged = 0, removed = 0;
    std::optional<Error> err;
    std::string now = iso_now();
    db_.write([&](Tx& tx) {
        std::map<std::string, Org> existing;
        for (const auto& r : tx.query("SELECT id, name, parent_id, domain FROM organizations WHERE team_id = ?", {team_id}))
            existing[r.text(0)] = Org{r.text(0), r.text(1), r.text(2), r.text(3)};
        std::set<std::string> incoming;
        for (const auto& o : *items) incoming.insert(o.id);
        // Parents must exist once this call is done.
        for (size_t i = 0; i < items->size(); ++i) {
            const auto& o = (*items)[i];
            if (o.parent.empty() || incoming.count(o.parent)) continue;
            if (!existing.count(o.parent) || remove_missing)
                return void(err = Error(Errc::invalid_input, "parent '" + o.parent + "' of '" + o.id + "' is not an organization of this team",
                                        "/organizations/" + std::to_string(i) + "/parent"));
        }
        for (const auto& o : *items) {
            auto it = existing.find(o.id);
            store::Value parent = o.parent.empty() ? store::Value{} : store::Value{o.parent};
            store::Value domain = o.domain.empty() ? store::Value{} : store::Value{o.domain};
            if (it == existing.end()) {
                tx.exec("INSERT INTO organizations (team_id, id, name, parent_id, domain, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                        {team_id, o.id, o.name, parent, domain, now, now});
                ++created;
            } else if (it->second.name != o.name || it->second.parent != o.parent || it->second.domain != o.domain) {
                tx.exec("UPDATE organizations SET name = ?, parent_id = ?, domain = ?, updated_at = ? WHERE team_id = ? AND id = ?",
                        {o.name, parent, domain, now, team_id, o.id});
                ++updated;
            } else {
                ++unchanged;
            }
        }
        if (remove_missing)
            for (const auto& [id, o] : existing)
                if (!incoming.count(id)) {
                    tx.exec("DELETE FROM organizations WHERE team_id = ? AND id = ?", {team_id, id});
                    ++removed;
                }
        if (created || updated || removed)
            store::record_audit(tx, team_id, actor, "organizations.upsert", "organizations", std::to_string(items->size()),
                                json::object{{"created", created}, {"updated", updated}, {"removed", removed}});
    });
    if (err) return *err;
    return json::object{{"created", created}, {"updated", updated}, {"unchanged", unchanged}, {"removed", removed}};
}

Result<json::object> Organizations::remove(const Principal& p, std::string_view id) {
    if (!p.admin()) return Error(Errc::forbidden, "only admins change the team's organizations");
    std::optional<Error> err;
    db_.write([&](Tx& tx) {
        if (!tx.query_one("SELECT 1 FROM organizations WHERE team_id = ? AND id = ?", {p.team_id, std::string(id)}))
            return void(err = Error(Errc::not_found, "no organization '" + std::string(id) + "' in this team"));
        if (auto child = tx.query_one("SELECT id FROM organizations WHERE team_id = ? AND parent_id = ? LIMIT 1", {p.team_id, std::string(id)}))
            return void(err = Error(Errc::conflict, "'" + std::string(id) + "' is the parent of '" + child->text(0) + "'; move or remove its children first"));
        tx.exec("DELETE FROM organizations WHERE team_id = ? AND id = ?", {p.team_id, std::string(id)});
        store::record_audit(tx, p.team_id, p.user, "organization.delete", "organization", id, json::object{});
    });
    if (err) return *err;
    return json::object{{"id", id}, {"removed", true}};
}

}  // namespace patchbay::mapping
