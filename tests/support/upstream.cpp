#include "upstream.hpp"

#include "common/crypto.hpp"

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/json.hpp>

#include <boost/url.hpp>

#include <condition_variable>
#include <map>
#include <mutex>
#include <thread>
#include <vector>

namespace testing {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = asio::ip::tcp;

namespace {
// Whether `s` is well-formed UTF-8 (what a JSON string may hold).
bool utf8(std::string_view s) {
    for (size_t i = 0; i < s.size();) {
        auto c = static_cast<unsigned char>(s[i]);
        size_t n = c < 0x80 ? 0 : (c >> 5) == 0x6 ? 1 : (c >> 4) == 0xE ? 2 : (c >> 3) == 0x1E ? 3 : 9;
        if (n == 9 || i + n >= s.size() + (n ? 0 : 1)) return false;
        for (size_t k = 1; k <= n; ++k)
            if ((static_cast<unsigned char>(s[i + k]) >> 6) != 0x2) return false;
        i += n + 1;
    }
    return true;
}
}  // namespace

struct Upstream::Impl {
    asio::io_context ioc;
    tcp::acceptor acceptor{ioc, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)};
    std::atomic<bool> stopping{false};
    std::atomic<int> accepted{0};
    std::atomic<int> handled{0};
    std::atomic<int> in_progress{0};
    std::atomic<int> peak{0};
    std::mutex mutex;
    std::vector<std::shared_ptr<tcp::socket>> sockets;
    std::vector<std::thread> threads;
    std::thread accept_thread;
    std::unique_ptr<asio::ssl::context> tls;
    mutable std::mutex mu;
    std::string expected_credential;
    std::map<std::string, int> hits;
    int feed_size = 0;
    bool sink_failing = false;
    std::vector<Upstream::Sunk> sunk;
    bool feed_failing = false;
    std::vector<std::pair<std::string, std::string>> companies;  // (id, name)
    int companies_fail_after = -1;                              // pages served before 503s; -1 = never
    std::vector<std::vector<std::pair<std::string, std::string>>> seen;
    std::condition_variable hold_cv;
    bool released = false;
    int holding = 0;

    std::string param(const std::string& target, const std::string& name) {
        auto u = boost::urls::parse_origin_form(target);
        if (!u) return {};
        auto it = u->params().find(name);
        if (it == u->params().end()) return {};
        return std::string((*it).value);
    }

    void serve(std::shared_ptr<tcp::socket> socket) {
        if (!tls) return exchange(*socket);
        asio::ssl::stream<tcp::socket&> stream(*socket, *tls);
        beast::error_code ec;
        stream.handshake(asio::ssl::stream_base::server, ec);
        if (!ec) exchange(stream);
        socket->shutdown(tcp::socket::shutdown_both, ec);
    }

