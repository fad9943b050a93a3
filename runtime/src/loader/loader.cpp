#include "loader/loader.hpp"

#include "common/log.hpp"
#include "loader/host.hpp"

#include <boost/dll/library_info.hpp>
#include <boost/json.hpp>
#include <openssl/evp.h>

#include <fstream>
#include <regex>
#include <system_error>
#include <dlfcn.h>
#include <unistd.h>

namespace patchbay::loader {

namespace fs = std::filesystem;
namespace json = boost::json;

namespace {
std::string_view view(pb_str s) { return s.data ? std::string_view(s.data, s.size) : std::string_view(); }

// The size of a v1.0 descriptor: everything up to and including flags.
constexpr size_t kDescriptorV10Size = offsetof(pb_plugin_v1, flags) + sizeof(uint32_t);
}  // namespace

Result<std::string> sha256_file(const fs::path& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) return Error(Errc::integration_unavailable, "cannot read " + path.string());
    std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), &EVP_MD_CTX_free);
    if (!ctx || EVP_DigestInit_ex(ctx.get(), EVP_sha256(), nullptr) != 1)
        return Error(Errc::internal, "OpenSSL could not start a SHA-256 digest");
    std::vector<char> buf(1 << 16);
    while (in) {
        in.read(buf.data(), static_cast<std::streamsize>(buf.size()));
        if (in.gcount() > 0) EVP_DigestUpdate(ctx.get(), buf.data(), static_cast<size_t>(in.gcount()));
    }
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    EVP_DigestFinal_ex(ctx.get(), md, &len);
    static const char* hex = "0123456789abcdef";
    std::string out;
    for (unsigned i = 0; i < len; ++i) {
        out += hex[md[i] >> 4];
        out += hex[md[i] & 15];
    }
    return out;
}

Result<std::vector<std::string>> exported_symbols(const fs::path& path) {
    try {
        boost::dll::library_info info(path, /*throw_if_not_native=*/true);
        return info.symbols();
    } catch (const std::exception& e) {
        return Error(Errc::integration_unavailable,
                     "'" + path.filename().string() + "' is not a loadable shared library for this platform (" + e.what() + ")");
    }
}

Library::Library(boost::dll::shared_library lib, const pb_plugin_v1* desc, std::string sha256, fs::path source)
    : lib_(std::move(lib)), desc_(desc), sha256_(std::move(sha256)), source_(std::move(source)) {}

Library::~Library() = default;

std::string Library::plugin_name() const { return std::string(view(desc_->name)); }
std::string Library::plugin_version() const { return std::string(view(desc_->version)); }

bool Library::implements_action(std::string_view name) const {
    for (uint32_t i = 0; i < desc_->action_count; ++i)
        if (view(desc_->actions[i]) == name) return true;
    return false;
}

pb_trigger_request_fn Library::subscribe_hook() const {
    return desc_->struct_size >= offsetof(pb_plugin_v1, subscribe) + sizeof(pb_trigger_request_fn) ? desc_->subscribe : nullptr;
}

pb_trigger_request_fn Library::unsubscribe_hook() const {
    return desc_->struct_size >= offsetof(pb_plugin_v1, unsubscribe) + sizeof(pb_trigger_request_fn) ? desc_->unsubscribe : nullptr;
}

bool Library::implements_trigger(std::string_view name) const {
    for (uint32_t i = 0; i < desc_->trigger_count; ++i)
        if (view(desc_->triggers[i]) == name) return true;
    return false;
}

Instance::~Instance() {
    if (handle_ && library_->descriptor().destroy) library_->descriptor().destroy(handle_);
}

