#include "schema/json_schema.hpp"

#include "common/uri.hpp"

#include <boost/json.hpp>

#include <charconv>
#include <cmath>
#include <mutex>
#include <set>
#include <unordered_map>

namespace patchbay::schema {

namespace json = boost::json;

std::string escape_pointer_token(std::string_view token) {
    std::string out;
    out.reserve(token.size());
    for (char c : token) {
        if (c == '~') out += "~0";
        else if (c == '/') out += "~1";
        else out += c;
    }
    return out;
}

namespace {

const std::set<std::string_view> kTypes = {"null", "boolean", "object", "array", "number", "integer", "string"};

std::string_view type_of(const json::value& v) {
    switch (v.kind()) {
        case json::kind::null: return "null";
        case json::kind::bool_: return "boolean";
        case json::kind::object: return "object";
        case json::kind::array: return "array";
        case json::kind::string: return "string";
        case json::kind::int64:
        case json::kind::uint64: return "integer";
        case json::kind::double_: {
            double d = v.get_double();
            return (std::isfinite(d) && std::floor(d) == d) ? "integer" : "number";
        }
    }
    return "unknown";
}

bool is_number(const json::value& v) { return v.is_int64() || v.is_uint64() || v.is_double(); }

double as_double(const json::value& v) {
    if (v.is_int64()) return static_cast<double>(v.get_int64());
    if (v.is_uint64()) return static_cast<double>(v.get_uint64());
    return v.get_double();
}

bool matches_type(const json::value& v, std::string_view t) {
    std::string_view actual = type_of(v);
    if (t == actual) return true;
    if (t == "number" && actual == "integer") return true;
    return false;
}

// Structural equality where 1 and 1.0 are the same number, as JSON Schema says.
bool json_equal(const json::value& a, const json::value& b) {
    if (is_number(a) && is_number(b)) return as_double(a) == as_double(b);
    if (a.kind() != b.kind()) return false;
    if (a.is_array()) {
        const auto& x = a.get_array();
        const auto& y = b.get_array();
        if (x.size() != y.size()) return false;
        for (size_t i = 0; i < x.size(); ++i)
            if (!json_equal(x[i], y[i])) return false;
        return true;
    }
    if (a.is_object()) {
        const auto& x = a.get_object();
        const auto& y = b.get_object();
        if (x.size() != y.size()) return false;
        for (const auto& [k, v] : x) {
            const auto* w = y.if_contains(k);
            if (!w || !json_equal(v, *w)) return false;
        }
        return true;
    }
    return a == b;
}

size_t utf8_length(std::string_view s) {
    size_t n = 0;
    for (unsigned char c : s)
        if ((c & 0xC0) != 0x80) ++n;
    return n;
}

bool all_digits(std::string_view s) {
    if (s.empty()) return false;
    for (char c : s)
        if (c < '0' || c > '9') return false;
    return true;
}

int to_int(std::string_view s) {
    int n = 0;
    for (char c : s) n = n * 10 + (c - '0');
    return n;
}

std::string short_json(const json::value& v) {
    if (v.is_double()) {  // Boost.JSON writes 0.5 as 5E-1; people read the shortest plain form
        char buf[64];
        auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v.get_double());
        if (ec == std::errc()) return std::string(buf, end);
    }
    std::string s = json::serialize(v);
    if (s.size() > 60) s = s.substr(0, 57) + "...";
    return s;
}

// Resolves a local "$ref": "#/a/b" against the root document.
const json::value* resolve_ref(const json::value& root, std::string_view ref) {
    if (ref.empty() || ref[0] != '#') return nullptr;
    ref.remove_prefix(1);
    if (ref.empty()) return &root;
    // Percent-decoding of the fragment, then a JSON pointer lookup.
    std::string decoded;
    for (size_t i = 0; i < ref.size(); ++i) {
        if (ref[i] == '%' && i + 2 < ref.size()) {
            decoded += static_cast<char>(std::stoi(std::string(ref.substr(i + 1, 2)), nullptr, 16));
            i += 2;
        } else {
            decoded += ref[i];
        }
    }
    boost::system::error_code ec;
    const json::value* found = root.find_pointer(decoded, ec);
    return ec ? nullptr : found;
}

// Where a value sits in the instance, as a chain of tokens on the stack. The JSON pointer text is
// only built when a violation is reported, so validating a valid document allocates nothing.
struct Path {
    const Path* parent = nullptr;
    std::string_view key;  // object member, or
    size_t index = 0;      // array index when is_index
    bool is_index = false;

