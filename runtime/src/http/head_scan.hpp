// A quick reader for the common shape of an HTTP/1.x message head, used before Beast's parser on
// the call path (the upstream's response in the host HTTP client, the caller's request in the API
// server). It reads only a strict subset of HTTP/1.1 and says Scan::other for everything outside
// it; the caller then gives the very same bytes to Beast's parser, which decides (and words any
// error) as it always did. A test compares both on valid, odd and broken messages.
//
// The subset: "HTTP/1.0" or "HTTP/1.1"; a request line of an upper-case method, one space, a target
// of printable ASCII, one space, the version; or a status line of the version, a space, three
// digits, a space and a printable reason. At most kMaxFields fields, each a token, a colon and a
// value of printable ASCII, spaces and tabs; CRLF line ends only. One Content-Length of digits
// only; no Transfer-Encoding, Expect or Upgrade; Connection, if present, exactly "close" or
// "keep-alive". A response needs a Content-Length and a status from 200 to 599 but 204 and 304 (so
// its body is exactly that length). Anything else (obs-fold, bare LF, bytes above 0x7f, chunked
// bodies, bodies up to the end of the connection...) is Scan::other.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

namespace patchbay::http {

enum class Scan {
    incomplete,  // the head may still be the common shape: read more, then scan again
    done,        // a complete head of the common shape (the body may not have arrived yet)
    other,       // not the common shape: let Beast's parser read the message
};

struct HeadField {
    std::string_view name, value;  // the value without the spaces and tabs around it
};

struct MessageHead {
    static constexpr size_t kMaxFields = 32;

    std::string_view method, target;  // a request's line
    int status = 0;                   // a response's status
    unsigned version = 11;            // 10 or 11
    std::array<HeadField, kMaxFields> field_array;
    size_t field_count = 0;
    size_t head_size = 0;         // bytes through the blank line that ends the head
    uint64_t content_length = 0;  // 0 for a request without a Content-Length
    bool has_content_length = false;
    bool keep_alive = true;       // what the version and Connection field say

    std::span<const HeadField> fields() const { return {field_array.data(), field_count}; }
};

struct ScanLimits {
    size_t head_limit = 8 * 1024;       // a longer head is Scan::other (Beast then applies its limit)
    uint64_t body_limit = UINT64_MAX;   // so is a longer Content-Length
};

// `bytes` from the message's first byte. On Scan::done, `out` refers into `bytes`.
Scan scan_request_head(std::string_view bytes, const ScanLimits& limits, MessageHead& out);
Scan scan_response_head(std::string_view bytes, const ScanLimits& limits, MessageHead& out);

}  // namespace patchbay::http