    template <class Stream>
    void exchange(Stream& socket) {
        beast::flat_buffer buffer;
        for (;;) {
            bhttp::request<bhttp::string_body> req;
            beast::error_code ec;
            bhttp::read(socket, buffer, req, ec);
            if (ec) break;
            ++handled;
            int now = ++in_progress;
            for (int seen = peak.load(); now > seen && !peak.compare_exchange_weak(seen, now);) {
            }
            std::string target(req.target());
            std::string path = target.substr(0, target.find('?'));
            {
                std::vector<std::pair<std::string, std::string>> hs;
                for (const auto& f : req) {
                    std::string name(f.name_string());
                    for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
                    hs.emplace_back(name, std::string(f.value()));
                }
                std::lock_guard lock(mu);
                seen.push_back(std::move(hs));
            }
            bhttp::response<bhttp::string_body> res{bhttp::status::ok, req.version()};
            res.set(bhttp::field::content_type, "application/json");
            bool close = !req.keep_alive();
            if (path == "/json" || path == "/close") {
                res.body() = R"({"hello":"world"})";
                if (path == "/close") close = true;
            } else if (path == "/verbatim") {
                // JSON as a server may write it: spaces, a number wider than a double, a
                // repeated header, and a header value in Latin-1.
                res.set(bhttp::field::content_type, "application/json; charset=utf-8");
                res.insert("X-Multi", "a");
                res.insert("X-Multi", "b");
                res.set("X-Latin", "caf\xe9");
                res.body() = "{ \"id\": 123456789012345678901234567890, \"price\": 1.50 }\n";
            } else if (path == "/mixed") {
                // The common shape of answer (read without Beast's parser), with a repeated
                // header and a long name in mixed case.
                res.insert("X-Multi", "a");
                res.insert("X-Multi", "b");
                res.set("X-Patchbay-Long-Header-NAME", "v");
                res.body() = R"({"mixed":true})";
            } else if (path == "/chunked") {
                res.body() = R"({"chunked":true})";
            } else if (path == "/bytes") {
                res.set(bhttp::field::content_type, "application/octet-stream");
                res.body() = std::string("\xff\xfe\x00\x01", 4);
                if (auto st = param(target, "status"); !st.empty()) res.result(static_cast<unsigned>(std::stoi(st)));
            } else if (path == "/notjson") {
                res.body() = "{\"cut\": short";  // says JSON, is not
            } else if (path == "/deep") {
                auto levels = static_cast<size_t>(std::stoi(param(target, "levels")));
                res.body() = std::string(levels, '[') + std::string(levels, ']');
            } else if (path == "/text") {
                res.set(bhttp::field::content_type, "text/plain; charset=utf-8");
                res.body() = "plain text";
            } else if (path == "/echo" || (path.size() > 5 && path.compare(path.size() - 5, 5, "/echo") == 0) || path.rfind("/any/", 0) == 0) {
                boost::json::object headers;
                for (const auto& f : req) {
                    std::string name(f.name_string());
                    for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
                    headers[name] = std::string(f.value());
                }
                // Bytes that are not UTF-8 (file uploads) only in body_base64.
                boost::json::object echo{{"method", std::string(req.method_string())}, {"target", target}, {"headers", headers},
                                         {"body", utf8(req.body()) ? req.body() : std::string()},
                                         {"body_base64", patchbay::crypto::base64(req.body())}};
                res.body() = boost::json::serialize(echo);
            } else if (path.rfind("/protected", 0) == 0) {
                // Accepts only the credential the test expects, in Authorization, X-API-Key or the
                // api_key query parameter, and never echoes what it received.
                std::string expected;
                {
                    std::lock_guard lock(mu);
                    expected = expected_credential;
                }
                auto q = target.find("api_key=");
                std::string in_query = q == std::string::npos ? "" : target.substr(q + 8, target.find('&', q) - (q + 8));
                bool ok = !expected.empty() && (req[bhttp::field::authorization] == expected || req["X-API-Key"] == expected || in_query == expected);
                if (!ok) res.result(bhttp::status::unauthorized);
                res.body() = ok ? R"({"authorized":true})" : R"({"authorized":false})";
            } else if (path == "/slow") {
                auto at = target.find("ms=");
                int ms = at == std::string::npos ? 100 : std::stoi(target.substr(at + 3));
                std::this_thread::sleep_for(std::chrono::milliseconds(ms));
                res.body() = R"({"hello":"slow"})";
            } else if (path.rfind("/status/", 0) == 0) {
                int code = std::stoi(path.substr(8));
                res.result(static_cast<unsigned>(code));
                res.body() = "{\"status\":" + std::to_string(code) + "}";
                if (auto ra = param(target, "retry_after"); !ra.empty()) res.set(bhttp::field::retry_after, ra);
            } else if (path == "/flaky") {
                std::string key = param(target, "key");
                int fails = std::stoi(param(target, "fails").empty() ? "0" : param(target, "fails"));
                int n;
                {
                    std::lock_guard lock(mu);
                    n = ++hits[key];
                }
                if (n <= fails) {
                    res.result(static_cast<unsigned>(std::stoi(param(target, "status").empty() ? "503" : param(target, "status"))));
                    if (auto ra = param(target, "retry_after"); !ra.empty()) res.set(bhttp::field::retry_after, ra);
                }
                res.body() = "{\"attempt\":" + std::to_string(n) + "}";
            } else if (path == "/redirect") {
                std::string code = param(target, "status");
                res.result(static_cast<unsigned>(code.empty() ? 302 : std::stoi(code)));
                res.set(bhttp::field::location, param(target, "to"));
                res.body() = "{}";
            } else if (path == "/hold") {
                std::unique_lock lock(mu);
                ++holding;
                hold_cv.wait(lock, [this] { return released || stopping.load(); });
                --holding;
                res.body() = R"({"hello":"held"})";
            } else if (path == "/sink") {
                // A test engine: keeps what is posted (while set to fail, answers 500 instead).
                std::lock_guard lock(mu);
                if (sink_failing) {
                    res.result(bhttp::status::internal_server_error);
                    res.body() = R"({"error":"engine down"})";
                } else {
                    std::vector<std::pair<std::string, std::string>> hs;
                    for (const auto& f : req) hs.emplace_back(std::string(f.name_string()), std::string(f.value()));
                    sunk.push_back({req.body(), std::move(hs)});
                    res.body() = "{}";
                }
            } else if (path == "/companies") {
                // set_companies(): {"data": [{"id", "name"}], "meta": {"next": cursor or null}}, per_page at a time.
                std::lock_guard lock(mu);
                int page_no = hits["companies"]++;
                if (companies_fail_after >= 0 && page_no >= companies_fail_after) {
                    res.result(bhttp::status::service_unavailable);
                    res.body() = R"({"error":"companies down"})";
                } else {
                    size_t from = param(target, "cursor").empty() ? 0 : std::stoul(param(target, "cursor"));
                    size_t size = param(target, "per_page").empty() ? 10 : std::stoul(param(target, "per_page"));
                    boost::json::array items;
                    for (size_t i = from; i < std::min(companies.size(), from + size); ++i)
                    {
                        boost::json::object item{{"id", companies[i].first}, {"name", companies[i].second}};
                        if (i == 0) item["website"] = "acme-holdings.com";  // some tools keep the company's domain
                        items.push_back(std::move(item));
                    }
                    bool more = from + size < companies.size();
                    res.body() = boost::json::serialize(boost::json::object{
                        {"data", items}, {"meta", boost::json::object{{"next", more ? boost::json::value(std::to_string(from + size)) : nullptr}}}});
                }
            } else if (path == "/feed") {
                // A list that grows (set_feed): items with ids after ?after=N, oldest first.
                std::lock_guard lock(mu);
                ++hits["feed"];
                if (feed_failing) {
                    res.result(bhttp::status::service_unavailable);
                    res.body() = R"({"error":"feed down"})";
                } else {
                    int after = param(target, "after").empty() ? 0 : std::stoi(param(target, "after"));
                    boost::json::array items;
                    for (int k = after + 1; k <= feed_size; ++k) items.push_back(boost::json::object{{"id", k}, {"name", "item " + std::to_string(k)}});
                    res.body() = boost::json::serialize(boost::json::object{{"items", items}});
                }
            } else if (path.rfind("/paged", 0) == 0) {
                // TOTAL items {"id", "name"} served K at a time, in the paging style asked for.
                std::string style = param(target, "style");
                int total = std::stoi(param(target, "total").empty() ? "25" : param(target, "total"));
                auto num = [&](const std::string& k, int fallback) { auto v = param(target, k); return v.empty() ? fallback : std::stoi(v); };
                int size = num(style == "offset" ? "limit" : "per_page", 10), from = 0;
                if (style == "cursor") from = num("cursor", 0);
                else if (style == "offset") from = num("offset", 0);
                else from = (num("page", 1) - 1) * size;
                boost::json::array items;
                for (int i = from; i < std::min(total, from + size); ++i)
                    items.push_back(boost::json::object{{"id", i}, {"name", "Org " + std::to_string(i)}});
                bool more = from + size < total;
                if (style == "cursor") {
                    res.body() = boost::json::serialize(boost::json::object{
                        {"data", items}, {"meta", boost::json::object{{"next", more ? boost::json::value(std::to_string(from + size)) : nullptr}}}});
                } else if (style == "offset") {
                    res.body() = boost::json::serialize(boost::json::object{{"items", items}});
                } else {
                    if (style == "link" && more)
                        res.set(bhttp::field::link, "</paged?style=link&total=" + std::to_string(total) + "&per_page=" + std::to_string(size) +
                                                        "&page=" + std::to_string(num("page", 1) + 1) + ">; rel=\"next\", </paged>; rel=\"first\"");
                    res.body() = boost::json::serialize(items);
                }
            } else if (path == "/big") {
                res.body() = std::string(static_cast<size_t>(std::stoll(param(target, "bytes"))), 'x');
            } else {
                res.result(bhttp::status::not_found);
                res.body() = R"({"error":"no such route"})";
            }
            --in_progress;
            res.keep_alive(!close);
            res.prepare_payload();
            if (path == "/chunked") res.chunked(true);
            if (req.method() == bhttp::verb::head) {
                // As servers do: the length the GET would have, and no body.
                bhttp::response<bhttp::empty_body> head{res.result(), res.version()};
                for (const auto& f : res) head.set(f.name_string(), f.value());
                bhttp::write(socket, head, ec);
            } else {
                bhttp::write(socket, res, ec);
            }
            if (ec || close) break;
        }
        beast::error_code ec;
        beast::get_lowest_layer(socket).shutdown(tcp::socket::shutdown_both, ec);
    }
};

