#include "store/audit.hpp"

#include "common/clock.hpp"

#include <boost/json.hpp>

namespace patchbay::store {

void record_audit(Tx& tx, std::optional<int64_t> team_id, std::string_view actor, std::string_view action, std::string_view object_type,
                  std::string_view object_id, const boost::json::object& details) {
    Value team = team_id ? Value(*team_id) : Value(std::monostate{});
    tx.exec("INSERT INTO audit_events (team_id, at, actor, action, object_type, object_id, details) VALUES (?, ?, ?, ?, ?, ?, ?)",
            {team, iso_now(), std::string(actor), std::string(action), std::string(object_type), std::string(object_id),
             boost::json::serialize(details)});
}

std::vector<AuditEvent> list_audit(Database& db, std::optional<int64_t> team_id, size_t limit, std::optional<int64_t> before) {
    std::vector<AuditEvent> out;
    db.read([&](Tx& tx) {
        std::string sql = "SELECT id, at, actor, action, object_type, object_id, details FROM audit_events WHERE ";
        std::vector<Value> params;
        if (team_id) {
            sql += "(team_id = ? OR team_id IS NULL)";
            params.push_back(*team_id);
        } else {
            sql += "team_id IS NULL";
        }
        if (before) {
            sql += " AND id < ?";
            params.push_back(*before);
        }
        sql += " ORDER BY id DESC LIMIT ?";
        params.push_back(static_cast<int64_t>(limit));
        for (const auto& r : tx.query(sql, params)) {
            AuditEvent e{r.integer(0), r.text(1), r.text(2), r.text(3), r.text(4), r.text(5), {}};
            boost::system::error_code ec;
            auto v = boost::json::parse(r.text(6), ec);
            if (!ec && v.is_object()) e.details = std::move(v.get_object());
            out.push_back(std::move(e));
        }
    });
    return out;
}

}  // namespace patchbay::store
