/*
 * Patchbay plugin ABI, major version 1.
 *
 * The only interface between the Patchbay runtime (the host) and a connector plugin. It is pure
 * C so that plugins built with any compiler or standard library load into any runtime of the same
 * major version, and so that the same plugin can later run in a separate, supervised process: every
 * value that crosses it is either a scalar, a UTF-8 string given as pointer + length, or JSON text.
 *
 * Compatibility rules
 *   - A plugin exports exactly one symbol, `patchbay_plugin_entry_v1`. The major version is part of
 *     the name, so a runtime can tell a plugin built for another major version from a broken one.
 *   - Every struct begins with `struct_size`. Structs only grow at the end; a reader never touches a
 *     field past the `struct_size` the writer set. Minor versions only add fields and functions.
 *   - The runtime accepts plugins built against an equal or older minor version and refuses plugins
 *     built against a newer one (they may call host functions it does not have).
 *
 * Ownership rules
 *   - Whoever allocates frees. Strings passed into a hook are owned by the host and valid only until
 *     the hook returns. Strings a plugin hands to the host (results, log lines) are copied by the
 *     host before the host function returns.
 *   - A hook's result is delivered with `pb_host_v1.set_output` or `pb_host_v1.set_error` on the
 *     call handle the hook received; nothing is returned by pointer.
 *   - The plugin descriptor returned by the entry point stays valid until the library is unloaded.
 *     The host unloads a library only after every instance it created has been destroyed.
 *
 * Threads
 *   - Hooks may be called concurrently on several threads, for the same instance. A plugin that
 *     keeps mutable state protects it itself. Host functions are thread-safe.
 *   - Hooks must not throw (C++ exceptions must not cross this boundary) nor call exit().
 */
#ifndef PATCHBAY_ABI_H
#define PATCHBAY_ABI_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define PATCHBAY_ABI_MAJOR 1
#define PATCHBAY_ABI_MINOR 3

#if defined(_WIN32)
#define PATCHBAY_PLUGIN_EXPORT __declspec(dllexport)
#else
#define PATCHBAY_PLUGIN_EXPORT __attribute__((visibility("default")))
#endif

/* Name of the one symbol every v1 plugin exports. */
#define PATCHBAY_ENTRY_SYMBOL_V1 "patchbay_plugin_entry_v1"

/* A UTF-8 string (or, where stated, raw bytes): pointer and length, not NUL-terminated. */
typedef struct pb_str {
    const char* data;
    size_t size;
} pb_str;

/* Stable error codes. The runtime maps them onto its API error codes and HTTP statuses. */
typedef enum pb_error_code {
    PB_OK = 0,
    PB_ERR_INVALID_INPUT = 1,  /* the caller's input is wrong: the message says what to change */
    PB_ERR_PLUGIN = 2,         /* a bug or unexpected state inside the plugin */
    PB_ERR_UPSTREAM = 3,       /* the third-party tool answered with an error */
    PB_ERR_UNAUTHORIZED = 4,   /* the tool refused the connection's credentials */
    PB_ERR_NOT_FOUND = 5,      /* the object the input names does not exist upstream */
    PB_ERR_RATE_LIMITED = 6,   /* the tool asked us to slow down */
    PB_ERR_TIMEOUT = 7,        /* the call's deadline passed */
    PB_ERR_UNAVAILABLE = 8,    /* the tool could not be reached */
    PB_ERR_UNSUPPORTED = 9,    /* the hook or the requested feature is not implemented */
    /* v1.1: refusals of the host's HTTP service, so plugins can pass them on unchanged */
    PB_ERR_EGRESS_DENIED = 10, /* the target address is not one plugins may reach */
    PB_ERR_CIRCUIT_OPEN = 11,  /* the upstream failed repeatedly; calls fail fast for a while */
    PB_ERR_REAUTHORIZE = 12    /* the connection's authorization was revoked; an admin must authorize it again */
} pb_error_code;

typedef enum pb_log_level {
    PB_LOG_DEBUG = 0,
    PB_LOG_INFO = 1,
    PB_LOG_WARN = 2,
    PB_LOG_ERROR = 3
} pb_log_level;

/* One hook invocation, owned by the host. Valid only while the hook runs. */
typedef struct pb_call pb_call;

/* (v1.3) One HTTP header. */
typedef struct pb_header {
    pb_str name;
    pb_str value;
} pb_header;

