// Patchbay C++ SDK: the header-only layer a plugin compiles in, over the C ABI in abi.h.
//
// It turns the C hooks into C++ handlers registered by the names the manifest uses, parses the JSON
// that crosses the boundary into boost::json values, and makes sure no exception ever reaches the
// host: a handler that throws becomes an error result. A minimal plugin:
//
//   #include <patchbay/sdk/plugin.hpp>
//   namespace sdk = patchbay::sdk;
//
//   static sdk::Plugin make_plugin() {
//       sdk::Plugin plugin("hello", "1.0.0");
//       plugin.action("greet", [](sdk::Call&, const sdk::json::value& input) -> sdk::Result {
//           return sdk::json::object{{"greeting", "Hello, " + sdk::get_string(input, "name")}};
//       });
//       return plugin;
//   }
//   PATCHBAY_PLUGIN(make_plugin)
//
// Boost.JSON's implementation must be compiled into the plugin once; the CMake helper
// patchbay_add_plugin() links Patchbay::sdk_json, which does that.
#pragma once

#include <patchbay/abi.h>
#include <patchbay/sdk/header_views.hpp>
#include <patchbay/sdk/json_text.hpp>

#include <boost/json.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <cctype>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

namespace patchbay::sdk {

namespace json = boost::json;

enum class ErrorCode : int32_t {
    invalid_input = PB_ERR_INVALID_INPUT,
    plugin = PB_ERR_PLUGIN,
    upstream = PB_ERR_UPSTREAM,
    unauthorized = PB_ERR_UNAUTHORIZED,
    not_found = PB_ERR_NOT_FOUND,
    rate_limited = PB_ERR_RATE_LIMITED,
    timeout = PB_ERR_TIMEOUT,
    unavailable = PB_ERR_UNAVAILABLE,
    unsupported = PB_ERR_UNSUPPORTED,
    egress_denied = PB_ERR_EGRESS_DENIED,
    circuit_open = PB_ERR_CIRCUIT_OPEN,
    reauthorize = PB_ERR_REAUTHORIZE,
};

// A failure a handler reports. `details` travels to the caller as JSON (never put secrets in it).
struct Error {
    ErrorCode code = ErrorCode::plugin;
    std::string message;
    json::value details;

    static Error invalid_input(std::string m) { return {ErrorCode::invalid_input, std::move(m), {}}; }
    static Error plugin(std::string m) { return {ErrorCode::plugin, std::move(m), {}}; }
    static Error upstream(std::string m, json::value d = {}) {
        return {ErrorCode::upstream, std::move(m), std::move(d)};
    }
    static Error unauthorized(std::string m) { return {ErrorCode::unauthorized, std::move(m), {}}; }
    static Error not_found(std::string m) { return {ErrorCode::not_found, std::move(m), {}}; }
    static Error rate_limited(std::string m) { return {ErrorCode::rate_limited, std::move(m), {}}; }
    static Error unavailable(std::string m) { return {ErrorCode::unavailable, std::move(m), {}}; }
};

// Throw this from anywhere inside a handler to fail the call with a typed error.
struct Failure : std::exception {
    explicit Failure(Error e) : error(std::move(e)) {}
    const char* what() const noexcept override { return error.message.c_str(); }
    Error error;
};

// A handler's result given as JSON text, which goes to the host as it is: no json::value is
// built only to be serialized again. For results that pass on JSON received from elsewhere (an
// upstream's body, checked with is_json from json_text.hpp) inside a small envelope written with
// append_json_string. It must be one JSON document; the host fails the call with PLUGIN_ERROR
// ("returned invalid JSON") otherwise.
struct JsonText {
    std::string text;
};

// What a handler returns: a JSON value, JSON text, or an Error.
class Result {
public:
    Result(json::value v) : value_(std::move(v)) {}
    Result(json::object o) : value_(json::value(std::move(o))) {}
    Result(json::array a) : value_(json::value(std::move(a))) {}
    Result(JsonText t) : value_(std::move(t)) {}
    Result(Error e) : value_(std::move(e)) {}

