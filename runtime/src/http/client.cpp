// Beast client instantiations live in this one translation unit.
#include "http/client.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/url/parse.hpp>

#include <atomic>
#include <future>
#include <map>
#include <mutex>
#include <optional>
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
    std::string key() const { return (tls ? "https://" : "http://") + host + ":" + port; }
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
    if (u.host_type() == boost::urls::host_type::ipv6) t.host = std::string(u.host_ipv6_address().to_string());
    else t.host = std::string(u.encoded_host());
    if (t.host.empty()) return Error(Errc::invalid_input, "the URL has no host");
    t.port = u.has_port() ? std::string(u.port()) : (t.tls ? "443" : "80");
    std::string authority_host = u.host_type() == boost::urls::host_type::ipv6 ? "[" + t.host + "]" : t.host;
    t.host_header = u.has_port() ? authority_host + ":" + t.port : authority_host;
    t.path_and_query = u.encoded_path().empty() ? "/" : std::string(u.encoded_path());
    if (u.has_query()) t.path_and_query += "?" + std::string(u.encoded_query());
    return t;
}

struct Connection {
    std::string key;
    std::optional<beast::tcp_stream> plain;
    std::optional<beast::ssl_stream<beast::tcp_stream>> secure;
    beast::flat_buffer buffer;
    Clock::time_point idle_since;

    beast::tcp_stream& lowest() { return plain ? *plain : beast::get_lowest_layer(*secure); }

    // True when the peer has closed (or sent something unsolicited) while the connection was idle.
    bool stale() {
        auto& sock = lowest().socket();
        if (!sock.is_open()) return true;
        char byte;
        ssize_t n = ::recv(sock.native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
        if (n == 0) return true;
        if (n > 0) return true;  // an idle HTTP connection has nothing to say; don't trust it
        return !(errno == EAGAIN || errno == EWOULDBLOCK);
    }
};

}  // namespace

struct Client::Impl : std::enable_shared_from_this<Client::Impl> {
    asio::io_context& ioc;
    ClientOptions options;
    ssl::context tls_ctx{ssl::context::tls_client};
    mutable std::mutex mutex;
    std::map<std::string, std::vector<std::unique_ptr<Connection>>> idle;

    Impl(asio::io_context& io, ClientOptions opts) : ioc(io), options(std::move(opts)) {
        tls_ctx.set_default_verify_paths();
        if (!options.ca_file.empty()) tls_ctx.load_verify_file(options.ca_file);
        tls_ctx.set_verify_mode(ssl::verify_peer);
        SSL_CTX_set_min_proto_version(tls_ctx.native_handle(), TLS1_2_VERSION);
    }

    std::unique_ptr<Connection> acquire(const std::string& key) {
        std::lock_guard lock(mutex);
        auto it = idle.find(key);
        if (it == idle.end()) return nullptr;
        auto& list = it->second;
        while (!list.empty()) {
            auto c = std::move(list.back());
            list.pop_back();
            if (Clock::now() - c->idle_since < options.idle_timeout && !c->stale()) return c;
        }
        return nullptr;
    }

    void release(std::unique_ptr<Connection> c) {
        c->idle_since = Clock::now();
        std::lock_guard lock(mutex);
        auto& list = idle[c->key];
        if (list.size() < options.max_idle_per_host) list.push_back(std::move(c));
    }

