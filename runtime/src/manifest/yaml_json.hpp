// Converts yaml-cpp nodes into boost::json values, keeping YAML's own typing rules: a plain scalar
// is a null, a boolean, an integer or a float when it reads as one; a quoted scalar is always a
// string. Optionally records where each JSON pointer came from, so a schema error found later can
// still name the line and column of the YAML it was written on.
#pragma once

#include <boost/json/value.hpp>
#include <yaml-cpp/yaml.h>

#include <map>
#include <string>

namespace patchbay::manifest {

using MarkMap = std::map<std::string, YAML::Mark>;

// `budget`, when given, is the most nodes to produce (YAML aliases can make a small file expand
// enormously); each node takes one, and std::length_error is thrown when it runs out.
boost::json::value yaml_to_json(const YAML::Node& node, MarkMap* marks = nullptr, const std::string& base = "", size_t* budget = nullptr);

}  // namespace patchbay::manifest
