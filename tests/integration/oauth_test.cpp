// OAuth2 against a real provider (oauth2-mock-server on 127.0.0.1): the authorization code grant
// with PKCE and state through the callback page, client credentials, refresh ahead of expiry and
// on a 401, rotated refresh tokens, invalid_grant, and one refresh for many concurrent calls, in
// one process and across two processes sharing a store.
#include "test_support.hpp"

#include <boost/json.hpp>
#include <boost/url.hpp>
#include <catch2/catch.hpp>

#include <future>
#include <memory>

using namespace testing;
namespace json = boost::json;

namespace {

// The testkit plugin with one OAuth2 auth type pointing at the provider.
std::string manifest(const OAuthProvider& p, const std::string& type) {
    std::string auth = "auth:\n  - type: " + type + "\n    tokenUrl: " + p.url("/token") + "\n    scopes: [read, write]\n";
    if (type == "oauth2_authorization_code") auth += "    authorizationUrl: " + p.url("/authorize") + "\n";
    return testkit_manifest("kit", "v1") + auth;
}

std::string create_connection(const Served& s, const OAuthProvider& p, const std::string& name) {
    auto r = s.call("POST", "/v1/connections",
                    json::serialize(json::object{{"integration", "kit"}, {"name", name}, {"base_url", p.url("/api")},
                                                 {"settings", json::object{{"client_id", "patchbay-test"}}},
                                                 {"secrets", json::object{{"client_secret", "canary-client-secret"}}}}));
    REQUIRE(r.status == 201);
    return std::string(r.json().at("id").as_string());
}

Response whoami(const Served& s, const OAuthProvider& p, const std::string& connection) {
    return s.call("POST", "/v1/integrations/kit/actions/fetch/invoke",
                  json::serialize(json::object{{"input", json::object{{"url", p.url("/api/me")}}}, {"connection", connection}}));
}

int upstream_status(const Response& r) { return static_cast<int>(r.json().at("output").at("status").to_number<int64_t>()); }

// Runs the browser's part of an authorization: start, follow the provider's redirect, land on the
// callback. Returns the callback's response.
Response authorize(const Served& s, const std::string& connection, std::string* callback_url = nullptr) {
    auto started = s.call("POST", "/v1/connections/" + connection + "/authorize");
    REQUIRE(started.status == 200);
    std::string login(started.json().at("authorization_url").as_string());
    auto redirect = http("GET", login);  // the provider logs the user in at once and redirects
    REQUIRE(redirect.status == 302);
    std::string back = redirect.headers.at("location");
    REQUIRE(back.rfind(s.url() + "/oauth/callback?", 0) == 0);
    if (callback_url) *callback_url = back;
    return http("GET", back);
}

// A provider, a runtime with the kit integration installed, and one OAuth2 connection.
struct World {
    OAuthProvider provider;
    TempDir folder;
    std::unique_ptr<Served> served;
    std::string id;

    explicit World(const std::string& type, std::vector<std::string> serve_args = {}) {
        write_file(folder / "kit.yaml", manifest(provider, type));
        served = std::make_unique<Served>(folder.path(), std::move(serve_args));
        served->install({"kit"});
        id = create_connection(*served, provider, "crm");
    }
};

}  // namespace