    asio::awaitable<Result<std::unique_ptr<Connection>>> connect(const Target& t, Clock::time_point deadline) {
        auto ex = co_await asio::this_coro::executor;
        auto conn = std::make_unique<Connection>();
        conn->key = t.key();
        error_code ec;
        tcp::resolver resolver(ex);
        auto endpoints = co_await resolver.async_resolve(t.host, t.port, asio::redirect_error(asio::use_awaitable, ec));
        if (ec) co_return Error(Errc::upstream_unavailable, "cannot resolve host '" + t.host + "': " + ec.message());

        auto connect_budget = std::min<Clock::duration>(options.connect_timeout, deadline - Clock::now());
        beast::tcp_stream stream(ex);
        stream.expires_after(connect_budget);
        co_await stream.async_connect(endpoints, asio::redirect_error(asio::use_awaitable, ec));
        if (ec == beast::error::timeout)
            co_return Error(Errc::timeout, "connecting to " + t.host + ":" + t.port + " timed out");
        if (ec) co_return Error(Errc::upstream_unavailable, "cannot connect to " + t.host + ":" + t.port + ": " + ec.message());
        stream.socket().set_option(tcp::no_delay(true), ec);

        if (!t.tls) {
            conn->plain.emplace(std::move(stream));
            co_return conn;
        }
        conn->secure.emplace(std::move(stream), tls_ctx);
        auto& s = *conn->secure;
        error_code ip_ec;
        asio::ip::make_address(t.host, ip_ec);
        if (ip_ec && !SSL_set_tlsext_host_name(s.native_handle(), t.host.c_str()))
            co_return Error(Errc::internal, "cannot set TLS server name");
        s.set_verify_callback(ssl::host_name_verification(t.host));
        beast::get_lowest_layer(s).expires_after(std::min<Clock::duration>(options.connect_timeout, deadline - Clock::now()));
        co_await s.async_handshake(ssl::stream_base::client, asio::redirect_error(asio::use_awaitable, ec));
        if (ec == beast::error::timeout) co_return Error(Errc::timeout, "TLS handshake with " + t.host + " timed out");
        if (ec) {
            std::string why = ec.message();
            long verify = SSL_get_verify_result(s.native_handle());
            if (verify != X509_V_OK) why = X509_verify_cert_error_string(verify);
            co_return Error(Errc::upstream_unavailable, "TLS handshake with " + t.host + " failed: " + why);
        }
        co_return conn;
    }

    template <class Stream>
    asio::awaitable<error_code> write_read(Stream& stream, Connection& conn, bhttp::request<bhttp::string_body>& req,
                                           bhttp::response_parser<bhttp::string_body>& parser) {
        error_code ec;
        co_await bhttp::async_write(stream, req, asio::redirect_error(asio::use_awaitable, ec));
        if (ec) co_return ec;
        co_await bhttp::async_read(stream, conn.buffer, parser, asio::redirect_error(asio::use_awaitable, ec));
        co_return ec;
    }

