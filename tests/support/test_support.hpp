// Shared helpers for the suites: temporary folders, child processes stopped by pid, a small HTTP
// client for talking to a served runtime, and paths to the built fixtures.
#pragma once

#include "loader/host.hpp"

#include <boost/json/value.hpp>

#include <chrono>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <sys/types.h>
#include <thread>
#include <vector>

namespace testing {

namespace fs = std::filesystem;

std::string fixture_library(const std::string& name);  // absolute path of libfixture-NAME.so
fs::path staged_manifests();                           // build/manifests (stock plugins)
std::string patchbay_bin();

class TempDir {
public:
    TempDir();
    ~TempDir();
    const fs::path& path() const { return path_; }
    fs::path operator/(const std::string& p) const { return path_ / p; }

private:
    fs::path path_;
};

void write_file(const fs::path& p, const std::string& text);
std::string read_file(const fs::path& p);

// A manifest for the testkit fixture, with actions echo/sleep/fail/fetch/deadline/throws.
std::string testkit_manifest(const std::string& name, const std::string& label, const std::string& extra_actions = "",
                             const std::string& sleep_timeout = "30s", const std::string& library = "testkit");

// A certificate authority and server certificates made for one test with the openssl command.
struct TestPki {
    TempDir dir;
    std::string ca;           // the test CA's certificate (PEM)
    std::string server_cert;  // for localhost and 127.0.0.1, signed by the CA
    std::string server_key;
    std::string wrong_host_cert;  // for wrong.example only, signed by the CA
    std::string wrong_host_key;
    std::string expired_cert;  // for 127.0.0.1, signed by the CA, expired yesterday
    std::string expired_key;
    std::string self_signed_cert;  // for 127.0.0.1, signed by itself
    std::string self_signed_key;
    TestPki();
};

struct RunResult {
    int exit_code = -1;
    std::string out;
    std::string err;
};
// Runs a command to completion (bounded by `limit`, then killed) and captures its output.
RunResult run(const std::vector<std::string>& argv, const std::string& stdin_text = "",
              std::chrono::milliseconds limit = std::chrono::seconds(60));

// A running `patchbay serve`, stopped by pid (SIGTERM, then SIGKILL) when destroyed.
class Served {
public:
    Served(const fs::path& manifests, std::vector<std::string> extra = {});
    ~Served();
    unsigned short port() const { return port_; }
    std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
    pid_t pid() const { return pid_; }
    // Sends SIGTERM and waits for the exit status (bounded).
    int terminate(std::chrono::milliseconds limit = std::chrono::seconds(30));
    std::string stderr_text() const;
    std::string stdout_text() const;
    fs::path data_dir() const { return dir_ / "data"; }
    // The bootstrap admin's API token (team "default"), read from DATA/bootstrap-token.
    const std::string& admin_token() const { return admin_token_; }
    // A request to this server as the bootstrap admin (or with `token`).
    struct Response call(const std::string& method, const std::string& path, const std::string& body = "") const;
    struct Response call_as(const std::string& token, const std::string& method, const std::string& path, const std::string& body = "") const;
    // Installs integrations for the bootstrap team (throws if that fails).
    void install(const std::vector<std::string>& integrations) const;

private:
    pid_t pid_ = -1;
    unsigned short port_ = 0;
    TempDir dir_;
    std::string admin_token_;
    std::string stdout_;
};

// A real OAuth2 provider (oauth2-mock-server, tests/oauth/provider.mjs) on 127.0.0.1 and an
// ephemeral port, stopped by pid. See provider.mjs for its test endpoints.
class OAuthProvider {
public:
    OAuthProvider();
    ~OAuthProvider();
    std::string url(const std::string& path) const { return "http://127.0.0.1:" + std::to_string(port_) + path; }
    void configure(const std::string& json_text) const;  // POST /_test/config
    boost::json::value stats() const;
    int grants(const std::string& grant_type) const;  // token requests of that grant so far

private:
    TempDir dir_;
    pid_t pid_ = -1;
    unsigned short port_ = 0;
};

// Prism (@stoplight/prism-cli) mocking `spec` on 127.0.0.1 with request validation errors on:
// a request that does not match the spec is answered 422 with what was wrong. Stopped by pid.
class Prism {
public:
    explicit Prism(const fs::path& spec);
    ~Prism();
    std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
    std::string log() const;  // what Prism printed: one line per request it saw

private:
    TempDir dir_;
    pid_t pid_ = -1;
    unsigned short port_ = 0;
};

struct Response {
    int status = 0;
    std::map<std::string, std::string> headers;  // lower-case names
    std::string body;
    boost::json::value json() const;
    std::string error_code() const;  // the API error's code, or "" when the body carries none
};

// One HTTP client (pooled keep-alive) for the test process.
Response http(const std::string& method, const std::string& url, const std::string& body = "",
              const std::vector<std::pair<std::string, std::string>>& headers = {});

// Sends raw bytes on a fresh connection and returns everything read until the peer closes.
std::string raw_exchange(unsigned short port, const std::string& bytes, std::chrono::milliseconds limit = std::chrono::seconds(10));

// A raw TCP connection to a local port, for tests that speak HTTP byte by byte.
class RawConnection {
public:
    explicit RawConnection(unsigned short port);
    ~RawConnection();
    RawConnection(const RawConnection&) = delete;
    RawConnection& operator=(const RawConnection&) = delete;
    bool connected() const { return fd_ >= 0; }
    void send(const std::string& bytes);
    void end_sending();  // shuts the sending half: the peer reads the end of the stream
    // Reads until what was received contains `marker` (and returns all of it), the peer closes,
    // or `limit` passes.
    std::string read_until(const std::string& marker, std::chrono::milliseconds limit = std::chrono::seconds(10));
    // Whether the peer has closed the connection (after reading anything it still sent).
    bool closed_by_peer(std::chrono::milliseconds limit = std::chrono::seconds(10));
    // Everything received so far.
    const std::string& received() const { return received_; }

private:
    int fd_ = -1;
    std::string received_;
};

// Polls `check` until it is true or `limit` passes. Returns whether it became true.
template <class F>
bool eventually(F check, std::chrono::milliseconds limit = std::chrono::seconds(10)) {
    auto until = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < until) {
        if (check()) return true;
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return check();
}

}  // namespace testing
