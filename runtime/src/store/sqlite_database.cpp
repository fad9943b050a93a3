#include "store/sqlite_database.hpp"

#include <sqlite3.h>

#include <mutex>
#include <unordered_map>

namespace patchbay::store {

int64_t Row::integer(size_t i) const {
    const auto& v = columns.at(i);
    if (const auto* n = std::get_if<int64_t>(&v)) return *n;
    if (const auto* s = std::get_if<std::string>(&v)) return s->empty() ? 0 : std::stoll(*s);
    return 0;
}

std::string Row::text(size_t i) const {
    const auto& v = columns.at(i);
    if (const auto* s = std::get_if<std::string>(&v)) return *s;
    if (const auto* n = std::get_if<int64_t>(&v)) return std::to_string(*n);
    if (const auto* b = std::get_if<Blob>(&v)) return std::string(b->begin(), b->end());
    return {};
}

const Blob& Row::blob(size_t i) const {
    const auto* b = std::get_if<Blob>(&columns.at(i));
    if (!b) throw StoreError("column " + std::to_string(i) + " is not a blob");
    return *b;
}

namespace {

bool is_constraint(int rc) { return (rc & 0xff) == SQLITE_CONSTRAINT; }

}  // namespace

struct SqliteDatabase::Impl : Tx {
    sqlite3* db = nullptr;
    std::mutex mu;
    std::unordered_map<std::string, sqlite3_stmt*> statements;

    [[noreturn]] void fail(int rc, std::string_view what) {
        std::string msg = std::string(what) + ": " + sqlite3_errmsg(db);
        throw StoreError(msg, is_constraint(rc));
    }

    sqlite3_stmt* prepare(std::string_view sql) {
        std::string key(sql);
        if (auto it = statements.find(key); it != statements.end()) return it->second;
        sqlite3_stmt* stmt = nullptr;
        int rc = sqlite3_prepare_v3(db, key.c_str(), static_cast<int>(key.size()), SQLITE_PREPARE_PERSISTENT, &stmt, nullptr);
        if (rc != SQLITE_OK) fail(rc, "preparing a statement");
        statements.emplace(std::move(key), stmt);
        return stmt;
    }

    void bind(sqlite3_stmt* stmt, const std::vector<Value>& params) {
        if (static_cast<int>(params.size()) != sqlite3_bind_parameter_count(stmt))
            throw StoreError("statement wants " + std::to_string(sqlite3_bind_parameter_count(stmt)) + " parameters, got " +
                             std::to_string(params.size()));
        for (size_t i = 0; i < params.size(); ++i) {
            int idx = static_cast<int>(i) + 1;
            int rc = std::visit(
                [&](const auto& v) -> int {
                    using T = std::decay_t<decltype(v)>;
                    if constexpr (std::is_same_v<T, std::monostate>) return sqlite3_bind_null(stmt, idx);
                    else if constexpr (std::is_same_v<T, int64_t>) return sqlite3_bind_int64(stmt, idx, v);
                    else if constexpr (std::is_same_v<T, std::string>)
                        return sqlite3_bind_text64(stmt, idx, v.data(), v.size(), SQLITE_TRANSIENT, SQLITE_UTF8);
                    else return sqlite3_bind_blob64(stmt, idx, v.data(), v.size(), SQLITE_TRANSIENT);
                },
                params[i]);
            if (rc != SQLITE_OK) fail(rc, "binding a parameter");
        }
    }

    std::vector<Row> run(std::string_view sql, const std::vector<Value>& params, int64_t* changes) {
        sqlite3_stmt* stmt = prepare(sql);
        struct Reset {
            sqlite3_stmt* s;
            ~Reset() {
                sqlite3_reset(s);
                sqlite3_clear_bindings(s);
            }
        } reset{stmt};
        bind(stmt, params);
        std::vector<Row> rows;
        for (;;) {
            int rc = sqlite3_step(stmt);
            if (rc == SQLITE_DONE) break;
            if (rc != SQLITE_ROW) fail(rc, "running a statement");
            Row row;
            int n = sqlite3_column_count(stmt);
            row.columns.reserve(static_cast<size_t>(n));
            for (int c = 0; c < n; ++c) {
                switch (sqlite3_column_type(stmt, c)) {
                    case SQLITE_INTEGER: row.columns.emplace_back(static_cast<int64_t>(sqlite3_column_int64(stmt, c))); break;
                    case SQLITE_FLOAT: row.columns.emplace_back(static_cast<int64_t>(sqlite3_column_double(stmt, c))); break;
                    case SQLITE_TEXT: {
                        auto* p = reinterpret_cast<const char*>(sqlite3_column_text(stmt, c));
                        row.columns.emplace_back(std::string(p, static_cast<size_t>(sqlite3_column_bytes(stmt, c))));
                        break;
                    }
                    case SQLITE_BLOB: {
                        auto* p = static_cast<const unsigned char*>(sqlite3_column_blob(stmt, c));
                        row.columns.emplace_back(Blob(p, p + sqlite3_column_bytes(stmt, c)));
                        break;
                    }
                    default: row.columns.emplace_back(std::monostate{});
                }
            }
            rows.push_back(std::move(row));
        }
        if (changes) *changes = sqlite3_changes64(db);
        return rows;
    }

