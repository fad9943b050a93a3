// Organization mapping end to end, through an integration imported from OpenAPI whose tool lists
// its companies page by page (the test upstream's /companies): refresh with paging, a cap and
// failures; suggestions; atomic saves; stale flags; and invocations that name an organization,
// resolved to a connection and a tenant, or refused with NOT_MAPPED.
#include "test_support.hpp"
#include "upstream.hpp"

#include <boost/json.hpp>
#include <catch2/catch.hpp>

#include <map>
#include <thread>

using namespace testing;
namespace json = boost::json;

namespace {

const char* kPsaSpec = R"(openapi: 3.0.3
info: {title: PSA, version: 1.0.0}
servers: [{url: 'https://psa.example.com'}]
x-patchbay-organizations: {operation: companies.list, id: /id, name: /name, domain: /website, parameter: companyId}
paths:
  /companies:
    get:
      operationId: companies.list
      parameters: [{name: per_page, in: query, schema: {type: integer}}]
      x-patchbay-pagination: {style: cursor, cursorParam: cursor, nextCursor: /meta/next, items: /data}
      responses: {'200': {description: a page of companies}}
  /companies/{companyId}/echo:
    get:
      operationId: tickets.list
      parameters: [{name: companyId, in: path, required: true, schema: {type: string}}]
      responses: {'200': {description: the company's tickets}}
)";

// The tool's companies: 25, three pages of ten.
std::vector<std::pair<std::string, std::string>> companies() {
    std::vector<std::pair<std::string, std::string>> c = {
        {"c-100", "Acme Holdings, Inc."}, {"c-101", "Globex Corporation"}, {"c-102", "Initech"}, {"c-103", "Wayne Enterprises Inc."},
        {"c-104", "Stark Industries"},    {"c-105", "Northwind Traders Ltd"}};
    for (int i = 0; c.size() < 25; ++i) c.emplace_back("c-" + std::to_string(200 + i), "Tenant " + std::to_string(200 + i) + " GmbH");
    return c;
}

std::string member_token(Served& s) {
    REQUIRE(run({patchbay_bin(), "admin", "--data", s.data_dir().string(), "users", "add", "mia", "--team", "default", "--role", "member"}).exit_code == 0);
    auto t = run({patchbay_bin(), "admin", "--data", s.data_dir().string(), "tokens", "create", "--team", "default", "--user", "mia"});
    REQUIRE(t.exit_code == 0);
    return t.out.substr(0, t.out.find('\n'));
}

struct MappingFixture {
    TempDir folder, specs;
    Upstream up;
    std::unique_ptr<Served> server;
    std::string conn;

    MappingFixture() {
        fs::copy(staged_manifests(), folder.path(), fs::copy_options::recursive);
        write_file(specs.path() / "psa.yaml", kPsaSpec);
        auto imported = run({patchbay_bin(), "openapi", "import", (specs.path() / "psa.yaml").string(), "--name", "psa", "--manifests",
                             folder.path().string()});
        INFO(imported.err);
        REQUIRE(imported.exit_code == 0);
        up.set_companies(companies());
        server = std::make_unique<Served>(folder.path());
        server->install({"psa"});
        conn = connection("main");
        REQUIRE(server->call("PUT", "/v1/organizations", R"({"organizations": [
            {"id": "o-acme", "name": "ACME Holdings", "domain": "acme-holdings.com"},
            {"id": "o-globex", "name": "Globex"},
            {"id": "o-initech", "name": "Initech LLC"},
            {"id": "o-wayne", "name": "Wayne Enterprsies"},
            {"id": "o-umbrella", "name": "Umbrella Pharmaceuticals"},
            {"id": "o-stark", "name": "Stark Industries"},
            {"id": "o-c1", "name": "Client One"}, {"id": "o-c2", "name": "Client Two"}, {"id": "o-c3", "name": "Client Three"},
            {"id": "o-c4", "name": "Client Four"}, {"id": "o-c5", "name": "Client Five"}, {"id": "o-c6", "name": "Client Six"}]})")
                    .status == 200);
    }

