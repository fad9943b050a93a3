#include "secrets/sealer.hpp"

#include "common/crypto.hpp"

#include <openssl/evp.h>

#include <memory>

namespace patchbay::secrets {

namespace {

constexpr unsigned char kMagic0 = 'P', kMagic1 = 'B', kVersion = 1;
constexpr size_t kNonce = 12, kTag = 16;

using CipherCtx = std::unique_ptr<EVP_CIPHER_CTX, decltype(&EVP_CIPHER_CTX_free)>;

// Length of the header (magic, version, key id) or 0 when malformed.
size_t header_size(const Sealed& s) {
    if (s.size() < 4 || s[0] != kMagic0 || s[1] != kMagic1 || s[2] != kVersion) return 0;
    size_t n = 4 + s[3];
    if (s.size() < n + kNonce + kTag) return 0;
    return n;
}

std::string additional_data(const unsigned char* header, size_t header_len, std::string_view context) {
    std::string aad(reinterpret_cast<const char*>(header), header_len);
    aad += '|';
    aad += context;
    return aad;
}

}  // namespace

std::string secret_context(int64_t team_id, std::string_view connection_id, std::string_view field) {
    std::string s = "team=" + std::to_string(team_id) + ";connection=";
    s += connection_id;
    s += ";field=";
    s += field;
    return s;
}

Sealed seal(const Key& key, std::string_view plaintext, std::string_view context) {
    Sealed out;
    out.reserve(4 + key.id.size() + kNonce + plaintext.size() + kTag);
    out.push_back(kMagic0);
    out.push_back(kMagic1);
    out.push_back(kVersion);
    out.push_back(static_cast<unsigned char>(key.id.size()));
    out.insert(out.end(), key.id.begin(), key.id.end());
    size_t header_len = out.size();
    auto nonce = crypto::random_bytes(kNonce);
    out.insert(out.end(), nonce.begin(), nonce.end());
    std::string aad = additional_data(out.data(), header_len, context);

    CipherCtx ctx(EVP_CIPHER_CTX_new(), &EVP_CIPHER_CTX_free);
    int len = 0;
    size_t body = out.size();
    out.resize(body + plaintext.size() + kTag);
    if (!ctx || EVP_EncryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, nullptr, nullptr) != 1 ||
        EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_IVLEN, static_cast<int>(kNonce), nullptr) != 1 ||
        EVP_EncryptInit_ex(ctx.get(), nullptr, nullptr, key.bytes.data(), nonce.data()) != 1 ||
        EVP_EncryptUpdate(ctx.get(), nullptr, &len, reinterpret_cast<const unsigned char*>(aad.data()), static_cast<int>(aad.size())) != 1 ||
        EVP_EncryptUpdate(ctx.get(), out.data() + body, &len, reinterpret_cast<const unsigned char*>(plaintext.data()),
                          static_cast<int>(plaintext.size())) != 1 ||
        EVP_EncryptFinal_ex(ctx.get(), out.data() + body + len, &len) != 1 ||
        EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_GET_TAG, static_cast<int>(kTag), out.data() + body + plaintext.size()) != 1)
        throw std::runtime_error("AES-256-GCM sealing failed in OpenSSL");
    return out;
}

std::string sealed_key_id(const Sealed& s) {
    size_t n = header_size(s);
    if (!n) return {};
    return std::string(reinterpret_cast<const char*>(s.data() + 4), s[3]);
}

Result<std::string> open(const Keyring& keyring, const Sealed& s, std::string_view context) {
    size_t header_len = header_size(s);
    if (!header_len) return Error(Errc::internal, "a sealed secret has a malformed header; it cannot be opened");
    std::string id(reinterpret_cast<const char*>(s.data() + 4), s[3]);
    const Key* key = keyring.find(id);
    if (!key)
        return Error(Errc::internal, "a secret is sealed under key '" + id + "', which " + keyring.source() +
                                         " does not hold; restore that key");
    const unsigned char* nonce = s.data() + header_len;
    const unsigned char* cipher = nonce + kNonce;
    size_t cipher_len = s.size() - header_len - kNonce - kTag;
    const unsigned char* tag = cipher + cipher_len;
    std::string aad = additional_data(s.data(), header_len, context);

    CipherCtx ctx(EVP_CIPHER_CTX_new(), &EVP_CIPHER_CTX_free);
    std::string plain(cipher_len, '\0');
    int len = 0;
    bool ok = ctx && EVP_DecryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, nullptr, nullptr) == 1 &&
              EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_IVLEN, static_cast<int>(kNonce), nullptr) == 1 &&
              EVP_DecryptInit_ex(ctx.get(), nullptr, nullptr, key->bytes.data(), nonce) == 1 &&
              EVP_DecryptUpdate(ctx.get(), nullptr, &len, reinterpret_cast<const unsigned char*>(aad.data()), static_cast<int>(aad.size())) == 1 &&
              EVP_DecryptUpdate(ctx.get(), reinterpret_cast<unsigned char*>(plain.data()), &len, cipher, static_cast<int>(cipher_len)) == 1 &&
              EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_TAG, static_cast<int>(kTag), const_cast<unsigned char*>(tag)) == 1 &&
              EVP_DecryptFinal_ex(ctx.get(), reinterpret_cast<unsigned char*>(plain.data()) + len, &len) == 1;
    if (!ok) {
        OPENSSL_cleanse(plain.data(), plain.size());
        return Error(Errc::internal, "a sealed secret failed authentication under key '" + id +
                                         "': it was altered, moved to another place, or the key is not the one that sealed it");
    }
    return plain;
}

}  // namespace patchbay::secrets
