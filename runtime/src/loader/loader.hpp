// Loads plugin libraries with Boost.DLL and turns them into configured instances.
//
// A library is first inspected without running any of its code (exported symbols are read from
// the ELF file), then copied into a content-addressed shadow folder and loaded from there with
// RTLD_NOW | RTLD_LOCAL. The shadow copy means an admin can overwrite the library in the manifests
// folder while calls are still running in the old one: each version is its own file, and stays
// mapped for as long as anything made from it is alive.
#pragma once

#include "common/error.hpp"
#include "manifest/manifest.hpp"

#include <patchbay/abi.h>

#include <boost/dll/shared_library.hpp>

#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace patchbay::loader {

// SHA-256 of a file as lower-case hex.
Result<std::string> sha256_file(const std::filesystem::path& path);

// Names of the symbols a shared library exports, read from the file without loading it.
Result<std::vector<std::string>> exported_symbols(const std::filesystem::path& path);

class Library {
public:
    Library(boost::dll::shared_library lib, const pb_plugin_v1* desc, std::string sha256, std::filesystem::path source);
    ~Library();
    Library(const Library&) = delete;
    Library& operator=(const Library&) = delete;

    const pb_plugin_v1& descriptor() const { return *desc_; }
    // (ABI 1.2) The webhook registration hooks; null for older plugins and those without them.
    pb_trigger_request_fn subscribe_hook() const;
    pb_trigger_request_fn unsubscribe_hook() const;
    const std::string& sha256() const { return sha256_; }
    const std::filesystem::path& source() const { return source_; }
    std::string plugin_name() const;
    std::string plugin_version() const;
    bool implements_action(std::string_view name) const;
    bool implements_trigger(std::string_view name) const;
    // The plugin promised its hooks wait only through host services (PB_PLUGIN_COOPERATIVE).
    bool cooperative() const { return (desc_->flags & PB_PLUGIN_COOPERATIVE) != 0; }

private:
    boost::dll::shared_library lib_;
    const pb_plugin_v1* desc_;
    std::string sha256_;
    std::filesystem::path source_;
};

// One configured instance of a plugin for one manifest. Destroying it calls the plugin's destroy
// hook; the library stays loaded while any instance (or call) still holds it.
class Instance {
public:
    Instance(std::shared_ptr<const Library> library, void* handle) : library_(std::move(library)), handle_(handle) {}
    ~Instance();
    Instance(const Instance&) = delete;
    Instance& operator=(const Instance&) = delete;

    const Library& library() const { return *library_; }
    const pb_plugin_v1& descriptor() const { return library_->descriptor(); }
    void* handle() const { return handle_; }

private:
    std::shared_ptr<const Library> library_;
    void* handle_;
};

class Loader {
public:
    // `shadow_dir` receives the content-addressed copies; empty means load in place (used by
    // `manifest validate`, which loads once and exits).
    explicit Loader(std::filesystem::path shadow_dir) : shadow_dir_(std::move(shadow_dir)) {}

    // Loads (or reuses) the library at `path`, checking `expected_sha256` when given.
    Result<std::shared_ptr<const Library>> load(const std::filesystem::path& path,
                                                const std::optional<std::string>& expected_sha256);

    // Checks that the plugin implements what the manifest declares, then creates an instance
    // with the manifest's config.
    static Result<std::shared_ptr<Instance>> instantiate(std::shared_ptr<const Library> library,
                                                         const manifest::Manifest& manifest);

private:
    std::filesystem::path shadow_dir_;
    std::mutex mutex_;
    std::map<std::string, std::weak_ptr<const Library>> by_sha_;
};

}  // namespace patchbay::loader
