#include "api/api.hpp"

#include "common/json_text.hpp"

#include "common/text.hpp"

#include "common/clock.hpp"
#include "common/log.hpp"
#include "openapi/importer.hpp"

#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/json.hpp>

#include <set>

#include <algorithm>
#include <map>
#include <chrono>
#include <ctime>

namespace patchbay::api {

namespace json = boost::json;

namespace {

ApiResponse json_response(int status, const json::value& v) {
    ApiResponse r;
    r.status = status;
    r.body = json::serialize(v);
    return r;
}

std::vector<std::string_view> split_path(std::string_view path) {
    std::vector<std::string_view> parts;
    parts.reserve(8);  // the longest routes have six parts: one allocation, not one per doubling
    size_t i = 0;
    while (i < path.size()) {
        while (i < path.size() && path[i] == '/') ++i;
        size_t j = path.find('/', i);
        if (j == std::string_view::npos) j = path.size();
        if (j > i) parts.push_back(path.substr(i, j - i));
        i = j;
    }
    return parts;
}


std::string query_param(std::string_view query, std::string_view key) {
    size_t i = 0;
    while (i < query.size()) {
        size_t j = query.find('&', i);
        if (j == std::string_view::npos) j = query.size();
        auto pair = query.substr(i, j - i);
        auto eq = pair.find('=');
        if (percent_decode(pair.substr(0, eq), true) == key) return eq == std::string_view::npos ? "" : percent_decode(pair.substr(eq + 1), true);
        i = j + 1;
    }
    return {};
}

ApiResponse method_not_allowed(const ApiRequest& req, std::string allow) {
    auto r = error_response(Error(Errc::method_not_allowed, req.method + " is not allowed here; use " + allow), req.request_id);
    r.headers.emplace_back("Allow", std::move(allow));
    return r;
}

}  // namespace

ApiResponse error_response(const Error& error, const std::string& request_id) {
    json::object body{{"error", to_json(error)}};
    if (!request_id.empty()) body["request_id"] = request_id;
    auto response = json_response(http_status(error.code), body);
    // Rate limits and open circuits say when to come back, in the header HTTP clients know.
    if (const auto* d = error.details.if_object())
        if (const auto* ms = d->if_contains("retry_after_ms"); ms && ms->is_int64())
            response.headers.emplace_back("Retry-After", std::to_string((ms->as_int64() + 999) / 1000));
    return response;
}

json::object summarize(const catalog::Entry& e) {
    json::object o;
    o["name"] = e.name;
    o["status"] = e.ready() ? "ready" : "error";
    if (e.manifest) {
        o["title"] = e.manifest->title;
        o["version"] = e.manifest->version;
        o["description"] = e.manifest->description;
        json::array actions;
        for (const auto& a : e.manifest->actions) actions.push_back(json::string(a.name));
        o["actions"] = std::move(actions);
        json::array triggers;
        for (const auto& t : e.manifest->triggers) triggers.push_back(json::string(t.name));
        o["triggers"] = std::move(triggers);
        o["organizations"] = e.manifest->organizations;
        o["raw_secrets"] = e.manifest->raw_secrets;
    }
    if (!e.ready()) o["error"] = e.error;
    o["manifest"] = e.manifest_path.filename().string();
    o["loaded_at"] = iso_time(e.loaded_at);
    return o;
}

json::object describe(const catalog::Entry& e) {
    json::object o = e.manifest ? manifest::describe(*e.manifest) : json::object{};
    for (auto& [k, v] : summarize(e))
        if (!o.contains(k)) o[k] = v;
    o["status"] = e.ready() ? "ready" : "error";
    if (!e.ready()) {
        o["error"] = e.error;
        json::array diags;
        for (const auto& d : e.diagnostics)
            diags.push_back(json::object{{"file", d.file}, {"line", d.line}, {"column", d.column}, {"message", d.message}});
        o["diagnostics"] = std::move(diags);
    }
    if (e.ready()) {
        o["plugin"] = json::object{{"name", e.instance->library().plugin_name()},
                                   {"version", e.instance->library().plugin_version()},
                                   {"sha256", e.library_sha256}};
    }
    return o;
}

Api::Api(catalog::Catalog& catalog, invoker::Invoker& invoker, store::PrincipalStore& principals, control::ControlPlane& control,
         std::shared_ptr<oauth::Manager> oauth, triggers::Subscriptions& subscriptions, triggers::EventLog& events,
         triggers::PushDelivery& push, mapping::Organizations& organizations, mapping::Mappings& mappings)
    : catalog_(catalog),
      invoker_(invoker),
      principals_(principals),
      control_(control),
      oauth_(std::move(oauth)),
      subscriptions_(subscriptions),
      events_(events),
      push_(push),
      organizations_(organizations),
      mappings_(mappings) {}

bool wants_headers(std::string_view target) { return target.rfind("/hooks/", 0) == 0; }

namespace {

ApiResponse from(const Result<json::object>& r, const std::string& request_id, int ok_status = 200) {
    if (!r) return error_response(r.error(), request_id);
    return json_response(ok_status, r.value());
}

// The body as a JSON object; an absent body is an empty object.
Result<json::object> body_object(const ApiRequest& req) {
    if (req.body.empty()) return json::object{};
    boost::system::error_code ec;
    json::value v = json::parse(req.body, ec);
    if (ec) return Error(Errc::malformed_json, "the request body is not valid JSON (" + ec.message() + ")");
    if (!v.is_object()) return Error(Errc::invalid_input, "the request body must be a JSON object");
    return std::move(v.get_object());
}

// {"ids": ["evt_...", ...]}: at most 1000 event ids.
Result<std::vector<std::string>> event_ids(const ApiRequest& req) {
    auto b = body_object(req);
    if (!b) return b.error();
    const auto* ids = b->if_contains("ids");
    std::vector<std::string> list;
    if (ids && ids->is_array())
        for (const auto& x : ids->get_array())
            if (x.is_string()) list.emplace_back(x.get_string());
    if (!ids || !ids->is_array() || list.size() != ids->get_array().size() || list.size() > 1000)
        return Error(Errc::invalid_input, "send {\"ids\": [\"evt_...\", ...]} (at most 1000)", "/ids");
    return list;
}

bool flag(std::string_view query, std::string_view key) {
    auto v = query_param(query, key);
    return v == "true" || v == "1" || v == "yes";
}

}  // namespace

ApiResponse Api::list_integrations(const ApiRequest&, const store::Principal& who, std::string_view query) const {
    std::string q = query_param(query, "q");
    std::string status = query_param(query, "status");
    bool installed_only = flag(query, "installed");
    auto team_view = control_.list_integrations(who, q, installed_only);
    std::map<std::string, json::object> by_name;
    for (auto& v : team_view["integrations"].as_array()) by_name[std::string(v.as_object().at("name").as_string())] = v.as_object();
    std::transform(q.begin(), q.end(), q.begin(), [](unsigned char c) { return std::tolower(c); });
    json::array items;
    size_t ready = 0, broken = 0;
    for (const auto& e : catalog_.list()) {
        auto it = by_name.find(e->name);
        if (it == by_name.end()) continue;  // filtered out by q or installed
        if (!status.empty() && status != (e->ready() ? "ready" : "error")) continue;
        (e->ready() ? ready : broken)++;
        auto o = summarize(*e);
        o["installed"] = it->second["installed"];
        if (auto* at = it->second.if_contains("installed_at")) o["installed_at"] = *at;
        if (auto* by = it->second.if_contains("installed_by")) o["installed_by"] = *by;
        items.push_back(std::move(o));
        by_name.erase(it);
    }
    for (auto& [_, missing] : by_name)  // installed, but the manifest left the catalog
        if (status.empty() || status == "missing") items.push_back(std::move(missing));
    return json_response(200, json::object{{"integrations", std::move(items)}, {"ready", ready}, {"error", broken}});
}

ApiResponse Api::show_integration(const ApiRequest& req, const store::Principal& who, std::string_view name) const {
    auto entry = catalog_.find(name);
    if (!entry) {
        for (const auto& e : catalog_.list())  // a broken manifest is still shown by its name
            if (e->name == name) entry = e;
    }
    if (!entry)
        return error_response(Error(Errc::unknown_integration, "no integration named '" + std::string(name) + "' is in the catalog"),
                              req.request_id);
    auto o = describe(*entry);
    o["installed"] = control_.installed(who.team_id, name);
    return json_response(200, o);
}

void Api::invoke(const ApiRequest& req, const store::Principal& who, std::string integration, std::string action,
                 std::function<void(ApiResponse)> respond) {
    // The body goes into one block of memory (freed with the call, not node by node), and the
    // input moves from it into the request whole: constructed, not assigned, so it keeps the block.
    boost::system::error_code ec;
    json::value body = req.body.empty() ? json::value() : json::parse(req.body, ec, json::make_shared_resource<json::monotonic_resource>());
    if (ec)
        return respond(error_response(Error(Errc::malformed_json, "the request body is not valid JSON (" + ec.message() +
                                                                      "); send {\"input\": {...}}"),
                                      req.request_id));
    if (!req.body.empty() && !body.is_object())
        return respond(error_response(Error(Errc::invalid_input, "the request body must be a JSON object such as {\"input\": {...}}"),
                                      req.request_id));
    json::value* input = body.is_object() ? body.get_object().if_contains("input") : nullptr;
    invoker::InvokeRequest ir{.integration = std::move(integration),
                              .action = std::move(action),
                              .input = input ? json::value(std::move(*input)) : json::value(json::object{})};
    std::string connection_id, workflow_id, organization;
    if (body.is_object()) {
        auto& o = body.get_object();
        for (const auto& [k, v] : o) {
            if (k != "input" && k != "workflow_id" && k != "timeout_ms" && k != "connection" && k != "organization" && k != "all_pages" &&
                k != "max_pages")
                return respond(error_response(Error(Errc::invalid_input, "unknown field '" + std::string(k) +
                                                                             "' in the request body; allowed: input, connection, organization, "
                                                                             "workflow_id, timeout_ms, all_pages, max_pages",
                                                    "/" + std::string(k)),
                                              req.request_id));
        }
        if (auto* w = o.if_contains("workflow_id")) {
            if (!w->is_string())
                return respond(error_response(Error(Errc::invalid_input, "workflow_id must be a string", "/workflow_id"), req.request_id));
            workflow_id = w->get_string();
            ir.context["workflow_id"] = *w;
        }
        if (auto* c = o.if_contains("connection")) {
            if (!c->is_string())
                return respond(error_response(Error(Errc::invalid_input, "connection must be a connection id string", "/connection"), req.request_id));
            connection_id = c->get_string();
        }
        if (auto* org = o.if_contains("organization")) {
            if (!org->is_string() || org->get_string().empty())
                return respond(error_response(Error(Errc::invalid_input, "organization must be a platform organization id", "/organization"), req.request_id));
            organization = org->get_string();
        }
        // Paging requests, for plugins whose actions page (the OpenAPI plugin): handed on as is.
        if (auto* a = o.if_contains("all_pages")) {
            if (!a->is_bool()) return respond(error_response(Error(Errc::invalid_input, "all_pages must be true or false", "/all_pages"), req.request_id));
            ir.context["all_pages"] = *a;
        }
        if (auto* m = o.if_contains("max_pages")) {
            if (!m->is_int64() || m->get_int64() <= 0)
                return respond(error_response(Error(Errc::invalid_input, "max_pages must be a positive integer", "/max_pages"), req.request_id));
            ir.context["max_pages"] = *m;
        }
        if (auto* t = o.if_contains("timeout_ms")) {
            if (!t->is_int64() || t->get_int64() <= 0)
                return respond(error_response(Error(Errc::invalid_input, "timeout_ms must be a positive integer", "/timeout_ms"), req.request_id));
            ir.timeout = std::chrono::milliseconds(t->get_int64());
        }
    }
    ir.entry = catalog_.find(ir.integration);
    if (ir.entry && !control_.installed(who.team_id, ir.integration))
        return respond(error_response(Error(Errc::not_installed, "'" + ir.integration +
                                                                     "' is not installed in your team; an admin installs it with POST /v1/installations"),
                                      req.request_id));
    std::optional<mapping::Resolved> tenant;
    if (!organization.empty()) {
        // The organization picks the connection (unless the call names one) and the tenant.
        auto resolved = mappings_.resolve(who, organization, ir.integration, connection_id);
        if (!resolved) return respond(error_response(resolved.error(), req.request_id));
        connection_id = resolved->connection_id;
        tenant = std::move(*resolved);
    }
    if (!connection_id.empty()) {
        // Permission first: a caller who may not use the connection learns nothing of its mappings.
        auto rc = control_.resolve_for_use(who, connection_id, ir.integration);
        if (!rc) return respond(error_response(rc.error(), req.request_id));
        if (tenant)
            if (auto e = bind_organization(ir, *tenant)) return respond(error_response(*e, req.request_id));
        attach_connection(ir, *rc);
        control_.record_use(connection_id, workflow_id);
    }
    ir.context["team"] = who.team;
    if (!req.request_id.empty()) ir.context["request_id"] = req.request_id;
    ir.network = req.network;
    ir.output_text_only = true;  // spliced into the answer as the plugin wrote it
    std::string name = ir.integration, act = ir.action, rid = req.request_id;
    invoker_.invoke(std::move(ir), [respond = std::move(respond), name, act, rid](invoker::InvokeOutcome o) {
        if (!o.ok()) {
            if (log::enabled(log::Level::debug))
                log::debug("invoke failed", {{"integration", name}, {"action", act}, {"code", code_name(o.error->code)}, {"request_id", rid}});
            return respond(error_response(*o.error, rid));
        }
        // The plugin's output goes out as it came (it is checked to be JSON): no second
        // serialization of what may be a large upstream answer. The rest is written directly.
        ApiResponse r;
        r.status = 200;
        r.body.reserve(96 + o.output_text.size() + name.size() + act.size() + o.version.size() + rid.size());
        r.body.append("{\"output\":").append(o.output_text).append(",\"integration\":");
        append_json_string(r.body, name);
        r.body.append(",\"action\":");
        append_json_string(r.body, act);
        r.body.append(",\"version\":");
        append_json_string(r.body, o.version);
        r.body.append(",\"duration_us\":").append(std::to_string(o.elapsed.count()));
        if (!rid.empty()) {
            r.body.append(",\"request_id\":");
            append_json_string(r.body, rid);
        }
        r.body += '}';
        respond(std::move(r));
    });
}

std::optional<Error> Api::bind_organization(invoker::InvokeRequest& ir, const mapping::Resolved& r) const {
    ir.context["organization"] = json::object{{"id", r.organization_id}, {"name", r.organization_name}, {"remote_id", r.remote_id},
                                              {"remote_name", r.remote_name}, {"stale", r.stale}};
    // A manifest may name the input parameter that carries the tenant (organizations.parameter):
    // the mapped id goes there, and a different value in the input is refused, never sent.
    auto entry = catalog_.find(ir.integration);
    if (!entry || !entry->manifest) return std::nullopt;
    const auto* cfg = entry->manifest->organizations_config.if_object();
    const auto* param = cfg ? cfg->if_contains("parameter") : nullptr;
    const auto* action = entry->manifest->find_action(ir.action);
    if (!param || !param->is_string() || !action) return std::nullopt;
    const auto* schema = action->input.document().if_object();
    const auto* props = schema ? schema->if_contains("properties") : nullptr;
    if (!props || !props->is_object() || !props->get_object().contains(param->get_string())) return std::nullopt;
    if (ir.input.is_null()) ir.input = json::object{};
    auto* input = ir.input.if_object();
    if (!input) return std::nullopt;  // the schema check reports it
    std::string name(param->get_string());
    if (const auto* given = input->if_contains(name)) {
        bool same = (given->is_string() && given->get_string() == r.remote_id) || (given->is_int64() && std::to_string(given->get_int64()) == r.remote_id);
        if (!same)
            return Error(Errc::invalid_input, "input '" + name + "' names another tenant than organization '" + r.organization_id +
                                                  "' is mapped to; leave it out and Patchbay fills it in",
                         "/input/" + name);
        return std::nullopt;
    }
    // The parameter's own type: an integer id stays an integer.
    const auto* ps = props->get_object().at(name).if_object();
    const auto* type = ps ? ps->if_contains("type") : nullptr;
    if (type && type->is_string() && type->get_string() == "integer") {
        try {
            size_t used = 0;
            long long v = std::stoll(r.remote_id, &used);
            if (used == r.remote_id.size()) return (*input)[name] = v, std::nullopt;
        } catch (...) {
        }
    }
    (*input)[name] = r.remote_id;
    return std::nullopt;
}

void Api::attach_connection(invoker::InvokeRequest& ir, const control::ResolvedConnection& rc) const {
    auto entry = catalog_.find(ir.integration);
    const manifest::AuthType* auth = nullptr;
    bool raw = false;
    if (entry && entry->manifest) {
        raw = entry->manifest->raw_secrets;
        auth = entry->manifest->find_auth(rc.auth_type);
    }
    auto scope = std::make_shared<host::CallScope>();
    scope->connection_id = rc.id;
    scope->injection = control::credentials_for(rc, auth);
    if (const auto* ca = rc.settings.if_contains("ca_bundle"); ca && ca->is_string()) scope->ca_pem = ca->get_string();
    if (auth && oauth_)
        if (auto client = oauth::client_for(rc, *auth)) scope->tokens = oauth_->token_source(std::move(*client));
    ir.scope = std::move(scope);
    ir.context["connection"] = rc.plugin_view(raw);
}

ApiResponse Api::begin_authorization(const ApiRequest& req, const store::Principal& who, const std::string& id) {
    auto rc = control_.resolve_for_edit(who, id);
    if (!rc) return error_response(rc.error(), req.request_id);
    auto entry = catalog_.find(rc->integration);  // held while its auth type is read
    const auto* auth = entry && entry->manifest ? entry->manifest->find_auth(rc->auth_type) : nullptr;
    auto client = auth ? oauth::client_for(*rc, *auth) : std::nullopt;
    if (!client || !oauth_)
        return error_response(Error(Errc::conflict, "connection '" + id + "' uses auth type '" + rc->auth_type +
                                                        "'; only OAuth2 authorization code connections are authorized at a provider's login page"),
                              req.request_id);
    auto r = oauth_->begin_authorization(*client, who.user);
    if (!r) return error_response(r.error(), req.request_id);
    return json_response(200, *r);
}

void Api::authorization_callback(const ApiRequest& req, std::function<void(ApiResponse)> respond) {
    std::string_view target = req.target;
    auto q = target.find('?');
    std::string query(q == std::string_view::npos ? std::string_view() : target.substr(q + 1));
    auto finish = [oauth = oauth_, query, respond]() mutable {
        oauth::CallbackOutcome outcome;
        try {
            outcome = oauth ? oauth->complete_authorization(query) : oauth::CallbackOutcome{false, "", "OAuth2 is not configured."};
        } catch (const std::exception& e) {
            log::error("authorization callback failed", {{"reason", e.what()}});
            outcome.message = "The authorization could not be stored; retry shortly.";
        }
        ApiResponse r;
        r.status = outcome.ok ? 200 : 400;
        r.content_type = "text/html; charset=utf-8";
        r.body = oauth::callback_page(outcome);
        r.headers.emplace_back("Cache-Control", "no-store");
        r.headers.emplace_back("Referrer-Policy", "no-referrer");
        r.headers.emplace_back("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'");
        respond(std::move(r));
    };
    // The code exchange is a request to the provider: off the network thread.
    if (!invoker_.run_detached(finish)) {
        ApiResponse r = error_response(Error(Errc::shutting_down, "the runtime is shutting down"), req.request_id);
        respond(std::move(r));
    }
}

namespace fs = std::filesystem;

void Api::import_openapi(const ApiRequest& req, const store::Principal& who, std::function<void(ApiResponse)> respond) {
    if (!who.admin())
        return respond(error_response(Error(Errc::forbidden, "only admins import integrations"), req.request_id));
    auto body = body_object(req);
    if (!body) return respond(error_response(body.error(), req.request_id));
    const json::object& b = *body;
    static const std::set<std::string_view> known = {"name", "spec", "title", "base_url", "include_tags", "exclude_tags", "include_paths",
                                                     "exclude_paths", "include_operations", "exclude_operations", "dry_run", "force"};
    for (const auto& [k, v] : b)
        if (!known.count(k))
            return respond(error_response(Error(Errc::invalid_input, "unknown field '" + std::string(k) + "'", "/" + std::string(k)), req.request_id));
    openapi::ImportOptions o;
    std::string spec_text;
    try {
        o.name = std::string(b.at("name").as_string());
        const auto& spec = b.at("spec");
        spec_text = spec.is_string() ? std::string(spec.get_string()) : json::serialize(spec);
        if (const auto* t = b.if_contains("title")) o.title = std::string(t->as_string());
        if (const auto* u = b.if_contains("base_url")) o.base_url = std::string(u->as_string());
        auto list = [&](const char* key, std::vector<std::string>& out) {
            if (const auto* l = b.if_contains(key))
                for (const auto& x : l->as_array()) out.emplace_back(x.as_string());
        };
        list("include_tags", o.include_tags);
        list("exclude_tags", o.exclude_tags);
        list("include_paths", o.include_paths);
        list("exclude_paths", o.exclude_paths);
        list("include_operations", o.include_operations);
        list("exclude_operations", o.exclude_operations);
    } catch (const std::exception&) {
        return respond(error_response(Error(Errc::invalid_input, "send {\"name\": \"NAME\", \"spec\": SPEC} where SPEC is the description "
                                                                   "(a JSON object, or JSON or YAML text); lists are arrays of strings"),
                                      req.request_id));
    }
    bool dry_run = b.contains("dry_run") && b.at("dry_run").is_bool() && b.at("dry_run").get_bool();
    bool force = b.contains("force") && b.at("force").is_bool() && b.at("force").get_bool();
    fs::path folder = catalog_.options().manifests_dir;
    std::string rid = req.request_id;
    store::Principal principal = who;
    // Large descriptions take seconds: off the network thread.
    bool queued = invoker_.run_detached([=, this, o = std::move(o), spec_text = std::move(spec_text)]() mutable {
        auto docs = openapi::Documents::from_text(spec_text, "the spec");
        if (!docs) return respond(error_response(docs.error(), rid));
        auto result = openapi::import_spec(std::move(*docs), o);
        if (!result) return respond(error_response(result.error(), rid));
        auto report = result->report();
        if (!dry_run) {
            if (auto e = openapi::write_manifest(folder, *result, "the API", force)) return respond(error_response(*e, rid));
            report["manifest"] = (folder / (o.name + ".yaml")).string();
            control_.record(principal, "integration.import", "integration", o.name,
                            json::object{{"imported", result->imported}, {"spec_version", result->spec_version}});
        }
        respond(json_response(dry_run ? 200 : 201, report));
    });
    if (!queued) respond(error_response(Error(Errc::shutting_down, "the runtime is shutting down"), req.request_id));
}

void Api::test_connection(const ApiRequest& req, const store::Principal& who, std::string id, std::function<void(ApiResponse)> respond) {
    auto conn = control_.get_connection(who, id);
    if (!conn) return respond(error_response(conn.error(), req.request_id));
    std::string integration(conn->at("integration").as_string());
    auto rc = control_.resolve_for_use(who, id, integration);
    if (!rc) return respond(error_response(rc.error(), req.request_id));
    invoker::InvokeRequest ir;
    ir.hook = invoker::Hook::test_connection;
    ir.integration = integration;
    attach_connection(ir, *rc);
    ir.context["team"] = who.team;
    ir.network = req.network;
    std::string rid = req.request_id;
    invoker_.invoke(std::move(ir), [respond = std::move(respond), id, rid](invoker::InvokeOutcome o) {
        json::object body{{"connection", id}, {"ok", o.ok()}, {"duration_us", o.elapsed.count()}};
        if (o.ok()) body["result"] = std::move(*o.output);
        else body["error"] = to_json(*o.error);
        if (!rid.empty()) body["request_id"] = rid;
        // The test ran; its verdict is in the body. Only a test that could not run is an HTTP error.
        int status = (!o.ok() && (o.error->code == Errc::unknown_integration || o.error->code == Errc::integration_unavailable)) ? 503 : 200;
        respond(json_response(status, body));
    });
}

void Api::handle(ApiRequest req, std::function<void(ApiResponse)> respond) {
    std::string_view target = req.target;
    std::string_view path = target.substr(0, target.find('?'));
    auto parts = split_path(path);
    const bool get = req.method == "GET" || req.method == "HEAD";

    if (parts.size() == 1 && parts[0] == "healthz") {
        if (!get) return respond(method_not_allowed(req, "GET"));
        return respond(json_response(200, json::object{{"status", "ok"}}));
    }
    if (parts.size() == 2 && parts[0] == "oauth" && parts[1] == "callback") {
        // Reached by the admin's browser from the provider's login page: authenticated by the
        // single-use state it carries, not by an API token.
        if (!get) return respond(method_not_allowed(req, "GET"));
        return authorization_callback(req, std::move(respond));
    }
    if (parts.size() == 2 && parts[0] == "hooks") {
        // A tool's webhook delivery: authenticated by the unguessable URL and the signature the
        // trigger declares, not by an API token.
        std::string token(parts[1]);
        std::string rid = req.request_id;
        try {
            return take_webhook(std::move(req), std::move(token), respond);
        } catch (const store::StoreError& e) {
            log::error("store failure", {{"reason", e.what()}, {"request_id", rid}});
            auto r = error_response(Error(Errc::store_unavailable, "the store is unavailable; send it again"), rid);
            r.headers.emplace_back("Retry-After", "5");
            return respond(std::move(r));
        }
    }
    if (parts.empty() || parts[0] != "v1")
        return respond(error_response(Error(Errc::route_not_found, "no route for " + std::string(path) + "; the API lives under /v1"),
                                      req.request_id));
    if (parts.size() == 2 && parts[1] == "health") {
        if (!get) return respond(method_not_allowed(req, "GET"));
        size_t ready = 0, broken = 0;
        for (const auto& e : catalog_.list()) (e->ready() ? ready : broken)++;
        return respond(json_response(200, json::object{{"status", "ok"}, {"integrations", json::object{{"ready", ready}, {"error", broken}}}}));
    }
    try {
        std::string_view auth = req.authorization;
        std::optional<store::Principal> who;
        if (auth.size() > 7 && (auth.substr(0, 7) == "Bearer " || auth.substr(0, 7) == "bearer ")) who = principals_.authenticate(auth.substr(7));
        if (!who) {
            auto r = error_response(Error(Errc::unauthenticated, auth.empty() ? "this call needs an API token: send Authorization: Bearer pbt_..."
                                                                              : "the API token is not valid (unknown, revoked, or its user was deactivated)"),
                                    req.request_id);
            r.headers.emplace_back("WWW-Authenticate", "Bearer realm=\"patchbay\"");
            return respond(std::move(r));
        }
        route(req, *who, respond);
    } catch (const store::StoreError& e) {
        log::error("store failure", {{"reason", e.what()}, {"request_id", req.request_id}});
        respond(error_response(Error(Errc::store_unavailable, "the store is unavailable; retry shortly"), req.request_id));
    }
}

void Api::route(const ApiRequest& req, const store::Principal& who, std::function<void(ApiResponse)>& respond) {
    std::string_view target = req.target;
    std::string_view path = target.substr(0, target.find('?'));
    std::string_view query = path.size() < target.size() ? target.substr(path.size() + 1) : std::string_view();
    auto parts = split_path(path);
    const std::string& m = req.method;
    const bool get = m == "GET" || m == "HEAD";
    const std::string& rid = req.request_id;
    auto body = [&]() { return body_object(req); };

    if (route_mapping(req, who, parts, query, respond)) return;
    if (parts.size() == 2 && parts[1] == "me") {
        if (!get) return respond(method_not_allowed(req, "GET"));
        return respond(json_response(200, json::object{{"user", who.user}, {"team", who.team}, {"role", store::role_name(who.role)}}));
    }
    if (parts.size() >= 2 && parts[1] == "integrations") {
        if (parts.size() == 2) {
            if (!get) return respond(method_not_allowed(req, "GET"));
            return respond(list_integrations(req, who, query));
        }
        std::string name = percent_decode(parts[2]);
        if (parts.size() == 3) {
            if (!get) return respond(method_not_allowed(req, "GET"));
            return respond(show_integration(req, who, name));
        }
        if (parts.size() == 6 && parts[3] == "actions" && parts[5] == "invoke") {
            if (m != "POST") return respond(method_not_allowed(req, "POST"));
            return invoke(req, who, name, percent_decode(parts[4]), std::move(respond));
        }
    }
    if (parts.size() >= 2 && parts[1] == "installations") {
        if (parts.size() == 2) {
            if (get) {
                std::string q = query_param(query, "q");
                return respond(json_response(200, control_.list_integrations(who, q, true)));
            }
            if (m != "POST") return respond(method_not_allowed(req, "GET, POST"));
            auto b = body();
            if (!b) return respond(error_response(b.error(), rid));
            const auto* n = b->if_contains("integration");
            if (!n || !n->is_string())
                return respond(error_response(Error(Errc::invalid_input, "send {\"integration\": \"NAME\"}", "/integration"), rid));
            auto r = control_.install(who, n->get_string());
            return respond(from(r, rid, r && r->at("already_installed").as_bool() ? 200 : 201));
        }
        if (parts.size() == 3) {
            if (m != "DELETE") return respond(method_not_allowed(req, "DELETE"));
            return respond(from(control_.uninstall(who, percent_decode(parts[2]), flag(query, "force")), rid));
        }
    }
    if (parts.size() >= 2 && parts[1] == "connections") {
        if (parts.size() == 2) {
            if (get) return respond(from(control_.list_connections(who, query_param(query, "integration")), rid));
            if (m != "POST") return respond(method_not_allowed(req, "GET, POST"));
            auto b = body();
            if (!b) return respond(error_response(b.error(), rid));
            return respond(from(control_.create_connection(who, *b), rid, 201));
        }
        std::string id = percent_decode(parts[2]);
        if (parts.size() == 3) {
            if (get) return respond(from(control_.get_connection(who, id), rid));
            if (m == "PATCH") {
                auto b = body();
                if (!b) return respond(error_response(b.error(), rid));
                return respond(from(control_.update_connection(who, id, *b), rid));
            }
            if (m == "DELETE") return respond(from(control_.delete_connection(who, id, flag(query, "confirm")), rid));
            return respond(method_not_allowed(req, "GET, PATCH, DELETE"));
        }
        if (parts.size() == 4 && parts[3] == "permissions") {
            if (m != "PUT") return respond(method_not_allowed(req, "PUT"));
            auto b = body();
            if (!b) return respond(error_response(b.error(), rid));
            return respond(from(control_.set_permissions(who, id, *b), rid));
        }
        if (parts.size() == 4 && parts[3] == "takeover") {
            if (m != "POST") return respond(method_not_allowed(req, "POST"));
            return respond(from(control_.take_over(who, id), rid));
        }
        if (parts.size() == 4 && parts[3] == "usage") {
            if (!get) return respond(method_not_allowed(req, "GET"));
            return respond(from(control_.connection_usage(who, id), rid));
        }
        if (parts.size() == 4 && parts[3] == "authorize") {
            if (m != "POST") return respond(method_not_allowed(req, "POST"));
            return respond(begin_authorization(req, who, id));
        }
        if (parts.size() == 4 && parts[3] == "test") {
            if (m != "POST") return respond(method_not_allowed(req, "POST"));
            return test_connection(req, who, id, std::move(respond));
        }
    }
    if (parts.size() >= 2 && parts[1] == "members") {
        if (parts.size() == 2) {
            if (get) return respond(from(control_.list_members(who), rid));
            if (m != "POST") return respond(method_not_allowed(req, "GET, POST"));
            auto b = body();
            if (!b) return respond(error_response(b.error(), rid));
            return respond(from(control_.add_member(who, *b), rid, 201));
        }
        if (parts.size() == 3) {
            if (m != "PATCH") return respond(method_not_allowed(req, "PATCH"));
            auto b = body();
            if (!b) return respond(error_response(b.error(), rid));
            return respond(from(control_.update_member(who, percent_decode(parts[2]), *b), rid));
        }
    }
    if (parts.size() >= 2 && parts[1] == "tokens") {
        if (parts.size() == 2) {
            if (get) return respond(from(control_.list_tokens(who), rid));
            if (m != "POST") return respond(method_not_allowed(req, "GET, POST"));
            auto b = body();
            if (!b) return respond(error_response(b.error(), rid));
            return respond(from(control_.create_token(who, *b), rid, 201));
        }
        if (parts.size() == 3) {
            if (m != "DELETE") return respond(method_not_allowed(req, "DELETE"));
            int64_t id = 0;
            try {
                id = std::stoll(std::string(parts[2]));
            } catch (...) {
                return respond(error_response(Error(Errc::not_found, "tokens are addressed by their numeric id"), rid));
            }
            return respond(from(control_.revoke_token(who, id), rid));
        }
    }
    if (parts.size() >= 2 && parts[1] == "subscriptions") {
        if (parts.size() == 2) {
            if (get) return respond(from(subscriptions_.list(who, query_param(query, "connection"), query_param(query, "status")), rid));
            if (m != "POST") return respond(method_not_allowed(req, "GET, POST"));
            auto b = body();
            if (!b) return respond(error_response(b.error(), rid));
            return respond(from(subscriptions_.create(who, *b), rid, 201));
        }
        std::string id = percent_decode(parts[2]);
        if (parts.size() == 3) {
            if (get) return respond(from(subscriptions_.get(who, id), rid));
            if (m == "DELETE") return respond(from(subscriptions_.remove(who, id), rid));
            return respond(method_not_allowed(req, "GET, DELETE"));
        }
        if (parts.size() == 4 && (parts[3] == "pause" || parts[3] == "resume")) {
            if (m != "POST") return respond(method_not_allowed(req, "POST"));
            return respond(from(subscriptions_.set_active(who, id, parts[3] == "resume"), rid));
        }
        if (parts.size() == 4 && parts[3] == "rotate-secret") {
            if (m != "POST") return respond(method_not_allowed(req, "POST"));
            auto b = body();
            if (!b) return respond(error_response(b.error(), rid));
            return respond(from(subscriptions_.rotate_secret(who, id, *b), rid));
        }
    }
    if (parts.size() == 2 && parts[1] == "events") {
        if (!get) return respond(method_not_allowed(req, "GET"));
        if (push_.pushes(who.team_id))
            return respond(error_response(Error(Errc::conflict, "this team's events are pushed to its delivery URL (GET /v1/delivery); "
                                                                "DELETE /v1/delivery to pull them instead"),
                                          rid));
        return pull_events(req, who, query, std::move(respond));
    }
    if (parts.size() >= 2 && parts[1] == "organizations") {
        if (parts.size() == 2) {
            if (get) {
                mapping::OrganizationQuery oq;
                oq.q = query_param(query, "q");
                oq.after = query_param(query, "after");
                try {
                    if (auto l = query_param(query, "limit"); !l.empty()) oq.limit = static_cast<size_t>(std::stoul(l));
                } catch (...) {
                    return respond(error_response(Error(Errc::invalid_input, "limit is a number"), rid));
                }
                return respond(from(organizations_.list(who, oq), rid));
            }
            if (m != "PUT") return respond(method_not_allowed(req, "GET, PUT"));
            auto b = body();
            if (!b) return respond(error_response(b.error(), rid));
            return respond(from(organizations_.upsert(who, *b), rid));
        }
        if (parts.size() == 3) {
            std::string id = percent_decode(parts[2]);
            if (get) return respond(from(organizations_.get(who, id), rid));
            if (m == "DELETE") return respond(from(organizations_.remove(who, id), rid));
            return respond(method_not_allowed(req, "GET, DELETE"));
        }
    }
    if (parts.size() == 2 && parts[1] == "delivery") {
        if (get) return respond(from(push_.get_target(who), rid));
        if (m == "PUT") {
            auto b = body();
            if (!b) return respond(error_response(b.error(), rid));
            return respond(from(push_.set_target(who, *b), rid));
        }
        if (m == "DELETE") return respond(from(push_.remove_target(who), rid));
        return respond(method_not_allowed(req, "GET, PUT, DELETE"));
    }
    if (parts.size() == 2 && parts[1] == "dead-letters") {
        if (!get) return respond(method_not_allowed(req, "GET"));
        size_t limit = 100;
        try {
            if (auto l = query_param(query, "limit"); !l.empty()) limit = static_cast<size_t>(std::stoul(l));
        } catch (...) {
            return respond(error_response(Error(Errc::invalid_input, "limit is a number"), rid));
        }
        return respond(from(push_.dead_letters(who, limit), rid));
    }
    if ((parts.size() == 3 && parts[1] == "dead-letters" && parts[2] == "replay") || (parts.size() == 3 && parts[1] == "events" && parts[2] == "ack")) {
        if (m != "POST") return respond(method_not_allowed(req, "POST"));
        auto ids = event_ids(req);
        if (!ids) return respond(error_response(ids.error(), rid));
        return respond(from(parts[1] == "events" ? events_.ack(who.team_id, *ids) : push_.replay(who, *ids), rid));
    }
    if (parts.size() == 3 && parts[1] == "openapi" && parts[2] == "import") {
        if (m != "POST") return respond(method_not_allowed(req, "POST"));
        return import_openapi(req, who, std::move(respond));
    }
    if (parts.size() == 2 && parts[1] == "audit") {
        if (!get) return respond(method_not_allowed(req, "GET"));
        control::ListOptions page;
        try {
            if (auto l = query_param(query, "limit"); !l.empty()) page.limit = static_cast<size_t>(std::stoul(l));
            if (auto b = query_param(query, "before"); !b.empty()) page.before = std::stoll(b);
        } catch (...) {
            return respond(error_response(Error(Errc::invalid_input, "limit and before are numbers"), rid));
        }
        return respond(from(control_.audit(who, page), rid));
    }
    respond(error_response(Error(Errc::route_not_found, "no route for " + std::string(path)), rid));
}

namespace {

// A sender should try again later: the answer says when.
ApiResponse retry_later(const Error& e, const std::string& rid, int seconds) {
    auto r = error_response(e, rid);
    r.status = 503;
    r.headers.emplace_back("Retry-After", std::to_string(seconds));
    return r;
}

}  // namespace

void Api::take_webhook(ApiRequest req, std::string token, std::function<void(ApiResponse)> respond) {
    const std::string rid = req.request_id;
    if (req.method != "POST") return respond(method_not_allowed(req, "POST"));
    auto target = subscriptions_.by_hook_token(token);
    if (!target) return respond(error_response(Error(Errc::not_found, "no subscription has this hook URL"), rid));
    if (!target->active)
        return respond(retry_later(Error(Errc::conflict, "the subscription is paused; deliveries are refused until it is resumed"), rid, 60));
    auto entry = catalog_.find(target->integration);
    const manifest::Trigger* trigger = entry && entry->ready() ? entry->manifest->find_trigger(target->trigger) : nullptr;
    if (!trigger || trigger->kind != "webhook")
        return respond(retry_later(Error(Errc::integration_unavailable, "the integration '" + target->integration + "' or its trigger '" +
                                                                            target->trigger + "' is unavailable right now"),
                                   rid, 30));
    const auto& policy = trigger->webhook_policy;
    triggers::IncomingWebhook in{req.headers, req.body};
    const bool plugin_checks = policy.plugin_verifies;
    if (plugin_checks) {
        // Checked below by the plugin's hook, with the subscription's secrets.
        if (target->secrets.empty())
            return respond(error_response(Error(Errc::signature_invalid, "the webhook delivery is refused: the subscription has no secret to check it with"), rid));
    } else if (policy.signature || policy.signs_time()) {
        if (auto refused = triggers::verify_webhook(policy, in, target->secrets)) {
            log::warn("webhook delivery refused", {{"subscription", target->id}, {"reason", refused->message}, {"request_id", rid}});
            return respond(error_response(*refused, rid));
        }
    } else if (!target->unsigned_ok) {
        // The manifest stopped declaring a signature after the subscription was made: fail closed.
        return respond(error_response(Error(Errc::signature_invalid, "the webhook delivery is refused: the trigger declares no signature and the "
                                                                     "subscription is not marked unsigned"),
                                      rid));
    }
    std::string delivery_id;
    if (!policy.delivery_id_header.empty())
        if (auto d = in.header(policy.delivery_id_header)) delivery_id = std::string(d->substr(0, 200));

    if (!plugin_checks && (!entry->instance->descriptor().handle_webhook || !entry->instance->library().implements_trigger(target->trigger))) {
        // No hook: the body is the event (JSON as such, anything else as text).
        boost::system::error_code ec;
        json::value data = json::parse(req.body, ec);
        if (ec) data = json::object{{"body", req.body}};
        std::vector<triggers::NewEvent> events{{"", json::serialize(data)}};
        return store_events(req, *target, std::move(delivery_id), std::move(events), std::nullopt, std::move(respond));
    }

    // The plugin turns the delivery into events (and may answer a handshake itself).
    std::string_view target_text = req.target;
    auto q = target_text.find('?');
    json::array headers;
    for (const auto& [k, v] : req.headers) headers.push_back(json::array{json::string(k), json::string(v)});
    invoker::InvokeRequest ir;
    ir.hook = invoker::Hook::webhook;
    ir.integration = target->integration;
    ir.action = target->trigger;
    ir.input = json::object{{"method", req.method},
                            {"path", std::string(target_text.substr(0, q))},
                            {"query", q == std::string_view::npos ? std::string() : std::string(target_text.substr(q + 1))},
                            {"headers", std::move(headers)},
                            {"verified", policy.signature.has_value()}};
    if (plugin_checks) {
        json::array secrets;
        for (const auto& s : target->secrets) secrets.push_back(json::string(s));
        ir.input.as_object()["secrets"] = std::move(secrets);  // only for the plugin to verify with
    }
    ir.body = req.body;
    ir.context = json::object{{"subscription", json::object{{"id", target->id}, {"params", target->params}}}, {"request_id", rid}};
    ir.timeout = std::chrono::seconds(10);  // senders give up after about that
    ir.network = req.network;
    if (auto rc = control_.open_connection(target->connection_id)) attach_connection(ir, *rc);
    auto shared_req = std::make_shared<ApiRequest>(std::move(req));
    auto shared_target = std::make_shared<triggers::HookTarget>(std::move(*target));
    invoker_.invoke(std::move(ir), [this, shared_req, shared_target, delivery_id = std::move(delivery_id), respond = std::move(respond)](
                                       invoker::InvokeOutcome o) mutable {
        const std::string& rid = shared_req->request_id;
        if (!o.ok()) {
            log::warn("webhook hook failed", {{"subscription", shared_target->id}, {"reason", o.error->message}, {"request_id", rid}});
            if (o.error->code == Errc::upstream_auth_failed)  // the plugin's own verification refused it
                return respond(error_response(Error(Errc::signature_invalid, "the webhook delivery is refused: " + o.error->message), rid));
            return respond(error_response(*o.error, rid));
        }
        std::vector<triggers::NewEvent> events = triggers::events_from_hook(*o.output);
        std::optional<ApiResponse> answer;
        if (const auto* out = o.output->if_object()) {
            if (const auto* r = out->if_contains("response"); r && r->is_object()) {
                ApiResponse a;
                const auto& ro = r->get_object();
                if (const auto* st = ro.if_contains("status"); st && st->is_int64() && st->get_int64() >= 200 && st->get_int64() < 300)
                    a.status = static_cast<int>(st->get_int64());
                if (const auto* b = ro.if_contains("body")) {
                    if (b->is_string()) {
                        a.body = std::string(b->get_string());
                        a.content_type = "text/plain; charset=utf-8";
                    } else {
                        a.body = json::serialize(*b);
                    }
                }
                answer = std::move(a);
            }
        }
        store_events(*shared_req, *shared_target, std::move(delivery_id), std::move(events), std::move(answer), std::move(respond));
    });
}

void Api::store_events(const ApiRequest& req, const triggers::HookTarget& target, std::string delivery_id, std::vector<triggers::NewEvent> events,
                       std::optional<ApiResponse> answer, std::function<void(ApiResponse)> respond) {
    std::string rid = req.request_id;
    if (events.empty()) {  // a handshake or a delivery the plugin had nothing to make of
        if (answer) return respond(std::move(*answer));
        return respond(json_response(200, json::object{{"received", 0}}));
    }
    triggers::Delivery d{target.team_id, target.id, std::move(delivery_id), std::move(events)};
    // Answered only once the events are on disk: a 2xx is a promise they will be delivered.
    events_.append(std::move(d), [rid, answer = std::move(answer), respond = std::move(respond)](Result<triggers::Stored> r) mutable {
        if (!r) {
            if (r.error().code == Errc::not_found) return respond(error_response(Error(Errc::not_found, "no subscription has this hook URL"), rid));
            return respond(retry_later(r.error(), rid, 5));
        }
        if (answer) return respond(std::move(*answer));
        json::array ids;
        for (const auto& id : r->event_ids) ids.push_back(json::string(id));
        respond(json_response(200, json::object{{"received", r->event_ids.size()}, {"duplicate", r->duplicate}, {"events", std::move(ids)}}));
    });
}

void Api::pull_events(const ApiRequest& req, const store::Principal& who, std::string_view query, std::function<void(ApiResponse)> respond) {
    const std::string& rid = req.request_id;
    triggers::PullOptions o;
    int64_t wait = 0;
    try {
        if (auto a = query_param(query, "after"); !a.empty()) o.after = std::stoll(a);
        if (auto l = query_param(query, "limit"); !l.empty()) o.limit = static_cast<size_t>(std::stoul(l));
        if (auto w = query_param(query, "wait"); !w.empty()) wait = std::stoll(w);
        if (auto l = query_param(query, "lease"); !l.empty()) o.lease = std::chrono::seconds(std::stoll(l));
    } catch (...) {
        return respond(error_response(Error(Errc::invalid_input, "after, limit, wait and lease are whole numbers"), rid));
    }
    if (o.limit < 1 || o.limit > 1000 || wait < 0 || wait > 60 || o.lease.count() < 1 || o.lease.count() > 3600)
        return respond(error_response(Error(Errc::invalid_input, "limit is 1-1000, wait 0-60 (seconds), lease 1-3600 (seconds)"), rid));
    auto first = events_.pull(who.team_id, o);
    if (!first) return respond(error_response(first.error(), rid));
    if (!first->at("events").as_array().empty() || wait == 0 || !req.network) return respond(json_response(200, *first));

    // Nothing yet: wait for this team's next events (or the end of the wait), then look again.
    struct Waiting {
        boost::asio::steady_timer timer;
        uint64_t ticket = 0;
        explicit Waiting(boost::asio::io_context& ioc) : timer(ioc) {}
    };
    auto w = std::make_shared<Waiting>(*req.network);
    w->timer.expires_after(std::chrono::seconds(wait));
    w->ticket = events_.wait_for(who.team_id, [w] {
        boost::asio::post(w->timer.get_executor(), [w] { w->timer.cancel(); });
    });
    int64_t team = who.team_id;
    w->timer.async_wait([this, w, team, o, rid, respond = std::move(respond)](const boost::system::error_code&) {
        events_.cancel_wait(w->ticket);
        try {
            auto again = events_.pull(team, o);
            respond(again ? json_response(200, *again) : error_response(again.error(), rid));
        } catch (const store::StoreError& e) {
            respond(error_response(Error(Errc::store_unavailable, "the store is unavailable; retry shortly"), rid));
        }
    });
}


namespace {

// ?page=&per_page= as numbers, or an error naming them.
bool read_int(std::string_view query, std::string_view key, int64_t& out) {
    auto v = query_param(query, key);
    if (v.empty()) return true;
    try {
        size_t used = 0;
        out = std::stoll(v, &used);
        return used == v.size();
    } catch (...) {
        return false;
    }
}

}  // namespace

bool Api::route_mapping(const ApiRequest& req, const store::Principal& who, const std::vector<std::string_view>& parts, std::string_view query,
                        std::function<void(ApiResponse)>& respond) {
    const std::string& m = req.method;
    const bool get = m == "GET" || m == "HEAD";
    const std::string& rid = req.request_id;
    auto with_body = [&](auto&& fn) {
        auto b = body_object(req);
        if (!b) return respond(error_response(b.error(), rid));
        respond(from(fn(*b), rid));
    };
    // Matching thousands of names or saving thousands of mappings takes a while: on a worker.
    auto off_thread = [&](auto fn) {
        auto b = body_object(req);
        if (!b) return respond(error_response(b.error(), rid));
        auto reply = respond;
        bool queued = invoker_.run_detached([fn = std::move(fn), body = std::move(*b), reply, rid]() mutable {
            try {
                reply(from(fn(body), rid));
            } catch (const store::StoreError&) {
                reply(error_response(Error(Errc::store_unavailable, "the store is unavailable; retry shortly"), rid));
            }
        });
        if (!queued) respond(error_response(Error(Errc::shutting_down, "the runtime is shutting down"), rid));
    };
    auto bad_numbers = [&](std::string_view names) {
        respond(error_response(Error(Errc::invalid_input, std::string(names) + " are whole numbers"), rid));
    };
    // /v1/connections/{id}/organizations[/refresh] and /v1/connections/{id}/mappings[/suggest]
    if (parts.size() >= 4 && parts[1] == "connections" && (parts[3] == "organizations" || parts[3] == "mappings")) {
        std::string id = percent_decode(parts[2]);
        if (parts.size() == 4 && parts[3] == "organizations") {
            if (!get) return respond(method_not_allowed(req, "GET")), true;
            mapping::OptionQuery q;
            q.q = query_param(query, "q");
            if (!read_int(query, "page", q.page) || !read_int(query, "per_page", q.per_page)) return bad_numbers("page and per_page"), true;
            return respond(from(mappings_.options(who, id, q), rid)), true;
        }
        if (parts.size() == 5 && parts[3] == "organizations" && parts[4] == "refresh") {
            if (get) return respond(from(mappings_.refresh_status(who, id), rid)), true;
            if (m != "POST") return respond(method_not_allowed(req, "GET, POST")), true;
            return refresh_organizations(req, who, id, std::move(respond)), true;
        }
        if (parts.size() == 4 && parts[3] == "mappings") {
            if (get) {
                mapping::MappingQuery q;
                q.q = query_param(query, "q");
                q.filter = query_param(query, "filter");
                if (!read_int(query, "page", q.page) || !read_int(query, "per_page", q.per_page)) return bad_numbers("page and per_page"), true;
                return respond(from(mappings_.list(who, id, q), rid)), true;
            }
            if (m != "PUT") return respond(method_not_allowed(req, "GET, PUT")), true;
            return off_thread([this, who, id](const json::object& b) { return mappings_.save(who, id, b); }), true;
        }
        if (parts.size() == 5 && parts[3] == "mappings" && parts[4] == "suggest") {
            if (m != "POST") return respond(method_not_allowed(req, "POST")), true;
            return off_thread([this, who, id](const json::object& b) { return mappings_.suggest(who, id, b); }), true;
        }
        return false;
    }
    // /v1/installations/{integration}/default-connection
    if (parts.size() == 4 && parts[1] == "installations" && parts[3] == "default-connection") {
        std::string integration = percent_decode(parts[2]);
        if (get) return respond(from(mappings_.default_connection(who, integration), rid)), true;
        if (m != "PUT") return respond(method_not_allowed(req, "GET, PUT")), true;
        return with_body([&](const json::object& b) { return mappings_.set_default_connection(who, integration, b); }), true;
    }
    // /v1/organizations/{id}/connections[/{integration}]
    if (parts.size() >= 4 && parts[1] == "organizations" && parts[3] == "connections") {
        std::string org = percent_decode(parts[2]);
        if (parts.size() == 4) {
            if (!get) return respond(method_not_allowed(req, "GET")), true;
            return respond(from(mappings_.organization_connections(who, org), rid)), true;
        }
        if (parts.size() == 5) {
            std::string integration = percent_decode(parts[4]);
            if (m == "DELETE") return respond(from(mappings_.clear_organization_connection(who, org, integration), rid)), true;
            if (m != "PUT") return respond(method_not_allowed(req, "PUT, DELETE")), true;
            return with_body([&](const json::object& b) { return mappings_.set_organization_connection(who, org, integration, b); }), true;
        }
    }
    return false;
}

void Api::refresh_organizations(const ApiRequest& req, const store::Principal& who, std::string connection,
                                std::function<void(ApiResponse)> respond) {
    auto reply = std::make_shared<std::function<void(ApiResponse)>>(std::move(respond));
    auto answered = std::make_shared<std::atomic<bool>>(false);
    try {
        start_refresh(req, who, std::move(connection), reply, answered);
    } catch (const store::StoreError&) {
        if (!answered->exchange(true))
            (*reply)(error_response(Error(Errc::store_unavailable, "the store is unavailable; retry shortly"), req.request_id));
    }
}

void Api::start_refresh(const ApiRequest& req, const store::Principal& who, std::string connection,
                        std::shared_ptr<std::function<void(ApiResponse)>> reply, std::shared_ptr<std::atomic<bool>> answered) {
    const std::string rid = req.request_id;
    auto respond = [&](ApiResponse r) {
        if (!answered->exchange(true)) (*reply)(std::move(r));
    };
    auto b = body_object(req);
    if (!b) return respond(error_response(b.error(), rid));
    mapping::RefreshOptions o;
    bool wait = false;
    for (const auto& [k, v] : *b) {
        if (k == "max_pages" && v.is_int64()) o.max_pages = v.get_int64();
        else if (k == "page_size" && v.is_int64()) o.page_size = v.get_int64();
        else if (k == "wait" && v.is_bool()) wait = v.get_bool();
        else
            return respond(error_response(Error(Errc::invalid_input, "allowed: max_pages and page_size (whole numbers), wait (true or false)",
                                                "/" + std::string(k)),
                                          rid));
    }
    // The connection's credentials, opened once for the whole listing. Only admins get here
    // (Mappings::refresh checks), and an admin maps organizations for every connection of the team.
    auto conn = control_.get_connection(who, connection);
    if (!conn) return respond(error_response(conn.error(), rid));
    std::string integration(conn->at("integration").as_string());
    if (!who.admin()) return respond(error_response(Error(Errc::forbidden, "only admins refresh a connection's organizations"), rid));
    auto rc = control_.open_connection(connection);
    if (!rc) return respond(error_response(rc.error(), rid));
    auto base = std::make_shared<invoker::InvokeRequest>();
    base->hook = invoker::Hook::organizations;
    base->integration = integration;
    attach_connection(*base, *rc);
    base->context["team"] = who.team;
    if (!rid.empty()) base->context["request_id"] = rid;
    mapping::PageFetcher fetch = [this, base](json::value request, std::function<void(Result<json::value>)> done) {
        invoker::InvokeRequest ir = *base;
        ir.input = std::move(request);
        invoker_.invoke(std::move(ir), [done = std::move(done)](invoker::InvokeOutcome out) {
            if (!out.ok()) return done(*out.error);
            done(std::move(*out.output));
        });
    };
    // Without wait the answer is 202 at once and the refresh goes on; its status shows progress.
    // The refresh may finish before the 202 is written (small listings, a fast tool): its end
    // then answers nothing, so a call without wait always gets its 202.
    auto refused = mappings_.refresh(who, connection, o, std::move(fetch), [reply, answered, rid, wait](Result<json::object> r) {
        if (!wait || answered->exchange(true)) {
            if (!r) log::warn("organization refresh failed", {{"reason", r.error().message}, {"request_id", rid}});
            return;
        }
        (*reply)(from(r, rid));
    });
    if (refused) return respond(error_response(*refused, rid));
    if (!wait) respond(from(mappings_.refresh_status(who, connection), rid, 202));
}

}  // namespace patchbay::api
