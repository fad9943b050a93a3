// Teams, connections and secrets through the real server: the permission matrix over HTTP,
// credential injection limited to the base URL, removal and uninstall rules, take-over, the audit
// log, and canary secrets that must never show up in any output.
#include "test_support.hpp"
#include "upstream.hpp"

#include <catch2/catch.hpp>

#include <boost/json.hpp>

using namespace testing;
namespace json = boost::json;

namespace {

// Team "default" (bootstrap admin "admin" = the owner), plus: a second admin, a permitted and an
// unpermitted member, and an admin of another team; each with their own token.
struct World {
    Served& server;
    std::map<std::string, std::string> token;

    explicit World(Served& s) : server(s) {
        token["owner"] = s.admin_token();
        add("default", "admin2", "admin");
        add("default", "permitted", "member");
        add("default", "unpermitted", "member");
        auto t = run({patchbay_bin(), "admin", "--data", s.data_dir().string(), "teams", "create", "other"});
        REQUIRE(t.exit_code == 0);
        add("other", "stranger", "admin");
        // The other team has the same integrations installed, so only team scoping keeps it out.
        for (const auto& name : {"http", "kit"}) as("stranger", "POST", "/v1/installations", std::string(R"({"integration": ")") + name + "\"}");
    }
    void add(const std::string& team, const std::string& user, const std::string& role) {
        auto a = run({patchbay_bin(), "admin", "--data", server.data_dir().string(), "users", "add", user, "--team", team, "--role", role});
        REQUIRE(a.exit_code == 0);
        auto t = run({patchbay_bin(), "admin", "--data", server.data_dir().string(), "tokens", "create", "--team", team, "--user", user});
        REQUIRE(t.exit_code == 0);
        std::string tok = t.out.substr(0, t.out.find('\n'));
        REQUIRE(tok.rfind("pbt_", 0) == 0);
        token[user] = tok;
    }
    Response as(const std::string& who, const std::string& method, const std::string& path, const std::string& body = "") {
        return server.call_as(token.at(who), method, path, body);
    }
};

std::string kit_manifest() {
    return testkit_manifest("kit", "v1") + R"(auth:
  - type: bearer
  - type: api_key
    in: query
    parameter: api_key
)";
}

}  // namespace

TEST_CASE("connection permissions over HTTP: every role against every operation", "[connections][permissions]") {
    TempDir folder;
    fs::copy(staged_manifests(), folder.path(), fs::copy_options::recursive);
    Served server(folder.path());
    server.install({"http"});
    World w(server);
    Upstream up;

    auto created = w.as("owner", "POST", "/v1/connections",
                        R"({"integration": "http", "name": "crm", "auth_type": "bearer", "base_url": ")" + up.url("/") +
                            R"(", "secrets": {"token": "tok-1"}, "allowed_users": ["permitted"]})");
    REQUIRE(created.status == 201);
    std::string id(created.json().at("id").as_string());
    CHECK(created.json().at("secrets").at("token").as_string() == "********");

    // Each operation as a request; a fresh connection for destructive ones.
    auto fresh = [&] {
        auto r = w.as("owner", "POST", "/v1/connections",
                      R"({"integration": "http", "name": "tmp-)" + std::to_string(std::rand()) + R"(", "auth_type": "bearer", "base_url": ")" +
                          up.url("/") + R"(", "secrets": {"token": "t"}, "allowed_users": ["permitted"]})");
        REQUIRE(r.status == 201);
        return std::string(r.json().at("id").as_string());
    };
    auto invoke_with = [&](const std::string& who, const std::string& conn) {
        return w.as(who, "POST", "/v1/integrations/http/actions/request/invoke",
                    R"({"connection": ")" + conn + R"(", "input": {"url": ")" + up.url("/json") + R"("}})");
    };
    struct Op {
        std::string name;
        std::function<Response(const std::string&)> run;
    };
    std::vector<Op> ops = {
        {"list", [&](const std::string& who) {
             auto r = w.as(who, "GET", "/v1/connections");
             // Listing always answers 200; "sees it" is whether the connection is in the list.
             bool seen = r.body.find(id) != std::string::npos;
             r.status = seen ? 200 : 404;
             return r;
         }},
        {"read", [&](const std::string& who) { return w.as(who, "GET", "/v1/connections/" + id); }},
        {"use", [&](const std::string& who) { return invoke_with(who, id); }},
        {"edit", [&](const std::string& who) { return w.as(who, "PATCH", "/v1/connections/" + id, R"({"settings": {}})"); }},
        {"remove", [&](const std::string& who) { return w.as(who, "DELETE", "/v1/connections/" + fresh()); }},
        {"permissions", [&](const std::string& who) {
             return w.as(who, "PUT", "/v1/connections/" + id + "/permissions", R"({"allowed_users": ["permitted"]})");
         }},
    };
    // Expected statuses: owner, other admin, permitted member, unpermitted member, other team.
    std::map<std::string, std::vector<int>> expected = {
        {"list", {200, 200, 200, 200, 404}},      {"read", {200, 200, 200, 200, 404}},
        {"use", {200, 403, 200, 403, 404}},       {"edit", {200, 403, 403, 403, 404}},
        {"remove", {200, 403, 403, 403, 404}},    {"permissions", {200, 403, 403, 403, 404}},
    };
    const std::vector<std::string> who = {"owner", "admin2", "permitted", "unpermitted", "stranger"};
    int deviations = 0;
    for (const auto& op : ops)
        for (size_t i = 0; i < who.size(); ++i) {
            auto r = op.run(who[i]);
            if (r.status != expected[op.name][i]) {
                ++deviations;
                WARN(who[i] << " " << op.name << ": expected " << expected[op.name][i] << ", got " << r.status << " " << r.body);
            }
        }
    CHECK(deviations == 0);

    // Lifting the restriction lets every member use it; other admins still cannot edit it.
    REQUIRE(w.as("owner", "PUT", "/v1/connections/" + id + "/permissions", R"({"restricted": false})").status == 200);
    CHECK(invoke_with("unpermitted", id).status == 200);
    CHECK(invoke_with("admin2", id).status == 200);
    CHECK(w.as("admin2", "PATCH", "/v1/connections/" + id, R"({"name": "mine"})").status == 403);
    // Members cannot create connections or install integrations; no token, no access.
    CHECK(w.as("permitted", "POST", "/v1/connections", R"({"integration": "http", "name": "x", "auth_type": "none"})").status == 403);
    CHECK(w.as("permitted", "POST", "/v1/installations", R"({"integration": "http"})").status == 403);
    CHECK(http("GET", server.url() + "/v1/connections").status == 401);
    CHECK(server.call_as("pbt_forged", "GET", "/v1/connections").status == 401);
}