TEST_CASE("authorization code with PKCE: login redirect, callback page, tokens sealed and used", "[oauth]") {
    World w("oauth2_authorization_code");
    auto& [provider, folder, served, id] = w;
    Served& server = *served;

    // Not authorized yet: the status says so and calls are refused with what to do.
    auto before = server.call("GET", "/v1/connections/" + id);
    CHECK(before.json().at("authorization").at("status") == "pending");
    auto early = whoami(server, provider, id);
    CHECK(early.status == 409);
    CHECK(early.error_code() == "REAUTHORIZATION_REQUIRED");
    CHECK(early.body.find("/authorize") != std::string::npos);

    std::string callback;
    auto landed = authorize(server, id, &callback);
    CHECK(landed.status == 200);
    CHECK(landed.headers.at("content-type").rfind("text/html", 0) == 0);
    CHECK(landed.body.find("data-ok=\"true\"") != std::string::npos);
    CHECK(landed.body.find("Connection &#39;crm&#39; is authorized") != std::string::npos);

    // What the provider saw: PKCE S256, a state, our callback, the manifest's scopes.
    auto seen = provider.stats().at("last_authorize").as_object();
    CHECK(seen.at("code_challenge_method") == "S256");
    CHECK(seen.at("code_challenge").as_string().size() == 43);
    CHECK(seen.at("state").as_string().size() >= 43);
    CHECK(seen.at("redirect_uri").as_string() == server.url() + "/oauth/callback");
    CHECK(seen.at("scope") == "read write");
    CHECK(provider.grants("authorization_code") == 1);

    // A state works once; a made-up one not at all.
    auto replay = http("GET", callback);
    CHECK(replay.status == 400);
    CHECK(replay.body.find("already used") != std::string::npos);
    auto forged = http("GET", server.url() + "/oauth/callback?state=forged&code=abc");
    CHECK(forged.status == 400);
    CHECK(provider.grants("authorization_code") == 1);
    // A provider's refusal lands on the page too.
    auto denied_start = server.call("POST", "/v1/connections/" + id + "/authorize");
    std::string login(denied_start.json().at("authorization_url").as_string());
    auto state = boost::urls::url_view(login).params().find("state");
    auto denied = http("GET", server.url() + "/oauth/callback?state=" + std::string((*state).value) + "&error=access_denied");
    CHECK(denied.status == 400);
    CHECK(denied.body.find("access_denied") != std::string::npos);

    auto after = server.call("GET", "/v1/connections/" + id);
    CHECK(after.json().at("authorization").at("status") == "authorized");
    CHECK(after.json().at("authorization").as_object().contains("expires_at"));
    CHECK(after.json().at("secrets").as_object().contains("refresh_token"));  // sealed, shown masked
    CHECK(after.body.find("eyJ") == std::string::npos);                        // no token in any view

    auto me = whoami(server, provider, id);
    INFO(me.body);
    REQUIRE(me.status == 200);
    CHECK(upstream_status(me) == 200);
    CHECK(me.body.find("johndoe") != std::string::npos);

    auto audit = server.call("GET", "/v1/audit");
    CHECK(audit.body.find("connection.authorize") != std::string::npos);
    // Only the owner may authorize: starting is a change of credentials.
    CHECK(server.call("POST", "/v1/connections/nope/authorize").status == 404);
    for (const auto& text : {audit.body, server.stderr_text()}) CHECK(text.find("canary-client-secret") == std::string::npos);
}

