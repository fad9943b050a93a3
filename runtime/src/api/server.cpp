// Beast server instantiations live in this one translation unit.
#include "api/server.hpp"

#include "common/log.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

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

}  // namespace

struct Server::Impl : std::enable_shared_from_this<Server::Impl> {
    struct Session {
        asio::io_context& ioc;
        beast::tcp_stream stream;
        bool busy = false;
        Session(asio::io_context& c, tcp::socket s) : ioc(c), stream(std::move(s)) {}
    };

    std::vector<asio::io_context*> contexts;
    size_t next_context = 0;
    asio::io_context& ioc;
    ServerOptions options;
    Api& api;
    tcp::acceptor acceptor;
    std::atomic<bool> draining{false};
    std::atomic<int> in_flight{0};
    std::mutex sessions_mutex;
    std::map<uint64_t, std::shared_ptr<Session>> sessions;
    uint64_t next_id = 0;

    Impl(std::vector<asio::io_context*> ctxs, ServerOptions opts, Api& a)
        : contexts(std::move(ctxs)), ioc(*contexts.front()), options(std::move(opts)), api(a), acceptor(ioc) {}

    asio::awaitable<void> accept_loop() {
        for (;;) {
            error_code ec;
            asio::io_context& target = *contexts[next_context++ % contexts.size()];
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
            auto session = std::make_shared<Session>(target, std::move(socket));
            uint64_t id;
            {
                std::lock_guard lock(sessions_mutex);
                id = next_id++;
                sessions[id] = session;
            }
            auto self = shared_from_this();
            asio::co_spawn(session->stream.get_executor(), run_session(session),
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

    template <class Body>
    asio::awaitable<error_code> send(beast::tcp_stream& stream, bhttp::response<Body>& res) {
        error_code ec;
        co_await bhttp::async_write(stream, res, asio::redirect_error(asio::use_awaitable, ec));
        co_return ec;
    }

    asio::awaitable<void> reply_error(beast::tcp_stream& stream, Errc code, std::string message) {
        auto r = error_response(Error(code, std::move(message)), "");
        bhttp::response<bhttp::string_body> res{static_cast<bhttp::status>(r.status), 11};
        res.set(bhttp::field::content_type, r.content_type);
        res.set(bhttp::field::server, "patchbay");
        res.keep_alive(false);
        res.body() = std::move(r.body);
        res.prepare_payload();
        co_await send(stream, res);
        error_code ec;
        stream.socket().shutdown(tcp::socket::shutdown_send, ec);
    }

    asio::awaitable<void> run_session(std::shared_ptr<Session> session) {
        auto& stream = session->stream;
        beast::flat_buffer buffer;
        for (;;) {
            if (draining) break;
            bhttp::request_parser<bhttp::string_body> parser;
            parser.header_limit(static_cast<std::uint32_t>(options.header_limit));
            parser.body_limit(options.body_limit);
            stream.expires_after(options.idle_timeout);
            error_code ec;
            co_await bhttp::async_read_header(stream, buffer, parser, asio::redirect_error(asio::use_awaitable, ec));
            if (ec == bhttp::error::end_of_stream || ec == asio::error::operation_aborted || ec == beast::error::timeout ||
                ec == asio::error::connection_reset || ec == asio::error::eof)
                break;
            if (ec == bhttp::error::header_limit) {
                co_await reply_error(stream, Errc::headers_too_large,
                                     "the request headers are larger than " + std::to_string(options.header_limit) + " bytes");
                break;
            }
            if (ec == bhttp::error::body_limit) {
                co_await reply_error(stream, Errc::payload_too_large,
                                     "the request body is larger than the " + std::to_string(options.body_limit) + "-byte limit");
                break;
            }
            if (ec) {
                if (parser.got_some()) co_await reply_error(stream, Errc::bad_request, "malformed HTTP request: " + ec.message());
                break;
            }
            session->busy = true;
            in_flight.fetch_add(1);
            struct Done {
                Impl& impl;
                Session& s;
                ~Done() {
                    s.busy = false;
                    impl.in_flight.fetch_sub(1);
                }
            } done{*this, *session};

            auto len = parser.content_length();
            if (len && *len > options.body_limit) {
                co_await reply_error(stream, Errc::payload_too_large,
                                     "the request body is larger than the " + std::to_string(options.body_limit) + "-byte limit");
                break;
            }
            if (parser.get()[bhttp::field::expect] == "100-continue") {
                bhttp::response<bhttp::empty_body> cont{bhttp::status::continue_, 11};
                co_await send(stream, cont);
            }
            co_await bhttp::async_read(stream, buffer, parser, asio::redirect_error(asio::use_awaitable, ec));
            if (ec == bhttp::error::body_limit) {
                co_await reply_error(stream, Errc::payload_too_large,
                                     "the request body is larger than the " + std::to_string(options.body_limit) + "-byte limit");
                break;
            }
            if (ec) break;
            auto req = parser.release();

            ApiRequest ar;
            ar.network = &session->ioc;
            ar.method = std::string(req.method_string());
            ar.target = std::string(req.target());
            ar.body = std::move(req.body());
            ar.authorization = std::string(req[boost::beast::http::field::authorization]);
            if (wants_headers(ar.target))
                for (const auto& f : req) ar.headers.emplace_back(std::string(f.name_string()), std::string(f.value()));
            auto rid = req["X-Request-Id"];
            ar.request_id = safe_request_id(rid) ? std::string(rid) : new_request_id();
            std::string request_id = ar.request_id;
            bool keep_alive = req.keep_alive();
            bool head = req.method() == bhttp::verb::head;
            unsigned version = req.version();

            stream.expires_never();  // invocations have their own deadline
            ApiResponse r = co_await async_handle(api, std::move(ar), asio::use_awaitable);

            bhttp::response<bhttp::string_body> res{static_cast<bhttp::status>(r.status), version};
            res.set(bhttp::field::server, "patchbay");
            res.set(bhttp::field::content_type, r.content_type);
            res.set("X-Request-Id", request_id);
            for (const auto& [k, v] : r.headers) res.set(k, v);
            res.keep_alive(keep_alive && !draining);
            res.body() = std::move(r.body);
            res.prepare_payload();
            if (head) res.body().clear();
            stream.expires_after(options.idle_timeout);
            ec = co_await send(stream, res);
            if (ec || !res.keep_alive()) break;
        }
        error_code ec;
        stream.socket().shutdown(tcp::socket::shutdown_send, ec);
        stream.close();
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
}

void Server::drain(std::function<void()> drained) {
    auto impl = impl_;
    if (impl->draining.exchange(true)) return;
    log::info("draining: no new connections; finishing requests in flight", {{"in_flight", impl->in_flight.load()}});
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
                    asio::post(s->stream.get_executor(), [s] {
                        if (!s->busy) s->stream.cancel();
                    });
                }
            }
            bool idle = impl->in_flight.load() == 0;
            if (idle || std::chrono::steady_clock::now() >= deadline) {
                if (!idle) log::warn("drain timeout reached with requests still in flight", {{"in_flight", impl->in_flight.load()}});
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
