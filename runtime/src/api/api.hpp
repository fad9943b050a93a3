// The HTTP/JSON API, independent of the transport: a request in, a response out (through a
// callback, because invocations complete on other threads). The Beast server in server.cpp turns
// wire messages into ApiRequest and back. docs/api.md documents every route and error code.
#pragma once

#include "catalog/catalog.hpp"
#include "common/error.hpp"
#include "control/control_plane.hpp"
#include "store/principals.hpp"
#include "invoker/invoker.hpp"
#include "oauth/oauth.hpp"
#include "mapping/mappings.hpp"
#include "mapping/organizations.hpp"
#include "triggers/event_log.hpp"
#include "triggers/push.hpp"
#include "triggers/subscriptions.hpp"

#include <boost/asio/io_context.hpp>

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace patchbay::api {

struct ApiRequest {
    boost::asio::io_context* network = nullptr;  // the network thread's context, for cooperative plugins
    std::string method;
    std::string target;  // path and query, as received
    std::string body;
    std::string request_id;
    std::string authorization;  // the Authorization header as received
    // Every header, only for the paths that need them (/hooks/...): copying them for each call
    // would cost the rest.
    std::vector<std::pair<std::string, std::string>> headers;
};

// Whether the server should fill ApiRequest::headers for this target.
bool wants_headers(std::string_view target);

struct ApiResponse {
    int status = 200;
    std::string body;
    std::string content_type = "application/json";
    std::vector<std::pair<std::string, std::string>> headers;
};

ApiResponse error_response(const Error& error, const std::string& request_id);

class Api {
public:
    Api(catalog::Catalog& catalog, invoker::Invoker& invoker, store::PrincipalStore& principals, control::ControlPlane& control,
        std::shared_ptr<oauth::Manager> oauth, triggers::Subscriptions& subscriptions, triggers::EventLog& events,
        triggers::PushDelivery& push, mapping::Organizations& organizations, mapping::Mappings& mappings);

    void handle(ApiRequest request, std::function<void(ApiResponse)> respond);
    // The connection's credentials for the host to inject, and its view in the plugin's context.
    void attach_connection(invoker::InvokeRequest& ir, const control::ResolvedConnection& rc) const;

private:
    void route(const ApiRequest& req, const store::Principal& who, std::function<void(ApiResponse)>& respond);
    ApiResponse list_integrations(const ApiRequest& req, const store::Principal& who, std::string_view query) const;
    ApiResponse show_integration(const ApiRequest& req, const store::Principal& who, std::string_view name) const;
    void invoke(const ApiRequest& req, const store::Principal& who, std::string integration, std::string action,
                std::function<void(ApiResponse)> respond);
    void authorization_callback(const ApiRequest& req, std::function<void(ApiResponse)> respond);
    void import_openapi(const ApiRequest& req, const store::Principal& who, std::function<void(ApiResponse)> respond);
    ApiResponse begin_authorization(const ApiRequest& req, const store::Principal& who, const std::string& id);
    void test_connection(const ApiRequest& req, const store::Principal& who, std::string id, std::function<void(ApiResponse)> respond);
    // POST /hooks/{token}: a webhook delivery, verified, turned into events and stored.
    void take_webhook(ApiRequest req, std::string token, std::function<void(ApiResponse)> respond);
    void store_events(const ApiRequest& req, const triggers::HookTarget& target, std::string delivery_id, std::vector<triggers::NewEvent> events,
                      std::optional<ApiResponse> answer, std::function<void(ApiResponse)> respond);
    void pull_events(const ApiRequest& req, const store::Principal& who, std::string_view query, std::function<void(ApiResponse)> respond);
    // Organization mapping routes (/v1/connections/{id}/organizations..., /mappings..., default
    // and per-organization connections). False when the path is none of them.
    bool route_mapping(const ApiRequest& req, const store::Principal& who, const std::vector<std::string_view>& parts, std::string_view query,
                       std::function<void(ApiResponse)>& respond);
    // The organization's mapped tenant in the plugin's context, and in the input parameter the
    // manifest names for it (organizations.parameter).
    std::optional<Error> bind_organization(invoker::InvokeRequest& ir, const mapping::Resolved& r) const;
    void refresh_organizations(const ApiRequest& req, const store::Principal& who, std::string connection,
                               std::function<void(ApiResponse)> respond);
    void start_refresh(const ApiRequest& req, const store::Principal& who, std::string connection,
                       std::shared_ptr<std::function<void(ApiResponse)>> reply, std::shared_ptr<std::atomic<bool>> answered);

    catalog::Catalog& catalog_;
    invoker::Invoker& invoker_;
    store::PrincipalStore& principals_;
    control::ControlPlane& control_;
    std::shared_ptr<oauth::Manager> oauth_;
    triggers::Subscriptions& subscriptions_;
    triggers::EventLog& events_;
    triggers::PushDelivery& push_;
    mapping::Organizations& organizations_;
    mapping::Mappings& mappings_;
};

// {"name", "title", "version", "status", "error"?, "actions": [...names], ...} for listings.
boost::json::object summarize(const catalog::Entry& entry);
// The full description: summary plus schemas, triggers and auth types.
boost::json::object describe(const catalog::Entry& entry);

}  // namespace patchbay::api
