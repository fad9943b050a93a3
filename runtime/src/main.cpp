// The `patchbay` executable: `serve` runs the runtime; the other subcommands inspect manifests and
// invoke actions, in-process or against a running server.
#include "cli/commands.hpp"

#include <patchbay/abi.h>

#include <cstring>
#include <exception>
#include <iostream>
#include <string>
#include <vector>

namespace {

const char* kHelp = R"(Usage: patchbay COMMAND [options]

Commands:
  serve                              run the runtime and its HTTP API
  integrations list|show             list the catalog, or show one integration
  invoke INTEGRATION ACTION          run an action and print its output
  manifest validate PATH...          check manifests and their libraries
  admin teams|users|tokens|audit     manage teams, users and API tokens on a data directory
  keys status|rotate|prune           the master keys that seal connection secrets
  openapi import SPEC --name NAME    make an integration from an OpenAPI or Swagger description
  version                            print the version and the plugin ABI it speaks

Run `patchbay COMMAND --help` for a command's options.
)";

}  // namespace

int main(int argc, char** argv) {
    std::vector<std::string> args(argv + 1, argv + argc);
    if (args.empty() || args[0] == "--help" || args[0] == "-h" || args[0] == "help") {
        std::cout << kHelp;
        return args.empty() ? 2 : 0;
    }
    std::string cmd = args[0];
    std::vector<std::string> rest(args.begin() + 1, args.end());
    try {
        if (cmd == "serve") return patchbay::cli::run_serve(rest);
        if (cmd == "integrations") return patchbay::cli::run_integrations(rest);
        if (cmd == "invoke") return patchbay::cli::run_invoke(rest);
        if (cmd == "manifest") return patchbay::cli::run_manifest(rest);
        if (cmd == "admin") return patchbay::cli::run_admin(rest);
        if (cmd == "keys") return patchbay::cli::run_keys(rest);
        if (cmd == "openapi") return patchbay::cli::run_openapi(rest);
        if (cmd == "version" || cmd == "--version") {
            std::cout << "patchbay " PATCHBAY_VERSION " (plugin ABI " << PATCHBAY_ABI_MAJOR << "." << PATCHBAY_ABI_MINOR << ")\n";
            return 0;
        }
    } catch (const std::exception& e) {
        std::cerr << "patchbay " << cmd << ": unexpected failure: " << e.what() << "\n";
        return 1;
    }
    std::cerr << "patchbay: unknown command '" << cmd << "'\n\n" << kHelp;
    return 2;
}
