// The embedded engine: one SQLite file in the data directory, in WAL mode with full fsync on
// commit, foreign keys enforced, and a busy timeout so that the CLI and a running server can share
// the file. Statements are prepared once per connection and cached.
#pragma once

#include "store/database.hpp"

#include <filesystem>
#include <memory>

namespace patchbay::store {

class SqliteDatabase final : public Database {
public:
    // Opens (creating if needed) the database file. Throws StoreError with a message that names the
    // file and the reason when it cannot.
    explicit SqliteDatabase(const std::filesystem::path& file);
    ~SqliteDatabase() override;

    std::string_view engine() const override { return "sqlite"; }
    void write(const std::function<void(Tx&)>& fn) override;
    void read(const std::function<void(Tx&)>& fn) override;
    int schema_version() override;

    const std::filesystem::path& file() const { return file_; }

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
    std::filesystem::path file_;
};

}  // namespace patchbay::store
