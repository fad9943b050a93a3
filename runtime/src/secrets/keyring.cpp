#include "secrets/keyring.hpp"

#include "common/crypto.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fstream>
#include <sstream>

namespace patchbay::secrets {

namespace fs = std::filesystem;

namespace {

bool valid_id(std::string_view id) {
    if (id.empty() || id.size() > 64) return false;
    for (char c : id)
        if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.')) return false;
    return true;
}

// Parses `ID:BASE64` entries separated by `separators`; '#' starts a comment entry.
Result<std::vector<Key>> parse_entries(std::string_view text, const std::string& where, const char* separators) {
    std::vector<Key> keys;
    size_t i = 0;
    int n = 0;
    while (i <= text.size()) {
        size_t j = text.find_first_of(separators, i);
        if (j == std::string_view::npos) j = text.size();
        std::string_view entry = text.substr(i, j - i);
        i = j + 1;
        while (!entry.empty() && std::isspace(static_cast<unsigned char>(entry.front()))) entry.remove_prefix(1);
        while (!entry.empty() && std::isspace(static_cast<unsigned char>(entry.back()))) entry.remove_suffix(1);
        if (entry.empty() || entry.front() == '#') continue;
        ++n;
        std::string id = "env", material(entry);
        if (auto colon = entry.find(':'); colon != std::string_view::npos) {
            id = std::string(entry.substr(0, colon));
            material = std::string(entry.substr(colon + 1));
        }
        if (!valid_id(id))
            return Error(Errc::invalid_input, where + ": entry " + std::to_string(n) +
                                                  " has an invalid key id; use letters, digits, '-', '_' or '.' (at most 64)");
        auto raw = crypto::from_base64(material);
        if (!raw || raw->size() != 32)
            return Error(Errc::invalid_input, where + ": the key '" + id +
                                                  "' is not 32 bytes of base64; make one with `openssl rand -base64 32`");
        Key k;
        k.id = id;
        std::copy(raw->begin(), raw->end(), k.bytes.begin());
        for (const auto& other : keys)
            if (other.id == k.id) return Error(Errc::invalid_input, where + ": the key id '" + id + "' appears twice");
        keys.push_back(k);
    }
    return keys;
}

}  // namespace

std::string new_key_id() {
    auto t = std::time(nullptr);
    std::tm tm{};
    gmtime_r(&t, &tm);
    char buf[16];
    std::strftime(buf, sizeof buf, "%Y%m%d", &tm);
    return std::string("k") + buf + "-" + crypto::random_hex(3);
}

Result<Keyring> Keyring::load(const fs::path& data_dir) {
    Keyring ring;
    ring.file_ = data_dir / "master.key";
    if (const char* env = std::getenv(kMasterKeyEnv); env && *env) {
        ring.from_env_ = true;
        auto keys = parse_entries(env, kMasterKeyEnv, ",\n");
        if (!keys) return keys.error();
        if (keys->empty()) return Error(Errc::invalid_input, std::string(kMasterKeyEnv) + " is set but holds no key");
        ring.keys_ = std::move(*keys);
        return ring;
    }
    struct stat st{};
    if (::stat(ring.file_.c_str(), &st) != 0) {
        if (errno == ENOENT) return ring;
        return Error(Errc::internal, "cannot read the key file '" + ring.file_.string() + "': " + std::strerror(errno));
    }
    if (st.st_mode & (S_IRWXG | S_IRWXO)) {
        char mode[8];
        std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
        return Error(Errc::invalid_input, "the key file '" + ring.file_.string() + "' has mode " + mode +
                                              ", so others may read it; run `chmod 600 " + ring.file_.string() + "`");
    }
    std::ifstream in(ring.file_);
    std::stringstream ss;
    ss << in.rdbuf();
    if (!in && !in.eof()) return Error(Errc::internal, "cannot read the key file '" + ring.file_.string() + "'");
    auto keys = parse_entries(ss.str(), ring.file_.string(), "\n");
    if (!keys) return keys.error();
    if (keys->empty())
        return Error(Errc::invalid_input, "the key file '" + ring.file_.string() +
                                              "' holds no key; restore it from a backup (an empty key file cannot open existing secrets)");
    ring.keys_ = std::move(*keys);
    return ring;
}

const Key* Keyring::find(std::string_view id) const {
    for (const auto& k : keys_)
        if (k.id == id) return &k;
    return nullptr;
}

std::string Keyring::source() const { return from_env_ ? std::string(kMasterKeyEnv) : "the key file " + file_.string(); }

Status Keyring::write_file() const {
    std::string text = "# Patchbay master keys: KEY_ID:BASE64, the first one seals. Keep this file secret and backed up.\n";
    for (const auto& k : keys_)
        text += k.id + ":" + crypto::base64(std::string_view(reinterpret_cast<const char*>(k.bytes.data()), k.bytes.size())) + "\n";
    fs::path tmp = file_;
    tmp += ".tmp";
    int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) return Error(Errc::internal, "cannot write '" + tmp.string() + "': " + std::strerror(errno));
    ::fchmod(fd, 0600);
    bool ok = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size()) && ::fsync(fd) == 0;
    ::close(fd);
    OPENSSL_cleanse(text.data(), text.size());
    if (!ok || std::rename(tmp.c_str(), file_.c_str()) != 0) {
        ::unlink(tmp.c_str());
        return Error(Errc::internal, "cannot write the key file '" + file_.string() + "': " + std::strerror(errno));
    }
    int dir = ::open(file_.parent_path().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dir >= 0) {
        ::fsync(dir);  // the rename itself must survive a crash
        ::close(dir);
    }
    return std::nullopt;
}

Result<std::string> Keyring::add_primary() {
    if (from_env_)
        return Error(Errc::unsupported, std::string("the keys come from ") + kMasterKeyEnv +
                                            "; put a new `ID:BASE64` entry first in it (make the key with `openssl rand -base64 32`) and run the rotation again");
    Key k;
    do k.id = new_key_id();
    while (find(k.id));
    auto raw = crypto::random_bytes(32);
    std::copy(raw.begin(), raw.end(), k.bytes.begin());
    OPENSSL_cleanse(raw.data(), raw.size());
    keys_.insert(keys_.begin(), k);
    if (auto err = write_file()) {
        keys_.erase(keys_.begin());
        return *err;
    }
    return k.id;
}

Status Keyring::remove(const std::vector<std::string>& ids) {
    if (from_env_) return Error(Errc::unsupported, std::string("the keys come from ") + kMasterKeyEnv + "; remove the entries there");
    auto before = keys_;
    const std::string primary_id = keys_.empty() ? std::string() : keys_.front().id;
    std::erase_if(keys_, [&](const Key& k) { return k.id != primary_id && std::find(ids.begin(), ids.end(), k.id) != ids.end(); });
    if (auto err = write_file()) {
        keys_ = std::move(before);
        return err;
    }
    return std::nullopt;
}

}  // namespace patchbay::secrets
