#include "common/crypto.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include <cctype>
#include <cstdio>
#include <cstdlib>

namespace patchbay::crypto {

std::vector<unsigned char> random_bytes(size_t n) {
    std::vector<unsigned char> out(n);
    if (n && RAND_bytes(out.data(), static_cast<int>(n)) != 1) {
        std::fputs("patchbay: the system random generator failed; refusing to continue\n", stderr);
        std::abort();
    }
    return out;
}

std::string random_hex(size_t bytes) {
    static const char* digits = "0123456789abcdef";
    auto raw = random_bytes(bytes);
    std::string out;
    out.reserve(bytes * 2);
    for (unsigned char c : raw) {
        out += digits[c >> 4];
        out += digits[c & 15];
    }
    return out;
}

std::string sha256_hex(std::string_view data) {
    // Every API call hashes its token: fetch the algorithm once and keep a context per thread,
    // instead of OpenSSL 3's implicit fetch (a locked lookup) and a fresh context per digest.
    static EVP_MD* const sha256 = EVP_MD_fetch(nullptr, "SHA256", nullptr);
    struct Context {
        EVP_MD_CTX* ctx = EVP_MD_CTX_new();
        ~Context() { EVP_MD_CTX_free(ctx); }
    };
    thread_local Context local;
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    bool ok = sha256 && local.ctx && EVP_DigestInit_ex2(local.ctx, sha256, nullptr) == 1 &&
              EVP_DigestUpdate(local.ctx, data.data(), data.size()) == 1 && EVP_DigestFinal_ex(local.ctx, md, &len) == 1;
    if (!ok) EVP_Digest(data.data(), data.size(), md, &len, EVP_sha256(), nullptr);
    static const char* digits = "0123456789abcdef";
    std::string out(size_t{len} * 2, '0');
    for (unsigned int i = 0; i < len; ++i) {
        out[2 * i] = digits[md[i] >> 4];
        out[2 * i + 1] = digits[md[i] & 15];
    }
    return out;
}

namespace {

inline uint64_t rotl(uint64_t x, int b) { return (x << b) | (x >> (64 - b)); }

struct SipState {
    uint64_t v0, v1, v2, v3;
    void round() {
        v0 += v1; v1 = rotl(v1, 13); v1 ^= v0; v0 = rotl(v0, 32);
        v2 += v3; v3 = rotl(v3, 16); v3 ^= v2;
        v0 += v3; v3 = rotl(v3, 21); v3 ^= v0;
        v2 += v1; v1 = rotl(v1, 17); v1 ^= v2; v2 = rotl(v2, 32);
    }
    void absorb(uint64_t m) {
        v3 ^= m;
        round();
        round();
        v0 ^= m;
    }
    uint64_t squeeze(uint64_t marker) {
        v2 ^= marker;
        for (int i = 0; i < 4; ++i) round();
        return v0 ^ v1 ^ v2 ^ v3;
    }
};

// Initialisation and compression, shared by both output sizes: the words of `data` in
// little-endian order, then its length in the top byte of the last word.
SipState sip_compress(const SipKey& key, std::string_view data, bool wide) {
    SipState s{key.k0 ^ 0x736f6d6570736575ULL, key.k1 ^ 0x646f72616e646f6dULL, key.k0 ^ 0x6c7967656e657261ULL,
               key.k1 ^ 0x7465646279746573ULL};
    if (wide) s.v1 ^= 0xee;
    const auto* p = reinterpret_cast<const unsigned char*>(data.data());
    size_t n = data.size(), whole = n & ~size_t{7};
    auto word = [](const unsigned char* b, size_t len) {
        uint64_t m = 0;
        for (size_t i = 0; i < len; ++i) m |= uint64_t{b[i]} << (8 * i);
        return m;
    };
    for (size_t i = 0; i < whole; i += 8) s.absorb(word(p + i, 8));
    s.absorb(word(p + whole, n - whole) | (uint64_t{n & 0xff} << 56));
    return s;
}

}  // namespace

SipKey SipKey::random() {
    auto bytes = random_bytes(16);
    SipKey k;
    for (int i = 0; i < 8; ++i) {
        k.k0 |= uint64_t{bytes[i]} << (8 * i);
        k.k1 |= uint64_t{bytes[8 + i]} << (8 * i);
    }
    return k;
}

uint64_t siphash24(const SipKey& key, std::string_view data) {
    SipState s = sip_compress(key, data, false);
    return s.squeeze(0xff);
}

Hash128 siphash24_128(const SipKey& key, std::string_view data) {
    SipState s = sip_compress(key, data, true);
    Hash128 h;
    h.lo = s.squeeze(0xee);
    s.v1 ^= 0xdd;
    h.hi = s.squeeze(0);
    return h;
}

std::string hmac(Mac kind, std::string_view key, std::string_view data) {
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    const EVP_MD* digest = kind == Mac::hmac_sha1 ? EVP_sha1() : EVP_sha256();
    // An empty key is still a key to HMAC; OpenSSL wants a non-null pointer for it.
    static const unsigned char empty = 0;
    const void* k = key.empty() ? static_cast<const void*>(&empty) : key.data();
    if (!HMAC(digest, k, static_cast<int>(key.size()), reinterpret_cast<const unsigned char*>(data.data()), data.size(), md, &len)) return {};
    return std::string(reinterpret_cast<const char*>(md), len);
}

std::string hex(std::string_view data) {
    static const char* digits = "0123456789abcdef";
    std::string out;
    out.reserve(data.size() * 2);
    for (char ch : data) {
        auto c = static_cast<unsigned char>(ch);
        out += digits[c >> 4];
        out += digits[c & 15];
    }
    return out;
}

std::optional<std::string> from_hex(std::string_view text) {
    if (text.size() % 2) return std::nullopt;
    auto nibble = [](char c) -> int {
        if (c >= '0' && c <= '9') return c - '0';
        if (c >= 'a' && c <= 'f') return c - 'a' + 10;
        if (c >= 'A' && c <= 'F') return c - 'A' + 10;
        return -1;
    };
    std::string out(text.size() / 2, '\0');
    for (size_t i = 0; i < out.size(); ++i) {
        int hi = nibble(text[2 * i]), lo = nibble(text[2 * i + 1]);
        if (hi < 0 || lo < 0) return std::nullopt;
        out[i] = static_cast<char>(hi * 16 + lo);
    }
    return out;
}

std::string base64(std::string_view data) {
    std::string out(4 * ((data.size() + 2) / 3) + 1, '\0');
    int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), reinterpret_cast<const unsigned char*>(data.data()),
                            static_cast<int>(data.size()));
    out.resize(static_cast<size_t>(n));
    return out;
}

std::string base64url(std::string_view data) {
    std::string s = base64(data);
    while (!s.empty() && s.back() == '=') s.pop_back();
    for (char& c : s) {
        if (c == '+') c = '-';
        else if (c == '/') c = '_';
    }
    return s;
}

std::optional<std::string> from_base64(std::string_view text) {
    while (!text.empty() && (text.back() == '\n' || text.back() == ' ' || text.back() == '\r')) text.remove_suffix(1);
    if (text.empty() || text.size() % 4 != 0) return std::nullopt;
    for (char c : text)
        if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '+' || c == '/' || c == '=')) return std::nullopt;
    std::string out(text.size() / 4 * 3, '\0');
    int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()), reinterpret_cast<const unsigned char*>(text.data()),
                            static_cast<int>(text.size()));
    if (n < 0) return std::nullopt;
    size_t len = static_cast<size_t>(n);
    if (text.size() >= 1 && text[text.size() - 1] == '=') --len;  // EVP_DecodeBlock counts padding as zero bytes
    if (text.size() >= 2 && text[text.size() - 2] == '=') --len;
    out.resize(len);
    return out;
}

bool equal_constant_time(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace patchbay::crypto
