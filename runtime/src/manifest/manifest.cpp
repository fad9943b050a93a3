#include "manifest/manifest.hpp"

#include "manifest/yaml_json.hpp"

#include <boost/json.hpp>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>

namespace patchbay::manifest {

namespace json = boost::json;
namespace fs = std::filesystem;

std::string Diagnostic::to_string() const {
    std::string s = file;
    if (line > 0) s += ":" + std::to_string(line) + ":" + std::to_string(column);
    return s + ": " + message;
}

const AuthType* Manifest::find_auth(std::string_view name) const {
    for (const auto& a : auth)
        if (a.name == name) return &a;
    return nullptr;
}

const Action* Manifest::find_action(std::string_view n) const {
    for (const auto& a : actions)
        if (a.name == n) return &a;
    return nullptr;
}

const Trigger* Manifest::find_trigger(std::string_view n) const {
    for (const auto& t : triggers)
        if (t.name == n) return &t;
    return nullptr;
}

std::optional<std::chrono::milliseconds> parse_duration(std::string_view t) {
    if (t.empty()) return std::nullopt;
    size_t i = 0;
    double value = 0;
    bool digits = false, dot = false;
    double scale = 0.1;
    for (; i < t.size(); ++i) {
        char c = t[i];
        if (c >= '0' && c <= '9') {
            digits = true;
            if (dot) { value += (c - '0') * scale; scale /= 10; }
            else value = value * 10 + (c - '0');
        } else if (c == '.' && !dot) {
            dot = true;
        } else {
            break;
        }
    }
    if (!digits) return std::nullopt;
    auto unit = t.substr(i);
    double ms;
    if (unit.empty() || unit == "s") ms = value * 1000;
    else if (unit == "ms") ms = value;
    else if (unit == "m") ms = value * 60'000;
    else if (unit == "h") ms = value * 3'600'000;
    else return std::nullopt;
    return std::chrono::milliseconds(static_cast<int64_t>(ms));
}

namespace {

const std::regex kNameRe("^[a-z][a-z0-9_-]{0,62}$");
const std::regex kActionNameRe("^[A-Za-z][A-Za-z0-9_.-]{0,127}$");
const std::regex kVersionRe("^(0|[1-9][0-9]*)\\.(0|[1-9][0-9]*)\\.(0|[1-9][0-9]*)([-+][0-9A-Za-z.+-]+)?$");
const std::regex kShaRe("^[0-9a-fA-F]{64}$");

size_t edit_distance(std::string_view a, std::string_view b) {
    std::vector<size_t> prev(b.size() + 1), cur(b.size() + 1);
    for (size_t j = 0; j <= b.size(); ++j) prev[j] = j;
    for (size_t i = 1; i <= a.size(); ++i) {
        cur[0] = i;
        for (size_t j = 1; j <= b.size(); ++j)
            cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1)});
        std::swap(prev, cur);
    }
    return prev[b.size()];
}

std::string suggest(std::string_view key, const std::vector<std::string_view>& known) {
    std::string_view best;
    size_t best_d = 3;
    for (auto k : known) {
        size_t d = edit_distance(key, k);
        if (d < best_d) { best_d = d; best = k; }
    }
    if (!best.empty()) return "; did you mean '" + std::string(best) + "'?";
    std::string all;
    for (auto k : known) all += (all.empty() ? "" : ", ") + std::string(k);
    return "; known keys are: " + all;
}

class Parser {
public:
    Parser(const fs::path& file) : file_(file), display_(file.string()) {}

