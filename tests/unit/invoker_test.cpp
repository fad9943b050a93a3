#include "catalog/catalog.hpp"
#include "http/client.hpp"
#include "common/json_text.hpp"
#include "common/log.hpp"
#include "invoker/invoker.hpp"
#include "test_support.hpp"
#include "upstream.hpp"

#include <boost/json.hpp>
#include <catch2/catch.hpp>

#include <future>
#include <mutex>
#include <thread>
#include <vector>

using namespace testing;
using patchbay::Errc;
namespace json = boost::json;
namespace inv = patchbay::invoker;

namespace {

struct Rig {
    TempDir dir;
    std::unique_ptr<patchbay::catalog::Catalog> catalog;
    inv::WorkerPool pool{16};
    patchbay::http::Client client;
    std::unique_ptr<inv::Invoker> invoker;

    Rig() {
        write_file(dir / "m" / "kit.yaml", testkit_manifest("kit", "v1", "", "300ms"));
        write_file(dir / "m" / "bad.yaml", "apiVersion: patchbay/v1\nname: badjson\nversion: 1.0.0\ntitle: B\nlibrary: " +
                                               fixture_library("invalid-json") + "\nactions:\n  - {name: garbage, title: G}\n");
        write_file(dir / "m" / "broken.yaml", "apiVersion: patchbay/v1\nname: broken\nversion: 1.0.0\ntitle: B\nlibrary: nowhere.so\n"
                                                  "actions:\n  - {name: a, title: A}\n");
        catalog = std::make_unique<patchbay::catalog::Catalog>(
            patchbay::catalog::Catalog::Options{dir / "m", dir / "cache", std::chrono::milliseconds(100)});
        catalog->refresh();
        invoker = std::make_unique<inv::Invoker>(*catalog, pool, &client);
    }
    ~Rig() {
        pool.shutdown(std::chrono::seconds(5));
    }

    inv::InvokeOutcome call(const std::string& integration, const std::string& action, const std::string& input = "{}",
                            std::optional<int> timeout_ms = std::nullopt) {
        inv::InvokeRequest r;
        r.integration = integration;
        r.action = action;
        r.input = json::parse(input);
        r.context["workflow_id"] = "wf-1";
        if (timeout_ms) r.timeout = std::chrono::milliseconds(*timeout_ms);
        return invoker->invoke_blocking(std::move(r));
    }
};

}  // namespace

TEST_CASE("an action runs with its input, config and context", "[invoker]") {
    Rig rig;
    auto o = rig.call("kit", "echo", R"({"n": 3})");
    REQUIRE(o.ok());
    CHECK(o.output->at("input").at("n").as_int64() == 3);
    CHECK(o.output->at("label").as_string() == "v1");
    CHECK(o.output->at("context").at("workflow_id").as_string() == "wf-1");
    CHECK(o.output->at("context").at("integration").as_string() == "kit");
    CHECK(o.version == "1.0.0");
}

TEST_CASE("invalid input is refused before the plugin runs, with the pointer", "[invoker]") {
    Rig rig;
    auto o = rig.call("kit", "echo", R"({"n": -1})");
    REQUIRE(o.error);
    CHECK(o.error->code == Errc::invalid_input);
    CHECK(o.error->pointer == "/n");
    CHECK(o.error->message.find("must be at least 0") != std::string::npos);
    auto missing = rig.call("kit", "sleep", "{}");
    REQUIRE(missing.error);
    CHECK(missing.error->pointer == "/ms");
}

TEST_CASE("unknown integrations, unknown actions and broken integrations", "[invoker]") {
    Rig rig;
    auto a = rig.call("nope", "echo");
    CHECK(a.error->code == Errc::unknown_integration);
    auto b = rig.call("kit", "nope");
    CHECK(b.error->code == Errc::unknown_action);
    CHECK(b.error->message.find("echo") != std::string::npos);  // lists the real actions
    auto c = rig.call("broken", "a");
    CHECK(c.error->code == Errc::integration_unavailable);
    CHECK(c.error->message.find("nowhere.so") != std::string::npos);
}

TEST_CASE("plugin failures map onto stable codes", "[invoker]") {
    Rig rig;
    auto thrown = rig.call("kit", "throws");
    REQUIRE(thrown.error);
    CHECK(thrown.error->code == Errc::plugin_error);
    CHECK(thrown.error->message == "handler threw: kaboom from the handler");

    auto garbage = rig.call("badjson", "garbage");
    REQUIRE(garbage.error);
    CHECK(garbage.error->code == Errc::plugin_error);
    CHECK(garbage.error->message.find("invalid JSON") != std::string::npos);

    auto upstream = rig.call("kit", "fail", R"({"code": 3, "message": "tool said no"})");
    REQUIRE(upstream.error);
    CHECK(upstream.error->code == Errc::upstream_error);
    CHECK(upstream.error->message == "tool said no");
    CHECK(upstream.error->details.at("hint").as_string() == "from testkit");

    auto rate = rig.call("kit", "fail", R"({"code": 6, "message": "slow down"})");
    CHECK(rate.error->code == Errc::rate_limited);
    auto weird = rig.call("kit", "fail", R"({"code": 4242, "message": "?"})");
    CHECK(weird.error->code == Errc::plugin_error);
}

