// Sealing: AES-256-GCM over one secret value, bound to where it belongs.
//
// A sealed value is  "PB" | version (1) | key id length | key id | 12-byte random nonce |
// ciphertext | 16-byte tag. The header (everything before the nonce) and the caller's context,
// e.g. "team=3;connection=c_ab12;field=api_key", are authenticated as additional data: a value
// copied to another row, team or field, or re-labelled with another key id, fails to open.
#pragma once

#include "common/error.hpp"
#include "secrets/keyring.hpp"

#include <string>
#include <string_view>
#include <vector>

namespace patchbay::secrets {

using Sealed = std::vector<unsigned char>;

Sealed seal(const Key& key, std::string_view plaintext, std::string_view context);

// The key id written in a sealed value's header, or "" when the header is malformed.
std::string sealed_key_id(const Sealed& sealed);

// Opens with the key the header names. Errors never include the plaintext or key material.
Result<std::string> open(const Keyring& keyring, const Sealed& sealed, std::string_view context);

// The additional data that binds a connection secret to its place.
std::string secret_context(int64_t team_id, std::string_view connection_id, std::string_view field);

}  // namespace patchbay::secrets
