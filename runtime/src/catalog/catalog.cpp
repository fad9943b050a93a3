#include "catalog/catalog.hpp"

#include "common/log.hpp"

#include <boost/json.hpp>

#include <algorithm>
#include <fstream>
#include <functional>
#include <sstream>
#include <sys/stat.h>

namespace patchbay::catalog {

namespace fs = std::filesystem;

namespace {

bool is_manifest_name(const fs::path& p) {
    auto ext = p.extension().string();
    if (ext != ".yaml" && ext != ".yml") return false;
    auto name = p.filename().string();
    return !name.empty() && name[0] != '.';  // editors' swap and temp files start with a dot
}

std::shared_ptr<Entry> error_entry(std::string name, const fs::path& file, std::string error) {
    auto e = std::make_shared<Entry>();
    e->name = std::move(name);
    e->manifest_path = file;
    e->status = Entry::Status::error;
    e->error = std::move(error);
    e->loaded_at = std::chrono::system_clock::now();
    return e;
}

}  // namespace

Catalog::Catalog(Options options) : options_(std::move(options)), loader_(options_.shadow_dir) {}

Catalog::~Catalog() { stop_watching(); }

Catalog::Stamp Catalog::stamp_of(const fs::path& p) {
    struct stat st {};
    if (::stat(p.c_str(), &st) != 0) return {};
    return {static_cast<uintmax_t>(st.st_size), static_cast<int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec,
            static_cast<uintmax_t>(st.st_ino)};
}

std::vector<fs::path> Catalog::scan() const {
    std::vector<fs::path> out;
    std::error_code ec;
    if (!fs::is_directory(options_.manifests_dir, ec)) return out;
    for (const auto& d : fs::directory_iterator(options_.manifests_dir, ec)) {
        std::error_code ec2;
        if (d.is_regular_file(ec2) && is_manifest_name(d.path())) {
            out.push_back(d.path());
        } else if (d.is_directory(ec2) && d.path().filename().string()[0] != '.') {
            for (const auto& sub : fs::directory_iterator(d.path(), ec2)) {
                std::error_code ec3;
                if (sub.is_regular_file(ec3) && is_manifest_name(sub.path())) out.push_back(sub.path());
            }
        }
    }
    std::sort(out.begin(), out.end());
    return out;
}

std::shared_ptr<Entry> Catalog::build_entry(const fs::path& file, std::string_view text) {
    auto parsed = manifest::parse_manifest_text(text, file);
    std::string name = parsed.name_hint.empty() ? file.stem().string() : parsed.name_hint;
    if (name == "manifest" && parsed.name_hint.empty()) name = file.parent_path().filename().string();
    if (!parsed.manifest) {
        auto e = error_entry(name, file, parsed.diagnostics.front().to_string());
        e->diagnostics = std::move(parsed.diagnostics);
        return e;
    }
    auto m = std::make_shared<const manifest::Manifest>(std::move(*parsed.manifest));
    auto e = std::make_shared<Entry>();
    e->name = m->name;
    e->manifest_path = file;
    e->manifest = m;
    e->loaded_at = std::chrono::system_clock::now();
    if (!m->library) {  // configures another plugin: resolved once all files are read
        e->status = Entry::Status::error;
        e->error = "waiting for plugin '" + *m->plugin + "'";
        return e;
    }
    auto lib = loader_.load(*m->library, m->sha256);
    if (!lib) {
        e->error = file.string() + ": " + lib.error().message;
        return e;
    }
    e->library_sha256 = lib.value()->sha256();
    auto inst = loader::Loader::instantiate(lib.value(), *m);
    if (!inst) {
        e->error = file.string() + ": " + inst.error().message;
        return e;
    }
    e->instance = std::move(inst).value();
    e->status = Entry::Status::ready;
    return e;
}

void Catalog::refresh() {
    std::lock_guard refresh_lock(refresh_mutex_);
    bool changed = false;
    auto files = scan();
    auto now_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch()).count();

    for (auto it = files_.begin(); it != files_.end();) {
        if (!std::binary_search(files.begin(), files.end(), it->first)) {
            log::info("integration removed", {{"file", it->first.string()},
                                               {"integration", it->second.entry ? it->second.entry->name : ""}});
            it = files_.erase(it);
            changed = true;
        } else {
            ++it;
        }
    }

    for (const auto& file : files) {
        auto& rec = files_[file];
        Stamp ms = stamp_of(file);
        Stamp ls;
        if (rec.entry && rec.entry->manifest && rec.entry->manifest->library) ls = stamp_of(*rec.entry->manifest->library);
        if (rec.entry && ms == rec.manifest_stamp && ls == rec.library_stamp) continue;
        // A library written in the last moment may still be growing, and mapping a truncated ELF
        // file can fault: look again on the next pass. (A half-written manifest only yields a
        // parse error that the next pass replaces.)
        constexpr int64_t settle_ns = 150'000'000;
        if (rec.entry && ls.mtime_ns && ls != rec.library_stamp && now_ns - ls.mtime_ns < settle_ns) continue;

        std::ifstream in(file, std::ios::binary);
        std::ostringstream ss;
        ss << in.rdbuf();
        std::string text = ss.str();
        size_t h = std::hash<std::string>{}(text);
        rec.manifest_stamp = ms;
        if (rec.entry && h == rec.content_hash && ls == rec.library_stamp) continue;  // touched, not changed
        if (text.size() > 256 * 1024 * 1024) {
            rec.entry = error_entry(file.stem().string(), file, file.string() + ": manifest is larger than 256 MiB");
        } else {
            rec.entry = build_entry(file, text);
        }
        rec.content_hash = h;
        rec.library_stamp = (rec.entry->manifest && rec.entry->manifest->library) ? stamp_of(*rec.entry->manifest->library) : Stamp{};
        rec.resolved.reset();
        rec.base_sha.clear();
        changed = true;
        if (rec.entry->ready())
            log::info("integration loaded", {{"integration", rec.entry->name}, {"version", rec.entry->manifest->version},
                                             {"file", file.string()}});
        else if (!rec.entry->manifest || rec.entry->manifest->library)
            log::warn("integration unavailable", {{"integration", rec.entry->name}, {"error", rec.entry->error}});
    }