    Path child(std::string_view k) const { return Path{this, k, 0, false}; }
    Path item(size_t i) const { return Path{this, {}, i, true}; }

    std::string str() const {
        if (!parent) return "";
        std::string head = parent->str();
        head += '/';
        if (is_index) head += std::to_string(index);
        else head += escape_pointer_token(key);
        return head;
    }
};

enum class Kw : uint8_t {
    k_dollar_ref,
    k_additional_properties,
    k_all_of,
    k_any_of,
    k_const,
    k_enum,
    k_exclusive_maximum,
    k_exclusive_minimum,
    k_format,
    k_items,
    k_max_items,
    k_max_length,
    k_max_properties,
    k_min_items,
    k_min_length,
    k_min_properties,
    k_not,
    k_nullable,
    k_one_of,
    k_pattern,
    k_pattern_properties,
    k_prefix_items,
    k_properties,
    k_required,
    k_type,
    k_unique_items,
    k_minimum,
    k_maximum,
    k_multiple_of,
    count
};

// The keywords the checker reads, by name.
int keyword_id(std::string_view k) {
    switch (k.size()) {
        case 3:
            if (k == "not") return static_cast<int>(Kw::k_not);
            break;
        case 4:
            if (k == "$ref") return static_cast<int>(Kw::k_dollar_ref);
            if (k == "enum") return static_cast<int>(Kw::k_enum);
            if (k == "type") return static_cast<int>(Kw::k_type);
            break;
        case 5:
            if (k == "allOf") return static_cast<int>(Kw::k_all_of);
            if (k == "anyOf") return static_cast<int>(Kw::k_any_of);
            if (k == "const") return static_cast<int>(Kw::k_const);
            if (k == "items") return static_cast<int>(Kw::k_items);
            if (k == "oneOf") return static_cast<int>(Kw::k_one_of);
            break;
        case 6:
            if (k == "format") return static_cast<int>(Kw::k_format);
            break;
        case 7:
            if (k == "pattern") return static_cast<int>(Kw::k_pattern);
            if (k == "minimum") return static_cast<int>(Kw::k_minimum);
            if (k == "maximum") return static_cast<int>(Kw::k_maximum);
            break;
        case 8:
            if (k == "maxItems") return static_cast<int>(Kw::k_max_items);
            if (k == "minItems") return static_cast<int>(Kw::k_min_items);
            if (k == "nullable") return static_cast<int>(Kw::k_nullable);
            if (k == "required") return static_cast<int>(Kw::k_required);
            break;
        case 9:
            if (k == "maxLength") return static_cast<int>(Kw::k_max_length);
            if (k == "minLength") return static_cast<int>(Kw::k_min_length);
            break;
        case 10:
            if (k == "properties") return static_cast<int>(Kw::k_properties);
            if (k == "multipleOf") return static_cast<int>(Kw::k_multiple_of);
            break;
        case 11:
            if (k == "prefixItems") return static_cast<int>(Kw::k_prefix_items);
            if (k == "uniqueItems") return static_cast<int>(Kw::k_unique_items);
            break;
        case 13:
            if (k == "maxProperties") return static_cast<int>(Kw::k_max_properties);
            if (k == "minProperties") return static_cast<int>(Kw::k_min_properties);
            break;
        case 16:
            if (k == "exclusiveMaximum") return static_cast<int>(Kw::k_exclusive_maximum);
            if (k == "exclusiveMinimum") return static_cast<int>(Kw::k_exclusive_minimum);
            break;
        case 17:
            if (k == "patternProperties") return static_cast<int>(Kw::k_pattern_properties);
            break;
        case 20:
            if (k == "additionalProperties") return static_cast<int>(Kw::k_additional_properties);
            break;
    }
    return -1;
}

// Whether every match of the ECMAScript pattern `p` must begin at the start of the text: it opens
// with '^' and has no '|' outside groups and classes. Such a pattern is searched for at the first
// position only (match_continuous) instead of at every one, with the same answer. Unsure cases
// (an empty or negated-empty class, unbalanced groups, a \c control escape) answer false.
bool anchored_at_start(std::string_view p) {
    if (p.empty() || p[0] != '^') return false;
    int depth = 0;
    for (size_t i = 1; i < p.size(); ++i) {
        char c = p[i];
        if (c == '\\') {
            if (i + 1 < p.size() && p[i + 1] == 'c') return false;  // \cX takes the next character too
            ++i;
        } else if (c == '[') {
            size_t j = i + 1;
            if (j < p.size() && p[j] == '^') ++j;
            if (j < p.size() && p[j] == ']') return false;
            for (; j < p.size() && p[j] != ']'; ++j)
                if (p[j] == '\\') {
                    if (j + 1 < p.size() && p[j + 1] == 'c') return false;
                    ++j;
                }
            if (j >= p.size()) return false;
            i = j;
        } else if (c == '(') {
            ++depth;
        } else if (c == ')') {
            if (--depth < 0) return false;
        } else if (c == '|' && depth == 0) {
            return false;
        }
    }
    return depth == 0;
}

}  // namespace

