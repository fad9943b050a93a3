#include "cli/commands.hpp"

#include "api/api.hpp"
#include "catalog/catalog.hpp"
#include "cli/args.hpp"
#include "common/log.hpp"
#include "http/client.hpp"
#include "invoker/invoker.hpp"

#include <boost/json.hpp>

#include <cstdio>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <sstream>
#include <thread>

namespace patchbay::cli {

namespace fs = std::filesystem;
namespace json = boost::json;

namespace {

std::string trim_slash(std::string s) {
    while (!s.empty() && s.back() == '/') s.pop_back();
    return s;
}

// GET or POST against a running server. Returns the status and parsed body, or prints the error.
std::optional<std::pair<int, json::value>> call_server(const std::string& server, const std::string& method, const std::string& path,
                                                      const std::string& body) {
    http::Client client;
    host::OutboundRequest req;
    req.method = method;
    req.url = trim_slash(server) + path;
    req.body = body;
    req.timeout = std::chrono::minutes(65);
    if (!body.empty()) req.headers.emplace_back("Content-Type", "application/json");
    if (const char* token = std::getenv("PATCHBAY_TOKEN"); token && *token) req.headers.emplace_back("Authorization", std::string("Bearer ") + token);
    auto r = client.perform(req, std::chrono::steady_clock::now() + req.timeout);
    if (!r) {
        std::cerr << "patchbay: cannot reach " << server << ": " << r.error().message << "\n";
        return std::nullopt;
    }
    boost::system::error_code ec;
    json::value v = json::parse(r->body, ec);
    if (ec) {
        std::cerr << "patchbay: the server answered " << r->status << " with a body that is not JSON\n";
        return std::nullopt;
    }
    return std::make_pair(r->status, std::move(v));
}

void print_error(const json::value& err) {
    const auto* o = err.if_object();
    if (!o) return;
    std::string code = o->contains("code") ? std::string(o->at("code").as_string()) : "ERROR";
    std::string message = o->contains("message") ? std::string(o->at("message").as_string()) : "";
    std::cerr << "error: " << code << ": " << message << "\n";
}

void print_table(const json::array& items) {
    size_t w = 4;
    for (const auto& v : items) w = std::max(w, v.at("name").as_string().size());
    std::cout << std::left << std::setw(static_cast<int>(w) + 2) << "NAME" << std::setw(8) << "STATUS" << std::setw(10) << "VERSION"
              << "ACTIONS / ERROR\n";
    for (const auto& v : items) {
        const auto& o = v.as_object();
        std::string status(o.at("status").as_string());
        std::string version = o.contains("version") ? std::string(o.at("version").as_string()) : "-";
        std::string detail;
        if (status == "ready") {
            for (const auto& a : o.at("actions").as_array()) detail += (detail.empty() ? "" : ", ") + std::string(a.as_string());
            if (detail.empty()) detail = "-";
        } else {
            detail = std::string(o.at("error").as_string());
        }
        std::cout << std::left << std::setw(static_cast<int>(w) + 2) << std::string(o.at("name").as_string()) << std::setw(8) << status
                  << std::setw(10) << version << detail << "\n";
    }
}

std::optional<std::string> read_input(const std::string& spec) {
    if (spec == "-") {
        std::ostringstream ss;
        ss << std::cin.rdbuf();
        return ss.str();
    }
    if (!spec.empty() && spec[0] == '@') {
        std::ifstream in(spec.substr(1), std::ios::binary);
        if (!in) return std::nullopt;
        std::ostringstream ss;
        ss << in.rdbuf();
        return ss.str();
    }
    return spec;
}

std::unique_ptr<catalog::Catalog> local_catalog(const Args& args) {
    catalog::Catalog::Options o;
    o.manifests_dir = fs::absolute(args.get("manifests").value_or(default_manifests_dir()));
    // In-process commands load libraries in place: nothing outlives the command.
    auto c = std::make_unique<catalog::Catalog>(o);
    c->refresh();
    return c;
}

const char* kIntegrationsHelp = R"(Usage: patchbay integrations list [--server URL | --manifests DIR] [--json]
       patchbay integrations show NAME [--server URL | --manifests DIR]

Lists the integrations in the catalog with their status, or shows one with its actions and schemas.
With --server, asks a running Patchbay (with the API token in $PATCHBAY_TOKEN); otherwise reads
the manifests folder itself.
)";

const char* kInvokeHelp = R"(Usage: patchbay invoke INTEGRATION ACTION [--input JSON | --input @FILE | --input -] [options]

Runs one action and prints its output as JSON. Exit code 0 on success, 1 when the action failed
(the error code and message go to stderr), 2 for a wrong command line.

Options:
  --input VALUE       the action's input: JSON text, @path to a file, or - for standard input (default: {})
  --server URL        invoke through a running Patchbay (e.g. http://127.0.0.1:8080), as the user
                      whose API token is in $PATCHBAY_TOKEN
  --connection ID     with --server: the connection whose credentials the call uses
  --organization ID   with --server: run it for this platform organization: its connection (its
                      own, else the integration's default) and its mapped tenant
  --manifests DIR     without --server: the manifests folder to load (default: $PATCHBAY_MANIFESTS or ./manifests)
  --timeout MS        give up sooner than the action's own timeout
  --workflow-id ID    the workflow this call belongs to
)";

const char* kManifestHelp = R"(Usage: patchbay manifest validate PATH...

Checks manifests the way the catalog does, library included (existence, sha256, entry symbol, ABI
version, declared actions). PATH is a manifest file or a folder of them. Prints each problem as
FILE:LINE:COLUMN: MESSAGE and exits 1 if there is any.
)";

}  // namespace

