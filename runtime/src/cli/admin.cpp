// `patchbay admin` and `patchbay keys`: operator commands that work on a data directory directly
// (the SQLite file is shared safely with a running server). Whoever can read the data directory
// is the operator, so these need no API token; their changes are audited as "cli:$USER".
#include "cli/args.hpp"
#include "cli/commands.hpp"
#include "control/state.hpp"
#include "mapping/organizations.hpp"
#include "store/audit.hpp"

#include <boost/json.hpp>

#include <cstdlib>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <sstream>

namespace patchbay::cli {

namespace json = boost::json;
namespace fs = std::filesystem;

namespace {

const char* kAdminHelp = R"(Usage: patchbay admin [--data DIR] COMMAND

Teams, users and API tokens, straight on the data directory (works while `serve` runs).

  teams list
  teams create NAME
  users list --team TEAM
  users add USER --team TEAM [--role admin|member]
  users deactivate USER [--team TEAM]   without --team: the account, in every team
  users activate USER [--team TEAM]
  tokens create --team TEAM --user USER [--name NAME]   prints the token once, on stdout
  tokens list --team TEAM
  tokens revoke ID --team TEAM
  audit --team TEAM [--limit N] [--before ID]           newest first
  organizations list --team TEAM [--q TEXT]            the platform's organizations: id, name, parent, domain
  organizations upsert FILE --team TEAM [--remove-missing]
                                        FILE: a JSON list of {"id", "name", "parent"?, "domain"?}
                                        ("-" reads stdin); all or nothing

Options:
  --data DIR   data directory (default: $PATCHBAY_DATA or ./patchbay-data)
)";

const char* kKeysHelp = R"(Usage: patchbay keys [--data DIR] COMMAND

The master keys that seal connection secrets.

  status   the primary key, where the keys come from, and how many secrets each key sealed
  rotate   re-seal every secret under a new primary key (key file) or under the first key of
           $PATCHBAY_MASTER_KEY; safe while `serve` runs, and resumes where it stopped if
           interrupted
  prune    drop from the key file the old keys that no secret uses any more

Options:
  --data DIR   data directory (default: $PATCHBAY_DATA or ./patchbay-data)
)";

std::string actor() {
    const char* u = std::getenv("USER");
    return std::string("cli:") + (u && *u ? u : "operator");
}

int fail(const std::string& cmd, const std::string& message, int code = 1) {
    std::cerr << "patchbay " << cmd << ": " << message << "\n";
    return code;
}

}  // namespace