    bool ok() const { return !std::holds_alternative<Error>(value_); }
    // The result as a value (JsonText is parsed on first use, and throws if it is not JSON).
    const json::value& value() const {
        if (const auto* t = std::get_if<JsonText>(&value_)) {
            if (!parsed_) parsed_ = json::parse(t->text);
            return *parsed_;
        }
        return std::get<json::value>(value_);
    }
    // The result as the JSON text that goes to the host.
    std::string text() const {
        if (const auto* t = std::get_if<JsonText>(&value_)) return t->text;
        return json::serialize(std::get<json::value>(value_));
    }
    const Error& error() const { return std::get<Error>(value_); }

private:
    friend class Plugin;
    std::variant<json::value, JsonText, Error> value_;
    mutable std::optional<json::value> parsed_;
};

// Input helpers: they throw Failure(invalid_input) naming the missing or mistyped field.
inline const json::value& get(const json::value& obj, std::string_view key) {
    const auto* o = obj.if_object();
    const auto* v = o ? o->if_contains(key) : nullptr;
    if (!v) throw Failure(Error::invalid_input("missing field '" + std::string(key) + "'"));
    return *v;
}
inline std::string get_string(const json::value& obj, std::string_view key) {
    const auto& v = get(obj, key);
    if (!v.is_string())
        throw Failure(Error::invalid_input("field '" + std::string(key) + "' must be a string"));
    return std::string(v.get_string());
}
inline const json::value* find(const json::value& obj, std::string_view key) {
    const auto* o = obj.if_object();
    return o ? o->if_contains(key) : nullptr;
}

// Percent-encodes `s` for a URL: everything but RFC 3986's unreserved characters, and with
// `keep_reserved` its reserved ones (":/?#[]@!$&'()*+,;=") stay too.
inline std::string url_encode(std::string_view s, bool keep_reserved = false) {
    static const char* hex = "0123456789ABCDEF";
    std::string out;
    out.reserve(s.size());
    for (unsigned char c : s) {
        bool unreserved = std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~';
        bool reserved = std::string_view(":/?#[]@!$&'()*+,;=").find(static_cast<char>(c)) != std::string_view::npos;
        if (unreserved || (keep_reserved && reserved)) {
            out += static_cast<char>(c);
        } else {
            out += '%';
            out += hex[c >> 4];
            out += hex[c & 15];
        }
    }
    return out;
}

struct HttpRequest {
    std::string method = "GET";
    std::string url;
    std::vector<std::pair<std::string, std::string>> headers;
    std::string body;
    std::optional<int64_t> timeout_ms;
    bool follow_redirects = true;  // false: 3xx answers come back as they are
    bool credentials = true;       // false: the host adds no connection credentials (public endpoints)
};

// ASCII lower case of one character (header names are ASCII and compared case-insensitively).
constexpr char ascii_lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c + ('a' - 'A')) : c; }
// ASCII lower case of a string (header names, media types), independent of the C locale.
inline std::string ascii_lower(std::string_view s) {
    std::string out(s);
    for (auto& c : out) c = ascii_lower(c);
    return out;
}
// Whether two header names (or other ASCII words) are the same, ignoring ASCII case.
inline bool ascii_iequals(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    for (size_t i = 0; i < a.size(); ++i)
        if (ascii_lower(a[i]) != ascii_lower(b[i])) return false;
    return true;
}

struct HttpResponse {
    int status = 0;
    std::vector<std::pair<std::string, std::string>> headers;
    std::string body;

    // First header with this name, compared case-insensitively.
    std::optional<std::string> header(std::string_view name) const {
        for (const auto& [n, v] : headers)
            if (ascii_iequals(n, name)) return v;
        return std::nullopt;
    }
};

namespace detail {
inline pb_str to_pb(std::string_view s) { return pb_str{s.data(), s.size()}; }
inline std::string_view from_pb(pb_str s) { return s.data ? std::string_view(s.data, s.size) : std::string_view(); }
}  // namespace detail

// A response as the host hands it over, without copies: valid only inside the callback given to
// Call::http (see there). For plugins that pass a large answer on rather than keep it.
class HttpResponseView {
public:
    HttpResponseView(int status, const pb_header* headers, size_t header_count, std::string_view body)
        : status_(status), headers_(headers), header_count_(header_count), body_(body) {}

    int status() const { return status_; }
    std::string_view body() const { return body_; }
    size_t header_count() const { return header_count_; }
    std::string_view header_name(size_t i) const { return detail::from_pb(headers_[i].name); }
    std::string_view header_value(size_t i) const { return detail::from_pb(headers_[i].value); }
    // First header with this name, compared case-insensitively.
    std::optional<std::string_view> header(std::string_view name) const {
        for (size_t i = 0; i < header_count_; ++i)
            if (ascii_iequals(header_name(i), name)) return header_value(i);
        return std::nullopt;
    }

private:
    int status_;
    const pb_header* headers_;
    size_t header_count_;
    std::string_view body_;
};

