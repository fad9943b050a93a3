// Push delivery: a team registers the URL of its workflow engine and Patchbay POSTs each event
// there, instead of the engine pulling.
//
// Each request carries one event (the same JSON a pull returns) and a signature the engine checks:
// X-Patchbay-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>" under the team's
// delivery secret>, plus X-Patchbay-Event-Id and X-Patchbay-Attempt. A 2xx acknowledges the event.
// Anything else is retried with exponential backoff (from `retry_after`, doubling, at most an
// hour apart) until the event is `max_age` old (72 hours), when it is parked in the dead letters,
// where it can be read and replayed through the API. A subscription's events go out in the order
// they were stored: while one waits for its retry, the later ones wait too.
//
// The delivery URL is an outbound request like any other: the egress guard applies (allow an
// engine on a private address with --egress-allow).
#pragma once

#include "common/error.hpp"
#include "http/client.hpp"
#include "secrets/vault.hpp"
#include "store/database.hpp"
#include "store/principals.hpp"
#include "triggers/event_log.hpp"

#include <boost/json/object.hpp>

#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <thread>

namespace patchbay::triggers {

struct PushOptions {
    std::chrono::milliseconds retry_after{10'000};  // the first retry; doubles per attempt, at most an hour
    std::chrono::seconds max_age{72 * 3600};         // then the event is a dead letter
    std::chrono::seconds timeout{10};                // per request
};

class PushDelivery {
public:
    PushDelivery(store::Database& db, secrets::Vault& vault, http::Client& client, EventLog& events, PushOptions options = {});
    ~PushDelivery();
    PushDelivery(const PushDelivery&) = delete;
    PushDelivery& operator=(const PushDelivery&) = delete;

    void start();

    // Admins: PUT {"url", "secret"?} (a secret is generated, and shown once, when none is given),
    // GET, DELETE (back to pulling).
    Result<boost::json::object> set_target(const store::Principal& p, const boost::json::object& body);
    Result<boost::json::object> get_target(const store::Principal& p);
    Result<boost::json::object> remove_target(const store::Principal& p);
    // Whether the team's events are pushed (pulling them then is refused).
    bool pushes(int64_t team_id);

    Result<boost::json::object> dead_letters(const store::Principal& p, size_t limit);
    // Puts dead letters back in line: {"replayed": n, "unknown": [...]}.
    Result<boost::json::object> replay(const store::Principal& p, const std::vector<std::string>& ids);

private:
    struct Target {
        int64_t team_id = 0;
        std::string url, secret;
    };
    void loop();
    void push_team(const Target& t);

    store::Database& db_;
    secrets::Vault& vault_;
    http::Client& client_;
    EventLog& events_;
    PushOptions options_;

    std::mutex mu_;
    std::condition_variable cv_;
    bool stopping_ = false;
    bool woken_ = false;
    uint64_t wait_ticket_ = 0;
    std::map<int64_t, std::pair<store::Blob, std::string>> opened_;  // team -> (sealed, secret); the loop's own
    std::thread thread_;
};

}  // namespace patchbay::triggers