bool CompiledPattern::found_in(std::string_view text) const {
    if (simple) return simple->search(text);
    auto flags = anchored ? std::regex_constants::match_continuous : std::regex_constants::match_default;
    return std::regex_search(text.begin(), text.end(), regex, flags);
}

namespace {

// A schema object's keywords, found in one pass over its entries instead of one lookup by name
// per keyword the checker asks about.
struct Keywords {
    const json::value* at[static_cast<size_t>(Kw::count)] = {};
    explicit Keywords(const json::object& s) {
        for (const auto& [k, v] : s)
            if (int id = keyword_id(k); id >= 0) at[id] = &v;
    }
    const json::value* operator[](Kw k) const { return at[static_cast<size_t>(k)]; }
};

struct Checker {
    const json::value& root;
    const Patterns& patterns;
    std::vector<Violation>& out;
    size_t limit;
    int depth = 0;
    const Definitions* defs = nullptr;

    const json::value* lookup(std::string_view ref) const {
        const json::value* t = resolve_ref(root, ref);
        if (!t && defs) t = resolve_ref(defs->doc, ref);
        return t;
    }
    const CompiledPattern* pattern(std::string_view p) const {
        auto it = patterns.find(p);
        if (it != patterns.end()) return it->second.get();
        if (defs)
            if (auto d = defs->patterns.find(p); d != defs->patterns.end()) return d->second.get();
        return nullptr;
    }

    bool full() const { return out.size() >= limit; }

    void fail(const Path& path, std::string msg) {
        if (!full()) out.push_back({path.str(), std::move(msg)});
    }

    // Validates into a scratch list; used by anyOf/oneOf/not where failures are not final.
    std::vector<Violation> trial(const json::value& schema, const json::value& v, const Path& ptr) {
        std::vector<Violation> scratch;
        Checker sub{root, patterns, scratch, 1, depth, defs};
        sub.check(schema, v, ptr);
        return scratch;
    }

