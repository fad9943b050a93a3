#include "api/api.hpp"
#include "api/network_thread.hpp"
#include "api/server.hpp"
#include "catalog/catalog.hpp"
#include "cli/args.hpp"
#include "cli/commands.hpp"
#include "common/text.hpp"
#include "common/log.hpp"
#include "control/state.hpp"
#include "http/client.hpp"
#include "http/outbound.hpp"
#include "invoker/invoker.hpp"
#include "oauth/oauth.hpp"
#include "triggers/poller.hpp"

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>

#include <cstdio>
#include <iostream>
#include <thread>

namespace patchbay::cli {

namespace fs = std::filesystem;

std::string default_manifests_dir() {
    if (const char* e = std::getenv("PATCHBAY_MANIFESTS"); e && *e) return e;
    return "manifests";
}

std::string default_data_dir() {
    if (const char* e = std::getenv("PATCHBAY_DATA"); e && *e) return e;
    return "patchbay-data";
}

namespace {

const char* kServeHelp = R"(Usage: patchbay serve [options]

Starts the runtime: loads every manifest in the manifests folder, watches it for changes, and
serves the HTTP/JSON API.

Options:
  --manifests DIR     manifests folder (default: $PATCHBAY_MANIFESTS or ./manifests)
  --data DIR          data directory, created if missing (default: $PATCHBAY_DATA or ./patchbay-data): the
                      SQLite store, the master key file (unless $PATCHBAY_MASTER_KEY is set), plugin cache
  --listen HOST:PORT  address to serve on (default: $PATCHBAY_LISTEN or 127.0.0.1:8080; port 0 picks one)
  --threads N         network threads (default: number of cores)
  --max-body BYTES    largest request body accepted (default: 4194304)
  --drain-timeout MS  how long SIGTERM waits for requests in flight (default: 30000)
  --idle-timeout MS   how long a connection may wait for a request, or take to send one or to
                      read an answer, before it is closed (default: 60000)
  --busy-poll-us US   a network thread that runs out of work polls for more before it sleeps, at
                      most this long: for about twice as long as its events have lately taken to
                      come, while such polls keep finding work and a CPU is to spare; lower latency
                      for some CPU (default: 500; 0 under a cgroup CPU quota; 0 = never)
  --poll-ms MS        how often the manifests folder is checked for changes (default: 500)
  --output-checks WHEN  check action outputs against their manifests' output schemas (a mismatch
                      is logged as a warning): every call, sample (the first 64 outputs of each
                      action, then one in 64) or off (default: sample)
  --log-level LEVEL   debug, info, warn or error (default: info)
  --ca-file PEM       also trust these CA certificates for outbound TLS (the system store always is)

Outbound requests (what plugins send; see docs/user-guide.md, "Outbound requests"):
  --egress-allow LIST hosts or ranges plugins may reach although they are private, loopback or
                      otherwise local: host names, *.wildcards, addresses, CIDR ranges; comma-separated,
                      repeatable (default: $PATCHBAY_EGRESS_ALLOW; nothing)
  --connect-timeout MS       TCP connect timeout (default: 10000)
  --tls-timeout MS           TLS handshake timeout (default: 10000)
  --max-response-bytes N     largest upstream response accepted (default: 67108864)
  --retry-attempts N         attempts per request, retries included (default: 4)
  --breaker-failures N       consecutive failures that open a circuit (default: 5)
  --breaker-open-ms MS       how long an open circuit fails fast before a probe (default: 30000)
  --max-in-flight-per-host N requests in flight per integration and upstream host (default: 64)

OAuth2 and webhooks:
  --public-url URL           where browsers and tools reach this server: OAuth2 providers redirect
                             to URL/oauth/callback, webhook URLs are URL/hooks/... (default:
                             http://LISTEN-ADDRESS)
  --oauth-refresh-margin S   refresh access tokens this many seconds before they expire (default: 60)

Push delivery of events (PUT /v1/delivery):
  --push-retry-ms MS         first retry after a failed push; doubles per attempt, at most an hour
                             (default: 10000)
  --push-max-age S           age at which an undeliverable event becomes a dead letter
                             (default: 259200, 72 hours)
  --reconcile-interval S     how often plugins check the webhooks they registered at the tools,
                             re-creating any that drifted (default: 3600)
)";


bool parse_listen(const std::string& s, std::string& host, unsigned short& port) {
    auto colon = s.rfind(':');
    if (colon == std::string::npos) return false;
    host = s.substr(0, colon);
    if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
    try {
        int p = std::stoi(s.substr(colon + 1));
        if (p < 0 || p > 65535) return false;
        port = static_cast<unsigned short>(p);
    } catch (...) {
        return false;
    }
    return !host.empty();
}

}  // namespace

