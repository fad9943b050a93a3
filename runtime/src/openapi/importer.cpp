#include "openapi/importer.hpp"

#include "common/text.hpp"
#include "schema/json_schema.hpp"

#include <boost/json.hpp>

#include <algorithm>
#include <charconv>
#include <fstream>
#include <map>
#include <regex>
#include <set>

namespace patchbay::openapi {

namespace json = boost::json;

namespace {

const char* kMethods[] = {"get", "put", "post", "delete", "options", "head", "patch", "trace"};

std::string str(const json::object& o, std::string_view key) {
    const auto* v = o.if_contains(key);
    return v && v->is_string() ? std::string(v->get_string()) : std::string();
}

const json::object* obj(const json::object& o, std::string_view key) {
    const auto* v = o.if_contains(key);
    return v ? v->if_object() : nullptr;
}

const json::array* arr(const json::object& o, std::string_view key) {
    const auto* v = o.if_contains(key);
    return v ? v->if_array() : nullptr;
}

std::string upper(std::string s) {
    for (auto& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    return s;
}

// Lower-case letters, digits, '-' and '_', starting with a letter: for integration and auth names.
std::string slug(std::string_view text, std::string_view fallback) {
    std::string out;
    for (char c : text) {
        unsigned char u = static_cast<unsigned char>(c);
        if (std::isalnum(u)) out += static_cast<char>(std::tolower(u));
        else if (!out.empty() && out.back() != '_') out += '_';
    }
    while (!out.empty() && out.back() == '_') out.pop_back();
    if (out.empty() || !std::isalpha(static_cast<unsigned char>(out[0]))) out = std::string(fallback) + (out.empty() ? "" : "_" + out);
    return out.substr(0, 63);
}

bool wildcard_prefix(std::string_view pattern, std::string_view text) {
    if (!pattern.empty() && pattern.back() == '*') pattern.remove_suffix(1);
    else return text == pattern || (text.substr(0, pattern.size()) == pattern && text.size() > pattern.size() && text[pattern.size()] == '/');
    return text.substr(0, pattern.size()) == pattern;
}

// Keywords that describe or document rather than constrain; dropped to keep manifests small.
bool documentation_only(std::string_view key) {
    return key == "example" || key == "examples" || key == "xml" || key == "externalDocs" || key == "deprecated" ||
           key == "readOnly" || key == "writeOnly" || key == "discriminator" || key.rfind("x-", 0) == 0;
}

// Converts OpenAPI schemas into JSON Schema the runtime validates, collecting what their $refs
// name into `$defs` (each converted once, so cycles stay references).
class SchemaConverter {
public:
    explicit SchemaConverter(Documents& docs) : docs_(docs) {}

    Result<json::value> convert(size_t file, const json::value& node, int depth = 0) {
        if (depth > 200) return Error(Errc::invalid_input, "a schema nests more than 200 levels deep");
        if (node.is_bool()) return node.get_bool() ? json::value(json::object{}) : json::value(json::object{{"not", json::object{}}});
        const auto* o = node.if_object();
        if (!o) return json::value(json::object{});
        if (const auto* r = o->if_contains("$ref"); r && r->is_string()) {
            auto name = def_for(file, r->get_string());
            if (!name) return name.error();
            json::object ref{{"$ref", "#/$defs/" + schema::escape_pointer_token(*name)}};
            if (auto d = str(*o, "description"); !d.empty()) ref["description"] = d;
            return json::value(std::move(ref));
        }
        json::object out;
        bool discriminated = o->contains("discriminator");
        for (const auto& [k, v] : *o) {
            std::string_view key = k;
            if (documentation_only(key) && key != "x-nullable") continue;
            if (key == "x-nullable") {
                if (v.is_bool() && v.get_bool()) out["nullable"] = true;
            } else if (key == "properties" || key == "patternProperties" || key == "$defs" || key == "definitions" ||
                       key == "dependentSchemas") {
                json::object m;
                if (const auto* props = v.if_object())
                    for (const auto& [pk, pv] : *props) {
                        auto c = convert(file, pv, depth + 1);
                        if (!c) return c.error();
                        m[pk] = std::move(*c);
                    }
                out[key] = std::move(m);
            } else if (key == "allOf" || key == "anyOf" || key == "oneOf" || key == "prefixItems") {
                json::array a;
                if (const auto* items = v.if_array())
                    for (const auto& x : *items) {
                        auto c = convert(file, x, depth + 1);
                        if (!c) return c.error();
                        a.push_back(std::move(*c));
                    }
                // With a discriminator the branches may overlap; the discriminator picks one, so
                // validate "any of them" rather than "exactly one".
                out[(key == "oneOf" && discriminated) ? "anyOf" : key] = std::move(a);
            } else if (key == "items" || key == "additionalProperties" || key == "not" || key == "contains" || key == "propertyNames" ||
                       key == "additionalItems" || key == "if" || key == "then" || key == "else" || key == "unevaluatedProperties" ||
                       key == "unevaluatedItems") {
                if (v.is_array()) {  // tuple items (draft 4-2019)
                    json::array a;
                    for (const auto& x : v.get_array()) {
                        auto c = convert(file, x, depth + 1);
                        if (!c) return c.error();
                        a.push_back(std::move(*c));
                    }
                    out[key] = std::move(a);
                } else if (v.is_object() || v.is_bool()) {
                    if (v.is_bool() && key == "additionalProperties") {
                        out[key] = v;
                    } else {
                        auto c = convert(file, v, depth + 1);
                        if (!c) return c.error();
                        out[key] = std::move(*c);
                    }
                }
            } else if (key == "type" && v.is_string() && v.get_string() == "file") {
                out["type"] = "string";  // Swagger 2.0 uploads: the caller sends the content
            } else {
                out[key] = v;
            }
        }
        return json::value(std::move(out));
    }

    Result<std::string> def_for(size_t file, std::string_view ref) {
        auto at = docs_.resolve(file, ref);
        if (!at) return at.error();
        if (auto it = names_.find(at->key); it != names_.end()) return it->second;
        std::string pointer = at->key.substr(at->key.find('#') + 1);
        std::string base = pointer.substr(pointer.rfind('/') + 1);
        if (base.empty()) base = "schema";
        std::string name = base;
        for (int n = 2; used_.count(name); ++n) name = base + "_" + std::to_string(n);
        used_.insert(name);
        names_[at->key] = name;
        pending_.emplace_back(name, *at);
        return name;
    }

    // Converts every schema queued so far (and what those refer to). One that cannot be read
    // becomes "anything" ({}), with a warning: its users still import.
    json::object defs(std::vector<std::string>& warnings) {
        json::object out;
        for (size_t i = 0; i < pending_.size(); ++i) {
            auto [name, at] = pending_[i];
            // A definition that is itself only a $ref: follow it (a loop of those is an error,
            // not a schema that validates forever).
            auto target = docs_.deref(at.file, *at.node, at.key);
            Result<json::value> c = target ? convert(target->file, *target->node) : Result<json::value>(target.error());
            if (!c) {
                warnings.push_back("schema '" + at.key + "' cannot be read (" + c.error().message + "); it accepts any value");
                out[name] = json::object{};
                continue;
            }
            out[name] = std::move(*c);
        }
        return out;
    }

private:
    Documents& docs_;
    std::map<std::string, std::string> names_;
    std::set<std::string> used_;
    std::vector<std::pair<std::string, Located>> pending_;
};

struct Param {
    std::string name, in, style, property;
    bool explode = false, required = false, allow_reserved = false, json_content = false;
    json::value schema;
    std::string description;
};

std::string unescape_token(std::string_view t) {
    std::string out;
    for (size_t i = 0; i < t.size(); ++i) {
        if (t[i] == '~' && i + 1 < t.size() && (t[i + 1] == '0' || t[i + 1] == '1')) out += t[++i] == '0' ? '~' : '/';
        else out += t[i];
    }
    return out;
}

// Removes, one by one, the pieces of `schema` the runtime refuses to compile (at most 100),
// noting each one's pointer. False when it still does not compile.
bool make_compilable(json::value& schema, std::vector<std::string>& removed, std::shared_ptr<const schema::Definitions> library = nullptr) {
    for (int i = 0; i < 100; ++i) {
        auto problem = schema::check_schema(schema, library.get());
        if (!problem) return true;
        const std::string& ptr = problem->pointer;
        boost::system::error_code ec;
        json::value* at = ptr.empty() ? &schema : schema.find_pointer(ptr, ec);
        if (at && at->is_object() && at->get_object().contains("pattern") && problem->message.find("pattern") != std::string::npos) {
            at->get_object().erase("pattern");
            removed.push_back(ptr + "/pattern");
            continue;
        }
        if (ptr.empty()) return false;
        auto slash = ptr.rfind('/');
        json::value* parent = slash == 0 ? &schema : schema.find_pointer(ptr.substr(0, slash), ec);
        if (!parent) return false;
        std::string token = unescape_token(ptr.substr(slash + 1));
        if (auto* o = parent->if_object()) {
            if (!o->erase(token)) return false;
        } else if (auto* a = parent->if_array()) {
            size_t idx = 0;
            auto [p, e] = std::from_chars(token.data(), token.data() + token.size(), idx);
            if (e != std::errc() || idx >= a->size()) return false;
            (*a)[idx] = json::object{};
        } else {
            return false;
        }
        removed.push_back(ptr);
    }
    return false;
}

// The shared schemas, compiled, with the pieces the runtime refuses removed first (see above).
// They move into the result (its `doc`), not copied; when they cannot be made to compile, they
// stay in `defs` and the result is null.
std::shared_ptr<schema::Definitions> compilable_definitions(json::object& defs, std::vector<std::string>& removed) {
    json::value wrapped = json::object{{"$defs", std::move(defs)}};
    bool usable = make_compilable(wrapped, removed);
    defs = std::move(wrapped.at("$defs").as_object());
    if (!usable) return nullptr;
    auto compiled = schema::Definitions::compile(std::move(defs));  // the same check make_compilable passed
    return compiled ? *compiled : nullptr;
}

// A file upload's schema: a multipart field or a whole body of raw bytes (3.0 `format: binary`,
// 3.1 `contentMediaType` without `contentEncoding`, Swagger 2.0 `type: file`).
bool binary_schema(const json::value* s) {
    const auto* o = s ? s->if_object() : nullptr;
    if (!o) return false;
    std::string type = str(*o, "type");
    return type == "file" || (type == "string" && str(*o, "format") == "binary") ||
           (o->contains("contentMediaType") && !o->contains("contentEncoding") && (type.empty() || type == "string"));
}

// What an action's input takes for a file: its content in base64, or an object with the content
// (base64 or text), a file name and a content type (the shape binary answers come back in).
json::value file_input(std::string description, bool multiple) {
    json::object text{{"type", "string"}};
    json::object as_object{{"type", "object"},
                           {"properties", json::object{{"base64", text}, {"text", text}, {"filename", text}, {"content_type", text}}},
                           {"additionalProperties", false}};
    json::object file{{"anyOf", json::array{json::object{{"type", "string"}, {"description", "the file's content in base64"}}, std::move(as_object)}}};
    if (!description.empty()) description += " ";
    description += multiple ? "Files: a list, each" : "A file:";
    description += " its content in base64, or {\"base64\" or \"text\", \"filename\", \"content_type\"}.";
    if (!multiple) {
        file["description"] = description;
        return file;
    }
    return json::object{{"type", "array"}, {"items", std::move(file)}, {"description", description}};
}

std::string default_style(const std::string& in) { return (in == "query" || in == "cookie") ? "form" : "simple"; }

// A Swagger 2.0 non-body parameter's type keywords, as a schema.
json::object swagger2_schema(const json::object& p) {
    json::object s;
    for (const auto& [k, v] : p) {
        std::string_view key = k;
        if (key == "name" || key == "in" || key == "required" || key == "description" || key == "collectionFormat" ||
            key == "allowEmptyValue" || key.rfind("x-", 0) == 0)
            continue;
        s[k] = v;
    }
    return s;
}

struct AuthEntry {
    std::string scheme;  // the spec's name
    json::object manifest;
};

}  // namespace

std::string action_name(std::string_view text) {
    std::string out;
    for (char c : text) {
        unsigned char u = static_cast<unsigned char>(c);
        if (std::isalnum(u) || c == '_' || c == '-' || c == '.') out += c;
        else if (c == '{' || c == '}') continue;  // path variables read as their names
        else if (c == '/') out += '.';
        else if (!out.empty() && out.back() != '_') out += '_';
    }
    while (!out.empty() && (out.back() == '_' || out.back() == '.' || out.back() == '-')) out.pop_back();
    while (!out.empty() && (out.front() == '.' || out.front() == '_' || out.front() == '-')) out.erase(0, 1);
    if (out.empty() || !std::isalpha(static_cast<unsigned char>(out[0]))) out = "op_" + out;
    return out.substr(0, 128);
}

json::object ImportResult::report() const {
    json::array skip;
    for (const auto& s : skipped) skip.push_back(json::object{{"operation", s.operation}, {"reason", s.reason}});
    json::array auth;
    for (const auto& a : auth_types) auth.push_back(json::string(a));
    json::array warn;
    for (const auto& w : warnings) warn.push_back(json::string(w));
    return json::object{{"spec_version", spec_version}, {"operations", operations}, {"imported", imported},
                        {"skipped", std::move(skip)}, {"auth_types", std::move(auth)}, {"warnings", std::move(warn)}};
}

Result<ImportResult> import_spec(Documents docs, const ImportOptions& options) {
    ImportResult result;
    const auto* root = docs.root().if_object();
    if (!root) return Error(Errc::invalid_input, "the spec is not an object; expected an OpenAPI 3.x or Swagger 2.0 description");
    bool v2 = false;
    if (str(*root, "swagger") == "2.0") {
        v2 = true;
        result.spec_version = "2.0";
    } else if (auto v = str(*root, "openapi"); v.rfind("3.0", 0) == 0 || v.rfind("3.1", 0) == 0) {
        result.spec_version = v;
    } else if (root->contains("openapi") || root->contains("swagger")) {
        return Error(Errc::invalid_input, "unsupported version '" + (str(*root, "openapi") + str(*root, "swagger")) +
                                              "'; Patchbay imports Swagger 2.0 and OpenAPI 3.0 and 3.1");
    } else {
        return Error(Errc::invalid_input, "no 'openapi' or 'swagger' field: this is not an OpenAPI 3.x or Swagger 2.0 description");
    }
    if (options.name.empty() || !std::regex_match(options.name, std::regex("^[a-z][a-z0-9_-]{0,62}$")))
        return Error(Errc::invalid_input, "the integration name '" + options.name +
                                              "' is not valid: lower-case letters, digits, '-' and '_', starting with a letter");

    const json::object empty;
    const json::object& info = obj(*root, "info") ? *obj(*root, "info") : empty;

    // --- servers and their variables --------------------------------------------------------
    json::array servers;
    json::array variable_fields;
    json::object variable_defaults;
    if (!options.base_url.empty()) {
        servers.push_back(json::string(options.base_url));
    } else if (v2) {
        std::string host = str(*root, "host"), base = str(*root, "basePath");
        std::string scheme = "https";
        if (const auto* schemes = arr(*root, "schemes"); schemes && !schemes->empty() && (*schemes)[0].is_string()) {
            scheme = std::string((*schemes)[0].get_string());
            for (const auto& s : *schemes)
                if (s.is_string() && s.get_string() == "https") scheme = "https";
        }
        servers.push_back(json::string(host.empty() ? base : scheme + "://" + host + base));
    } else if (const auto* list = arr(*root, "servers")) {
        std::set<std::string> seen;
        for (const auto& s : *list) {
            const auto* so = s.if_object();
            if (!so || str(*so, "url").empty()) continue;
            servers.push_back(json::string(str(*so, "url")));
            if (const auto* vars = obj(*so, "variables"))
                for (const auto& [vn, vv] : *vars) {
                    if (!seen.insert(std::string(vn)).second) continue;
                    json::object field{{"name", std::string(vn)}, {"title", std::string(vn)}, {"required", false}};
                    if (const auto* vo = vv.if_object()) {
                        if (const auto* d = vo->if_contains("default")) {
                            field["default"] = *d;
                            variable_defaults[vn] = *d;
                        }
                        if (auto desc = str(*vo, "description"); !desc.empty()) field["description"] = desc;
                    }
                    variable_fields.push_back(std::move(field));
                }
        }
    }
    if (servers.empty()) servers.push_back(json::string(""));

    // --- security schemes → auth types ------------------------------------------------------
    std::vector<AuthEntry> auths;
    std::map<std::string, std::vector<std::string>> auth_names_of;  // spec scheme -> manifest auth names
    const json::object* schemes = v2 ? obj(*root, "securityDefinitions")
                                     : (obj(*root, "components") ? obj(*obj(*root, "components"), "securitySchemes") : nullptr);
    std::set<std::string> taken;
    auto unique_auth = [&](std::string base) {
        std::string n = base;
        for (int i = 2; taken.count(n); ++i) n = base.substr(0, 58) + "_" + std::to_string(i);
        taken.insert(n);
        return n;
    };
    if (schemes) {
        for (const auto& [sname, sv] : *schemes) {
            auto located = docs.deref(0, sv, "#/securitySchemes/" + std::string(sname));
            if (!located || !located->node->is_object()) {
                result.warnings.push_back("security scheme '" + std::string(sname) + "' could not be read; left out");
                continue;
            }
            const auto& s = located->node->get_object();
            std::string type = str(s, "type");
            auto add = [&](json::object m, const std::string& suffix = "") {
                std::string n = unique_auth(slug(std::string(sname) + suffix, "auth"));
                m["name"] = n;
                if (str(s, "description").size()) m["title"] = str(s, "description").substr(0, 200);
                else m["title"] = std::string(sname);
                auths.push_back({std::string(sname), std::move(m)});
                auth_names_of[std::string(sname)].push_back(n);
            };
            if (type == "apiKey") {
                std::string in = str(s, "in");
                if (in != "header" && in != "query" && in != "cookie") {
                    result.warnings.push_back("security scheme '" + std::string(sname) + "': apiKey in '" + in + "' is not supported; left out");
                    continue;
                }
                add(json::object{{"type", "api_key"}, {"in", in}, {"parameter", str(s, "name")}});
            } else if (type == "basic" || (type == "http" && ascii_lower(str(s, "scheme")) == "basic")) {
                add(json::object{{"type", "basic"}});
            } else if (type == "http" && ascii_lower(str(s, "scheme")) == "bearer") {
                add(json::object{{"type", "bearer"}});
            } else if (type == "oauth2") {
                auto scopes_of = [](const json::object& flow) {
                    json::array sc;
                    if (const auto* m = obj(flow, "scopes"))
                        for (const auto& [k, v] : *m) sc.push_back(json::string(k));
                    return sc;
                };
                auto absolute = [](const std::string& u) { return u.rfind("https://", 0) == 0 || u.rfind("http://", 0) == 0; };
                std::vector<std::pair<std::string, const json::object*>> flows;
                if (v2) {
                    std::string flow = str(s, "flow");
                    if (flow == "accessCode") flows.emplace_back("authorizationCode", &s);
                    else if (flow == "application") flows.emplace_back("clientCredentials", &s);
                    else result.warnings.push_back("security scheme '" + std::string(sname) + "': OAuth2 flow '" + flow + "' is not supported; left out");
                } else if (const auto* f = obj(s, "flows")) {
                    for (const auto& [fname, fv] : *f) {
                        if ((fname == "authorizationCode" || fname == "clientCredentials") && fv.is_object())
                            flows.emplace_back(std::string(fname), &fv.get_object());
                        else
                            result.warnings.push_back("security scheme '" + std::string(sname) + "': OAuth2 flow '" + std::string(fname) +
                                                      "' is not supported; left out");
                    }
                }
                for (const auto& [fname, flow] : flows) {
                    std::string token = str(*flow, "tokenUrl"), authorize = str(*flow, "authorizationUrl");
                    bool code = fname == "authorizationCode";
                    if (!absolute(token) || (code && !absolute(authorize))) {
                        result.warnings.push_back("security scheme '" + std::string(sname) + "': its OAuth2 URLs are not absolute; left out");
                        continue;
                    }
                    json::object m{{"type", code ? "oauth2_authorization_code" : "oauth2_client_credentials"}, {"tokenUrl", token},
                                   {"scopes", scopes_of(*flow)}};
                    if (code) m["authorizationUrl"] = authorize;
                    add(std::move(m), flows.size() > 1 ? (code ? "_code" : "_client") : "");
                }
            } else {
                result.warnings.push_back("security scheme '" + std::string(sname) + "' of type '" + type + "' is not supported; left out");
            }
        }
    }
    bool anonymous_ok = auths.empty();
    // Requirements: top-level ones apply to operations that say nothing.
    const json::array* top_security = arr(*root, "security");
    for (const auto* req_list : {top_security}) {
        if (req_list && req_list->empty()) anonymous_ok = true;
        if (req_list)
            for (const auto& r : *req_list)
                if (r.is_object() && r.get_object().empty()) anonymous_ok = true;
    }
    json::array auth_list;
    if (anonymous_ok || auths.empty()) auth_list.push_back(json::object{{"type", "none"}, {"name", "none"}, {"title", "No authentication"}});
    for (auto& a : auths) auth_list.push_back(a.manifest);
    for (auto& a : auth_list) {
        if (!variable_fields.empty()) a.as_object()["fields"] = variable_fields;
        result.auth_types.push_back(std::string(a.at("name").as_string()));
    }

    // --- operations -------------------------------------------------------------------------
    struct Op {
        std::string method, path, id;
        const json::object* node;
        const json::object* item;
        size_t file;
    };
    std::vector<Op> ops;
    if (const auto* paths = obj(*root, "paths")) {
        for (const auto& [path, pv] : *paths) {
            if (path.starts_with("x-")) continue;  // extensions, not paths
            auto item = docs.deref(0, pv, "#/paths");
            if (!item || !item->node->is_object()) {
                result.skipped.push_back({std::string(path), item ? "the path item is not an object" : item.error().message});
                continue;
            }
            const auto& io = item->node->get_object();
            for (const char* m : kMethods) {
                const auto* op = obj(io, m);
                if (!op) continue;
                ops.push_back({m, std::string(path), str(*op, "operationId"), op, &io, item->file});
            }
        }
    }
    auto excluded = [&](const Op& op, std::string& why) {
        std::vector<std::string> tags;
        if (const auto* t = arr(*op.node, "tags"))
            for (const auto& x : *t)
                if (x.is_string()) tags.emplace_back(x.get_string());
        auto any_tag = [&](const std::vector<std::string>& wanted) {
            for (const auto& t : tags)
                if (std::find(wanted.begin(), wanted.end(), t) != wanted.end()) return true;
            return false;
        };
        auto any_path = [&](const std::vector<std::string>& patterns) {
            for (const auto& p : patterns)
                if (wildcard_prefix(p, op.path)) return true;
            return false;
        };
        auto any_op = [&](const std::vector<std::string>& ids) {
            std::string name = action_name(op.id.empty() ? op.method + op.path : op.id);
            return std::find(ids.begin(), ids.end(), op.id) != ids.end() || std::find(ids.begin(), ids.end(), name) != ids.end();
        };
        if (!options.include_tags.empty() && !any_tag(options.include_tags)) return why = "not in an included tag", true;
        if (any_tag(options.exclude_tags)) return why = "in an excluded tag", true;
        if (!options.include_paths.empty() && !any_path(options.include_paths)) return why = "not under an included path", true;
        if (any_path(options.exclude_paths)) return why = "under an excluded path", true;
        if (!options.include_operations.empty() && !any_op(options.include_operations)) return why = "not an included operation", true;
        if (any_op(options.exclude_operations)) return why = "an excluded operation", true;
        return false;
    };

    SchemaConverter converter(docs);
    // Kept as JSON text until the shared schemas are known: a big description's actions take
    // several times less memory so than as trees, next to the description's own tree.
    struct Candidate {
        std::string action, op_config;
        const Op* op;
    };
    std::vector<Candidate> candidates;
    candidates.reserve(ops.size());
    std::set<std::string> action_names;
    json::array actions;
    json::object operations;
    size_t done = 0;
    for (const auto& op : ops) {
        if (options.progress) options.progress(done++, ops.size());
        std::string label = upper(op.method) + " " + op.path;
        std::string why;
        if (excluded(op, why)) continue;
        ++result.operations;
        auto skip = [&](std::string reason) { result.skipped.push_back({op.id.empty() ? label : op.id + " (" + label + ")", std::move(reason)}); };

        // Parameters: the path item's, overridden by the operation's (same name and place).
        std::vector<Param> params;
        std::optional<std::string> failure;
        json::value body_schema;
        std::string body_type;
        bool body_required = false;
        json::object body_files;   // multipart fields that carry files -> {contentType}
        bool body_binary = false;  // the body is one file's bytes
        std::vector<Param> form_fields;  // Swagger 2.0 formData
        auto take_params = [&](const json::array* list, size_t file) {
            if (!list) return;
            for (const auto& pv : *list) {
                auto at = docs.deref(file, pv, "#/parameters");
                if (!at || !at->node->is_object()) {
                    failure = at ? "a parameter is not an object" : at.error().message;
                    return;
                }
                const auto& p = at->node->get_object();
                Param x;
                x.name = str(p, "name");
                x.in = str(p, "in");
                x.description = str(p, "description");
                x.required = x.in == "path" || (p.contains("required") && p.at("required").is_bool() && p.at("required").get_bool());
                if (v2 && x.in == "body") {
                    auto c = converter.convert(at->file, p.contains("schema") ? p.at("schema") : json::value(json::object{}));
                    if (!c) {
                        failure = c.error().message;
                        return;
                    }
                    body_schema = std::move(*c);
                    body_type = "application/json";
                    // `consumes` (the operation's, else the document's) names the media type.
                    const json::array* consumes = arr(*op.node, "consumes");
                    if (!consumes) consumes = arr(*root, "consumes");
                    if (consumes && !consumes->empty()) {
                        std::string first;
                        bool json_ok = false;
                        for (const auto& t : *consumes)
                            if (t.is_string()) {
                                if (first.empty()) first = std::string(t.get_string());
                                if (ascii_lower(std::string(t.get_string())).find("json") != std::string::npos) json_ok = true;
                            }
                        if (!json_ok && !first.empty()) body_type = first;
                    }
                    if (body_type.find("json") == std::string::npos && p.contains("schema")) {
                        auto target = docs.deref(at->file, p.at("schema"), "#/schema");
                        if (target && binary_schema(target->node)) {
                            body_binary = true;
                            body_schema = file_input(str(p, "description"), false);
                        }
                    }
                    body_required = x.required;
                    continue;
                }
                if (v2) {
                    auto c = converter.convert(at->file, json::value(swagger2_schema(p)));
                    if (!c) {
                        failure = c.error().message;
                        return;
                    }
                    x.schema = std::move(*c);
                    std::string cf = str(p, "collectionFormat");
                    x.style = default_style(x.in);
                    x.explode = false;
                    if (cf == "multi") x.explode = true;
                    else if (cf == "ssv") x.style = "spaceDelimited";
                    else if (cf == "pipes") x.style = "pipeDelimited";
                    if (x.in == "formData") {
                        if (str(p, "type") == "file") {
                            body_files[x.name] = json::object{};
                            x.schema = file_input(x.description, false);
                        }
                        form_fields.push_back(std::move(x));
                        continue;
                    }
                } else {
                    x.style = p.contains("style") ? str(p, "style") : default_style(x.in);
                    x.explode = p.contains("explode") && p.at("explode").is_bool() ? p.at("explode").get_bool() : x.style == "form";
                    x.allow_reserved = p.contains("allowReserved") && p.at("allowReserved").is_bool() && p.at("allowReserved").get_bool();
                    const json::value* schema_node = p.if_contains("schema");
                    if (!schema_node)
                        if (const auto* content = obj(p, "content"); content && !content->empty()) {
                            schema_node = content->begin()->value().is_object() ? content->begin()->value().get_object().if_contains("schema") : nullptr;
                            x.json_content = true;
                        }
                    auto c = converter.convert(at->file, schema_node ? *schema_node : json::value(json::object{}));
                    if (!c) {
                        failure = c.error().message;
                        return;
                    }
                    x.schema = std::move(*c);
                }
                if (x.name.empty()) {
                    result.warnings.push_back(upper(op.method) + " " + op.path + ": a parameter without a name was left out");
                    continue;
                }
                if (x.in != "path" && x.in != "query" && x.in != "header" && x.in != "cookie") {
                    failure = "parameter '" + x.name + "' is in '" + x.in + "', which is not path, query, header or cookie";
                    return;
                }
                auto same = std::find_if(params.begin(), params.end(), [&](const Param& q) { return q.name == x.name && q.in == x.in; });
                if (same != params.end()) *same = std::move(x);
                else params.push_back(std::move(x));
            }
        };
        take_params(arr(*op.item, "parameters"), op.file);
        take_params(arr(*op.node, "parameters"), op.file);
        if (failure) {
            skip(*failure);
            continue;
        }
        // A {name} in the path without a parameter cannot be filled in.
        for (size_t open = op.path.find('{'); open != std::string::npos; open = op.path.find('{', open + 1)) {
            size_t close = op.path.find('}', open + 1);
            if (close == std::string::npos) break;
            if (close == open + 1) continue;
            std::string n = op.path.substr(open + 1, close - open - 1);
            open = close;
            if (std::none_of(params.begin(), params.end(), [&](const Param& p) { return p.in == "path" && p.name == n; })) {
                params.push_back(Param{n, "path", "simple", "", false, true, false, false, json::object{{"type", "string"}}, ""});
                result.warnings.push_back(label + ": path variable '" + n + "' has no parameter; imported as a required string");
            }
        }

        // Request body (3.x).
        if (!v2) {
            if (const auto* rb = op.node->if_contains("requestBody")) {
                auto at = docs.deref(op.file, *rb, "#/requestBody");
                if (!at || !at->node->is_object()) {
                    skip(at ? "the request body is not an object" : at.error().message);
                    continue;
                }
                const auto& b = at->node->get_object();
                body_required = b.contains("required") && b.at("required").is_bool() && b.at("required").get_bool();
                if (const auto* content = obj(b, "content")) {
                    static const char* preferred[] = {"application/json", "application/x-www-form-urlencoded", "multipart/form-data", "text/plain"};
                    const json::value* chosen = nullptr;
                    for (const char* want : preferred)
                        if (const auto* c = content->if_contains(want)) {
                            chosen = c;
                            body_type = want;
                            break;
                        }
                    if (!chosen)
                        for (const auto& [ct, cv] : *content)
                            if (ascii_lower(std::string(ct)).find("json") != std::string::npos) {
                                chosen = &cv;
                                body_type = std::string(ct);
                                break;
                            }
                    if (!chosen && !content->empty()) {
                        chosen = &content->begin()->value();
                        body_type = std::string(content->begin()->key());
                    }
                    const json::value* s = chosen && chosen->is_object() ? chosen->get_object().if_contains("schema") : nullptr;
                    std::string lowered = ascii_lower(body_type);
                    std::optional<Located> target;
                    if (s)
                        if (auto t = docs.deref(at->file, *s, "#/requestBody/schema")) target = *t;
                    bool multipart = lowered == "multipart/form-data";
                    bool raw = !multipart && lowered != "application/x-www-form-urlencoded" && lowered.find("json") == std::string::npos &&
                               lowered.rfind("text/", 0) != 0 && lowered.find("xml") == std::string::npos;
                    if (raw && (!s || (target && binary_schema(target->node)))) {
                        // Bytes of a file (application/octet-stream, image/png, */* ...).
                        body_binary = true;
                        body_schema = file_input(target ? str(target->node->as_object(), "description") : "", false);
                    } else {
                        // A multipart body's own fields are converted in place (not as a shared
                        // schema), so its file fields can take files.
                        bool inline_fields = multipart && target && target->node->is_object() && target->node->get_object().contains("properties");
                        auto c = inline_fields ? converter.convert(target->file, *target->node)
                                               : converter.convert(at->file, s ? *s : json::value(json::object{}));
                        if (!c) {
                            skip(c.error().message);
                            continue;
                        }
                        body_schema = std::move(*c);
                        if (inline_fields && body_schema.is_object() && body_schema.get_object().contains("properties")) {
                            const json::object* encoding = chosen->is_object() ? obj(chosen->get_object(), "encoding") : nullptr;
                            auto& converted = body_schema.as_object()["properties"].as_object();
                            for (const auto& [field, fv] : target->node->get_object().at("properties").as_object()) {
                                if (!converted.contains(field)) continue;
                                auto f = docs.deref(target->file, fv, "#/properties");
                                if (!f || !f->node->is_object()) continue;
                                bool multiple = str(f->node->get_object(), "type") == "array";
                                const json::value* one = f->node;
                                std::optional<Located> item;
                                if (multiple)
                                    if (const auto* items = f->node->get_object().if_contains("items"))
                                        if (auto i = docs.deref(f->file, *items, "#/items")) item = *i, one = i->node;
                                if (!binary_schema(one) || (multiple && !item)) continue;
                                // The part's content type: the encoding's (first if a list), else 3.1's contentMediaType.
                                std::string ct;
                                if (const auto* e = encoding ? obj(*encoding, field) : nullptr) ct = str(*e, "contentType");
                                if (ct.empty()) ct = str(one->get_object(), "contentMediaType");
                                if (auto comma = ct.find(','); comma != std::string::npos) ct.resize(comma);
                                while (!ct.empty() && ct.back() == ' ') ct.pop_back();
                                json::object spec;
                                if (!ct.empty() && ct.find('*') == std::string::npos) spec["contentType"] = ct;
                                body_files[field] = std::move(spec);
                                converted[field] = file_input(str(f->node->get_object(), "description"), multiple);
                            }
                        }
                    }
                }
            }
        } else if (!form_fields.empty()) {
            bool multipart = !body_files.empty();  // files go only in multipart
            const json::array* consumes = arr(*op.node, "consumes");
            if (!consumes) consumes = arr(*root, "consumes");
            if (consumes)
                for (const auto& c : *consumes)
                    if (c.is_string() && c.get_string() == "multipart/form-data") multipart = true;
            json::object props;
            json::array req;
            for (auto& f : form_fields) {
                props[f.name] = f.schema;
                if (f.required) req.push_back(json::string(f.name));
            }
            body_schema = json::object{{"type", "object"}, {"properties", std::move(props)}, {"required", std::move(req)}};
            body_type = multipart ? "multipart/form-data" : "application/x-www-form-urlencoded";
            body_required = true;
        }

        // Input: one property per parameter (prefixed by its place when names clash), plus "body".
        json::object properties;
        json::array required;
        std::map<std::string, int> name_count;
        for (const auto& p : params) name_count[p.name]++;
        json::array param_config;
        for (auto& p : params) {
            p.property = name_count[p.name] > 1 ? p.in + "_" + p.name : p.name;
            json::value s = p.schema;
            if (!p.description.empty() && s.is_object() && !s.get_object().contains("description")) s.as_object()["description"] = p.description;
            properties[p.property] = std::move(s);
            if (p.required) required.push_back(json::string(p.property));
            json::object pc{{"name", p.name}, {"in", p.in}, {"style", p.style}, {"explode", p.explode}};
            if (p.property != p.name) pc["property"] = p.property;
            if (p.allow_reserved) pc["allowReserved"] = true;
            if (p.json_content) pc["content"] = "application/json";
            param_config.push_back(std::move(pc));
        }
        json::object op_config{{"method", upper(op.method)}, {"path", op.path}, {"parameters", std::move(param_config)}};
        // How the operation pages, when the spec says so in our extension (admins may also
        // write it into the manifest by hand).
        if (const auto* pg = op.node->if_contains("x-patchbay-pagination"); pg && pg->is_object()) op_config["pagination"] = *pg;
        if (!body_type.empty()) {
            std::string prop = properties.contains("body") ? "request_body" : "body";
            properties[prop] = body_schema.is_null() ? json::value(json::object{}) : body_schema;
            if (body_required) required.push_back(json::string(prop));
            json::object body{{"property", prop}, {"contentType", body_type}};
            if (!body_files.empty()) body["files"] = std::move(body_files);
            if (body_binary) body["binary"] = true;
            op_config["body"] = std::move(body);
        }

        // Output: the first success response's schema.
        json::value output;
        if (const auto* responses = obj(*op.node, "responses")) {
            const json::value* success = nullptr;
            for (const auto& [code, rv] : *responses)
                if (!code.empty() && code[0] == '2') {
                    success = &rv;
                    break;
                }
            if (success) {
                auto at = docs.deref(op.file, *success, "#/responses");
                if (at && at->node->is_object()) {
                    const auto& r = at->node->get_object();
                    const json::value* s = nullptr;
                    if (v2) {
                        s = r.if_contains("schema");
                    } else if (const auto* content = obj(r, "content")) {
                        for (const auto& [ct, cv] : *content)
                            if (ascii_lower(std::string(ct)).find("json") != std::string::npos && cv.is_object()) {
                                s = cv.get_object().if_contains("schema");
                                break;
                            }
                    }
                    if (s) {
                        auto c = converter.convert(at->file, *s);
                        if (c) output = std::move(*c);
                    }
                }
            }
        }

        // Security: the operation's own requirements, or the document's.
        const json::array* security = arr(*op.node, "security");
        if (!security) security = top_security;
        if (security) {
            json::array alternatives;
            for (const auto& r : *security) {
                json::array names;
                bool usable = true;
                if (const auto* ro = r.if_object())
                    for (const auto& [sn, sv] : *ro) {
                        auto it = auth_names_of.find(std::string(sn));
                        if (it == auth_names_of.end()) usable = false;
                        else
                            for (const auto& n : it->second) names.push_back(json::string(n));
                    }
                if (usable) alternatives.push_back(std::move(names));
            }
            op_config["security"] = std::move(alternatives);
        }

        json::object input{{"type", "object"}, {"properties", std::move(properties)}, {"additionalProperties", false}};
        if (!required.empty()) input["required"] = std::move(required);
        json::value input_value = std::move(input);

        std::string name = action_name(op.id.empty() ? op.method + op.path : op.id);  // "get/orders/{id}" -> get.orders.id
        std::string base = name;
        for (int n = 2; action_names.count(name); ++n) name = base.substr(0, 120) + "_" + std::to_string(n);
        action_names.insert(name);
        std::string title = str(*op.node, "summary");
        if (title.empty()) title = op.id.empty() ? label : op.id;
        std::string description = str(*op.node, "description");
        if (op.node->contains("deprecated") && op.node->at("deprecated") == true) description = "Deprecated. " + description;
        json::object action{{"name", name}, {"title", title.substr(0, 300)}, {"input", std::move(input_value)}};
        if (!description.empty()) action["description"] = description;
        if (!output.is_null()) action["output"] = std::move(output);
        std::string m = upper(op.method);
        action["idempotent"] = m == "GET" || m == "HEAD" || m == "PUT" || m == "DELETE" || m == "OPTIONS";
        Candidate& c = candidates.emplace_back(Candidate{json::serialize(action), json::serialize(op_config), &op});
        c.action.shrink_to_fit();
        c.op_config.shrink_to_fit();
    }
    if (options.progress) options.progress(ops.size(), ops.size());

    // What the manifest takes from the description's top level.
    std::string version = str(info, "version");
    std::string title = options.title.empty() ? str(info, "title") : options.title;
    std::string description = str(info, "description");
    std::optional<json::object> organizations;
    if (const auto* orgs = root->if_contains("x-patchbay-organizations"); orgs && orgs->is_object())
        organizations.emplace(orgs->get_object(), json::storage_ptr());  // a copy on the heap, not in the description's arena

    // The component schemas the actions refer to, converted once and shared by all of them (the
    // manifest's `schemas`). Schemas must compile for the runtime: patterns in another regex
    // dialect and keywords in the wrong place are what real specs get wrong, so those pieces are
    // dropped, not the operations.
    auto all_defs = converter.defs(result.warnings);
    { Documents done_reading = std::move(docs); }  // the last read: free the description's tree now
    std::vector<std::string> removed;
    auto library = compilable_definitions(all_defs, removed);
    if (!removed.empty())
        result.warnings.push_back("left out of the shared schemas what the runtime cannot use: " + removed.front() +
                                  (removed.size() > 1 ? " and " + std::to_string(removed.size() - 1) + " more" : ""));
    for (auto& candidate : candidates) {
        std::string label = upper(candidate.op->method) + " " + candidate.op->path;
        struct {
            json::object action, op_config;
            std::string skip_label, label;
        } c{std::move(json::parse(candidate.action).as_object()), std::move(json::parse(candidate.op_config).as_object()),
            candidate.op->id.empty() ? label : candidate.op->id + " (" + label + ")", label};
        std::string().swap(candidate.action);
        std::string().swap(candidate.op_config);
        json::value& input_value = c.action["input"];
        std::vector<std::string> dropped;
        if (!make_compilable(input_value, dropped, library)) {
            result.skipped.push_back({c.skip_label, "its input schema cannot be compiled: " + schema::check_schema(input_value, library.get())->message});
            continue;
        }
        if (!dropped.empty())
            result.warnings.push_back(c.label + ": left out of its input schema what the runtime cannot use: " + dropped.front() +
                                      (dropped.size() > 1 ? " and " + std::to_string(dropped.size() - 1) + " more" : ""));
        if (auto* out = c.action.if_contains("output")) {
            std::vector<std::string> ignored;
            if (!make_compilable(*out, ignored, library)) c.action.erase("output");
        }
        std::string name(c.action.at("name").as_string());
        actions.push_back(std::move(c.action));
        operations[name] = std::move(c.op_config);
        ++result.imported;
    }
    if (library) all_defs = std::move(library->doc.as_object()["$defs"].as_object());  // checks done: take them back
    if (result.imported == 0) {
        if (!result.skipped.empty())
            return Error(Errc::invalid_input, "none of the description's operations could be imported; the first refusal: " +
                                                  result.skipped.front().operation + ": " + result.skipped.front().reason);
        return Error(Errc::invalid_input, result.operations == 0 && !ops.empty()
                                              ? "the filters leave no operation to import"
                                              : "the description has no operations (its 'paths' is empty)");
    }

    static const std::regex semver("^(0|[1-9][0-9]*)\\.(0|[1-9][0-9]*)\\.(0|[1-9][0-9]*)$");
    json::object manifest{{"apiVersion", "patchbay/v1"}, {"name", options.name}};
    manifest["version"] = std::regex_match(version, semver) ? version : "1.0.0";
    manifest["title"] = title.empty() ? options.name : title.substr(0, 200);
    if (!description.empty()) manifest["description"] = description.substr(0, 2000);
    manifest["plugin"] = "openapi";
    json::object config{{"servers", std::move(servers)}, {"operations", std::move(operations)}};
    if (!variable_defaults.empty()) config["variables"] = std::move(variable_defaults);
    if (!options.spec_reference.empty()) config["spec"] = options.spec_reference;
    config["specVersion"] = result.spec_version;
    if (!version.empty()) config["apiVersion"] = version;
    manifest["config"] = std::move(config);
    manifest["auth"] = std::move(auth_list);
    if (!all_defs.empty()) manifest["schemas"] = std::move(all_defs);
    manifest["actions"] = std::move(actions);
    if (organizations) {
        json::object& mapping = *organizations;
        mapping["supported"] = true;
        // The operation is named as in the spec; the manifest knows it by its action name.
        if (auto id = str(mapping, "operation"); !id.empty()) mapping["operation"] = action_name(id);
        manifest["organizations"] = std::move(mapping);
    }
    result.manifest = std::move(manifest);
    return result;
}

namespace {

bool needs_quotes(std::string_view s) {
    if (s.empty()) return true;
    if (s.front() == ' ' || s.back() == ' ' || s.find('\n') != std::string_view::npos) return true;
    // Only words and numbers can read back as something else; most strings start otherwise.
    char c = s[0];
    bool wordish = std::string_view("~nNtTfFyYoO.+-").find(c) != std::string_view::npos;
    bool numeric = (c >= '0' && c <= '9') || c == '.' || c == '+' || c == '-';
    if (!wordish && !numeric) return false;
    static const std::set<std::string_view> words = {"~", "null", "Null", "NULL", "true", "True", "TRUE", "false", "False", "FALSE",
                                                     ".inf", ".Inf", "+.inf", "-.inf", "-.Inf", ".nan", ".NaN", "y", "n", "yes", "no",
                                                     "on", "off", "Y", "N", "Yes", "No", "On", "Off"};
    if (words.count(s)) return true;
    const char* b = s.data();
    const char* e = b + s.size();
    if (*b == '+') ++b;
    double d;
    auto [p, ec] = std::from_chars(b, e, d);
    return ec == std::errc() && p == e;
}

// A plain scalar is written bare only when YAML reads it back as the same string.
bool plain_ok(std::string_view s) {
    if (needs_quotes(s)) return false;
    if (std::string_view("-?:,[]{}#&*!|>'\"%@`").find(s[0]) != std::string_view::npos) return false;
    for (size_t i = 0; i < s.size(); ++i) {
        unsigned char c = static_cast<unsigned char>(s[i]);
        if (c < 0x20 || c == 0x7f) return false;
        if (c == ':' && (i + 1 == s.size() || s[i + 1] == ' ')) return false;
        if (c == '#' && i > 0 && s[i - 1] == ' ') return false;
    }
    return true;
}

void scalar(std::string& out, std::string_view s) {
    if (plain_ok(s)) {
        out += s;
        return;
    }
    static const char* hex = "0123456789abcdef";
    out += '"';
    for (unsigned char c : s) {
        switch (c) {
            case '"': out += "\\\""; break;
            case '\\': out += "\\\\"; break;
            case '\n': out += "\\n"; break;
            case '\t': out += "\\t"; break;
            case '\r': out += "\\r"; break;
            default:
                if (c < 0x20 || c == 0x7f) {
                    out += "\\x";
                    out += hex[c >> 4];
                    out += hex[c & 15];
                } else {
                    out += static_cast<char>(c);
                }
        }
    }
    out += '"';
}

bool nested(const json::value& v) {
    return (v.is_object() && !v.get_object().empty()) || (v.is_array() && !v.get_array().empty());
}

void emit_scalar(std::string& out, const json::value& v) {
    switch (v.kind()) {
        case json::kind::null: out += "null"; break;
        case json::kind::bool_: out += v.get_bool() ? "true" : "false"; break;
        case json::kind::int64: out += std::to_string(v.get_int64()); break;
        case json::kind::uint64: out += std::to_string(v.get_uint64()); break;
        case json::kind::double_: out += json::serialize(v); break;
        case json::kind::string: scalar(out, v.get_string()); break;
        case json::kind::object: out += "{}"; break;
        case json::kind::array: out += "[]"; break;
    }
}

// Where YAML goes: a string, flushed to a stream every megabyte when there is one, so a large
// manifest is never all in memory twice.
struct Sink {
    std::string buf;
    std::ostream* os = nullptr;
    void maybe_flush() {
        if (os && buf.size() > (1u << 20)) {
            os->write(buf.data(), static_cast<std::streamsize>(buf.size()));
            buf.clear();
        }
    }
};

// Block style: one key or item per line, nested collections indented by two. `inline_first`:
// the first line continues one already started ("- ").
void emit(Sink& sink, const json::value& v, size_t indent, bool inline_first);

void emit_object(Sink& sink, const json::object& o, size_t indent, bool inline_first) {
    std::string& out = sink.buf;
    bool first = true;
    for (const auto& [k, x] : o) {
        if (!(first && inline_first)) out.append(indent, ' ');
        first = false;
        scalar(out, k);
        out += ':';
        if (nested(x)) {
            out += '\n';
            emit(sink, x, indent + 2, false);
        } else {
            out += ' ';
            emit_scalar(out, x);
            out += '\n';
        }
        sink.maybe_flush();
    }
}

void emit(Sink& sink, const json::value& v, size_t indent, bool inline_first) {
    std::string& out = sink.buf;
    bool first = true;
    auto line_start = [&] {
        if (!(first && inline_first)) out.append(indent, ' ');
        first = false;
    };
    if (const auto* o = v.if_object(); o && !o->empty()) return emit_object(sink, *o, indent, inline_first);
    if (const auto* a = v.if_array(); a && !a->empty()) {
        for (const auto& x : *a) {
            line_start();
            out += "- ";
            if (nested(x)) {
                emit(sink, x, indent + 2, true);
            } else {
                emit_scalar(out, x);
                out += '\n';
            }
            sink.maybe_flush();
        }
        return;
    }
    line_start();
    emit_scalar(out, v);
    out += '\n';
}

}  // namespace

Status write_manifest(const std::filesystem::path& folder, const ImportResult& result, const std::string& spec_label, bool replace) {
    namespace fs = std::filesystem;
    std::string name(result.manifest.at("name").as_string());
    std::error_code ec;
    if (!fs::is_directory(folder, ec))
        return Error(Errc::internal, "the manifests folder '" + folder.string() + "' does not exist; create it or pass --manifests DIR");
    fs::path target = folder / (name + ".yaml");
    if (fs::exists(target, ec) && !replace)
        return Error(Errc::conflict, target.filename().string() + " exists in the manifests folder; import with force (--force) to replace it");
    fs::path tmp = folder / ("." + name + ".yaml.tmp");
    {
        std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
        out << "# Imported by `patchbay openapi import` from " << spec_label << " (" << result.spec_version
            << "). Re-run the import to update it.\n";
        Sink sink{{}, &out};
        emit_object(sink, result.manifest, 0, false);  // not emit(json::value): that would copy it all
        out.write(sink.buf.data(), static_cast<std::streamsize>(sink.buf.size()));
        out.flush();
        if (!out) return Error(Errc::internal, "cannot write " + tmp.string());
    }
    fs::rename(tmp, target, ec);
    if (ec) return Error(Errc::internal, "cannot move the manifest into place: " + ec.message());
    return std::nullopt;
}

std::string to_yaml(const json::value& value) {
    Sink sink;
    emit(sink, value, 0, false);
    return std::move(sink.buf);
}

}  // namespace patchbay::openapi
