// A fast matcher for the regular expressions JSON Schema `pattern`s mostly are: a sequence of
// literals, `.`, bracket expressions and \d \w escapes, each optionally quantified (? * + {n,m}),
// maybe anchored with ^ and $. No groups, alternation, back-references or assertions.
//
// std::regex (libstdc++) stays the reference: a pattern is compiled by it first (which refuses what
// is not a valid ECMAScript expression), and this matcher only takes the expressions it can decide
// exactly as std::regex_search does, byte by byte (the text is UTF-8; so are the expressions, and
// std::regex compares bytes). Anything else, or anything it is unsure of, leaves it out: the
// caller then asks std::regex. A differential test holds the two to the same answers.
//
// The expression becomes at most 64 steps, each one character class used once, optionally or any
// number of times ({2,4} is two steps plus two optional ones). Matching keeps the set of steps
// reachable so far as one 64-bit word and walks the text once: linear time, no backtracking.
#pragma once

#include <bitset>
#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

namespace patchbay::schema {

class SimplePattern {
public:
    // nullopt when the expression is outside what this matcher decides exactly.
    static std::optional<SimplePattern> compile(std::string_view expression);

    // Whether the expression matches somewhere in `text` (as std::regex_search does; at the start
    // only when it begins with ^, up to the end only when it ends with $).
    bool search(std::string_view text) const;

private:
    enum class Times : uint8_t { once, optional, any };
    struct Step {
        std::bitset<256> chars;  // by byte value
        Times times = Times::once;
    };
    uint64_t closure(uint64_t set) const;  // adds the steps reachable by skipping optional ones

    std::vector<Step> steps_;
    bool at_start_ = false;  // ^
    bool at_end_ = false;    // $
    uint64_t skippable_ = 0;  // the steps that are optional or repeated, as bits
};

}  // namespace patchbay::schema
