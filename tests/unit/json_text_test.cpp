#include "common/crypto.hpp"
#include "common/json_text.hpp"

#include <boost/json.hpp>
#include <catch2/catch.hpp>

namespace json = boost::json;
using patchbay::append_json_string;
using patchbay::valid_utf8;

namespace {
// What a JSON parser reads back from the literal.
std::string round_trip(std::string_view s) {
    std::string text;
    append_json_string(text, s);
    boost::system::error_code ec;
    auto v = json::parse(text, ec);
    REQUIRE_FALSE(ec);
    REQUIRE(v.is_string());
    return std::string(v.get_string());
}
}  // namespace

TEST_CASE("JSON string literals written directly parse back to the same text", "[json]") {
    CHECK(round_trip("") == "");
    CHECK(round_trip("application/json; charset=utf-8") == "application/json; charset=utf-8");
    CHECK(round_trip("say \"hi\" \\ bye") == "say \"hi\" \\ bye");
    CHECK(round_trip(std::string("a\0b\x01\x1f\n\r\t", 8)) == std::string("a\0b\x01\x1f\n\r\t", 8));
    CHECK(round_trip("Caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80") == "Caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80");
}

TEST_CASE("text that is not UTF-8 is read as Latin-1, so the JSON stays valid", "[json]") {
    CHECK(round_trip("caf\xe9") == "caf\xc3\xa9");                    // a Latin-1 header value
    CHECK(round_trip("\xc3") == "\xc3\x83");                            // a sequence cut short
    CHECK(round_trip("\xc0\xaf") == "\xc3\x80\xc2\xaf");                // an overlong '/'
    CHECK(round_trip("\xed\xa0\x80") == "\xc3\xad\xc2\xa0\xc2\x80");    // a UTF-16 surrogate
}

TEST_CASE("UTF-8 validation", "[json]") {
    CHECK(valid_utf8("plain ascii"));
    CHECK(valid_utf8("\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80"));
    CHECK(valid_utf8("\xf4\x8f\xbf\xbf"));  // U+10FFFF
    CHECK_FALSE(valid_utf8("\xf4\x90\x80\x80"));  // above U+10FFFF
    CHECK_FALSE(valid_utf8("\xe2\x82"));
    CHECK_FALSE(valid_utf8("\x80"));
    CHECK_FALSE(valid_utf8("\xe0\x80\xaf"));  // overlong
    CHECK_FALSE(valid_utf8("\xf0\x80\x80\xaf"));
    CHECK_FALSE(valid_utf8("\xc1\xbf"));
}

TEST_CASE("the SDK's base64 agrees with OpenSSL's on every length and byte", "[json]") {
    std::string bytes;
    for (int n = 0; n < 300; ++n) {
        INFO("length " << bytes.size());
        CHECK(patchbay::sdk::base64(bytes) == patchbay::crypto::base64(bytes));
        bytes += static_cast<char>((n * 97 + 13) & 0xFF);
    }
    CHECK(patchbay::sdk::base64("\xff\xfe") == "//4=");
}

TEST_CASE("string literals are right wherever the characters to escape fall, also in long runs", "[json]") {
    // Latin-1 to UTF-8: what text that is not UTF-8 reads back as.
    auto latin1 = [](const std::string& s) {
        std::string out;
        for (unsigned char c : s) {
            if (c < 0x80) out += static_cast<char>(c);
            else out += static_cast<char>(0xC0 | (c >> 6)), out += static_cast<char>(0x80 | (c & 0x3F));
        }
        return out;
    };
    std::vector<std::string> specials = {"\xc3\xa9", "\x1f ", std::string("\0\x20", 2), "\xe9\x1f", "\"\\"};
    for (int b = 0; b < 256; ++b) specials.push_back(std::string(1, static_cast<char>(b)));  // every byte
    for (size_t len = 0; len <= 24; ++len) {
        for (const auto& special : specials) {
            for (size_t at = 0; at <= len; ++at) {
                std::string s(len, 'a');
                s.insert(at, special);
                INFO("length " << len << ", special at " << at);
                CHECK(round_trip(s) == (valid_utf8(s) ? s : latin1(s)));
            }
        }
    }
}
