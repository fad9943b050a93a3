// A small upstream HTTP/1.1 server for tests, on 127.0.0.1 and an ephemeral port, one thread per
// connection, keep-alive. Routes:
//   /json            {"hello": "world"} as application/json
//   /text            "plain text" as text/plain
//   .../echo, /any/...  the request as JSON: method, target, headers (lower-case), body
//   /slow?ms=N       waits N ms, then answers like /json
//   /status/N        answers status N with {"status": N}
//   /close           answers like /json with Connection: close
//   /protected...    200 when Authorization, X-API-Key or ?api_key= equals expect_credential(), else 401
//   /flaky?key=K&fails=N&status=S[&retry_after=V]
//                    the first N requests with key K answer S (with Retry-After: V), later ones 200
//                    {"attempt": n}; hits(K) counts them
//   /redirect?to=URL[&status=S]  answers S (302) with Location: URL
//   /hold            waits until release(), then answers like /json
//   /big?bytes=N     answers N bytes of 'x'
//   /sink            keeps each request posted (sunk()); answers 500 while set_sink_failing(true)
//   /feed?after=N    {"items": [{"id", "name"}...]}: the items after N of a list set_feed() grows
//                    (503 while it is set failing); hits("feed") counts the requests
//   /paged?style=cursor|offset|page|link&total=N  N items {"id", "name"} a page at a time: cursor
//                    (?cursor=, body {data, meta.next}), offset (?offset=&limit=, body {items}), page
//                    (?page=&per_page=, body [...]), link (page, plus a Link rel="next" header)
#pragma once

#include <atomic>
#include <memory>
#include <string>
#include <vector>

namespace testing {

struct TlsFiles {
    std::string certificate_chain;  // PEM file
    std::string private_key;        // PEM file
};

class Upstream {
public:
    Upstream();
    explicit Upstream(TlsFiles tls);  // serves HTTPS with these files
    ~Upstream();
    unsigned short port() const;
    std::string url(const std::string& path) const {
        return std::string(tls_ ? "https" : "http") + "://127.0.0.1:" + std::to_string(port()) + path;
    }
    int connections() const;  // TCP connections accepted so far
    int requests() const;
    int max_concurrent() const;  // most requests in progress at once so far
    void expect_credential(const std::string& value);
    int hits(const std::string& key) const;
    int held() const;  // requests waiting in /hold now
    void set_feed(int size, bool failing = false);
    void set_companies(std::vector<std::pair<std::string, std::string>> companies, int fail_after_pages = -1);
    struct Sunk {
        std::string body;
        std::vector<std::pair<std::string, std::string>> headers;
    };
    void set_sink_failing(bool failing);
    std::vector<Sunk> sunk() const;
    void release();    // lets every /hold request (present and future) answer
    // The headers (lower-case names) of the requests seen so far, oldest first.
    std::vector<std::vector<std::pair<std::string, std::string>>> seen_headers() const;

private:
    void start();
    struct Impl;
    std::unique_ptr<Impl> impl_;
    bool tls_ = false;
};

}  // namespace testing
