// The store: SQLite engine, migrations, principals and tokens.
#include "common/crypto.hpp"
#include "store/audit.hpp"
#include "store/migrations.hpp"
#include "store/principals.hpp"
#include "store/sqlite_database.hpp"
#include "test_support.hpp"

#include <catch2/catch.hpp>

#include <sys/stat.h>

using namespace patchbay;
using namespace testing;

TEST_CASE("migrations build the schema on an empty database", "[store]") {
    TempDir dir;
    store::SqliteDatabase db(dir / "p.db");
    CHECK(db.schema_version() == 0);
    auto applied = store::migrate(db);
    CHECK(applied.size() == store::migrations().size());
    CHECK(db.schema_version() == store::latest_schema_version());
    CHECK(store::migrate(db).empty());  // a second start applies nothing
    db.read([](store::Tx& tx) {
        CHECK(tx.query_one("PRAGMA foreign_keys")->integer(0) == 1);
        CHECK(tx.query_one("PRAGMA journal_mode")->text(0) == "wal");
        CHECK(tx.query_one("PRAGMA integrity_check")->text(0) == "ok");
    });
}

TEST_CASE("migrating from the previous schema keeps its data", "[store]") {
    TempDir dir;
    {
        store::SqliteDatabase db(dir / "p.db");
        store::migrate(db, store::latest_schema_version() - 1);
        store::PrincipalStore principals(db);
        auto team = principals.create_team("ops");
        REQUIRE(team);
        REQUIRE(principals.add_member(team->id, "ada", store::Role::admin));
    }
    store::SqliteDatabase db(dir / "p.db");
    CHECK(db.schema_version() == store::latest_schema_version() - 1);
    CHECK(store::migrate(db) == std::vector<int>{store::latest_schema_version()});
    store::PrincipalStore principals(db);
    auto team = principals.find_team("ops");
    REQUIRE(team);
    auto ada = principals.find_member(team->id, "ada");
    REQUIRE(ada);
    CHECK(ada->role == store::Role::admin);
    db.write([&](store::Tx& tx) {  // the new tables exist and reference the old ones
        tx.exec("INSERT INTO installations (team_id, integration, installed_by, installed_at) VALUES (?, 'http', ?, 'now')",
                {team->id, ada->user_id});
    });
}

TEST_CASE("a database from a newer Patchbay is refused, not guessed at", "[store]") {
    TempDir dir;
    store::SqliteDatabase db(dir / "p.db");
    store::migrate(db);
    db.write([](store::Tx& tx) { tx.exec("INSERT INTO schema_migrations (version, name, applied_at) VALUES (999, 'future', 'x')"); });
    try {
        store::migrate(db);
        FAIL("migrate accepted a newer schema");
    } catch (const store::StoreError& e) {
        CHECK(std::string(e.what()).find("newer") != std::string::npos);
    }
}

TEST_CASE("a file that is not a database is a clear error", "[store]") {
    TempDir dir;
    write_file(dir / "p.db", std::string(8192, 'x'));
    try {
        store::SqliteDatabase db(dir / "p.db");
        FAIL("opened garbage");
    } catch (const store::StoreError& e) {
        CHECK(std::string(e.what()).find((dir / "p.db").string()) != std::string::npos);
    }
}

