// JSON Schema validation of action input (and, for diagnostics, output).
//
// Covers the subset that matters for integration payloads: type (incl. integer and type arrays),
// enum, const, properties, required, additionalProperties, patternProperties, items (and tuple
// items), min/max/exclusive bounds (draft 4 boolean and draft 6+ numeric forms), multipleOf,
// min/maxLength, pattern, min/maxItems, uniqueItems, min/maxProperties, allOf/anyOf/oneOf/not,
// local $ref ("#/..."), OpenAPI's `nullable`, and the formats date-time, date, uri, email, uuid,
// ipv4. Unknown keywords are ignored, as the specification asks.
//
// A Schema is compiled once (its shape checked and its regular expressions built) and then
// validates any number of values from any number of threads.
#pragma once

#include "common/error.hpp"
#include "schema/simple_pattern.hpp"

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>

#include <map>
#include <memory>
#include <optional>
#include <regex>
#include <string>
#include <vector>

namespace patchbay::schema {

// A compiled `pattern`: std::regex, and the fast matcher when the expression is simple enough
// for it (most are: "^[a-z0-9-]+$", "^https?://"). Shared: one compilation serves every schema
// that uses the same expression.
struct CompiledPattern {
    std::regex regex;
    std::optional<SimplePattern> simple;
    bool anchored = false;  // begins with ^ (std::regex_search is then asked for a match at the start only)

    // Whether the expression matches somewhere in `text`, as std::regex_search decides it.
    bool found_in(std::string_view text) const;
};
using Pattern = std::shared_ptr<const CompiledPattern>;
using Patterns = std::map<std::string, Pattern, std::less<>>;

struct Violation {
    std::string pointer;  // JSON pointer of the offending value within the instance ("" = root)
    std::string message;
};

// Named schemas that many schemas share (a manifest's `schemas`, say one per component of an
// imported OpenAPI description). A schema compiled with them resolves "#/$defs/Name" here when it
// has no such definition of its own, so a thousand actions need not carry a copy each.
struct Definitions {
    boost::json::value doc;  // {"$defs": {...}}
    Patterns patterns;

    static Result<std::shared_ptr<Definitions>> compile(boost::json::object defs);
};

class Schema {
public:
    // Checks that `document` is a usable schema. Errors name the schema pointer of the problem.
    static Result<Schema> compile(boost::json::value document, std::shared_ptr<const Definitions> defs = nullptr);

    // Returns every violation found (at most `limit`), first the shallowest. Empty = valid.
    std::vector<Violation> validate(const boost::json::value& instance, size_t limit = 16) const;

    const boost::json::value& document() const { return *doc_; }

private:
    struct Shared {
        boost::json::value doc;
        Patterns patterns;
        std::shared_ptr<const Definitions> defs;
    };
    std::shared_ptr<const Shared> shared_;
    const boost::json::value* doc_ = nullptr;
};

// What Schema::compile would refuse in `document`, without keeping (or copying) it: nullopt when
// it compiles.
std::optional<Error> check_schema(const boost::json::value& document, const Definitions* defs = nullptr);

// The JSON pointer escape of one reference token ("~" -> "~0", "/" -> "~1").
std::string escape_pointer_token(std::string_view token);

// Format checkers, exposed for tests.
bool is_date_time(std::string_view s);
bool is_date(std::string_view s);
bool is_uri(std::string_view s);
bool is_email(std::string_view s);
bool is_uuid(std::string_view s);
bool is_ipv4(std::string_view s);

}  // namespace patchbay::schema
