// Sealing, the keyring and the vault: round trips, tampering, wrong and missing keys, rotation.
#include "common/crypto.hpp"
#include "secrets/keyring.hpp"
#include "secrets/sealer.hpp"
#include "secrets/vault.hpp"
#include "store/migrations.hpp"
#include "store/sqlite_database.hpp"
#include "test_support.hpp"

#include <catch2/catch.hpp>

#include <sys/stat.h>

using namespace patchbay;
using namespace testing;

namespace {

struct EnvGuard {
    EnvGuard() { ::unsetenv(secrets::kMasterKeyEnv); }
    ~EnvGuard() { ::unsetenv(secrets::kMasterKeyEnv); }
};

// One sealed secret in a connection row, as the control plane writes it.
void insert_secret(store::Database& db, secrets::Vault& vault, const std::string& conn, const std::string& field, const std::string& value) {
    db.write([&](store::Tx& tx) {
        if (!tx.query_one("SELECT 1 FROM teams WHERE id = 1")) {
            tx.exec("INSERT INTO teams (id, name, created_at) VALUES (1, 't', 'x')");
            tx.exec("INSERT INTO users (id, name, created_at) VALUES (1, 'u', 'x')");
            tx.exec("INSERT INTO installations (team_id, integration, installed_at) VALUES (1, 'i', 'x')");
        }
        tx.exec("INSERT INTO connections (id, team_id, integration, name, auth_type, created_by, owner_id, created_at, updated_at) "
                "VALUES (?, 1, 'i', ?, 'bearer', 1, 1, 'x', 'x') ON CONFLICT (id) DO NOTHING",
                {conn, conn});
        auto sealed = vault.seal_secret(1, conn, field, value);
        tx.exec("INSERT INTO connection_secrets (connection_id, field, key_id, sealed) VALUES (?, ?, ?, ?)",
                {conn, field, secrets::sealed_key_id(sealed), store::Blob(sealed.begin(), sealed.end())});
    });
}

std::string open_secret(store::Database& db, secrets::Vault& vault, const std::string& conn, const std::string& field) {
    store::Blob blob;
    db.read([&](store::Tx& tx) {
        blob = tx.query_one("SELECT sealed FROM connection_secrets WHERE connection_id = ? AND field = ?", {conn, field})->blob(0);
    });
    auto r = vault.open_secret(1, conn, field, secrets::Sealed(blob.begin(), blob.end()));
    return r ? *r : "<" + r.error().message + ">";
}

}  // namespace

TEST_CASE("sealed values open only in their place, under their key", "[secrets]") {
    EnvGuard env;
    TempDir dir;
    REQUIRE(std::getenv(secrets::kMasterKeyEnv) == nullptr);
    write_file(dir / "master.key", "k1:" + crypto::base64(std::string(32, 'a')) + "\nk0:" + crypto::base64(std::string(32, 'b')) + "\n");
    ::chmod((dir / "master.key").c_str(), 0600);
    auto ring = secrets::Keyring::load(dir.path());
    REQUIRE(ring);
    REQUIRE(ring->keys().size() == 2);
    CHECK(ring->primary().id == "k1");

    std::string ctx = secrets::secret_context(7, "c_1", "api_key");
    auto sealed = secrets::seal(ring->primary(), "s3cret-value", ctx);
    CHECK(secrets::sealed_key_id(sealed) == "k1");
    std::string as_text(sealed.begin(), sealed.end());
    CHECK(as_text.find("s3cret-value") == std::string::npos);
    CHECK(secrets::open(*ring, sealed, ctx).value() == "s3cret-value");
    CHECK(secrets::seal(ring->primary(), "s3cret-value", ctx) != sealed);  // random nonce

    // Moved to another team, connection or field: refused.
    CHECK_FALSE(secrets::open(*ring, sealed, secrets::secret_context(8, "c_1", "api_key")));
    CHECK_FALSE(secrets::open(*ring, sealed, secrets::secret_context(7, "c_2", "api_key")));
    CHECK_FALSE(secrets::open(*ring, sealed, secrets::secret_context(7, "c_1", "password")));
    // Any flipped bit: refused.
    for (size_t i = 0; i < sealed.size(); ++i) {
        auto bad = sealed;
        bad[i] ^= 0x01;
        auto r = secrets::open(*ring, bad, ctx);
        CHECK_FALSE(r);
        if (!r) CHECK(r.error().message.find("s3cret") == std::string::npos);
    }
    // Relabelled with the other key's id: refused (the header is authenticated).
    auto relabelled = sealed;
    relabelled[5] = '0';  // "k1" -> "k0"
    CHECK_FALSE(secrets::open(*ring, relabelled, ctx));
    // Truncated: refused without reading past the end.
    CHECK_FALSE(secrets::open(*ring, secrets::Sealed(sealed.begin(), sealed.begin() + 10), ctx));
    // A keyring without the key names the key.
    secrets::Keyring other;
    auto missing = secrets::open(other, sealed, ctx);
    REQUIRE_FALSE(missing);
    CHECK(missing.error().message.find("'k1'") != std::string::npos);
}