TEST_CASE("tokens: shown once, stored hashed, revocable, tied to active accounts", "[store][auth]") {
    TempDir dir;
    store::SqliteDatabase db(dir / "p.db");
    store::migrate(db);
    store::PrincipalStore principals(db);
    auto team = principals.create_team("ops");
    REQUIRE(team);
    auto ada = principals.add_member(team->id, "ada", store::Role::member);
    REQUIRE(ada);
    auto t = principals.create_token(team->id, ada->user_id, "engine");
    REQUIRE(t);
    CHECK(t->token.rfind("pbt_", 0) == 0);
    db.read([&](store::Tx& tx) {  // the plaintext is nowhere in the database
        for (const auto& r : tx.query("SELECT token_hash, hint, name FROM api_tokens"))
            for (size_t i = 0; i < 3; ++i) CHECK(r.text(i).find(t->token.substr(4)) == std::string::npos);
    });
    auto who = principals.authenticate(t->token);
    REQUIRE(who);
    CHECK(who->user == "ada");
    CHECK(who->team == "ops");
    CHECK_FALSE(who->admin());
    CHECK_FALSE(principals.authenticate(t->token + "x"));
    CHECK_FALSE(principals.authenticate("Bearer nonsense"));
    // Cached answers stay each token's own: a second member's token, then both again.
    auto grace = principals.add_member(team->id, "grace", store::Role::admin);
    REQUIRE(grace);
    auto g = principals.create_token(team->id, grace->user_id, "ci");
    REQUIRE(g);
    for (int round = 0; round < 2; ++round) {
        CHECK(principals.authenticate(g->token)->user == "grace");
        CHECK(principals.authenticate(t->token)->user == "ada");
        CHECK_FALSE(principals.authenticate(g->token.substr(0, g->token.size() - 1) + (g->token.back() == 'a' ? "b" : "a")));
    }

    REQUIRE_FALSE(principals.set_member_active(team->id, ada->user_id, false));
    CHECK_FALSE(principals.authenticate(t->token));
    REQUIRE_FALSE(principals.set_member_active(team->id, ada->user_id, true));
    CHECK(principals.authenticate(t->token));
    REQUIRE_FALSE(principals.set_account_active("ada", false));
    CHECK_FALSE(principals.authenticate(t->token));
    REQUIRE_FALSE(principals.set_account_active("ada", true));
    REQUIRE_FALSE(principals.revoke_token(team->id, t->info.id, std::nullopt));
    CHECK_FALSE(principals.authenticate(t->token));
    CHECK(principals.revoke_token(team->id, t->info.id, std::nullopt));  // already revoked: NOT_FOUND

    CHECK(principals.create_team("ops").error().code == Errc::conflict);
    CHECK(principals.create_team("bad name!").error().code == Errc::invalid_input);
    CHECK(principals.add_member(team->id, "ada", store::Role::admin).error().code == Errc::conflict);
}

TEST_CASE("audit events page newest first", "[store][audit]") {
    TempDir dir;
    store::SqliteDatabase db(dir / "p.db");
    store::migrate(db);
    store::PrincipalStore principals(db);
    auto a = principals.create_team("a");
    auto b = principals.create_team("b");
    db.write([&](store::Tx& tx) {
        for (int i = 0; i < 7; ++i) store::record_audit(tx, a->id, "ada", "thing.change", "thing", std::to_string(i));
        store::record_audit(tx, b->id, "bob", "thing.change", "thing", "other-team");
    });
    auto first = store::list_audit(db, a->id, 3, std::nullopt);
    REQUIRE(first.size() == 3);
    CHECK(first[0].object_id == "6");
    CHECK(first[2].object_id == "4");
    auto second = store::list_audit(db, a->id, 3, first.back().id);
    REQUIRE(second.size() == 3);
    CHECK(second[0].object_id == "3");
    auto rest = store::list_audit(db, a->id, 10, second.back().id);
    CHECK(rest.size() == 1);
    for (const auto& e : rest) CHECK(e.actor == "ada");
}

TEST_CASE("the keyed hash behind the token cache is SipHash-2-4, checked against its published vectors", "[store]") {
    // Key 00 01 ... 0f; messages 00 01 ... (n-1), as in the SipHash paper's appendix and the
    // reference implementation's vectors.
    crypto::SipKey key{0x0706050403020100ULL, 0x0f0e0d0c0b0a0908ULL};
    std::string fifteen;
    for (int i = 0; i < 15; ++i) fifteen += static_cast<char>(i);
    CHECK(crypto::siphash24(key, "") == 0x726fdb47dd0e0e31ULL);
    CHECK(crypto::siphash24(key, fifteen) == 0xa129ca6149be45e5ULL);
    auto empty = crypto::siphash24_128(key, "");
    CHECK(empty.lo == 0xe6a825ba047f81a3ULL);
    CHECK(empty.hi == 0x930255c71472f66dULL);
    // Another key, another hash; one byte more, another hash.
    CHECK_FALSE(crypto::siphash24_128(crypto::SipKey{1, 2}, fifteen) == crypto::siphash24_128(key, fifteen));
    CHECK_FALSE(crypto::siphash24_128(key, fifteen + "x") == crypto::siphash24_128(key, fifteen));
}
