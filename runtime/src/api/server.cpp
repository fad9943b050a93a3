// Beast server instantiations live in this one translation unit.
#include "api/server.hpp"

#include "common/log.hpp"
#include "http/head_scan.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <algorithm>
#include <array>
#include <atomic>
#include <map>
#include <mutex>
#include <random>

namespace patchbay::api {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = asio::ip::tcp;
using boost::system::error_code;

namespace {

std::string new_request_id() {
    thread_local std::mt19937_64 rng{std::random_device{}()};
    static const char* hex = "0123456789abcdef";
    std::string id(16, '0');
    uint64_t v = rng();
    for (auto& c : id) {
        c = hex[v & 15];
        v >>= 4;
    }
    return id;
}

bool safe_request_id(std::string_view s) {
    if (s.empty() || s.size() > 128) return false;
    for (char c : s)
        if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.' || c == ':')) return false;
    return true;
}

// Awaits Api::handle's callback from inside a coroutine.
template <class Token>
auto async_handle(Api& api, ApiRequest req, Token&& token) {
    return asio::async_initiate<Token, void(ApiResponse)>(
        [&api](auto handler, ApiRequest r) {
            auto h = std::make_shared<decltype(handler)>(std::move(handler));
            api.handle(std::move(r), [h](ApiResponse resp) {
                // Post, not dispatch: the answer may come from inside a plugin's fiber or the
                // deadline thread, and the session should resume on its own stack.
                auto ex = asio::get_associated_executor(*h);
                asio::post(ex, [h, resp = std::move(resp)]() mutable { (*h)(std::move(resp)); });
            });
        },
        token, std::move(req));
}

using Clock = std::chrono::steady_clock;

// Parses a request into what the API needs: the request line, the few fields it reads, the body,
// and every field only for the routes that take them (webhooks). No header container per request.
class RequestReader : public bhttp::basic_parser<true> {
public:
    bhttp::verb verb = bhttp::verb::unknown;
    std::string method, target, authorization, request_id, expect, body;
    unsigned version = 11;
    bool all_fields = false;
    std::vector<std::pair<std::string, std::string>> fields;
    std::optional<bool> quick_keep_alive;  // set when the request was read without Beast

