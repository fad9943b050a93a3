// The vault: the keyring as the store knows it. It checks at start that the keys can open what the
// database holds, seals and opens connection secrets, and re-seals everything under a new key.
//
// Every key has a check value in the store (a known text sealed under it), so a wrong key is
// found at start with a clear message, never at the first secret a workflow needs. The keyring is
// re-read when its file changes, so a rotation run from the CLI reaches a running server: it opens
// values under the new key, and seals under it once the file says it is the primary.
#pragma once

#include "common/error.hpp"
#include "secrets/keyring.hpp"
#include "secrets/sealer.hpp"
#include "store/database.hpp"

#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>

namespace patchbay::secrets {

struct RotationReport {
    std::string primary;                // the key everything is sealed under now
    bool new_key = false;               // false when an interrupted rotation was resumed
    size_t resealed = 0;
    std::vector<std::string> previous;  // keys that sealed something before; kept until pruned
};

// The "connection" a team's push-delivery signing secret is sealed under (with field "secret").
inline constexpr const char* kDeliveryTarget = "delivery-target";

class Vault {
public:
    // Loads the keyring and checks it against the database. On the first run (no key anywhere,
    // nothing sealed) it creates DATA/master.key with mode 0600. Any mismatch is an error that
    // names the key and what to do; there is no plaintext fallback.
    static Result<std::unique_ptr<Vault>> open(store::Database& db, const std::filesystem::path& data_dir);

    Sealed seal_secret(int64_t team_id, std::string_view connection_id, std::string_view field, std::string_view value);
    Result<std::string> open_secret(int64_t team_id, std::string_view connection_id, std::string_view field, const Sealed& sealed);

    std::string primary_id();
    std::string source();

    // Re-seals every connection secret under a new primary key (key file) or under the current
    // primary (keys from the environment). Works in batches, each its own transaction, so a
    // rotation stopped at any point (kill -9 included) resumes where it stopped when run again.
    Result<RotationReport> rotate(std::string_view actor, size_t batch = 200);
    // Removes from the key file the non-primary keys that no secret is sealed under any more.
    Result<std::vector<std::string>> prune(std::string_view actor);

private:
    Vault(store::Database& db, std::filesystem::path data_dir, Keyring ring);
    std::shared_ptr<const Keyring> current();  // re-reads the key file when it changed
    void ensure_check(const Key& key);

    store::Database& db_;
    std::filesystem::path data_dir_;
    std::mutex mu_;
    std::shared_ptr<const Keyring> ring_;
    std::filesystem::file_time_type file_time_{};
};

}  // namespace patchbay::secrets