    void check(const json::value& schema, const json::value& v, const Path& ptr) {
        if (full()) return;
        if (schema.is_bool()) {
            if (!schema.get_bool()) fail(ptr, "no value is allowed here");
            return;
        }
        const auto* s = schema.if_object();
        if (!s) return;
        if (++depth > 64) {
            fail(ptr, "schema nesting is too deep (a $ref cycle without progress?)");
            --depth;
            return;
        }
        struct DepthGuard { int& d; ~DepthGuard() { --d; } } guard{depth};
        const Keywords kw(*s);

        if (const auto* ref = kw[Kw::k_dollar_ref]; ref && ref->is_string()) {
            const json::value* target = lookup(ref->get_string());
            if (!target) {
                fail(ptr, "schema reference '" + std::string(ref->get_string()) + "' cannot be resolved");
                return;
            }
            check(*target, v, ptr);
        }

        bool nullable = false;
        if (const auto* n = kw[Kw::k_nullable]; n && n->is_bool()) nullable = n->get_bool();
        if (nullable && v.is_null()) return;

        if (const auto* t = kw[Kw::k_type]) {
            bool ok = true;
            if (t->is_string()) {
                ok = matches_type(v, t->get_string());
            } else if (t->is_array()) {
                ok = false;
                for (const auto& one : t->get_array())
                    if (one.is_string() && matches_type(v, one.get_string())) { ok = true; break; }
            }
            if (!ok) {
                std::string expected;  // written only for the message
                if (t->is_string()) expected = t->get_string();
                else
                    for (const auto& one : t->get_array()) {
                        if (!one.is_string()) continue;
                        if (!expected.empty()) expected += " or ";
                        expected += one.get_string();
                    }
                fail(ptr, "expected " + expected + ", got " + std::string(type_of(v)));
                return;  // the other keywords would only repeat the mismatch
            }
        }

        if (const auto* e = kw[Kw::k_enum]; e && e->is_array()) {
            bool found = false;
            for (const auto& opt : e->get_array())
                if (json_equal(opt, v)) { found = true; break; }
            if (!found) fail(ptr, "must be one of " + short_json(*e));
        }
        if (const auto* c = kw[Kw::k_const]; c && !json_equal(*c, v))
            fail(ptr, "must be " + short_json(*c));

        if (is_number(v)) check_number(kw, v, ptr);
        if (v.is_string()) check_string(kw, v.get_string(), ptr);
        if (v.is_array()) check_array(kw, v.get_array(), ptr);
        if (v.is_object()) check_object(kw, v.get_object(), ptr);

        if (const auto* all = kw[Kw::k_all_of]; all && all->is_array())
            for (const auto& sub : all->get_array()) check(sub, v, ptr);

        if (const auto* any = kw[Kw::k_any_of]; any && any->is_array()) {
            std::vector<Violation> first;
            bool matched = false;
            for (const auto& sub : any->get_array()) {
                auto errs = trial(sub, v, ptr);
                if (errs.empty()) { matched = true; break; }
                if (first.empty()) first = std::move(errs);
            }
            if (!matched) {
                std::string why = first.empty() ? "" : " (first option: " + first[0].message + " at '" + first[0].pointer + "')";
                fail(ptr, "does not match any of the allowed schemas (anyOf)" + why);
            }
        }
        if (const auto* one = kw[Kw::k_one_of]; one && one->is_array()) {
            size_t matches = 0;
            std::vector<Violation> first;
            for (const auto& sub : one->get_array()) {
                auto errs = trial(sub, v, ptr);
                if (errs.empty()) ++matches;
                else if (first.empty()) first = std::move(errs);
            }
            if (matches == 0) {
                std::string why = first.empty() ? "" : " (first option: " + first[0].message + " at '" + first[0].pointer + "')";
                fail(ptr, "does not match any of the allowed schemas (oneOf)" + why);
            } else if (matches > 1) {
                fail(ptr, "matches " + std::to_string(matches) + " schemas of oneOf; exactly one is allowed");
            }
        }
        if (const auto* no = kw[Kw::k_not]) {
            if (trial(*no, v, ptr).empty()) fail(ptr, "must not match the schema under 'not'");
        }
    }

    void check_number(const Keywords& kw, const json::value& v, const Path& ptr) {
        double x = as_double(v);
        auto num = [&](Kw k) -> const json::value* {
            const auto* p = kw[k];
            return (p && is_number(*p)) ? p : nullptr;
        };
        bool excl_min_flag = false, excl_max_flag = false;  // draft 4 boolean form
        if (const auto* b = kw[Kw::k_exclusive_minimum]; b && b->is_bool()) excl_min_flag = b->get_bool();
        if (const auto* b = kw[Kw::k_exclusive_maximum]; b && b->is_bool()) excl_max_flag = b->get_bool();
        if (const auto* m = num(Kw::k_minimum)) {
            double lim = as_double(*m);
            if (excl_min_flag ? !(x > lim) : !(x >= lim))
                fail(ptr, std::string("must be ") + (excl_min_flag ? "greater than " : "at least ") + short_json(*m));
        }
        if (const auto* m = num(Kw::k_maximum)) {
            double lim = as_double(*m);
            if (excl_max_flag ? !(x < lim) : !(x <= lim))
                fail(ptr, std::string("must be ") + (excl_max_flag ? "less than " : "at most ") + short_json(*m));
        }
        if (const auto* m = num(Kw::k_exclusive_minimum); m && !(x > as_double(*m)))
            fail(ptr, "must be greater than " + short_json(*m));
        if (const auto* m = num(Kw::k_exclusive_maximum); m && !(x < as_double(*m)))
            fail(ptr, "must be less than " + short_json(*m));
        if (const auto* m = num(Kw::k_multiple_of)) {
            double d = as_double(*m);
            if (d > 0) {
                double q = x / d;
                if (std::fabs(q - std::round(q)) > 1e-9) fail(ptr, "must be a multiple of " + short_json(*m));
            }
        }
    }