    ParseResult run(std::string_view text) {
        ParseResult out;
        YAML::Node root;
        try {
            root = YAML::Load(std::string(text));
        } catch (const YAML::ParserException& e) {
            add(e.mark, "YAML syntax error: " + e.msg + "; check the indentation and quoting on this line");
            out.diagnostics = std::move(diags_);
            return out;
        } catch (const YAML::Exception& e) {
            add(e.mark, std::string("cannot read YAML: ") + e.msg);
            out.diagnostics = std::move(diags_);
            return out;
        }
        if (!root.IsDefined() || root.IsNull()) {
            add_plain("the file is empty; a manifest starts with 'apiVersion: patchbay/v1' and 'name: ...'");
            out.diagnostics = std::move(diags_);
            return out;
        }
        if (!root.IsMap()) {
            add(root.Mark(), "a manifest must be a mapping of keys (apiVersion, name, version, ...), not a " + kind(root));
            out.diagnostics = std::move(diags_);
            return out;
        }
        try {
            parse_root(root);
        } catch (const YAML::Exception& e) {
            add(e.mark, std::string("cannot read this value: ") + e.msg);
        }
        out.name_hint = m_.name;
        out.diagnostics = std::move(diags_);
        if (out.diagnostics.empty()) out.manifest = std::move(m_);
        return out;
    }

private:
    static std::string kind(const YAML::Node& n) {
        switch (n.Type()) {
            case YAML::NodeType::Map: return "mapping";
            case YAML::NodeType::Sequence: return "list";
            case YAML::NodeType::Scalar: return "single value";
            case YAML::NodeType::Null: return "null";
            default: return "nothing";
        }
    }

    void add(const YAML::Mark& mark, std::string message) {
        Diagnostic d;
        d.file = display_;
        if (!mark.is_null()) {
            d.line = mark.line + 1;
            d.column = mark.column + 1;
        }
        d.message = std::move(message);
        diags_.push_back(std::move(d));
    }
    void add_plain(std::string message) { diags_.push_back({display_, 0, 0, std::move(message)}); }

    void check_keys(const YAML::Node& map, const std::string& where, const std::vector<std::string_view>& known) {
        for (const auto& kv : map) {
            std::string key = kv.first.Scalar();
            if (key.rfind("x-", 0) == 0) continue;  // extensions are always allowed
            if (std::find(known.begin(), known.end(), key) == known.end())
                add(kv.first.Mark(), where + "unknown key '" + key + "'" + suggest(key, known));
        }
    }

    // Reads a required or optional string field; returns "" when missing or wrong.
    std::string string_field(const YAML::Node& map, const char* key, const std::string& where, bool required,
                             const char* example) {
        YAML::Node n = map[key];
        if (!n.IsDefined() || n.IsNull()) {
            if (required) add(map.Mark(), where + "missing required key '" + key + "'; add for example " + key + ": " + example);
            return {};
        }
        if (!n.IsScalar()) {
            add(n.Mark(), where + "'" + key + "' must be a single value, not a " + kind(n) + "; write for example " + key + ": " + example);
            return {};
        }
        return n.Scalar();
    }

    bool bool_field(const YAML::Node& map, const char* key, const std::string& where, bool fallback) {
        YAML::Node n = map[key];
        if (!n.IsDefined() || n.IsNull()) return fallback;
        if (n.IsScalar()) {
            const std::string& s = n.Scalar();
            if (s == "true" || s == "True" || s == "TRUE") return true;
            if (s == "false" || s == "False" || s == "FALSE") return false;
        }
        add(n.Mark(), where + "'" + key + "' must be true or false");
        return fallback;
    }

    std::optional<schema::Schema> schema_field(const YAML::Node& map, const char* key, const std::string& where) {
        YAML::Node n = map[key];
        if (!n.IsDefined() || n.IsNull()) return std::nullopt;
        if (!n.IsMap()) {
            add(n.Mark(), where + "'" + key + "' must be a JSON Schema written as a mapping, e.g. {type: object, properties: {...}}");
            return std::nullopt;
        }
        MarkMap marks;
        json::value doc = yaml_to_json(n, &marks);
        auto compiled = schema::Schema::compile(std::move(doc), m_.schemas);
        if (!compiled) {
            const auto& ptr = compiled.error().pointer;
            YAML::Mark mark = n.Mark();
            // Walk up the pointer until a recorded position is found.
            std::string p = ptr;
            while (true) {
                auto it = marks.find(p);
                if (it != marks.end()) { mark = it->second; break; }
                auto slash = p.rfind('/');
                if (slash == std::string::npos) break;
                p.resize(slash);
            }
            add(mark, where + "'" + key + "': " + compiled.error().message);
            return std::nullopt;
        }
        return std::move(compiled).value();
    }