TEST_CASE("refresh: ahead of expiry, rotated refresh tokens, on a 401, and invalid_grant", "[oauth]") {
    World w("oauth2_authorization_code", {"--oauth-refresh-margin", "60"});
    auto& [provider, folder, served, id] = w;
    Served& server = *served;

    // Tokens that live 30 s are always inside the 60 s margin: every call refreshes first, each
    // time with the refresh token the previous refresh returned (the provider accepts only the newest).
    provider.configure(R"({"expires_in": 30})");
    REQUIRE(authorize(server, id).status == 200);
    for (int i = 0; i < 3; ++i) {
        auto me = whoami(server, provider, id);
        INFO(me.body);
        REQUIRE(me.status == 200);
        CHECK(upstream_status(me) == 200);
    }
    CHECK(provider.grants("refresh_token") == 3);
    CHECK(provider.stats().at("refused") == 0);

    // Longer-lived tokens: one more refresh (the 30 s one is still inside the margin), then none.
    provider.configure(R"({"expires_in": 3600})");
    CHECK(upstream_status(whoami(server, provider, id)) == 200);
    CHECK(provider.grants("refresh_token") == 4);
    CHECK(upstream_status(whoami(server, provider, id)) == 200);
    CHECK(provider.grants("refresh_token") == 4);

    // The provider forgets its access tokens: the 401 triggers one refresh and one retry.
    provider.configure(R"({"revoke_access": true})");
    auto again = whoami(server, provider, id);
    INFO(again.body);
    CHECK(upstream_status(again) == 200);
    CHECK(provider.grants("refresh_token") == 5);

    // invalid_grant: the connection needs a new authorization, and says so.
    provider.configure(R"({"revoke_access": true, "fail_next": "invalid_grant"})");
    auto refused = whoami(server, provider, id);
    CHECK(refused.status == 409);
    CHECK(refused.error_code() == "REAUTHORIZATION_REQUIRED");
    auto status = server.call("GET", "/v1/connections/" + id).json().at("authorization");
    CHECK(status.at("status") == "reauthorization_required");
    CHECK(status.at("message").as_string().find("invalid_grant") != std::string::npos);
    int grants = provider.grants("refresh_token");
    CHECK(whoami(server, provider, id).error_code() == "REAUTHORIZATION_REQUIRED");  // fails fast
    CHECK(provider.grants("refresh_token") == grants);

    // Authorizing again mends it.
    REQUIRE(authorize(server, id).status == 200);
    CHECK(upstream_status(whoami(server, provider, id)) == 200);
    CHECK(server.call("GET", "/v1/connections/" + id).json().at("authorization").at("status") == "authorized");
}

TEST_CASE("many concurrent calls on an expired token cause one refresh", "[oauth]") {
    World w("oauth2_authorization_code");
    auto& [provider, folder, served, id] = w;
    Served& server = *served;
    provider.configure(R"({"expires_in": 30})");  // inside the default 60 s margin: stale at once
    REQUIRE(authorize(server, id).status == 200);
    provider.configure(R"({"expires_in": 3600, "delay_ms": 300})");

    std::vector<std::future<Response>> calls;
    for (int i = 0; i < 12; ++i) calls.push_back(std::async(std::launch::async, [&] { return whoami(server, provider, id); }));
    for (auto& c : calls) {
        auto r = c.get();
        INFO(r.body);
        CHECK(r.status == 200);
        CHECK(upstream_status(r) == 200);
    }
    CHECK(provider.grants("refresh_token") == 1);
}

TEST_CASE("client credentials: one token for concurrent calls across two processes sharing a store", "[oauth]") {
    World w("oauth2_client_credentials");
    auto& [provider, folder, served, id] = w;
    Served& first = *served;
    CHECK(first.call("GET", "/v1/connections/" + id).json().at("authorization").at("status") == "pending");
    Served second(folder.path(), {"--data", first.data_dir().string()});
    auto on_second = [&] {
        return second.call_as(first.admin_token(), "POST", "/v1/integrations/kit/actions/fetch/invoke",
                              json::serialize(json::object{{"input", json::object{{"url", provider.url("/api/me")}}}, {"connection", id}}));
    };
    provider.configure(R"({"delay_ms": 400, "client_secret": "canary-client-secret"})");

    std::vector<std::future<Response>> calls;
    for (int i = 0; i < 6; ++i) {
        calls.push_back(std::async(std::launch::async, [&] { return whoami(first, provider, id); }));
        calls.push_back(std::async(std::launch::async, on_second));
    }
    for (auto& c : calls) {
        auto r = c.get();
        INFO(r.body);
        CHECK(r.status == 200);
        CHECK(upstream_status(r) == 200);
    }
    CHECK(provider.grants("client_credentials") == 1);
    CHECK(first.call("GET", "/v1/connections/" + id).json().at("authorization").at("status") == "authorized");

    // A wrong client secret is the admin's to fix, not a re-authorization.
    provider.configure(R"({"revoke_access": true, "client_secret": "rotated-at-the-provider"})");
    auto refused = whoami(first, provider, id);
    CHECK(refused.error_code() == "UPSTREAM_AUTH_FAILED");
    CHECK(refused.body.find("invalid_client") != std::string::npos);
    CHECK(refused.body.find("canary-client-secret") == std::string::npos);
}
