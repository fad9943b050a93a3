// The platform's organizations: the engine's bulk upsert (atomic, checked item by item), paging
// and search, parents, who may change them, and the admin CLI on the same data.
#include "test_support.hpp"

#include <boost/json.hpp>
#include <catch2/catch.hpp>

using namespace testing;
namespace json = boost::json;

namespace {

std::string member_token(Served& s) {
    auto a = run({patchbay_bin(), "admin", "--data", s.data_dir().string(), "users", "add", "mia", "--team", "default", "--role", "member"});
    REQUIRE(a.exit_code == 0);
    auto t = run({patchbay_bin(), "admin", "--data", s.data_dir().string(), "tokens", "create", "--team", "default", "--user", "mia"});
    REQUIRE(t.exit_code == 0);
    return t.out.substr(0, t.out.find('\n'));
}

}  // namespace

TEST_CASE("organizations: bulk upsert, paging, search, parents, permissions", "[organizations]") {
    Served s(staged_manifests());
    auto put = [&](const std::string& body) { return s.call("PUT", "/v1/organizations", body); };
    auto first = put(R"({"organizations": [
        {"id": "o1", "name": "Acme Holdings", "domain": "ACME.com"},
        {"id": "o2", "name": "Acme Europe GmbH", "parent": "o1"},
        {"id": "o3", "name": "Globex Corporation"}]})");
    INFO(first.body);
    REQUIRE(first.status == 200);
    CHECK(first.json() == json::parse(R"({"created": 3, "updated": 0, "unchanged": 0, "removed": 0})"));
    auto o1 = s.call("GET", "/v1/organizations/o1").json();
    CHECK(o1.at("domain") == "acme.com");  // domains are kept in lower case
    CHECK(s.call("GET", "/v1/organizations/o2").json().at("parent") == "o1");

    // The same list again, one renamed: only that one changes.
    auto second = put(R"({"organizations": [
        {"id": "o1", "name": "Acme Holdings", "domain": "acme.com"},
        {"id": "o2", "name": "Acme Europe GmbH", "parent": "o1"},
        {"id": "o3", "name": "Globex Corp."}]})");
    CHECK(second.json() == json::parse(R"({"created": 0, "updated": 1, "unchanged": 2, "removed": 0})"));

    // All or nothing: one bad item and nothing is written, the error points at it.
    auto bad = put(R"({"organizations": [{"id": "o4", "name": "Initech"}, {"id": "o5", "name": ""}]})");
    CHECK(bad.status == 400);
    CHECK(bad.json().at("error").at("pointer") == "/organizations/1/name");
    CHECK(s.call("GET", "/v1/organizations/o4").status == 404);
    CHECK(put(R"({"organizations": [{"id": "o4", "name": "X", "parent": "nope"}]})").json().at("error").at("pointer") ==
          "/organizations/0/parent");
    CHECK(put(R"({"organizations": [{"id": "o4", "name": "X"}, {"id": "o4", "name": "Y"}]})").status == 400);
    CHECK(put(R"({"organizations": [{"id": "o4", "name": "X", "domain": "https://x.com/"}]})").status == 400);

    // Paging and search.
    std::string many = R"({"organizations": [)";
    for (int i = 0; i < 25; ++i) many += std::string(i ? "," : "") + R"({"id": "p)" + (i < 10 ? "0" : "") + std::to_string(i) + R"(", "name": "Client )" + std::to_string(i) + "\"}";
    many += "]}";
    REQUIRE(put(many).json().at("created") == 25);
    auto page1 = s.call("GET", "/v1/organizations?limit=10&q=client").json();
    CHECK(page1.at("organizations").as_array().size() == 10);
    std::string after(page1.at("next_after").as_string());
    auto page3 = s.call("GET", "/v1/organizations?limit=10&q=client&after=p19").json();
    CHECK(page3.at("organizations").as_array().size() == 5);
    CHECK_FALSE(page3.as_object().contains("next_after"));
    CHECK(after == "p09");
    CHECK(s.call("GET", "/v1/organizations?q=ACME").json().at("organizations").as_array().size() == 2);

    // A parent cannot go while it has children; remove_missing makes the list the whole truth.
    CHECK(s.call("DELETE", "/v1/organizations/o1").status == 409);
    auto sync = put(R"({"organizations": [{"id": "o3", "name": "Globex Corp."}], "remove_missing": true})");
    CHECK(sync.json().at("removed") == 27);
    CHECK(s.call("GET", "/v1/organizations").json().at("organizations").as_array().size() == 1);
    CHECK(s.call("DELETE", "/v1/organizations/o3").status == 200);

    // Members read, admins write.
    std::string mia = member_token(s);
    CHECK(s.call_as(mia, "GET", "/v1/organizations").status == 200);
    CHECK(s.call_as(mia, "PUT", "/v1/organizations", R"({"organizations": []})").status == 403);
    CHECK(s.call("GET", "/v1/audit?limit=20").body.find("organizations.upsert") != std::string::npos);
}

TEST_CASE("organizations from the admin CLI", "[organizations][cli]") {
    Served s(staged_manifests());
    TempDir dir;
    write_file(dir / "orgs.json", R"([{"id": "a", "name": "Alpha Ltd"}, {"id": "b", "name": "Beta", "parent": "a", "domain": "beta.io"}])");
    auto up = run({patchbay_bin(), "admin", "--data", s.data_dir().string(), "organizations", "upsert", (dir / "orgs.json").string(), "--team", "default"});
    INFO(up.err);
    REQUIRE(up.exit_code == 0);
    CHECK(up.out == "created 2, updated 0, unchanged 0, removed 0\n");
    auto list = run({patchbay_bin(), "admin", "--data", s.data_dir().string(), "organizations", "list", "--team", "default"});
    CHECK(list.out == "a\tAlpha Ltd\t\t\nb\tBeta\ta\tbeta.io\n");
    // The server sees them.
    CHECK(s.call("GET", "/v1/organizations/b").json().at("domain") == "beta.io");
    write_file(dir / "bad.json", R"([{"id": "c"}])");
    auto bad = run({patchbay_bin(), "admin", "--data", s.data_dir().string(), "organizations", "upsert", (dir / "bad.json").string(), "--team", "default"});
    CHECK(bad.exit_code == 2);
    CHECK(bad.err.find("name is required (at /organizations/0/name)") != std::string::npos);
}