TEST_CASE("a caller that wants the output's text gets it checked as JSON, not parsed", "[invoker]") {
    Rig rig;
    inv::InvokeRequest r;
    r.integration = "kit";
    r.action = "echo";
    r.input = json::parse(R"({"n": 5})");
    r.output_text_only = true;
    auto o = rig.invoker->invoke_blocking(std::move(r));
    REQUIRE(o.ok());
    CHECK_FALSE(o.output);
    CHECK(json::parse(o.output_text).at("input").at("n").as_int64() == 5);

    inv::InvokeRequest g;
    g.integration = "badjson";
    g.action = "garbage";
    g.output_text_only = true;
    auto garbage = rig.invoker->invoke_blocking(std::move(g));
    REQUIRE(garbage.error);
    CHECK(garbage.error->code == Errc::plugin_error);
    CHECK(garbage.error->message.find("invalid JSON") != std::string::npos);
    CHECK(garbage.output_text.empty());
}

TEST_CASE("well_formed_json accepts what boost::json::parse accepts and refuses what it refuses", "[invoker]") {
    const std::vector<std::string> cases = {
        R"({"a": [1, 2.5, -3e2, true, false, null, "x\u00e9"]})", "[]", "0", R"("text")", " {\"a\":{}} ",
        "", "{", R"({"a": 1,})", "[1 2]", "{} {}", "{}x", "\"\xff\"", "\"\xc3\xa9\"", "nul", "01",
        std::string(33, '[') + std::string(33, ']'), std::string(32, '[') + std::string(32, ']'), "{\"a\":1}\n"};
    for (const auto& text : cases) {
        boost::system::error_code parse_ec, check_ec;
        json::parse(text, parse_ec);
        bool ok = patchbay::well_formed_json(text, check_ec);
        INFO("text: " << text);
        CHECK(ok == !parse_ec);
        CHECK(ok == !check_ec);
    }
}

TEST_CASE("outputs are checked against the declared output schema: every call, sampled, or never", "[invoker]") {
    TempDir dir;
    write_file(dir / "m" / "kit.yaml", "apiVersion: patchbay/v1\nname: kit\nversion: 1.0.0\ntitle: K\nlibrary: " +
                                           fixture_library("testkit") + "\nconfig: {label: x}\nactions:\n"
                                           "  - name: echo\n    title: Echo\n    output: {type: object, required: [absent]}\n");
    patchbay::catalog::Catalog catalog({dir / "m", dir / "cache", std::chrono::milliseconds(100)});
    catalog.refresh();
    inv::WorkerPool pool{2};
    patchbay::http::Client client;
    auto warnings_after = [&](inv::OutputChecks checks, int calls) {
        inv::Invoker invoker(catalog, pool, &client);
        invoker.set_output_checks(checks);
        auto log_path = dir / "log.txt";
        std::FILE* sink = std::fopen(log_path.c_str(), "w");
        patchbay::log::set_sink(sink);
        auto level = patchbay::log::level();
        patchbay::log::set_level(patchbay::log::Level::warn);
        for (int i = 0; i < calls; ++i) {
            inv::InvokeRequest r;
            r.integration = "kit";
            r.action = "echo";
            r.output_text_only = true;
            auto o = invoker.invoke_blocking(std::move(r));
            REQUIRE(o.ok());  // a mismatch is reported, the output still passes
        }
        patchbay::log::set_level(level);
        patchbay::log::set_sink(stderr);
        std::fclose(sink);
        std::string text = read_file(log_path);
        int n = 0;
        for (size_t at = 0; (at = text.find("does not match its declared schema", at)) != std::string::npos; ++at) ++n;
        if (n > 0) CHECK(text.find("required field 'absent' is missing") != std::string::npos);
        return n;
    };
    CHECK(warnings_after(inv::OutputChecks::every, 70) == 70);
    CHECK(warnings_after(inv::OutputChecks::off, 70) == 0);
    // The first 64 calls of the action, then one in 64: calls 0-63 and 64 of these 70.
    CHECK(warnings_after(inv::OutputChecks::sample, 70) == 65);
    // The count belongs to the loaded version and goes on: calls 70-139 check only call 128.
    CHECK(warnings_after(inv::OutputChecks::sample, 70) == 1);
    pool.shutdown(std::chrono::seconds(5));
}