void Upstream::expect_credential(const std::string& value) {
    std::lock_guard lock(impl_->mu);
    impl_->expected_credential = value;
}

int Upstream::hits(const std::string& key) const {
    std::lock_guard lock(impl_->mu);
    auto it = impl_->hits.find(key);
    return it == impl_->hits.end() ? 0 : it->second;
}

void Upstream::set_sink_failing(bool failing) {
    std::lock_guard lock(impl_->mu);
    impl_->sink_failing = failing;
}

std::vector<Upstream::Sunk> Upstream::sunk() const {
    std::lock_guard lock(impl_->mu);
    return impl_->sunk;
}

void Upstream::set_companies(std::vector<std::pair<std::string, std::string>> companies, int fail_after_pages) {
    std::lock_guard lock(impl_->mu);
    impl_->companies = std::move(companies);
    impl_->companies_fail_after = fail_after_pages;
    impl_->hits["companies"] = 0;
}

void Upstream::set_feed(int size, bool failing) {
    std::lock_guard lock(impl_->mu);
    impl_->feed_size = size;
    impl_->feed_failing = failing;
}

int Upstream::held() const {
    std::lock_guard lock(impl_->mu);
    return impl_->holding;
}

void Upstream::release() {
    {
        std::lock_guard lock(impl_->mu);
        impl_->released = true;
    }
    impl_->hold_cv.notify_all();
}

