#include "mapping/matcher.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <numeric>
#include <unordered_map>
#include <unordered_set>

namespace patchbay::mapping {

namespace {

// Latin-1 Supplement (U+00C0..U+00FF) and Latin Extended-A (U+0100..U+017F) folded to lower-case
// ASCII. An empty entry is a separator (the multiplication and division signs).
constexpr std::string_view kLatin1[64] = {
    "a", "a", "a", "a", "a", "a", "ae", "c", "e", "e", "e", "e", "i", "i", "i", "i",  // C0
    "d", "n", "o", "o", "o", "o", "o", "",  "o", "u", "u", "u", "u", "y", "th", "ss",  // D0
    "a", "a", "a", "a", "a", "a", "ae", "c", "e", "e", "e", "e", "i", "i", "i", "i",  // E0
    "d", "n", "o", "o", "o", "o", "o", "",  "o", "u", "u", "u", "u", "y", "th", "y",   // F0
};
// One letter per code point from U+0100, except the two ligatures handled in fold().
constexpr std::string_view kLatinExtA =
    "aaaaaa" "cccccccc" "dddd" "eeeeeeeeee" "gggggggg" "hhhh" "iiiiiiiiii" "??" "jj" "kkk" "llllllllll" "nnnnnnn" "nn"
    "oooooo" "??" "rrrrrr" "ssssssss" "tttttt" "uuuuuuuuuuuu" "ww" "yyy" "zzzzzz" "s";
static_assert(kLatinExtA.size() == 0x80);

bool ascii_letter_or_digit(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'); }

// Lower-case words, accents folded: punctuation separates words, except apostrophes and the dots
// of initials ("S.A.", "U.S.A."), which join; '&' is the word "and".
std::vector<std::string> raw_words(std::string_view s) {
    std::vector<std::string> words;
    std::string cur;
    auto flush = [&] {
        if (!cur.empty()) words.push_back(std::move(cur));
        cur.clear();
    };
    for (size_t i = 0; i < s.size(); ++i) {
        unsigned char c = static_cast<unsigned char>(s[i]);
        if (c < 0x80) {
            if (ascii_letter_or_digit(static_cast<char>(c))) {
                cur += static_cast<char>(c >= 'A' && c <= 'Z' ? c + 32 : c);
            } else if (c == '\'' || c == '`') {
                // McDonald's -> mcdonalds
            } else if (c == '.') {
                // A dot after a lone letter joins initials; any other dot separates (Amazon.com).
                bool lone = i >= 1 && ascii_letter_or_digit(s[i - 1]) && (i < 2 || !ascii_letter_or_digit(s[i - 2]));
                if (!lone) flush();
            } else if (c == '&' || c == '+') {
                flush();
                words.emplace_back("and");
            } else {
                flush();
            }
            continue;
        }
        // Multi-byte UTF-8.
        size_t len = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 1;
        if (i + len > s.size()) break;  // truncated sequence: ignore the rest
        uint32_t cp = 0;
        if (len == 2) cp = ((c & 0x1Fu) << 6) | (static_cast<unsigned char>(s[i + 1]) & 0x3Fu);
        if (len == 3) cp = ((c & 0x0Fu) << 12) | ((static_cast<unsigned char>(s[i + 1]) & 0x3Fu) << 6) | (static_cast<unsigned char>(s[i + 2]) & 0x3Fu);
        if (cp >= 0xC0 && cp <= 0xFF) {
            auto f = kLatin1[cp - 0xC0];
            if (f.empty()) flush();
            else cur += f;
        } else if (cp >= 0x100 && cp <= 0x17F) {
            if (cp == 0x132 || cp == 0x133) cur += "ij";
            else if (cp == 0x152 || cp == 0x153) cur += "oe";
            else cur += kLatinExtA[cp - 0x100];
        } else if (cp >= 0x300 && cp <= 0x36F) {
            // combining accents (decomposed text): dropped
        } else if (cp == 0x2019 || cp == 0x2018) {
            // typographic apostrophes join, like '
        } else if ((cp >= 0x2000 && cp <= 0x206F) || cp == 0xA0 || (cp >= 0x80 && cp < 0xC0)) {
            flush();  // spaces, dashes, quotes, bullets
        } else {
            cur.append(s.substr(i, len));  // other scripts: kept as they are
        }
        i += len - 1;
    }
    flush();
    return words;
}

const std::unordered_set<std::string_view>& legal_forms() {
    static const std::unordered_set<std::string_view> forms = {
        "inc", "incorporated", "corp", "corporation", "co", "company", "cos", "llc", "llp", "lp", "lllp", "pllc", "ltd", "limited",
        "plc", "gmbh", "mbh", "ag", "kg", "kgaa", "ohg", "ug", "sa", "sas", "sarl", "sau", "srl", "spa", "sl", "slu", "bv", "nv",
        "ab", "asa", "oy", "oyj", "aps", "sro", "zoo", "kk", "pty", "pte", "pvt", "bhd", "sdn", "tbk", "lda", "ltda", "cv", "sab",
        "ulc", "lc", "pc", "sapi", "spol", "as"};
    return forms;
}

const std::unordered_set<std::string_view>& filler_words() {
    static const std::unordered_set<std::string_view> words = {"the", "and", "of", "de", "la", "le", "der", "die", "und", "et", "y"};
    return words;
}

// Abbreviations and word forms read as one word.
const std::unordered_map<std::string_view, std::string_view>& canonical_words() {
    static const std::unordered_map<std::string_view, std::string_view> words = {
        {"international", "intl"}, {"intl", "intl"}, {"internatl", "intl"},
        {"technology", "tech"}, {"technologie", "tech"}, {"tech", "tech"}, {"techn", "tech"}, {"technol", "tech"},
        {"service", "service"}, {"svc", "service"}, {"svcs", "service"}, {"serv", "service"}, {"srvc", "service"},
        {"system", "system"}, {"sys", "system"}, {"syst", "system"},
        {"solution", "solution"}, {"sol", "solution"}, {"soln", "solution"}, {"solns", "solution"},
        {"manufacturing", "mfg"}, {"mfg", "mfg"}, {"manuf", "mfg"}, {"mfrs", "mfg"},
        {"management", "mgmt"}, {"mgmt", "mgmt"}, {"mgt", "mgmt"},
        {"holding", "holding"}, {"hldg", "holding"}, {"hldgs", "holding"},
        {"industry", "industry"}, {"industrie", "industry"}, {"ind", "industry"}, {"inds", "industry"}, {"indus", "industry"},
        {"laboratory", "lab"}, {"laboratorie", "lab"}, {"lab", "lab"}, {"labs", "lab"},
        {"associate", "associate"}, {"assoc", "associate"}, {"assocs", "associate"}, {"assn", "association"},
        {"brother", "brother"}, {"bro", "brother"}, {"bros", "brother"},
        {"communication", "comm"}, {"comm", "comm"}, {"comms", "comm"}, {"commun", "comm"},
        {"pharmaceutical", "pharma"}, {"pharma", "pharma"}, {"pharm", "pharma"}, {"pharmaceutica", "pharma"},
        {"national", "natl"}, {"natl", "natl"}, {"nat", "natl"},
        {"financial", "financial"}, {"finl", "financial"}, {"fin", "financial"},
        {"group", "group"}, {"grp", "group"},
        {"partner", "partner"}, {"ptnr", "partner"}, {"ptnrs", "partner"},
        {"electric", "electric"}, {"elec", "electric"},
        {"engineering", "eng"}, {"eng", "eng"}, {"engr", "eng"}, {"engg", "eng"},
        {"development", "dev"}, {"dev", "dev"}, {"devel", "dev"},
        {"product", "product"}, {"prod", "product"}, {"prods", "product"},
        {"university", "univ"}, {"univ", "univ"},
        {"center", "center"}, {"centre", "center"}, {"ctr", "center"},
        {"department", "dept"}, {"dept", "dept"},
        {"insurance", "insurance"}, {"ins", "insurance"},
        {"bancorporation", "bancorp"}, {"bancorp", "bancorp"},
        {"network", "network"}, {"ntwk", "network"},
        {"investment", "investment"}, {"invt", "investment"},
        {"america", "america"}, {"amer", "america"},
        {"corporate", "corporate"},
    };
    return words;
}

// "technologies" -> "technology", "systems" -> "system"; short words and -ss/-us/-is stay.
std::string singular(std::string w) {
    if (w.size() > 4 && w.ends_with("ies")) {
        w.resize(w.size() - 3);
        w += 'y';
    } else if (w.size() > 4 && w.back() == 's' && !w.ends_with("ss") && !w.ends_with("us") && !w.ends_with("is")) {
        w.pop_back();
    }
    return w;
}

std::string canonical(const std::string& w) {
    const auto& map = canonical_words();
    if (auto it = map.find(w); it != map.end()) return std::string(it->second);
    std::string s = singular(w);
    if (auto it = map.find(s); it != map.end()) return std::string(it->second);
    return s;
}

double jaro_winkler(std::string_view a, std::string_view b) {
    if (a == b) return 1.0;
    const size_t la = a.size(), lb = b.size();
    if (la == 0 || lb == 0) return 0.0;
    const size_t range = std::max<size_t>(std::max(la, lb) / 2, 1) - 1;
    uint64_t used_b[4] = {0, 0, 0, 0};  // words are at most 256 bytes here
    if (la > 256 || lb > 256) return 0.0;
    std::string ma, mb;
    ma.reserve(la);
    for (size_t i = 0; i < la; ++i) {
        size_t lo = i > range ? i - range : 0, hi = std::min(lb, i + range + 1);
        for (size_t j = lo; j < hi; ++j) {
            if ((used_b[j / 64] >> (j % 64)) & 1u) continue;
            if (a[i] != b[j]) continue;
            used_b[j / 64] |= uint64_t{1} << (j % 64);
            ma += a[i];
            break;
        }
    }
    if (ma.empty()) return 0.0;
    for (size_t j = 0; j < lb; ++j)
        if ((used_b[j / 64] >> (j % 64)) & 1u) mb += b[j];
    size_t transpositions = 0;
    for (size_t k = 0; k < ma.size(); ++k)
        if (ma[k] != mb[k]) ++transpositions;
    const double m = static_cast<double>(ma.size());
    const double jaro = (m / la + m / lb + (m - transpositions / 2.0) / m) / 3.0;
    size_t prefix = 0;
    while (prefix < 4 && prefix < la && prefix < lb && a[prefix] == b[prefix]) ++prefix;
    return jaro + prefix * 0.1 * (1.0 - jaro);
}

// One name, prepared for comparison.
struct Prepared {
    std::vector<uint32_t> tokens;  // word ids, distinct
    std::vector<uint32_t> grams;   // trigrams of the sorted words, sorted and distinct
    std::string initials;          // first letters of the words, when there are two or more
    std::string domain;
};

class Vocabulary {
public:
    uint32_t id(const std::string& w) {
        auto [it, fresh] = ids_.try_emplace(w, static_cast<uint32_t>(words_.size()));
        if (fresh) {
            words_.push_back(w);
            df_.push_back(0);
        }
        return it->second;
    }
    const std::string& word(uint32_t id) const { return words_[id]; }
    void count(uint32_t id) { ++df_[id]; }
    // Rarer words weigh more ("Acme" decides more than "Group").
    void finish(size_t documents) {
        weight_.resize(words_.size());
        for (size_t i = 0; i < words_.size(); ++i)
            weight_[i] = documents == 0 ? 1.0 : std::log(1.0 + static_cast<double>(documents) / std::max<uint32_t>(df_[i], 1));
    }
    double weight(uint32_t id) const { return weight_.empty() ? 1.0 : weight_[id]; }

private:
    std::unordered_map<std::string, uint32_t> ids_;
    std::vector<std::string> words_;
    std::vector<uint32_t> df_;
    std::vector<double> weight_;
};

std::string domain_key(std::string d) {
    if (d.starts_with("www.")) d.erase(0, 4);
    return d;
}

Prepared prepare(const NamedOrg& org, Vocabulary& vocab) {
    Prepared p;
    auto words = name_tokens(org.name);
    for (const auto& w : words) {
        uint32_t id = vocab.id(w);
        if (std::find(p.tokens.begin(), p.tokens.end(), id) == p.tokens.end()) p.tokens.push_back(id);
    }
    if (words.size() >= 2)
        for (const auto& w : words) p.initials += w.front();
    std::sort(words.begin(), words.end());
    std::string joined = " ";
    for (const auto& w : words) joined += w + " ";
    for (size_t i = 0; i + 3 <= joined.size(); ++i)
        p.grams.push_back((static_cast<uint32_t>(static_cast<unsigned char>(joined[i])) << 16) |
                          (static_cast<uint32_t>(static_cast<unsigned char>(joined[i + 1])) << 8) |
                          static_cast<unsigned char>(joined[i + 2]));
    std::sort(p.grams.begin(), p.grams.end());
    p.grams.erase(std::unique(p.grams.begin(), p.grams.end()), p.grams.end());
    p.domain = domain_key(org.domain);
    return p;
}

double word_similarity(const std::string& a, const std::string& b) {
    if (a.size() >= 4 && b.size() >= 4) {
        double jw = jaro_winkler(a, b);
        if (jw >= 0.9) return jw * 0.95;
    }
    // A word cut short ("Pacif" for "Pacific").
    const std::string& shorter = a.size() < b.size() ? a : b;
    const std::string& longer = a.size() < b.size() ? b : a;
    if (shorter.size() >= 3 && longer.compare(0, shorter.size(), shorter) == 0) return 0.7;
    return 0.0;
}

// Share of one side's word weight that finds itself on the other side.
double covered(const Prepared& a, const Prepared& b, const Vocabulary& v, double& total) {
    double got = 0;
    total = 0;
    for (uint32_t ta : a.tokens) {
        double w = v.weight(ta), best = 0;
        for (uint32_t tb : b.tokens) {
            if (ta == tb) {
                best = 1;
                break;
            }
            best = std::max(best, word_similarity(v.word(ta), v.word(tb)));
        }
        got += w * best;
        total += w;
    }
    return got;
}

double score(const Prepared& a, const Prepared& b, const Vocabulary& v) {
    double wa = 0, wb = 0;
    double sa = covered(a, b, v, wa), sb = covered(b, a, v, wb);
    double words = wa + wb > 0 ? (sa + sb) / (wa + wb) : 0;
    // "IBM" for "International Business Machines".
    if (a.tokens.size() == 1 && b.initials.size() >= 2 && v.word(a.tokens[0]) == b.initials) words = std::max(words, 0.9);
    if (b.tokens.size() == 1 && a.initials.size() >= 2 && v.word(b.tokens[0]) == a.initials) words = std::max(words, 0.9);
    size_t common = 0;
    for (size_t i = 0, j = 0; i < a.grams.size() && j < b.grams.size();) {
        if (a.grams[i] == b.grams[j]) ++common, ++i, ++j;
        else if (a.grams[i] < b.grams[j]) ++i;
        else ++j;
    }
    double chars = a.grams.empty() && b.grams.empty() ? 0 : 2.0 * common / static_cast<double>(a.grams.size() + b.grams.size());
    double s = 0.6 * words + 0.4 * chars;
    if (!a.domain.empty() && !b.domain.empty()) {
        if (a.domain == b.domain) s = 0.97 + 0.03 * s;  // the same domain is near-certain
        else s *= 0.9;                                  // companies do have several domains
    }
    return std::clamp(s, 0.0, 1.0);
}

constexpr uint32_t kMaxDomainUses = 2;

struct Prepared2 {
    Vocabulary vocab;
    std::vector<Prepared> left, right;
};

Prepared2 prepare_all(const std::vector<NamedOrg>& left, const std::vector<NamedOrg>& right) {
    Prepared2 all;
    all.left.reserve(left.size());
    all.right.reserve(right.size());
    for (const auto& o : left) all.left.push_back(prepare(o, all.vocab));
    for (const auto& o : right) all.right.push_back(prepare(o, all.vocab));
    for (const auto* side : {&all.left, &all.right})
        for (const auto& p : *side)
            for (uint32_t t : p.tokens) all.vocab.count(t);
    all.vocab.finish(left.size() + right.size());
    // A domain that several organizations share (a parent company's, a mail provider's) says
    // nothing about which one is which: it is not used.
    std::unordered_map<std::string, std::pair<uint32_t, uint32_t>> uses;
    for (const auto& p : all.left)
        if (!p.domain.empty()) ++uses[p.domain].first;
    for (const auto& p : all.right)
        if (!p.domain.empty()) ++uses[p.domain].second;
    for (auto* side : {&all.left, &all.right})
        for (auto& p : *side)
            if (!p.domain.empty()) {
                auto [l, r] = uses[p.domain];
                if (l > kMaxDomainUses || r > kMaxDomainUses) p.domain.clear();
            }
    return all;
}

// Best pairs first, each side used once.
std::vector<Match> assign(std::vector<Match> pairs, size_t left_count, size_t right_count) {
    std::sort(pairs.begin(), pairs.end(), [](const Match& x, const Match& y) {
        if (x.confidence != y.confidence) return x.confidence > y.confidence;
        if (x.left != y.left) return x.left < y.left;
        return x.right < y.right;
    });
    std::vector<char> left_used(left_count, 0), right_used(right_count, 0);
    std::vector<Match> out;
    for (const auto& m : pairs) {
        if (left_used[m.left] || right_used[m.right]) continue;
        left_used[m.left] = right_used[m.right] = 1;
        out.push_back(m);
    }
    return out;
}

}  // namespace

std::vector<std::string> name_tokens(std::string_view name) {
    // Lone letters in a row are one abbreviation spelled with spaces ("S. A. B.", "N V").
    std::vector<std::string> raw;
    bool last_lone = false;  // raw.back() is made of lone letters
    for (auto& w : raw_words(name)) {
        bool lone = w.size() == 1 && w[0] >= 'a' && w[0] <= 'z';
        if (lone && last_lone) {
            raw.back() += w;
            continue;
        }
        raw.push_back(std::move(w));
        last_lone = lone;
    }
    std::vector<std::string> words;
    const auto& legal = legal_forms();
    const auto& filler = filler_words();
    for (size_t i = 0; i < raw.size(); ++i) {
        const auto& w = raw[i];
        if (filler.count(w) && raw.size() > 1) continue;
        if (i > 0 && legal.count(w)) continue;  // a legal form never starts a name ("Co-operative Bank")
        words.push_back(canonical(w));
    }
    if (words.empty())  // the name is nothing but filler and legal words: keep them
        for (const auto& w : raw) words.push_back(canonical(w));
    return words;
}

std::string normalize_name(std::string_view name) {
    std::string out;
    for (const auto& w : name_tokens(name)) out += (out.empty() ? "" : " ") + w;
    return out;
}

double name_similarity(const NamedOrg& a, const NamedOrg& b) {
    Vocabulary v;
    Prepared pa = prepare(a, v), pb = prepare(b, v);
    return score(pa, pb, v);
}

std::vector<Match> suggest_matches(const std::vector<NamedOrg>& left, const std::vector<NamedOrg>& right, double min_confidence) {
    if (left.empty() || right.empty()) return {};
    Prepared2 all = prepare_all(left, right);

    // Inverted indexes over the right side: trigram -> names, domain -> names.
    std::unordered_map<uint32_t, std::vector<uint32_t>> by_gram;
    std::unordered_map<std::string, std::vector<uint32_t>> by_domain;
    for (uint32_t r = 0; r < all.right.size(); ++r) {
        for (uint32_t g : all.right[r].grams) by_gram[g].push_back(r);
        if (!all.right[r].domain.empty()) by_domain[all.right[r].domain].push_back(r);
    }
    // A trigram in more than this many names ("ing", " co") says little and costs a lot.
    const size_t common = std::max<size_t>(64, all.right.size() / 16);
    constexpr size_t kCandidates = 12;

    std::vector<uint16_t> shared(all.right.size(), 0);
    std::vector<uint32_t> touched;
    std::vector<Match> pairs;
    for (uint32_t l = 0; l < all.left.size(); ++l) {
        const Prepared& a = all.left[l];
        touched.clear();
        for (int pass = 0; pass < 2 && touched.empty(); ++pass) {
            for (uint32_t g : a.grams) {
                auto it = by_gram.find(g);
                if (it == by_gram.end() || (pass == 0 && it->second.size() > common)) continue;
                for (uint32_t r : it->second) {
                    if (shared[r]++ == 0) touched.push_back(r);
                }
            }
        }
        auto estimate = [&](uint32_t r) { return 2.0 * shared[r] / static_cast<double>(a.grams.size() + all.right[r].grams.size()); };
        size_t keep = std::min(kCandidates, touched.size());
        std::partial_sort(touched.begin(), touched.begin() + static_cast<std::ptrdiff_t>(keep), touched.end(),
                          [&](uint32_t x, uint32_t y) { return estimate(x) > estimate(y); });
        std::vector<uint32_t> candidates(touched.begin(), touched.begin() + static_cast<std::ptrdiff_t>(keep));
        if (!a.domain.empty())
            if (auto it = by_domain.find(a.domain); it != by_domain.end())
                for (uint32_t r : it->second)
                    if (std::find(candidates.begin(), candidates.end(), r) == candidates.end()) candidates.push_back(r);
        for (uint32_t r : touched) shared[r] = 0;
        for (uint32_t r : candidates) {
            double s = score(a, all.right[r], all.vocab);
            if (s >= min_confidence) pairs.push_back(Match{l, r, s});
        }
    }
    return assign(std::move(pairs), left.size(), right.size());
}

std::vector<Match> suggest_matches_exhaustive(const std::vector<NamedOrg>& left, const std::vector<NamedOrg>& right,
                                              double min_confidence) {
    Prepared2 all = prepare_all(left, right);
    std::vector<Match> pairs;
    for (size_t l = 0; l < all.left.size(); ++l)
        for (size_t r = 0; r < all.right.size(); ++r) {
            double s = score(all.left[l], all.right[r], all.vocab);
            if (s >= min_confidence) pairs.push_back(Match{l, r, s});
        }
    return assign(std::move(pairs), left.size(), right.size());
}

}  // namespace patchbay::mapping
