// Organization-matching benchmark: how often the top suggestion is right, and how long suggesting
// takes, on organizations generated from a real list of company names (bench/data) with the
// variants people actually type: legal suffixes dropped or changed, abbreviations, typos, words
// reordered, case and punctuation changed, accents added. Run by bench/org_matching.sh.
//
// Usage: patchbay-bench-org-matching NAMES_FILE [MIN_CONFIDENCE]
#include "mapping/matcher.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <map>
#include <random>
#include <string>
#include <vector>

using patchbay::mapping::Match;
using patchbay::mapping::NamedOrg;
using Clock = std::chrono::steady_clock;

namespace {

std::vector<std::string> words_of(const std::string& s) {
    std::vector<std::string> w;
    std::string cur;
    for (char c : s) {
        if (c == ' ') {
            if (!cur.empty()) w.push_back(cur);
            cur.clear();
        } else {
            cur += c;
        }
    }
    if (!cur.empty()) w.push_back(cur);
    return w;
}

std::string join(const std::vector<std::string>& w) {
    std::string s;
    for (const auto& x : w) s += (s.empty() ? "" : " ") + x;
    return s;
}

bool is_suffix(std::string w) {
    while (!w.empty() && (w.back() == '.' || w.back() == ',')) w.pop_back();
    std::transform(w.begin(), w.end(), w.begin(), [](unsigned char c) { return std::tolower(c); });
    static const std::vector<std::string> s = {"inc", "corp", "corporation", "co", "company", "ltd", "limited", "llc", "plc", "sa", "s.a",
                                               "ag", "nv", "n.v", "se", "lp", "l.p", "gmbh", "ab", "asa", "holdings", "group"};
    return std::find(s.begin(), s.end(), w) != s.end();
}

// One realistic variant of a company's official name.
std::string variant(const std::string& name, std::mt19937& rng) {
    auto pick = [&](size_t n) { return std::uniform_int_distribution<size_t>(0, n - 1)(rng); };
    std::string out = name;
    size_t ops = 1 + pick(3);
    std::vector<int> order = {0, 1, 2, 3, 4, 5, 6};
    std::shuffle(order.begin(), order.end(), rng);
    for (size_t k = 0; k < ops; ++k) {
        auto w = words_of(out);
        switch (order[k]) {
            case 0: {  // legal suffix dropped, changed or added
                static const std::vector<std::string> forms = {"Inc.", "Inc", "LLC", "Ltd.", "Corp.", "Corporation", "Co.", "GmbH", "S.A.", "Pty Ltd", "plc"};
                while (w.size() > 1 && is_suffix(w.back())) w.pop_back();
                if (!w.empty()) {
                    std::string& last = w.back();
                    while (!last.empty() && last.back() == ',') last.pop_back();
                }
                if (pick(3) != 0) w.push_back(forms[pick(forms.size())]);
                if (pick(2) == 0 && w.size() > 1) w[w.size() - 2] += ",";
                out = join(w);
                break;
            }
            case 1:  // case
                if (pick(2)) std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return std::toupper(c); });
                else std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return std::tolower(c); });
                break;
            case 2: {  // abbreviations
                static const std::vector<std::pair<std::string, std::string>> ab = {
                    {"International", "Intl"}, {"Technologies", "Tech"}, {"Technology", "Tech"}, {"Services", "Svcs"}, {"Systems", "Sys"},
                    {"Manufacturing", "Mfg"}, {"Management", "Mgmt"}, {"Holdings", "Hldgs"}, {"Pharmaceuticals", "Pharma"},
                    {"Communications", "Comms"}, {"Laboratories", "Labs"}, {"Associates", "Assoc"}, {"Brothers", "Bros"},
                    {"Corporation", "Corp"}, {"Company", "Co"}, {"and", "&"}, {"&", "and"}, {"Financial", "Finl"}, {"National", "Natl"},
                    {"Industries", "Inds"}, {"Group", "Grp"}, {"Solutions", "Solns"}, {"Incorporated", "Inc"}};
                for (auto& x : w)
                    for (const auto& [full, abbr] : ab)
                        if (x == full || x == full + ",") {
                            x = abbr + (x.back() == ',' ? "," : "");
                            break;
                        }
                out = join(w);
                break;
            }
            case 3: {  // one typo in a word of five letters or more
                std::vector<size_t> long_words;
                for (size_t i = 0; i < w.size(); ++i)
                    if (w[i].size() >= 5) long_words.push_back(i);
                if (long_words.empty()) break;
                std::string& x = w[long_words[pick(long_words.size())]];
                size_t at = 1 + pick(x.size() - 2);
                switch (pick(4)) {
                    case 0: std::swap(x[at], x[at + 1 < x.size() ? at + 1 : at - 1]); break;
                    case 1: x.erase(at, 1); break;
                    case 2: x.insert(at, 1, x[at]); break;
                    default: x[at] = static_cast<char>('a' + pick(26)); break;
                }
                out = join(w);
                break;
            }
            case 4:  // words reordered
                if (w.size() >= 3) {
                    size_t i = pick(w.size() - 1);
                    std::swap(w[i], w[i + 1]);
                } else if (w.size() == 2 && (w[0] == "The" || w[0] == "the")) {
                    w = {w[1] + ",", w[0]};
                }
                out = join(w);
                break;
            case 5: {  // punctuation dropped
                std::string s;
                for (char c : out)
                    if (c != '.' && c != ',' && c != '\'') s += c;
                out = s;
                break;
            }
            case 6: {  // an accent
                size_t e = out.find('e', 1 + pick(std::max<size_t>(out.size() / 2, 1)));
                if (e != std::string::npos) out.replace(e, 1, "\xC3\xA9");
                break;
            }
        }
    }
    return out;
}