    asio::awaitable<void> exchange(host::OutboundRequest request, Clock::time_point deadline, Callback done) {
        auto finish = [&](Result<host::OutboundResponse> r) { done(std::move(r)); };
        auto target = parse_target(request.url);
        if (!target) co_return finish(target.error());
        const Target& t = target.value();
        auto verb = bhttp::string_to_verb(request.method);
        if (verb == bhttp::verb::unknown)
            co_return finish(Error(Errc::invalid_input, "unknown HTTP method '" + request.method + "'"));
        auto own_deadline = Clock::now() + request.timeout;
        if (own_deadline < deadline) deadline = own_deadline;

        for (int attempt = 0; attempt < 2; ++attempt) {
            if (Clock::now() >= deadline)
                co_return finish(Error(Errc::timeout, "the request to " + t.host + " ran out of time"));
            bool reused = true;
            auto conn = acquire(t.key());
            if (!conn) {
                reused = false;
                auto fresh = co_await connect(t, deadline);
                if (!fresh) co_return finish(fresh.error());
                conn = std::move(fresh).value();
            }

            bhttp::request<bhttp::string_body> req{verb, t.path_and_query, 11};
            req.set(bhttp::field::host, t.host_header);
            req.set(bhttp::field::user_agent, options.user_agent);
            for (const auto& [k, v] : request.headers) {
                if (beast::iequals(k, "host") || beast::iequals(k, "content-length") || beast::iequals(k, "transfer-encoding") ||
                    beast::iequals(k, "connection"))
                    continue;  // framing is ours to set
                req.insert(k, v);
            }
            req.body() = request.body;
            if (!request.body.empty() || verb == bhttp::verb::post || verb == bhttp::verb::put || verb == bhttp::verb::patch)
                req.prepare_payload();
            req.keep_alive(true);

            bhttp::response_parser<bhttp::string_body> parser;
            parser.body_limit(options.max_response_bytes);
            parser.header_limit(64 * 1024);
            conn->lowest().expires_after(deadline - Clock::now());
            error_code ec = conn->plain ? co_await write_read(*conn->plain, *conn, req, parser)
                                        : co_await write_read(*conn->secure, *conn, req, parser);
            if (ec) {
                bool nothing_back = !parser.got_some();
                if (reused && attempt == 0 && nothing_back && ec != beast::error::timeout) continue;  // stale keep-alive
                if (ec == beast::error::timeout)
                    co_return finish(Error(Errc::timeout, "no complete answer from " + t.host + " before the deadline"));
                if (ec == bhttp::error::body_limit)
                    co_return finish(Error(Errc::upstream_error, "the response from " + t.host + " is larger than " +
                                                                     std::to_string(options.max_response_bytes) + " bytes"));
                co_return finish(Error(Errc::upstream_unavailable, "request to " + t.host + " failed: " + ec.message()));
            }
            auto res = parser.release();
            host::OutboundResponse out;
            out.status = static_cast<int>(res.result_int());
            out.headers.reserve(std::distance(res.begin(), res.end()));
            for (const auto& f : res) out.headers.emplace_back(std::string(f.name_string()), std::string(f.value()));
            out.body = std::move(res.body());
            if (res.keep_alive()) {
                conn->lowest().expires_never();
                release(std::move(conn));
            }
            co_return finish(std::move(out));
        }
        co_return finish(Error(Errc::upstream_unavailable, "the connection to " + t.host + " was closed before an answer"));
    }
};

Client::Client(asio::io_context& ioc, ClientOptions options) : impl_(std::make_shared<Impl>(ioc, std::move(options))) {}

Client::~Client() {
    std::lock_guard lock(impl_->mutex);
    impl_->idle.clear();
}

void Client::async_request(host::OutboundRequest request, Clock::time_point deadline, Callback done) {
    // The callback must run exactly once, even if the exchange throws (bad header bytes, no memory).
    struct Once {
        Callback cb;
        std::atomic<bool> called{false};
        void operator()(Result<host::OutboundResponse> r) {
            if (!called.exchange(true)) cb(std::move(r));
        }
    };
    auto once = std::make_shared<Once>();
    once->cb = std::move(done);
    auto impl = impl_;
    // The coroutine is a member function taking its arguments by value, so they live in its frame
    // (a capturing lambda coroutine would keep them in the lambda object, which does not outlive
    // the first suspension).
    asio::co_spawn(asio::make_strand(impl->ioc),
                   impl->exchange(std::move(request), deadline, [once, impl](Result<host::OutboundResponse> r) { (*once)(std::move(r)); }),
                   [once](std::exception_ptr e) {
                       if (!e) return;
                       std::string why = "the request could not be sent";
                       try {
                           std::rethrow_exception(e);
                       } catch (const std::exception& ex) {
                           why += std::string(": ") + ex.what();
                       } catch (...) {
                       }
                       (*once)(Error(Errc::invalid_input, why));
                   });
}

Result<host::OutboundResponse> Client::perform(const host::OutboundRequest& request, Clock::time_point deadline) {
    if (Clock::now() >= deadline) return Error(Errc::timeout, "the call's deadline has passed");
    std::promise<Result<host::OutboundResponse>> promise;
    auto future = promise.get_future();
    async_request(request, deadline, [&promise](Result<host::OutboundResponse> r) { promise.set_value(std::move(r)); });
    return future.get();
}

size_t Client::idle_connections() const {
    std::lock_guard lock(impl_->mutex);
    size_t n = 0;
    for (const auto& [k, v] : impl_->idle) n += v.size();
    return n;
}

}  // namespace patchbay::http
