// The `patchbay` subcommands. Each returns the process exit code: 0 success, 1 the operation
// failed (the error is printed), 2 the command line was wrong.
#pragma once

#include <string>
#include <vector>

namespace patchbay::cli {

int run_serve(const std::vector<std::string>& args);
int run_integrations(const std::vector<std::string>& args);
int run_invoke(const std::vector<std::string>& args);
int run_manifest(const std::vector<std::string>& args);
int run_admin(const std::vector<std::string>& args);
int run_keys(const std::vector<std::string>& args);
int run_openapi(const std::vector<std::string>& args);

std::string default_manifests_dir();
std::string default_data_dir();

}  // namespace patchbay::cli