int run_integrations(const std::vector<std::string>& argv) {
    Args args;
    if (auto err = parse_args(argv, {"server", "manifests"}, {"json", "help"}, args)) {
        std::cerr << "patchbay integrations: " << *err << "\n";
        return 2;
    }
    if (args.has("help") || args.positional.empty()) {
        std::cout << kIntegrationsHelp;
        return args.has("help") ? 0 : 2;
    }
    const std::string& sub = args.positional[0];
    if (sub == "list") {
        json::array items;
        if (auto server = args.get("server")) {
            auto r = call_server(*server, "GET", "/v1/integrations", "");
            if (!r) return 1;
            if (r->first != 200) {
                print_error(r->second.at("error"));
                return 1;
            }
            items = r->second.at("integrations").as_array();
        } else {
            log::set_level(log::Level::error);
            auto cat = local_catalog(args);
            for (const auto& e : cat->list()) items.push_back(api::summarize(*e));
        }
        if (args.has("json")) std::cout << json::serialize(json::object{{"integrations", items}}) << "\n";
        else print_table(items);
        return 0;
    }
    if (sub == "show") {
        if (args.positional.size() != 2) {
            std::cerr << "patchbay integrations show: give one integration NAME\n";
            return 2;
        }
        const std::string& name = args.positional[1];
        if (auto server = args.get("server")) {
            auto r = call_server(*server, "GET", "/v1/integrations/" + name, "");
            if (!r) return 1;
            if (r->first != 200) {
                print_error(r->second.at("error"));
                return 1;
            }
            std::cout << json::serialize(r->second) << "\n";
            return 0;
        }
        log::set_level(log::Level::error);
        auto cat = local_catalog(args);
        for (const auto& e : cat->list()) {
            if (e->name == name) {
                std::cout << json::serialize(api::describe(*e)) << "\n";
                return 0;
            }
        }
        std::cerr << "error: UNKNOWN_INTEGRATION: no integration named '" << name << "' in " << cat->options().manifests_dir.string() << "\n";
        return 1;
    }
    std::cerr << "patchbay integrations: unknown subcommand '" << sub << "'; use list or show\n";
    return 2;
}

