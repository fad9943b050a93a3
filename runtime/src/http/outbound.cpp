#include "http/outbound.hpp"

#include "common/log.hpp"
#include "common/text.hpp"
#include "http/target.hpp"
#include "invoker/fiber_call.hpp"

#include <boost/asio/steady_timer.hpp>
#include <boost/url.hpp>

#include <algorithm>
#include <cctype>
#include <ctime>
#include <random>
#include <thread>
#include <unordered_map>
#include <limits>

namespace patchbay::http {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

std::string origin_of(std::string_view url) {
    // The common case, "http(s)://name-or-ipv4[:port]/...", read directly; anything else (user
    // info, IPv6, percent-encoding, an empty port) through the full RFC 3986 parser.
    for (std::string_view scheme : {"https", "http"}) {
        if (url.size() <= scheme.size() + 3 || !iequals(url.substr(0, scheme.size()), scheme) ||
            url.substr(scheme.size(), 3) != "://")
            continue;
        std::string_view rest = url.substr(scheme.size() + 3);
        std::string_view authority = rest.substr(0, rest.find_first_of("/?#"));
        size_t colon = authority.find(':');
        std::string_view host = authority.substr(0, colon);
        std::string_view port = colon == std::string_view::npos ? std::string_view{} : authority.substr(colon + 1);
        bool plain = !host.empty() && std::all_of(host.begin(), host.end(), plain_host_char) &&
                     (colon == std::string_view::npos ||
                      (!port.empty() && std::all_of(port.begin(), port.end(), [](char c) { return c >= '0' && c <= '9'; })));
        if (!plain) break;
        std::string origin(scheme);
        origin += "://";
        origin += ascii_lower(host);
        origin += ':';
        if (port.empty()) origin += scheme == "https" ? "443" : "80";
        else origin += port;
        return origin;
    }
    auto u = boost::urls::parse_absolute_uri(url);
    if (!u) return {};
    std::string scheme = ascii_lower(u->scheme());
    std::string port = u->has_port() ? std::string(u->port()) : (scheme == "https" ? "443" : "80");
    return scheme + "://" + ascii_lower(u->encoded_host_address()) + ":" + port;
}

namespace {

const std::string* header(const host::Headers& headers, std::string_view name) {
    for (const auto& [k, v] : headers)
        if (iequals(k, name)) return &v;
    return nullptr;
}

bool idempotent(const host::OutboundRequest& r) {
    static const char* safe[] = {"GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE"};
    for (const char* m : safe)
        if (iequals(r.method, m)) return true;
    return header(r.headers, "Idempotency-Key") != nullptr;
}

bool retryable_status(int s) { return s == 408 || s == 429 || s == 502 || s == 503 || s == 504; }
bool failure_status(int s) { return s == 500 || s == 502 || s == 503 || s == 504; }
bool redirect_status(int s) { return s == 301 || s == 302 || s == 303 || s == 307 || s == 308; }

std::string phase_of(const Error& e) {
    if (const auto* o = e.details.if_object())
        if (const auto* p = o->if_contains("phase"); p && p->is_string()) return std::string(p->get_string());
    return {};
}

// Transport failures worth another attempt: nothing reached the server (resolve, connect, TLS
// handshake), or the connection broke. Not certificate failures, refusals or timeouts of the exchange.
bool retryable_error(const Error& e) {
    std::string phase = phase_of(e);
    if (phase == "connect") return true;
    return phase == "exchange" && e.code == Errc::upstream_unavailable;
}

// What says the upstream is unwell, for its circuit.
bool failure_error(const Error& e) {
    std::string phase = phase_of(e);
    return phase == "connect" || phase == "exchange";
}

milliseconds backoff(int attempt, const OutboundOptions& o) {
    // Full jitter: a uniform draw from [0, min(cap, base * 2^attempt)].
    thread_local std::mt19937_64 rng{std::random_device{}()};
    auto ceiling = std::min<int64_t>(o.backoff_cap.count(), o.backoff_base.count() << std::min(attempt, 20));
    std::uniform_int_distribution<int64_t> pick(0, std::max<int64_t>(ceiling, 0));
    return milliseconds(pick(rng));
}

std::string human(milliseconds d) {
    if (d.count() >= 1000) return std::to_string((d.count() + 999) / 1000) + " s";
    return std::to_string(d.count()) + " ms";
}

Error rate_limited(std::string message, milliseconds wait, std::string_view scope) {
    return Error(Errc::rate_limited, std::move(message), "",
                 boost::json::object{{"retry_after_ms", wait.count()}, {"scope", std::string(scope)}});
}

}  // namespace

std::optional<milliseconds> parse_retry_after(std::string_view v, std::chrono::system_clock::time_point now) {
    while (!v.empty() && v.front() == ' ') v.remove_prefix(1);
    while (!v.empty() && v.back() == ' ') v.remove_suffix(1);
    if (v.empty()) return std::nullopt;
    if (std::all_of(v.begin(), v.end(), [](char c) { return c >= '0' && c <= '9'; })) {
        if (v.size() > 9) return milliseconds(int64_t{999'999'999} * 1000);
        return milliseconds(std::stoll(std::string(v)) * 1000);
    }
    // IMF-fixdate, then the two obsolete forms HTTP/1.1 recipients must still read.
    static const char* formats[] = {"%a, %d %b %Y %H:%M:%S GMT", "%A, %d-%b-%y %H:%M:%S GMT", "%a %b %e %H:%M:%S %Y"};
    std::string text(v);
    for (const char* f : formats) {
        std::tm tm{};
        const char* end = ::strptime(text.c_str(), f, &tm);
        if (!end || *end != '\0') continue;
        auto when = std::chrono::system_clock::from_time_t(::timegm(&tm));
        auto left = std::chrono::duration_cast<milliseconds>(when - now);
        return std::max(left, milliseconds(0));
    }
    return std::nullopt;
}

void pause_until(Clock::time_point when) {
    if (Clock::now() >= when) return;
    auto* fiber = invoker::FiberCall::current();
    if (!fiber) {
        std::this_thread::sleep_until(when);
        return;
    }
    boost::asio::steady_timer timer(fiber->io_context(), when);
    bool fired = false, waiting = false;
    auto self = fiber->shared_from_this();
    timer.async_wait([&fired, &waiting, self](boost::system::error_code) {
        fired = true;
        if (waiting) self->resume();
    });
    if (!fired) {
        waiting = true;
        fiber->suspend();
    }
}

namespace {
std::atomic<uint64_t> next_service_id{1};
}

OutboundService::OutboundService(Client& transport, OutboundOptions options)
    : transport_(transport), options_(std::move(options)), id_(next_service_id.fetch_add(1)) {}

Result<host::OutboundResponse> OutboundService::perform(const host::OutboundRequest& request, Clock::time_point deadline) {
    return transport_.perform(request, deadline);
}

Result<host::OutboundResponse> OutboundService::perform_suspending(const host::OutboundRequest& request,
                                                                   Clock::time_point deadline) {
    return transport_.perform_suspending(request, deadline);
}

OutboundService::Gate& OutboundService::gate(const std::string& integration, const std::string& origin) {
    // This thread's map of the gates it has used, for the one service it last used.
    struct Known {
        uint64_t service = 0;
        std::string key;
        std::unordered_map<std::string, Gate*> gates;
    };
    thread_local Known known;
    if (known.service != id_) {
        known.gates.clear();
        known.service = id_;
    }
    known.key.assign(integration).append("|").append(origin);
    if (auto it = known.gates.find(known.key); it != known.gates.end()) return *it->second;
    Gate* g;
    {
        std::lock_guard lock(mu_);
        auto& slot = gates_[known.key];
        if (!slot) {
            slot = std::make_unique<Gate>();
            slot->key = known.key;
        }
        g = slot.get();
    }
    if (known.gates.size() >= 4096) known.gates.clear();  // a thread that saw many origins: start again
    known.gates.emplace(known.key, g);
    return *g;
}

std::string OutboundService::circuit_state(std::string_view integration, std::string_view origin) {
    std::lock_guard lock(mu_);
    auto it = gates_.find(std::string(integration) + "|" + std::string(origin));
    if (it == gates_.end() || !it->second->open) return "closed";
    return Clock::now() - it->second->opened_at >= options_.breaker_open ? "half_open" : "open";
}

std::optional<Error> OutboundService::enter_circuit(Gate& c, const std::string& origin, bool& probe) {
    probe = false;
    if (c.troubled.load()) {
        std::lock_guard lock(mu_);
        if (c.open) {
            auto since = Clock::now() - c.opened_at;
            if (since < options_.breaker_open || c.probing) {
                auto left = std::chrono::duration_cast<milliseconds>(options_.breaker_open - since);
                if (left.count() < 0) left = milliseconds(0);
                return Error(Errc::circuit_open,
                             origin + " failed " + std::to_string(options_.breaker_failures) +
                                 " times in a row; calls to it fail fast until a probe succeeds (next probe in " + human(left) + ")",
                             "", boost::json::object{{"origin", origin}, {"retry_after_ms", left.count()}});
            }
            c.probing = true;  // this request is the probe; the others keep failing fast
            c.update_troubled();
            probe = true;
        }
    }
    const auto limit = static_cast<int>(std::min<size_t>(options_.max_in_flight_per_host, std::numeric_limits<int>::max()));
    // Counted in only while there is room, so a refused call never shows in the count.
    int n = c.in_flight.load();
    while (n < limit && !c.in_flight.compare_exchange_weak(n, n + 1)) {
    }
    if (n >= limit) {
        if (probe) {
            std::lock_guard lock(mu_);
            c.probing = false;
            c.update_troubled();
        }
        return Error(Errc::upstream_busy,
                     std::to_string(n) + " requests to " + origin +
                         " are already in flight from this integration, the most allowed: the upstream is slow. Retry later",
                     "", boost::json::object{{"origin", origin}, {"in_flight", static_cast<int64_t>(n)}});
    }
    return std::nullopt;
}

void OutboundService::leave_circuit(Gate& c, bool failed, bool probe) {
    c.in_flight.fetch_sub(1);
    if (!failed && !probe && !c.troubled.load()) return;  // closed, nothing counted: nothing to change
    std::lock_guard lock(mu_);
    if (probe) c.probing = false;
    if (!failed) {
        c.failures = 0;
        c.open = false;
    } else if (++c.failures >= options_.breaker_failures || probe) {
        if (!c.open || probe) log::warn("circuit opened", {{"circuit", c.key}, {"failures", c.failures}});
        c.open = true;
        c.opened_at = Clock::now();
    }
    c.update_troubled();
}

std::optional<Error> OutboundService::take_budget(pb_call& call, const std::string& origin, Clock::time_point deadline) {
    if (!call.rate_rules || call.rate_rules->empty()) return std::nullopt;
    const auto& rules = *call.rate_rules;
    std::string connection = call.scope ? call.scope->connection_id : std::string();
    Clock::time_point start;
    {
        std::lock_guard lock(mu_);
        auto now = Clock::now();
        std::vector<Budget*> slots;
        Clock::time_point ready = now;
        size_t tightest = 0;
        for (size_t i = 0; i < rules.size(); ++i) {
            const auto& r = rules[i];
            std::string key = (r.per_host ? "h|" + call.integration + "|" + origin : "c|" + call.integration + "|" + connection) +
                              "|" + std::to_string(i);
            auto& b = budgets_[key];
            slots.push_back(&b);
            // GCRA: requests are spaced `window / requests` apart, with a burst of `requests`.
            auto spacing = std::chrono::duration_cast<Clock::duration>(r.window) / r.requests;
            auto tolerance = std::chrono::duration_cast<Clock::duration>(r.window) - spacing;
            auto allowed_at = std::max(b.tat, now) - tolerance;
            if (allowed_at > ready) {
                ready = allowed_at;
                tightest = i;
            }
        }
        if (ready > now && ready > deadline) {
            const auto& r = rules[tightest];
            auto wait = std::chrono::ceil<milliseconds>(ready - now);
            return rate_limited("the rate budget of " + std::to_string(r.requests) + " requests per " + human(r.window) + " per " +
                                    (r.per_host ? "host" : "connection") + " is used up; retry in " + human(wait),
                                wait, r.per_host ? "host" : "connection");
        }
        for (size_t i = 0; i < rules.size(); ++i) {
            auto spacing = std::chrono::duration_cast<Clock::duration>(rules[i].window) / rules[i].requests;
            slots[i]->tat = std::max(slots[i]->tat, ready) + spacing;
        }
        start = ready;
    }
    pause_until(start);
    return std::nullopt;
}

Result<host::OutboundResponse> OutboundService::send_once(const host::OutboundRequest& request, pb_call& call,
                                                          const std::string& origin) {
    Gate& g = gate(call.integration, origin);
    bool probe = false;
    if (auto refused = enter_circuit(g, origin, probe)) return *refused;
    auto result = call.on_fiber ? transport_.perform_suspending(request, call.deadline) : transport_.perform(request, call.deadline);
    bool failed = result ? failure_status(result->status) : failure_error(result.error());
    leave_circuit(g, failed, probe);
    return result;
}

Result<host::OutboundResponse> OutboundService::execute(host::OutboundRequest original, pb_call& call) {
    const host::CallScope* scope = call.scope;
    const std::string first_origin = origin_of(original.url);
    const bool may_retry = idempotent(original);
    host::OutboundRequest hop = std::move(original);  // the request as this hop sends it, before credentials
    std::string origin = first_origin;               // hop's origin
    int attempt = 0, redirects = 0;
    bool refreshed = false;
    std::string refused_token;

    for (;;) {
        host::OutboundRequest req = hop;
        if (origin != first_origin) {
            // Left the origin the plugin addressed: its own credentials stay behind.
            std::erase_if(req.headers, [](const auto& h) {
                return iequals(h.first, "Authorization") || iequals(h.first, "Proxy-Authorization") || iequals(h.first, "Cookie");
            });
        }
        std::string token;
        if (scope && scope->injection.applies_to(req.url)) {
            req.ca_pem = scope->ca_pem;  // trust is not a credential: it applies either way
            if (req.with_credentials) {
                scope->injection.add(req);
                if (scope->tokens) {
                    auto t = scope->tokens->access_token(refused_token, call.deadline);
                    if (!t) return t.error();
                    token = std::move(t).value();
                    std::erase_if(req.headers, [](const auto& h) { return iequals(h.first, "Authorization"); });
                    req.headers.emplace_back("Authorization", "Bearer " + token);
                }
            }
        }
        if (auto limited = take_budget(call, origin, call.deadline)) return *limited;

        auto result = send_once(req, call, origin);
        ++attempt;
        if (!result) {
            const Error& e = result.error();
            if (may_retry && retryable_error(e) && attempt < options_.max_attempts) {
                auto wait = backoff(attempt - 1, options_);
                if (Clock::now() + wait < call.deadline) {
                    log::debug("retrying after a transport failure", {{"integration", call.integration}, {"origin", origin},
                                                                      {"attempt", attempt}, {"wait_ms", wait.count()}});
                    pause_until(Clock::now() + wait);
                    continue;
                }
            }
            return result;
        }
        auto& res = result.value();

        if (res.status == 401 && scope && scope->tokens && !token.empty() && !refreshed) {
            // The token may have been revoked or expired early: one new token, one more try.
            refreshed = true;
            refused_token = token;
            --attempt;
            continue;
        }
        refused_token.clear();

        if (retryable_status(res.status) && may_retry && attempt < options_.max_attempts) {
            std::optional<milliseconds> told;
            if (const auto* ra = header(res.headers, "Retry-After")) told = parse_retry_after(*ra, std::chrono::system_clock::now());
            auto wait = told.value_or(backoff(attempt - 1, options_));
            if (Clock::now() + wait >= call.deadline) {
                if (told)
                    return rate_limited(origin + " asked to retry in " + human(*told) + " (HTTP " + std::to_string(res.status) +
                                            "), after this call's deadline; retry the call then",
                                        *told, "upstream");
                return result;  // no time for another attempt: the plugin sees the answer as it is
            }
            log::debug("retrying after an upstream answer", {{"integration", call.integration}, {"origin", origin},
                                                             {"status", res.status}, {"wait_ms", wait.count()}});
            pause_until(Clock::now() + wait);
            continue;
        }
        if (redirect_status(res.status) && hop.follow_redirects) {
            const auto* location = header(res.headers, "Location");
            if (!location) return result;
            if (++redirects > options_.max_redirects)
                return Error(Errc::upstream_error, "more than " + std::to_string(options_.max_redirects) + " redirects, starting at " +
                                                       first_origin + "; the upstream is misconfigured or looping");
            auto base = boost::urls::parse_absolute_uri(hop.url);
            auto ref = boost::urls::parse_uri_reference(*location);
            if (!base || !ref) return Error(Errc::upstream_error, "the upstream redirected to an invalid URL");
            boost::urls::url next;
            if (auto r = boost::urls::resolve(*base, *ref, next); !r)
                return Error(Errc::upstream_error, "the upstream redirected to an invalid URL");
            next.remove_fragment();
            std::string scheme = ascii_lower(next.scheme());
            if (scheme != "http" && scheme != "https")
                return Error(Errc::egress_denied, "the upstream redirected to a '" + scheme + "' URL; only http and https are followed");
            hop.url = std::string(next.buffer());
            origin = origin_of(hop.url);
            if (res.status == 303 || ((res.status == 301 || res.status == 302) && iequals(hop.method, "POST"))) {
                hop.method = iequals(hop.method, "HEAD") ? "HEAD" : "GET";
                hop.body.clear();
                std::erase_if(hop.headers, [](const auto& h) { return iequals(h.first, "Content-Type"); });
            }
            attempt = 0;
            continue;
        }
        return result;
    }
}

}  // namespace patchbay::http