std::string domain_for(const std::string& name) {
    auto tokens = patchbay::mapping::name_tokens(name);
    std::string d;
    for (size_t i = 0; i < tokens.size() && i < 2; ++i) d += tokens[i];
    return d.empty() ? "" : d + ".com";
}

struct Dataset {
    std::vector<NamedOrg> orgs, remotes;
    std::vector<long> truth;  // orgs[i]'s remote index, or -1
};

// Every name is a remote organization except one in ten, held out: platform organizations made
// from those have no right answer and test that nothing wrong is suggested for them.
Dataset make_dataset(const std::vector<std::string>& names, std::mt19937& rng, size_t copies) {
    Dataset d;
    static const std::vector<std::string> places = {"Denver", "Austin", "Boston", "Leeds", "Lyon", "Munich", "Osaka", "Perth", "Dublin", "Toronto",
                                                    "Oslo", "Porto", "Seattle", "Madrid", "Vienna", "Chicago", "Atlanta", "Geneva", "Phoenix", "Tampa"};
    for (size_t c = 0; c < copies; ++c)
        for (size_t i = 0; i < names.size(); ++i) {
            std::string base = c == 0 ? names[i] : names[i] + " " + places[(c - 1) % places.size()];
            bool held_out = std::uniform_int_distribution<int>(0, 9)(rng) == 0;
            std::string dom = domain_for(base);
            long remote = -1;
            if (!held_out) {
                remote = static_cast<long>(d.remotes.size());
                d.remotes.push_back(NamedOrg{base, std::uniform_int_distribution<int>(0, 9)(rng) < 4 ? dom : ""});
            }
            d.orgs.push_back(NamedOrg{variant(base, rng), std::uniform_int_distribution<int>(0, 9)(rng) < 3 ? dom : ""});
            d.truth.push_back(remote);
        }
    std::vector<size_t> perm(d.orgs.size());
    for (size_t i = 0; i < perm.size(); ++i) perm[i] = i;
    std::shuffle(perm.begin(), perm.end(), rng);
    Dataset s;
    s.remotes = d.remotes;
    for (size_t i : perm) {
        s.orgs.push_back(d.orgs[i]);
        s.truth.push_back(d.truth[i]);
    }
    return s;
}