    // A request of the common shape (see head_scan.hpp), read whole from `bytes`: the same
    // members as Beast's callbacks fill.
    void take(const http::MessageHead& mh, std::string_view bytes) {
        verb = bhttp::string_to_verb(mh.method);
        method.assign(mh.method);
        target.assign(mh.target);
        version = mh.version;
        all_fields = wants_headers(target);
        for (const auto& f : mh.fields()) {
            if (beast::iequals(f.name, "authorization")) authorization.assign(f.value);
            else if (beast::iequals(f.name, "x-request-id")) request_id.assign(f.value);
            if (all_fields) fields.emplace_back(std::string(f.name), std::string(f.value));
        }
        body.assign(bytes.substr(mh.head_size, static_cast<size_t>(mh.content_length)));
        quick_keep_alive = mh.keep_alive;
    }
    bool keeps_alive() const { return quick_keep_alive ? *quick_keep_alive : keep_alive(); }

private:
    void on_request_impl(bhttp::verb v, beast::string_view m, beast::string_view t, int ver, error_code&) override {
        verb = v;
        method.assign(m.data(), m.size());
        target.assign(t.data(), t.size());
        version = static_cast<unsigned>(ver);
        all_fields = wants_headers(target);
    }
    void on_response_impl(int, beast::string_view, int, error_code&) override {}
    void on_field_impl(bhttp::field f, beast::string_view name, beast::string_view value, error_code&) override {
        if (f == bhttp::field::authorization) authorization.assign(value.data(), value.size());
        else if (f == bhttp::field::expect) expect.assign(value.data(), value.size());
        else if (beast::iequals(name, "x-request-id")) request_id.assign(value.data(), value.size());
        if (all_fields) fields.emplace_back(std::string(name), std::string(value));
    }
    void on_header_impl(error_code&) override {}
    void on_body_init_impl(const boost::optional<std::uint64_t>& length, error_code&) override {
        if (length) body.reserve(static_cast<size_t>(*length));  // bounded by the body limit already
    }
    size_t on_body_impl(beast::string_view b, error_code&) override {
        body.append(b.data(), b.size());
        return b.size();
    }
    void on_chunk_header_impl(std::uint64_t, beast::string_view, error_code&) override {}
    size_t on_chunk_body_impl(std::uint64_t, beast::string_view b, error_code&) override {
        body.append(b.data(), b.size());
        return b.size();
    }
    void on_finish_impl(error_code&) override {}
};


// The head of a response (status line and header fields), written by hand: one string, sent with
// the body in one gathered write.
std::string response_head(const ApiResponse& r, unsigned version, const std::string& request_id, bool keep_alive) {
    const int status = r.status;
    std::string head;
    head.reserve(160 + r.content_type.size() + request_id.size() + r.headers.size() * 64);
    auto put_value = [&head](std::string_view v) {  // a value never ends the header: no CR, LF or NUL
        size_t from = 0;
        for (size_t i = 0; i < v.size(); ++i) {
            if (v[i] != '\r' && v[i] != '\n' && v[i] != '\0') continue;
            head.append(v.data() + from, i - from);
            from = i + 1;
        }
        head.append(v.data() + from, v.size() - from);
    };
    head.append(version == 10 ? "HTTP/1.0 " : "HTTP/1.1 ").append(std::to_string(status)).append(" ");
    head.append(bhttp::obsolete_reason(static_cast<bhttp::status>(status))).append("\r\nServer: patchbay\r\n");
    if (!r.content_type.empty()) {
        head.append("Content-Type: ");
        put_value(r.content_type);
        head.append("\r\n");
    }
    if (!request_id.empty()) {
        head.append("X-Request-Id: ");
        put_value(request_id);
        head.append("\r\n");
    }
    for (size_t i = 0; i < r.headers.size(); ++i) {
        const auto& [k, v] = r.headers[i];
        if (beast::iequals(k, "content-length") || beast::iequals(k, "connection") || beast::iequals(k, "transfer-encoding") ||
            beast::iequals(k, "content-type") || beast::iequals(k, "server") || beast::iequals(k, "x-request-id"))
            continue;  // framing, and the fields written above
        bool replaced = false;  // a field set twice goes out once, with its last value
        for (size_t j = i + 1; j < r.headers.size() && !replaced; ++j) replaced = beast::iequals(r.headers[j].first, k);
        if (replaced) continue;
        put_value(k);
        head.append(": ");
        put_value(v);
        head.append("\r\n");
    }
    if (status >= 200 && status != 204)  // 1xx and 204 never carry a length (RFC 9110, 8.6)
        head.append("Content-Length: ").append(std::to_string(r.body.size())).append("\r\n");
    if (version == 10 && keep_alive) head.append("Connection: keep-alive\r\n");
    if (version != 10 && !keep_alive) head.append("Connection: close\r\n");
    head.append("\r\n");
    return head;
}

}  // namespace

struct Server::Impl : std::enable_shared_from_this<Server::Impl> {
    struct Session {
        asio::io_context& ioc;
        std::atomic<int>& in_flight;  // its network thread's count of requests being handled
        tcp::socket socket;
        std::atomic<bool> busy{false};
        // When the session began waiting on its peer (for a request, or for an answer to be
        // taken), in steady-clock ticks; 0 while a request is being handled. The sweeper closes
        // sessions that wait longer than the idle timeout: no timer per request.
        std::atomic<int64_t> waiting_since{0};
        Session(asio::io_context& c, std::atomic<int>& n, tcp::socket s) : ioc(c), in_flight(n), socket(std::move(s)) {}
        void wait_begins() { waiting_since.store(Clock::now().time_since_epoch().count(), std::memory_order_relaxed); }
        void wait_ends() { waiting_since.store(0, std::memory_order_relaxed); }
    };