    std::string connection(const std::string& name) {
        auto c = server->call("POST", "/v1/connections", json::serialize(json::object{{"integration", "psa"}, {"name", name}, {"base_url", up.url("")}}));
        INFO(c.body);
        REQUIRE(c.status == 201);
        return std::string(c.json().at("id").as_string());
    }
    Response refresh(const std::string& body = R"({"wait": true})") {
        return server->call("POST", "/v1/connections/" + conn + "/organizations/refresh", body);
    }
    json::value mappings(const std::string& query = "") {
        auto r = server->call("GET", "/v1/connections/" + conn + "/mappings" + query);
        INFO(r.body);
        REQUIRE(r.status == 200);
        return r.json();
    }
    // organization id -> the item of the mapping list
    std::map<std::string, json::object> by_org(const std::string& query = "?per_page=100") {
        std::map<std::string, json::object> out;
        json::value list = mappings(query);
        for (const auto& i : list.at("items").as_array())
            out[std::string(i.at("organization").at("id").as_string())] = i.as_object();
        return out;
    }
    Response invoke(const std::string& body) { return server->call("POST", "/v1/integrations/psa/actions/tickets.list/invoke", body); }
};

}  // namespace

TEST_CASE("refresh follows every page, keeps the options with their time, and a failure keeps the previous ones", "[mapping]") {
    MappingFixture f;
    // Nothing fetched yet: suggestions need options first.
    CHECK(f.server->call("POST", "/v1/connections/" + f.conn + "/mappings/suggest", "{}").status == 409);

    auto r = f.refresh();
    INFO(r.body);
    REQUIRE(r.status == 200);
    auto status = r.json();
    CHECK(status.at("count") == 25);
    CHECK(status.at("pages") == 3);
    CHECK(status.at("complete") == true);
    CHECK(status.at("state") == "idle");
    CHECK(status.at("fetched_at").is_string());
    CHECK(f.up.hits("companies") == 3);
    auto options = f.server->call("GET", "/v1/connections/" + f.conn + "/organizations?per_page=10&page=3").json();
    CHECK(options.at("total") == 25);
    CHECK(options.at("pages") == 3);
    CHECK(options.at("items").as_array().size() == 5);
    auto first = f.server->call("GET", "/v1/connections/" + f.conn + "/organizations?per_page=2").json();
    CHECK(first.at("items").at(0).at("domain") == "acme-holdings.com");  // read through organizations.domain
    CHECK(first.at("items").at(1).at("domain").is_null());
    auto search = f.server->call("GET", "/v1/connections/" + f.conn + "/organizations?q=globex").json();
    REQUIRE(search.at("items").as_array().size() == 1);
    CHECK(search.at("items").at(0).at("id") == "c-101");

    // The tool fails on the second page: the error says so and the 25 options stay.
    f.up.set_companies(companies(), 1);
    auto failed = f.refresh();
    CHECK(failed.status == 502);
    CHECK(failed.body.find("previous options are kept") != std::string::npos);
    auto after = f.server->call("GET", "/v1/connections/" + f.conn + "/organizations/refresh").json();
    CHECK(after.at("count") == 25);
    CHECK(after.at("fetched_at") == status.at("fetched_at"));
    CHECK(after.at("last_error").as_string().find("503") != std::string::npos);

    // A cap: two pages kept, marked incomplete.
    f.up.set_companies(companies());
    auto capped = f.refresh(R"({"wait": true, "max_pages": 2})");
    REQUIRE(capped.status == 200);
    CHECK(capped.json().at("count") == 20);
    CHECK(capped.json().at("complete") == false);

    // Without wait: 202 at once, and the status shows the outcome when done.
    auto started = f.refresh("{}");
    CHECK(started.status == 202);
    json::value done;
    for (int i = 0; i < 100; ++i) {
        done = f.server->call("GET", "/v1/connections/" + f.conn + "/organizations/refresh").json();
        if (done.at("state") == "idle" && done.at("count") == 25) break;
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    CHECK(done.at("count") == 25);
    CHECK(done.at("complete") == true);
    // A one-page listing may be in before the answer is written: the answer is still 202, never
    // the finished refresh's 200.
    for (int round = 0; round < 10; ++round) {
        auto quick = f.refresh(R"({"max_pages": 1})");
        INFO("round " << round << ": " << quick.body);
        REQUIRE(quick.status == 202);
        for (int i = 0; i < 100; ++i) {
            if (f.server->call("GET", "/v1/connections/" + f.conn + "/organizations/refresh").json().at("state") == "idle") break;
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
        }
    }

    // Only admins refresh; members read.
    std::string mia = member_token(*f.server);
    CHECK(f.server->call_as(mia, "POST", "/v1/connections/" + f.conn + "/organizations/refresh", "{}").status == 403);
    CHECK(f.server->call_as(mia, "GET", "/v1/connections/" + f.conn + "/organizations").status == 200);
    CHECK(f.server->call("GET", "/v1/audit?limit=50").body.find("organizations.refresh_failed") != std::string::npos);
}

TEST_CASE("suggest, save, never overwrite, page and filter, stale after a refresh", "[mapping]") {
    MappingFixture f;
    REQUIRE(f.refresh().status == 200);
    auto s = f.server->call("POST", "/v1/connections/" + f.conn + "/mappings/suggest", "{}");
    INFO(s.body);
    REQUIRE(s.status == 200);
    CHECK(s.json().at("considered") == 12);
    auto rows = f.by_org();
    auto suggested = [&](const std::string& org) -> std::string {
        const auto& sug = rows.at(org).at("suggestion");
        return sug.is_null() ? "" : std::string(sug.at("remote_id").as_string());
    };
    CHECK(suggested("o-acme") == "c-100");
    CHECK(suggested("o-globex") == "c-101");
    CHECK(suggested("o-initech") == "c-102");
    CHECK(suggested("o-wayne") == "c-103");  // through the typo
    CHECK(suggested("o-stark") == "c-104");
    CHECK(suggested("o-umbrella").empty());  // nothing like it at the tool
    CHECK(suggested("o-c1").empty());
    CHECK(rows.at("o-acme").at("status") == "suggested");
    CHECK(rows.at("o-acme").at("suggestion").at("confidence").as_double() > 0.97);  // name and domain agree
    CHECK(rows.at("o-wayne").at("suggestion").at("confidence").as_double() < rows.at("o-acme").at("suggestion").at("confidence").as_double());  // a typo costs some
    CHECK(f.mappings("?filter=suggested").at("total") == 5);
    CHECK(f.mappings("?filter=unmapped").at("total") == 7);

    // Atomic: one bad item and nothing is saved.
    auto bad = f.server->call("PUT", "/v1/connections/" + f.conn + "/mappings",
                              R"({"mappings": [{"organization": "o-umbrella", "remote_id": "c-105"}, {"organization": "o-c1", "remote_id": "nope"}]})");
    CHECK(bad.status == 400);
    CHECK(bad.json().at("error").at("pointer") == "/mappings/1/remote_id");
    CHECK(f.by_org().at("o-umbrella").at("mapping").is_null());

    // Accept the suggestions, and map one by hand.
    auto accepted = f.server->call("PUT", "/v1/connections/" + f.conn + "/mappings", R"({"accept_suggestions": true})");
    REQUIRE(accepted.status == 200);
    CHECK(accepted.json().at("mapped") == 5);
    auto manual = f.server->call("PUT", "/v1/connections/" + f.conn + "/mappings", R"({"mappings": [{"organization": "o-c1", "remote_id": "c-105"}]})");
    REQUIRE(manual.status == 200);
    rows = f.by_org();
    CHECK(rows.at("o-c1").at("mapping").at("remote_id") == "c-105");
    CHECK(rows.at("o-c1").at("mapping").at("remote_name") == "Northwind Traders Ltd");
    CHECK(rows.at("o-c1").at("mapping").at("saved_by") == "admin");
    CHECK(f.mappings().at("counts").at("mapped") == 6);

    // Suggesting again never touches a saved mapping: o-c1 keeps c-105 and gets no proposal.
    REQUIRE(f.server->call("POST", "/v1/connections/" + f.conn + "/mappings/suggest", "{}").status == 200);
    rows = f.by_org();
    CHECK(rows.at("o-c1").at("mapping").at("remote_id") == "c-105");
    CHECK(rows.at("o-c1").at("suggestion").is_null());
    CHECK(f.server->call("PUT", "/v1/connections/" + f.conn + "/mappings", R"({"accept_suggestions": true})").json().at("mapped") == 0);

    // Paging: 10 a page by default, as in the console; search by name.
    auto page1 = f.mappings();
    CHECK(page1.at("per_page") == 10);
    CHECK(page1.at("items").as_array().size() == 10);
    CHECK(page1.at("total") == 12);
    CHECK(page1.at("pages") == 2);
    CHECK(f.mappings("?page=2").at("items").as_array().size() == 2);
    auto acme = f.mappings("?q=acme");
    REQUIRE(acme.at("items").as_array().size() == 1);
    CHECK(acme.at("items").at(0).at("organization").at("id") == "o-acme");
    CHECK(f.server->call("GET", "/v1/connections/" + f.conn + "/mappings?filter=odd").status == 400);

    // Initech leaves the tool: after a complete refresh its mapping is stale; a capped one proves
    // nothing about what it did not reach.
    auto without = companies();
    without.erase(without.begin() + 2);
    f.up.set_companies(without);
    REQUIRE(f.refresh(R"({"wait": true, "max_pages": 1})").status == 200);
    CHECK(f.mappings("?filter=stale").at("total") == 0);
    REQUIRE(f.refresh().status == 200);
    auto stale = f.mappings("?filter=stale");
    REQUIRE(stale.at("total") == 1);
    CHECK(stale.at("items").at(0).at("organization").at("id") == "o-initech");
    CHECK(stale.at("items").at(0).at("mapping").at("stale") == true);
    CHECK(f.mappings().at("counts").at("stale") == 1);
    // It comes back: no longer stale.
    f.up.set_companies(companies());
    REQUIRE(f.refresh().status == 200);
    CHECK(f.mappings("?filter=stale").at("total") == 0);

    // With overwrite, saved mappings are proposed again (and only replaced when accepted so).
    REQUIRE(f.server->call("POST", "/v1/connections/" + f.conn + "/mappings/suggest", R"({"overwrite": true})").status == 200);
    rows = f.by_org();
    CHECK(rows.at("o-acme").at("suggestion").at("remote_id") == "c-100");
    CHECK(rows.at("o-c1").at("mapping").at("remote_id") == "c-105");

    std::string mia = member_token(*f.server);
    CHECK(f.server->call_as(mia, "GET", "/v1/connections/" + f.conn + "/mappings").status == 200);
    CHECK(f.server->call_as(mia, "PUT", "/v1/connections/" + f.conn + "/mappings", R"({"accept_suggestions": true})").status == 403);
    CHECK(f.server->call_as(mia, "POST", "/v1/connections/" + f.conn + "/mappings/suggest", "{}").status == 403);
    auto audit = f.server->call("GET", "/v1/audit?limit=100").body;
    CHECK(audit.find("mappings.save") != std::string::npos);
    CHECK(audit.find("mappings.suggest") != std::string::npos);
}

TEST_CASE("invoking by organization: default connection, organization override, the tenant bound, NOT_MAPPED", "[mapping][invoke]") {
    MappingFixture f;
    REQUIRE(f.refresh().status == 200);
    REQUIRE(f.server->call("PUT", "/v1/connections/" + f.conn + "/mappings",
                           R"({"mappings": [{"organization": "o-globex", "remote_id": "c-101"}, {"organization": "o-acme", "remote_id": "c-100"}]})")
                .status == 200);

    // No connection serves the organization yet.
    int before = f.up.requests();
    auto none = f.invoke(R"({"organization": "o-globex"})");
    CHECK(none.status == 409);
    CHECK(none.json().at("error").at("code") == "NOT_MAPPED");
    CHECK(none.body.find("default-connection") != std::string::npos);

    // The installation's default connection serves every organization without its own.
    REQUIRE(f.server->call("PUT", "/v1/installations/psa/default-connection", json::serialize(json::object{{"connection", f.conn}})).status == 200);
    auto ok = f.invoke(R"({"organization": "o-globex"})");
    INFO(ok.body);
    REQUIRE(ok.status == 200);
    CHECK(ok.json().at("output").at("target") == "/companies/c-101/echo");  // the mapped tenant, bound into companyId

    // The CLI does the same through the server.
    ::setenv("PATCHBAY_TOKEN", f.server->admin_token().c_str(), 1);
    auto cli = run({patchbay_bin(), "invoke", "psa", "tickets.list", "--server", f.server->url(), "--organization", "o-globex"});
    INFO(cli.err);
    REQUIRE(cli.exit_code == 0);
    CHECK(json::parse(cli.out).at("target") == "/companies/c-101/echo");
    auto cli_unmapped = run({patchbay_bin(), "invoke", "psa", "tickets.list", "--server", f.server->url(), "--organization", "o-umbrella"});
    CHECK(cli_unmapped.exit_code == 1);
    CHECK(cli_unmapped.err.find("NOT_MAPPED") != std::string::npos);

    // The same tenant given explicitly is fine; another one is refused, and nothing is sent.
    CHECK(f.invoke(R"({"organization": "o-globex", "input": {"companyId": "c-101"}})").status == 200);
    int sent = f.up.requests();
    auto wrong = f.invoke(R"({"organization": "o-globex", "input": {"companyId": "c-100"}})");
    CHECK(wrong.status == 400);
    CHECK(wrong.json().at("error").at("pointer") == "/input/companyId");
    // Unmapped: NOT_MAPPED, and the tool never sees a call.
    auto unmapped = f.invoke(R"({"organization": "o-umbrella"})");
    CHECK(unmapped.status == 409);
    CHECK(unmapped.json().at("error").at("code") == "NOT_MAPPED");
    CHECK(f.invoke(R"({"organization": "o-nobody"})").status == 404);
    CHECK(f.up.requests() == sent);
    CHECK(before <= sent);

    // An organization's own connection wins over the default, and its mappings are its own: not
    // mapped there means NOT_MAPPED, never the default connection's tenant.
    std::string other = f.connection("second");
    REQUIRE(f.server->call("PUT", "/v1/organizations/o-globex/connections/psa", json::serialize(json::object{{"connection", other}})).status == 200);
    auto own = f.invoke(R"({"organization": "o-globex"})");
    CHECK(own.status == 409);
    CHECK(own.body.find(other) != std::string::npos);
    // Acme still goes through the default.
    CHECK(f.invoke(R"({"organization": "o-acme"})").json().at("output").at("target") == "/companies/c-100/echo");
    auto overrides = f.server->call("GET", "/v1/organizations/o-globex/connections").json();
    CHECK(overrides.at("connections").at(0).at("connection") == json::value(other));
    REQUIRE(f.server->call("DELETE", "/v1/organizations/o-globex/connections/psa").status == 200);
    CHECK(f.invoke(R"({"organization": "o-globex"})").status == 200);

    // A member the connection is not shared with learns nothing of its mappings: 403 either way.
    std::string mia = member_token(*f.server);
    CHECK(f.server->call_as(mia, "POST", "/v1/integrations/psa/actions/tickets.list/invoke", R"({"organization": "o-acme"})").status == 200);
    REQUIRE(f.server->call("PUT", "/v1/connections/" + f.conn + "/permissions", R"({"restricted": true, "allowed_users": ["admin"]})").status == 200);
    CHECK(f.server->call_as(mia, "POST", "/v1/integrations/psa/actions/tickets.list/invoke", R"({"organization": "o-acme"})").status == 403);
    CHECK(f.server->call_as(mia, "POST", "/v1/integrations/psa/actions/tickets.list/invoke", R"({"organization": "o-umbrella"})").status == 409);
    CHECK(f.server->call_as(mia, "POST", "/v1/integrations/psa/actions/tickets.list/invoke",
                            R"({"organization": "o-acme", "input": {"companyId": "c-101"}})")
              .status == 403);

    // A connection of another integration cannot be the default.
    CHECK(f.server->call("PUT", "/v1/installations/psa/default-connection", R"({"connection": "nope"})").status == 404);
    // Removing the connection removes its mappings and the default with it.
    REQUIRE(f.server->call("DELETE", "/v1/connections/" + f.conn + "?confirm=true").status == 200);
    CHECK(f.server->call("GET", "/v1/installations/psa/default-connection").json().at("connection").is_null());
    CHECK(f.invoke(R"({"organization": "o-acme"})").json().at("error").at("code") == "NOT_MAPPED");
}
