// OpenAPI import: from a Swagger 2.0, OpenAPI 3.0 or 3.1 description to a Patchbay manifest that
// configures the generic `openapi` plugin.
//
// One action per operation, named from its operationId (or method and path), with an input
// schema gathering path, query, header and cookie parameters and the request body, and an output
// schema from the success response. Component schemas an action needs travel with it under
// `$defs`, so recursive schemas stay recursive instead of being expanded. Security schemes become
// the manifest's auth types, and server variables become connection settings. The plugin reads
// what it needs to build requests (method, path, each parameter's serialization, the body's media
// type, the operation's security) from the manifest's `config.operations`.
#pragma once

#include "common/error.hpp"
#include "openapi/document.hpp"

#include <boost/json/object.hpp>

#include <functional>
#include <string>
#include <vector>

namespace patchbay::openapi {

struct ImportOptions {
    std::string name;   // the integration's name
    std::string title;  // default: the spec's info.title
    std::string base_url;                       // replaces the spec's servers
    std::string spec_reference;                 // how config.spec names the spec (informational)
    std::vector<std::string> include_tags, exclude_tags;
    std::vector<std::string> include_paths, exclude_paths;  // prefixes; a trailing * is allowed
    std::vector<std::string> include_operations, exclude_operations;  // operationIds or action names
    std::function<void(size_t done, size_t total)> progress;
};

struct Skipped {
    std::string operation;  // "GET /pets/{id}" or the operationId
    std::string reason;
};

struct ImportResult {
    boost::json::object manifest;
    std::string spec_version;  // "2.0", "3.0.3", "3.1.0" ...
    size_t operations = 0;     // seen, after filters
    size_t imported = 0;
    std::vector<Skipped> skipped;
    std::vector<std::string> auth_types;
    std::vector<std::string> warnings;  // schemes or features left out, schemas relaxed

    boost::json::object report() const;  // the import report as JSON
};

// Consumes the documents: their memory is freed as soon as the import has read what it needs.
Result<ImportResult> import_spec(Documents docs, const ImportOptions& options);

// Writes the manifest as FOLDER/NAME.yaml, beside and renamed into place so a watching server
// never reads half of it. Refuses to replace an existing file unless `replace`.
Status write_manifest(const std::filesystem::path& folder, const ImportResult& result, const std::string& spec_label, bool replace);

// Block-style YAML for a JSON value (what import writes as the manifest).
std::string to_yaml(const boost::json::value& value);

// A valid, readable action name from an operationId or "METHOD /path".
std::string action_name(std::string_view text);

}  // namespace patchbay::openapi
