// `patchbay openapi import`: an OpenAPI description in, a manifest for the generic plugin out.
#include "cli/args.hpp"
#include "cli/commands.hpp"
#include "common/text.hpp"
#include "openapi/importer.hpp"

#include <boost/json.hpp>

#include <chrono>
#include <cstdio>
#include <iostream>
#include <unistd.h>

namespace patchbay::cli {

namespace fs = std::filesystem;
namespace json = boost::json;

namespace {

const char* kImportHelp = R"(Usage: patchbay openapi import SPEC --name NAME [options]
       patchbay openapi check SPEC...   (see patchbay openapi check --help)

Reads an OpenAPI 3.0/3.1 or Swagger 2.0 description (JSON or YAML; $refs to files next to it are
followed, never outside its folder and never over the network), writes NAME.yaml into the
manifests folder (an integration on the generic `openapi` plugin, one action per operation), and
prints an import report. A running server picks the new manifest up within seconds.

Options:
  --name NAME               the integration's name (lower-case letters, digits, - and _)
  --title TITLE             its title (default: the spec's info.title)
  --manifests DIR           where to write (default: $PATCHBAY_MANIFESTS or ./manifests)
  --base-url URL            the API's base URL, instead of the spec's servers
  --include-tag TAG         only operations with this tag (repeatable; also comma-separated)
  --exclude-tag TAG         leave out operations with this tag
  --include-path PREFIX     only operations under this path (a trailing * matches any suffix)
  --exclude-path PREFIX     leave out operations under this path
  --include-operation ID    only this operationId or action name
  --exclude-operation ID    leave out this operationId or action name
  --report FORMAT           text (default) or json
  --dry-run                 print the report without writing the manifest
  --force                   replace an existing NAME.yaml
)";


}  // namespace

namespace {

const char* kCheckHelp = R"(Usage: patchbay openapi check SPEC... [--report text|json]

Imports each description without writing anything and says which would not import, and why:
one line per failure, then a summary. Exit status 1 when any failed.
)";

int run_check(const std::vector<std::string>& argv) {
    Args args;
    if (auto err = parse_args(argv, {"report"}, {"help"}, args)) {
        std::cerr << "patchbay openapi check: " << *err << "\n";
        return 2;
    }
    if (args.has("help") || args.positional.empty()) {
        std::cout << kCheckHelp;
        return args.has("help") ? 0 : 2;
    }
    bool as_json = args.get("report").value_or("text") == "json";
    size_t ok = 0, failed = 0, operations = 0, imported = 0;
    json::array failures, skipped;
    auto started = std::chrono::steady_clock::now();
    for (const auto& path : args.positional) {
        openapi::ImportOptions o;
        o.name = "check";
        auto docs = openapi::Documents::open(path);
        Result<openapi::ImportResult> r = docs ? openapi::import_spec(std::move(*docs), o) : Result<openapi::ImportResult>(docs.error());
        if (r) {
            ++ok;
            operations += r->operations;
            imported += r->imported;
            for (const auto& sk : r->skipped) {
                if (as_json) skipped.push_back(json::object{{"spec", path}, {"operation", sk.operation}, {"reason", sk.reason}});
                else std::cout << path << ": skipped " << sk.operation << ": " << sk.reason << "\n";
            }
        } else {
            ++failed;
            if (as_json) failures.push_back(json::object{{"spec", path}, {"error", r.error().message}});
            else std::cout << path << ": " << r.error().message << "\n";
        }
    }
    double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    size_t total = ok + failed;
    double rate = total ? 100.0 * static_cast<double>(ok) / static_cast<double>(total) : 0;
    if (as_json) {
        std::cout << json::serialize(json::object{{"specs", total}, {"imported", ok}, {"failed", failed}, {"percent", rate},
                                                  {"operations", operations}, {"operations_imported", imported}, {"seconds", seconds},
                                                  {"failures", std::move(failures)}, {"skipped", std::move(skipped)}})
                  << "\n";
    } else {
        std::printf("%zu of %zu descriptions import (%.2f%%); %zu of %zu operations; %.1f s\n", ok, total, rate, imported, operations, seconds);
    }
    return failed ? 1 : 0;
}

}  // namespace