    std::vector<asio::io_context*> contexts;
    size_t next_context = 0;
    asio::io_context& ioc;
    ServerOptions options;
    Api& api;
    tcp::acceptor acceptor;
    asio::steady_timer sweeper;
    std::atomic<bool> draining{false};
    // Requests being handled, counted per network thread: a request is counted in and out on its
    // session's thread, so the threads never write one shared counter.
    struct alignas(64) Counter {
        std::atomic<int> n{0};
    };
    std::vector<Counter> in_flight_by_thread;
    int in_flight() const {
        int n = 0;
        for (const auto& c : in_flight_by_thread) n += c.n.load();
        return n;
    }
    std::mutex sessions_mutex;
    std::map<uint64_t, std::shared_ptr<Session>> sessions;
    uint64_t next_id = 0;

    Impl(std::vector<asio::io_context*> ctxs, ServerOptions opts, Api& a)
        : contexts(std::move(ctxs)),
          ioc(*contexts.front()),
          options(std::move(opts)),
          api(a),
          acceptor(ioc),
          sweeper(ioc),
          in_flight_by_thread(contexts.size()) {}

    // Every so often (a quarter of the idle timeout, at most a second): sessions that have waited
    // on their peer for longer than the idle timeout are closed, on their own thread.
    void sweep_later() {
        auto every = std::clamp<std::chrono::milliseconds>(options.idle_timeout / 4, std::chrono::milliseconds(10), std::chrono::seconds(1));
        sweeper.expires_after(every);
        sweeper.async_wait([weak = weak_from_this()](error_code ec) {
            auto self = weak.lock();
            if (ec || !self) return;
            self->sweep();
            self->sweep_later();
        });
    }

    void sweep() {
        const int64_t limit = std::chrono::duration_cast<Clock::duration>(options.idle_timeout).count();
        const int64_t now = Clock::now().time_since_epoch().count();
        std::lock_guard lock(sessions_mutex);
        for (auto& [id, s] : sessions) {
            auto since = s->waiting_since.load(std::memory_order_relaxed);
            if (since == 0 || now - since <= limit) continue;
            asio::post(s->ioc, [s, limit] {
                auto since = s->waiting_since.load(std::memory_order_relaxed);
                if (since == 0 || Clock::now().time_since_epoch().count() - since <= limit) return;
                error_code ignored;
                s->socket.cancel(ignored);  // the pending read or write ends, and so does the session
            });
        }
    }

    asio::awaitable<void> accept_loop() {
        for (;;) {
            error_code ec;
            const size_t slot = next_context++ % contexts.size();
            asio::io_context& target = *contexts[slot];
            tcp::socket socket(target);
            co_await acceptor.async_accept(socket, asio::redirect_error(asio::use_awaitable, ec));
            if (ec) {
                if (ec == asio::error::operation_aborted || !acceptor.is_open()) co_return;
                log::warn("accept failed", {{"error", ec.message()}});
                if (ec == asio::error::no_descriptors) {
                    asio::steady_timer t(acceptor.get_executor(), std::chrono::milliseconds(50));
                    co_await t.async_wait(asio::redirect_error(asio::use_awaitable, ec));
                }
                continue;
            }
            socket.set_option(tcp::no_delay(true), ec);
            auto session = std::make_shared<Session>(target, in_flight_by_thread[slot].n, std::move(socket));
            uint64_t id;
            {
                std::lock_guard lock(sessions_mutex);
                id = next_id++;
                sessions[id] = session;
            }
            auto self = shared_from_this();
            asio::co_spawn(target, run_session(session),
                           [self, id](std::exception_ptr e) {
                               if (e) {
                                   try {
                                       std::rethrow_exception(e);
                                   } catch (const std::exception& ex) {
                                       log::error("session failed", {{"error", ex.what()}});
                                   }
                               }
                               std::lock_guard lock(self->sessions_mutex);
                               self->sessions.erase(id);
                           });
        }
    }

    asio::awaitable<error_code> send(Session& s, const std::string& head, std::string_view body) {
        error_code ec;
        s.wait_begins();
        std::array<asio::const_buffer, 2> wire{asio::buffer(head), asio::buffer(body.data(), body.size())};
        co_await asio::async_write(s.socket, wire, asio::redirect_error(asio::use_awaitable, ec));
        s.wait_ends();
        co_return ec;
    }

    asio::awaitable<void> reply_error(Session& s, Errc code, std::string message) {
        auto r = error_response(Error(code, std::move(message)), "");
        co_await send(s, response_head(r, 11, "", false), r.body);
        error_code ec;
        s.socket.shutdown(tcp::socket::shutdown_send, ec);
    }