    void parse_root(const YAML::Node& root) {
        check_keys(root, "", {"apiVersion", "name", "version", "title", "description", "library", "sha256", "plugin",
                              "config", "rawSecrets", "auth", "actions", "triggers", "organizations", "rateLimits", "schemas"});

        m_.file = file_;
        m_.api_version = string_field(root, "apiVersion", "", true, "patchbay/v1");
        if (!m_.api_version.empty() && m_.api_version != kApiVersion) {
            add(root["apiVersion"].Mark(), "apiVersion '" + m_.api_version + "' is not supported; this runtime reads 'patchbay/v1'");
        }
        m_.name = string_field(root, "name", "", true, "my-tool");
        if (!m_.name.empty() && !std::regex_match(m_.name, kNameRe))
            add(root["name"].Mark(), "name '" + m_.name + "' is not valid; use lower-case letters, digits, '-' and '_', starting with a letter (e.g. 'halo-psa')");
        m_.version = string_field(root, "version", "", true, "1.0.0");
        if (!m_.version.empty() && !std::regex_match(m_.version, kVersionRe))
            add(root["version"].Mark(), "version '" + m_.version + "' is not a semantic version; write MAJOR.MINOR.PATCH such as 1.2.0");
        m_.title = string_field(root, "title", "", true, "My Tool");
        m_.description = string_field(root, "description", "", false, "");

        std::string library = string_field(root, "library", "", false, "libmy-tool.so");
        std::string plugin = string_field(root, "plugin", "", false, "openapi");
        if (library.empty() && plugin.empty()) {
            add(root.Mark(), "missing 'library' (the plugin's shared library, relative to this file) or 'plugin' (the name of the plugin this manifest configures)");
        } else if (!library.empty() && !plugin.empty()) {
            add(root["plugin"].Mark(), "give either 'library' or 'plugin', not both");
        } else if (!library.empty()) {
            fs::path lib(library);
            m_.library = lib.is_absolute() ? lib : (file_.parent_path() / lib).lexically_normal();
        } else {
            if (!std::regex_match(plugin, kNameRe))
                add(root["plugin"].Mark(), "plugin '" + plugin + "' is not a valid integration name");
            m_.plugin = plugin;
        }
        std::string sha = string_field(root, "sha256", "", false, "");
        if (!sha.empty()) {
            if (!std::regex_match(sha, kShaRe)) {
                add(root["sha256"].Mark(), "sha256 must be 64 hexadecimal characters (run: sha256sum LIBRARY)");
            } else if (!m_.library) {
                add(root["sha256"].Mark(), "sha256 applies to 'library'; this manifest has none");
            } else {
                std::transform(sha.begin(), sha.end(), sha.begin(), [](unsigned char c) { return std::tolower(c); });
                m_.sha256 = sha;
            }
        }
        if (YAML::Node c = root["config"]; c.IsDefined() && !c.IsNull()) {
            if (!c.IsMap()) add(c.Mark(), "'config' must be a mapping of settings for the plugin");
            else m_.config = yaml_to_json(c);
        }
        m_.raw_secrets = bool_field(root, "rawSecrets", "", false);

        if (YAML::Node sc = root["schemas"]; sc.IsDefined() && !sc.IsNull()) {
            if (!sc.IsMap()) {
                add(sc.Mark(), "'schemas' must be a mapping of names to JSON Schemas, which actions refer to as {$ref: '#/$defs/NAME'}");
            } else {
                json::value defs = yaml_to_json(sc);
                auto compiled = schema::Definitions::compile(std::move(defs.as_object()));
                if (!compiled) add(sc.Mark(), "schemas: " + compiled.error().message);
                else m_.schemas = *compiled;
            }
        }
        parse_auth(root["auth"]);
        parse_actions(root["actions"]);
        parse_triggers(root["triggers"]);

        if (YAML::Node o = root["organizations"]; o.IsDefined() && !o.IsNull()) {
            if (o.IsScalar()) {
                m_.organizations = bool_field(root, "organizations", "", false);
            } else if (o.IsMap()) {
                check_keys(o, "organizations: ", {"supported", "operation", "id", "name", "domain", "items", "input", "pageSize", "parameter"});
                m_.organizations = bool_field(o, "supported", "organizations: ", true);
                m_.organizations_config = yaml_to_json(o);
            } else {
                add(o.Mark(), "'organizations' must be true/false or a mapping such as {supported: true}");
            }
        }
        parse_rate_limits(root["rateLimits"]);
        if (m_.actions.empty() && m_.triggers.empty() && !m_.organizations && diags_.empty() && !m_.plugin &&
            !(root["actions"].IsDefined()))
            add(root.Mark(), "the manifest declares no actions, triggers or organization listing; add an 'actions' list");
    }