Result<std::shared_ptr<const Library>> Loader::load(const fs::path& path, const std::optional<std::string>& expected_sha256) {
    const std::string file = path.filename().string();
    std::error_code ec;
    if (!fs::is_regular_file(path, ec))
        return Error(Errc::integration_unavailable,
                     "library '" + file + "' not found (looked for " + path.string() + "); build the plugin or fix 'library'");

    auto sha = sha256_file(path);
    if (!sha) return sha.error();
    if (expected_sha256 && *expected_sha256 != sha.value())
        return Error(Errc::integration_unavailable,
                     "sha256 mismatch for '" + file + "': the manifest expects " + *expected_sha256 + " but the file is " +
                         sha.value() + "; rebuild the plugin or update 'sha256'");

    {
        std::lock_guard lock(mutex_);
        if (auto it = by_sha_.find(sha.value()); it != by_sha_.end())
            if (auto existing = it->second.lock()) return existing;
    }

    // Look at the exports before running any code of the library.
    auto symbols = exported_symbols(path);
    if (!symbols) return symbols.error();
    bool has_entry = false;
    std::optional<std::string> other_major;
    static const std::regex entry_re("^patchbay_plugin_entry_v([0-9]+)$");
    for (const auto& s : symbols.value()) {
        std::smatch m;
        if (s == PATCHBAY_ENTRY_SYMBOL_V1) has_entry = true;
        else if (std::regex_match(s, m, entry_re)) other_major = m[1].str();
    }
    if (!has_entry) {
        if (other_major)
            return Error(Errc::integration_unavailable,
                         "ABI version mismatch: '" + file + "' was built for plugin ABI v" + *other_major +
                             " but this runtime speaks v" + std::to_string(PATCHBAY_ABI_MAJOR) +
                             "; rebuild it against this runtime's plugin-api");
        return Error(Errc::integration_unavailable,
                     "'" + file + "' does not export the entry symbol " PATCHBAY_ENTRY_SYMBOL_V1
                     "; define it with PATCHBAY_PLUGIN(...) from the SDK and build with patchbay_add_plugin()");
    }
    if (symbols->size() > 1) {
        log::warn("plugin library exports more than its entry symbol; build it with patchbay_add_plugin() to hide the rest",
                  {{"library", file}, {"exported", symbols->size()}});
    }

    // Load a content-addressed copy, so that the file in the manifests folder can be replaced.
    fs::path load_path = path;
    if (!shadow_dir_.empty()) {
        fs::create_directories(shadow_dir_, ec);
        fs::path shadow = shadow_dir_ / (sha.value() + ".so");
        if (!fs::exists(shadow, ec)) {
            fs::path tmp = shadow_dir_ / (sha.value() + ".tmp." + std::to_string(::getpid()));
            fs::copy_file(path, tmp, fs::copy_options::overwrite_existing, ec);
            if (!ec) fs::rename(tmp, shadow, ec);
            if (ec) {
                fs::remove(tmp, ec);
                return Error(Errc::internal, "cannot copy '" + file + "' into the plugin cache " + shadow_dir_.string() + ": " + ec.message());
            }
        }
        load_path = shadow;
    }

    boost::dll::shared_library lib;
    boost::dll::fs::error_code dll_ec;
    lib.load(load_path, boost::dll::load_mode::rtld_now | boost::dll::load_mode::rtld_local, dll_ec);
    if (dll_ec) {
        const char* why = dlerror();
        return Error(Errc::integration_unavailable,
                     "cannot load '" + file + "': " + (why ? std::string(why) : dll_ec.message()));
    }
    auto entry = lib.get<const pb_plugin_v1*(const pb_host_v1*)>(PATCHBAY_ENTRY_SYMBOL_V1);
    const pb_plugin_v1* desc = entry(host::host_table());
    if (!desc)
        return Error(Errc::integration_unavailable,
                     "the entry point of '" + file + "' returned no plugin descriptor (the plugin refused this runtime; see its log)");
    if (desc->struct_size < offsetof(pb_plugin_v1, abi_minor) + sizeof(uint16_t) || desc->abi_major != PATCHBAY_ABI_MAJOR)
        return Error(Errc::integration_unavailable,
                     "ABI version mismatch: '" + file + "' describes itself as plugin ABI v" +
                         std::to_string(desc->abi_major) + " but this runtime speaks v" + std::to_string(PATCHBAY_ABI_MAJOR) +
                         "; rebuild it against this runtime's plugin-api");
    if (desc->abi_minor > PATCHBAY_ABI_MINOR)
        return Error(Errc::integration_unavailable,
                     "ABI version mismatch: '" + file + "' needs plugin ABI v1." + std::to_string(desc->abi_minor) +
                         " but this runtime offers v1." + std::to_string(PATCHBAY_ABI_MINOR) + "; upgrade Patchbay");
    if (desc->struct_size < kDescriptorV10Size)
        return Error(Errc::integration_unavailable,
                     "'" + file + "' has a truncated plugin descriptor (" + std::to_string(desc->struct_size) + " bytes)");
    if (!desc->create || !desc->destroy)
        return Error(Errc::integration_unavailable, "'" + file + "' has no create/destroy hooks in its descriptor");

    auto loaded = std::make_shared<const Library>(std::move(lib), desc, sha.value(), path);
    std::lock_guard lock(mutex_);
    by_sha_[loaded->sha256()] = loaded;
    return std::shared_ptr<const Library>(loaded);
}

Result<std::shared_ptr<Instance>> Loader::instantiate(std::shared_ptr<const Library> library, const manifest::Manifest& m) {
    std::vector<std::string> missing;
    bool configured = (library->descriptor().flags & PB_PLUGIN_CONFIGURED_ACTIONS) != 0;
    for (const auto& a : m.actions)
        if (!configured && !library->implements_action(a.name)) missing.push_back("action '" + a.name + "'");
    // Polls need the plugin. A webhook trigger it does not handle is the host's (each delivery's body
    // is one event), and schedules are the host's alone (one event per tick).
    for (const auto& t : m.triggers)
        if ((t.kind == "poll" || t.webhook_policy.plugin_verifies) && !library->implements_trigger(t.name))
            missing.push_back("trigger '" + t.name + "'");
    if (!missing.empty()) {
        std::string list;
        for (const auto& s : missing) list += (list.empty() ? "" : ", ") + s;
        return Error(Errc::integration_unavailable,
                     "the manifest declares " + list + " but the plugin '" + library->plugin_name() +
                         "' does not register it; register a handler with that name or remove it from the manifest");
    }
    if (m.organizations && !library->descriptor().list_organizations)
        return Error(Errc::integration_unavailable,
                     "the manifest says the integration lists organizations but the plugin has no list_organizations hook");

    pb_call call;
    call.integration = m.name;
    call.operation = "create";
    call.set_deadline(std::chrono::seconds(10));
    // The manifest's `organizations` mapping (which operation lists them, where id and name are)
    // reaches the plugin in its config, unless the config already says.
    std::string config;
    if (m.organizations_config.is_object() && m.config.is_object() && !m.config.as_object().contains("organizations")) {
        json::object merged = m.config.as_object();
        merged["organizations"] = m.organizations_config;
        config = json::serialize(merged);
    } else {
        config = json::serialize(m.config);
    }
    void* handle = library->descriptor().create(&call, pb_str{config.data(), config.size()});
    if (!handle) {
        std::string why = call.has_error ? call.error_message : "create returned no instance";
        return Error(Errc::integration_unavailable, "the plugin refused its configuration: " + why);
    }
    return std::make_shared<Instance>(std::move(library), handle);
}

}  // namespace patchbay::loader
