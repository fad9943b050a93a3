// A small argument reader for the `patchbay` subcommands: positionals plus --flag VALUE,
// --flag=VALUE and boolean --flag. Unknown flags are errors that name the flag.
#pragma once

#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace patchbay::cli {

struct Args {
    std::vector<std::string> positional;
    std::map<std::string, std::string> values;
    std::set<std::string> flags;
    std::map<std::string, std::vector<std::string>> repeated;  // every value of a flag given several times

    std::vector<std::string> get_all(const std::string& name) const {
        auto it = repeated.find(name);
        return it == repeated.end() ? std::vector<std::string>{} : it->second;
    }

    std::optional<std::string> get(const std::string& name) const {
        auto it = values.find(name);
        if (it == values.end()) return std::nullopt;
        return it->second;
    }
    bool has(const std::string& name) const { return flags.count(name) || values.count(name); }
};

// `with_value` lists flags that take a value; `booleans` flags that don't. Returns an error text.
inline std::optional<std::string> parse_args(const std::vector<std::string>& argv, const std::set<std::string>& with_value,
                                             const std::set<std::string>& booleans, Args& out) {
    for (size_t i = 0; i < argv.size(); ++i) {
        const std::string& a = argv[i];
        if (a == "--") {
            for (++i; i < argv.size(); ++i) out.positional.push_back(argv[i]);
            break;
        }
        if (a.rfind("--", 0) != 0 || a.size() == 2) {
            out.positional.push_back(a);
            continue;
        }
        std::string name = a.substr(2), value;
        bool inline_value = false;
        if (auto eq = name.find('='); eq != std::string::npos) {
            value = name.substr(eq + 1);
            name = name.substr(0, eq);
            inline_value = true;
        }
        if (with_value.count(name)) {
            if (!inline_value) {
                if (i + 1 >= argv.size()) return "--" + name + " needs a value";
                value = argv[++i];
            }
            out.values[name] = value;
            out.repeated[name].push_back(value);
        } else if (booleans.count(name)) {
            if (inline_value) return "--" + name + " takes no value";
            out.flags.insert(name);
        } else {
            return "unknown option --" + name + " (see --help)";
        }
    }
    return std::nullopt;
}

}  // namespace patchbay::cli