TEST_CASE("credentials go to the connection's base URL and nowhere else", "[connections][injection]") {
    TempDir folder;
    fs::copy(staged_manifests(), folder.path(), fs::copy_options::recursive);
    Served server(folder.path());
    server.install({"http"});
    Upstream api, elsewhere;
    auto created = server.call("POST", "/v1/connections",
                               R"({"integration": "http", "name": "api", "auth_type": "bearer", "base_url": ")" + api.url("/v2") +
                                   R"(", "secrets": {"token": "inject-me"}})");
    REQUIRE(created.status == 201);
    std::string id(created.json().at("id").as_string());
    auto echo = [&](const std::string& url) {
        auto r = server.call("POST", "/v1/integrations/http/actions/request/invoke",
                             R"({"connection": ")" + id + R"(", "input": {"url": ")" + url + R"(", "headers": {"Authorization": "plugin-set"}}})");
        REQUIRE(r.status == 200);
        return std::string(r.json().at("output").at("body").at("headers").as_object().if_contains("authorization")
                               ? r.json().at("output").at("body").at("headers").at("authorization").as_string()
                               : "");
    };
    CHECK(echo(api.url("/v2/echo")) == "Bearer inject-me");       // under the base: injected (and replaces the plugin's)
    CHECK(echo(api.url("/v2beta/echo")) == "plugin-set");         // a sibling path: not under the base
    CHECK(echo(api.url("/echo")) == "plugin-set");                // above the base
    CHECK(echo(elsewhere.url("/v2/echo")) == "plugin-set");       // another host:port
    CHECK(echo(api.url("/v2/../echo")) == "plugin-set");          // dot segments do not escape the check

    // The test hook uses the same credentials: a protected endpoint accepts them or says why not.
    api.expect_credential("Bearer inject-me");
    REQUIRE(server.call("PATCH", "/v1/connections/" + id, R"({"base_url": ")" + api.url("/protected") + R"("})").status == 200);
    auto ok = server.call("POST", "/v1/connections/" + id + "/test");
    REQUIRE(ok.status == 200);
    CHECK(ok.json().at("ok").as_bool());
    api.expect_credential("Bearer something-else");
    auto refused = server.call("POST", "/v1/connections/" + id + "/test");
    REQUIRE(refused.status == 200);
    CHECK_FALSE(refused.json().at("ok").as_bool());
    CHECK(refused.json().at("error").at("code").as_string() == "UPSTREAM_AUTH_FAILED");
}

