// The mapping component against its own store, with a page fetcher the test controls: progress
// while a refresh runs, one refresh at a time, malformed pages, endless cursors, and what a
// failure leaves behind.
#include "mapping/mappings.hpp"
#include "store/migrations.hpp"
#include "store/sqlite_database.hpp"
#include "test_support.hpp"

#include <boost/json.hpp>
#include <catch2/catch.hpp>

#include <deque>
#include <optional>

using namespace testing;
namespace json = boost::json;
using patchbay::Result;
using namespace patchbay;

namespace {

struct World {
    TempDir dir;
    store::SqliteDatabase db{dir / "m.db"};
    mapping::Mappings mappings{db};
    store::Principal admin{1, "ada", 1, "default", store::Role::admin, 0};
    store::Principal member{2, "mia", 1, "default", store::Role::member, 0};

    World() {
        store::migrate(db);
        db.write([](store::Tx& tx) {
            tx.exec("INSERT INTO teams (id, name, created_at) VALUES (1, 'default', 'now')");
            tx.exec("INSERT INTO users (id, name, created_at) VALUES (1, 'ada', 'now'), (2, 'mia', 'now')");
            tx.exec("INSERT INTO installations (team_id, integration, installed_at) VALUES (1, 'psa', 'now')");
            tx.exec("INSERT INTO connections (id, team_id, integration, name, auth_type, created_by, owner_id, created_at, updated_at) "
                    "VALUES ('c1', 1, 'psa', 'main', 'none', 1, 1, 'now', 'now')");
            tx.exec("INSERT INTO organizations (team_id, id, name, created_at, updated_at) VALUES (1, 'o1', 'Acme', 'now', 'now')");
        });
    }
};

// Pages handed out by the test: each fetch waits in `pending` until the test answers it.
struct Pages {
    std::deque<std::function<void(Result<json::value>)>> pending;
    std::vector<json::value> requests;
    mapping::PageFetcher fetcher() {
        return [this](json::value request, std::function<void(Result<json::value>)> done) {
            requests.push_back(std::move(request));
            pending.push_back(std::move(done));
        };
    }
    void answer(Result<json::value> page) {
        REQUIRE_FALSE(pending.empty());
        auto done = std::move(pending.front());
        pending.pop_front();
        done(std::move(page));
    }
};

json::value page(std::initializer_list<const char*> names, std::optional<std::string> next) {
    json::array items;
    for (const char* n : names) items.push_back(json::object{{"id", std::string("id-") + n}, {"name", n}});
    return json::object{{"items", std::move(items)}, {"next_cursor", next ? json::value(*next) : json::value(nullptr)}};
}

}  // namespace

TEST_CASE("a refresh shows its progress, runs once at a time, and stores what it fetched when done", "[mapping]") {
    World w;
    Pages pages;
    std::optional<Result<json::object>> outcome;
    REQUIRE_FALSE(w.mappings.refresh(w.admin, "c1", {}, pages.fetcher(), [&](Result<json::object> r) { outcome = std::move(r); }));
    REQUIRE(pages.pending.size() == 1);
    CHECK(pages.requests[0].at("cursor").is_null());
    CHECK(pages.requests[0].at("page_size") == 100);
    pages.answer(page({"Acme Inc", "Globex"}, "p2"));
    REQUIRE(pages.pending.size() == 1);
    CHECK(pages.requests[1].at("cursor") == "p2");

    auto status = w.mappings.refresh_status(w.member, "c1");
    REQUIRE(status);
    CHECK(status->at("state") == "running");
    CHECK(status->at("progress").at("pages") == 1);
    CHECK(status->at("progress").at("fetched") == 2);
    CHECK(status->at("count") == 0);  // nothing kept until it is complete

    // A second refresh of the same connection meanwhile is refused at once; its callback never runs.
    bool second_done = false;
    auto second = w.mappings.refresh(w.admin, "c1", {}, pages.fetcher(), [&](Result<json::object>) { second_done = true; });
    REQUIRE(second);
    CHECK(second->code == Errc::conflict);
    CHECK_FALSE(second_done);

    // The last page repeats one item (pages shift at real tools): it is kept once.
    pages.answer(page({"Globex", "Initech"}, std::nullopt));
    REQUIRE(outcome);
    REQUIRE(*outcome);
    CHECK((*outcome)->at("state") == "idle");
    CHECK((*outcome)->at("count") == 3);
    CHECK((*outcome)->at("pages") == 2);
    auto options = w.mappings.options(w.member, "c1", {});
    REQUIRE(options);
    CHECK(options->at("total") == 3);
    CHECK(options->at("items").at(0).at("name") == "Acme Inc");
}

TEST_CASE("malformed pages and endless cursors fail the refresh and keep the previous options", "[mapping]") {
    World w;
    auto run = [&](std::vector<Result<json::value>> answers, mapping::RefreshOptions o = {}) {
        Pages pages;
        std::optional<Result<json::object>> outcome;
        REQUIRE_FALSE(w.mappings.refresh(w.admin, "c1", o, pages.fetcher(), [&](Result<json::object> r) { outcome = std::move(r); }));
        for (auto& a : answers) {
            if (outcome) break;
            pages.answer(std::move(a));
        }
        CHECK(pages.pending.empty());  // nothing left waiting once it ended
        REQUIRE(outcome);
        return std::move(*outcome);
    };
    REQUIRE(run({page({"Acme Inc"}, std::nullopt)}));

    auto no_items = run({json::parse(R"({"companies": []})")});
    REQUIRE_FALSE(no_items);
    CHECK(no_items.error().message.find("no 'items' list") != std::string::npos);
    CHECK(no_items.error().message.find("previous options are kept") != std::string::npos);
    auto no_id = run({page({"Globex"}, "p2"), json::parse(R"({"items": [{"name": "nameless"}], "next_cursor": null})")});
    REQUIRE_FALSE(no_id);
    CHECK(no_id.error().message.find("page 2, item 0") != std::string::npos);
    auto endless = run({page({"A"}, "same"), page({"B"}, "same"), page({"C"}, "same")});
    REQUIRE_FALSE(endless);
    CHECK(endless.error().message.find("same cursor twice") != std::string::npos);
    auto upstream = run({Error(Errc::upstream_error, "the tool answered 500")});
    REQUIRE_FALSE(upstream);
    CHECK(upstream.error().code == Errc::upstream_error);

    auto options = w.mappings.options(w.admin, "c1", {});
    CHECK(options->at("total") == 1);  // still the first refresh's Acme
    auto status = w.mappings.refresh_status(w.admin, "c1");
    CHECK(status->at("last_error").as_string().find("500") != std::string::npos);

    // The cap ends it without an error, marked incomplete.
    auto capped = run({page({"A"}, "2"), page({"B"}, "3"), page({"C"}, std::nullopt)}, mapping::RefreshOptions{2, 100});
    REQUIRE(capped);
    CHECK(capped->at("count") == 2);
    CHECK(capped->at("complete") == false);
    CHECK_FALSE(capped->contains("last_error"));

    // Members may not refresh; unknown connections are named.
    bool called = false;
    Pages pages;
    auto refused = w.mappings.refresh(w.member, "c1", {}, pages.fetcher(), [&](Result<json::object>) { called = true; });
    REQUIRE(refused);
    CHECK(refused->code == Errc::forbidden);
    refused = w.mappings.refresh(w.admin, "nope", {}, pages.fetcher(), [&](Result<json::object>) { called = true; });
    REQUIRE(refused);
    CHECK(refused->code == Errc::unknown_connection);
    CHECK_FALSE(called);
    CHECK(pages.requests.empty());
}
