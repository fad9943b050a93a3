#include "secrets/vault.hpp"

#include "common/clock.hpp"
#include "common/log.hpp"
#include "store/audit.hpp"

#include <boost/json.hpp>

#include <openssl/crypto.h>

#include <algorithm>
#include <set>

namespace patchbay::secrets {

namespace fs = std::filesystem;
namespace json = boost::json;
using store::Tx;
using store::Value;

namespace {

constexpr std::string_view kCheckText = "patchbay key check v1";
std::string check_context(std::string_view key_id) { return "key-check:" + std::string(key_id); }

fs::file_time_type mtime(const fs::path& p) {
    std::error_code ec;
    auto t = fs::last_write_time(p, ec);
    return ec ? fs::file_time_type{} : t;
}

}  // namespace

Vault::Vault(store::Database& db, fs::path data_dir, Keyring ring)
    : db_(db), data_dir_(std::move(data_dir)), ring_(std::make_shared<const Keyring>(std::move(ring))), file_time_(mtime(data_dir_ / "master.key")) {}

Result<std::unique_ptr<Vault>> Vault::open(store::Database& db, const fs::path& data_dir) {
    auto ring = Keyring::load(data_dir);
    if (!ring) return ring.error();

    std::set<std::string> sealed_under, checked;
    std::vector<std::pair<std::string, Sealed>> checks;
    db.read([&](Tx& tx) {
        for (const auto& r : tx.query("SELECT DISTINCT key_id FROM connection_secrets")) sealed_under.insert(r.text(0));
        for (const auto& r : tx.query("SELECT DISTINCT key_id FROM delivery_targets")) sealed_under.insert(r.text(0));
        for (const auto& r : tx.query("SELECT key_id, sealed FROM key_checks")) {
            checked.insert(r.text(0));
            checks.emplace_back(r.text(0), r.blob(1));
        }
    });

    if (ring->empty()) {
        if (!sealed_under.empty() || !checked.empty()) {
            std::string ids;
            for (const auto& id : sealed_under.empty() ? checked : sealed_under) ids += (ids.empty() ? "" : ", ") + id;
            return Error(Errc::invalid_input, "no master key: neither " + std::string(kMasterKeyEnv) + " is set nor does '" +
                                                  (data_dir / "master.key").string() + "' exist, but the database holds data sealed under key(s) " +
                                                  ids + "; restore the key file from a backup or set " + kMasterKeyEnv);
        }
        auto id = ring->add_primary();  // first run: a fresh key in a 0600 file
        if (!id) return id.error();
        log::info("created a master key file", {{"file", (data_dir / "master.key").string()}, {"key_id", *id}});
    }

    for (const auto& id : sealed_under)
        if (!ring->find(id))
            return Error(Errc::invalid_input, "secrets in the database are sealed under key '" + id + "', which " + ring->source() +
                                                  " does not hold; add that key (as a non-first entry) or restore the key file");
    for (const auto& [id, sealed] : checks) {
        if (!ring->find(id)) continue;  // a key that sealed nothing any more
        auto opened = secrets::open(*ring, sealed, check_context(id));
        if (!opened || *opened != kCheckText)
            return Error(Errc::invalid_input, "the key '" + id + "' in " + ring->source() +
                                                  " is not the key that sealed this database's secrets; set the right key (nothing was changed)");
    }
    std::unique_ptr<Vault> v(new Vault(db, data_dir, std::move(*ring)));
    for (const auto& k : v->ring_->keys())
        if (!checked.count(k.id)) v->ensure_check(k);
    return v;
}

void Vault::ensure_check(const Key& key) {
    auto sealed = seal(key, kCheckText, check_context(key.id));
    db_.write([&](Tx& tx) {
        tx.exec("INSERT INTO key_checks (key_id, sealed, created_at) VALUES (?, ?, ?) ON CONFLICT (key_id) DO NOTHING",
                {key.id, store::Blob(sealed.begin(), sealed.end()), iso_now()});
    });
}

std::shared_ptr<const Keyring> Vault::current() {
    std::lock_guard lock(mu_);
    if (ring_->from_environment()) return ring_;
    auto t = mtime(data_dir_ / "master.key");
    if (t != file_time_) {
        auto fresh = Keyring::load(data_dir_);
        if (fresh && !fresh->empty()) {
            ring_ = std::make_shared<const Keyring>(std::move(*fresh));
            log::info("master keys re-read", {{"primary", ring_->primary().id}});
        } else if (!fresh) {
            log::error("the changed key file cannot be read; keeping the keys loaded before", {{"reason", fresh.error().message}});
        }
        file_time_ = t;
    }
    return ring_;
}

Sealed Vault::seal_secret(int64_t team_id, std::string_view connection_id, std::string_view field, std::string_view value) {
    auto ring = current();
    return seal(ring->primary(), value, secret_context(team_id, connection_id, field));
}

Result<std::string> Vault::open_secret(int64_t team_id, std::string_view connection_id, std::string_view field, const Sealed& sealed) {
    auto ring = current();
    return secrets::open(*ring, sealed, secret_context(team_id, connection_id, field));
}

std::string Vault::primary_id() { return current()->primary().id; }
std::string Vault::source() { return current()->source(); }

Result<RotationReport> Vault::rotate(std::string_view actor, size_t batch) {
    RotationReport report;
    auto ring = current();
    std::set<std::string> before;
    db_.read([&](Tx& tx) {
        for (const auto& r : tx.query("SELECT DISTINCT key_id FROM connection_secrets")) before.insert(r.text(0));
        for (const auto& r : tx.query("SELECT DISTINCT key_id FROM delivery_targets")) before.insert(r.text(0));
    });
    bool pending = std::any_of(before.begin(), before.end(), [&](const std::string& id) { return id != ring->primary().id; });
    if (!pending) {
        if (ring->from_environment())
            return Error(Errc::conflict, "every secret is already sealed under '" + ring->primary().id + "', the first key in " +
                                             kMasterKeyEnv + "; to rotate, put a new ID:BASE64 entry first there (keep the old one after it) and run this again");
        Keyring copy = *ring;
        auto id = copy.add_primary();
        if (!id) return id.error();
        report.new_key = true;
        {
            std::lock_guard lock(mu_);
            ring_ = std::make_shared<const Keyring>(std::move(copy));
            file_time_ = mtime(data_dir_ / "master.key");
        }
        ring = current();
    }
    const Key& primary = ring->primary();
    ensure_check(primary);
    db_.write([&](Tx& tx) {
        store::record_audit(tx, std::nullopt, actor, report.new_key ? "key.rotate.start" : "key.rotate.resume", "key", primary.id,
                            json::object{{"source", ring->source()}});
    });
    for (const auto& id : before)
        if (id != primary.id) report.previous.push_back(id);

    for (;;) {
        size_t done = 0;
        std::optional<Error> failure;
        db_.write([&](Tx& tx) {
            auto rows = tx.query(
                "SELECT s.connection_id, s.field, s.key_id, s.sealed, c.team_id FROM connection_secrets s "
                "JOIN connections c ON c.id = s.connection_id WHERE s.key_id <> ? LIMIT ?",
                {primary.id, static_cast<int64_t>(batch)});
            for (const auto& r : rows) {
                std::string conn = r.text(0), field = r.text(1), old_id = r.text(2);
                const auto& blob = r.blob(3);
                std::string ctx = secret_context(r.integer(4), conn, field);
                auto plain = secrets::open(*ring, Sealed(blob.begin(), blob.end()), ctx);
                if (!plain) {
                    failure = Error(Errc::internal, "cannot re-seal field '" + field + "' of connection " + conn + ": " + plain.error().message);
                    throw store::StoreError("rotation stopped");  // roll this batch back
                }
                auto resealed = seal(primary, *plain, ctx);
                OPENSSL_cleanse(plain->data(), plain->size());
                done += static_cast<size_t>(tx.exec("UPDATE connection_secrets SET key_id = ?, sealed = ? WHERE connection_id = ? AND field = ? AND key_id = ?",
                                                    {primary.id, store::Blob(resealed.begin(), resealed.end()), conn, field, old_id}));
            }
        });
        if (failure) return *failure;
        report.resealed += done;
        if (done == 0) break;
    }
    // Teams' push-delivery signing secrets (few: one per team, one transaction).
    std::optional<Error> failure;
    db_.write([&](Tx& tx) {
        for (const auto& r : tx.query("SELECT team_id, key_id, sealed FROM delivery_targets WHERE key_id <> ?", {primary.id})) {
            const auto& blob = r.blob(2);
            std::string ctx = secret_context(r.integer(0), kDeliveryTarget, "secret");
            auto plain = secrets::open(*ring, Sealed(blob.begin(), blob.end()), ctx);
            if (!plain) {
                failure = Error(Errc::internal, "cannot re-seal the push delivery secret of team " + std::to_string(r.integer(0)) + ": " + plain.error().message);
                throw store::StoreError("rotation stopped");
            }
            auto resealed = seal(primary, *plain, ctx);
            OPENSSL_cleanse(plain->data(), plain->size());
            report.resealed += static_cast<size_t>(tx.exec("UPDATE delivery_targets SET key_id = ?, sealed = ? WHERE team_id = ? AND key_id = ?",
                                                           {primary.id, store::Blob(resealed.begin(), resealed.end()), r.integer(0), r.text(1)}));
        }
    });
    if (failure) return *failure;
    report.primary = primary.id;
    json::array prev;
    for (const auto& p : report.previous) prev.push_back(json::string(p));
    db_.write([&](Tx& tx) {
        store::record_audit(tx, std::nullopt, actor, "key.rotate.finish", "key", primary.id,
                            json::object{{"resealed", report.resealed}, {"previous_keys", std::move(prev)}});
    });
    return report;
}

Result<std::vector<std::string>> Vault::prune(std::string_view actor) {
    auto ring = current();
    std::set<std::string> used;
    db_.read([&](Tx& tx) {
        for (const auto& r : tx.query("SELECT DISTINCT key_id FROM connection_secrets")) used.insert(r.text(0));
        for (const auto& r : tx.query("SELECT DISTINCT verifier_key_id FROM oauth_authorizations")) used.insert(r.text(0));
        for (const auto& r : tx.query("SELECT DISTINCT key_id FROM delivery_targets")) used.insert(r.text(0));
    });
    std::vector<std::string> unused;
    for (const auto& k : ring->keys())
        if (k.id != ring->primary().id && !used.count(k.id)) unused.push_back(k.id);
    if (unused.empty()) return unused;
    Keyring copy = *ring;
    if (auto err = copy.remove(unused)) return *err;
    {
        std::lock_guard lock(mu_);
        ring_ = std::make_shared<const Keyring>(std::move(copy));
        file_time_ = mtime(data_dir_ / "master.key");
    }
    db_.write([&](Tx& tx) {
        for (const auto& id : unused) {
            tx.exec("DELETE FROM key_checks WHERE key_id = ?", {id});
            store::record_audit(tx, std::nullopt, actor, "key.prune", "key", id);
        }
    });
    return unused;
}

}  // namespace patchbay::secrets