    // Names are unique: the first file (in path order) keeps a name, later ones are errors.
    std::map<std::string, std::shared_ptr<const Entry>, std::less<>> by_name;
    std::vector<std::shared_ptr<const Entry>> all;
    std::map<std::string, fs::path> owner;
    for (auto& [file, rec] : files_) {
        if (!rec.entry->manifest) continue;
        const auto& name = rec.entry->manifest->name;
        if (owner.count(name)) continue;
        owner[name] = file;
    }
    for (auto& [file, rec] : files_) {
        std::shared_ptr<const Entry> e = rec.entry;
        if (rec.entry->manifest) {
            const auto& name = rec.entry->manifest->name;
            if (owner[name] != file) {
                e = error_entry(name, file, file.string() + ": the name '" + name + "' is already used by " +
                                                owner[name].string() + "; give this integration another name");
                all.push_back(e);
                continue;
            }
        }
        all.push_back(e);
        if (rec.entry->manifest) by_name[rec.entry->manifest->name] = e;
    }
    // A manifest too broken to read still answers to its file's name, so callers learn why.
    for (const auto& e : all)
        if (!e->manifest && !by_name.count(e->name)) by_name[e->name] = e;
    // Manifests that configure another plugin are built on that plugin's library.
    for (auto& e : all) {
        if (!e->manifest || !e->manifest->plugin) continue;
        auto& rec = files_[e->manifest_path];
        if (rec.entry != e) continue;  // a duplicate name, already an error
        auto base = by_name.find(*e->manifest->plugin);
        std::shared_ptr<Entry> resolved;
        if (base == by_name.end()) {
            resolved = error_entry(e->name, e->manifest_path, e->manifest_path.string() + ": plugin '" + *e->manifest->plugin +
                                                                  "' is not in the catalog; add its manifest to the manifests folder");
        } else if (!base->second->ready()) {
            resolved = error_entry(e->name, e->manifest_path, e->manifest_path.string() + ": plugin '" + *e->manifest->plugin +
                                                                  "' is unavailable: " + base->second->error);
        } else if (base->second->manifest->plugin) {
            resolved = error_entry(e->name, e->manifest_path, e->manifest_path.string() + ": '" + *e->manifest->plugin +
                                                                  "' itself configures another plugin; point 'plugin' at a manifest with a 'library'");
        } else if (rec.resolved && rec.base_sha == base->second->library_sha256) {
            resolved = rec.resolved;
        } else {
            auto lib = std::shared_ptr<const loader::Library>(base->second->instance, &base->second->instance->library());
            auto inst = loader::Loader::instantiate(lib, *e->manifest);
            if (!inst) {
                resolved = error_entry(e->name, e->manifest_path, e->manifest_path.string() + ": " + inst.error().message);
            } else {
                resolved = std::make_shared<Entry>(*e);
                resolved->instance = std::move(inst).value();
                resolved->status = Entry::Status::ready;
                resolved->error.clear();
                resolved->library_sha256 = base->second->library_sha256;
                log::info("integration loaded", {{"integration", e->name}, {"version", e->manifest->version},
                                                 {"plugin", *e->manifest->plugin}, {"file", e->manifest_path.string()}});
            }
            changed = true;
        }
        if (!resolved->manifest) resolved->manifest = e->manifest;
        if (resolved != rec.resolved) changed = true;
        rec.resolved = resolved;
        rec.base_sha = base != by_name.end() ? base->second->library_sha256 : "";
        e = resolved;
        by_name[resolved->name] = resolved;
    }

    if (!changed && generation_.load() > 0) return;
    std::sort(all.begin(), all.end(), [](const auto& a, const auto& b) {
        return a->name != b->name ? a->name < b->name : a->manifest_path < b->manifest_path;
    });
    std::lock_guard lock(publish_mutex_);
    by_name_ = std::move(by_name);
    all_ = std::move(all);
    generation_.fetch_add(1);
}

void Catalog::start_watching() {
    std::lock_guard lock(watch_mutex_);
    if (watcher_.joinable()) return;
    stopping_ = false;
    watcher_ = std::thread([this] {
        std::unique_lock lk(watch_mutex_);
        while (!stopping_) {
            watch_cv_.wait_for(lk, options_.poll_interval, [this] { return stopping_; });
            if (stopping_) break;
            lk.unlock();
            try {
                refresh();
            } catch (const std::exception& e) {
                log::error("catalog refresh failed", {{"error", e.what()}});
            }
            lk.lock();
        }
    });
}

void Catalog::stop_watching() {
    {
        std::lock_guard lock(watch_mutex_);
        stopping_ = true;
    }
    watch_cv_.notify_all();
    if (watcher_.joinable() && watcher_.get_id() != std::this_thread::get_id()) watcher_.join();
}

std::shared_ptr<const Entry> Catalog::find(std::string_view name) const {
    std::lock_guard lock(publish_mutex_);
    auto it = by_name_.find(name);
    return it == by_name_.end() ? nullptr : it->second;
}

std::vector<std::shared_ptr<const Entry>> Catalog::list() const {
    std::lock_guard lock(publish_mutex_);
    return all_;
}

}  // namespace patchbay::catalog