    void check_string(const Keywords& kw, std::string_view str, const Path& ptr) {
        size_t len = 0;
        bool counted = false;
        auto length = [&] {
            if (!counted) { len = utf8_length(str); counted = true; }
            return len;
        };
        if (const auto* m = kw[Kw::k_min_length]; m && is_number(*m) && length() < as_double(*m))
            fail(ptr, "must be at least " + short_json(*m) + " characters long");
        if (const auto* m = kw[Kw::k_max_length]; m && is_number(*m) && length() > as_double(*m))
            fail(ptr, "must be at most " + short_json(*m) + " characters long");
        if (const auto* p = kw[Kw::k_pattern]; p && p->is_string()) {
            const CompiledPattern* re = pattern(p->get_string());
            if (re && !re->found_in(str))
                fail(ptr, "must match the pattern " + short_json(*p));
        }
        if (const auto* f = kw[Kw::k_format]; f && f->is_string()) {
            std::string_view fmt = f->get_string();
            bool ok = true;
            if (fmt == "date-time") ok = is_date_time(str);
            else if (fmt == "date") ok = is_date(str);
            else if (fmt == "uri") ok = is_uri(str);
            else if (fmt == "email") ok = is_email(str);
            else if (fmt == "uuid") ok = is_uuid(str);
            else if (fmt == "ipv4") ok = is_ipv4(str);
            if (!ok) fail(ptr, "must be a valid " + std::string(fmt));
        }
    }

    void check_array(const Keywords& kw, const json::array& a, const Path& ptr) {
        if (const auto* m = kw[Kw::k_min_items]; m && is_number(*m) && a.size() < as_double(*m))
            fail(ptr, "must have at least " + short_json(*m) + " items");
        if (const auto* m = kw[Kw::k_max_items]; m && is_number(*m) && a.size() > as_double(*m))
            fail(ptr, "must have at most " + short_json(*m) + " items");
        if (const auto* u = kw[Kw::k_unique_items]; u && u->is_bool() && u->get_bool()) {
            for (size_t i = 0; i < a.size(); ++i)
                for (size_t j = i + 1; j < a.size(); ++j)
                    if (json_equal(a[i], a[j])) {
                        fail(ptr.item(j), "duplicates item " + std::to_string(i) + "; items must be unique");
                        i = a.size();
                        break;
                    }
        }
        size_t first_free = 0;
        if (const auto* prefix = kw[Kw::k_prefix_items]; prefix && prefix->is_array()) {
            const auto& ps = prefix->get_array();
            for (size_t i = 0; i < ps.size() && i < a.size(); ++i) check(ps[i], a[i], ptr.item(i));
            first_free = ps.size();
        }
        if (const auto* items = kw[Kw::k_items]) {
            if (items->is_array()) {  // draft 4-7 tuple form
                const auto& ts = items->get_array();
                for (size_t i = 0; i < ts.size() && i < a.size(); ++i) check(ts[i], a[i], ptr.item(i));
            } else {
                for (size_t i = first_free; i < a.size() && !full(); ++i) check(*items, a[i], ptr.item(i));
            }
        }
    }

