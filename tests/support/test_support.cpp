#include "test_support.hpp"

#include "common/log.hpp"
#include "http/client.hpp"

#include <boost/json.hpp>

#include <arpa/inet.h>
#include <csignal>
#include <cstdlib>
#include <fcntl.h>
#include <fstream>
#include <netinet/in.h>
#include <poll.h>
#include <spawn.h>
#include <sstream>
#include <stdexcept>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

extern char** environ;

namespace testing {

std::string fixture_library(const std::string& name) { return std::string(PATCHBAY_FIXTURE_DIR) + "/libfixture-" + name + ".so"; }
fs::path staged_manifests() { return PATCHBAY_STAGED_MANIFESTS; }
std::string patchbay_bin() { return PATCHBAY_BIN; }

TempDir::TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "patchbay-test-XXXXXX").string();
    if (!mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed");
    path_ = tmpl;
}

TempDir::~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
}

void write_file(const fs::path& p, const std::string& text) {
    fs::create_directories(p.parent_path());
    // Write then rename, as an admin's deployment tool would, so readers never see half a file.
    fs::path tmp = p.parent_path() / ("." + p.filename().string() + ".tmp");
    {
        std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
        out << text;
    }
    fs::rename(tmp, p);
}

std::string read_file(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    std::ostringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

std::string testkit_manifest(const std::string& name, const std::string& label, const std::string& extra_actions,
                             const std::string& sleep_timeout, const std::string& library) {
    return "apiVersion: patchbay/v1\n"
           "name: " + name + "\n"
           "version: 1.0.0\n"
           "title: Test kit\n"
           "library: " + fixture_library(library) + "\n"
           "config:\n  label: " + label + "\n"
           "organizations: true\n"
           "actions:\n"
           "  - name: echo\n    title: Echo\n"
           "    input:\n      type: object\n      properties:\n        n: {type: integer, minimum: 0}\n"
           "  - name: sleep\n    title: Sleep\n    timeout: " + sleep_timeout + "\n"
           "    input: {type: object, required: [ms], properties: {ms: {type: integer}}}\n"
           "  - name: fail\n    title: Fail\n"
           "  - name: fetch\n    title: Fetch\n    timeout: " + sleep_timeout + "\n    input: {type: object, required: [url]}\n"
           "  - name: deadline\n    title: Deadline\n    timeout: 5s\n"
           "  - name: throws\n    title: Throws\n" + extra_actions;
}

TestPki::TestPki() {
    auto path = [&](const char* name) { return (dir / name).string(); };
    auto must = [](const RunResult& r) {
        if (r.exit_code != 0) throw std::runtime_error("openssl failed: " + r.err);
    };
    const std::vector<std::string> ec_key = {"-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"};
    auto with = [](std::vector<std::string> a, const std::vector<std::string>& b) {
        a.insert(a.end(), b.begin(), b.end());
        return a;
    };
    ca = path("ca.pem");
    must(run(with({"/usr/bin/openssl", "req", "-x509"}, with(ec_key, {"-keyout", path("ca.key"), "-out", ca, "-days", "2",
                                                                    "-subj", "/CN=Patchbay Test CA"}))));
    auto issue = [&](const std::string& name, const std::string& san, std::string& cert, std::string& key, const char* days = "1") {
        key = path((name + ".key").c_str());
        cert = path((name + ".pem").c_str());
        std::string csr = path((name + ".csr").c_str()), ext = path((name + ".ext").c_str());
        write_file(ext, "subjectAltName=" + san + "\n");
        must(run(with({"/usr/bin/openssl", "req"}, with(ec_key, {"-keyout", key, "-out", csr, "-subj", "/CN=" + name}))));
        must(run({"/usr/bin/openssl", "x509", "-req", "-in", csr, "-CA", ca, "-CAkey", path("ca.key"), "-CAcreateserial",
                  "-out", cert, "-days", days, "-extfile", ext}));
    };
    issue("server", "DNS:localhost,IP:127.0.0.1", server_cert, server_key);
    issue("wrong", "DNS:wrong.example", wrong_host_cert, wrong_host_key);
    issue("expired", "IP:127.0.0.1", expired_cert, expired_key, "-1");
    self_signed_cert = path("self.pem");
    self_signed_key = path("self.key");
    must(run(with({"/usr/bin/openssl", "req", "-x509"}, with(ec_key, {"-keyout", self_signed_key, "-out", self_signed_cert, "-days", "1",
                                                                    "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"}))));
}

namespace {

std::vector<char*> c_argv(const std::vector<std::string>& argv) {
    std::vector<char*> out;
    for (const auto& a : argv) out.push_back(const_cast<char*>(a.c_str()));
    out.push_back(nullptr);
    return out;
}

int wait_exit(pid_t pid, std::chrono::milliseconds limit) {
    auto until = std::chrono::steady_clock::now() + limit;
    int status = 0;
    while (true) {
        pid_t r = ::waitpid(pid, &status, WNOHANG);
        if (r == pid) break;
        if (std::chrono::steady_clock::now() >= until) {
            ::kill(pid, SIGKILL);
            ::waitpid(pid, &status, 0);
            return -9;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    if (WIFEXITED(status)) return WEXITSTATUS(status);
    if (WIFSIGNALED(status)) return -WTERMSIG(status);
    return -1;
}

}  // namespace

RunResult run(const std::vector<std::string>& argv, const std::string& stdin_text, std::chrono::milliseconds limit) {
    TempDir dir;
    fs::path in = dir / "stdin", out = dir / "stdout", err = dir / "stderr";
    write_file(in, stdin_text);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, in.c_str(), O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 1, out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_addopen(&fa, 2, err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    pid_t pid;
    auto args = c_argv(argv);
    int rc = posix_spawn(&pid, args[0], &fa, nullptr, args.data(), environ);
    posix_spawn_file_actions_destroy(&fa);
    if (rc != 0) throw std::runtime_error("cannot start " + argv[0]);
    RunResult r;
    r.exit_code = wait_exit(pid, limit);
    r.out = read_file(out);
    r.err = read_file(err);
    return r;
}

// Starts argv[0] (looked up in PATH) with stdout to `out` and stderr to `err`, and waits until a
// line containing `marker` is complete in `out` (or `limit` passes). Output goes to files, not
// pipes, so a chatty child never blocks on (or dies of) a pipe nobody reads. Throws when it
// cannot start.
pid_t spawn_until(const std::vector<std::string>& argv, const fs::path& out, const fs::path& err, const std::string& marker,
                  std::string& seen, std::chrono::seconds limit = std::chrono::seconds(30)) {
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_addopen(&fa, 2, err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    auto args = c_argv(argv);
    pid_t pid = -1;
    int rc = posix_spawnp(&pid, args[0], &fa, nullptr, args.data(), environ);
    posix_spawn_file_actions_destroy(&fa);
    if (rc != 0) throw std::runtime_error("cannot start " + argv[0]);
    auto until = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < until) {
        seen = fs::exists(out) ? read_file(out) : std::string();
        auto at = seen.find(marker);
        if (at != std::string::npos && seen.find('\n', at) != std::string::npos) break;
        int status = 0;
        if (::waitpid(pid, &status, WNOHANG) == pid) break;  // it exited: no point waiting
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return pid;
}

Served::Served(const fs::path& manifests, std::vector<std::string> extra) {
    std::vector<std::string> argv = {patchbay_bin(), "serve", "--manifests", manifests.string(), "--data", (dir_ / "data").string(),
                                     "--listen", "127.0.0.1:0", "--poll-ms", "100"};
    // The tests' upstreams listen on loopback, which the egress guard refuses unless allowed.
    if (std::find(extra.begin(), extra.end(), "--no-test-egress-allow") == extra.end()) argv.insert(argv.end(), {"--egress-allow", "127.0.0.1"});
    else std::erase(extra, std::string("--no-test-egress-allow"));
    argv.insert(argv.end(), extra.begin(), extra.end());
    std::string seen;
    pid_ = spawn_until(argv, dir_ / "stdout", dir_ / "stderr", "listening on http://127.0.0.1:", seen);
    stdout_ = seen;
    if (auto at = seen.find("listening on http://127.0.0.1:"); at != std::string::npos) port_ = static_cast<unsigned short>(std::stoi(seen.substr(at + 30)));
    if (port_ == 0) {
        terminate(std::chrono::seconds(5));
        throw std::runtime_error("patchbay serve did not start: " + seen + " / " + stderr_text());
    }
    if (fs::exists(dir_ / "data" / "bootstrap-token")) {
        admin_token_ = read_file(dir_ / "data" / "bootstrap-token");
        while (!admin_token_.empty() && admin_token_.back() == '\n') admin_token_.pop_back();
    }
}

Response Served::call(const std::string& method, const std::string& path, const std::string& body) const {
    return call_as(admin_token_, method, path, body);
}

Response Served::call_as(const std::string& token, const std::string& method, const std::string& path, const std::string& body) const {
    return http(method, url() + path, body, {{"Authorization", "Bearer " + token}});
}

void Served::install(const std::vector<std::string>& integrations) const {
    for (const auto& name : integrations) {
        auto r = call("POST", "/v1/installations", "{\"integration\": \"" + name + "\"}");
        if (r.status != 201 && r.status != 200) throw std::runtime_error("cannot install " + name + ": " + r.body);
    }
}

Served::~Served() {
    if (pid_ > 0) terminate(std::chrono::seconds(10));
}

int Served::terminate(std::chrono::milliseconds limit) {
    if (pid_ <= 0) return -1;
    ::kill(pid_, SIGTERM);
    int code = wait_exit(pid_, limit);
    pid_ = -1;
    return code;
}

std::string Served::stderr_text() const { return read_file(dir_ / "stderr"); }

std::string Served::stdout_text() const { return fs::exists(dir_ / "stdout") ? read_file(dir_ / "stdout") : stdout_; }

namespace {

unsigned short free_port() {
    // Bound and released at once; Prism takes no port 0, so this is the best it can get.
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
    socklen_t len = sizeof a;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
    ::close(fd);
    return ntohs(a.sin_port);
}

}  // namespace

Prism::Prism(const fs::path& spec) {
    std::string seen;
    for (int attempt = 0; attempt < 3 && port_ == 0; ++attempt) {
        unsigned short port = free_port();
        pid_ = spawn_until({"node", std::string(PATCHBAY_SOURCE_DIR) + "/node_modules/@stoplight/prism-cli/dist/index.js", "mock", spec.string(),
                            "-h", "127.0.0.1", "-p", std::to_string(port), "--errors"},
                           dir_ / "stdout", dir_ / "stderr", "Prism is listening", seen, std::chrono::seconds(120));
        if (seen.find("Prism is listening") != std::string::npos) {
            port_ = port;
            break;
        }
        ::kill(pid_, SIGKILL);
        wait_exit(pid_, std::chrono::seconds(5));
        pid_ = -1;
    }
    if (port_ == 0)
        throw std::runtime_error("Prism did not start (run scripts/setup for its npm packages): " + seen + read_file(dir_ / "stderr"));
}

Prism::~Prism() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGTERM);
    wait_exit(pid_, std::chrono::seconds(10));
}

std::string Prism::log() const { return read_file(dir_ / "stdout"); }

boost::json::value Response::json() const { return boost::json::parse(body); }

std::string Response::error_code() const {
    boost::system::error_code ec;
    auto v = boost::json::parse(body, ec);
    if (ec || !v.is_object()) return "";
    const auto* e = v.as_object().if_contains("error");
    const auto* c = e && e->is_object() ? e->as_object().if_contains("code") : nullptr;
    return c && c->is_string() ? std::string(c->as_string()) : "";
}

OAuthProvider::OAuthProvider() {
    std::string seen;
    pid_ = spawn_until({"node", std::string(PATCHBAY_SOURCE_DIR) + "/tests/oauth/provider.mjs"}, dir_ / "stdout", dir_ / "stderr",
                       "listening ", seen);
    if (auto at = seen.find("listening "); at != std::string::npos) port_ = static_cast<unsigned short>(std::stoi(seen.substr(at + 10)));
    if (port_ == 0) {
        if (pid_ > 0) {
            ::kill(pid_, SIGKILL);
            wait_exit(pid_, std::chrono::seconds(5));
        }
        throw std::runtime_error("the OAuth2 test provider did not start (run scripts/setup for its npm packages): " + read_file(dir_ / "stderr"));
    }
}

OAuthProvider::~OAuthProvider() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGTERM);
    wait_exit(pid_, std::chrono::seconds(10));
}

void OAuthProvider::configure(const std::string& json_text) const {
    auto r = http("POST", url("/_test/config"), json_text, {{"Content-Type", "application/json"}});
    if (r.status != 200) throw std::runtime_error("provider configuration failed: " + r.body);
}

boost::json::value OAuthProvider::stats() const { return http("GET", url("/_test/stats")).json(); }

int OAuthProvider::grants(const std::string& type) const {
    auto s = stats();
    const auto* g = s.at("grants").as_object().if_contains(type);
    return g ? static_cast<int>(g->to_number<int64_t>()) : 0;
}

namespace {
struct ClientHolder {
    patchbay::http::Client client;
};
ClientHolder& holder() {
    static ClientHolder h;
    return h;
}
}  // namespace

Response http(const std::string& method, const std::string& url, const std::string& body,
              const std::vector<std::pair<std::string, std::string>>& headers) {
    patchbay::host::OutboundRequest req;
    req.method = method;
    req.url = url;
    req.body = body;
    req.headers = headers;
    req.timeout = std::chrono::seconds(60);
    auto r = holder().client.perform(req, std::chrono::steady_clock::now() + req.timeout);
    if (!r) throw std::runtime_error("HTTP " + method + " " + url + " failed: " + r.error().message);
    Response out;
    out.status = r->status;
    for (auto& [k, v] : r->headers) {
        std::string lower = k;
        for (auto& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        out.headers[lower] = v;
    }
    out.body = r->body;
    return out;
}

std::string raw_exchange(unsigned short port, const std::string& bytes, std::chrono::milliseconds limit) {
    RawConnection c(port);
    if (!c.connected()) return {};
    c.send(bytes);  // stops early if the server answers and closes before reading everything (413)
    c.closed_by_peer(limit);
    return c.received();
}

void RawConnection::end_sending() {
    if (fd_ >= 0) ::shutdown(fd_, SHUT_WR);
}

RawConnection::RawConnection(unsigned short port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd_ >= 0 && ::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
        ::close(fd_);
        fd_ = -1;
    }
}

RawConnection::~RawConnection() {
    if (fd_ >= 0) ::close(fd_);
}

void RawConnection::send(const std::string& bytes) {
    size_t sent = 0;
    while (fd_ >= 0 && sent < bytes.size()) {
        ssize_t n = ::send(fd_, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
        if (n <= 0) break;
        sent += static_cast<size_t>(n);
    }
}

std::string RawConnection::read_until(const std::string& marker, std::chrono::milliseconds limit) {
    auto until = std::chrono::steady_clock::now() + limit;
    while (fd_ >= 0 && received_.find(marker) == std::string::npos && std::chrono::steady_clock::now() < until) {
        pollfd p{fd_, POLLIN, 0};
        if (::poll(&p, 1, 50) <= 0) continue;
        char buf[4096];
        ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
        if (n <= 0) break;
        received_.append(buf, static_cast<size_t>(n));
    }
    return received_;
}

bool RawConnection::closed_by_peer(std::chrono::milliseconds limit) {
    auto until = std::chrono::steady_clock::now() + limit;
    while (fd_ >= 0 && std::chrono::steady_clock::now() < until) {
        pollfd p{fd_, POLLIN, 0};
        if (::poll(&p, 1, 50) <= 0) continue;
        char buf[4096];
        ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
        if (n <= 0) return true;
        received_.append(buf, static_cast<size_t>(n));
    }
    return false;
}

}  // namespace testing

namespace {
// In-process components log to stderr; keep the test output readable unless asked otherwise
// (PATCHBAY_TEST_LOG=debug|info|warn|error).
const bool quiet_logs = [] {
    const char* level = std::getenv("PATCHBAY_TEST_LOG");
    auto parsed = patchbay::log::parse_level(level ? level : "off");
    patchbay::log::set_level(parsed.value_or(patchbay::log::Level::off));
    return true;
}();
}  // namespace
