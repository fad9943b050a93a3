// The master keys that seal connection secrets.
//
// Keys come from one source: the PATCHBAY_MASTER_KEY environment variable, or else the key file
// DATA/master.key (created with mode 0600 on the first run of an empty data directory). Both hold
// one or more `KEY_ID:BASE64` entries (comma- or newline-separated; a bare BASE64 value is key id
// "env"); the first is the primary, which seals; the others only open what they sealed before a
// rotation. Each key is 32 random bytes (AES-256).
#pragma once

#include "common/error.hpp"

#include <array>
#include <filesystem>
#include <mutex>
#include <string>
#include <vector>

namespace patchbay::secrets {

struct Key {
    std::string id;
    std::array<unsigned char, 32> bytes{};
};

inline constexpr const char* kMasterKeyEnv = "PATCHBAY_MASTER_KEY";

class Keyring {
public:
    // Reads the keys from the environment or the key file. An absent key file gives an empty
    // keyring (the caller decides whether a new one may be created); a malformed one, or one that
    // others can read, is an error that says how to fix it.
    static Result<Keyring> load(const std::filesystem::path& data_dir);

    bool empty() const { return keys_.empty(); }
    const Key& primary() const { return keys_.front(); }
    const Key* find(std::string_view id) const;
    const std::vector<Key>& keys() const { return keys_; }
    bool from_environment() const { return from_env_; }
    // "PATCHBAY_MASTER_KEY" or the key file's path, for messages.
    std::string source() const;

    // Key file only: makes a new random key the primary, keeping the others, and writes the file
    // atomically (mode 0600, fsync, rename). Returns the new key's id.
    Result<std::string> add_primary();
    // Key file only: drops the keys whose ids are listed (never the primary).
    Status remove(const std::vector<std::string>& ids);

private:
    Status write_file() const;

    std::vector<Key> keys_;
    bool from_env_ = false;
    std::filesystem::path file_;
};

std::string new_key_id();

}  // namespace patchbay::secrets
