// Organization matching: the normalisation rules, the similarity they give, and the one-to-one
// suggestions an admin sees.
#include "mapping/matcher.hpp"

#include <catch2/catch.hpp>

#include <string>
#include <vector>

using patchbay::mapping::Match;
using patchbay::mapping::name_similarity;
using patchbay::mapping::NamedOrg;
using patchbay::mapping::normalize_name;
using patchbay::mapping::suggest_matches;
using patchbay::mapping::suggest_matches_exhaustive;

TEST_CASE("names normalise: case, accents, punctuation, & and 'and', legal suffixes, abbreviations", "[mapping][matcher]") {
    CHECK(normalize_name("ACME, Inc.") == "acme");
    CHECK(normalize_name("Acme Incorporated") == "acme");
    CHECK(normalize_name("Société Générale S.A.") == "societe generale");
    CHECK(normalize_name("Societe Generale SA") == "societe generale");
    CHECK(normalize_name("Müller & Söhne GmbH") == normalize_name("Muller and Sohne"));
    CHECK(normalize_name("Smith & Wesson") == normalize_name("Smith and Wesson"));
    CHECK(normalize_name("McDonald's Corporation") == "mcdonald");  // plurals fold: Systems = System
    CHECK(normalize_name("Widget Holdings Pty Ltd") == "widget holding");
    CHECK(normalize_name("Nordic Foods AB") == "nordic food");
    CHECK(normalize_name("Grupo Bimbo, S. A. B. de C. V.") == "grupo bimbo");
    CHECK(normalize_name("Acme Intl Mfg Co") == normalize_name("Acme International Manufacturing Company"));
    CHECK(normalize_name("Apex Technologies LLC") == normalize_name("Apex Tech"));
    CHECK(normalize_name("Bolt Svcs Ltd.") == normalize_name("Bolt Services Limited"));
    CHECK(normalize_name("U.S. Steel Corp") == "us steel");
    CHECK(normalize_name("The Andersons, Inc.") == "anderson");
    // A legal word never starts a name, and a name that is nothing else keeps its words.
    CHECK(normalize_name("Co-operative Bank plc") == "co operative bank");
    CHECK(normalize_name("Limited") == "limited");
    // Decomposed accents (e + combining acute) fold like composed ones.
    CHECK(normalize_name("Cafe\xCC\x81 Ltd") == normalize_name("Café"));
    CHECK(normalize_name("Zürich Versicherung") == "zurich versicherung");
}

TEST_CASE("similarity: variants score high, different companies low", "[mapping][matcher]") {
    auto sim = [](const char* a, const char* b) { return name_similarity(NamedOrg{a, ""}, NamedOrg{b, ""}); };
    CHECK(sim("Acme Holdings, Inc.", "ACME HOLDINGS") == Approx(1.0));
    CHECK(sim("Microsoft Corporation", "Microsfot Corp") > 0.75);           // a typo, above the default threshold
    CHECK(sim("Bank of Northern Ireland", "Northern Ireland Bank") > 0.85);  // words reordered
    CHECK(sim("International Business Machines", "IBM") >= 0.5);            // initials
    CHECK(sim("Acme Holdings", "Globex Corporation") < 0.3);
    CHECK(sim("Northwind Traders", "Northwind Logistics") < 0.75);           // shares a word, not a company
    // Domains: the same one is near-certain even when the names differ; different ones weigh against.
    CHECK(name_similarity(NamedOrg{"Contoso Group", "contoso.com"}, NamedOrg{"CTSO Holdings", "www.contoso.com"}) > 0.97);
    CHECK(name_similarity(NamedOrg{"Contoso", "contoso.com"}, NamedOrg{"Contoso", "contoso.de"}) <
          name_similarity(NamedOrg{"Contoso", ""}, NamedOrg{"Contoso", ""}));
}