enum class LogLevel : int32_t { debug = PB_LOG_DEBUG, info = PB_LOG_INFO, warn = PB_LOG_WARN, error = PB_LOG_ERROR };

// The services of the current call. Valid only inside the handler it was given to.
class Call {
public:
    Call(const pb_host_v1* host, pb_call* call, const json::value* config, std::string_view context_json,
         json::storage_ptr storage = {})
        : host_(host), call_(call), config_(config), context_json_(context_json), storage_(std::move(storage)) {}

    // Memory for the JSON an action handler builds and returns: a buffer that lives until the
    // handler has returned and its result has been handed to the host, then goes at once (no
    // allocation per JSON node). For anything the handler returns or builds on the way; never for
    // values kept past the call. Outside actions it is the default allocator.
    const json::storage_ptr& storage() const { return storage_; }

    // The manifest's `config` object for this instance.
    const json::value& config() const { return *config_; }
    // Where the call comes from: integration, connection settings, organization, workflow id.
    // Parsed on first use: most handlers never look.
    const json::value& context() const {
        if (!context_) {
            boost::system::error_code ec;
            json::value v = context_json_.empty() ? json::value(json::object{}) : json::parse(context_json_, ec);
            context_ = ec ? json::value(json::object{}) : std::move(v);
        }
        return *context_;
    }

    // The call's deadline; time_point::max() when it has none.
    std::chrono::system_clock::time_point deadline() const {
        int64_t ms = host_->deadline_unix_ms(call_);
        if (ms <= 0) return std::chrono::system_clock::time_point::max();
        return std::chrono::system_clock::time_point(std::chrono::milliseconds(ms));
    }

    void log(LogLevel level, std::string_view message, const json::object& fields = {}) const {
        std::string f = fields.empty() ? std::string() : json::serialize(fields);
        host_->log(call_, static_cast<int32_t>(level), detail::to_pb(message), detail::to_pb(f));
    }

    // Performs the request through the host. Throws Failure when no response was received;
    // any HTTP status (including 4xx/5xx) is returned for the plugin to interpret.
    HttpResponse http(const HttpRequest& request) const {
        HttpResponse response;
        http(request, [&](const HttpResponseView& r) {
            response.status = r.status();
            response.body.assign(r.body());
            response.headers.reserve(r.header_count());
            for (size_t i = 0; i < r.header_count(); ++i) response.headers.emplace_back(r.header_name(i), r.header_value(i));
        });
        return response;
    }

    // The same, handing the response to `on_response` as views into the host's buffers instead
    // of copying it: they are valid only until `on_response` returns. Throws Failure as above,
    // and passes on whatever `on_response` throws (after the host has let go of the response).
    template <class OnResponse>
    void http(const HttpRequest& request, OnResponse&& on_response) const {
        // The request goes across as fields (ABI v1.3 http_send), its header list from the stack
        // when short.
        HeaderViews headers(request.headers);
        pb_http_request_v1 req{};
        req.struct_size = sizeof req;
        req.flags = (request.follow_redirects ? 0u : PB_HTTP_NO_REDIRECTS) | (request.credentials ? 0u : PB_HTTP_NO_CREDENTIALS);
        req.method = detail::to_pb(request.method);
        req.url = detail::to_pb(request.url);
        req.headers = headers.data();
        req.header_count = headers.size();
        req.body = detail::to_pb(request.body);
        req.timeout_ms = request.timeout_ms.value_or(0);

        struct Sink {
            OnResponse* handler;
            std::optional<Error> error;
            std::exception_ptr thrown;  // nothing may unwind through the host's frames
        } sink{&on_response, std::nullopt, nullptr};
        auto c_response = [](void* user, const pb_http_response_v1* r) {
            auto* s = static_cast<Sink*>(user);
            try {
                if (r->error_code != PB_OK) {
                    s->error = Error{static_cast<ErrorCode>(r->error_code), std::string(detail::from_pb(r->error_message)), {}};
                    return;
                }
                const bool has_headers = r->struct_size >= offsetof(pb_http_response_v1, header_count) + sizeof(uint32_t) && r->headers;
                (*s->handler)(HttpResponseView(r->status, has_headers ? r->headers : nullptr, has_headers ? r->header_count : 0,
                                               detail::from_pb(r->body)));
            } catch (...) {
                s->thrown = std::current_exception();
            }
        };
        if (host_->struct_size < offsetof(pb_host_v1, http_send) + sizeof(host_->http_send) || !host_->http_send)
            throw Failure(Error{ErrorCode::unsupported, "this host has no http_send (ABI v1.3); upgrade Patchbay", {}});
        host_->http_send(call_, &req, c_response, &sink);
        if (sink.thrown) std::rethrow_exception(sink.thrown);
        if (sink.error) throw Failure(std::move(*sink.error));
    }

private:
    const pb_host_v1* host_;
    pb_call* call_;
    const json::value* config_;
    std::string_view context_json_;  // owned by the host, valid during the hook
    mutable std::optional<json::value> context_;
    json::storage_ptr storage_;
};

