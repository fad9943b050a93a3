// Manifest v1: what an integration is, read from YAML without running any plugin code.
//
// parse_manifest() checks everything it can from the text alone and reports every problem it
// finds, each with the file, line and column and a hint on what to write instead. The library
// itself (existence, sha256, entry symbol, ABI) is checked by the loader.
#pragma once

#include "loader/host.hpp"
#include "schema/json_schema.hpp"
#include "triggers/cron.hpp"
#include "triggers/webhook_policy.hpp"

#include <boost/json/value.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace patchbay::manifest {

inline constexpr std::string_view kApiVersion = "patchbay/v1";

struct Diagnostic {
    std::string file;
    int line = 0;    // 1-based; 0 when the problem is not tied to a place in the file
    int column = 0;  // 1-based
    std::string message;

    std::string to_string() const;  // "file:line:column: message"
};

struct AuthField {
    std::string name;
    std::string title;
    std::string description;
    bool secret = false;
    bool required = true;
    boost::json::value default_value;
};

struct AuthType {
    std::string type;  // none, api_key, basic, bearer, oauth2_client_credentials, oauth2_authorization_code, custom
    std::string name;  // id used by connections; defaults to `type`
    std::string title;
    std::string in;         // api_key: header, query or cookie
    std::string parameter;  // api_key: the header, query or cookie name
    std::string prefix;     // api_key: value prefix, e.g. "Token "
    std::string authorization_url, token_url;  // oauth2
    std::vector<std::string> scopes;           // oauth2
    std::string client_auth = "basic";         // oauth2: client credentials in Basic auth, or "post" in the form
    std::vector<AuthField> fields;
};

// A count of calls that can sit in a copyable struct: a copy starts again at zero.
struct CallCount {
    CallCount() = default;
    CallCount(const CallCount&) {}
    CallCount& operator=(const CallCount&) { return *this; }
    uint64_t next() const { return n_.fetch_add(1, std::memory_order_relaxed); }

private:
    mutable std::atomic<uint64_t> n_{0};
};

struct Action {
    std::string name;
    std::string title;
    std::string description;
    schema::Schema input;
    std::optional<schema::Schema> output;
    std::chrono::milliseconds timeout{30'000};
    bool idempotent = false;
    CallCount calls;  // calls of this action in this loaded version (for sampled output checks)
};

struct Trigger {
    std::string name;
    std::string title;
    std::string description;
    std::string kind;  // webhook, poll or schedule
    std::optional<schema::Schema> event;
    std::chrono::milliseconds interval{0};  // poll and interval schedules
    std::string cron;                        // cron schedules
    std::string timezone;                    // the cron's IANA time zone; "" = UTC
    boost::json::value webhook;              // verification and delivery-id settings, as written
    triggers::WebhookPolicy webhook_policy;  // the same, checked
};

struct Manifest {
    std::filesystem::path file;  // absolute path of the manifest
    std::string api_version;
    std::string name;
    std::string version;
    std::string title;
    std::string description;
    std::optional<std::filesystem::path> library;  // absolute, resolved against the manifest's folder
    std::optional<std::string> plugin;              // name of the manifest whose library this one configures
    std::optional<std::string> sha256;              // lower-case hex
    boost::json::value config = boost::json::object{};  // handed to the plugin's create hook
    bool raw_secrets = false;
    std::vector<AuthType> auth;
    std::vector<Action> actions;
    std::vector<Trigger> triggers;
    bool organizations = false;
    boost::json::value organizations_config;  // the `organizations` mapping as written, for plugins
    std::vector<host::RateRule> rate_rules;   // `rateLimits`: budgets the host applies before sending
    // `schemas`: named schemas the actions' input and output refer to ("$ref": "#/$defs/Name").
    std::shared_ptr<const schema::Definitions> schemas;

    const Action* find_action(std::string_view n) const;
    const AuthType* find_auth(std::string_view name) const;  // by the name connections use
    const Trigger* find_trigger(std::string_view n) const;
};

struct ParseResult {
    std::optional<Manifest> manifest;  // set only when there are no diagnostics
    std::vector<Diagnostic> diagnostics;
    std::string name_hint;  // the `name` field if it could be read, else empty
};

ParseResult parse_manifest_text(std::string_view text, const std::filesystem::path& file);
ParseResult parse_manifest_file(const std::filesystem::path& file);

// "30s", "1500ms", "2m", "1h" or a plain number of seconds.
std::optional<std::chrono::milliseconds> parse_duration(std::string_view text);

// The manifest as the API shows it (schemas included, secrets never present in a manifest).
boost::json::object describe(const Manifest& m);

}  // namespace patchbay::manifest
