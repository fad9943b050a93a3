// The event log on its own: a delivery that cannot be stored is reported (so the hook answers 503
// and the sender retries), one bad delivery does not fail the others committed with it, and
// duplicates are dropped by delivery id and by source id.
#include "store/migrations.hpp"
#include "store/sqlite_database.hpp"
#include "test_support.hpp"
#include "triggers/event_log.hpp"

#include <catch2/catch.hpp>

#include <future>

using namespace patchbay;
using namespace testing;
namespace tr = patchbay::triggers;

namespace {

// A store whose disk is full: every write fails.
class FullDisk final : public store::Database {
public:
    std::string_view engine() const override { return "sqlite"; }
    void write(const std::function<void(store::Tx&)>&) override { throw store::StoreError("database or disk is full"); }
    void read(const std::function<void(store::Tx&)>&) override { throw store::StoreError("database or disk is full"); }
    int schema_version() override { return store::latest_schema_version(); }
};

Result<tr::Stored> append(tr::EventLog& log, tr::Delivery d) {
    std::promise<Result<tr::Stored>> p;
    auto f = p.get_future();
    log.append(std::move(d), [&p](Result<tr::Stored> r) { p.set_value(std::move(r)); });
    return f.get();
}

// A team, a user, a connection and a subscription, straight into the store.
void seed(store::Database& db, const std::string& subscription) {
    db.write([&](store::Tx& tx) {
        tx.exec("INSERT OR IGNORE INTO teams (id, name, created_at) VALUES (1, 't', 'now')");
        tx.exec("INSERT OR IGNORE INTO users (id, name, created_at) VALUES (1, 'u', 'now')");
        tx.exec("INSERT OR IGNORE INTO installations (team_id, integration, installed_at) VALUES (1, 'kit', 'now')");
        tx.exec("INSERT OR IGNORE INTO connections (id, team_id, integration, name, auth_type, created_by, owner_id, created_at, updated_at) "
                "VALUES ('c1', 1, 'kit', 'c', 'bearer', 1, 1, 'now', 'now')");
        tx.exec("INSERT INTO subscriptions (id, team_id, connection_id, integration, trigger_name, kind, status, created_by, created_at, updated_at) "
                "VALUES (?, 1, 'c1', 'kit', 't', 'webhook', 'active', 1, 'now', 'now')",
                {subscription});
    });
}

}  // namespace

TEST_CASE("events that cannot be stored are reported, never acknowledged", "[triggers][event_log]") {
    FullDisk db;
    tr::EventLog log(db);
    auto r = append(log, tr::Delivery{1, "sub_x", "d-1", {{"", R"({"a":1})"}}});
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().code == Errc::store_unavailable);
    CHECK(r.error().message.find("send it again") != std::string::npos);
}

TEST_CASE("one delivery that cannot be stored does not fail the others; duplicates are dropped", "[triggers][event_log]") {
    TempDir dir;
    store::SqliteDatabase db(dir / "p.db");
    store::migrate(db);
    seed(db, "sub_a");
    tr::EventLog log(db);
    // Queued together (the writer commits what has queued in one transaction).
    std::promise<Result<tr::Stored>> gone, fine;
    log.append(tr::Delivery{1, "sub_deleted", "d-1", {{"", "{}"}}}, [&](Result<tr::Stored> r) { gone.set_value(std::move(r)); });
    log.append(tr::Delivery{1, "sub_a", "d-2", {{"", R"({"n":1})"}, {"", R"({"n":2})"}}}, [&](Result<tr::Stored> r) { fine.set_value(std::move(r)); });
    auto g = gone.get_future().get();
    auto f = fine.get_future().get();
    REQUIRE_FALSE(g.ok());
    CHECK(g.error().code == Errc::not_found);
    REQUIRE(f.ok());
    CHECK(f->event_ids.size() == 2);

    auto again = append(log, tr::Delivery{1, "sub_a", "d-2", {{"", R"({"n":1})"}}});
    REQUIRE(again.ok());
    CHECK(again->duplicate);
    CHECK(again->event_ids.empty());
    // Source ids: an item seen before is not stored again, a new one is.
    auto first = append(log, tr::Delivery{1, "sub_a", "", {{"item-1", "{}"}, {"item-2", "{}"}}});
    auto second = append(log, tr::Delivery{1, "sub_a", "", {{"item-2", "{}"}, {"item-3", "{}"}}});
    CHECK(first->event_ids.size() == 2);
    CHECK(second->event_ids.size() == 1);
    auto page = log.pull(1, tr::PullOptions{});
    REQUIRE(page.ok());
    CHECK(page->at("events").as_array().size() == 5);
}