int run_admin(const std::vector<std::string>& argv) {
    Args args;
    if (auto err = parse_args(argv, {"data", "team", "role", "user", "name", "limit", "before", "q"}, {"help", "remove-missing"}, args))
        return fail("admin", *err, 2);
    if (args.has("help") || args.positional.empty()) {
        std::cout << kAdminHelp;
        return args.has("help") ? 0 : 2;
    }
    fs::path data = args.get("data").value_or(default_data_dir());
    if (!fs::exists(data / "patchbay.db"))
        return fail("admin", "no Patchbay data in '" + data.string() + "'; pass --data DIR or start `patchbay serve` once");
    auto state = control::open_state(data);
    if (!state) return fail("admin", state.error().message);
    auto& principals = *state->principals;
    auto& db = *state->db;
    const auto& pos = args.positional;
    std::string what = pos[0], verb = pos.size() > 1 ? pos[1] : "";

    auto team_arg = [&]() -> std::optional<store::Team> {
        auto t = args.get("team");
        if (!t) {
            std::cerr << "patchbay admin: --team TEAM is required\n";
            return std::nullopt;
        }
        auto team = principals.find_team(*t);
        if (!team) std::cerr << "patchbay admin: there is no team named '" << *t << "' (see `patchbay admin teams list`)\n";
        return team;
    };
    auto audit = [&](std::optional<int64_t> team, std::string_view action, std::string_view type, std::string_view id,
                     json::object details = {}) {
        db.write([&](store::Tx& tx) { store::record_audit(tx, team, actor(), action, type, id, details); });
    };

    try {
        if (what == "teams" && verb == "list") {
            for (const auto& t : principals.list_teams()) std::cout << t.name << "\t" << t.created_at << "\n";
            return 0;
        }
        if (what == "teams" && verb == "create" && pos.size() == 3) {
            auto t = principals.create_team(pos[2]);
            if (!t) return fail("admin", t.error().message);
            audit(t->id, "team.create", "team", t->name);
            std::cout << "created team " << t->name << "\n";
            return 0;
        }
        if (what == "users" && verb == "list") {
            auto team = team_arg();
            if (!team) return 1;
            for (const auto& m : principals.list_members(team->id))
                std::cout << std::left << std::setw(24) << m.name << std::setw(8) << store::role_name(m.role) << (m.active ? "active" : "inactive") << "\n";
            return 0;
        }
        if (what == "users" && verb == "add" && pos.size() == 3) {
            auto team = team_arg();
            if (!team) return 1;
            auto role = store::parse_role(args.get("role").value_or("member"));
            if (!role) return fail("admin", "--role is admin or member", 2);
            auto m = principals.add_member(team->id, pos[2], *role);
            if (!m) return fail("admin", m.error().message);
            audit(team->id, "member.add", "user", m->name, json::object{{"role", store::role_name(*role)}});
            std::cout << "added " << m->name << " to " << team->name << " as " << store::role_name(*role) << "\n";
            return 0;
        }
        if (what == "users" && (verb == "deactivate" || verb == "activate") && pos.size() == 3) {
            bool active = verb == "activate";
            if (args.get("team")) {
                auto team = team_arg();
                if (!team) return 1;
                auto m = principals.find_member(team->id, pos[2]);
                if (!m) return fail("admin", "'" + pos[2] + "' is not a member of " + team->name);
                if (auto e = principals.set_member_active(team->id, m->user_id, active)) return fail("admin", e->message);
                audit(team->id, active ? "member.activate" : "member.deactivate", "user", pos[2]);
            } else {
                if (auto e = principals.set_account_active(pos[2], active)) return fail("admin", e->message);
                audit(std::nullopt, active ? "user.activate" : "user.deactivate", "user", pos[2]);
            }
            std::cout << pos[2] << (active ? " activated" : " deactivated") << "\n";
            return 0;
        }
        if (what == "tokens" && verb == "create") {
            auto team = team_arg();
            if (!team) return 1;
            auto user = args.get("user");
            if (!user) return fail("admin", "--user USER is required", 2);
            auto m = principals.find_member(team->id, *user);
            if (!m) return fail("admin", "'" + *user + "' is not a member of " + team->name);
            auto t = principals.create_token(team->id, m->user_id, args.get("name").value_or("cli"));
            if (!t) return fail("admin", t.error().message);
            audit(team->id, "token.create", "token", std::to_string(t->info.id), json::object{{"name", t->info.name}, {"user", m->name}});
            std::cout << t->token << "\n";
            std::cerr << "token " << t->info.id << " for " << m->name << " in " << team->name << "; it is shown only this once\n";
            return 0;
        }
        if (what == "tokens" && verb == "list") {
            auto team = team_arg();
            if (!team) return 1;
            for (const auto& t : principals.list_tokens(team->id, std::nullopt))
                std::cout << t.id << "\t" << t.user << "\t" << t.name << "\t" << t.hint << "\t" << (t.revoked_at.empty() ? "active" : "revoked") << "\n";
            return 0;
        }
        if (what == "tokens" && verb == "revoke" && pos.size() == 3) {
            auto team = team_arg();
            if (!team) return 1;
            int64_t id = 0;
            try {
                id = std::stoll(pos[2]);
            } catch (...) {
                return fail("admin", "token ids are numbers (see `tokens list`)", 2);
            }
            if (auto e = principals.revoke_token(team->id, id, std::nullopt)) return fail("admin", e->message);
            audit(team->id, "token.revoke", "token", pos[2]);
            std::cout << "revoked token " << id << "\n";
            return 0;
        }
        if (what == "organizations" && verb == "list") {
            auto team = team_arg();
            if (!team) return 1;
            mapping::Organizations orgs(db);
            store::Principal reader;
            reader.team_id = team->id;
            mapping::OrganizationQuery q;
            q.q = args.get("q").value_or("");
            q.limit = 1000;
            for (;;) {
                auto page = orgs.list(reader, q);
                if (!page) return fail("admin", page.error().message);
                for (const auto& o : page->at("organizations").as_array()) {
                    auto text = [&](const char* k) { return o.at(k).is_string() ? std::string(o.at(k).as_string()) : std::string(); };
                    std::cout << text("id") << "\t" << text("name") << "\t" << text("parent") << "\t" << text("domain") << "\n";
                }
                if (!page->contains("next_after")) break;
                q.after = std::string(page->at("next_after").as_string());
            }
            return 0;
        }
        if (what == "organizations" && verb == "upsert" && pos.size() == 3) {
            auto team = team_arg();
            if (!team) return 1;
            std::string text;
            if (pos[2] == "-") {
                std::stringstream ss;
                ss << std::cin.rdbuf();
                text = ss.str();
            } else {
                std::ifstream in(pos[2]);
                if (!in) return fail("admin", "cannot read '" + pos[2] + "'", 2);
                std::stringstream ss;
                ss << in.rdbuf();
                text = ss.str();
            }
            boost::system::error_code ec;
            json::value list = json::parse(text, ec);
            if (ec || !list.is_array()) return fail("admin", "'" + pos[2] + "' must hold a JSON list of {\"id\", \"name\", \"parent\"?, \"domain\"?}", 2);
            json::object body{{"organizations", std::move(list)}, {"remove_missing", args.has("remove-missing")}};
            auto r = mapping::Organizations(db).upsert_as(team->id, actor(), body);
            if (!r) return fail("admin", r.error().message + (r.error().pointer.empty() ? "" : " (at " + r.error().pointer + ")"), 2);
            std::cout << "created " << r->at("created").as_int64() << ", updated " << r->at("updated").as_int64() << ", unchanged "
                      << r->at("unchanged").as_int64() << ", removed " << r->at("removed").as_int64() << "\n";
            return 0;
        }
        if (what == "audit") {
            auto team = team_arg();
            if (!team) return 1;
            size_t limit = 50;
            std::optional<int64_t> before;
            try {
                if (auto l = args.get("limit")) limit = std::stoul(*l);
                if (auto b = args.get("before")) before = std::stoll(*b);
            } catch (...) {
                return fail("admin", "--limit and --before take numbers", 2);
            }
            for (const auto& e : store::list_audit(db, team->id, limit, before))
                std::cout << e.id << "\t" << e.at << "\t" << e.actor << "\t" << e.action << "\t" << e.object_type << ":" << e.object_id << "\t"
                          << json::serialize(e.details) << "\n";
            return 0;
        }
    } catch (const store::StoreError& e) {
        return fail("admin", std::string("store failure: ") + e.what());
    }
    std::cerr << "patchbay admin: unknown command '" << what << (verb.empty() ? "" : " " + verb) << "'\n\n" << kAdminHelp;
    return 2;
}

