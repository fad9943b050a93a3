// Crash safety: `kill -9` at arbitrary points of writes and of a key rotation leaves the store
// consistent and loses nothing that was acknowledged (connections, secrets, webhook events).
#include "common/crypto.hpp"
#include "control/state.hpp"
#include "test_support.hpp"

#include <catch2/catch.hpp>

#include <boost/json.hpp>

#include <csignal>
#include <future>
#include <random>
#include <map>
#include <mutex>
#include <set>

using namespace testing;
using namespace patchbay;

namespace {

std::string token_of(const fs::path& data) {
    auto t = read_file(data / "bootstrap-token");
    return t.substr(0, t.find('\n'));
}

}  // namespace

TEST_CASE("kill -9 during writes loses no acknowledged change", "[crash][.slow]") {
    TempDir dir;
    fs::path data = dir / "data";
    std::set<std::string> acknowledged;
    std::mt19937 rng(20261122);
    for (int round = 0; round < 6; ++round) {
        Served server(staged_manifests(), {"--data", data.string()});
        std::string token = token_of(data);
        if (round == 0) REQUIRE(server.call_as(token, "POST", "/v1/installations", R"({"integration": "http"})").status == 201);
        // Everything acknowledged before the last crash is there.
        auto list = server.call_as(token, "GET", "/v1/connections");
        REQUIRE(list.status == 200);
        std::set<std::string> present;
        auto listed = list.json();
        for (const auto& c : listed.at("connections").as_array()) present.emplace(c.at("name").as_string());
        for (const auto& name : acknowledged) CHECK(present.count(name) == 1);

        std::atomic<bool> stop{false};
        auto writer = std::async(std::launch::async, [&, round] {
            std::vector<std::string> ok;
            for (int i = 0; !stop; ++i) {
                std::string name = "r" + std::to_string(round) + "-" + std::to_string(i);
                try {
                    auto r = server.call_as(token, "POST", "/v1/connections",
                                            R"({"integration": "http", "name": ")" + name + R"(", "auth_type": "bearer", "secrets": {"token": "t-)" + name +
                                                R"("}})");
                    if (r.status != 201) break;
                    ok.push_back(name);  // acknowledged: it must survive the crash
                } catch (const std::exception&) {
                    break;  // the server died mid-request: not acknowledged
                }
            }
            return ok;
        });
        std::this_thread::sleep_for(std::chrono::milliseconds(std::uniform_int_distribution<int>(50, 400)(rng)));
        ::kill(server.pid(), SIGKILL);
        stop = true;
        for (auto& n : writer.get()) acknowledged.insert(n);
    }
    REQUIRE(acknowledged.size() > 6);
    auto state = control::open_state(data);
    REQUIRE(state);
    state->db->read([](store::Tx& tx) { CHECK(tx.query_one("PRAGMA integrity_check")->text(0) == "ok"); });
    // Every acknowledged connection's secret opens.
    size_t opened = 0;
    state->db->read([&](store::Tx& tx) {
        for (const auto& r : tx.query("SELECT c.id, c.name, c.team_id, s.sealed FROM connections c JOIN connection_secrets s ON s.connection_id = c.id")) {
            auto v = state->vault->open_secret(r.integer(2), r.text(0), "token", secrets::Sealed(r.blob(3).begin(), r.blob(3).end()));
            REQUIRE(v);
            CHECK(*v == "t-" + r.text(1));
            if (acknowledged.count(r.text(1))) ++opened;
        }
    });
    CHECK(opened == acknowledged.size());
}

TEST_CASE("a key rotation killed at any point resumes without losing a secret", "[crash][.slow]") {
    TempDir dir;
    fs::path data = dir / "data";
    {
        Served server(staged_manifests(), {"--data", data.string()});
        std::string token = token_of(data);
        REQUIRE(server.call_as(token, "POST", "/v1/installations", R"({"integration": "http"})").status == 201);
        for (int i = 0; i < 150; ++i)
            REQUIRE(server.call_as(token, "POST", "/v1/connections",
                                   R"({"integration": "http", "name": "c)" + std::to_string(i) + R"(", "auth_type": "basic", "settings": {"username": "u"}, "secrets": {"password": "p-c)" +
                                       std::to_string(i) + R"("}})")
                        .status == 201);
    }
    // Kill the rotation after a growing delay, several times, then let one finish.
    for (int ms : {5, 15, 30, 60, 120}) {
        auto r = run({patchbay_bin(), "keys", "--data", data.string(), "rotate"}, "", std::chrono::milliseconds(ms));
        INFO("rotation after " << ms << " ms: exit " << r.exit_code << " " << r.err);
    }
    auto done = run({patchbay_bin(), "keys", "--data", data.string(), "rotate"});
    INFO(done.out << done.err);
    REQUIRE(done.exit_code == 0);
    auto status = run({patchbay_bin(), "keys", "--data", data.string(), "status"});
    CHECK(std::count(status.out.begin(), status.out.end(), '\n') == 3);  // primary, source, one key with secrets

    auto state = control::open_state(data);
    REQUIRE(state);
    size_t n = 0;
    state->db->read([&](store::Tx& tx) {
        for (const auto& r : tx.query("SELECT c.id, c.name, c.team_id, s.sealed FROM connections c JOIN connection_secrets s ON s.connection_id = c.id")) {
            auto v = state->vault->open_secret(r.integer(2), r.text(0), "password", secrets::Sealed(r.blob(3).begin(), r.blob(3).end()));
            REQUIRE(v);
            CHECK(*v == "p-" + r.text(1));
            ++n;
        }
    });
    CHECK(n == 150);
}

