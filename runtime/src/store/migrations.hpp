// Versioned schema migrations, applied in order at start, each in its own transaction, and
// recorded in schema_migrations. A database written by a newer Patchbay is refused rather than
// guessed at. Every engine has its own DDL for each version; the versions are shared.
#pragma once

#include "store/database.hpp"

#include <string_view>
#include <vector>

namespace patchbay::store {

struct Migration {
    int version;
    std::string_view name;
    std::string_view sqlite;  // DDL for the SQLite engine
};

const std::vector<Migration>& migrations();
int latest_schema_version();

// Brings the database to `target` (default: the latest). Returns the versions applied. Throws
// StoreError when the database is newer than this build knows.
std::vector<int> migrate(Database& db, int target = -1);

}  // namespace patchbay::store
