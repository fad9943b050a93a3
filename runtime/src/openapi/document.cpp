#include "openapi/document.hpp"

#include "common/text.hpp"
#include "manifest/yaml_json.hpp"

#include <boost/json.hpp>
#include <yaml-cpp/yaml.h>

#include <charconv>
#include <fstream>
#include <sstream>

namespace patchbay::openapi {

namespace json = boost::json;
namespace fs = std::filesystem;

namespace {

// A cheap look at YAML before yaml-cpp (whose parser recurses) sees it: how deep flow collections
// nest and how far lines are indented.
std::optional<std::string> yaml_too_deep(std::string_view text, size_t max_depth) {
    size_t flow = 0, deepest_flow = 0, indent = 0, deepest_indent = 0;
    bool line_start = true, in_single = false, in_double = false;
    for (char c : text) {
        if (c == '\n') {
            line_start = true;
            indent = 0;
            in_single = in_double = false;
            continue;
        }
        if (line_start) {
            if (c == ' ') {
                deepest_indent = std::max(deepest_indent, ++indent);
                continue;
            }
            line_start = false;
        }
        if (in_double) {
            if (c == '"') in_double = false;
            continue;
        }
        if (in_single) {
            if (c == '\'') in_single = false;
            continue;
        }
        if (c == '"') in_double = true;
        else if (c == '\'') in_single = true;
        else if (c == '[' || c == '{') deepest_flow = std::max(deepest_flow, ++flow);
        else if ((c == ']' || c == '}') && flow > 0) --flow;
    }
    if (deepest_flow > max_depth) return "collections nest more than " + std::to_string(max_depth) + " levels deep";
    if (deepest_indent > max_depth * 4) return "lines are indented more than " + std::to_string(max_depth * 4) + " spaces";
    return std::nullopt;
}

size_t depth_of(const json::value& v, size_t limit) {
    // Iterative: a deep value must not overflow our own stack either.
    std::vector<std::pair<const json::value*, size_t>> stack{{&v, 1}};
    size_t deepest = 0;
    while (!stack.empty()) {
        auto [node, d] = stack.back();
        stack.pop_back();
        deepest = std::max(deepest, d);
        if (deepest > limit) return deepest;
        if (const auto* o = node->if_object())
            for (const auto& kv : *o) stack.emplace_back(&kv.value(), d + 1);
        else if (const auto* a = node->if_array())
            for (const auto& x : *a) stack.emplace_back(&x, d + 1);
    }
    return deepest;
}

}  // namespace

const json::value* at_pointer(const json::value& root, std::string_view pointer) {
    boost::system::error_code ec;
    const json::value* found = root.find_pointer(pointer, ec);
    return ec ? nullptr : found;
}

Result<json::value> parse_text(std::string_view text, const std::string& what, const Limits& limits, json::storage_ptr storage) {
    size_t first = text.find_first_not_of(" \t\r\n\xEF\xBB\xBF");
    if (first == std::string_view::npos) return Error(Errc::invalid_input, what + " is empty");
    if (text[first] == '{' || text[first] == '[') {
        json::parse_options opt;
        opt.max_depth = limits.max_depth;
        opt.allow_invalid_utf8 = true;
        boost::system::error_code ec;
        json::value v = json::parse(text, ec, storage, opt);
        if (!ec) return v;
        if (ec != json::error::syntax && ec != json::error::incomplete && ec != json::error::too_deep)
            return Error(Errc::invalid_input, what + " is not valid JSON: " + ec.message());
        if (ec == json::error::too_deep)
            return Error(Errc::invalid_input, what + " nests more than " + std::to_string(limits.max_depth) + " levels deep");
        // JSON that does not parse may still be YAML (flow style); fall through.
        if (ec == json::error::incomplete) return Error(Errc::invalid_input, what + " ends in the middle of a JSON value (truncated?)");
    }
    if (auto deep = yaml_too_deep(text, limits.max_depth)) return Error(Errc::invalid_input, what + ": " + *deep);
    try {
        YAML::Node node = YAML::Load(std::string(text));
        size_t budget = limits.max_yaml_nodes;
        json::value v = manifest::yaml_to_json(node, nullptr, "", &budget);
        if (depth_of(v, limits.max_depth) > limits.max_depth)
            return Error(Errc::invalid_input, what + " nests more than " + std::to_string(limits.max_depth) + " levels deep");
        return v;
    } catch (const YAML::Exception& e) {
        return Error(Errc::invalid_input, what + " is neither JSON nor valid YAML: line " + std::to_string(e.mark.line + 1) + ", column " +
                                              std::to_string(e.mark.column + 1) + ": " + e.msg);
    } catch (const std::length_error&) {
        return Error(Errc::invalid_input, what + " expands to more than " + std::to_string(limits.max_yaml_nodes) +
                                              " nodes (YAML aliases); refusing it");
    }
}

Result<Documents> Documents::open(const fs::path& spec, Limits limits) {
    Documents d;
    d.limits_ = limits;
    std::error_code ec;
    auto canonical = fs::weakly_canonical(spec, ec);
    if (ec || !fs::is_regular_file(canonical, ec))
        return Error(Errc::invalid_input, "cannot read the spec '" + spec.string() + "': no such file");
    d.folder_ = canonical.parent_path();
    auto loaded = d.load(canonical);
    if (!loaded) return loaded.error();
    return d;
}

Result<Documents> Documents::from_text(std::string_view text, const std::string& name, Limits limits) {
    Documents d;
    d.limits_ = limits;
    auto v = parse_text(text, name, limits);
    if (!v) return v.error();
    d.files_.push_back(File{fs::path(name), name, std::move(*v)});
    return d;
}

Result<size_t> Documents::load(const fs::path& path) {
    for (size_t i = 0; i < files_.size(); ++i)
        if (files_[i].path == path) return i;
    if (files_.size() >= limits_.max_files) return Error(Errc::invalid_input, "the spec's $refs name more than " + std::to_string(limits_.max_files) + " files");
    std::error_code ec;
    auto size = fs::file_size(path, ec);
    if (ec) return Error(Errc::invalid_input, "cannot read '" + path.string() + "': " + ec.message());
    if (size > limits_.max_file_bytes)
        return Error(Errc::invalid_input, "'" + path.filename().string() + "' is " + std::to_string(size) + " bytes, over the " +
                                              std::to_string(limits_.max_file_bytes) + "-byte limit");
    std::ifstream in(path, std::ios::binary);
    if (!in) return Error(Errc::invalid_input, "cannot open '" + path.string() + "'");
    std::string text(size, '\0');
    in.read(text.data(), static_cast<std::streamsize>(size));
    std::string relative = fs::relative(path, folder_, ec).generic_string();
    auto v = parse_text(text, "'" + relative + "'", limits_, arena_);
    if (!v) return v.error();
    files_.push_back(File{path, relative, std::move(*v)});
    return files_.size() - 1;
}

Result<Located> Documents::resolve(size_t from, std::string_view ref) {
    std::string_view file_part = ref.substr(0, ref.find('#'));
    std::string pointer = ref.find('#') == std::string_view::npos ? "" : percent_decode(ref.substr(ref.find('#') + 1));
    size_t target = from;
    if (!file_part.empty()) {
        if (file_part.find("://") != std::string_view::npos || file_part.rfind("//", 0) == 0)
            return Error(Errc::invalid_input, "$ref '" + std::string(ref) + "' points at a URL; only files next to the spec are read, never the network");
        if (folder_.empty()) return Error(Errc::invalid_input, "$ref '" + std::string(ref) + "' names a file, but this spec was not read from a folder");
        fs::path rel(percent_decode(file_part));
        if (rel.is_absolute()) return Error(Errc::invalid_input, "$ref '" + std::string(ref) + "' is an absolute path; refs must stay in the spec's folder");
        std::error_code ec;
        fs::path candidate = fs::weakly_canonical(files_[from].path.parent_path() / rel, ec);
        auto inside = candidate.lexically_relative(folder_);
        if (ec || inside.empty() || *inside.begin() == "..")
            return Error(Errc::invalid_input, "$ref '" + std::string(ref) + "' leaves the spec's folder; refs must stay inside " + folder_.string());
        if (!fs::is_regular_file(candidate, ec)) return Error(Errc::invalid_input, "$ref '" + std::string(ref) + "': no such file next to the spec");
        auto loaded = load(candidate);
        if (!loaded) return loaded.error();
        target = *loaded;
    }
    const json::value* node = at_pointer(files_[target].root, pointer);
    if (!node) return Error(Errc::invalid_input, "$ref '" + std::string(ref) + "' names nothing in '" + files_[target].relative + "'");
    return Located{target, node, files_[target].relative + "#" + pointer};
}

Result<Located> Documents::deref(size_t from, const json::value& node, std::string key) {
    Located at{from, &node, std::move(key)};
    for (int hops = 0; hops < 64; ++hops) {
        const auto* o = at.node->if_object();
        const auto* r = o ? o->if_contains("$ref") : nullptr;
        if (!r || !r->is_string()) return at;
        auto next = resolve(at.file, r->get_string());
        if (!next) return next.error();
        at = *next;
    }
    return Error(Errc::invalid_input, "$ref chain at '" + at.key + "' is longer than 64 hops (a cycle of refs to refs?)");
}

}  // namespace patchbay::openapi
