// The catalog: every manifest in the manifests folder is an available integration.
//
// refresh() reads the folder (top level and one level of sub-folders, *.yaml / *.yml), parses each
// manifest that changed, loads its library and publishes a new immutable Entry. A watcher thread
// calls refresh() every poll interval, so added, changed and removed manifests (or replaced
// libraries) take effect without a restart. Entries are shared_ptrs: a call that started on one
// version keeps that version (and its library) alive until it finishes, whatever is published
// meanwhile. A broken manifest or library becomes an Entry with status error and never affects
// the others.
#pragma once

#include "loader/loader.hpp"
#include "manifest/manifest.hpp"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace patchbay::catalog {

struct Entry {
    enum class Status { ready, error };

    std::string name;  // the manifest's name, or the file's stem when the name could not be read
    std::filesystem::path manifest_path;
    Status status = Status::error;
    std::string error;  // first problem, "file:line:column: message" when it has a place
    std::vector<manifest::Diagnostic> diagnostics;
    std::shared_ptr<const manifest::Manifest> manifest;  // set whenever the manifest parsed
    std::shared_ptr<loader::Instance> instance;          // set when ready
    std::string library_sha256;
    std::chrono::system_clock::time_point loaded_at;

    bool ready() const { return status == Status::ready; }
};

class Catalog {
public:
    struct Options {
        std::filesystem::path manifests_dir;
        std::filesystem::path shadow_dir;  // where loaded libraries are copied; empty = load in place
        std::chrono::milliseconds poll_interval{500};
    };

    explicit Catalog(Options options);
    ~Catalog();
    Catalog(const Catalog&) = delete;
    Catalog& operator=(const Catalog&) = delete;

    // Scans the folder once and publishes what changed. Safe to call from any thread.
    void refresh();
    void start_watching();
    void stop_watching();

    std::shared_ptr<const Entry> find(std::string_view name) const;
    std::vector<std::shared_ptr<const Entry>> list() const;  // sorted by name, errors included
    uint64_t generation() const { return generation_.load(); }
    const Options& options() const { return options_; }

private:
    struct Stamp {
        uintmax_t size = 0;
        int64_t mtime_ns = 0;
        uintmax_t inode = 0;
        bool operator==(const Stamp&) const = default;
    };
    struct FileRecord {
        Stamp manifest_stamp;
        size_t content_hash = 0;
        Stamp library_stamp;
        std::shared_ptr<Entry> entry;  // what this file alone yields
        std::string base_sha;          // for `plugin:` manifests: the base library they were built on
        std::shared_ptr<Entry> resolved;
    };

    std::vector<std::filesystem::path> scan() const;
    std::shared_ptr<Entry> build_entry(const std::filesystem::path& file, std::string_view text);
    static Stamp stamp_of(const std::filesystem::path& p);

    Options options_;
    loader::Loader loader_;

    std::mutex refresh_mutex_;  // one refresh at a time
    std::map<std::filesystem::path, FileRecord> files_;

    mutable std::mutex publish_mutex_;
    std::map<std::string, std::shared_ptr<const Entry>, std::less<>> by_name_;
    std::vector<std::shared_ptr<const Entry>> all_;
    std::atomic<uint64_t> generation_{0};

    std::thread watcher_;
    std::mutex watch_mutex_;
    std::condition_variable watch_cv_;
    bool stopping_ = false;
};

}  // namespace patchbay::catalog