    void check_object(const Keywords& kw, const json::object& o, const Path& ptr) {
        if (const auto* req = kw[Kw::k_required]; req && req->is_array()) {
            for (const auto& name : req->get_array()) {
                if (name.is_string() && !o.contains(name.get_string()))
                    fail(ptr.child(name.get_string()), "required field '" + std::string(name.get_string()) + "' is missing");
            }
        }
        if (const auto* m = kw[Kw::k_min_properties]; m && is_number(*m) && o.size() < as_double(*m))
            fail(ptr, "must have at least " + short_json(*m) + " fields");
        if (const auto* m = kw[Kw::k_max_properties]; m && is_number(*m) && o.size() > as_double(*m))
            fail(ptr, "must have at most " + short_json(*m) + " fields");

        const json::object* props = nullptr;
        if (const auto* p = kw[Kw::k_properties]) props = p->if_object();
        const json::object* pattern_props = nullptr;
        if (const auto* p = kw[Kw::k_pattern_properties]) pattern_props = p->if_object();
        const json::value* additional = kw[Kw::k_additional_properties];

        for (const auto& [key, value] : o) {
            if (full()) return;
            Path child = ptr.child(key);
            bool known = false;
            if (props) {
                if (const auto* sub = props->if_contains(key)) {
                    known = true;
                    check(*sub, value, child);
                }
            }
            if (pattern_props) {
                for (const auto& [pat, sub] : *pattern_props) {
                    const CompiledPattern* re = pattern(pat);
                    if (re && re->found_in(key)) {
                        known = true;
                        check(sub, value, child);
                    }
                }
            }
            if (!known && additional) {
                if (additional->is_bool()) {
                    if (!additional->get_bool()) fail(child, "unknown field '" + std::string(key) + "' is not allowed");
                } else {
                    check(*additional, value, child);
                }
            }
        }
    }
};

// Compiling a std::regex is slow (libstdc++ builds a 256-entry table for every bracket
// expression, asking the locale about each character), and the same few expressions recur across
// the schemas of a description or a manifest: compile each once per process. Bounded: past
// kMaxCached distinct expressions the cache starts over (schemas keep what they hold).
Pattern compile_pattern(const std::string& p) {
    constexpr size_t kMaxCached = 4096;
    static std::mutex mu;
    static std::unordered_map<std::string, Pattern> cache;
    {
        std::lock_guard lock(mu);
        if (auto it = cache.find(p); it != cache.end()) return it->second;
    }
    auto compiled = std::make_shared<CompiledPattern>();
    compiled->regex = std::regex(p, std::regex::ECMAScript | std::regex::optimize);  // throws regex_error
    compiled->simple = SimplePattern::compile(p);
    compiled->anchored = anchored_at_start(p);
    Pattern re = std::move(compiled);
    std::lock_guard lock(mu);
    if (cache.size() >= kMaxCached) cache.clear();
    cache.emplace(p, re);
    return re;
}

// Walks a schema document checking its shape and collecting regular expressions.
struct ShapeChecker {
    const json::value& root;
    Patterns& patterns;
    std::optional<Error> error;
    const Definitions* defs = nullptr;

    void bad(const std::string& ptr, std::string msg) {
        if (!error) error = Error(Errc::invalid_input, "schema " + (ptr.empty() ? std::string("root") : "'" + ptr + "'") + ": " + msg, ptr);
    }

    void add_pattern(const std::string& ptr, std::string_view pat) {
        if (patterns.count(pat) || (defs && defs->patterns.count(pat))) return;
        std::string p(pat);
        try {
            patterns.emplace(p, compile_pattern(p));
        } catch (const std::regex_error& e) {
            bad(ptr, "pattern " + short_json(json::value(pat)) + " is not a valid regular expression");
        }
    }

    void walk(const json::value& s, const std::string& ptr, int depth) {
        if (error) return;
        if (depth > 200) return bad(ptr, "schema is nested too deeply (over 200 levels)");
        if (s.is_bool()) return;
        const auto* o = s.if_object();
        if (!o) return bad(ptr, "a schema must be an object or a boolean, not " + std::string(type_of(s)));
        if (const auto* t = o->if_contains("type")) {
            auto check_name = [&](const json::value& n) {
                if (!n.is_string() || !kTypes.count(n.get_string()))
                    bad(ptr + "/type", "unknown type " + short_json(n) + "; use one of null, boolean, object, array, number, integer, string");
            };
            if (t->is_array()) for (const auto& n : t->get_array()) check_name(n);
            else check_name(*t);
        }
        if (const auto* r = o->if_contains("required")) {
            if (!r->is_array()) bad(ptr + "/required", "must be a list of field names");
            else for (const auto& n : r->get_array()) if (!n.is_string()) bad(ptr + "/required", "must list field names as strings");
        }
        for (std::string_view k : {"minimum", "maximum", "minLength", "maxLength", "minItems", "maxItems", "multipleOf", "minProperties", "maxProperties"}) {
            if (const auto* v = o->if_contains(k); v && !is_number(*v))
                bad(ptr + "/" + std::string(k), "must be a number");
        }
        if (const auto* e = o->if_contains("enum"); e && !e->is_array()) bad(ptr + "/enum", "must be a list of allowed values");
        if (const auto* p = o->if_contains("pattern")) {
            if (!p->is_string()) bad(ptr + "/pattern", "must be a string");
            else add_pattern(ptr + "/pattern", p->get_string());
        }
        if (const auto* r = o->if_contains("$ref")) {
            if (!r->is_string()) bad(ptr + "/$ref", "must be a string");
            else if (!resolve_ref(root, r->get_string()) && !(defs && resolve_ref(defs->doc, r->get_string())))
                bad(ptr + "/$ref", "cannot resolve '" + std::string(r->get_string()) + "'; only references within the same schema (\"#/...\") are supported");
        }
        for (std::string_view k : {"properties", "patternProperties", "$defs", "definitions"}) {
            if (const auto* p = o->if_contains(k)) {
                if (!p->is_object()) { bad(ptr + "/" + std::string(k), "must be an object of schemas"); continue; }
                for (const auto& [name, sub] : p->get_object()) {
                    if (k == "patternProperties") add_pattern(ptr + "/patternProperties", name);
                    walk(sub, ptr + "/" + std::string(k) + "/" + escape_pointer_token(name), depth + 1);
                }
            }
        }
        for (std::string_view k : {"additionalProperties", "not"}) {
            if (const auto* p = o->if_contains(k)) walk(*p, ptr + "/" + std::string(k), depth + 1);
        }
        if (const auto* items = o->if_contains("items")) {
            if (items->is_array()) {
                for (size_t i = 0; i < items->get_array().size(); ++i)
                    walk(items->get_array()[i], ptr + "/items/" + std::to_string(i), depth + 1);
            } else {
                walk(*items, ptr + "/items", depth + 1);
            }
        }
        for (std::string_view k : {"allOf", "anyOf", "oneOf", "prefixItems"}) {
            if (const auto* p = o->if_contains(k)) {
                if (!p->is_array() || p->get_array().empty()) { bad(ptr + "/" + std::string(k), "must be a non-empty list of schemas"); continue; }
                for (size_t i = 0; i < p->get_array().size(); ++i)
                    walk(p->get_array()[i], ptr + "/" + std::string(k) + "/" + std::to_string(i), depth + 1);
            }
        }
    }
};

}  // namespace