    // Reads one request into `parser`: what `buffer` already holds first (a pipelined request
    // costs no read), then from the socket. Answers "100 Continue" when the client waits for it.
    asio::awaitable<error_code> read_request(Session& s, beast::flat_buffer& buffer, RequestReader& parser) {
        error_code ec;
        bool header_seen = false;
        const http::ScanLimits quick_limits{options.header_limit, options.body_limit};
        bool quick = true;  // until the request turns out not to be of the common shape, or not whole
        int scans = 0;      // each from the first byte: a head that trickles in goes to Beast after a few
        for (;;) {
            if (quick && buffer.size() > 0) {
                http::MessageHead mh;
                auto bytes = buffer.cdata();
                std::string_view view(static_cast<const char*>(bytes.data()), bytes.size());
                http::Scan scan = http::scan_request_head(view, quick_limits, mh);
                if (scan == http::Scan::done && mh.head_size + mh.content_length <= view.size()) {
                    parser.take(mh, view);
                    buffer.consume(mh.head_size + static_cast<size_t>(mh.content_length));
                    co_return ec;
                }
                // Beast has not read a byte yet: it starts from the first.
                quick = scan == http::Scan::incomplete && ++scans < 4;
            }
            if (!quick && buffer.size() > 0) {
                size_t used = parser.put(buffer.data(), ec);
                buffer.consume(used);
                if (ec == bhttp::error::need_more) ec = {};
                if (ec) co_return ec;
                if (!header_seen && parser.is_header_done()) {
                    header_seen = true;
                    if (!parser.is_done() && beast::iequals(parser.expect, "100-continue")) {
                        static const std::string cont = "HTTP/1.1 100 Continue\r\n\r\n";
                        if (auto e = co_await send(s, cont, {})) co_return e;
                        s.wait_begins();
                    }
                }
                if (parser.is_done()) co_return ec;
                if (used > 0 && buffer.size() > 0) continue;
            }
            size_t n = co_await s.socket.async_read_some(buffer.prepare(16 * 1024), asio::redirect_error(asio::use_awaitable, ec));
            if (ec == asio::error::eof) {
                if (quick && buffer.size() > 0) {  // a cut-short head: Beast's parser words the error
                    quick = false;
                    parser.put(buffer.data(), ec);
                    ec = {};
                }
                if (!parser.got_some()) co_return bhttp::error::end_of_stream;
                parser.put_eof(ec);
                co_return ec ? ec : error_code(bhttp::error::partial_message);
            }
            if (ec) co_return ec;
            buffer.commit(n);
        }
    }

