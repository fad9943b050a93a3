#include "catalog/catalog.hpp"
#include "test_support.hpp"

#include <catch2/catch.hpp>

#include <fstream>

using namespace testing;
namespace cat = patchbay::catalog;

namespace {
std::string label_of(const cat::Entry& e) { return std::string(e.manifest->config.at("label").as_string()); }
}  // namespace

TEST_CASE("manifests added, changed and removed take effect on refresh", "[catalog]") {
    TempDir dir;
    auto manifests = dir / "manifests";
    fs::create_directories(manifests);
    cat::Catalog c({manifests, dir / "cache", std::chrono::milliseconds(50)});
    c.refresh();
    CHECK(c.list().empty());

    write_file(manifests / "kit.yaml", testkit_manifest("kit", "one"));
    c.refresh();
    auto v1 = c.find("kit");
    REQUIRE(v1);
    CHECK(v1->ready());
    CHECK(label_of(*v1) == "one");

    // A change publishes a new entry; the old one stays intact for whoever still holds it.
    write_file(manifests / "kit.yaml", testkit_manifest("kit", "two"));
    c.refresh();
    auto v2 = c.find("kit");
    REQUIRE(v2);
    CHECK(label_of(*v2) == "two");
    CHECK(label_of(*v1) == "one");
    CHECK(v1->instance != v2->instance);

    // Touching without changing content republishes nothing.
    auto gen = c.generation();
    fs::last_write_time(manifests / "kit.yaml", fs::file_time_type::clock::now() - std::chrono::seconds(5));
    c.refresh();
    CHECK(c.generation() == gen);
    CHECK(c.find("kit") == v2);

    fs::remove(manifests / "kit.yaml");
    c.refresh();
    CHECK_FALSE(c.find("kit"));
    CHECK(c.list().empty());
}

TEST_CASE("a broken manifest is listed as an error and never hides the others", "[catalog]") {
    TempDir dir;
    auto manifests = dir / "manifests";
    write_file(manifests / "good.yaml", testkit_manifest("good", "g"));
    write_file(manifests / "broken.yaml", "apiVersion: patchbay/v1\nname: broken\nversion: [\n");
    write_file(manifests / "sub" / "manifest.yaml", testkit_manifest("nested", "n"));
    write_file(manifests / "notes.txt", "not a manifest");
    write_file(manifests / ".hidden.yaml", "ignored: true");
    cat::Catalog c({manifests, dir / "cache", std::chrono::milliseconds(50)});
    c.refresh();
    auto all = c.list();
    REQUIRE(all.size() == 3);
    CHECK(c.find("good")->ready());
    CHECK(c.find("nested")->ready());
    auto broken = std::find_if(all.begin(), all.end(), [](auto& e) { return e->name == "broken"; });
    REQUIRE(broken != all.end());
    CHECK_FALSE((*broken)->ready());
    CHECK((*broken)->error.find("broken.yaml:") != std::string::npos);
    CHECK((*broken)->error.find("YAML syntax error") != std::string::npos);
    CHECK_FALSE((*broken)->diagnostics.empty());
}

TEST_CASE("two manifests with one name: the first path keeps it, the second is an error", "[catalog]") {
    TempDir dir;
    auto manifests = dir / "manifests";
    write_file(manifests / "a.yaml", testkit_manifest("same", "a"));
    write_file(manifests / "b.yaml", testkit_manifest("same", "b"));
    cat::Catalog c({manifests, dir / "cache", std::chrono::milliseconds(50)});
    c.refresh();
    REQUIRE(c.find("same"));
    CHECK(label_of(*c.find("same")) == "a");
    auto all = c.list();
    REQUIRE(all.size() == 2);
    int errors = 0;
    for (auto& e : all)
        if (!e->ready()) {
            ++errors;
            CHECK(e->error.find("already used by") != std::string::npos);
        }
    CHECK(errors == 1);
}

TEST_CASE("a manifest can configure another manifest's plugin", "[catalog]") {
    TempDir dir;
    auto manifests = dir / "manifests";
    write_file(manifests / "base.yaml", testkit_manifest("base", "base"));
    write_file(manifests / "derived.yaml",
               "apiVersion: patchbay/v1\nname: derived\nversion: 2.0.0\ntitle: D\nplugin: base\nconfig: {label: derived}\n"
               "actions:\n  - {name: echo, title: Echo}\n");
    write_file(manifests / "orphan.yaml",
               "apiVersion: patchbay/v1\nname: orphan\nversion: 2.0.0\ntitle: O\nplugin: missing\nactions:\n  - {name: echo, title: E}\n");
    cat::Catalog c({manifests, dir / "cache", std::chrono::milliseconds(50)});
    c.refresh();
    auto d = c.find("derived");
    REQUIRE(d);
    CHECK(d->ready());
    CHECK(label_of(*d) == "derived");
    auto o = c.find("orphan");
    REQUIRE(o);
    CHECK_FALSE(o->ready());
    CHECK(o->error.find("plugin 'missing' is not in the catalog") != std::string::npos);
}

TEST_CASE("the watcher picks up changes without a restart", "[catalog]") {
    TempDir dir;
    auto manifests = dir / "manifests";
    fs::create_directories(manifests);
    cat::Catalog c({manifests, dir / "cache", std::chrono::milliseconds(50)});
    c.refresh();
    c.start_watching();
    write_file(manifests / "kit.yaml", testkit_manifest("kit", "watched"));
    CHECK(eventually([&] { return c.find("kit") != nullptr; }));
    write_file(manifests / "kit.yaml", "apiVersion: patchbay/v1\nname: kit\n");
    CHECK(eventually([&] { auto e = c.find("kit"); return e && !e->ready(); }));
    fs::remove(manifests / "kit.yaml");
    CHECK(eventually([&] { return c.list().empty(); }));
    c.stop_watching();
}

TEST_CASE("replacing the library file in place reloads it, and old calls keep the old copy", "[catalog]") {
    TempDir dir;
    auto manifests = dir / "manifests";
    fs::create_directories(manifests);
    fs::copy_file(fixture_library("testkit"), manifests / "libkit.so");
    std::string m = testkit_manifest("kit", "x");
    m.replace(m.find(fixture_library("testkit")), fixture_library("testkit").size(), "libkit.so");
    write_file(manifests / "kit.yaml", m);
    cat::Catalog c({manifests, dir / "cache", std::chrono::milliseconds(50)});
    c.refresh();
    auto before = c.find("kit");
    REQUIRE(before->ready());
    // Overwrite the library bytes in place (same inode), as `cp` over it would: a different build.
    {
        std::ofstream out(manifests / "libkit.so", std::ios::binary | std::ios::trunc);
        out << read_file(fixture_library("missing-action"));
    }
    fs::last_write_time(manifests / "libkit.so", fs::file_time_type::clock::now() - std::chrono::seconds(2));
    c.refresh();
    auto after = c.find("kit");
    REQUIRE(after);
    CHECK_FALSE(after->ready());  // the new build lacks the manifest's actions
    // The old version is still intact and callable: it was loaded from its own cached copy.
    CHECK(before->ready());
    CHECK(before->instance->library().implements_action("echo"));
}
