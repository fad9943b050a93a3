// Suggesting which remote organization (a tool's company or tenant) is which of the platform's
// organizations, by name and domain.
//
// Names are compared after normalisation: accents folded, case and punctuation dropped, `&` read
// as `and`, legal suffixes (Inc, LLC, Ltd, GmbH, S.A., Pty Ltd ...) and filler words removed,
// common abbreviations (Intl, Mfg, Svcs, Tech ...) and plurals read as one word. Two normalised
// names score by a rarity-weighted token match that tolerates typos (Jaro-Winkler per token, and
// initials for acronyms) blended with the character-trigram overlap of the names with their words
// sorted (so word order does not matter); an equal domain on both sides is near-certain.
//
// suggest_matches() is one-to-one: each side is used at most once, best pairs first. It scores
// only the candidates that share rare trigrams or the domain, found through an inverted index, so
// 10,000 x 10,000 takes well under a second rather than 10^8 comparisons.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace patchbay::mapping {

struct NamedOrg {
    std::string name;
    std::string domain;  // lower case, or empty
};

struct Match {
    size_t left = 0;   // index into the first list
    size_t right = 0;  // index into the second list
    double confidence = 0;  // 0..1
};

// The canonical words of a name ("Société Générale S.A." -> {"societe", "generale"}).
std::vector<std::string> name_tokens(std::string_view name);
// The same words joined by spaces.
std::string normalize_name(std::string_view name);

// How alike two single organizations are, 0..1, with neutral word weights. For tests and tools.
double name_similarity(const NamedOrg& a, const NamedOrg& b);

// The best one-to-one pairs between `left` and `right` whose confidence is at least
// `min_confidence`, in descending confidence.
std::vector<Match> suggest_matches(const std::vector<NamedOrg>& left, const std::vector<NamedOrg>& right, double min_confidence);

// The same, scoring every pair (no index): the reference the indexed search is measured against.
std::vector<Match> suggest_matches_exhaustive(const std::vector<NamedOrg>& left, const std::vector<NamedOrg>& right,
                                              double min_confidence);

}  // namespace patchbay::mapping
