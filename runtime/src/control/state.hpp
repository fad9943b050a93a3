// Opening the persistent state of a data directory: the database (created and migrated), the
// vault (keys checked), the principal store; and the first-start bootstrap. Shared by `serve` and
// the offline `admin` and `keys` commands so that both see the same rules.
#pragma once

#include "common/error.hpp"
#include "secrets/vault.hpp"
#include "store/principals.hpp"
#include "store/sqlite_database.hpp"

#include <filesystem>
#include <memory>

namespace patchbay::control {

struct State {
    std::unique_ptr<store::SqliteDatabase> db;
    std::unique_ptr<secrets::Vault> vault;
    std::unique_ptr<store::PrincipalStore> principals;
};

// Errors name the file and say what to do (a newer schema, a wrong or missing master key, ...).
Result<State> open_state(const std::filesystem::path& data_dir);

struct Bootstrap {
    bool created = false;
    std::string team;
    std::string user;
    std::filesystem::path token_file;  // DATA/bootstrap-token, mode 0600
};

// On a store without teams: creates team "default", its admin "admin" and a token for it, which is
// written to DATA/bootstrap-token (mode 0600) rather than printed, so it never lands in logs.
Result<Bootstrap> bootstrap_if_empty(State& state, const std::filesystem::path& data_dir);

}  // namespace patchbay::control
