// The store's engine interface: transactions of parameterised SQL over a relational database.
//
// Callers above this layer (the principal, connection, secret and audit stores) speak only this
// interface and portable SQL: `?` placeholders (an engine that numbers them, as PostgreSQL does,
// rewrites them), INTEGER/TEXT/BLOB values, `INSERT ... ON CONFLICT`, `RETURNING`. Schema
// migrations are per engine (see migrations.hpp) because DDL is where engines differ.
//
// Engine failures (disk full, lost connection, constraint violations the caller did not expect)
// are thrown as StoreError inside a transaction, roll it back, and reach the API as
// STORE_UNAVAILABLE. A constraint a caller expects (a duplicate name) is checked with
// StoreError::constraint() and turned into a user-facing error.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace patchbay::store {

using Blob = std::vector<unsigned char>;
using Value = std::variant<std::monostate, int64_t, std::string, Blob>;

class StoreError : public std::runtime_error {
public:
    StoreError(std::string message, bool constraint = false) : std::runtime_error(std::move(message)), constraint_(constraint) {}
    // A UNIQUE, FOREIGN KEY or CHECK constraint refused the statement.
    bool constraint() const { return constraint_; }

private:
    bool constraint_;
};

struct Row {
    std::vector<Value> columns;

    bool is_null(size_t i) const { return std::holds_alternative<std::monostate>(columns.at(i)); }
    int64_t integer(size_t i) const;       // 0 when null
    std::string text(size_t i) const;      // "" when null
    const Blob& blob(size_t i) const;      // throws when not a blob
};

// One transaction. Statements run in order; the transaction commits when the function given to
// Database::write/read returns, and rolls back when it throws.
class Tx {
public:
    virtual ~Tx() = default;
    virtual std::vector<Row> query(std::string_view sql, const std::vector<Value>& params = {}) = 0;
    // Returns the number of rows changed.
    virtual int64_t exec(std::string_view sql, const std::vector<Value>& params = {}) = 0;
    // Several statements without parameters (migrations).
    virtual void exec_script(std::string_view sql) = 0;

    // Convenience: the first row, if any.
    std::optional<Row> query_one(std::string_view sql, const std::vector<Value>& params = {}) {
        auto rows = query(sql, params);
        if (rows.empty()) return std::nullopt;
        return std::move(rows.front());
    }
};

class Database {
public:
    virtual ~Database() = default;
    virtual std::string_view engine() const = 0;
    // A transaction that may write. Writers are serialised; a committed write is durable.
    virtual void write(const std::function<void(Tx&)>& fn) = 0;
    // A read-only transaction that sees one consistent snapshot.
    virtual void read(const std::function<void(Tx&)>& fn) = 0;
    // The schema version the database is at (0 for a new one).
    virtual int schema_version() = 0;
};

}  // namespace patchbay::store