    void parse_rate_limits(const YAML::Node& n) {
        if (!n.IsDefined() || n.IsNull()) return;
        if (!n.IsSequence()) {
            add(n.Mark(), "'rateLimits' must be a list such as [{requests: 100, per: 1m, scope: connection}]");
            return;
        }
        for (size_t i = 0; i < n.size(); ++i) {
            const YAML::Node& r = n[i];
            std::string where = "rateLimits[" + std::to_string(i) + "]: ";
            if (!r.IsMap()) {
                add(r.Mark(), where + "each budget is a mapping such as {requests: 100, per: 1m, scope: connection}");
                continue;
            }
            check_keys(r, where, {"requests", "per", "scope"});
            host::RateRule rule;
            std::string count = string_field(r, "requests", where, true, "100");
            try {
                size_t used = 0;
                rule.requests = std::stoll(count, &used);
                if (used != count.size() || rule.requests <= 0) rule.requests = 0;
            } catch (...) {
                rule.requests = 0;
            }
            if (!count.empty() && rule.requests == 0) add(r["requests"].Mark(), where + "requests must be a whole number above 0");
            std::string per = string_field(r, "per", where, true, "1m");
            if (!per.empty()) {
                auto d = parse_duration(per);
                if (!d || d->count() <= 0) add(r["per"].Mark(), where + "per must be a duration such as 1s, 1m or 1h");
                else rule.window = *d;
            }
            std::string scope = string_field(r, "scope", where, false, "connection");
            if (scope == "host") rule.per_host = true;
            else if (!scope.empty() && scope != "connection")
                add(r["scope"].Mark(), where + "scope '" + scope + "' is unknown; use connection (the default) or host");
            if (rule.requests > 0 && rule.window.count() > 0) m_.rate_rules.push_back(rule);
        }
    }