/* (v1.3) pb_http_request_v1.flags */
#define PB_HTTP_NO_REDIRECTS 0x1u   /* 3xx answers come back as they are instead of being followed */
#define PB_HTTP_NO_CREDENTIALS 0x2u /* the host adds no connection credentials (public endpoints) */

/* (v1.3) A request for pb_host_v1.http_send: what http_request takes as JSON, as fields. Owned by
 * the plugin; the host copies what it keeps before http_send returns. */
typedef struct pb_http_request_v1 {
    uint32_t struct_size;
    uint32_t flags;             /* PB_HTTP_* bits; 0 for the defaults */
    pb_str method;              /* empty means GET */
    pb_str url;
    const pb_header* headers;   /* sent in this order */
    uint32_t header_count;
    pb_str body;                /* raw bytes; may be empty */
    int64_t timeout_ms;         /* this request's own limit; 0 for the host's default */
} pb_http_request_v1;

/*
 * The answer to pb_host_v1.http_request and http_send, owned by the host and valid only during
 * the callback. When the request could not be completed, `status` is 0 and
 * `error_code`/`error_message` say why.
 */
typedef struct pb_http_response_v1 {
    uint32_t struct_size;
    int32_t status;             /* HTTP status code, or 0 when no response was received */
    pb_str headers_json;        /* http_request: JSON array of [name, value] pairs, in the order
                                   received; http_send: not to be read (see `headers`) */
    pb_str body;                /* raw response bytes */
    int32_t error_code;         /* PB_OK when a response was received */
    pb_str error_message;
    /* v1.3: the headers as received, in order (both functions set them) */
    const pb_header* headers;
    uint32_t header_count;
} pb_http_response_v1;

typedef void (*pb_http_response_fn)(void* user_data, const pb_http_response_v1* response);

/* Services the host offers a plugin. Passed to the entry point and valid until unload. */
typedef struct pb_host_v1 {
    uint32_t struct_size;
    uint16_t abi_major;
    uint16_t abi_minor;

    /* Set the hook's result: JSON text. The host copies it. Returns PB_OK. */
    int32_t (*set_output)(pb_call* call, pb_str json);
    /* Set the hook's failure. `details_json` may be empty. The host copies both. */
    int32_t (*set_error)(pb_call* call, int32_t code, pb_str message, pb_str details_json);

    /* Structured log line. `call` may be NULL outside a hook. `fields_json` is an object or empty. */
    void (*log)(pb_call* call, int32_t level, pb_str message, pb_str fields_json);

    /* Deadline of the current call in milliseconds since the Unix epoch; 0 when it has none. */
    int64_t (*deadline_unix_ms)(const pb_call* call);

    /*
     * Perform an HTTP request on the plugin's behalf and block until it completes or the call's
     * deadline passes. `request_json` is an object:
     *   {"method": "GET", "url": "https://...", "headers": {"Name": "value"} or [[n, v], ...],
     *    "timeout_ms": 10000}
     * `body` holds the raw request body (may be empty). The host performs DNS, TLS (verifying
     * chain and hostname), connection pooling and, for connections, credential injection.
     * `on_response` is called exactly once, before http_request returns.
     * Returns PB_OK when `on_response` saw a response, otherwise the error code it saw.
     */
    int32_t (*http_request)(pb_call* call, pb_str request_json, pb_str body,
                            pb_http_response_fn on_response, void* user_data);

    /*
     * (v1.3) The same service with the request and the answer's headers as fields instead of
     * JSON text, which spares both sides writing and parsing it. Same blocking, callback and
     * return rules as http_request.
     */
    int32_t (*http_send)(pb_call* call, const pb_http_request_v1* request,
                         pb_http_response_fn on_response, void* user_data);
} pb_host_v1;

/*
 * Hooks. Each one receives the instance pointer `create` returned, the call handle, and JSON text.
 * `context_json` is an object describing where the call comes from:
 *   {"integration": "name", "connection": {"id": "...", "settings": {...}},
 *    "organization": {"id": "...", "remote_id": "..."}, "workflow_id": "..."}
 * (keys appear when they apply). Each hook reports its result through set_output / set_error and
 * returns the same code it reported (PB_OK on success).
 */
typedef int32_t (*pb_invoke_action_fn)(void* instance, pb_call* call, pb_str action,
                                       pb_str input_json, pb_str context_json);
/* Output: {"ok": true} or an error; used by "test connection". */
typedef int32_t (*pb_test_connection_fn)(void* instance, pb_call* call, pb_str context_json);
/* Request: {"cursor": "..." or null, "page_size": 100}. Output: {"items": [{"id", "name", ...}],
 * "next_cursor": "..." or null}. */