TEST_CASE("the deadline answers TIMEOUT and does not hold up other calls", "[invoker]") {
    Rig rig;
    auto o = rig.call("kit", "sleep", R"({"ms": 3000})");  // the manifest allows 300ms
    REQUIRE(o.error);
    CHECK(o.error->code == Errc::timeout);
    CHECK(o.error->message.find("did not finish within 300ms") != std::string::npos);

    // The caller may ask for less than the manifest allows, never more.
    auto shorter = rig.call("kit", "sleep", R"({"ms": 250})", 50);
    REQUIRE(shorter.error);
    CHECK(shorter.error->code == Errc::timeout);

    // A slow call in flight does not block a quick one.
    std::promise<inv::InvokeOutcome> slow;
    inv::InvokeRequest r;
    r.integration = "kit";
    r.action = "sleep";
    r.input = json::parse(R"({"ms": 1000})");
    r.timeout = std::chrono::milliseconds(5000);
    std::atomic<bool> slow_done{false};
    rig.invoker->invoke(std::move(r), [&](inv::InvokeOutcome out) {
        slow_done = true;
        slow.set_value(std::move(out));
    });
    auto quick = rig.call("kit", "echo");
    CHECK(quick.ok());
    CHECK_FALSE(slow_done.load());
    auto s = slow.get_future().get();
    CHECK(s.error);  // 1000ms > the manifest's 300ms, whatever the caller asked
}

TEST_CASE("plugins see the deadline of their call", "[invoker]") {
    Rig rig;
    auto o = rig.call("kit", "deadline");
    REQUIRE(o.ok());
    auto left = o.output->at("remaining_ms").as_int64();
    CHECK(left > 0);
    CHECK(left <= 5000);
}

TEST_CASE("plugins reach upstreams through the host's HTTP service", "[invoker]") {
    Rig rig;
    Upstream up;
    auto o = rig.call("kit", "fetch", "{\"url\": \"" + up.url("/json") + "\"}");
    REQUIRE(o.ok());
    CHECK(o.output->at("status").as_int64() == 200);
    CHECK(o.output->at("body").as_string() == R"({"hello":"world"})");
    auto refused = rig.call("kit", "fetch", R"({"url": "http://127.0.0.1:1/"})");
    REQUIRE(refused.error);
    CHECK(refused.error->code == Errc::upstream_unavailable);
}

TEST_CASE("plugins built against ABI v1.2 still use the JSON http_request service", "[invoker]") {
    Rig rig;
    write_file(rig.dir / "m" / "legacy.yaml", "apiVersion: patchbay/v1\nname: legacy\nversion: 1.0.0\ntitle: L\nlibrary: " +
                                                  fixture_library("legacy-http") + "\nactions:\n  - {name: fetch, title: F}\n");
    rig.catalog->refresh();
    Upstream up;
    auto o = rig.call("legacy", "fetch", "{\"method\": \"GET\", \"url\": \"" + up.url("/json") + "\", \"headers\": [[\"X-Trace\", \"t1\"]]}");
    REQUIRE(o.ok());
    CHECK(o.output->at("rc").as_int64() == PB_OK);
    CHECK(o.output->at("status").as_int64() == 200);
    CHECK(o.output->at("body_length").as_int64() == 17);  // {"hello":"world"}
    bool content_type = false;
    for (const auto& pair : o.output->at("headers").as_array())
        if (pair.as_array().at(0).as_string() == "Content-Type") content_type = pair.as_array().at(1).as_string() == "application/json";
    CHECK(content_type);
    auto refused = rig.call("legacy", "fetch", R"({"url": "http://127.0.0.1:1/"})");
    REQUIRE(refused.ok());
    CHECK(refused.output->at("error_code").as_int64() == PB_ERR_UNAVAILABLE);
    CHECK(refused.output->at("rc").as_int64() == PB_ERR_UNAVAILABLE);
    auto no_url = rig.call("legacy", "fetch", R"({"method": "GET"})");
    CHECK(no_url.output->at("rc").as_int64() == PB_ERR_INVALID_INPUT);
}

TEST_CASE("the deadline watcher fires what is due in time order, twice-booked times both, cancelled ones never", "[invoker]") {
    using patchbay::invoker::DeadlineWatcher;
    DeadlineWatcher watcher(std::chrono::milliseconds(5));
    std::mutex mu;
    std::vector<int> fired;
    auto record = [&](int n) { return [&, n] { std::lock_guard lock(mu); fired.push_back(n); }; };
    auto now = DeadlineWatcher::Clock::now();
    auto t3 = watcher.watch(now + std::chrono::milliseconds(60), record(3));
    auto t1 = watcher.watch(now + std::chrono::milliseconds(20), record(1));
    auto t2a = watcher.watch(now + std::chrono::milliseconds(40), record(2));
    auto t2b = watcher.watch(now + std::chrono::milliseconds(40), record(2));
    auto dropped = watcher.watch(now + std::chrono::milliseconds(30), record(99));
    CHECK(watcher.pending() == 5);
    CHECK(watcher.cancel(dropped));
    CHECK_FALSE(watcher.cancel(dropped));  // once only
    CHECK_FALSE(t2a == t2b);               // the same time, two tickets
    for (int i = 0; i < 400 && watcher.pending() > 0; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(5));
    CHECK(watcher.pending() == 0);
    std::lock_guard lock(mu);
    CHECK(fired == std::vector<int>{1, 2, 2, 3});
    CHECK_FALSE(watcher.cancel(t1));  // already fired
    CHECK_FALSE(watcher.cancel(t3));
}
