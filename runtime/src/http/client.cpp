// Beast client instantiations live in this one translation unit.
#include "http/client.hpp"

#include "common/crypto.hpp"
#include "invoker/fiber_call.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/url/parse.hpp>

#include <map>
#include <mutex>
#include <optional>
#include <poll.h>
#include <sys/socket.h>
#include <vector>

namespace patchbay::http {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
namespace ssl = boost::asio::ssl;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;
using boost::system::error_code;

namespace {

struct Target {
    bool tls = false;
    std::string host;  // without brackets
    std::string port;
    std::string host_header;
    std::string path_and_query;
    std::string trust;  // which extra CA bundle verifies the server ("" = the client's own)
    std::string key() const { return (tls ? "https://" : "http://") + host + ":" + port + (trust.empty() ? "" : "#" + trust); }
};

Result<Target> parse_target(std::string_view url) {
    auto parsed = boost::urls::parse_uri(url);
    if (!parsed) return Error(Errc::invalid_input, "'" + std::string(url.substr(0, 200)) + "' is not a valid absolute URL");
    const auto& u = *parsed;
    Target t;
    std::string scheme(u.scheme());
    for (auto& c : scheme) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (scheme == "https") t.tls = true;
    else if (scheme != "http") return Error(Errc::invalid_input, "only http and https URLs are allowed, not '" + scheme + "'");
    if (u.has_userinfo()) return Error(Errc::invalid_input, "credentials in URLs are not allowed; configure them on a connection");
    if (u.host_type() == boost::urls::host_type::ipv6) t.host = u.host_ipv6_address().to_string();
    else if (u.host_type() == boost::urls::host_type::ipvfuture) return Error(Errc::invalid_input, "IP-literal futures are not supported");
    else t.host = std::string(u.encoded_host());
    if (t.host.empty()) return Error(Errc::invalid_input, "the URL has no host");
    // "2130706433", "0x7f.1" and friends name an IPv4 address to the system resolver: treat them as
    // the address they spell, so the checks and the pool see one canonical form.
    if (u.host_type() == boost::urls::host_type::name)
        if (auto a = parse_ipv4_loose(t.host)) t.host = a->to_string();
    t.port = u.has_port() ? std::string(u.port()) : (t.tls ? "443" : "80");
    std::string authority_host = u.host_type() == boost::urls::host_type::ipv6 ? "[" + t.host + "]" : t.host;
    t.host_header = u.has_port() ? authority_host + ":" + t.port : authority_host;
    t.path_and_query = u.encoded_path().empty() ? "/" : std::string(u.encoded_path());
    if (u.has_query()) t.path_and_query += "?" + std::string(u.encoded_query());
    return t;
}

// Waits until the socket is ready or the deadline passes.
bool wait_ready(int fd, short events, Clock::time_point deadline, error_code& ec) {
    for (;;) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
        if (left <= 0) {
            ec = asio::error::timed_out;
            return false;
        }
        pollfd p{fd, events, 0};
        int n = ::poll(&p, 1, static_cast<int>(std::min<int64_t>(left + 1, 60'000)));
        if (n > 0) return true;
        if (n < 0 && errno != EINTR) {
            ec = error_code(errno, boost::system::system_category());
            return false;
        }
    }
}

// A non-blocking TCP socket that behaves as a blocking one bounded by a deadline: the stream Beast
// and asio::ssl read and write through.
class TimedSocket {
public:
    using executor_type = tcp::socket::executor_type;
    using lowest_layer_type = tcp::socket::lowest_layer_type;

    explicit TimedSocket(tcp::socket s) : socket_(std::move(s)) {}
    executor_type get_executor() { return socket_.get_executor(); }
    lowest_layer_type& lowest_layer() { return socket_.lowest_layer(); }
    const lowest_layer_type& lowest_layer() const { return socket_.lowest_layer(); }
    tcp::socket& socket() { return socket_; }
    void set_deadline(Clock::time_point d) { deadline_ = d; }

    template <class Buffers>
    size_t read_some(const Buffers& b, error_code& ec) {
        for (;;) {
            size_t n = socket_.read_some(b, ec);
            if (ec != asio::error::would_block && ec != asio::error::try_again) return n;
            ec = {};
            if (!wait_ready(socket_.native_handle(), POLLIN, deadline_, ec)) return 0;
        }
    }
    template <class Buffers>
    size_t read_some(const Buffers& b) {
        error_code ec;
        size_t n = read_some(b, ec);
        if (ec) throw boost::system::system_error(ec);
        return n;
    }
    template <class Buffers>
    size_t write_some(const Buffers& b, error_code& ec) {
        for (;;) {
            size_t n = socket_.write_some(b, ec);
            if (ec != asio::error::would_block && ec != asio::error::try_again) return n;
            ec = {};
            if (!wait_ready(socket_.native_handle(), POLLOUT, deadline_, ec)) return 0;
        }
    }
    template <class Buffers>
    size_t write_some(const Buffers& b) {
        error_code ec;
        size_t n = write_some(b, ec);
        if (ec) throw boost::system::system_error(ec);
        return n;
    }
    // Asynchronous forms, for connections owned by a network thread; their deadline is a timer.
    template <class Buffers, class Token>
    auto async_read_some(const Buffers& b, Token&& token) {
        return socket_.async_read_some(b, std::forward<Token>(token));
    }
    template <class Buffers, class Token>
    auto async_write_some(const Buffers& b, Token&& token) {
        return socket_.async_write_some(b, std::forward<Token>(token));
    }

private:
    tcp::socket socket_;
    Clock::time_point deadline_ = Clock::time_point::max();
};

struct Connection {
    std::string key;  // pool key: io_context and origin
    std::optional<TimedSocket> plain;
    std::optional<ssl::stream<TimedSocket>> secure;
    beast::flat_buffer buffer;
    Clock::time_point idle_since;

    TimedSocket& timed() { return plain ? *plain : secure->next_layer(); }

    // True when the peer has closed (or sent something unsolicited) while the connection was idle.
    bool stale() {
        auto& sock = timed().socket();
        if (!sock.is_open() || buffer.size() > 0) return true;
        char byte;
        ssize_t n = ::recv(sock.native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
        if (n >= 0) return true;  // closed (0), or bytes nobody asked for
        return !(errno == EAGAIN || errno == EWOULDBLOCK);
    }
};

bool is_timeout(const error_code& ec) { return ec == asio::error::timed_out; }

// A transport failure, tagged with the step it happened in: "connect" (resolve, TCP, TLS handshake:
// nothing reached the server), "tls_verify" (the certificate was refused) or "exchange" (the
// request may have been received). The HTTP service decides on retries from it.
Error transport_error(Errc code, std::string message, const char* phase) {
    return Error(code, std::move(message), "", boost::json::object{{"phase", phase}});
}

// A deadline for an asynchronous step: when it fires it runs `on_fire` (closing the socket makes
// the pending operation fail). disarm() before the guarded objects go away: a handler that was
// already queued then does nothing.
class StepDeadline {
public:
    StepDeadline(asio::io_context& ctx, Clock::time_point when, std::function<void()> on_fire)
        : timer_(ctx), state_(std::make_shared<State>()) {
        state_->on_fire = std::move(on_fire);
        timer_.expires_at(when);
        timer_.async_wait([st = state_](error_code e) {
            if (e || !st->armed) return;
            st->fired = true;
            st->on_fire();
        });
    }
    ~StepDeadline() { disarm(); }
    bool disarm() {
        state_->armed = false;
        state_->on_fire = nullptr;
        timer_.cancel();
        return state_->fired;
    }

private:
    struct State {
        bool armed = true;
        bool fired = false;
        std::function<void()> on_fire;
    };
    asio::steady_timer timer_;
    std::shared_ptr<State> state_;
};

}  // namespace

struct Client::Impl {
    ClientOptions options;
    asio::io_context ioc;  // never run: sockets need one, all I/O here is synchronous
    ssl::context tls_ctx{ssl::context::tls_client};
    mutable std::mutex mutex;
    std::map<std::string, std::vector<std::unique_ptr<Connection>>> idle;

    std::map<std::string, std::unique_ptr<ssl::context>> extra_trust;  // by sha256 of the PEM; under `mutex`

    static void harden(ssl::context& ctx) {
        ctx.set_default_verify_paths();
        ctx.set_verify_mode(ssl::verify_peer);
        SSL_CTX_set_min_proto_version(ctx.native_handle(), TLS1_2_VERSION);
    }

    explicit Impl(ClientOptions opts) : options(std::move(opts)) {
        harden(tls_ctx);
        if (!options.ca_file.empty()) tls_ctx.load_verify_file(options.ca_file);
    }

    // The TLS context for a request: the client's own, or one that also trusts the request's CA
    // bundle. Contexts are kept: a handful of connections with private CAs, reused for every call.
    Result<ssl::context*> context_for(Target& t, const std::string& ca_pem) {
        if (ca_pem.empty()) return &tls_ctx;
        t.trust = crypto::sha256_hex(ca_pem).substr(0, 16);
        std::lock_guard lock(mutex);
        auto& slot = extra_trust[t.trust];
        if (!slot) {
            auto ctx = std::make_unique<ssl::context>(ssl::context::tls_client);
            harden(*ctx);
            if (!options.ca_file.empty()) ctx->load_verify_file(options.ca_file);
            error_code ec;
            ctx->add_certificate_authority(asio::buffer(ca_pem), ec);
            if (ec) {
                extra_trust.erase(t.trust);
                return Error(Errc::invalid_input, "the connection's CA bundle is not a PEM certificate list (" + ec.message() +
                                                      "); paste the CA certificates, each from -----BEGIN CERTIFICATE-----");
            }
            slot = std::move(ctx);
        }
        return slot.get();
    }

    // Resolved addresses, each checked against the egress policy. The connection is made to exactly
    // these: no second lookup between check and connect.
    std::optional<Error> check_endpoints(const Target& t, const tcp::resolver::results_type& endpoints) const {
        if (!options.egress) return std::nullopt;
        if (endpoints.empty()) return Error(Errc::upstream_unavailable, "host '" + t.host + "' resolved to no address");
        for (const auto& e : endpoints)
            if (auto denied = options.egress->check(t.host, e.endpoint().address())) return denied;
        return std::nullopt;
    }

    std::unique_ptr<Connection> acquire(const std::string& key) {
        std::lock_guard lock(mutex);
        auto it = idle.find(key);
        if (it == idle.end()) return nullptr;
        auto& list = it->second;
        while (!list.empty()) {
            auto c = std::move(list.back());
            list.pop_back();
            auto idle_for = Clock::now() - c->idle_since;
            if (idle_for >= options.idle_timeout) continue;
            // Servers close idle connections after seconds, not milliseconds: only a connection
            // that sat idle for a while is worth a system call to check. A stale one that slips
            // through fails before any answer and is retried once on a fresh connection.
            if (idle_for > std::chrono::milliseconds(500) && c->stale()) continue;
            return c;
        }
        return nullptr;
    }

    void release(std::unique_ptr<Connection> c) {
        c->idle_since = Clock::now();
        std::lock_guard lock(mutex);
        auto& list = idle[c->key];
        if (list.size() < options.max_idle_per_host) list.push_back(std::move(c));
    }

    std::string pool_key(const asio::io_context& ctx, const Target& t) const {
        return std::to_string(reinterpret_cast<uintptr_t>(&ctx)) + "|" + t.key();
    }

    // SNI (for names, not addresses) and hostname verification, the same on both paths.
    static std::optional<Error> configure_tls(ssl::stream<TimedSocket>& s, const Target& t) {
        error_code ip_ec;
        asio::ip::make_address(t.host, ip_ec);
        if (ip_ec && !SSL_set_tlsext_host_name(s.native_handle(), t.host.c_str()))
            return Error(Errc::internal, "cannot set the TLS server name");
        s.set_verify_callback(ssl::host_name_verification(t.host));
        return std::nullopt;
    }

    static Error handshake_error(ssl::stream<TimedSocket>& s, const Target& t, const error_code& ec) {
        std::string why = ec.message();
        long verify = SSL_get_verify_result(s.native_handle());
        if (verify != X509_V_OK) why = X509_verify_cert_error_string(verify);
        return transport_error(Errc::upstream_unavailable, "TLS handshake with " + t.host + " failed: " + why,
                               verify != X509_V_OK ? "tls_verify" : "connect");
    }

    Result<std::unique_ptr<Connection>> connect(const Target& t, ssl::context* tls, Clock::time_point deadline) {
        error_code ec;
        tcp::resolver resolver(ioc);
        auto endpoints = resolver.resolve(t.host, t.port, ec);
        if (ec) return transport_error(Errc::upstream_unavailable, "cannot resolve host '" + t.host + "': " + ec.message(), "connect");
        if (auto denied = check_endpoints(t, endpoints)) return *denied;

        auto connect_deadline = std::min(deadline, Clock::now() + options.connect_timeout);
        std::optional<tcp::socket> connected;
        std::string last_error = "no address";
        for (const auto& entry : endpoints) {
            tcp::socket s(ioc);
            s.open(entry.endpoint().protocol(), ec);
            if (ec) continue;
            s.non_blocking(true, ec);
            s.connect(entry.endpoint(), ec);
            if (ec == asio::error::in_progress || ec == asio::error::would_block) {
                ec = {};
                if (wait_ready(s.native_handle(), POLLOUT, connect_deadline, ec)) {
                    int err = 0;
                    socklen_t len = sizeof err;
                    ::getsockopt(s.native_handle(), SOL_SOCKET, SO_ERROR, &err, &len);
                    if (err) ec = error_code(err, boost::system::system_category());
                }
            }
            if (is_timeout(ec)) return transport_error(Errc::timeout, "connecting to " + t.host + ":" + t.port + " timed out", "connect");
            if (ec) {
                last_error = ec.message();
                continue;
            }
            connected.emplace(std::move(s));
            break;
        }
        if (!connected) return transport_error(Errc::upstream_unavailable, "cannot connect to " + t.host + ":" + t.port + ": " + last_error, "connect");
        connected->set_option(tcp::no_delay(true), ec);

        auto conn = std::make_unique<Connection>();
        conn->key = pool_key(ioc, t);
        if (!t.tls) {
            conn->plain.emplace(std::move(*connected));
            return conn;
        }
        conn->secure.emplace(TimedSocket(std::move(*connected)), *tls);
        auto& s = *conn->secure;
        s.next_layer().set_deadline(std::min(deadline, Clock::now() + options.handshake_timeout));
        if (auto e = configure_tls(s, t)) return *e;
        s.handshake(ssl::stream_base::client, ec);
        if (is_timeout(ec)) return transport_error(Errc::timeout, "TLS handshake with " + t.host + " timed out", "connect");
        if (ec) return handshake_error(s, t, ec);
        return conn;
    }

    template <class Stream>
    error_code exchange(Stream& stream, Connection& conn, bhttp::request<bhttp::string_body>& req,
                        bhttp::response_parser<bhttp::string_body>& parser) {
        error_code ec;
        bhttp::write(stream, req, ec);
        if (ec) return ec;
        bhttp::read(stream, conn.buffer, parser, ec);
        return ec;
    }

    // Checks the request and builds its wire form; shared by both paths.
    Result<Target> prepare(const host::OutboundRequest& request, bhttp::request<bhttp::string_body>& req) {
        auto target = parse_target(request.url);
        if (!target) return target.error();
        const Target& t = target.value();
        auto verb = bhttp::string_to_verb(request.method);
        if (verb == bhttp::verb::unknown) return Error(Errc::invalid_input, "unknown HTTP method '" + request.method + "'");
        req = bhttp::request<bhttp::string_body>{verb, t.path_and_query, 11};
        req.set(bhttp::field::host, t.host_header);
        req.set(bhttp::field::user_agent, options.user_agent);
        for (const auto& [k, v] : request.headers) {
            if (beast::iequals(k, "host") || beast::iequals(k, "content-length") || beast::iequals(k, "transfer-encoding") ||
                beast::iequals(k, "connection"))
                continue;  // framing is ours to set
            for (char c : k)
                if (c <= 32 || c >= 127 || c == ':')
                    return Error(Errc::invalid_input, "header name '" + k.substr(0, 64) + "' is not a valid HTTP token");
            for (char c : v)
                if (c == '\r' || c == '\n' || c == '\0') return Error(Errc::invalid_input, "header '" + k + "' has a line break in its value");
            req.insert(k, v);
        }
        req.body() = request.body;
        if (!request.body.empty() || verb == bhttp::verb::post || verb == bhttp::verb::put || verb == bhttp::verb::patch)
            req.prepare_payload();
        req.keep_alive(true);
        return target;
    }

    static Error exchange_error(const error_code& ec, const Target& t, size_t limit) {
        if (is_timeout(ec) || ec == asio::error::operation_aborted)
            return transport_error(Errc::timeout, "no complete answer from " + t.host + " before the deadline", "exchange");
        if (ec == bhttp::error::body_limit)
            return Error(Errc::upstream_error, "the response from " + t.host + " is larger than " + std::to_string(limit) +
                                                   " bytes, the most accepted (serve --max-response-bytes)");
        return transport_error(Errc::upstream_unavailable, "request to " + t.host + " failed: " + ec.message(), "exchange");
    }

    static host::OutboundResponse to_response(bhttp::response<bhttp::string_body>& res) {
        host::OutboundResponse out;
        out.status = static_cast<int>(res.result_int());
        out.headers.reserve(static_cast<size_t>(std::distance(res.begin(), res.end())));
        for (const auto& f : res) out.headers.emplace_back(std::string(f.name_string()), std::string(f.value()));
        out.body = std::move(res.body());
        return out;
    }

    Result<host::OutboundResponse> perform(const host::OutboundRequest& request, Clock::time_point deadline) {
        bhttp::request<bhttp::string_body> req;
        auto target = prepare(request, req);
        if (!target) return target.error();
        auto tls = context_for(target.value(), request.ca_pem);
        if (!tls) return tls.error();
        const Target& t = target.value();
        deadline = std::min(deadline, Clock::now() + request.timeout);

        for (int attempt = 0; attempt < 2; ++attempt) {
            if (Clock::now() >= deadline) return Error(Errc::timeout, "the request to " + t.host + " ran out of time");
            bool reused = true;
            auto conn = acquire(pool_key(ioc, t));
            if (!conn) {
                reused = false;
                auto fresh = connect(t, tls.value(), deadline);
                if (!fresh) return fresh.error();
                conn = std::move(fresh).value();
            }
            bhttp::response_parser<bhttp::string_body> parser;
            parser.body_limit(options.max_response_bytes);
            parser.header_limit(64 * 1024);
            conn->timed().set_deadline(deadline);
            error_code ec = conn->plain ? exchange(*conn->plain, *conn, req, parser) : exchange(*conn->secure, *conn, req, parser);
            if (ec) {
                // A kept-alive connection the server closed just before our request: retry once.
                if (reused && attempt == 0 && !parser.got_some() && !is_timeout(ec)) continue;
                return exchange_error(ec, t, options.max_response_bytes);
            }
            auto& res = parser.get();
            bool keep = res.keep_alive();
            auto out = to_response(res);
            if (keep) release(std::move(conn));
            return out;
        }
        return transport_error(Errc::upstream_unavailable, "the connection to " + t.host + " was closed before an answer", "exchange");
    }

    // ---- the asynchronous path, for hooks running as fibers on a network thread ----

    asio::awaitable<Result<std::unique_ptr<Connection>>> async_connect(asio::io_context& ctx, Target t, ssl::context* tls,
                                                                     Clock::time_point deadline) {
        error_code ec;
        tcp::resolver resolver(ctx);
        auto endpoints = co_await resolver.async_resolve(t.host, t.port, asio::redirect_error(asio::use_awaitable, ec));
        if (ec) co_return transport_error(Errc::upstream_unavailable, "cannot resolve host '" + t.host + "': " + ec.message(), "connect");
        if (auto denied = check_endpoints(t, endpoints)) co_return *denied;
        tcp::socket socket(ctx);
        StepDeadline connect_deadline(ctx, std::min(deadline, Clock::now() + options.connect_timeout), [&socket] {
            error_code ignored;
            socket.close(ignored);
        });
        co_await asio::async_connect(socket, endpoints, asio::redirect_error(asio::use_awaitable, ec));
        if (connect_deadline.disarm()) co_return transport_error(Errc::timeout, "connecting to " + t.host + ":" + t.port + " timed out", "connect");
        if (ec) co_return transport_error(Errc::upstream_unavailable, "cannot connect to " + t.host + ":" + t.port + ": " + ec.message(), "connect");
        socket.set_option(tcp::no_delay(true), ec);
        auto conn = std::make_unique<Connection>();
        conn->key = pool_key(ctx, t);
        if (!t.tls) {
            conn->plain.emplace(std::move(socket));
            co_return conn;
        }
        conn->secure.emplace(TimedSocket(std::move(socket)), *tls);
        auto& s = *conn->secure;
        if (auto e = configure_tls(s, t)) co_return *e;
        StepDeadline handshake_deadline(ctx, std::min(deadline, Clock::now() + options.handshake_timeout), [&s] {
            error_code ignored;
            s.next_layer().socket().close(ignored);
        });
        co_await s.async_handshake(ssl::stream_base::client, asio::redirect_error(asio::use_awaitable, ec));
        if (handshake_deadline.disarm()) co_return transport_error(Errc::timeout, "TLS handshake with " + t.host + " timed out", "connect");
        if (ec) co_return handshake_error(s, t, ec);
        co_return conn;
    }

    template <class Stream>
    asio::awaitable<error_code> async_exchange(Stream& stream, Connection& conn, bhttp::request<bhttp::string_body>& req,
                                               bhttp::response_parser<bhttp::string_body>& parser) {
        error_code ec;
        co_await bhttp::async_write(stream, req, asio::redirect_error(asio::use_awaitable, ec));
        if (ec) co_return ec;
        co_await bhttp::async_read(stream, conn.buffer, parser, asio::redirect_error(asio::use_awaitable, ec));
        co_return ec;
    }

    // A member coroutine taking its arguments by value: they live in its frame.
    asio::awaitable<void> run_async(asio::io_context& ctx, host::OutboundRequest request, Clock::time_point deadline,
                                    Callback done) {
        bhttp::request<bhttp::string_body> req;
        auto target = prepare(request, req);
        if (!target) co_return done(target.error());
        auto tls = context_for(target.value(), request.ca_pem);
        if (!tls) co_return done(tls.error());
        const Target t = target.value();
        deadline = std::min(deadline, Clock::now() + request.timeout);
        for (int attempt = 0; attempt < 2; ++attempt) {
            if (Clock::now() >= deadline) co_return done(Error(Errc::timeout, "the request to " + t.host + " ran out of time"));
            bool reused = true;
            auto conn = acquire(pool_key(ctx, t));
            if (!conn) {
                reused = false;
                auto fresh = co_await async_connect(ctx, t, tls.value(), deadline);
                if (!fresh) co_return done(fresh.error());
                conn = std::move(fresh).value();
            }
            bhttp::response_parser<bhttp::string_body> parser;
            parser.body_limit(options.max_response_bytes);
            parser.header_limit(64 * 1024);
            Connection* raw = conn.get();
            StepDeadline exchange_deadline(ctx, deadline, [raw] {
                error_code ignored;
                raw->timed().socket().close(ignored);
            });
            error_code ec = conn->plain ? co_await async_exchange(*conn->plain, *conn, req, parser)
                                        : co_await async_exchange(*conn->secure, *conn, req, parser);
            if (exchange_deadline.disarm()) co_return done(transport_error(Errc::timeout, "no complete answer from " + t.host + " before the deadline", "exchange"));
            if (ec) {
                if (reused && attempt == 0 && !parser.got_some()) continue;
                co_return done(exchange_error(ec, t, options.max_response_bytes));
            }
            auto& res = parser.get();
            bool keep = res.keep_alive();
            auto out = to_response(res);
            if (keep) release(std::move(conn));
            co_return done(std::move(out));
        }
        done(transport_error(Errc::upstream_unavailable, "the connection to " + t.host + " was closed before an answer", "exchange"));
    }
};

Client::Client(ClientOptions options) : impl_(std::make_unique<Impl>(std::move(options))) {}

Client::~Client() = default;

Result<host::OutboundResponse> Client::perform(const host::OutboundRequest& request, Clock::time_point deadline) {
    if (Clock::now() >= deadline) return Error(Errc::timeout, "the call's deadline has passed");
    try {
        return impl_->perform(request, deadline);
    } catch (const std::exception& e) {
        return Error(Errc::invalid_input, std::string("the request could not be sent: ") + e.what());
    }
}

void Client::async_perform(asio::io_context& ctx, host::OutboundRequest request, Clock::time_point deadline, Callback done) {
    // The callback must run exactly once, even if the exchange throws.
    auto once = std::make_shared<std::pair<Callback, bool>>(std::move(done), false);
    auto finish = [once](Result<host::OutboundResponse> r) {
        if (once->second) return;
        once->second = true;
        once->first(std::move(r));
    };
    asio::co_spawn(ctx, impl_->run_async(ctx, std::move(request), deadline, finish), [finish](std::exception_ptr e) {
        if (!e) return;
        std::string why = "the request could not be sent";
        try {
            std::rethrow_exception(e);
        } catch (const std::exception& ex) {
            why += std::string(": ") + ex.what();
        } catch (...) {
        }
        finish(Error(Errc::invalid_input, why));
    });
}

Result<host::OutboundResponse> Client::perform_suspending(const host::OutboundRequest& request, Clock::time_point deadline) {
    auto* fiber = invoker::FiberCall::current();
    if (!fiber) return perform(request, deadline);
    if (Clock::now() >= deadline) return Error(Errc::timeout, "the call's deadline has passed");
    // The result lives on the fiber's stack, which the FiberCall keeps alive while suspended.
    std::optional<Result<host::OutboundResponse>> result;
    bool waiting = false;
    auto self = fiber->shared_from_this();
    async_perform(fiber->io_context(), request, deadline, [&result, &waiting, self](Result<host::OutboundResponse> r) {
        result.emplace(std::move(r));
        if (waiting) self->resume();
    });
    if (!result) {
        waiting = true;
        fiber->suspend();
        waiting = false;
    }
    return std::move(*result);
}

size_t Client::idle_connections() const {
    std::lock_guard lock(impl_->mutex);
    size_t n = 0;
    for (const auto& [k, v] : impl_->idle) n += v.size();
    return n;
}

}  // namespace patchbay::http