std::optional<Error> check_schema(const json::value& document, const Definitions* defs) {
    Patterns patterns;
    ShapeChecker checker{document, patterns, std::nullopt, defs};
    checker.walk(document, "", 0);
    return checker.error;
}

Result<std::shared_ptr<Definitions>> Definitions::compile(json::object defs) {
    auto d = std::make_shared<Definitions>();
    d->doc = json::object{{"$defs", std::move(defs)}};
    ShapeChecker checker{d->doc, d->patterns, std::nullopt};
    checker.walk(d->doc, "", 0);
    if (checker.error) return *checker.error;
    return d;
}

Result<Schema> Schema::compile(json::value document, std::shared_ptr<const Definitions> defs) {
    auto shared = std::make_shared<Shared>();
    shared->doc = std::move(document);
    shared->defs = std::move(defs);
    ShapeChecker checker{shared->doc, shared->patterns, std::nullopt, shared->defs.get()};
    checker.walk(shared->doc, "", 0);
    if (checker.error) return *checker.error;
    Schema s;
    s.doc_ = &shared->doc;
    s.shared_ = std::move(shared);
    return s;
}

std::vector<Violation> Schema::validate(const json::value& instance, size_t limit) const {
    std::vector<Violation> out;
    if (!shared_) return out;
    Checker c{shared_->doc, shared_->patterns, out, limit == 0 ? 1 : limit, 0, shared_->defs.get()};
    c.check(shared_->doc, instance, Path{});
    return out;
}

bool is_date(std::string_view s) {
    if (s.size() != 10 || s[4] != '-' || s[7] != '-') return false;
    auto y = s.substr(0, 4), m = s.substr(5, 2), d = s.substr(8, 2);
    if (!all_digits(y) || !all_digits(m) || !all_digits(d)) return false;
    int year = to_int(y), month = to_int(m), day = to_int(d);
    if (month < 1 || month > 12 || day < 1) return false;
    static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    int max_day = days[month - 1] + ((month == 2 && leap) ? 1 : 0);
    return day <= max_day;
}

bool is_date_time(std::string_view s) {
    // RFC 3339: full-date "T" HH:MM:SS[.frac](Z|+HH:MM|-HH:MM); "t"/"z" allowed too.
    if (s.size() < 20 || !is_date(s.substr(0, 10))) return false;
    if (s[10] != 'T' && s[10] != 't' && s[10] != ' ') return false;
    auto t = s.substr(11);
    if (t.size() < 9 || t[2] != ':' || t[5] != ':') return false;
    auto hh = t.substr(0, 2), mm = t.substr(3, 2), ss = t.substr(6, 2);
    if (!all_digits(hh) || !all_digits(mm) || !all_digits(ss)) return false;
    if (to_int(hh) > 23 || to_int(mm) > 59 || to_int(ss) > 60) return false;
    size_t i = 8;
    if (i < t.size() && t[i] == '.') {
        size_t start = ++i;
        while (i < t.size() && t[i] >= '0' && t[i] <= '9') ++i;
        if (i == start) return false;
    }
    auto zone = t.substr(i);
    if (zone == "Z" || zone == "z") return true;
    if (zone.size() != 6 || (zone[0] != '+' && zone[0] != '-') || zone[3] != ':') return false;
    auto zh = zone.substr(1, 2), zm = zone.substr(4, 2);
    return all_digits(zh) && all_digits(zm) && to_int(zh) <= 23 && to_int(zm) <= 59;
}