    void parse_auth(const YAML::Node& n) {
        if (!n.IsDefined() || n.IsNull()) {
            AuthType none;
            none.type = none.name = "none";
            none.title = "No authentication";
            m_.auth.push_back(none);
            return;
        }
        if (!n.IsSequence()) {
            add(n.Mark(), "'auth' must be a list of auth types, e.g. - type: api_key");
            return;
        }
        static const std::vector<std::string_view> types = {"none", "api_key", "basic", "bearer",
                                                            "oauth2_client_credentials", "oauth2_authorization_code", "custom"};
        std::set<std::string> names;
        size_t i = 0;
        for (const auto& a : n) {
            std::string where = "auth[" + std::to_string(i++) + "]: ";
            if (!a.IsMap()) { add(a.Mark(), where + "each auth type is a mapping with at least 'type'"); continue; }
            check_keys(a, where, {"type", "name", "title", "in", "parameter", "prefix", "authorizationUrl", "tokenUrl", "scopes", "clientAuth", "fields"});
            AuthType t;
            t.type = string_field(a, "type", where, true, "api_key");
            if (t.type.empty()) continue;
            if (std::find(types.begin(), types.end(), t.type) == types.end()) {
                std::string list;
                for (auto k : types) list += (list.empty() ? "" : ", ") + std::string(k);
                add(a["type"].Mark(), where + "unknown auth type '" + t.type + "'; use one of " + list);
                continue;
            }
            t.name = string_field(a, "name", where, false, "");
            if (t.name.empty()) t.name = t.type;
            if (!names.insert(t.name).second)
                add(a.Mark(), where + "auth type name '" + t.name + "' is used twice; give each a distinct 'name'");
            t.title = string_field(a, "title", where, false, "");
            if (t.type == "api_key") {
                t.in = string_field(a, "in", where, true, "header");
                if (!t.in.empty() && t.in != "header" && t.in != "query" && t.in != "cookie")
                    add(a["in"].Mark(), where + "'in' must be header, query or cookie");
                t.parameter = string_field(a, "parameter", where, true, "X-API-Key");
                t.prefix = string_field(a, "prefix", where, false, "");
                t.fields.push_back({"api_key", "API key", "", true, true, {}});
            } else if (t.type == "basic") {
                t.fields.push_back({"username", "Username", "", false, true, {}});
                t.fields.push_back({"password", "Password", "", true, true, {}});
            } else if (t.type == "bearer") {
                t.fields.push_back({"token", "Token", "", true, true, {}});
            } else if (t.type.rfind("oauth2_", 0) == 0) {
                t.token_url = string_field(a, "tokenUrl", where, true, "https://login.example.com/oauth/token");
                if (!t.token_url.empty() && !schema::is_uri(t.token_url))
                    add(a["tokenUrl"].Mark(), where + "tokenUrl must be an absolute URL");
                if (t.type == "oauth2_authorization_code") {
                    t.authorization_url = string_field(a, "authorizationUrl", where, true, "https://login.example.com/oauth/authorize");
                    if (!t.authorization_url.empty() && !schema::is_uri(t.authorization_url))
                        add(a["authorizationUrl"].Mark(), where + "authorizationUrl must be an absolute URL");
                }
                if (YAML::Node s = a["scopes"]; s.IsDefined() && !s.IsNull()) {
                    if (!s.IsSequence()) add(s.Mark(), where + "'scopes' must be a list of scope names");
                    else for (const auto& sc : s) if (sc.IsScalar()) t.scopes.push_back(sc.Scalar());
                }
                std::string ca = string_field(a, "clientAuth", where, false, "basic");
                if (ca == "post") t.client_auth = "post";
                else if (!ca.empty() && ca != "basic")
                    add(a["clientAuth"].Mark(), where + "clientAuth '" + ca + "' is unknown; use basic (the default) or post");
                t.fields.push_back({"client_id", "Client ID", "", false, true, {}});
                t.fields.push_back({"client_secret", "Client secret", "", true, true, {}});
            }
            if (YAML::Node f = a["fields"]; f.IsDefined() && !f.IsNull()) {
                if (!f.IsSequence()) {
                    add(f.Mark(), where + "'fields' must be a list of {name, title, secret}");
                } else {
                    size_t j = 0;
                    for (const auto& fld : f) {
                        std::string fw = where + "fields[" + std::to_string(j++) + "]: ";
                        if (!fld.IsMap()) { add(fld.Mark(), fw + "each field is a mapping with at least 'name'"); continue; }
                        check_keys(fld, fw, {"name", "title", "description", "secret", "required", "default"});
                        AuthField af;
                        af.name = string_field(fld, "name", fw, true, "tenant_id");
                        af.title = string_field(fld, "title", fw, false, "");
                        af.description = string_field(fld, "description", fw, false, "");
                        af.secret = bool_field(fld, "secret", fw, false);
                        af.required = bool_field(fld, "required", fw, true);
                        if (YAML::Node d = fld["default"]; d.IsDefined()) af.default_value = yaml_to_json(d);
                        auto same = std::find_if(t.fields.begin(), t.fields.end(), [&](const AuthField& x) { return x.name == af.name; });
                        if (same != t.fields.end()) *same = af;  // a manifest may refine a built-in field
                        else if (!af.name.empty()) t.fields.push_back(af);
                    }
                }
            } else if (t.type == "custom") {
                add(a.Mark(), where + "a custom auth type needs a 'fields' list naming what the admin enters");
            }
            m_.auth.push_back(std::move(t));
        }
        if (m_.auth.empty() && diags_.empty()) add(n.Mark(), "'auth' is empty; list at least one auth type, or '- type: none'");
    }

