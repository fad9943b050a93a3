#include "schema/simple_pattern.hpp"

namespace patchbay::schema {

namespace {

using Chars = std::bitset<256>;
constexpr size_t kMaxSteps = 64;

void add_range(Chars& set, unsigned char lo, unsigned char hi) {
    for (unsigned c = lo; c <= hi; ++c) set.set(c);
}

Chars digits() {
    Chars s;
    add_range(s, '0', '9');
    return s;
}

Chars word() {
    Chars s = digits();
    add_range(s, 'a', 'z');
    add_range(s, 'A', 'Z');
    s.set('_');
    return s;
}

bool is_special(char c) {
    switch (c) {
        case '\\': case '^': case '$': case '.': case '|': case '?': case '*': case '+':
        case '(': case ')': case '[': case ']': case '{': case '}':
            return true;
        default:
            return false;
    }
}

// One escape after a backslash (`c` is the character after it), outside or inside brackets: the
// set it stands for, or nullopt for escapes left to std::regex (\s, \b, \cX, \x.., \u...., \0,
// back-references, and letters with no meaning).
std::optional<Chars> escape(char c) {
    Chars s;
    switch (c) {
        case 'd': return digits();
        case 'D': return ~digits();
        case 'w': return word();
        case 'W': return ~word();
        case 'n': s.set('\n'); return s;
        case 'r': s.set('\r'); return s;
        case 't': s.set('\t'); return s;
        case 'f': s.set('\f'); return s;
        case 'v': s.set('\v'); return s;
        default: break;
    }
    auto u = static_cast<unsigned char>(c);
    // An escaped punctuation character stands for itself.
    if (u > 0x20 && u < 0x7f && !(c >= '0' && c <= '9') && !(c >= 'a' && c <= 'z') && !(c >= 'A' && c <= 'Z')) {
        s.set(u);
        return s;
    }
    return std::nullopt;
}

// A bracket expression starting after its '['; `i` ends after its ']'.
std::optional<Chars> bracket(std::string_view p, size_t& i) {
    bool negated = false;
    if (i < p.size() && p[i] == '^') {
        negated = true;
        ++i;
    }
    if (i >= p.size() || p[i] == ']') return std::nullopt;  // [] and [^]: left to std::regex
    Chars set;
    // One member: a character (a byte below 0x80 may start a range) or a class escape.
    struct Member {
        Chars chars;
        std::optional<unsigned char> single;  // the character, when it is one
    };
    auto member = [&](Member& m) -> bool {
        if (i >= p.size()) return false;
        char c = p[i];
        if (c == '[' && i + 1 < p.size() && (p[i + 1] == ':' || p[i + 1] == '.' || p[i + 1] == '=')) return false;  // POSIX classes
        if (c == '\\') {
            if (i + 1 >= p.size()) return false;
            char e = p[i + 1];
            if (e == 'b') return false;  // \b is a backspace in brackets: left to std::regex
            auto s = escape(e);
            if (!s) return false;
            m.chars = *s;
            if (s->count() == 1)  // an escaped character, not a class: it may bound a range
                for (unsigned k = 0; k < 256; ++k)
                    if ((*s)[k]) m.single = static_cast<unsigned char>(k);
            i += 2;
            return true;
        }
        m.chars.set(static_cast<unsigned char>(c));
        m.single = static_cast<unsigned char>(c);
        ++i;
        return true;
    };
    for (;;) {
        if (i >= p.size()) return std::nullopt;
        if (p[i] == ']') {
            ++i;
            break;
        }
        Member lo;
        if (!member(lo)) return std::nullopt;
        if (i + 1 < p.size() && p[i] == '-' && p[i + 1] != ']') {
            ++i;
            Member hi;
            if (!member(hi)) return std::nullopt;
            // A range of two characters below 0x80 (std::regex compares chars, which are signed
            // here: ranges over bytes from 0x80 are left to it).
            if (!lo.single || !hi.single || *lo.single >= 0x80 || *hi.single >= 0x80 || *lo.single > *hi.single) return std::nullopt;
            add_range(set, *lo.single, *hi.single);
            continue;
        }
        set |= lo.chars;
    }
    return negated ? ~set : set;
}

// A number in a {n,m} quantifier.
std::optional<size_t> number(std::string_view p, size_t& i) {
    size_t start = i, n = 0;
    while (i < p.size() && p[i] >= '0' && p[i] <= '9') {
        n = n * 10 + static_cast<size_t>(p[i] - '0');
        if (n > kMaxSteps) return std::nullopt;
        ++i;
    }
    if (i == start) return std::nullopt;
    return n;
}

}  // namespace

std::optional<SimplePattern> SimplePattern::compile(std::string_view p) {
    SimplePattern out;
    size_t i = 0;
    if (i < p.size() && p[i] == '^') {
        out.at_start_ = true;
        ++i;
    }
    size_t end = p.size();
    if (end > i && p[end - 1] == '$') {
        // Only a '$' that is not escaped: an even run of backslashes before it.
        size_t slashes = 0;
        while (end - 1 - slashes > i && p[end - 2 - slashes] == '\\') ++slashes;
        if (slashes % 2 == 0) {
            out.at_end_ = true;
            --end;
        }
    }
    std::string_view body = p.substr(0, end);
    while (i < body.size()) {
        Chars atom;
        char c = body[i];
        if (c == '.') {
            atom.set();
            atom.reset('\n');
            atom.reset('\r');
            ++i;
        } else if (c == '[') {
            ++i;
            auto set = bracket(body, i);
            if (!set) return std::nullopt;
            atom = *set;
        } else if (c == '\\') {
            if (i + 1 >= body.size()) return std::nullopt;
            auto set = escape(body[i + 1]);
            if (!set) return std::nullopt;
            atom = *set;
            i += 2;
        } else if (is_special(c)) {
            return std::nullopt;  // groups, alternation, a stray quantifier or anchor
        } else {
            atom.set(static_cast<unsigned char>(c));
            ++i;
        }
        // Its quantifier, if any.
        size_t min = 1, max = 1;
        bool unbounded = false;
        if (i < body.size()) {
            char q = body[i];
            if (q == '?' || q == '*' || q == '+') {
                min = q == '+' ? 1 : 0;
                unbounded = q != '?';
                max = q == '?' ? 1 : 0;
                ++i;
            } else if (q == '{') {
                ++i;
                auto n = number(body, i);
                if (!n || i >= body.size()) return std::nullopt;
                min = max = *n;
                if (body[i] == ',') {
                    ++i;
                    if (i < body.size() && body[i] == '}') {
                        unbounded = true;
                    } else {
                        auto m = number(body, i);
                        if (!m || *m < min) return std::nullopt;
                        max = *m;
                    }
                }
                if (i >= body.size() || body[i] != '}') return std::nullopt;
                ++i;
            }
            // A lazy or possessive mark, or a second quantifier: left to std::regex.
            if (i < body.size() && (body[i] == '?' || body[i] == '*' || body[i] == '+' || body[i] == '{') && (min != 1 || max != 1 || unbounded))
                return std::nullopt;
        }
        size_t optional = unbounded ? 0 : max - min;
        if (out.steps_.size() + min + optional + (unbounded ? 1 : 0) > kMaxSteps) return std::nullopt;
        for (size_t k = 0; k < min; ++k) out.steps_.push_back({atom, Times::once});
        for (size_t k = 0; k < optional; ++k) out.steps_.push_back({atom, Times::optional});
        if (unbounded) out.steps_.push_back({atom, Times::any});
    }
    if (out.steps_.size() >= kMaxSteps) return std::nullopt;  // the end state needs a bit too
    for (size_t k = 0; k < out.steps_.size(); ++k)
        if (out.steps_[k].times != Times::once) out.skippable_ |= uint64_t{1} << k;
    return out;
}

uint64_t SimplePattern::closure(uint64_t set) const {
    // Each skippable step in the set adds the next one, which may be skippable in turn: walk the
    // skippable steps in the set from the first.
    for (uint64_t rest = set & skippable_; rest;) {
        unsigned k = static_cast<unsigned>(__builtin_ctzll(rest));
        set |= uint64_t{2} << k;
        rest = set & skippable_ & ~((uint64_t{2} << k) - 1);
    }
    return set;
}

bool SimplePattern::search(std::string_view text) const {
    const uint64_t done = uint64_t{1} << steps_.size();
    const uint64_t start = closure(1);
    uint64_t set = start;
    for (size_t pos = 0;; ++pos) {
        if ((set & done) && (!at_end_ || pos == text.size())) return true;
        if (pos == text.size()) return false;
        auto c = static_cast<unsigned char>(text[pos]);
        uint64_t next = 0;
        for (uint64_t rest = set & ~done; rest;) {
            unsigned k = static_cast<unsigned>(__builtin_ctzll(rest));
            rest &= rest - 1;
            const Step& s = steps_[k];
            if (!s.chars[c]) continue;
            next |= uint64_t{1} << (s.times == Times::any ? k : k + 1);
        }
        set = closure(next);
        if (!at_start_) set |= start;  // a match may begin at the next character too
        if (at_start_ && set == 0) return false;
    }
}

}  // namespace patchbay::schema