TEST_CASE("key sources: mode, format and environment errors say what to do", "[secrets]") {
    EnvGuard env;
    TempDir dir;
    CHECK(secrets::Keyring::load(dir.path())->empty());  // no file, no variable: empty

    write_file(dir / "master.key", "k1:" + crypto::base64(std::string(32, 'a')) + "\n");
    ::chmod((dir / "master.key").c_str(), 0644);
    auto loose = secrets::Keyring::load(dir.path());
    REQUIRE_FALSE(loose);
    CHECK(loose.error().message.find("chmod 600") != std::string::npos);

    ::chmod((dir / "master.key").c_str(), 0600);
    write_file(dir / "master.key", "k1:dG9vIHNob3J0\n");
    ::chmod((dir / "master.key").c_str(), 0600);
    auto short_key = secrets::Keyring::load(dir.path());
    REQUIRE_FALSE(short_key);
    CHECK(short_key.error().message.find("openssl rand -base64 32") != std::string::npos);

    ::setenv(secrets::kMasterKeyEnv, crypto::base64(std::string(32, 'z')).c_str(), 1);
    auto from_env = secrets::Keyring::load(dir.path());
    REQUIRE(from_env);
    CHECK(from_env->from_environment());
    CHECK(from_env->primary().id == "env");
    ::setenv(secrets::kMasterKeyEnv, "new:nope", 1);
    CHECK_FALSE(secrets::Keyring::load(dir.path()));
}

TEST_CASE("the vault creates a 0600 key on first run and refuses missing or wrong keys", "[secrets]") {
    EnvGuard env;
    TempDir dir;
    {
        store::SqliteDatabase db(dir / "p.db");
        store::migrate(db);
        auto vault = secrets::Vault::open(db, dir.path());
        REQUIRE(vault);
        struct stat st{};
        REQUIRE(::stat((dir / "master.key").c_str(), &st) == 0);
        CHECK((st.st_mode & 0777) == 0600);
        insert_secret(db, **vault, "c_a", "token", "canary-A");
        CHECK(open_secret(db, **vault, "c_a", "token") == "canary-A");
    }
    std::string good = read_file(dir / "master.key");

    // The key file is lost: a clear error, not a new key.
    fs::remove(dir / "master.key");
    {
        store::SqliteDatabase db(dir / "p.db");
        auto vault = secrets::Vault::open(db, dir.path());
        REQUIRE_FALSE(vault);
        CHECK(vault.error().message.find("restore the key file") != std::string::npos);
        CHECK_FALSE(fs::exists(dir / "master.key"));
    }
    // A different key under the same id: found by the check value at start.
    auto id = good.substr(good.find('\n') + 1);
    id = id.substr(0, id.find(':'));
    write_file(dir / "master.key", id + ":" + crypto::base64(std::string(32, 'w')) + "\n");
    ::chmod((dir / "master.key").c_str(), 0600);
    {
        store::SqliteDatabase db(dir / "p.db");
        auto vault = secrets::Vault::open(db, dir.path());
        REQUIRE_FALSE(vault);
        CHECK(vault.error().message.find("is not the key that sealed") != std::string::npos);
    }
    // A wrong key from the environment: refused too, and the message never holds key material.
    std::string wrong = crypto::base64(std::string(32, 'q'));
    ::setenv(secrets::kMasterKeyEnv, (id + ":" + wrong).c_str(), 1);
    {
        store::SqliteDatabase db(dir / "p.db");
        auto vault = secrets::Vault::open(db, dir.path());
        REQUIRE_FALSE(vault);
        CHECK(vault.error().message.find(wrong) == std::string::npos);
    }
}