// A webhook delivery as the plugin sees it.
struct WebhookRequest {
    json::value meta;   // {"method", "path", "query", "headers", "verified"}
    std::string_view body;
};

using ActionHandler = std::function<Result(Call&, const json::value& input)>;
using ContextHandler = std::function<Result(Call&)>;
using RequestHandler = std::function<Result(Call&, const json::value& request)>;
using WebhookHandler = std::function<Result(Call&, const WebhookRequest&)>;
using CreateHandler = std::function<std::optional<Error>(const json::value& config)>;
using ConfiguredActionHandler = std::function<Result(Call&, std::string_view action, const json::value& input)>;

class Plugin {
public:
    Plugin(std::string name, std::string version) : name_(std::move(name)), version_(std::move(version)) {}

    Plugin& action(std::string name, ActionHandler h) { actions_[std::move(name)] = std::move(h); return *this; }
    Plugin& test_connection(ContextHandler h) { test_ = std::move(h); return *this; }
    Plugin& list_organizations(RequestHandler h) { orgs_ = std::move(h); return *this; }
    Plugin& webhook(std::string trigger, WebhookHandler h) {
        triggers_.insert(trigger);
        webhooks_[std::move(trigger)] = std::move(h);
        return *this;
    }
    // (ABI 1.2) Registers/removes a subscription's webhook at the tool (see abi.h).
    Plugin& subscribe(std::string trigger, RequestHandler h) { subscribes_[std::move(trigger)] = std::move(h); return *this; }
    Plugin& unsubscribe(std::string trigger, RequestHandler h) { unsubscribes_[std::move(trigger)] = std::move(h); return *this; }
    Plugin& poll(std::string trigger, RequestHandler h) {
        triggers_.insert(trigger);
        polls_[std::move(trigger)] = std::move(h);
        return *this;
    }
    // Promise that every handler waits only through Call::http and otherwise returns promptly
    // (no sleeps, blocking I/O of its own or long computations). The host may then run handlers
    // as fibers on its network threads, which is markedly faster. See PB_PLUGIN_COOPERATIVE.
    Plugin& cooperative(bool yes = true) { cooperative_ = yes; return *this; }
    // For generic plugins whose actions come from the configuring manifest (the OpenAPI plugin):
    // every action without a handler of its own goes here, by name. See PB_PLUGIN_CONFIGURED_ACTIONS.
    Plugin& configured_actions(ConfiguredActionHandler h) { configured_ = std::move(h); return *this; }
    // Check the manifest's `config` when an instance is created; return an Error to refuse it.
    Plugin& on_create(CreateHandler h) { create_ = std::move(h); return *this; }

    // Builds the C descriptor. Called once by the entry point; the Plugin must then stay put.
    const pb_plugin_v1* describe(const pb_host_v1* host) {
        host_ = host;
        for (const auto& [n, h] : actions_) action_names_.push_back(detail::to_pb(n));
        for (const auto& n : triggers_) trigger_names_.push_back(detail::to_pb(n));
        desc_.struct_size = sizeof(pb_plugin_v1);
        desc_.abi_major = PATCHBAY_ABI_MAJOR;
        desc_.abi_minor = PATCHBAY_ABI_MINOR;
        desc_.name = detail::to_pb(name_);
        desc_.version = detail::to_pb(version_);
        desc_.actions = action_names_.data();
        desc_.action_count = static_cast<uint32_t>(action_names_.size());
        desc_.triggers = trigger_names_.data();
        desc_.trigger_count = static_cast<uint32_t>(trigger_names_.size());
        desc_.create = &Plugin::c_create;
        desc_.destroy = &Plugin::c_destroy;
        desc_.invoke_action = &Plugin::c_invoke;
        desc_.test_connection = test_ ? &Plugin::c_test : nullptr;
        desc_.list_organizations = orgs_ ? &Plugin::c_orgs : nullptr;
        desc_.handle_webhook = webhooks_.empty() ? nullptr : &Plugin::c_webhook;
        desc_.poll_trigger = polls_.empty() ? nullptr : &Plugin::c_poll;
        desc_.subscribe = subscribes_.empty() ? nullptr : &Plugin::c_subscribe;
        desc_.unsubscribe = unsubscribes_.empty() ? nullptr : &Plugin::c_unsubscribe;
        desc_.flags = (cooperative_ ? PB_PLUGIN_COOPERATIVE : 0u) | (configured_ ? PB_PLUGIN_CONFIGURED_ACTIONS : 0u);
        self() = this;
        return &desc_;
    }

private:
    struct Instance {
        Plugin* plugin;
        json::value config;
    };

