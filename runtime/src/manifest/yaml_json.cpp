#include "manifest/yaml_json.hpp"

#include "schema/json_schema.hpp"

#include <boost/json.hpp>

#include <charconv>
#include <cmath>
#include <limits>
#include <stdexcept>

namespace patchbay::manifest {

namespace json = boost::json;

namespace {

// YAML 1.2 core schema resolution for plain scalars.
json::value plain_scalar(const std::string& s) {
    if (s.empty() || s == "~" || s == "null" || s == "Null" || s == "NULL") return nullptr;
    if (s == "true" || s == "True" || s == "TRUE") return true;
    if (s == "false" || s == "False" || s == "FALSE") return false;

    const char* b = s.data();
    const char* e = s.data() + s.size();
    const char* digits = (s[0] == '+') ? b + 1 : b;
    if (digits != e) {
        int64_t i = 0;
        auto [p, ec] = std::from_chars(digits, e, i);
        if (ec == std::errc() && p == e) return i;
        uint64_t u = 0;
        auto [p2, ec2] = std::from_chars(digits, e, u);
        if (ec2 == std::errc() && p2 == e) return u;
        bool looks_float = false;
        for (const char* c = digits; c != e; ++c) {
            if (*c == '.' || *c == 'e' || *c == 'E') looks_float = true;
            else if (!((*c >= '0' && *c <= '9') || *c == '-' || *c == '+')) { looks_float = false; break; }
        }
        if (looks_float) {
            double d = 0;
            auto [p3, ec3] = std::from_chars(digits, e, d);
            if (ec3 == std::errc() && p3 == e) return d;
        }
    }
    if (s == ".inf" || s == ".Inf" || s == "+.inf") return std::numeric_limits<double>::infinity();
    if (s == "-.inf" || s == "-.Inf") return -std::numeric_limits<double>::infinity();
    return json::string(s);
}

}  // namespace

json::value yaml_to_json(const YAML::Node& node, MarkMap* marks, const std::string& base, size_t* budget) {
    if (budget) {
        if (*budget == 0) throw std::length_error("YAML node budget exhausted");
        --*budget;
    }
    if (marks) (*marks)[base] = node.Mark();
    switch (node.Type()) {
        case YAML::NodeType::Undefined:
        case YAML::NodeType::Null:
            return nullptr;
        case YAML::NodeType::Scalar:
            // yaml-cpp tags quoted scalars "!" and plain ones "?".
            if (node.Tag() == "!" ) return json::string(node.Scalar());
            return plain_scalar(node.Scalar());
        case YAML::NodeType::Sequence: {
            json::array a;
            a.reserve(node.size());
            size_t i = 0;
            for (const auto& item : node) a.push_back(yaml_to_json(item, marks, marks ? base + "/" + std::to_string(i) : base, budget)), ++i;
            return a;
        }
        case YAML::NodeType::Map: {
            json::object o;
            for (const auto& kv : node) {
                std::string key = kv.first.Scalar();
                o[key] = yaml_to_json(kv.second, marks, marks ? base + "/" + schema::escape_pointer_token(key) : base, budget);
            }
            return o;
        }
    }
    return nullptr;
}

}  // namespace patchbay::manifest