    void parse_actions(const YAML::Node& n) {
        if (!n.IsDefined() || n.IsNull()) return;
        if (!n.IsSequence()) {
            add(n.Mark(), "'actions' must be a list, e.g.\n  actions:\n    - name: send_message\n      title: Send a message");
            return;
        }
        std::set<std::string> names;
        size_t i = 0;
        for (const auto& a : n) {
            std::string where = "actions[" + std::to_string(i++) + "]: ";
            if (!a.IsMap()) { add(a.Mark(), where + "each action is a mapping with name, title and input"); continue; }
            check_keys(a, where, {"name", "title", "description", "input", "output", "timeout", "idempotent"});
            Action act;
            act.name = string_field(a, "name", where, true, "send_message");
            if (!act.name.empty()) {
                where = "action '" + act.name + "': ";
                if (!std::regex_match(act.name, kActionNameRe))
                    add(a["name"].Mark(), where + "name must start with a letter and use letters, digits, '_', '-' or '.'");
                else if (!names.insert(act.name).second)
                    add(a["name"].Mark(), where + "declared twice; action names must be unique");
            }
            act.title = string_field(a, "title", where, true, "Send a message");
            act.description = string_field(a, "description", where, false, "");
            auto input = schema_field(a, "input", where);
            if (input) act.input = std::move(*input);
            else act.input = std::move(schema::Schema::compile(json::object{{"type", "object"}})).value();
            act.output = schema_field(a, "output", where);
            if (YAML::Node t = a["timeout"]; t.IsDefined() && !t.IsNull()) {
                auto d = t.IsScalar() ? parse_duration(t.Scalar()) : std::nullopt;
                if (!d || d->count() <= 0)
                    add(t.Mark(), where + "timeout must be a positive duration such as 30s, 1500ms or 2m");
                else if (*d > std::chrono::hours(1))
                    add(t.Mark(), where + "timeout is longer than the 1h maximum");
                else
                    act.timeout = *d;
            }
            act.idempotent = bool_field(a, "idempotent", where, false);
            m_.actions.push_back(std::move(act));
        }
    }

    void parse_triggers(const YAML::Node& n) {
        if (!n.IsDefined() || n.IsNull()) return;
        if (!n.IsSequence()) { add(n.Mark(), "'triggers' must be a list of triggers"); return; }
        std::set<std::string> names;
        size_t i = 0;
        for (const auto& t : n) {
            std::string where = "triggers[" + std::to_string(i++) + "]: ";
            if (!t.IsMap()) { add(t.Mark(), where + "each trigger is a mapping with name, title and kind"); continue; }
            check_keys(t, where, {"name", "title", "description", "kind", "event", "interval", "cron", "timezone", "webhook"});
            Trigger tr;
            tr.name = string_field(t, "name", where, true, "ticket_created");
            if (!tr.name.empty()) {
                where = "trigger '" + tr.name + "': ";
                if (!std::regex_match(tr.name, kActionNameRe))
                    add(t["name"].Mark(), where + "name must start with a letter and use letters, digits, '_', '-' or '.'");
                else if (!names.insert(tr.name).second)
                    add(t["name"].Mark(), where + "declared twice; trigger names must be unique");
            }
            tr.title = string_field(t, "title", where, true, "Ticket created");
            tr.description = string_field(t, "description", where, false, "");
            tr.kind = string_field(t, "kind", where, true, "webhook");
            if (!tr.kind.empty() && tr.kind != "webhook" && tr.kind != "poll" && tr.kind != "schedule")
                add(t["kind"].Mark(), where + "kind '" + tr.kind + "' is unknown; use webhook, poll or schedule");
            tr.event = schema_field(t, "event", where);
            if (YAML::Node iv = t["interval"]; iv.IsDefined() && !iv.IsNull()) {
                auto d = iv.IsScalar() ? parse_duration(iv.Scalar()) : std::nullopt;
                if (!d || d->count() < 1000) add(iv.Mark(), where + "interval must be a duration of at least 1s, such as 5m");
                else tr.interval = *d;
            }
            tr.cron = string_field(t, "cron", where, false, "");
            if (!tr.cron.empty())
                if (auto c = triggers::CronSchedule::parse(tr.cron); !c) add(t["cron"].Mark(), where + c.error().message);
            tr.timezone = string_field(t, "timezone", where, false, "");
            if (!tr.timezone.empty()) {
                if (tr.cron.empty()) add(t["timezone"].Mark(), where + "'timezone' applies to a 'cron' schedule");
                else if (auto z = triggers::TimeZone::load(tr.timezone); !z) add(t["timezone"].Mark(), where + z.error().message);
            }
            if (tr.kind == "poll" && tr.interval.count() == 0) tr.interval = std::chrono::minutes(5);
            if (tr.kind == "schedule" && tr.cron.empty() && tr.interval.count() == 0)
                add(t.Mark(), where + "a schedule trigger needs 'cron' (e.g. '0 * * * *') or 'interval' (e.g. 15m)");
            if (YAML::Node w = t["webhook"]; w.IsDefined() && !w.IsNull()) {
                if (tr.kind != "webhook") add(w.Mark(), where + "'webhook' settings apply only to kind: webhook");
                else if (!w.IsMap()) add(w.Mark(), where + "'webhook' must be a mapping (verification settings)");
                else {
                    tr.webhook = yaml_to_json(w);
                    auto policy = triggers::parse_webhook_policy(tr.webhook);
                    if (!policy) add(w.Mark(), where + policy.error().message);
                    else tr.webhook_policy = std::move(*policy);
                }
            }
            m_.triggers.push_back(std::move(tr));
        }
    }