TEST_CASE("removal warns about workflows; uninstall refuses while connections exist; take-over is audited", "[connections]") {
    TempDir folder;
    fs::copy(staged_manifests(), folder.path(), fs::copy_options::recursive);
    write_file(folder / "kit.yaml", kit_manifest());
    Served server(folder.path());
    server.install({"kit"});
    World w(server);

    auto mk = [&](const std::string& who, const std::string& name) {
        auto r = w.as(who, "POST", "/v1/connections", R"({"integration": "kit", "name": ")" + name + R"(", "auth_type": "bearer", "secrets": {"token": "x"}})");
        REQUIRE(r.status == 201);
        return std::string(r.json().at("id").as_string());
    };
    std::string a = mk("owner", "a");
    // The plugin sees settings and base URL but not the secret (the manifest does not ask for raw secrets).
    auto used = w.as("permitted", "POST", "/v1/integrations/kit/actions/echo/invoke", R"({"connection": ")" + a + R"(", "workflow_id": "wf-1"})");
    REQUIRE(used.status == 200);
    auto ctx = used.json().at("output").at("context");
    CHECK(ctx.at("connection").at("id").as_string() == a);
    CHECK_FALSE(ctx.at("connection").as_object().contains("secrets"));
    REQUIRE(w.as("owner", "POST", "/v1/integrations/kit/actions/echo/invoke", R"({"connection": ")" + a + R"(", "workflow_id": "wf-2"})").status == 200);

    auto refused = w.as("owner", "DELETE", "/v1/connections/" + a);
    CHECK(refused.status == 409);
    CHECK(refused.error_code() == "CONFIRMATION_REQUIRED");
    CHECK(refused.json().at("error").at("details").at("workflows").as_array().size() == 2);
    CHECK(w.as("owner", "GET", "/v1/connections/" + a).status == 200);  // still there

    auto un = w.as("owner", "DELETE", "/v1/installations/kit");
    CHECK(un.status == 409);
    CHECK(un.json().at("error").at("details").at("connections").as_array().size() == 1);

    REQUIRE(w.as("owner", "DELETE", "/v1/connections/" + a + "?confirm=true").status == 200);
    CHECK(w.as("owner", "GET", "/v1/connections/" + a).status == 404);

    // admin2's connection: the owner (another admin) cannot take it over while admin2 is active.
    std::string b = mk("admin2", "b");
    CHECK(w.as("owner", "POST", "/v1/connections/" + b + "/takeover").status == 409);
    REQUIRE(w.as("owner", "PATCH", "/v1/members/admin2", R"({"active": false})").status == 200);
    CHECK(w.as("admin2", "GET", "/v1/me").status == 401);  // deactivated: its token stops working
    CHECK(w.as("permitted", "POST", "/v1/connections/" + b + "/takeover").status == 403);
    auto taken = w.as("owner", "POST", "/v1/connections/" + b + "/takeover");
    REQUIRE(taken.status == 200);
    CHECK(taken.json().at("owner").as_string() == "admin");
    CHECK(taken.json().at("created_by").as_string() == "admin2");

    // Force-uninstall removes the remaining connection.
    auto forced = w.as("owner", "DELETE", "/v1/installations/kit?force=true");
    REQUIRE(forced.status == 200);
    CHECK(forced.json().at("connections_removed").as_array().size() == 1);

    // The audit log has all of it, newest first, paged.
    auto page = w.as("owner", "GET", "/v1/audit?limit=3").json();
    auto events = page.at("events").as_array();
    REQUIRE(events.size() == 3);
    CHECK(events[0].at("action").as_string() == "integration.uninstall");
    std::vector<std::string> actions;
    for (const auto& e : events) actions.emplace_back(e.at("action").as_string());
    std::string before = std::to_string(page.at("next_before").as_int64());
    for (int guard = 0; guard < 20 && !before.empty(); ++guard) {
        auto p = w.as("owner", "GET", "/v1/audit?limit=3&before=" + before).json();
        for (const auto& e : p.at("events").as_array()) actions.emplace_back(e.at("action").as_string());
        before = p.at("next_before").is_null() ? "" : std::to_string(p.at("next_before").as_int64());
    }
    for (const char* a : {"connection.take_over", "member.update", "connection.delete", "connection.create", "integration.install", "bootstrap"})
        CHECK_THAT(std::string(a), Catch::Matchers::Predicate<std::string>([&](const std::string& x) { return std::find(actions.begin(), actions.end(), x) != actions.end(); }));
    CHECK(w.as("permitted", "GET", "/v1/audit").status == 403);
    CHECK(w.as("stranger", "GET", "/v1/audit").body.find("connection.create") == std::string::npos);
}