TEST_CASE("kill -9 during a burst of webhooks: every delivery answered 2xx reaches the engine, once per event id", "[crash][.slow][triggers]") {
    TempDir dir;
    fs::path data = dir / "data";
    fs::path manifests = dir / "manifests";
    fs::copy(staged_manifests(), manifests, fs::copy_options::recursive);
    write_file(manifests / "kit.yaml", testkit_manifest("kit", "v1") + R"(auth:
  - type: bearer
triggers:
  - name: pushed
    title: Pushed
    kind: webhook
    webhook:
      signature: {algorithm: hmac-sha256, header: X-Sig, format: "sha256={hex}"}
      deliveryId: X-Delivery
)");
    const std::string secret = "crash-test-secret";
    std::string hook_path;
    auto sign = [&](const std::string& body) { return "sha256=" + crypto::hex(crypto::hmac(crypto::Mac::hmac_sha256, secret, body)); };
    std::set<std::string> acknowledged;  // delivery ids answered 2xx
    std::vector<std::string> unanswered;  // sent, no answer: a real sender tries them again
    std::mt19937 rng(20261123);
    for (int round = 0; round < 5; ++round) {
        Served server(manifests, {"--data", data.string()});
        std::string token = token_of(data);
        if (round == 0) {
            REQUIRE(server.call_as(token, "POST", "/v1/installations", R"({"integration": "kit"})").status == 201);
            auto c = server.call_as(token, "POST", "/v1/connections",
                                    R"({"integration": "kit", "name": "k", "auth_type": "bearer", "secrets": {"token": "t"}})");
            REQUIRE(c.status == 201);
            auto s = server.call_as(token, "POST", "/v1/subscriptions",
                                    R"({"connection": ")" + std::string(c.json().at("id").as_string()) +
                                        R"(", "trigger": "pushed", "signing_secret": ")" + secret + "\"}");
            REQUIRE(s.status == 201);
            std::string url(s.json().at("hook_url").as_string());
            hook_path = url.substr(url.find("/hooks/"));
        }
        std::atomic<bool> stop{false};
        auto send = [&](const std::string& id) {
            std::string body = R"({"delivery": ")" + id + "\"}";
            return http("POST", server.url() + hook_path, body, {{"X-Sig", sign(body)}, {"X-Delivery", id}});
        };
        std::vector<std::string> retry = std::move(unanswered);
        unanswered.clear();
        std::mutex mu;
        std::vector<std::future<void>> senders;
        for (int t = 0; t < 4; ++t)
            senders.push_back(std::async(std::launch::async, [&, t, round] {
                for (int i = 0; !stop; ++i) {
                    std::string id;
                    {
                        std::lock_guard lock(mu);
                        if (!retry.empty()) {
                            id = retry.back();
                            retry.pop_back();
                        }
                    }
                    if (id.empty()) id = "r" + std::to_string(round) + "-t" + std::to_string(t) + "-" + std::to_string(i);
                    try {
                        auto r = send(id);
                        std::lock_guard lock(mu);
                        if (r.status == 200) acknowledged.insert(id);
                        else unanswered.push_back(id);
                    } catch (const std::exception&) {
                        std::lock_guard lock(mu);
                        unanswered.push_back(id);  // the server died mid-request
                        return;
                    }
                }
            }));
        std::this_thread::sleep_for(std::chrono::milliseconds(std::uniform_int_distribution<int>(150, 500)(rng)));
        ::kill(server.pid(), SIGKILL);
        stop = true;
        for (auto& s : senders) s.get();
        for (auto& id : retry) unanswered.push_back(id);
    }
    REQUIRE(acknowledged.size() > 20);

    // The engine reads everything.
    Served server(manifests, {"--data", data.string()});
    std::string token = token_of(data);
    std::map<std::string, std::set<std::string>> event_ids_of;  // delivery id -> event ids seen
    for (int page = 0; page < 1000; ++page) {
        auto r = server.call_as(token, "GET", "/v1/events?limit=500");
        REQUIRE(r.status == 200);
        auto events = r.json().at("events").as_array();
        if (events.empty()) break;
        boost::json::array ids;
        for (const auto& e : events) {
            event_ids_of[std::string(e.at("data").at("delivery").as_string())].insert(std::string(e.at("id").as_string()));
            ids.push_back(e.at("id"));
        }
        REQUIRE(server.call_as(token, "POST", "/v1/events/ack", boost::json::serialize(boost::json::object{{"ids", ids}})).status == 200);
    }
    size_t missing = 0, doubled = 0;
    for (const auto& id : acknowledged) missing += event_ids_of.count(id) == 0;
    for (const auto& [id, events] : event_ids_of) doubled += events.size() > 1;
    INFO(acknowledged.size() << " deliveries answered 2xx; " << event_ids_of.size() << " delivered to the engine");
    CHECK(missing == 0);
    CHECK(doubled == 0);
}
