// Beast client instantiations live in this one translation unit.
#include "http/client.hpp"

#include "common/crypto.hpp"
#include "common/thread_slot.hpp"
#include "http/head_scan.hpp"
#include "http/target.hpp"
#include "invoker/fiber_call.hpp"

#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <array>
#include <cstring>
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

constexpr size_t kHeadLimit = 64 * 1024;  // the most an upstream's response head may take
constexpr int kQuickScans = 4;            // reads of an answer's head before Beast's parser takes it

// Waits until the socket is ready or the deadline passes, blocking the thread.
bool poll_ready(int fd, short events, Clock::time_point deadline, error_code& ec) {
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

// Runs `start(handler)` on the current fiber's io_context and suspends the fiber until the
// handler has run; the handler's arguments are handed to `take`. Nothing the handler touches may
// leave the fiber's stack before it has run, so this waits for it whatever happens.
template <class Start, class Take>
void await_on_fiber(invoker::FiberCall& fiber, Start&& start, Take&& take) {
    bool done = false, waiting = false;
    start([&done, &waiting, &take, f = &fiber](auto&&... args) {
        take(std::forward<decltype(args)>(args)...);
        done = true;
        if (waiting) f->resume();
    });
    while (!done) {
        waiting = true;
        fiber.suspend();
        waiting = false;
    }
}

// A non-blocking TCP socket that behaves as a blocking one bounded by a deadline: the stream Beast
// and asio::ssl read and write through. A wait blocks the thread with poll(), or, when the call
// runs as a fiber on the thread that owns the socket, suspends just the fiber: the thread serves
// other connections until the socket is ready (see docs/adr/004 and 010).
class TimedSocket {
public:
    using executor_type = tcp::socket::executor_type;
    using lowest_layer_type = tcp::socket::lowest_layer_type;

    explicit TimedSocket(tcp::socket s) : socket_(std::move(s)) {}
    TimedSocket(TimedSocket&&) = default;
    ~TimedSocket() {
        if (wait_) wait_->timer.cancel();  // its handler holds the state, not this socket
    }
    executor_type get_executor() { return socket_.get_executor(); }
    lowest_layer_type& lowest_layer() { return socket_.lowest_layer(); }
    const lowest_layer_type& lowest_layer() const { return socket_.lowest_layer(); }
    tcp::socket& socket() { return socket_; }
    void set_deadline(Clock::time_point d) { deadline_ = d; }

    // Waits until the socket is readable (POLLIN) or writable (POLLOUT), or the deadline passes.
    bool wait(short events, error_code& ec) {
        if (auto* fiber = own_fiber()) {
            auto type = (events & POLLOUT) ? tcp::socket::wait_write : tcp::socket::wait_read;
            on_fiber(
                *fiber, [&](auto handler) { socket_.async_wait(type, [h = std::move(handler)](error_code e) mutable { h(e, 0); }); }, ec);
            return !ec;
        }
        return poll_ready(socket_.native_handle(), events, deadline_, ec);
    }

    template <class Buffers>
    size_t read_some(const Buffers& b, error_code& ec) {
        // On a fiber, one asynchronous read: it tries at once and otherwise waits, with no
        // separate readiness wait (which would cost an epoll_ctl per read).
        if (auto* fiber = own_fiber()) return on_fiber(*fiber, [&](auto handler) { socket_.async_read_some(b, std::move(handler)); }, ec);
        for (;;) {
            size_t n = socket_.read_some(b, ec);
            if (ec != asio::error::would_block && ec != asio::error::try_again) return n;
            ec = {};
            if (!wait(POLLIN, ec)) return 0;
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
            if (!wait(POLLOUT, ec)) return 0;
        }
    }
    template <class Buffers>
    size_t write_some(const Buffers& b) {
        error_code ec;
        size_t n = write_some(b, ec);
        if (ec) throw boost::system::system_error(ec);
        return n;
    }

private:
    // The fiber running on the thread that owns this socket, if the caller is one.
    invoker::FiberCall* own_fiber() {
        auto* fiber = invoker::FiberCall::current();
        if (fiber && &socket_.get_executor().context() == static_cast<asio::execution_context*>(&fiber->io_context())) return fiber;
        return nullptr;
    }

    // One per socket, made at its first fiber wait and reused: the socket operation and the
    // deadline timer race, the first to finish resumes the fiber, and a generation number makes
    // the late one (and any from an earlier operation) a no-op.
    struct WaitState {
        explicit WaitState(const executor_type& ex) : timer(ex) {}
        asio::steady_timer timer;
        invoker::FiberCall* fiber = nullptr;
        uint64_t generation = 0;
        bool done = false;
        bool waiting = false;
        bool expired = false;
        error_code ec;
        size_t bytes = 0;
    };

    // Starts an asynchronous operation on the socket with `initiate(handler)`, the handler taking
    // (error_code, bytes), and suspends the fiber until it completes or the deadline passes (the
    // operation is then cancelled: nothing is left pending on buffers the caller may free).
    template <class Initiate>
    size_t on_fiber(invoker::FiberCall& fiber, Initiate&& initiate, error_code& ec) {
        if (Clock::now() >= deadline_) {
            ec = asio::error::timed_out;
            return 0;
        }
        if (!wait_) wait_ = std::make_shared<WaitState>(socket_.get_executor());
        auto st = wait_;
        uint64_t g = ++st->generation;
        st->fiber = &fiber;
        st->done = st->expired = false;
        st->ec = {};
        st->bytes = 0;
        initiate([st, g](error_code e, size_t n) {
            if (st->generation != g || st->done) return;
            st->done = true;
            st->ec = e;
            st->bytes = n;
            st->timer.cancel();
            if (st->waiting) st->fiber->resume();
        });
        if (deadline_ != Clock::time_point::max()) {
            st->timer.expires_at(deadline_);
            st->timer.async_wait([st, g, sock = &socket_](error_code e) {
                if (e || st->generation != g || st->done) return;
                st->done = st->expired = true;
                error_code ignored;
                sock->cancel(ignored);  // the fiber still waits on it, so the socket is alive
                if (st->waiting) st->fiber->resume();
            });
        }
        while (!st->done) {
            st->waiting = true;
            fiber.suspend();
            st->waiting = false;
        }
        if (st->expired) {
            ec = asio::error::timed_out;
            return 0;
        }
        ec = st->ec;
        return st->bytes;
    }

    tcp::socket socket_;
    Clock::time_point deadline_ = Clock::time_point::max();
    std::shared_ptr<WaitState> wait_;
};

// Parses a response straight into what the host hands the plugin (status, header list, body):
// no header container to fill and copy out of.
class ResponseReader : public bhttp::basic_parser<false> {
public:
    host::OutboundResponse response;
    std::optional<bool> quick_keep_alive;  // set when exchange() read the answer without Beast
    bool keeps_alive() const { return quick_keep_alive ? *quick_keep_alive : keep_alive(); }

private:
    void on_request_impl(bhttp::verb, beast::string_view, beast::string_view, int, error_code&) override {}
    void on_response_impl(int code, beast::string_view, int, error_code&) override { response.status = code; }
    void on_field_impl(bhttp::field, beast::string_view name, beast::string_view value, error_code&) override {
        response.headers.emplace_back(std::string(name), std::string(value));
    }
    void on_header_impl(error_code&) override {}
    void on_body_init_impl(const boost::optional<std::uint64_t>& length, error_code&) override {
        if (length) response.body.reserve(static_cast<size_t>(*length));  // bounded by the body limit already
    }
    size_t on_body_impl(beast::string_view body, error_code&) override {
        response.body.append(body.data(), body.size());
        return body.size();
    }
    void on_chunk_header_impl(std::uint64_t, beast::string_view, error_code&) override {}
    size_t on_chunk_body_impl(std::uint64_t, beast::string_view body, error_code&) override {
        response.body.append(body.data(), body.size());
        return body.size();
    }
    void on_finish_impl(error_code&) override {}
};

struct Connection {
    std::string key;     // pool key: io_context and origin
    unsigned shard = 0;  // the pool shard it goes back to
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

}  // namespace

struct Client::Impl {
    ClientOptions options;
    asio::io_context ioc;  // never run: sockets need one, all I/O here is synchronous
    ssl::context tls_ctx{ssl::context::tls_client};
    mutable std::mutex mutex;
    // Idle connections by pool key, in shards: shard 0 for this client's own context (any worker
    // thread may take them), one for each network thread's connections. A network thread then
    // takes and returns its connections under its own lock, in its own map.
    static constexpr unsigned kShards = 8;
    struct alignas(64) Shard {
        mutable std::mutex mutex;
        std::map<std::string, std::vector<std::unique_ptr<Connection>>> idle;
    };
    std::array<Shard, kShards> pools;
    unsigned shard_for(const asio::io_context& ctx) const { return &ctx == &ioc ? 0 : 1 + thread_slot() % (kShards - 1); }

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

    std::unique_ptr<Connection> acquire(unsigned shard, const std::string& key) {
        auto& pool = pools[shard];
        std::lock_guard lock(pool.mutex);
        auto it = pool.idle.find(key);
        if (it == pool.idle.end()) return nullptr;
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
        auto& pool = pools[c->shard];
        std::lock_guard lock(pool.mutex);
        auto& list = pool.idle[c->key];
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

    // The addresses to try for a host: an IP literal as it is, a name from the resolver (waiting
    // on the fiber when the call runs as one, so the thread goes on serving).
    Result<tcp::resolver::results_type> resolve(asio::io_context& ctx, const Target& t) {
        error_code ec;
        tcp::resolver::results_type endpoints;
        auto literal = asio::ip::make_address(t.host, ec);
        if (!ec) return tcp::resolver::results_type::create(tcp::endpoint(literal, t.port_number), t.host, t.port);
        ec = {};
        tcp::resolver resolver(ctx);
        if (auto* fiber = invoker::FiberCall::current(); fiber && &fiber->io_context() == &ctx) {
            await_on_fiber(
                *fiber, [&](auto handler) { resolver.async_resolve(t.host, t.port, std::move(handler)); },
                [&](error_code e, tcp::resolver::results_type r) {
                    ec = e;
                    endpoints = std::move(r);
                });
        } else {
            endpoints = resolver.resolve(t.host, t.port, ec);
        }
        if (ec) return transport_error(Errc::upstream_unavailable, "cannot resolve host '" + t.host + "': " + ec.message(), "connect");
        return endpoints;
    }

    // A new connection on `ctx` (this client's own context, or the network thread's for a fiber).
    Result<std::unique_ptr<Connection>> connect(asio::io_context& ctx, const Target& t, ssl::context* tls, Clock::time_point deadline) {
        auto endpoints = resolve(ctx, t);
        if (!endpoints) return endpoints.error();
        if (auto denied = check_endpoints(t, endpoints.value())) return *denied;

        auto conn = std::make_unique<Connection>();
        conn->key = pool_key(ctx, t);
        conn->shard = shard_for(ctx);
        auto connect_deadline = std::min(deadline, Clock::now() + options.connect_timeout);
        std::string last_error = "no address";
        bool connected = false;
        error_code ec;
        for (const auto& entry : endpoints.value()) {
            conn->plain.emplace(tcp::socket(ctx));
            auto& timed = *conn->plain;
            auto& s = timed.socket();
            s.open(entry.endpoint().protocol(), ec);
            if (ec) continue;
            s.non_blocking(true, ec);
            s.connect(entry.endpoint(), ec);
            if (ec == asio::error::in_progress || ec == asio::error::would_block) {
                ec = {};
                timed.set_deadline(connect_deadline);
                if (timed.wait(POLLOUT, ec)) {
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
            connected = true;
            break;
        }
        if (!connected) return transport_error(Errc::upstream_unavailable, "cannot connect to " + t.host + ":" + t.port + ": " + last_error, "connect");
        conn->plain->socket().set_option(tcp::no_delay(true), ec);
        if (!t.tls) return conn;

        conn->secure.emplace(std::move(*conn->plain), *tls);
        conn->plain.reset();
        auto& s = *conn->secure;
        s.next_layer().set_deadline(std::min(deadline, Clock::now() + options.handshake_timeout));
        if (auto e = configure_tls(s, t)) return *e;
        s.handshake(ssl::stream_base::client, ec);
        if (is_timeout(ec)) return transport_error(Errc::timeout, "TLS handshake with " + t.host + " timed out", "connect");
        if (ec) return handshake_error(s, t, ec);
        return conn;
    }

    // Sends the request and reads the answer into `parser.response`. The common shape of answer
    // (see head_scan.hpp) is read here, its body straight into the response; any other goes to
    // Beast's parser, from its first byte. `received` says whether any of it came.
    template <class Stream>
    error_code exchange(Stream& stream, Connection& conn, const std::string& head, const std::string& body, ResponseReader& parser,
                        bool quick, bool& received) {
        error_code ec;
        std::array<asio::const_buffer, 2> wire{asio::buffer(head), asio::buffer(body)};
        asio::write(stream, wire, ec);
        if (ec) return ec;
        const ScanLimits limits{kHeadLimit, options.max_response_bytes};
        // Each scan starts from the first byte, so a head that trickles in goes to Beast's parser
        // (which carries on where it stopped) after a few reads, not one scan per byte.
        for (int scans = 0; quick; ) {
            if (conn.buffer.size() > 0) {
                received = true;
                MessageHead mh;
                auto bytes = conn.buffer.cdata();
                Scan s = scan_response_head(std::string_view(static_cast<const char*>(bytes.data()), bytes.size()), limits, mh);
                if (s == Scan::done) return read_body(stream, conn, mh, parser);
                if (s == Scan::other || ++scans == kQuickScans) break;
            }
            size_t n = stream.read_some(conn.buffer.prepare(beast::read_size(conn.buffer, 65536)), ec);
            conn.buffer.commit(n);
            if (ec == asio::error::eof) {
                if (conn.buffer.size() == 0) return bhttp::error::end_of_stream;
                received = true;
                return bhttp::error::partial_message;
            }
            if (ec) return ec;
        }
        bhttp::read(stream, conn.buffer, parser, ec);
        if (parser.got_some()) received = true;
        return ec;
    }

    // The rest of a quickly read answer: its fields and status into the response, then its
    // Content-Length bytes of body, what the buffer holds first and the rest read into place.
    template <class Stream>
    static error_code read_body(Stream& stream, Connection& conn, const MessageHead& mh, ResponseReader& parser) {
        auto& out = parser.response;
        out.status = mh.status;
        out.headers.reserve(mh.fields().size());
        for (const auto& f : mh.fields()) out.headers.emplace_back(std::string(f.name), std::string(f.value));
        parser.quick_keep_alive = mh.keep_alive;
        const size_t length = static_cast<size_t>(mh.content_length);
        const size_t buffered = std::min(conn.buffer.size() - mh.head_size, length);
        out.body.resize(length);
        std::memcpy(out.body.data(), static_cast<const char*>(conn.buffer.cdata().data()) + mh.head_size, buffered);
        conn.buffer.consume(mh.head_size + buffered);
        size_t have = buffered;
        while (have < length) {
            error_code ec;
            have += stream.read_some(asio::buffer(out.body.data() + have, length - have), ec);
            if (ec == asio::error::eof && have < length) return bhttp::error::partial_message;
            if (ec) return ec;
        }
        return {};
    }

    // Checks the request and writes its head (request line and header fields) in wire form; the
    // body goes after it as it is. Written by hand: one string, one send, no serializer.
    Result<Target> prepare(const host::OutboundRequest& request, std::string& head) {
        auto target = parse_target(request.url);
        if (!target) return target.error();
        const Target& t = target.value();
        auto verb = bhttp::string_to_verb(request.method);
        if (verb == bhttp::verb::unknown) return Error(Errc::invalid_input, "unknown HTTP method '" + request.method + "'");
        head.clear();
        head.reserve(128 + t.path_and_query.size() + request.headers.size() * 48);
        head.append(bhttp::to_string(verb)).append(" ").append(t.path_and_query).append(" HTTP/1.1\r\nHost: ");
        head.append(t.host_header).append("\r\nUser-Agent: ").append(options.user_agent).append("\r\n");
        for (const auto& [k, v] : request.headers) {
            if (beast::iequals(k, "host") || beast::iequals(k, "content-length") || beast::iequals(k, "transfer-encoding") ||
                beast::iequals(k, "connection"))
                continue;  // framing is ours to set
            if (k.empty()) return Error(Errc::invalid_input, "a header has an empty name");
            for (char c : k)
                if (c <= 32 || c >= 127 || c == ':')
                    return Error(Errc::invalid_input, "header name '" + k.substr(0, 64) + "' is not a valid HTTP token");
            for (char c : v)
                if (c == '\r' || c == '\n' || c == '\0') return Error(Errc::invalid_input, "header '" + k + "' has a line break in its value");
            head.append(k).append(": ").append(v).append("\r\n");
        }
        if (!request.body.empty() || verb == bhttp::verb::post || verb == bhttp::verb::put || verb == bhttp::verb::patch)
            head.append("Content-Length: ").append(std::to_string(request.body.size())).append("\r\n");
        head.append("\r\n");
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

    // The exchange, on the calling thread; on a fiber, its waits suspend only the fiber and its
    // connections belong to (and are pooled for) the fiber's network thread.
    Result<host::OutboundResponse> perform(const host::OutboundRequest& request, Clock::time_point deadline) {
        std::string head;
        auto target = prepare(request, head);
        if (!target) return target.error();
        auto tls = context_for(target.value(), request.ca_pem);
        if (!tls) return tls.error();
        const Target& t = target.value();
        deadline = std::min(deadline, Clock::now() + request.timeout);
        auto* fiber = invoker::FiberCall::current();
        asio::io_context& ctx = fiber ? fiber->io_context() : ioc;
        auto key = pool_key(ctx, t);
        const unsigned shard = shard_for(ctx);

        for (int attempt = 0; attempt < 2; ++attempt) {
            if (Clock::now() >= deadline) return Error(Errc::timeout, "the request to " + t.host + " ran out of time");
            bool reused = true;
            auto conn = acquire(shard, key);
            if (!conn) {
                reused = false;
                auto fresh = connect(ctx, t, tls.value(), deadline);
                if (!fresh) return fresh.error();
                conn = std::move(fresh).value();
            }
            ResponseReader parser;
            parser.body_limit(options.max_response_bytes);
            parser.header_limit(kHeadLimit);
            const bool head_request = request.method == "HEAD";
            if (head_request) parser.skip(true);  // the answer's length is the GET's; no body follows
            conn->timed().set_deadline(deadline);
            bool received = false;
            error_code ec = conn->plain ? exchange(*conn->plain, *conn, head, request.body, parser, !head_request, received)
                                        : exchange(*conn->secure, *conn, head, request.body, parser, !head_request, received);
            if (ec) {
                // A kept-alive connection the server closed just before our request: retry once.
                if (reused && attempt == 0 && !received && !is_timeout(ec)) continue;
                return exchange_error(ec, t, options.max_response_bytes);
            }
            bool keep = parser.keeps_alive();
            auto out = std::move(parser.response);
            // Bytes after the answer were never asked for: the server is out of step, so the
            // connection is not used again.
            if (keep && conn->buffer.size() == 0) release(std::move(conn));
            return out;
        }
        return transport_error(Errc::upstream_unavailable, "the connection to " + t.host + " was closed before an answer", "exchange");
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

Result<host::OutboundResponse> Client::perform_suspending(const host::OutboundRequest& request, Clock::time_point deadline) {
    return perform(request, deadline);
}

size_t Client::idle_connections() const {
    size_t n = 0;
    for (const auto& pool : impl_->pools) {
        std::lock_guard lock(pool.mutex);
        for (const auto& [k, v] : pool.idle) n += v.size();
    }
    return n;
}

}  // namespace patchbay::http
