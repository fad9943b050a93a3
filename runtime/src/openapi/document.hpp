// An OpenAPI (or Swagger 2.0) description as files: the spec and the files its `$ref`s name.
//
// Specs are untrusted input: files are read only from the spec's own folder (and below), never
// from outside it or over the network; sizes, nesting depth and YAML alias expansion are bounded,
// so a hostile spec gets an error, not a crash or a read of /etc/passwd.
#pragma once

#include "common/error.hpp"

#include <boost/json/monotonic_resource.hpp>
#include <boost/json/value.hpp>

#include <deque>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

namespace patchbay::openapi {

struct Limits {
    size_t max_file_bytes = 256u * 1024 * 1024;
    size_t max_depth = 512;              // nesting of objects and arrays
    size_t max_yaml_nodes = 50'000'000;  // after alias expansion
    size_t max_files = 1000;
};

// A place in the documents: which file, and the node there.
struct Located {
    size_t file = 0;
    const boost::json::value* node = nullptr;
    std::string key;  // canonical "relative/path.yaml#/json/pointer"
};

class Documents {
public:
    Documents(Documents&&) = default;
    Documents& operator=(Documents&&) = default;
    Documents(const Documents&) = delete;  // a description can be large: moved, never copied
    Documents& operator=(const Documents&) = delete;

    static Result<Documents> open(const std::filesystem::path& spec, Limits limits = {});
    // From text already in memory (the folder bounds relative $refs; none when empty).
    static Result<Documents> from_text(std::string_view text, const std::string& name, Limits limits = {});

    const boost::json::value& root() const { return files_.front().root; }
    const std::filesystem::path& spec_path() const { return files_.front().path; }

    // Resolves `ref` as written in file `from`: "#/a/b", "other.yaml", "other.yaml#/a". Files
    // are loaded on first use, only from inside the spec's folder.
    Result<Located> resolve(size_t from, std::string_view ref);
    // Follows a chain of $refs from `node` (in file `from`) to a node that is not one.
    Result<Located> deref(size_t from, const boost::json::value& node, std::string key);

private:
    Documents() = default;
    struct File {
        std::filesystem::path path;  // canonical
        std::string relative;        // to the folder
        boost::json::value root;
    };
    Result<size_t> load(const std::filesystem::path& path);

    Limits limits_;
    // A spec is read once and never changed: its nodes live in one arena, freed at once.
    boost::json::storage_ptr arena_ = boost::json::make_shared_resource<boost::json::monotonic_resource>();
    std::filesystem::path folder_;  // canonical; empty: no files beyond the first
    std::deque<File> files_;  // a deque: nodes handed out stay put as files are added
};

// Parses JSON or YAML text into JSON, within the limits. `what` names the text in errors.
// `storage` holds the parsed nodes (default: the heap).
Result<boost::json::value> parse_text(std::string_view text, const std::string& what, const Limits& limits,
                                      boost::json::storage_ptr storage = {});

// Reads a JSON pointer ("/paths/~1pets/get"); nullptr when it names nothing.
const boost::json::value* at_pointer(const boost::json::value& root, std::string_view pointer);

}  // namespace patchbay::openapi