namespace {

bool ascii_digit(char c) { return c >= '0' && c <= '9'; }
bool hex_digit(char c) { return ascii_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }
bool percent_escape_at(std::string_view s, size_t i) {
    return s[i] == '%' && i + 2 < s.size() && hex_digit(s[i + 1]) && hex_digit(s[i + 2]);
}

// The common shape of a URI, checked by hand: a scheme, then after "//" an authority of a
// registered name (an IPv4 address is one too) with an optional port, then path, query and
// fragment. True only for a valid URI; false sends anything else (user info, IP literals, a
// character out of place) to Boost.URL's full parser, which decides.
bool plain_uri(std::string_view s) {
    size_t i = uri_scheme_end(s);
    if (i == std::string_view::npos) return false;
    ++i;
    if (s.substr(i, 2) == "//") {
        i += 2;
        while (i < s.size() && (uri_unreserved_or_sub_delim(s[i]) || percent_escape_at(s, i))) i += s[i] == '%' ? 3 : 1;
        if (i < s.size() && s[i] == ':') {
            ++i;
            while (i < s.size() && ascii_digit(s[i])) ++i;
        }
        if (i < s.size() && s[i] != '/' && s[i] != '?' && s[i] != '#') return false;
    }
    // Path, query and fragment: pchar ("@", ":" and the above), "/" and "?"; one "#" at most.
    bool fragment = false;
    while (i < s.size()) {
        char c = s[i];
        if (c == '%') {
            if (!percent_escape_at(s, i)) return false;
            i += 3;
            continue;
        }
        if (uri_unreserved_or_sub_delim(c) || c == ':' || c == '@' || c == '/' || c == '?') {
            ++i;
            continue;
        }
        if (c != '#' || fragment) return false;
        fragment = true;
        ++i;
    }
    return true;
}

}  // namespace

bool is_uri(std::string_view s) {
    if (plain_uri(s)) return true;
    auto r = parse_uri(s);
    return r.has_value() && !r->scheme().empty();
}

bool is_email(std::string_view s) {
    auto at = s.rfind('@');
    if (at == std::string_view::npos || at == 0 || at + 1 >= s.size() || at > 64) return false;
    auto local = s.substr(0, at), domain = s.substr(at + 1);
    if (local.front() == '.' || local.back() == '.' || local.find("..") != std::string_view::npos) return false;
    for (unsigned char c : local) {
        if (c <= 32 || c >= 127 || std::string_view("()<>[]:;@\\,\"").find(static_cast<char>(c)) != std::string_view::npos)
            return false;
    }
    if (domain.size() > 253 || domain.find('.') == std::string_view::npos) return false;
    size_t label = 0;
    for (size_t i = 0; i <= domain.size(); ++i) {
        if (i == domain.size() || domain[i] == '.') {
            if (label == 0 || label > 63) return false;
            if (domain[i - 1] == '-' || domain[i - label] == '-') return false;
            label = 0;
            continue;
        }
        char c = domain[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-';
        if (!ok) return false;
        ++label;
    }
    return true;
}

bool is_uuid(std::string_view s) {
    if (s.size() != 36) return false;
    for (size_t i = 0; i < s.size(); ++i) {
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (s[i] != '-') return false;
        } else if (!std::isxdigit(static_cast<unsigned char>(s[i]))) {
            return false;
        }
    }
    return true;
}

bool is_ipv4(std::string_view s) {
    int parts = 0;
    size_t i = 0;
    while (i <= s.size()) {
        size_t j = s.find('.', i);
        if (j == std::string_view::npos) j = s.size();
        auto part = s.substr(i, j - i);
        if (!all_digits(part) || part.size() > 3 || (part.size() > 1 && part[0] == '0') || to_int(part) > 255) return false;
        ++parts;
        i = j + 1;
        if (j == s.size()) break;
    }
    return parts == 4;
}

}  // namespace patchbay::schema