typedef int32_t (*pb_list_organizations_fn)(void* instance, pb_call* call, pb_str request_json,
                                            pb_str context_json);
/* Request: {"method", "path", "query", "headers": [[n, v]...], "verified": bool}; `body` is raw.
 * Output: {"events": [{"id": "...", "data": {...}}], "response": {"status": 200, "body": ...}}. */
typedef int32_t (*pb_handle_webhook_fn)(void* instance, pb_call* call, pb_str trigger,
                                        pb_str request_json, pb_str body, pb_str context_json);
/* Request: {"cursor": ... or null, "params": {...}}. Output: {"events": [...], "cursor": ...}. */
typedef int32_t (*pb_poll_trigger_fn)(void* instance, pb_call* call, pb_str trigger,
                                      pb_str request_json, pb_str context_json);
/* (v1.2) Registering a subscription's webhook at the tool, and removing it; see pb_plugin_v1. */
typedef int32_t (*pb_trigger_request_fn)(void* instance, pb_call* call, pb_str trigger,
                                         pb_str request_json, pb_str context_json);

/* Create one configured instance. `config_json` is the manifest's `config` object ("{}" if none).
 * Report bad configuration with set_error and return NULL. Do no I/O here. */
typedef void* (*pb_create_fn)(pb_call* call, pb_str config_json);
typedef void (*pb_destroy_fn)(void* instance);

/* Descriptor flags. */
/* Every hook waits only through host services (http_request) and otherwise returns promptly: no
 * blocking system calls, sleeps or long computations of its own. The host may then run the hooks
 * on its network threads as cooperative fibers, suspending them while their HTTP requests are in
 * flight, which saves two thread hand-offs per call. A hook that breaks this promise stalls other
 * calls; leave the flag unset if in doubt (hooks then run on worker threads). */
#define PB_PLUGIN_COOPERATIVE 0x1u
/* (v1.1) The plugin's actions are not fixed: they come from the manifest that configures it (a
 * generic plugin such as the OpenAPI one). The host does not check the manifest's actions against
 * `actions`; the plugin's create hook refuses a config it cannot serve. */
#define PB_PLUGIN_CONFIGURED_ACTIONS 0x2u

/*
 * What a plugin is. Returned by the entry point; lives in the plugin's static storage.
 * Any hook may be NULL: the host answers PB_ERR_UNSUPPORTED for it.
 */
typedef struct pb_plugin_v1 {
    uint32_t struct_size;
    uint16_t abi_major;          /* PATCHBAY_ABI_MAJOR the plugin was built against */
    uint16_t abi_minor;          /* PATCHBAY_ABI_MINOR the plugin was built against */
    pb_str name;
    pb_str version;

    const pb_str* actions;       /* names of the actions it implements */
    uint32_t action_count;
    const pb_str* triggers;      /* names of the triggers it implements */
    uint32_t trigger_count;

    pb_create_fn create;
    pb_destroy_fn destroy;
    pb_invoke_action_fn invoke_action;
    pb_test_connection_fn test_connection;
    pb_list_organizations_fn list_organizations;
    pb_handle_webhook_fn handle_webhook;
    pb_poll_trigger_fn poll_trigger;
    uint32_t flags;              /* PB_PLUGIN_* bits */

    /* (v1.2) For tools that must be told where to send webhooks. `subscribe` registers the
     * subscription's hook URL: request {"hook_url", "secret" (the subscription's signing secret
     * when the trigger is signed, for tools that sign with a secret they are given), "params",
     * "remote" (what the last call returned, or null)}; output {"remote": {...}}, whatever finds
     * the registration again (the tool's webhook id). The host calls it when a subscription is
     * made and then periodically with the stored "remote": check that the registration still
     * exists and matches, and re-create it if not. `unsubscribe` removes it: request {"remote",
     * "params"}. Answer PB_ERR_UNSUPPORTED for a trigger that needs no registration. */
    pb_trigger_request_fn subscribe;
    pb_trigger_request_fn unsubscribe;
} pb_plugin_v1;

/* The entry point. Returns the descriptor, or NULL if the plugin cannot run with this host
 * (it may say why through host->log). Must not do I/O or start threads. */
typedef const pb_plugin_v1* (*pb_entry_v1_fn)(const pb_host_v1* host);

#ifdef __cplusplus
}
#endif

#endif /* PATCHBAY_ABI_H */