int run_keys(const std::vector<std::string>& argv) {
    Args args;
    if (auto err = parse_args(argv, {"data"}, {"help"}, args)) return fail("keys", *err, 2);
    if (args.has("help") || args.positional.size() != 1) {
        std::cout << kKeysHelp;
        return args.has("help") ? 0 : 2;
    }
    fs::path data = args.get("data").value_or(default_data_dir());
    if (!fs::exists(data / "patchbay.db"))
        return fail("keys", "no Patchbay data in '" + data.string() + "'; pass --data DIR or start `patchbay serve` once");
    auto state = control::open_state(data);
    if (!state) return fail("keys", state.error().message);
    auto& vault = *state->vault;
    const std::string& cmd = args.positional[0];
    try {
        if (cmd == "status") {
            std::cout << "primary key: " << vault.primary_id() << "\nkeys from: " << vault.source() << "\n";
            state->db->read([&](store::Tx& tx) {
                for (const auto& r : tx.query("SELECT key_id, count(*) FROM connection_secrets GROUP BY key_id ORDER BY key_id"))
                    std::cout << "secrets sealed under " << r.text(0) << ": " << r.integer(1) << "\n";
            });
            return 0;
        }
        if (cmd == "rotate") {
            auto r = vault.rotate(actor());
            if (!r) return fail("keys", r.error().message);
            std::cout << (r->new_key ? "new primary key " : "resumed rotation to key ") << r->primary << "; re-sealed " << r->resealed
                      << " secret(s)";
            if (!r->previous.empty()) {
                std::cout << "; earlier keys kept for now:";
                for (const auto& p : r->previous) std::cout << " " << p;
                std::cout << " (`patchbay keys prune` drops them once every node runs with the new key)";
            }
            std::cout << "\n";
            return 0;
        }
        if (cmd == "prune") {
            auto r = vault.prune(actor());
            if (!r) return fail("keys", r.error().message);
            if (r->empty()) std::cout << "no unused keys\n";
            for (const auto& id : *r) std::cout << "removed key " << id << "\n";
            return 0;
        }
    } catch (const store::StoreError& e) {
        return fail("keys", std::string("store failure: ") + e.what());
    }
    std::cerr << "patchbay keys: unknown command '" << cmd << "'\n\n" << kKeysHelp;
    return 2;
}

}  // namespace patchbay::cli