std::vector<std::vector<std::pair<std::string, std::string>>> Upstream::seen_headers() const {
    std::lock_guard lock(impl_->mu);
    return impl_->seen;
}

Upstream::Upstream(TlsFiles files) : impl_(std::make_unique<Impl>()), tls_(true) {
    impl_->tls = std::make_unique<asio::ssl::context>(asio::ssl::context::tls_server);
    impl_->tls->use_certificate_chain_file(files.certificate_chain);
    impl_->tls->use_private_key_file(files.private_key, asio::ssl::context::pem);
    start();
}

Upstream::Upstream() : impl_(std::make_unique<Impl>()) { start(); }

void Upstream::start() {
    impl_->accept_thread = std::thread([impl = impl_.get()] {
        for (;;) {
            auto socket = std::make_shared<tcp::socket>(impl->ioc);
            beast::error_code ec;
            impl->acceptor.accept(*socket, ec);
            if (impl->stopping) break;
            if (ec) continue;
            ++impl->accepted;
            std::lock_guard lock(impl->mutex);
            impl->sockets.push_back(socket);
            impl->threads.emplace_back([impl, socket] { impl->serve(socket); });
        }
    });
}

Upstream::~Upstream() {
    impl_->stopping = true;
    release();
    {
        // Wake the blocking accept with a connection of our own.
        tcp::socket poke(impl_->ioc);
        beast::error_code ec;
        poke.connect(impl_->acceptor.local_endpoint(), ec);
    }
    impl_->accept_thread.join();
    std::lock_guard lock(impl_->mutex);
    for (auto& s : impl_->sockets) {
        beast::error_code ec;
        s->shutdown(tcp::socket::shutdown_both, ec);
    }
    for (auto& t : impl_->threads) t.join();
}

unsigned short Upstream::port() const { return impl_->acceptor.local_endpoint().port(); }
int Upstream::connections() const { return impl_->accepted.load(); }
int Upstream::requests() const { return impl_->handled.load(); }
int Upstream::max_concurrent() const { return impl_->peak.load(); }

}  // namespace testing