    fs::path file_;
    std::string display_;
    Manifest m_;
    std::vector<Diagnostic> diags_;
};

}  // namespace

ParseResult parse_manifest_text(std::string_view text, const fs::path& file) {
    return Parser(file.is_absolute() ? file : fs::absolute(file)).run(text);
}

ParseResult parse_manifest_file(const fs::path& file) {
    std::ifstream in(file, std::ios::binary);
    if (!in) {
        ParseResult r;
        r.diagnostics.push_back({file.string(), 0, 0, "cannot open the file: " + std::string(std::strerror(errno))});
        return r;
    }
    std::ostringstream ss;
    ss << in.rdbuf();
    std::string text = ss.str();
    if (text.size() > 256 * 1024 * 1024) {
        ParseResult r;
        r.diagnostics.push_back({file.string(), 0, 0, "manifest is larger than 256 MiB; put large specs in a separate file the config points to"});
        return r;
    }
    return Parser(fs::absolute(file)).run(text);
}

boost::json::object describe(const Manifest& m) {
    json::object o;
    o["name"] = m.name;
    o["version"] = m.version;
    o["title"] = m.title;
    o["description"] = m.description;
    if (m.plugin) o["plugin"] = *m.plugin;
    o["raw_secrets"] = m.raw_secrets;
    json::array auth;
    for (const auto& a : m.auth) {
        json::object t{{"name", a.name}, {"type", a.type}, {"title", a.title}};
        if (!a.in.empty()) t["in"] = a.in;
        if (!a.parameter.empty()) t["parameter"] = a.parameter;
        if (!a.authorization_url.empty()) t["authorization_url"] = a.authorization_url;
        if (!a.token_url.empty()) t["token_url"] = a.token_url;
        if (!a.scopes.empty()) {
            json::array s;
            for (const auto& x : a.scopes) s.push_back(json::string(x));
            t["scopes"] = std::move(s);
        }
        json::array fields;
        for (const auto& f : a.fields)
            fields.push_back(json::object{{"name", f.name}, {"title", f.title}, {"secret", f.secret}, {"required", f.required}});
        t["fields"] = std::move(fields);
        auth.push_back(std::move(t));
    }
    o["auth"] = std::move(auth);
    json::array actions;
    for (const auto& a : m.actions) {
        json::object x{{"name", a.name}, {"title", a.title}, {"description", a.description},
                       {"input", a.input.document()}, {"timeout_ms", a.timeout.count()}, {"idempotent", a.idempotent}};
        if (a.output) x["output"] = a.output->document();
        actions.push_back(std::move(x));
    }
    o["actions"] = std::move(actions);
    json::array triggers;
    for (const auto& t : m.triggers) {
        json::object x{{"name", t.name}, {"title", t.title}, {"description", t.description}, {"kind", t.kind}};
        if (t.event) x["event"] = t.event->document();
        if (t.interval.count()) x["interval_ms"] = t.interval.count();
        if (!t.cron.empty()) x["cron"] = t.cron;
        if (!t.timezone.empty()) x["timezone"] = t.timezone;
        triggers.push_back(std::move(x));
    }
    o["triggers"] = std::move(triggers);
    o["organizations"] = m.organizations;
    json::array limits;
    for (const auto& r : m.rate_rules)
        limits.push_back(json::object{{"requests", r.requests}, {"per_ms", r.window.count()}, {"scope", r.per_host ? "host" : "connection"}});
    o["rate_limits"] = std::move(limits);
    if (m.schemas) o["schemas"] = m.schemas->doc.at("$defs");
    return o;
}

}  // namespace patchbay::manifest