TEST_CASE("rotation re-seals every secret under a new key and resumes after an interruption", "[secrets]") {
    EnvGuard env;
    TempDir dir;
    store::SqliteDatabase db(dir / "p.db");
    store::migrate(db);
    auto vault = secrets::Vault::open(db, dir.path());
    REQUIRE(vault);
    std::string first = (*vault)->primary_id();
    for (int i = 0; i < 25; ++i) insert_secret(db, **vault, "c_" + std::to_string(i), "token", "value-" + std::to_string(i));

    auto r = (*vault)->rotate("test", 7);
    REQUIRE(r);
    CHECK(r->new_key);
    CHECK(r->resealed == 25);
    CHECK(r->primary != first);
    CHECK(r->previous == std::vector<std::string>{first});
    db.read([&](store::Tx& tx) {
        CHECK(tx.query_one("SELECT count(*) FROM connection_secrets WHERE key_id <> ?", {r->primary})->integer(0) == 0);
    });
    for (int i = 0; i < 25; ++i) CHECK(open_secret(db, **vault, "c_" + std::to_string(i), "token") == "value-" + std::to_string(i));

    // An interrupted rotation: a new primary is in the key file, half the secrets re-sealed.
    {
        auto ring = secrets::Keyring::load(dir.path());
        REQUIRE(ring);
        auto next = ring->add_primary();
        REQUIRE(next);
        auto fresh = secrets::Vault::open(db, dir.path());  // a restarted process
        REQUIRE(fresh);
        db.write([&](store::Tx& tx) {
            auto rows = tx.query("SELECT connection_id, sealed FROM connection_secrets ORDER BY connection_id LIMIT 10");
            for (const auto& row : rows) {
                auto plain = (*fresh)->open_secret(1, row.text(0), "token", secrets::Sealed(row.blob(1).begin(), row.blob(1).end()));
                REQUIRE(plain);
                auto sealed = (*fresh)->seal_secret(1, row.text(0), "token", *plain);
                tx.exec("UPDATE connection_secrets SET key_id = ?, sealed = ? WHERE connection_id = ?",
                        {*next, store::Blob(sealed.begin(), sealed.end()), row.text(0)});
            }
        });
        auto resumed = (*fresh)->rotate("test");
        REQUIRE(resumed);
        CHECK_FALSE(resumed->new_key);  // it finished the interrupted one instead of starting another
        CHECK(resumed->primary == *next);
        CHECK(resumed->resealed == 15);
        for (int i = 0; i < 25; ++i) CHECK(open_secret(db, **fresh, "c_" + std::to_string(i), "token") == "value-" + std::to_string(i));
        auto pruned = (*fresh)->prune("test");
        REQUIRE(pruned);
        CHECK(pruned->size() == 2);
        CHECK(secrets::Keyring::load(dir.path())->keys().size() == 1);
    }
    // After pruning, a restart still opens everything.
    auto again = secrets::Vault::open(db, dir.path());
    REQUIRE(again);
    CHECK(open_secret(db, **again, "c_3", "token") == "value-3");
}
