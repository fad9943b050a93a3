#include "api/api.hpp"

#include "common/log.hpp"

#include <boost/json.hpp>

#include <algorithm>
#include <chrono>
#include <ctime>

namespace patchbay::api {

namespace json = boost::json;

namespace {

std::string iso_time(std::chrono::system_clock::time_point t) {
    auto secs = std::chrono::system_clock::to_time_t(t);
    std::tm tm{};
    gmtime_r(&secs, &tm);
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return buf;
}

ApiResponse json_response(int status, const json::value& v) {
    ApiResponse r;
    r.status = status;
    r.body = json::serialize(v);
    return r;
}

std::vector<std::string_view> split_path(std::string_view path) {
    std::vector<std::string_view> parts;
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

std::string percent_decode(std::string_view s) {
    std::string out;
    for (size_t i = 0; i < s.size(); ++i) {
        if (s[i] == '%' && i + 2 < s.size() && std::isxdigit(static_cast<unsigned char>(s[i + 1])) &&
            std::isxdigit(static_cast<unsigned char>(s[i + 2]))) {
            out += static_cast<char>(std::stoi(std::string(s.substr(i + 1, 2)), nullptr, 16));
            i += 2;
        } else if (s[i] == '+') {
            out += ' ';
        } else {
            out += s[i];
        }
    }
    return out;
}

std::string query_param(std::string_view query, std::string_view key) {
    size_t i = 0;
    while (i < query.size()) {
        size_t j = query.find('&', i);
        if (j == std::string_view::npos) j = query.size();
        auto pair = query.substr(i, j - i);
        auto eq = pair.find('=');
        if (percent_decode(pair.substr(0, eq)) == key) return eq == std::string_view::npos ? "" : percent_decode(pair.substr(eq + 1));
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
    return json_response(http_status(error.code), body);
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

Api::Api(catalog::Catalog& catalog, invoker::Invoker& invoker) : catalog_(catalog), invoker_(invoker) {}

ApiResponse Api::list_integrations(const ApiRequest&, std::string_view query) const {
    std::string q = query_param(query, "q");
    std::string status = query_param(query, "status");
    std::transform(q.begin(), q.end(), q.begin(), [](unsigned char c) { return std::tolower(c); });
    json::array items;
    size_t ready = 0, broken = 0;
    for (const auto& e : catalog_.list()) {
        if (!status.empty() && status != (e->ready() ? "ready" : "error")) continue;
        if (!q.empty()) {
            std::string hay = e->name + " " + (e->manifest ? e->manifest->title : "");
            std::transform(hay.begin(), hay.end(), hay.begin(), [](unsigned char c) { return std::tolower(c); });
            if (hay.find(q) == std::string::npos) continue;
        }
        (e->ready() ? ready : broken)++;
        items.push_back(summarize(*e));
    }
    return json_response(200, json::object{{"integrations", std::move(items)}, {"ready", ready}, {"error", broken}});
}

ApiResponse Api::show_integration(const ApiRequest& req, std::string_view name) const {
    auto entry = catalog_.find(name);
    if (!entry) {
        for (const auto& e : catalog_.list())  // a broken manifest is still shown by its name
            if (e->name == name) entry = e;
    }
    if (!entry)
        return error_response(Error(Errc::unknown_integration, "no integration named '" + std::string(name) + "' is in the catalog"),
                              req.request_id);
    return json_response(200, describe(*entry));
}

void Api::invoke(ApiRequest req, std::string integration, std::string action, std::function<void(ApiResponse)> respond) {
    invoker::InvokeRequest ir;
    ir.integration = std::move(integration);
    ir.action = std::move(action);
    if (!req.body.empty()) {
        boost::system::error_code ec;
        json::value body = json::parse(req.body, ec);
        if (ec)
            return respond(error_response(Error(Errc::malformed_json, "the request body is not valid JSON (" + ec.message() +
                                                                          "); send {\"input\": {...}}"),
                                          req.request_id));
        if (!body.is_object())
            return respond(error_response(Error(Errc::invalid_input, "the request body must be a JSON object such as {\"input\": {...}}"),
                                          req.request_id));
        auto& o = body.get_object();
        for (const auto& [k, v] : o) {
            if (k != "input" && k != "workflow_id" && k != "timeout_ms")
                return respond(error_response(Error(Errc::invalid_input, "unknown field '" + std::string(k) +
                                                                             "' in the request body; allowed: input, workflow_id, timeout_ms",
                                                    "/" + std::string(k)),
                                              req.request_id));
        }
        if (auto* in = o.if_contains("input")) ir.input = std::move(*in);
        if (auto* w = o.if_contains("workflow_id")) {
            if (!w->is_string())
                return respond(error_response(Error(Errc::invalid_input, "workflow_id must be a string", "/workflow_id"), req.request_id));
            ir.context["workflow_id"] = *w;
        }
        if (auto* t = o.if_contains("timeout_ms")) {
            if (!t->is_int64() || t->get_int64() <= 0)
                return respond(error_response(Error(Errc::invalid_input, "timeout_ms must be a positive integer", "/timeout_ms"), req.request_id));
            ir.timeout = std::chrono::milliseconds(t->get_int64());
        }
    }
    if (!req.request_id.empty()) ir.context["request_id"] = req.request_id;
    ir.network = req.network;
    std::string name = ir.integration, act = ir.action, rid = req.request_id;
    invoker_.invoke(std::move(ir), [respond = std::move(respond), name, act, rid](invoker::InvokeOutcome o) {
        if (!o.ok()) {
            if (log::enabled(log::Level::debug))
                log::debug("invoke failed", {{"integration", name}, {"action", act}, {"code", code_name(o.error->code)}, {"request_id", rid}});
            return respond(error_response(*o.error, rid));
        }
        json::object body{{"output", std::move(*o.output)}, {"integration", name}, {"action", act}, {"version", o.version},
                          {"duration_us", o.elapsed.count()}};
        if (!rid.empty()) body["request_id"] = rid;
        respond(json_response(200, body));
    });
}

void Api::handle(ApiRequest req, std::function<void(ApiResponse)> respond) {
    std::string_view target = req.target;
    std::string_view path = target.substr(0, target.find('?'));
    std::string_view query = path.size() < target.size() ? target.substr(path.size() + 1) : std::string_view();
    auto parts = split_path(path);
    const bool get = req.method == "GET" || req.method == "HEAD";

    if (parts.size() == 1 && parts[0] == "healthz") {
        if (!get) return respond(method_not_allowed(req, "GET"));
        return respond(json_response(200, json::object{{"status", "ok"}}));
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
    if (parts.size() >= 2 && parts[1] == "integrations") {
        if (parts.size() == 2) {
            if (!get) return respond(method_not_allowed(req, "GET"));
            return respond(list_integrations(req, query));
        }
        std::string name = percent_decode(parts[2]);
        if (parts.size() == 3) {
            if (!get) return respond(method_not_allowed(req, "GET"));
            return respond(show_integration(req, name));
        }
        if (parts.size() == 6 && parts[3] == "actions" && parts[5] == "invoke") {
            if (req.method != "POST") return respond(method_not_allowed(req, "POST"));
            return invoke(std::move(req), name, percent_decode(parts[4]), std::move(respond));
        }
    }
    respond(error_response(Error(Errc::route_not_found, "no route for " + std::string(path)), req.request_id));
}

}  // namespace patchbay::api