TEST_CASE("suggestions are one-to-one, best pairs first, and leave out what nothing matches", "[mapping][matcher]") {
    std::vector<NamedOrg> platform = {{"Acme Holdings", ""}, {"ACME Holdings Inc", ""}, {"Globex", ""}, {"Initech LLC", ""}, {"Umbrella Corp", ""}};
    std::vector<NamedOrg> remote = {{"Globex Corporation", ""}, {"Acme Holdings, Inc.", ""}, {"Initech", ""}, {"Wayne Enterprises", ""}};
    auto m = suggest_matches(platform, remote, 0.75);
    // Two platform organizations look like Acme: only one gets it.
    size_t acme = 0;
    for (const auto& x : m) acme += x.right == 1;
    CHECK(acme == 1);
    auto find = [&](size_t left) -> const Match* {
        for (const auto& x : m)
            if (x.left == left) return &x;
        return nullptr;
    };
    REQUIRE(find(2));
    CHECK(find(2)->right == 0);  // Globex
    REQUIRE(find(3));
    CHECK(find(3)->right == 2);  // Initech
    CHECK_FALSE(find(4));        // Umbrella: no remote organization is like it
    for (size_t i = 1; i < m.size(); ++i) CHECK(m[i - 1].confidence >= m[i].confidence);
    for (const auto& x : m) {
        CHECK(x.confidence >= 0.75);
        CHECK(x.confidence <= 1.0);
    }
}

TEST_CASE("a domain many organizations share decides nothing", "[mapping][matcher]") {
    // Three branches on the parent's domain; the tool keeps that domain for unrelated companies too.
    std::vector<NamedOrg> platform = {{"Contoso Denver", "contoso.com"}, {"Contoso Austin", "contoso.com"}, {"Contoso Leeds", "contoso.com"}};
    std::vector<NamedOrg> remote = {{"Northwind Ltd", "contoso.com"}, {"Fabrikam Inc", "contoso.com"}, {"Contoso Denver LLC", "contoso.com"}};
    auto m = suggest_matches(platform, remote, 0.75);
    REQUIRE(m.size() == 1);  // by name only: the shared domain does not pair Austin with Northwind
    CHECK(m[0].left == 0);
    CHECK(m[0].right == 2);
    // A domain only one organization on each side has still decides.
    auto unique = suggest_matches({{"CTSO Holdings", "contoso.com"}}, {{"Contoso Group", "contoso.com"}, {"Globex", "globex.com"}}, 0.75);
    REQUIRE(unique.size() == 1);
    CHECK(unique[0].right == 0);
}

TEST_CASE("the indexed search finds what scoring every pair finds", "[mapping][matcher]") {
    std::vector<NamedOrg> platform, remote;
    const char* words[] = {"North", "Star", "Blue", "River", "Pacific", "Summit", "Harbor", "Pine", "Granite", "Eagle", "Cedar", "Atlas"};
    const char* kinds[] = {"Dental", "Logistics", "Legal", "Foods", "Realty", "Clinic", "Motors", "Bakery"};
    for (const char* w : words)
        for (const char* k : kinds) {
            remote.push_back(NamedOrg{std::string(w) + " " + k + " LLC", ""});
            platform.push_back(NamedOrg{std::string(w) + " " + k, ""});
        }
    platform.push_back(NamedOrg{"Pinne Bakery", ""});  // a typo of one that is already taken
    auto fast = suggest_matches(platform, remote, 0.7);
    auto slow = suggest_matches_exhaustive(platform, remote, 0.7);
    REQUIRE(fast.size() == slow.size());
    for (size_t i = 0; i < fast.size(); ++i) {
        CHECK(fast[i].left == slow[i].left);
        CHECK(fast[i].right == slow[i].right);
    }
    // Every exact pair is found, each to its own.
    size_t right = 0;
    for (const auto& x : fast) right += x.left < remote.size() && x.left == x.right;
    CHECK(right == remote.size());
}