int run_invoke(const std::vector<std::string>& argv) {
    Args args;
    if (auto err = parse_args(argv, {"input", "server", "manifests", "timeout", "workflow-id", "connection", "organization"}, {"help"}, args)) {
        std::cerr << "patchbay invoke: " << *err << "\n";
        return 2;
    }
    if (args.has("help")) {
        std::cout << kInvokeHelp;
        return 0;
    }
    if (args.positional.size() != 2) {
        std::cerr << "patchbay invoke: give INTEGRATION and ACTION (see --help)\n";
        return 2;
    }
    auto text = read_input(args.get("input").value_or("{}"));
    if (!text) {
        std::cerr << "patchbay invoke: cannot read the input file " << args.get("input").value_or("") << "\n";
        return 2;
    }
    boost::system::error_code ec;
    json::value input = json::parse(*text, ec);
    if (ec) {
        std::cerr << "patchbay invoke: --input is not valid JSON (" << ec.message() << ")\n";
        return 2;
    }
    std::optional<int64_t> timeout;
    if (auto t = args.get("timeout")) {
        try {
            timeout = std::stoll(*t);
        } catch (...) {
        }
        if (!timeout || *timeout <= 0) {
            std::cerr << "patchbay invoke: --timeout takes a positive number of milliseconds\n";
            return 2;
        }
    }
    const std::string& integration = args.positional[0];
    const std::string& action = args.positional[1];

    if (auto server = args.get("server")) {
        json::object body{{"input", input}};
        if (timeout) body["timeout_ms"] = *timeout;
        if (auto w = args.get("workflow-id")) body["workflow_id"] = *w;
        if (auto c = args.get("connection")) body["connection"] = *c;
        if (auto o = args.get("organization")) body["organization"] = *o;
        auto r = call_server(*server, "POST", "/v1/integrations/" + integration + "/actions/" + action + "/invoke", json::serialize(body));
        if (!r) return 1;
        if (r->first != 200) {
            if (const auto* o = r->second.if_object(); o && o->contains("error")) print_error(o->at("error"));
            else std::cerr << "error: HTTP " << r->first << "\n";
            return 1;
        }
        std::cout << json::serialize(r->second.at("output")) << "\n";
        return 0;
    }

    if (args.get("connection") || args.get("organization")) {
        std::cerr << "patchbay invoke: --connection and --organization need --server: connections, their secrets and the "
                     "organization mappings live in a running Patchbay's store\n";
        return 2;
    }
    if (!log::enabled(log::Level::debug)) log::set_level(log::Level::warn);
    auto cat = local_catalog(args);
    http::Client client;
    invoker::WorkerPool pool(4);
    invoker::Invoker inv(*cat, pool, &client);
    invoker::InvokeRequest req;
    req.integration = integration;
    req.action = action;
    req.input = std::move(input);
    if (timeout) req.timeout = std::chrono::milliseconds(*timeout);
    if (auto w = args.get("workflow-id")) req.context["workflow_id"] = *w;
    req.output_text_only = true;  // printed as the plugin wrote it: numbers keep their digits
    auto outcome = inv.invoke_blocking(std::move(req));
    if (!outcome.ok()) {
        std::cerr << "error: " << code_name(outcome.error->code) << ": " << outcome.error->message << "\n";
        return 1;
    }
    std::cout << outcome.output_text << "\n";
    return 0;
}

int run_manifest(const std::vector<std::string>& argv) {
    Args args;
    if (auto err = parse_args(argv, {}, {"help"}, args)) {
        std::cerr << "patchbay manifest: " << *err << "\n";
        return 2;
    }
    if (args.has("help") || args.positional.empty() || args.positional[0] != "validate") {
        std::cout << kManifestHelp;
        return args.has("help") ? 0 : 2;
    }
    if (args.positional.size() < 2) {
        std::cerr << "patchbay manifest validate: give at least one manifest file or folder\n";
        return 2;
    }
    log::set_level(log::Level::off);
    std::vector<fs::path> files;
    for (size_t i = 1; i < args.positional.size(); ++i) {
        fs::path p = args.positional[i];
        std::error_code ec;
        if (fs::is_directory(p, ec)) {
            for (const auto& d : fs::recursive_directory_iterator(p, ec)) {
                auto ext = d.path().extension();
                if (d.is_regular_file() && (ext == ".yaml" || ext == ".yml")) files.push_back(d.path());
            }
        } else if (fs::exists(p, ec)) {
            files.push_back(p);
        } else {
            std::cerr << p.string() << ": no such file or folder\n";
            return 1;
        }
    }
    std::sort(files.begin(), files.end());
    // The same parser and loader the catalog uses, so the messages are the ones `serve` shows.
    int bad = 0;
    loader::Loader loader({});
    for (const auto& f : files) {
        auto parsed = manifest::parse_manifest_file(f);
        std::vector<std::string> problems;
        for (const auto& d : parsed.diagnostics) problems.push_back(d.to_string());
        if (parsed.manifest && parsed.manifest->library) {
            auto lib = loader.load(*parsed.manifest->library, parsed.manifest->sha256);
            if (!lib) problems.push_back(f.string() + ": " + lib.error().message);
            else if (auto inst = loader::Loader::instantiate(lib.value(), *parsed.manifest); !inst)
                problems.push_back(f.string() + ": " + inst.error().message);
        }
        if (problems.empty()) {
            std::cout << f.string() << ": ok";
            if (parsed.manifest && parsed.manifest->plugin)
                std::cout << " (configures plugin '" << *parsed.manifest->plugin << "', checked when served)";
            std::cout << "\n";
        } else {
            ++bad;
            for (const auto& p : problems) std::cerr << p << "\n";
        }
    }
    if (files.empty()) {
        std::cerr << "no manifests (*.yaml, *.yml) found\n";
        return 1;
    }
    return bad ? 1 : 0;
}

}  // namespace patchbay::cli