int run_openapi(const std::vector<std::string>& argv) {
    if (!argv.empty() && argv[0] == "check") return run_check(std::vector<std::string>(argv.begin() + 1, argv.end()));
    if (argv.empty() || argv[0] != "import") {
        std::cerr << (argv.empty() || argv[0] == "--help" ? "" : "patchbay openapi: unknown subcommand\n") << kImportHelp;
        return argv.size() == 1 && argv[0] == "--help" ? 0 : 2;
    }
    Args args;
    if (auto err = parse_args(std::vector<std::string>(argv.begin() + 1, argv.end()),
                              {"name", "title", "manifests", "base-url", "include-tag", "exclude-tag", "include-path", "exclude-path",
                               "include-operation", "exclude-operation", "report"},
                              {"help", "dry-run", "force"}, args)) {
        std::cerr << "patchbay openapi import: " << *err << "\n";
        return 2;
    }
    if (args.has("help")) {
        std::cout << kImportHelp;
        return 0;
    }
    if (args.positional.size() != 1 || !args.get("name")) {
        std::cerr << "patchbay openapi import: give one SPEC file and --name NAME\n\n" << kImportHelp;
        return 2;
    }
    std::string format = args.get("report").value_or("text");
    if (format != "text" && format != "json") {
        std::cerr << "patchbay openapi import: --report is text or json\n";
        return 2;
    }
    openapi::ImportOptions options;
    options.name = *args.get("name");
    options.title = args.get("title").value_or("");
    options.base_url = args.get("base-url").value_or("");
    options.include_tags = comma_list(args.get_all("include-tag"));
    options.exclude_tags = comma_list(args.get_all("exclude-tag"));
    options.include_paths = comma_list(args.get_all("include-path"));
    options.exclude_paths = comma_list(args.get_all("exclude-path"));
    options.include_operations = comma_list(args.get_all("include-operation"));
    options.exclude_operations = comma_list(args.get_all("exclude-operation"));
    fs::path spec = args.positional[0];
    options.spec_reference = spec.filename().string();
    bool terminal = ::isatty(2);
    options.progress = [terminal, last = size_t(0)](size_t done, size_t total) mutable {
        if (!terminal || total < 200) return;
        size_t percent = total ? done * 100 / total : 100;
        if (percent == last && done != total) return;
        last = percent;
        std::cerr << "\rimporting operations: " << done << "/" << total << " (" << percent << "%)" << (done == total ? "\n" : "") << std::flush;
    };

    auto docs = openapi::Documents::open(spec);
    if (!docs) {
        std::cerr << "patchbay openapi import: " << docs.error().message << "\n";
        return 1;
    }
    auto result = openapi::import_spec(std::move(*docs), options);
    if (!result) {
        std::cerr << "patchbay openapi import: " << result.error().message << "\n";
        return 1;
    }
    fs::path folder = args.get("manifests").value_or(default_manifests_dir());
    fs::path target = folder / (options.name + ".yaml");
    if (!args.has("dry-run")) {
        if (auto e = openapi::write_manifest(folder, *result, spec.filename().string(), args.has("force"))) {
            std::cerr << "patchbay openapi import: " << e->message << "\n";
            return 1;
        }
    }
    if (format == "json") {
        auto report = result->report();
        report["manifest"] = args.has("dry-run") ? "" : target.string();
        std::cout << json::serialize(report) << "\n";
        return 0;
    }
    std::cout << (args.has("dry-run") ? "would import " : "imported ") << result->imported << " of " << result->operations
              << " operations from " << spec.filename().string() << " (" << (result->spec_version == "2.0" ? "Swagger " : "OpenAPI ")
              << result->spec_version << ")" << (args.has("dry-run") ? "" : " into " + target.string()) << "\n";
    std::cout << "auth types:";
    for (const auto& a : result->auth_types) std::cout << " " << a;
    std::cout << "\n";
    if (!result->skipped.empty()) {
        std::cout << "skipped " << result->skipped.size() << ":\n";
        for (const auto& s : result->skipped) std::cout << "  " << s.operation << ": " << s.reason << "\n";
    }
    for (const auto& w : result->warnings) std::cout << "warning: " << w << "\n";
    return 0;
}

}  // namespace patchbay::cli