    std::vector<Row> query(std::string_view sql, const std::vector<Value>& params) override { return run(sql, params, nullptr); }
    int64_t exec(std::string_view sql, const std::vector<Value>& params) override {
        int64_t changes = 0;
        run(sql, params, &changes);
        return changes;
    }
    void exec_script(std::string_view sql) override {
        std::string text(sql);
        char* err = nullptr;
        int rc = sqlite3_exec(db, text.c_str(), nullptr, nullptr, &err);
        if (rc != SQLITE_OK) {
            std::string msg = err ? err : sqlite3_errstr(rc);
            sqlite3_free(err);
            throw StoreError("running a script: " + msg, is_constraint(rc));
        }
    }

    void plain(const char* sql) {
        char* err = nullptr;
        int rc = sqlite3_exec(db, sql, nullptr, nullptr, &err);
        if (rc != SQLITE_OK) {
            std::string msg = err ? err : sqlite3_errstr(rc);
            sqlite3_free(err);
            throw StoreError(std::string(sql) + ": " + msg, is_constraint(rc));
        }
    }

    void transaction(const char* begin, const std::function<void(Tx&)>& fn) {
        std::lock_guard lock(mu);
        plain(begin);
        try {
            fn(*this);
            plain("COMMIT");
        } catch (...) {
            sqlite3_exec(db, "ROLLBACK", nullptr, nullptr, nullptr);
            throw;
        }
    }
};

SqliteDatabase::SqliteDatabase(const std::filesystem::path& file) : impl_(std::make_unique<Impl>()), file_(file) {
    int rc = sqlite3_open_v2(file.c_str(), &impl_->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
    if (rc != SQLITE_OK) {
        std::string msg = impl_->db ? sqlite3_errmsg(impl_->db) : sqlite3_errstr(rc);
        sqlite3_close(impl_->db);
        impl_->db = nullptr;
        throw StoreError("cannot open the database '" + file.string() + "': " + msg);
    }
    sqlite3_extended_result_codes(impl_->db, 1);
    sqlite3_busy_timeout(impl_->db, 10'000);
    try {
        // WAL lets readers (the CLI, a second process) work while the server writes; FULL makes a
        // commit durable once it returns, which the crash test relies on.
        impl_->plain("PRAGMA journal_mode=WAL");
        impl_->plain("PRAGMA synchronous=FULL");
        impl_->plain("PRAGMA foreign_keys=ON");
        impl_->plain("PRAGMA trusted_schema=OFF");
        impl_->query("SELECT count(*) FROM sqlite_master", {});  // fails here, not later, on a file that is not a database
    } catch (const StoreError& e) {
        for (auto& [_, s] : impl_->statements) sqlite3_finalize(s);
        impl_->statements.clear();
        sqlite3_close(impl_->db);
        impl_->db = nullptr;
        throw StoreError("cannot use the database '" + file.string() + "': " + e.what());
    }
}

SqliteDatabase::~SqliteDatabase() {
    if (!impl_ || !impl_->db) return;
    for (auto& [_, s] : impl_->statements) sqlite3_finalize(s);
    sqlite3_close(impl_->db);
}

void SqliteDatabase::write(const std::function<void(Tx&)>& fn) { impl_->transaction("BEGIN IMMEDIATE", fn); }
void SqliteDatabase::read(const std::function<void(Tx&)>& fn) { impl_->transaction("BEGIN", fn); }

int SqliteDatabase::schema_version() {
    int version = 0;
    read([&](Tx& tx) {
        if (tx.query("SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'").empty()) return;
        auto row = tx.query_one("SELECT coalesce(max(version), 0) FROM schema_migrations");
        if (row) version = static_cast<int>(row->integer(0));
    });
    return version;
}

}  // namespace patchbay::store