int run_serve(const std::vector<std::string>& argv) {
    Args args;
    if (auto err = parse_args(argv, {"manifests", "data", "listen", "threads", "max-body", "drain-timeout", "idle-timeout", "busy-poll-us", "poll-ms", "output-checks", "log-level", "ca-file",
                               "egress-allow", "connect-timeout", "tls-timeout", "max-response-bytes", "retry-attempts",
                               "breaker-failures", "breaker-open-ms", "max-in-flight-per-host", "public-url", "push-retry-ms", "push-max-age", "reconcile-interval",
                               "oauth-refresh-margin"},
                              {"help"}, args)) {
        std::cerr << "patchbay serve: " << *err << "\n";
        return 2;
    }
    if (args.has("help")) {
        std::cout << kServeHelp;
        return 0;
    }
    if (auto lvl = args.get("log-level")) {
        auto l = log::parse_level(*lvl);
        if (!l) {
            std::cerr << "patchbay serve: unknown log level '" << *lvl << "'; use debug, info, warn or error\n";
            return 2;
        }
        log::set_level(*l);
    }
    api::ServerOptions sopts;
    std::string listen = args.get("listen").value_or(std::getenv("PATCHBAY_LISTEN") ? std::getenv("PATCHBAY_LISTEN") : "127.0.0.1:8080");
    if (!parse_listen(listen, sopts.address, sopts.port)) {
        std::cerr << "patchbay serve: --listen wants HOST:PORT such as 127.0.0.1:8080, not '" << listen << "'\n";
        return 2;
    }
    size_t threads = std::max(1u, std::thread::hardware_concurrency());
    // Busy polling is on by default (it only polls while that pays and a CPU is to spare) unless
    // the process runs under a CPU quota, which polling would spend.
    const bool quota = api::cpu_quota_limited();
    std::chrono::microseconds busy_poll{quota ? 0 : 500};
    try {
        if (auto t = args.get("threads")) threads = static_cast<size_t>(std::stoul(*t));
        if (auto b = args.get("max-body")) sopts.body_limit = std::stoull(*b);
        if (auto d = args.get("drain-timeout")) sopts.drain_timeout = std::chrono::milliseconds(std::stoll(*d));
        if (auto i = args.get("idle-timeout")) sopts.idle_timeout = std::chrono::milliseconds(std::stoll(*i));
        if (auto b = args.get("busy-poll-us")) busy_poll = std::chrono::microseconds(std::stoll(*b));
    } catch (...) {
        std::cerr << "patchbay serve: --threads, --max-body, --drain-timeout, --idle-timeout and --busy-poll-us take numbers\n";
        return 2;
    }
    if (busy_poll.count() < 0 || busy_poll > std::chrono::milliseconds(10)) {
        std::cerr << "patchbay serve: --busy-poll-us is in microseconds, between 0 (off) and 10000\n";
        return 2;
    }
    invoker::OutputChecks output_checks = invoker::OutputChecks::sample;
    if (auto oc = args.get("output-checks")) {
        if (*oc == "every") output_checks = invoker::OutputChecks::every;
        else if (*oc == "sample") output_checks = invoker::OutputChecks::sample;
        else if (*oc == "off") output_checks = invoker::OutputChecks::off;
        else {
            std::cerr << "patchbay serve: --output-checks is every, sample or off, not '" << *oc << "'\n";
            return 2;
        }
    }
    if (sopts.idle_timeout < std::chrono::milliseconds(10) || sopts.idle_timeout > std::chrono::hours(24)) {
        std::cerr << "patchbay serve: --idle-timeout is in milliseconds, between 10 and 86400000\n";
        return 2;
    }
    if (threads == 0 || threads > 64) {
        std::cerr << "patchbay serve: --threads must be between 1 and 64\n";
        return 2;
    }

    fs::path manifests = args.get("manifests").value_or(default_manifests_dir());
    fs::path data = args.get("data").value_or(default_data_dir());
    std::error_code ec;
    if (!fs::is_directory(manifests, ec)) {
        std::cerr << "patchbay serve: the manifests folder '" << manifests.string()
                  << "' does not exist; create it or pass --manifests DIR\n";
        return 1;
    }
    auto state = control::open_state(data);
    if (!state) {
        std::cerr << "patchbay serve: " << state.error().message << "\n";
        return 1;
    }
    auto boot = control::bootstrap_if_empty(*state, data);
    if (!boot) {
        std::cerr << "patchbay serve: " << boot.error().message << "\n";
        return 1;
    }
    if (boot->created)
        std::cout << "patchbay: first start: created team '" << boot->team << "' and its admin '" << boot->user
                  << "'. The admin's API token is in " << boot->token_file.string()
                  << " (mode 0600): read it, keep it, delete the file. `patchbay admin --help` adds users and tokens." << std::endl;

    catalog::Catalog::Options copts;
    copts.manifests_dir = fs::absolute(manifests);
    copts.shadow_dir = fs::absolute(data) / "plugin-cache";
    try {
        if (auto p = args.get("poll-ms")) copts.poll_interval = std::chrono::milliseconds(std::stoll(*p));
    } catch (...) {
        std::cerr << "patchbay serve: --poll-ms takes a number\n";
        return 2;
    }

    // One io_context per network thread: a connection, and the fibers of cooperative plugins it
    // starts, stay on one thread, with no locking between threads on the hot path.
    std::vector<std::unique_ptr<boost::asio::io_context>> contexts;
    std::vector<boost::asio::io_context*> context_ptrs;
    for (size_t i = 0; i < threads; ++i) {
        contexts.push_back(std::make_unique<boost::asio::io_context>(1));
        context_ptrs.push_back(contexts.back().get());
    }
    boost::asio::io_context& ioc = *contexts.front();
    catalog::Catalog catalog(copts);
    catalog.refresh();
    catalog.start_watching();
    invoker::WorkerPool pool;
    http::ClientOptions client_options;
    if (auto ca = args.get("ca-file")) {
        if (!fs::is_regular_file(*ca, ec)) {
            std::cerr << "patchbay serve: --ca-file '" << *ca << "' is not a readable file\n";
            return 2;
        }
        client_options.ca_file = *ca;
    }
    std::vector<std::string> allow = args.get_all("egress-allow");
    if (allow.empty())
        if (const char* e = std::getenv("PATCHBAY_EGRESS_ALLOW"); e && *e) allow.push_back(e);
    auto egress = http::EgressPolicy::parse(comma_list(allow));
    if (!egress) {
        std::cerr << "patchbay serve: " << egress.error().message << "\n";
        return 2;
    }
    client_options.egress = std::move(egress).value();
    http::OutboundOptions outbound_options;
    oauth::Options oauth_options;
    triggers::PushOptions push_options;
    std::chrono::seconds reconcile_every{3600};
    try {
        auto number = [&](const char* name, int64_t low, int64_t high) -> std::optional<int64_t> {
            auto v = args.get(name);
            if (!v) return std::nullopt;
            size_t used = 0;
            int64_t n = 0;
            try {
                n = std::stoll(*v, &used);
            } catch (const std::exception&) {
                throw std::invalid_argument(name);
            }
            if (used != v->size() || n < low || n > high) throw std::invalid_argument(name);
            return n;
        };
        if (auto n = number("connect-timeout", 1, 600'000)) client_options.connect_timeout = std::chrono::milliseconds(*n);
        if (auto n = number("tls-timeout", 1, 600'000)) client_options.handshake_timeout = std::chrono::milliseconds(*n);
        if (auto n = number("max-response-bytes", 1024, int64_t{1} << 40)) client_options.max_response_bytes = static_cast<size_t>(*n);
        if (auto n = number("retry-attempts", 1, 10)) outbound_options.max_attempts = static_cast<int>(*n);
        if (auto n = number("breaker-failures", 1, 1000)) outbound_options.breaker_failures = static_cast<int>(*n);
        if (auto n = number("breaker-open-ms", 1, 3'600'000)) outbound_options.breaker_open = std::chrono::milliseconds(*n);
        if (auto n = number("max-in-flight-per-host", 1, 100'000)) outbound_options.max_in_flight_per_host = static_cast<size_t>(*n);
        if (auto n = number("oauth-refresh-margin", 0, 86'400)) oauth_options.refresh_margin = std::chrono::seconds(*n);
        if (auto n = number("push-retry-ms", 1, 3'600'000)) push_options.retry_after = std::chrono::milliseconds(*n);
        if (auto n = number("push-max-age", 1, 30 * 86'400)) push_options.max_age = std::chrono::seconds(*n);
        if (auto n = number("reconcile-interval", 1, 7 * 86'400)) reconcile_every = std::chrono::seconds(*n);
    } catch (const std::exception& e) {
        std::cerr << "patchbay serve: --" << e.what()
                  << " takes a whole number in its range (see --help): timeouts 1-600000 ms, retry attempts 1-10\n";
        return 2;
    }
    http::Client client(client_options);
    http::OutboundService outbound(client, outbound_options);
    invoker::Invoker invoker(catalog, pool, &outbound);
    invoker.set_output_checks(output_checks);
    control::ControlPlane control(*state->db, *state->principals, *state->vault, catalog);
    auto oauth = std::make_shared<oauth::Manager>(
        *state->db, *state->vault, client, oauth_options, [&control, &catalog](std::string_view id) -> Result<oauth::ClientConfig> {
            auto rc = control.open_connection(id);
            if (!rc) return rc.error();
            auto entry = catalog.find(rc->integration);
            const auto* auth = entry && entry->manifest ? entry->manifest->find_auth(rc->auth_type) : nullptr;
            if (auth)
                if (auto c = oauth::client_for(*rc, *auth)) return *c;
            return Error(Errc::conflict, "connection '" + std::string(id) + "' is not an OAuth2 connection of an integration in the catalog");
        });
    triggers::EventLog events(*state->db);
    triggers::Subscriptions subscriptions(*state->db, control, *state->vault, catalog);
    triggers::PushDelivery push(*state->db, *state->vault, client, events, push_options);
    mapping::Organizations organizations(*state->db);
    mapping::Mappings mappings(*state->db);
    api::Api api(catalog, invoker, *state->principals, control, oauth, subscriptions, events, push, organizations, mappings);
    triggers::Poller poller(*state->db, catalog, invoker, control, events,
                            [&api](invoker::InvokeRequest& ir, const control::ResolvedConnection& rc) { api.attach_connection(ir, rc); });
    api::Server server(context_ptrs, sopts, api);
    auto ep = server.listen();
    if (!ep) {
        std::cerr << "patchbay serve: " << ep.error().message << "\n";
        return 1;
    }
    std::string host = ep->address().is_v6() ? "[" + ep->address().to_string() + "]" : ep->address().to_string();
    std::string public_url = args.get("public-url").value_or("http://" + host + ":" + std::to_string(ep->port()));
    while (!public_url.empty() && public_url.back() == '/') public_url.pop_back();
    oauth->set_redirect_uri(public_url + "/oauth/callback");
    subscriptions.set_public_url(public_url);
    server.start();
    subscriptions.set_registrar([&](bool subscribe, const std::string& connection_id, const std::string& integration, const std::string& trigger,
                                    boost::json::object request) -> Result<boost::json::value> {
        auto rc = control.open_connection(connection_id);
        if (!rc) return rc.error();
        invoker::InvokeRequest ir;
        ir.hook = subscribe ? invoker::Hook::subscribe : invoker::Hook::unsubscribe;
        ir.integration = integration;
        ir.action = trigger;
        ir.input = std::move(request);
        ir.timeout = std::chrono::seconds(30);
        api.attach_connection(ir, *rc);
        auto o = invoker.invoke_blocking(std::move(ir));
        if (!o.ok()) return *o.error;
        return std::move(*o.output);
    });
    poller.set_reconcile([&] { subscriptions.reconcile(reconcile_every); }, reconcile_every);
    poller.start();
    push.start();

    size_t ready = 0, broken = 0;
    for (const auto& e : catalog.list()) (e->ready() ? ready : broken)++;
    std::cout << "patchbay: listening on http://" << host << ":" << ep->port() << " (" << ready << " integrations ready, "
              << broken << " with errors; manifests: " << copts.manifests_dir.string() << ")" << std::endl;
    log::info("serving", {{"address", host}, {"port", ep->port()}, {"ready", ready}, {"error", broken}});

    boost::asio::signal_set signals(ioc, SIGINT, SIGTERM);
    signals.async_wait([&](boost::system::error_code ec2, int sig) {
        if (ec2) return;
        log::info("signal received; shutting down", {{"signal", sig}});
        server.drain([&] {
            for (auto& c : contexts) c->stop();
        });
    });

    std::vector<std::unique_ptr<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>>> guards;
    for (auto& c : contexts) guards.push_back(std::make_unique<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>>(c->get_executor()));
    std::vector<std::thread> runners;
    api::CpuHeadroom headroom;
    const api::NetworkThreadOptions nopts{busy_poll, &headroom};
    if (busy_poll.count() > 0 || quota)
        log::info("network threads", {{"busy_poll_us", static_cast<int64_t>(busy_poll.count())}, {"cpu_quota", quota}, {"cpus", headroom.cpus()},
                                     {"cpu_signal", api::CpuHeadroom::name(headroom.signal())}});
    auto run_thread = [&](size_t i) {
        auto st = api::run_network_thread(*contexts[i], nopts);
        if (st.polls > 0)
            log::debug("network thread stopped", {{"thread", i}, {"polls", st.polls}, {"polls_that_found_work", st.found},
                                                   {"near_misses", st.near_misses}, {"poll_window_us", static_cast<int64_t>(st.window.count())}});
    };
    for (size_t i = 1; i < threads; ++i) runners.emplace_back([&, i] { run_thread(i); });
    run_thread(0);
    for (auto& c : contexts) c->stop();
    for (auto& t : runners) t.join();
    catalog.stop_watching();
    pool.shutdown(std::chrono::seconds(2));
    log::info("stopped");
    return 0;
}

}  // namespace patchbay::cli
