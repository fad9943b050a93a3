#include "catalog/catalog.hpp"
#include "loader/loader.hpp"
#include "test_support.hpp"

#include <catch2/catch.hpp>

using namespace testing;
namespace cat = patchbay::catalog;

namespace {

// A catalog over one manifest that points at the given fixture library; returns its only entry.
std::shared_ptr<const cat::Entry> load_one(TempDir& dir, const std::string& manifest) {
    write_file(dir / "manifests" / "m.yaml", manifest);
    cat::Catalog c({dir / "manifests", dir / "cache", std::chrono::milliseconds(100)});
    c.refresh();
    auto all = c.list();
    REQUIRE(all.size() == 1);
    return all[0];
}

std::string manifest_for(const std::string& lib, const std::string& actions = "actions:\n  - {name: present, title: P}\n",
                         const std::string& extra = "") {
    return "apiVersion: patchbay/v1\nname: fx\nversion: 1.0.0\ntitle: Fixture\nlibrary: " + lib + "\n" + extra + actions;
}

}  // namespace

TEST_CASE("a library without the entry symbol is an error naming the symbol", "[loader]") {
    TempDir dir;
    auto e = load_one(dir, manifest_for(fixture_library("no-entry")));
    CHECK_FALSE(e->ready());
    CHECK(e->error.find("does not export the entry symbol patchbay_plugin_entry_v1") != std::string::npos);
    CHECK(e->error.find("m.yaml") != std::string::npos);
}

TEST_CASE("a plugin built for another major ABI is refused with both versions", "[loader]") {
    TempDir dir;
    auto e = load_one(dir, manifest_for(fixture_library("abi-v2")));
    CHECK_FALSE(e->ready());
    CHECK(e->error.find("ABI version mismatch") != std::string::npos);
    CHECK(e->error.find("plugin ABI v2") != std::string::npos);
    CHECK(e->error.find("speaks v1") != std::string::npos);
}

TEST_CASE("a plugin needing a newer minor ABI is refused", "[loader]") {
    TempDir dir;
    auto e = load_one(dir, manifest_for(fixture_library("abi-minor-future")));
    CHECK_FALSE(e->ready());
    CHECK(e->error.find("needs plugin ABI v1.99") != std::string::npos);
}

TEST_CASE("an action declared in the manifest but not registered by the plugin", "[loader]") {
    TempDir dir;
    auto e = load_one(dir, manifest_for(fixture_library("missing-action"),
                                        "actions:\n  - {name: present, title: P}\n  - {name: absent, title: A}\n"));
    CHECK_FALSE(e->ready());
    CHECK(e->error.find("action 'absent'") != std::string::npos);
    CHECK(e->error.find("does not register") != std::string::npos);
}

TEST_CASE("sha256 is checked before any plugin code runs", "[loader]") {
    TempDir dir;
    auto lib = fixture_library("missing-action");
    auto real = patchbay::loader::sha256_file(lib);
    REQUIRE(real.ok());
    std::string wrong(64, 'a');
    auto bad = load_one(dir, manifest_for(lib, "actions:\n  - {name: present, title: P}\n", "sha256: " + wrong + "\n"));
    CHECK_FALSE(bad->ready());
    CHECK(bad->error.find("sha256 mismatch") != std::string::npos);
    CHECK(bad->error.find(real.value()) != std::string::npos);

    TempDir dir2;
    auto good = load_one(dir2, manifest_for(lib, "actions:\n  - {name: present, title: P}\n", "sha256: " + real.value() + "\n"));
    CHECK(good->ready());
    CHECK(good->library_sha256 == real.value());
}

TEST_CASE("a missing library file names the path it looked at", "[loader]") {
    TempDir dir;
    auto e = load_one(dir, manifest_for("libnot-built-yet.so"));
    CHECK_FALSE(e->ready());
    CHECK(e->error.find("libnot-built-yet.so") != std::string::npos);
    CHECK(e->error.find("not found") != std::string::npos);
}

TEST_CASE("a file that is not a shared library is refused without crashing", "[loader]") {
    TempDir dir;
    write_file(dir / "manifests" / "libfake.so", "this is not an ELF file");
    auto e = load_one(dir, manifest_for("libfake.so"));
    CHECK_FALSE(e->ready());
    CHECK(e->error.find("not a loadable shared library") != std::string::npos);
}

TEST_CASE("stock and SDK-built plugins export exactly their entry symbol", "[loader]") {
    for (auto lib : {(staged_manifests() / "patchbay-http" / "libpatchbay-http.so").string(), fixture_library("testkit")}) {
        auto symbols = patchbay::loader::exported_symbols(lib);
        REQUIRE(symbols.ok());
        CHECK(symbols.value() == std::vector<std::string>{"patchbay_plugin_entry_v1"});
    }
}

TEST_CASE("the same library is loaded once and shared by manifests that use it", "[loader]") {
    TempDir dir;
    patchbay::loader::Loader loader(dir / "cache");
    auto a = loader.load(fixture_library("testkit"), std::nullopt);
    auto b = loader.load(fixture_library("testkit"), std::nullopt);
    REQUIRE(a.ok());
    REQUIRE(b.ok());
    CHECK(a.value().get() == b.value().get());
    CHECK(a.value()->plugin_name() == "testkit");
    CHECK(a.value()->implements_action("echo"));
    CHECK_FALSE(a.value()->implements_action("nope"));
}
