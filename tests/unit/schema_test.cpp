#include "schema/json_schema.hpp"

#include <boost/json.hpp>
#include <boost/url/parse.hpp>
#include <catch2/catch.hpp>

#include <regex>

using patchbay::schema::Schema;
namespace json = boost::json;

namespace {
Schema compile(const char* text) {
    auto r = Schema::compile(json::parse(text));
    REQUIRE(r.ok());
    return r.value();
}
// The pointer of the first violation, or "ok".
std::string first(const Schema& s, const char* instance) {
    auto v = s.validate(json::parse(instance));
    return v.empty() ? "ok" : v[0].pointer + ": " + v[0].message;
}
}  // namespace

TEST_CASE("types, including integer and type lists", "[schema]") {
    auto s = compile(R"({"type":"object","properties":{"a":{"type":"integer"},"b":{"type":["string","null"]},"c":{"type":"number"}}})");
    CHECK(first(s, R"({"a":1,"b":null,"c":1.5})") == "ok");
    CHECK(first(s, R"({"a":2.0})") == "ok");  // 2.0 is an integer in JSON Schema
    CHECK(first(s, R"({"a":1.5})") == "/a: expected integer, got number");
    CHECK(first(s, R"({"b":3})") == "/b: expected string or null, got integer");
    CHECK(first(s, R"({"c":"x"})") == "/c: expected number, got string");
    CHECK(first(s, R"([])") == ": expected object, got array");
}

TEST_CASE("required and additionalProperties name the field", "[schema]") {
    auto s = compile(R"({"type":"object","required":["url"],"additionalProperties":false,"properties":{"url":{"type":"string"}}})");
    CHECK(first(s, R"({})") == "/url: required field 'url' is missing");
    CHECK(first(s, R"({"url":"x","extra":1})") == "/extra: unknown field 'extra' is not allowed");
    auto typed = compile(R"({"type":"object","additionalProperties":{"type":"string"}})");
    CHECK(first(typed, R"({"k":"v"})") == "ok");
    CHECK(first(typed, R"({"k":1})") == "/k: expected string, got integer");
}

TEST_CASE("nested pointers are escaped", "[schema]") {
    auto s = compile(R"({"type":"object","properties":{"a/b":{"type":"object","properties":{"c~d":{"type":"array","items":{"type":"integer"}}}}}})");
    CHECK(first(s, R"({"a/b":{"c~d":[1,2,"x"]}})") == "/a~1b/c~0d/2: expected integer, got string");
}

TEST_CASE("enum and const", "[schema]") {
    auto s = compile(R"({"enum":["GET","POST",1]})");
    CHECK(first(s, R"("GET")") == "ok");
    CHECK(first(s, R"(1.0)") == "ok");
    CHECK(first(s, R"("PUT")").find("must be one of") != std::string::npos);
    auto c = compile(R"({"const":{"a":[1,2]}})");
    CHECK(first(c, R"({"a":[1,2]})") == "ok");
    CHECK(first(c, R"({"a":[2,1]})") != "ok");
}

TEST_CASE("numeric bounds in draft 4 and draft 6+ forms", "[schema]") {
    auto s = compile(R"({"minimum":1,"maximum":10,"multipleOf":0.5})");
    CHECK(first(s, "1") == "ok");
    CHECK(first(s, "10") == "ok");
    CHECK(first(s, "0") == ": must be at least 1");
    CHECK(first(s, "11") == ": must be at most 10");
    CHECK(first(s, "2.25") == ": must be a multiple of 0.5");
    auto d6 = compile(R"({"exclusiveMinimum":0,"exclusiveMaximum":5})");
    CHECK(first(d6, "0") == ": must be greater than 0");
    CHECK(first(d6, "5") == ": must be less than 5");
    CHECK(first(d6, "4.99") == "ok");
    auto d4 = compile(R"({"minimum":0,"exclusiveMinimum":true})");
    CHECK(first(d4, "0") == ": must be greater than 0");
    CHECK(first(d4, "0.1") == "ok");
}

TEST_CASE("string length counts characters, not bytes; pattern", "[schema]") {
    auto s = compile(R"({"type":"string","minLength":2,"maxLength":3,"pattern":"^[a-zé]+$"})");
    CHECK(first(s, R"("éé")") == "ok");  // 4 bytes, 2 characters
    CHECK(first(s, R"("a")") == ": must be at least 2 characters long");
    CHECK(first(s, R"("abcd")") == ": must be at most 3 characters long");
    CHECK(first(s, R"("AB")").find("pattern") != std::string::npos);
}

