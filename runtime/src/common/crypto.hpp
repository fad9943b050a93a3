// Small cryptographic helpers over OpenSSL: randomness, SHA-256, HMAC, hex and base64. Kept in one place so that
// every component uses the same, vetted primitives.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace patchbay::crypto {

// Cryptographically secure random bytes; aborts if the system cannot provide them.
std::vector<unsigned char> random_bytes(size_t n);
std::string random_hex(size_t bytes);

std::string sha256_hex(std::string_view data);

// SipHash-2-4 (Aumasson and Bernstein), a keyed hash: fast on short inputs, and without the key
// nobody can find inputs that collide. For in-memory lookups by a secret (a bearer token) that
// must not keep the secret itself, not for anything stored or sent.
struct SipKey {
    uint64_t k0 = 0, k1 = 0;
    static SipKey random();  // from the system's secure random source
};
struct Hash128 {
    uint64_t lo = 0, hi = 0;
    bool operator==(const Hash128&) const = default;
};
uint64_t siphash24(const SipKey& key, std::string_view data);      // the 64-bit variant
Hash128 siphash24_128(const SipKey& key, std::string_view data);  // the 128-bit variant

enum class Mac { hmac_sha256, hmac_sha1 };
// The raw MAC of `data` under `key`.
std::string hmac(Mac kind, std::string_view key, std::string_view data);

std::string hex(std::string_view data);                      // lower case
std::optional<std::string> from_hex(std::string_view text);  // either case; nullopt if not hex

std::string base64(std::string_view data);
std::string base64url(std::string_view data);  // no padding
std::optional<std::string> from_base64(std::string_view text);  // standard alphabet, padding required

// Compares in time that depends only on the lengths.
bool equal_constant_time(std::string_view a, std::string_view b);

}  // namespace patchbay::crypto