    static Plugin*& self() {
        static Plugin* p = nullptr;
        return p;
    }

    // Runs `body`, turning its Result or any exception into set_output / set_error.
    template <class F>
    static int32_t run(const pb_host_v1* host, pb_call* call, F&& body) noexcept {
        try {
            try {
                Result r = body();
                if (const auto* t = std::get_if<JsonText>(&r.value_)) {
                    host->set_output(call, detail::to_pb(t->text));
                    return PB_OK;
                }
                if (r.ok()) {
                    std::string text = json::serialize(std::get<json::value>(r.value_));
                    host->set_output(call, detail::to_pb(text));
                    return PB_OK;
                }
                return report(host, call, r.error());
            } catch (const Failure& f) {
                return report(host, call, f.error);
            } catch (const std::exception& e) {
                return report(host, call, Error::plugin(std::string("handler threw: ") + e.what()));
            } catch (...) {
                return report(host, call, Error::plugin("handler threw an unknown exception"));
            }
        } catch (...) {
            // Reporting itself failed (out of memory): say so without allocating.
            static const char msg[] = "plugin could not report its result";
            host->set_error(call, PB_ERR_PLUGIN, pb_str{msg, sizeof(msg) - 1}, pb_str{nullptr, 0});
            return PB_ERR_PLUGIN;
        }
    }

    static int32_t report(const pb_host_v1* host, pb_call* call, const Error& e) {
        std::string details = e.details.is_null() ? std::string() : json::serialize(e.details);
        auto code = static_cast<int32_t>(e.code);
        host->set_error(call, code, detail::to_pb(e.message), detail::to_pb(details));
        return code;
    }

    static json::value parse_or_empty(pb_str s, json::storage_ptr sp = {}) {
        auto text = detail::from_pb(s);
        if (text.empty()) return json::object(sp);
        return json::parse(text, std::move(sp));
    }

    // A hook's input lives only as long as the hook: parse it into a buffer on the stack (growing
    // onto the heap only for large inputs) instead of one allocation per JSON node.
    struct CallArena {
        unsigned char buffer[4096];
        json::monotonic_resource resource{buffer, sizeof buffer};
    };

    static Call make_call(Instance* inst, pb_call* call, pb_str context, json::storage_ptr storage = {}) {
        return Call(inst->plugin->host_, call, &inst->config, detail::from_pb(context), std::move(storage));
    }

    static void* c_create(pb_call* call, pb_str config) {
        Plugin* p = self();
        Instance* created = nullptr;
        run(p->host_, call, [&]() -> Result {
            auto inst = std::make_unique<Instance>(Instance{p, parse_or_empty(config)});
            if (p->create_) {
                if (auto err = p->create_(inst->config)) return *err;
            }
            created = inst.release();
            return json::object{};
        });
        return created;
    }

    static void c_destroy(void* instance) { delete static_cast<Instance*>(instance); }

    static int32_t c_invoke(void* instance, pb_call* call, pb_str action, pb_str input, pb_str context) {
        auto* inst = static_cast<Instance*>(instance);
        CallArena arena;  // outlives run(), which serializes the result
        return run(inst->plugin->host_, call, [&]() -> Result {
            auto it = inst->plugin->actions_.find(std::string(detail::from_pb(action)));
            if (it == inst->plugin->actions_.end() && !inst->plugin->configured_)
                return Error{ErrorCode::unsupported, "plugin has no action '" + std::string(detail::from_pb(action)) + "'", {}};
            Call c = make_call(inst, call, context, &arena.resource);
            json::value in = parse_or_empty(input, &arena.resource);
            if (it == inst->plugin->actions_.end()) return inst->plugin->configured_(c, detail::from_pb(action), in);
            return it->second(c, in);
        });
    }