TEST_CASE("canary secrets never appear in responses, logs, audit or errors", "[connections][secrets]") {
    const std::string canary_token = "CANARY-tok-7f3a9b";
    const std::string canary_key = "CANARY-key-51c2e8";
    const std::string canary_pass = "CANARY-pw-0d4e6f";
    TempDir folder;
    fs::copy(staged_manifests(), folder.path(), fs::copy_options::recursive);
    Served server(folder.path(), {"--log-level", "debug"});
    server.install({"http"});
    Upstream up;
    up.expect_credential("Bearer " + canary_token);
    std::string all;  // every response body the API gives
    auto keep = [&](Response r) {
        all += r.body + "\n";
        for (const auto& [k, v] : r.headers) all += k + ": " + v + "\n";
        return r;
    };
    auto c1 = keep(server.call("POST", "/v1/connections",
                               R"({"integration": "http", "name": "bearer", "auth_type": "bearer", "base_url": ")" + up.url("/protected") +
                                   R"(", "secrets": {"token": ")" + canary_token + R"("}})"));
    REQUIRE(c1.status == 201);
    std::string id(c1.json().at("id").as_string());
    auto c2 = keep(server.call("POST", "/v1/connections",
                               R"({"integration": "http", "name": "key", "auth_type": "api_key", "base_url": ")" + up.url("/") +
                                   R"(", "secrets": {"api_key": ")" + canary_key + R"("}})"));
    REQUIRE(c2.status == 201);
    auto c3 = keep(server.call("POST", "/v1/connections",
                               R"({"integration": "http", "name": "basic", "auth_type": "basic", "settings": {"username": "u"}, "secrets": {"password": ")" +
                                   canary_pass + R"("}})"));
    REQUIRE(c3.status == 201);
    // Every path: list, read, use (success and upstream failure), test, update, bad input, delete.
    keep(server.call("GET", "/v1/connections"));
    keep(server.call("GET", "/v1/connections/" + id));
    auto use = keep(server.call("POST", "/v1/integrations/http/actions/request/invoke",
                                R"({"connection": ")" + id + R"(", "workflow_id": "wf", "input": {"url": ")" + up.url("/protected") + R"("}})"));
    CHECK(use.json().at("output").at("status").as_int64() == 200);  // the upstream got the right credential
    keep(server.call("POST", "/v1/integrations/http/actions/request/invoke",
                     R"({"connection": ")" + id + R"(", "input": {"url": "http://127.0.0.1:1/refused"}})"));
    keep(server.call("POST", "/v1/connections/" + id + "/test"));
    keep(server.call("PATCH", "/v1/connections/" + id, R"({"secrets": {"token": ")" + canary_token + R"(-v2"}})"));
    keep(server.call("PATCH", "/v1/connections/" + id, R"({"secrets": {"nope": ")" + canary_token + R"("}})"));
    keep(server.call("POST", "/v1/connections", R"({"integration": "http", "name": "bad", "auth_type": "bearer", "secrets": {"token": 5}})"));
    keep(server.call("GET", "/v1/audit?limit=500"));
    keep(server.call("DELETE", "/v1/connections/" + id + "?confirm=true"));
    auto audit_cli = run({patchbay_bin(), "admin", "--data", server.data_dir().string(), "audit", "--team", "default", "--limit", "500"});
    auto keys = run({patchbay_bin(), "keys", "--data", server.data_dir().string(), "rotate"});
    CHECK(keys.exit_code == 0);
    server.terminate();
    std::string logs = server.stderr_text() + server.stdout_text() + audit_cli.out + audit_cli.err + keys.out + keys.err;
    CHECK(logs.find("\"level\":\"debug\"") != std::string::npos);  // debug logging really was on
    for (const auto& canary : {canary_token, canary_key, canary_pass}) {
        CHECK(all.find(canary) == std::string::npos);
        CHECK(logs.find(canary) == std::string::npos);
    }
    // Nor in the database file in clear text.
    std::string db = read_file(server.data_dir() / "patchbay.db") + read_file(server.data_dir() / "patchbay.db-wal");
    for (const auto& canary : {canary_token, canary_key, canary_pass}) CHECK(db.find(canary) == std::string::npos);
}