    asio::awaitable<void> run_session(std::shared_ptr<Session> session) {
        auto& s = *session;
        beast::flat_buffer buffer;
        for (;;) {
            if (draining) break;
            RequestReader parser;
            parser.header_limit(static_cast<std::uint32_t>(options.header_limit));
            parser.body_limit(options.body_limit);
            parser.eager(true);
            s.wait_begins();
            error_code ec = co_await read_request(s, buffer, parser);
            s.wait_ends();
            if (ec == bhttp::error::end_of_stream || ec == asio::error::operation_aborted || ec == asio::error::connection_reset ||
                ec == asio::error::eof)
                break;
            if (ec == bhttp::error::header_limit) {
                co_await reply_error(s, Errc::headers_too_large,
                                     "the request headers are larger than " + std::to_string(options.header_limit) + " bytes");
                break;
            }
            if (ec == bhttp::error::body_limit) {
                co_await reply_error(s, Errc::payload_too_large,
                                     "the request body is larger than the " + std::to_string(options.body_limit) + "-byte limit");
                break;
            }
            if (ec) {
                if (parser.got_some()) co_await reply_error(s, Errc::bad_request, "malformed HTTP request: " + ec.message());
                break;
            }
            s.busy = true;
            s.in_flight.fetch_add(1, std::memory_order_relaxed);
            struct Done {
                Session& s;
                ~Done() {
                    s.busy = false;
                    s.in_flight.fetch_sub(1, std::memory_order_release);
                }
            } done{s};

            ApiRequest ar;
            ar.network = &s.ioc;
            ar.method = std::move(parser.method);
            ar.target = std::move(parser.target);
            ar.body = std::move(parser.body);
            ar.authorization = std::move(parser.authorization);
            ar.headers = std::move(parser.fields);
            ar.request_id = safe_request_id(parser.request_id) ? std::move(parser.request_id) : new_request_id();
            std::string request_id = ar.request_id;
            bool keep_alive = parser.keeps_alive();
            bool head = parser.verb == bhttp::verb::head;
            unsigned version = parser.version;

            ApiResponse r = co_await async_handle(api, std::move(ar), asio::use_awaitable);

            keep_alive = keep_alive && !draining;
            auto wire_head = response_head(r, version, request_id, keep_alive);
            ec = co_await send(s, wire_head, head ? std::string_view() : std::string_view(r.body));
            if (ec || !keep_alive) break;
        }
        error_code ec;
        s.socket.shutdown(tcp::socket::shutdown_send, ec);
        s.socket.close(ec);
    }
};

Server::Server(std::vector<asio::io_context*> contexts, ServerOptions options, Api& api)
    : impl_(std::make_shared<Impl>(std::move(contexts), std::move(options), api)) {}

Server::~Server() {
    error_code ec;
    impl_->acceptor.close(ec);
}

Result<tcp::endpoint> Server::listen() {
    error_code ec;
    auto address = asio::ip::make_address(impl_->options.address, ec);
    if (ec) return Error(Errc::invalid_input, "'" + impl_->options.address + "' is not an IP address to listen on");
    tcp::endpoint ep(address, impl_->options.port);
    auto& a = impl_->acceptor;
    a.open(ep.protocol(), ec);
    if (!ec) a.set_option(asio::socket_base::reuse_address(true), ec);
    if (!ec) a.bind(ep, ec);
    if (!ec) a.listen(asio::socket_base::max_listen_connections, ec);
    if (ec) {
        a.close();
        return Error(Errc::internal, "cannot listen on " + impl_->options.address + ":" + std::to_string(impl_->options.port) + ": " +
                                         ec.message());
    }
    return a.local_endpoint();
}

void Server::start() {
    auto impl = impl_;
    asio::co_spawn(impl->acceptor.get_executor(), impl->accept_loop(), asio::detached);
    impl->sweep_later();
}

void Server::drain(std::function<void()> drained) {
    auto impl = impl_;
    if (impl->draining.exchange(true)) return;
    log::info("draining: no new connections; finishing requests in flight", {{"in_flight", impl->in_flight()}});
    asio::post(impl->acceptor.get_executor(), [impl] {
        error_code ec;
        impl->acceptor.close(ec);
    });
    struct Drainer : std::enable_shared_from_this<Drainer> {
        std::shared_ptr<Impl> impl;
        asio::steady_timer timer;
        std::chrono::steady_clock::time_point deadline;
        std::function<void()> drained;

        Drainer(std::shared_ptr<Impl> i, std::function<void()> d)
            : impl(std::move(i)), timer(impl->ioc), deadline(std::chrono::steady_clock::now() + impl->options.drain_timeout),
              drained(std::move(d)) {}

        void tick() {
            {
                // Idle keep-alive connections wait for a request that must not come: close them.
                std::lock_guard lock(impl->sessions_mutex);
                for (auto& [id, s] : impl->sessions) {
                    asio::post(s->ioc, [s] {
                        error_code ignored;
                        if (!s->busy) s->socket.cancel(ignored);
                    });
                }
            }
            bool idle = impl->in_flight() == 0;
            if (idle || std::chrono::steady_clock::now() >= deadline) {
                if (!idle) log::warn("drain timeout reached with requests still in flight", {{"in_flight", impl->in_flight()}});
                if (drained) std::exchange(drained, nullptr)();
                return;
            }
            timer.expires_after(std::chrono::milliseconds(20));
            timer.async_wait([self = shared_from_this()](error_code) { self->tick(); });
        }
    };
    auto drainer = std::make_shared<Drainer>(impl, std::move(drained));
    asio::post(impl->ioc, [drainer] { drainer->tick(); });
}

}  // namespace patchbay::api