struct Quality {
    size_t suggested = 0, correct = 0, positives = 0;
    double precision() const { return suggested ? 100.0 * correct / suggested : 0; }
    double recall() const { return positives ? 100.0 * correct / positives : 0; }
};

Quality quality(const Dataset& d, const std::vector<Match>& m) {
    Quality q;
    for (long t : d.truth) q.positives += t >= 0;
    for (const auto& x : m) {
        ++q.suggested;
        q.correct += d.truth[x.left] == static_cast<long>(x.right);
    }
    return q;
}

// What a mapping page without suggestions offers: names equal once lower-cased and trimmed.
std::vector<Match> exact_matches(const Dataset& d) {
    std::map<std::string, size_t> by_name;
    auto key = [](std::string s) {
        std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
        return s;
    };
    for (size_t r = 0; r < d.remotes.size(); ++r) by_name.emplace(key(d.remotes[r].name), r);
    std::vector<Match> m;
    for (size_t l = 0; l < d.orgs.size(); ++l)
        if (auto it = by_name.find(key(d.orgs[l].name)); it != by_name.end()) m.push_back(Match{l, it->second, 1.0});
    return m;
}

template <class F>
double best_seconds(int runs, F f) {
    double best = 1e9;
    for (int i = 0; i < runs; ++i) {
        auto t0 = Clock::now();
        f();
        best = std::min(best, std::chrono::duration<double>(Clock::now() - t0).count());
    }
    return best;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 2) {
        std::cerr << "usage: patchbay-bench-org-matching NAMES_FILE [MIN_CONFIDENCE]\n";
        return 2;
    }
    std::ifstream in(argv[1]);
    std::vector<std::string> names;
    for (std::string line; std::getline(in, line);)
        if (!line.empty()) names.push_back(line);
    if (names.size() < 100) {
        std::cerr << "need at least 100 names in " << argv[1] << "\n";
        return 2;
    }
    double min_conf = argc > 2 ? std::stod(argv[2]) : 0.75;
    std::mt19937 rng(20261201);

    Dataset d = make_dataset(names, rng, 1);
    std::printf("names: %zu real company names; %zu platform organizations, %zu remote, %zu without a right answer\n", names.size(),
                d.orgs.size(), d.remotes.size(), static_cast<size_t>(std::count(d.truth.begin(), d.truth.end(), -1L)));
    std::vector<Match> m;
    double t = best_seconds(3, [&] { m = patchbay::mapping::suggest_matches(d.orgs, d.remotes, min_conf); });
    Quality q = quality(d, m);
    Quality base = quality(d, exact_matches(d));
    std::printf("\n%-36s %10s %8s\n", "top suggestion", "precision", "recall");
    std::printf("%-36s %9.1f%% %7.1f%%\n", "exact name (baseline)", base.precision(), base.recall());
    std::printf("%-36s %9.1f%% %7.1f%%   (min confidence %.2f, %.0f ms)\n", "Patchbay suggest", q.precision(), q.recall(), min_conf, t * 1000);
    std::printf("goal: precision >= 95%% at recall >= 90%%: %s\n", q.precision() >= 95 && q.recall() >= 90 ? "met" : "NOT met");

    std::printf("\nthreshold sweep:\n");
    auto all = patchbay::mapping::suggest_matches(d.orgs, d.remotes, 0.5);
    for (double th : {0.5, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9}) {
        std::vector<Match> kept;
        for (const auto& x : all)
            if (x.confidence >= th) kept.push_back(x);
        Quality k = quality(d, kept);
        std::printf("  %.2f  precision %5.1f%%  recall %5.1f%%\n", th, k.precision(), k.recall());
    }
    if (getenv("ORG_BENCH_SHOW_MISSES")) {
        for (const auto& x : m)
            if (d.truth[x.left] != static_cast<long>(x.right))
                std::printf("WRONG %.3f  '%s' -> '%s' (right: '%s')\n", x.confidence, d.orgs[x.left].name.c_str(), d.remotes[x.right].name.c_str(),
                            d.truth[x.left] >= 0 ? d.remotes[d.truth[x.left]].name.c_str() : "none");
        std::vector<char> hit(d.orgs.size(), 0);
        for (const auto& x : m) hit[x.left] = 1;
        for (size_t i = 0; i < d.orgs.size(); ++i)
            if (!hit[i] && d.truth[i] >= 0) std::printf("MISSED '%s' (right: '%s')\n", d.orgs[i].name.c_str(), d.remotes[d.truth[i]].name.c_str());
    }

    // Indexed against exhaustive on the same 2,000 x 2,000 subset: the speed-up and whether the
    // index loses answers.
    Dataset small;
    {
        size_t n = std::min<size_t>(2000, d.orgs.size());
        std::map<long, long> remap;
        for (size_t i = 0; i < n; ++i) {
            small.orgs.push_back(d.orgs[i]);
            long t0 = d.truth[i];
            if (t0 >= 0) {
                remap[t0] = static_cast<long>(small.remotes.size());
                small.remotes.push_back(d.remotes[t0]);
            }
            small.truth.push_back(t0 >= 0 ? remap[t0] : -1);
        }
    }
    std::vector<Match> ms, me;
    double ts = best_seconds(3, [&] { ms = patchbay::mapping::suggest_matches(small.orgs, small.remotes, min_conf); });
    double te = best_seconds(1, [&] { me = patchbay::mapping::suggest_matches_exhaustive(small.orgs, small.remotes, min_conf); });
    Quality qs = quality(small, ms), qe = quality(small, me);
    std::printf("\n%zu x %zu: indexed %.1f ms (precision %.1f%%, recall %.1f%%), every pair scored %.1f ms (precision %.1f%%, recall %.1f%%): %.0fx faster\n",
                small.orgs.size(), small.remotes.size(), ts * 1000, qs.precision(), qs.recall(), te * 1000, qe.precision(), qe.recall(), te / ts);

    // 10,000 x 10,000: the same names again as branch offices ("Acme Inc. Denver").
    size_t copies = (10000 + names.size() - 1) / names.size() + 1;
    Dataset big = make_dataset(names, rng, copies);
    big.orgs.resize(10000);
    big.truth.resize(10000);
    std::vector<long> used(big.remotes.size(), 0);
    for (long x : big.truth)
        if (x >= 0) used[x] = 1;
    // Keep the remotes the 10,000 organizations point at, then fill to 10,000 with the others.
    std::vector<NamedOrg> remotes;
    std::vector<long> index(big.remotes.size(), -1);
    for (size_t r = 0; r < big.remotes.size() && remotes.size() < 10000; ++r)
        if (used[r]) index[r] = static_cast<long>(remotes.size()), remotes.push_back(big.remotes[r]);
    for (size_t r = 0; r < big.remotes.size() && remotes.size() < 10000; ++r)
        if (!used[r]) index[r] = static_cast<long>(remotes.size()), remotes.push_back(big.remotes[r]);
    for (auto& x : big.truth) x = x >= 0 ? index[x] : -1;
    big.remotes = std::move(remotes);
    std::vector<Match> mb;
    double tb = best_seconds(3, [&] { mb = patchbay::mapping::suggest_matches(big.orgs, big.remotes, min_conf); });
    Quality qb = quality(big, mb);
    std::printf("\n%zu x %zu: %.0f ms (goal < 2000 ms: %s); precision %.1f%%, recall %.1f%%\n", big.orgs.size(), big.remotes.size(), tb * 1000,
                tb < 2.0 ? "met" : "NOT met", qb.precision(), qb.recall());
    return 0;
}