    static int32_t c_test(void* instance, pb_call* call, pb_str context) {
        auto* inst = static_cast<Instance*>(instance);
        return run(inst->plugin->host_, call, [&]() -> Result {
            Call c = make_call(inst, call, context);
            return inst->plugin->test_(c);
        });
    }

    static int32_t c_orgs(void* instance, pb_call* call, pb_str request, pb_str context) {
        auto* inst = static_cast<Instance*>(instance);
        return run(inst->plugin->host_, call, [&]() -> Result {
            Call c = make_call(inst, call, context);
            return inst->plugin->orgs_(c, parse_or_empty(request));
        });
    }

    static int32_t c_webhook(void* instance, pb_call* call, pb_str trigger, pb_str request, pb_str body,
                             pb_str context) {
        auto* inst = static_cast<Instance*>(instance);
        return run(inst->plugin->host_, call, [&]() -> Result {
            auto it = inst->plugin->webhooks_.find(std::string(detail::from_pb(trigger)));
            if (it == inst->plugin->webhooks_.end())
                return Error{ErrorCode::unsupported, "plugin has no webhook trigger '" + std::string(detail::from_pb(trigger)) + "'", {}};
            Call c = make_call(inst, call, context);
            WebhookRequest w{parse_or_empty(request), detail::from_pb(body)};
            return it->second(c, w);
        });
    }

    static int32_t trigger_request(std::map<std::string, RequestHandler> Plugin::*which, void* instance, pb_call* call, pb_str trigger,
                                   pb_str request, pb_str context) {
        auto* inst = static_cast<Instance*>(instance);
        return run(inst->plugin->host_, call, [&]() -> Result {
            const auto& handlers = inst->plugin->*which;
            auto it = handlers.find(std::string(detail::from_pb(trigger)));
            if (it == handlers.end())
                return Error{ErrorCode::unsupported, "trigger '" + std::string(detail::from_pb(trigger)) + "' needs no registration", {}};
            Call c = make_call(inst, call, context);
            return it->second(c, parse_or_empty(request));
        });
    }
    static int32_t c_subscribe(void* instance, pb_call* call, pb_str trigger, pb_str request, pb_str context) {
        return trigger_request(&Plugin::subscribes_, instance, call, trigger, request, context);
    }
    static int32_t c_unsubscribe(void* instance, pb_call* call, pb_str trigger, pb_str request, pb_str context) {
        return trigger_request(&Plugin::unsubscribes_, instance, call, trigger, request, context);
    }

    static int32_t c_poll(void* instance, pb_call* call, pb_str trigger, pb_str request, pb_str context) {
        auto* inst = static_cast<Instance*>(instance);
        return run(inst->plugin->host_, call, [&]() -> Result {
            auto it = inst->plugin->polls_.find(std::string(detail::from_pb(trigger)));
            if (it == inst->plugin->polls_.end())
                return Error{ErrorCode::unsupported, "plugin has no polling trigger '" + std::string(detail::from_pb(trigger)) + "'", {}};
            Call c = make_call(inst, call, context);
            return it->second(c, parse_or_empty(request));
        });
    }

    std::string name_, version_;
    std::map<std::string, ActionHandler> actions_;
    std::map<std::string, WebhookHandler> webhooks_;
    std::map<std::string, RequestHandler> polls_;
    std::map<std::string, RequestHandler> subscribes_, unsubscribes_;
    std::set<std::string> triggers_;
    ContextHandler test_;
    RequestHandler orgs_;
    CreateHandler create_;
    bool cooperative_ = false;
    ConfiguredActionHandler configured_;
    std::vector<pb_str> action_names_, trigger_names_;
    pb_plugin_v1 desc_{};
    const pb_host_v1* host_ = nullptr;
};

namespace detail {
template <class Factory>
const pb_plugin_v1* entry(const pb_host_v1* host, Factory&& factory) noexcept {
    if (!host || host->abi_major != PATCHBAY_ABI_MAJOR) return nullptr;
    try {
        static Plugin plugin = factory();
        static const pb_plugin_v1* desc = plugin.describe(host);
        return desc;
    } catch (...) {
        return nullptr;
    }
}
}  // namespace detail

}  // namespace patchbay::sdk

// Defines the plugin's one exported entry point from a function returning sdk::Plugin.
#define PATCHBAY_PLUGIN(factory)                                                               \
    extern "C" PATCHBAY_PLUGIN_EXPORT const pb_plugin_v1* patchbay_plugin_entry_v1(            \
        const pb_host_v1* host) {                                                              \
        return ::patchbay::sdk::detail::entry(host, factory);                                  \
    }