TEST_CASE("arrays: items, tuple items, bounds, uniqueness", "[schema]") {
    auto s = compile(R"({"type":"array","items":{"type":"string"},"minItems":1,"maxItems":3,"uniqueItems":true})");
    CHECK(first(s, R"(["a","b"])") == "ok");
    CHECK(first(s, R"([])") == ": must have at least 1 items");
    CHECK(first(s, R"(["a","b","c","d"])") == ": must have at most 3 items");
    CHECK(first(s, R"(["a","a"])") == "/1: duplicates item 0; items must be unique");
    CHECK(first(s, R"(["a",1])") == "/1: expected string, got integer");
    auto t = compile(R"({"type":"array","items":[{"type":"string"},{"type":"integer"}]})");
    CHECK(first(t, R"(["a",1,true])") == "ok");
    CHECK(first(t, R"([1])") == "/0: expected string, got integer");
}

TEST_CASE("formats date-time, date, uri, email, uuid, ipv4", "[schema]") {
    auto dt = compile(R"({"format":"date-time"})");
    CHECK(first(dt, R"("2024-02-29T23:59:60.123+05:30")") == "ok");
    CHECK(first(dt, R"("2024-02-29T10:00:00Z")") == "ok");
    CHECK(first(dt, R"("2023-02-29T10:00:00Z")") == ": must be a valid date-time");  // not a leap year
    CHECK(first(dt, R"("2024-13-01T10:00:00Z")") != "ok");
    CHECK(first(dt, R"("2024-01-01 10:00")") != "ok");
    CHECK(first(dt, R"("2024-01-01T10:00:00")") != "ok");  // zone is required
    auto uri = compile(R"({"format":"uri"})");
    CHECK(first(uri, R"("https://example.com/a?b=c#d")") == "ok");
    CHECK(first(uri, R"("urn:isbn:0451450523")") == "ok");
    CHECK(first(uri, R"("/relative/path")") == ": must be a valid uri");
    CHECK(first(uri, R"("http://exa mple.com")") != "ok");
    auto email = compile(R"({"format":"email"})");
    CHECK(first(email, R"("ops.team+alerts@example.co.uk")") == "ok");
    CHECK(first(email, R"("no-at-sign")") == ": must be a valid email");
    CHECK(first(email, R"("a@b")") != "ok");
    CHECK(first(email, R"("a..b@example.com")") != "ok");
    CHECK(first(email, R"("a@-example.com")") != "ok");
    auto uuid = compile(R"({"format":"uuid"})");
    CHECK(first(uuid, R"("123e4567-e89b-12d3-a456-426614174000")") == "ok");
    CHECK(first(uuid, R"("123e4567e89b12d3a456426614174000")") != "ok");
    auto ip = compile(R"({"format":"ipv4"})");
    CHECK(first(ip, R"("192.168.0.1")") == "ok");
    CHECK(first(ip, R"("256.1.1.1")") != "ok");
    CHECK(first(ip, R"("01.1.1.1")") != "ok");
}

TEST_CASE("combinators oneOf, anyOf, allOf, not", "[schema]") {
    auto any = compile(R"({"anyOf":[{"type":"string"},{"type":"integer","minimum":0}]})");
    CHECK(first(any, R"("x")") == "ok");
    CHECK(first(any, "3") == "ok");
    CHECK(first(any, "-1").find("does not match any of the allowed schemas (anyOf)") != std::string::npos);
    auto one = compile(R"({"oneOf":[{"type":"integer"},{"type":"number"}]})");
    CHECK(first(one, "1.5") == "ok");
    CHECK(first(one, "1") == ": matches 2 schemas of oneOf; exactly one is allowed");
    CHECK(first(one, R"("x")").find("oneOf") != std::string::npos);
    auto all = compile(R"({"allOf":[{"type":"object","required":["a"]},{"required":["b"]}]})");
    CHECK(first(all, R"({"a":1,"b":2})") == "ok");
    CHECK(first(all, R"({"a":1})") == "/b: required field 'b' is missing");
    auto no = compile(R"({"not":{"type":"null"}})");
    CHECK(first(no, "null") == ": must not match the schema under 'not'");
    CHECK(first(no, "1") == "ok");
}

TEST_CASE("local $ref, recursion, nullable and boolean schemas", "[schema]") {
    auto s = compile(R"({"$defs":{"node":{"type":"object","properties":{"children":{"type":"array","items":{"$ref":"#/$defs/node"}},"id":{"type":"integer"}}}},"$ref":"#/$defs/node"})");
    CHECK(first(s, R"({"id":1,"children":[{"id":2,"children":[{"id":3}]}]})") == "ok");
    CHECK(first(s, R"({"children":[{"children":[{"id":"x"}]}]})") == "/children/0/children/0/id: expected integer, got string");
    auto n = compile(R"({"type":"string","nullable":true})");
    CHECK(first(n, "null") == "ok");
    CHECK(first(n, "1") != "ok");
    auto f = compile(R"({"type":"object","properties":{"never":false,"any":true}})");
    CHECK(first(f, R"({"any":[1]})") == "ok");
    CHECK(first(f, R"({"never":1})") == "/never: no value is allowed here");
}

TEST_CASE("all violations are reported, up to the limit", "[schema]") {
    auto s = compile(R"({"type":"object","required":["a","b","c"]})");
    CHECK(s.validate(json::parse("{}")).size() == 3);
    CHECK(s.validate(json::parse("{}"), 2).size() == 2);
}

TEST_CASE("broken schemas are refused at compile time with their pointer", "[schema]") {
    auto bad_type = Schema::compile(json::parse(R"({"properties":{"a":{"type":"strng"}}})"));
    REQUIRE_FALSE(bad_type.ok());
    CHECK(bad_type.error().pointer == "/properties/a/type");
    CHECK(bad_type.error().message.find("unknown type") != std::string::npos);
    auto bad_ref = Schema::compile(json::parse(R"({"$ref":"#/nowhere"})"));
    REQUIRE_FALSE(bad_ref.ok());
    CHECK(bad_ref.error().message.find("cannot resolve") != std::string::npos);
    auto remote_ref = Schema::compile(json::parse(R"({"$ref":"https://example.com/schema.json"})"));
    CHECK_FALSE(remote_ref.ok());
    auto bad_pattern = Schema::compile(json::parse(R"({"pattern":"(unclosed"})"));
    REQUIRE_FALSE(bad_pattern.ok());
    CHECK(bad_pattern.error().message.find("regular expression") != std::string::npos);
    CHECK_FALSE(Schema::compile(json::parse(R"({"required":"a"})")).ok());
    CHECK_FALSE(Schema::compile(json::parse(R"({"anyOf":[]})")).ok());
    CHECK_FALSE(Schema::compile(json::parse(R"({"minimum":"1"})")).ok());
    CHECK_FALSE(Schema::compile(json::parse(R"([1,2])")).ok());
}

TEST_CASE("schemas sharing a pattern each keep it, also once the process's pattern cache has started over", "[schema]") {
    auto a = compile(R"({"type":"string","pattern":"^[a-f0-9]{4}$"})");
    auto b = compile(R"({"properties":{"sha":{"pattern":"^[a-f0-9]{4}$"}}})");
    // More distinct expressions than the cache keeps: it starts over, the schemas above keep theirs.
    for (int i = 0; i < 5000; ++i) {
        std::string text = R"({"pattern":"^x)" + std::to_string(i) + R"($"})";
        REQUIRE(Schema::compile(json::parse(text)).ok());
    }
    CHECK(first(a, R"("beef")") == "ok");
    CHECK(first(a, R"("BEEF")").find("pattern") != std::string::npos);
    CHECK(first(b, R"({"sha":"12ab"})") == "ok");
    CHECK(first(b, R"({"sha":"12abc"})").find("pattern") != std::string::npos);
    auto c = compile(R"({"type":"string","pattern":"^[a-f0-9]{4}$"})");  // compiled again, same meaning
    CHECK(first(c, R"("zzzz")").find("pattern") != std::string::npos);
    auto bad = Schema::compile(json::parse(R"({"pattern":"(unclosed"})"));  // a bad one is never cached as good
    CHECK_FALSE(bad.ok());
    CHECK_FALSE(Schema::compile(json::parse(R"({"pattern":"(unclosed"})")).ok());
}

TEST_CASE("a pattern matches where std::regex_search finds it, anchored or not", "[schema]") {
    const std::vector<std::pair<std::string, std::string>> cases = {
        {"^https?://", "https://x"}, {"^https?://", "x https://"}, {"^a|b", "xb"}, {"^a|b", "a"}, {"^a|b", "xc"},
        {"^(a|b)c", "bc"}, {"^(a|b)c", "xac"}, {"^[|]x", "|x"}, {"^[|]x", "a|x"}, {"^a\\|b", "a|b"}, {"^a\\|b", "xa|b"},
        {"^[\\]|]+$", "]|]"}, {"^[\\]|]+$", "x]"}, {"b$", "ab"}, {"^$", ""}, {"^(?:x|y)+z", "xyz"}, {"^(?:x|y)+z", "axyz"},
        {"[a-z]+", "123abc"}, {"^[^]x]", "ax"}, {"^[^]x]", "xa"}, {"^[]a]", "a"}, {"(^a)|b", "cb"}, {"^\\c[|x]", "zx]"}, {"^\\cJ", "\n"},
    };
    for (const auto& [pattern, text] : cases) {
        INFO("pattern " << pattern << " on '" << text << "'");
        json::object schema{{"type", "string"}, {"pattern", pattern}};
        auto s = Schema::compile(schema);
        if (!s.ok()) continue;  // a pattern std::regex refuses is refused at compile time, tested above
        bool expected = std::regex_search(text, std::regex(pattern, std::regex::ECMAScript));
        CHECK(s.value().validate(json::value(text)).empty() == expected);
    }
}

TEST_CASE("format uri accepts exactly what Boost.URL's RFC 3986 parser accepts as an absolute URI", "[schema]") {
    auto reference = [](const std::string& s) {
        // "x:?" and "x:#" (a scheme, then an empty path and an empty query or fragment) are valid
        // RFC 3986, and release builds of Boost.URL 1.81 accept them, but its debug builds stop
        // on an assertion (path_segments, nseg == 0). is_uri accepts them without asking it.
        static const std::regex empty_tail("[A-Za-z][A-Za-z0-9+.-]*:[?#]");
        if (std::regex_match(s, empty_tail)) return true;
        // The same for a scheme followed by a character no URI part can begin with: not a URI.
        static const std::regex junk_tail("[A-Za-z][A-Za-z0-9+.-]*:[^A-Za-z0-9\\-._~!$&'()*+,;=:@/%?#].*");
        if (std::regex_match(s, junk_tail)) return false;
        auto r = boost::urls::parse_uri(s);
        return r.has_value() && !r->scheme().empty();
    };
    std::vector<std::string> cases = {
        "http://127.0.0.1:8080/data.json", "https://api.example.com/v2/companies?page=2&per_page=50#top", "HTTPS://EXAMPLE.COM",
        "urn:isbn:0451450523", "mailto:ops@example.com", "file:///etc/hosts", "http://a:/", "http://a:99999999/x",
        "http://user:pw@host/", "http://[::1]:80/", "http://[v1.x]/", "http://a%41b/%7e?%2", "http://a/%zz", "http://a/%4",
        "http://a/b c", "http://a/b#c#d", "http://1.2.3.4x", "http://a:80x", "http://:80", "x://", "http://1.2.3.456:80", "http://A%2Fb%c3%A9/", "http://a/b?c?d/e#f?g/h", "http:", "h:", "1http://a", "+a:b", "a+b-c.d:x",
        "http://exa mple.com", "http://a:b/", "http://a@b@c/", "http://a/\x7f", "http://a/é", "http:/a//b", "http:a:b",
        "s://a.b/!$&'()*+,;=:@", "x://[", "http://a]b/", "x:#", "x:?#", "x:|", "x: ", "x:[", "x:{", "x:\"a", "x://#", "x://?", "", ":", "//a/b", "http://a/|",
    };
    // And random strings over the characters that matter to the grammar.
    const std::string alphabet = "ahTF09:/?#[]@%%%!$&'()*+,;=-._~ \"|\x01\xc3\xa9";
    uint32_t state = 12345;
    auto next = [&] { state = state * 1103515245u + 12345u; return state >> 8; };
    for (int n = 0; n < 20000; ++n) {
        std::string s = (n % 3 == 0) ? "http://" : (n % 3 == 1) ? "x:" : "";
        size_t len = next() % 16;
        for (size_t k = 0; k < len; ++k) s += alphabet[next() % alphabet.size()];
        cases.push_back(s);
    }
    auto uri = compile(R"({"format":"uri"})");
    size_t accepted = 0;
    for (const auto& s : cases) {
        INFO("'" << s << "'");
        bool expected = reference(s);
        accepted += expected;
        REQUIRE(patchbay::schema::is_uri(s) == expected);
        REQUIRE(uri.validate(json::value(s)).empty() == expected);
    }
    CHECK(accepted > 1000);  // the random cases reach both answers
}

TEST_CASE("the fast pattern matcher answers as std::regex_search does, and takes the simple patterns", "[schema]") {
    using patchbay::schema::SimplePattern;
    // Patterns as JSON Schemas write them: the matcher must take these.
    const std::vector<std::pair<const char*, bool>> typical = {
        {"^[hH][tT][tT][pP][sS]?://", true}, {"^[a-z0-9-]+$", true}, {"^\\d{4}-\\d{2}-\\d{2}$", true}, {"^[A-Za-z_][A-Za-z0-9_]*$", true},
        {"\\.json$", true}, {"^[0-9a-f]{40}$", true}, {"^.{1,50}$", true}, {"^\\+?[0-9 ()-]{7,20}$", true},
        // Left to std::regex: \s, groups, alternation, more than 63 steps.
        {"^[^@\\s]+@", false}, {"^v\\d+(\\.\\d+)?$", false}, {"^(get|post)$", false}, {"^.{1,64}$", false},
    };
    for (const auto& [p, simple] : typical) {
        INFO(p);
        CHECK(SimplePattern::compile(p).has_value() == simple);
    }
    // Random patterns and texts: wherever the matcher takes a pattern, it answers as std::regex
    // does (on the same bytes, with match_continuous after a leading ^, as the schema asks).
    const std::vector<std::string> pieces = {
        "a", "b", "Z", "0", "9", "-", "_", ".", "\\.", "\\d", "\\D", "\\w", "\\W", "\\-", "\\/", "\\$", "\\\\", "\\n", "\\t", "\\s", "\\b",
        "[a-c]", "[^a-c]", "[-a]", "[a-]", "[\\d_]", "[\\D]", "[.]", "[\\]]", "[]a]", "[^]]", "[a-a]", "[\\w-]", "[+.-]", "[\xc3\xa9]",
        "[^\xc3\xa9x]", "\xc3\xa9", "(a|b)", "|", "?", "*", "+", "{2}", "{1,3}", "{0,}", "{2,1}", "{", "}", "]", "^", "$", "*?", "+?",
    };
    const std::string text_chars = "abcZ09-_./$\\\n\t \xc3\xa9";
    uint32_t state = 987654;
    auto next = [&] { state = state * 1103515245u + 12345u; return state >> 8; };
    size_t taken = 0, matched = 0, compared = 0;
    for (int n = 0; n < 6000; ++n) {
        std::string p = next() % 3 == 0 ? "^" : "";
        for (size_t k = 0, len = 1 + next() % 5; k < len; ++k) p += pieces[next() % pieces.size()];
        if (next() % 3 == 0) p += "$";
        std::optional<std::regex> re;
        try {
            re.emplace(p, std::regex::ECMAScript);
        } catch (const std::regex_error&) {
            continue;  // refused when the schema is compiled; never matched
        }
        auto simple = SimplePattern::compile(p);
        if (!simple) continue;
        ++taken;
        bool anchored = !p.empty() && p[0] == '^';
        for (int t = 0; t < 12; ++t) {
            std::string text;
            for (size_t k = 0, len = next() % 8; k < len; ++k) text += text_chars[next() % text_chars.size()];
            bool expected = std::regex_search(text, *re, anchored ? std::regex_constants::match_continuous : std::regex_constants::match_default);
            INFO("pattern '" << p << "' on '" << text << "'");
            REQUIRE(simple->search(text) == expected);
            matched += expected;
            ++compared;
        }
        // Through a schema, the same answer.
        std::string text(1 + next() % 3, 'a');
        json::object schema{{"type", "string"}, {"pattern", p}};
        auto s = Schema::compile(schema);
        REQUIRE(s.ok());
        CHECK(s.value().validate(json::value(text)).empty() ==
              std::regex_search(text, *re, anchored ? std::regex_constants::match_continuous : std::regex_constants::match_default));
    }
    CHECK(taken > 1000);              // most generated patterns are simple enough
    CHECK(matched > compared / 20);   // and the texts reach both answers
    CHECK(matched < compared * 19 / 20);
}
