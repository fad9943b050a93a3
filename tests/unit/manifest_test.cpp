#include "manifest/manifest.hpp"

#include <boost/json.hpp>
#include <catch2/catch.hpp>

using namespace patchbay::manifest;

namespace {

const std::string kHead = "apiVersion: patchbay/v1\nname: demo\nversion: 1.0.0\ntitle: Demo\nlibrary: libdemo.so\n";

ParseResult parse(const std::string& text) { return parse_manifest_text(text, "/m/demo.yaml"); }

struct Case {
    const char* what;
    std::string text;
    int line;           // expected line of the first diagnostic (0 = not tied to a line)
    const char* needle; // expected in its message
};

}  // namespace

TEST_CASE("a complete manifest parses into its parts", "[manifest]") {
    auto r = parse(kHead + R"(description: A demo
sha256: ABCDEF0123456789abcdef0123456789ABCDEF0123456789abcdef0123456789
config:
  base: https://api.example.com
rawSecrets: true
auth:
  - type: api_key
    in: header
    parameter: X-Api-Key
  - type: oauth2_authorization_code
    authorizationUrl: https://login.example.com/authorize
    tokenUrl: https://login.example.com/token
    scopes: [read, write]
  - type: custom
    name: tenant
    fields:
      - {name: tenant_id, title: Tenant}
      - {name: signing_key, secret: true}
actions:
  - name: create_ticket
    title: Create a ticket
    timeout: 1500ms
    idempotent: false
    input:
      type: object
      required: [subject]
      properties:
        subject: {type: string, minLength: 1}
        priority: {type: integer, enum: [1, 2, 3]}
        due: {type: string, format: date-time}
    output: {type: object}
triggers:
  - name: ticket_created
    title: Ticket created
    kind: webhook
    webhook: {signature: {header: X-Signature, algorithm: hmac-sha256}}
    event: {type: object}
  - name: sync
    title: Sync
    kind: poll
  - name: nightly
    title: Nightly
    kind: schedule
    cron: "0 2 * * *"
organizations:
  supported: true
  pageSize: 50
  domain: /website
  parameter: companyId
x-vendor-note: extensions are allowed
)");
    INFO((r.diagnostics.empty() ? "" : r.diagnostics[0].to_string()));
    REQUIRE(r.manifest);
    const auto& m = *r.manifest;
    CHECK(m.name == "demo");
    CHECK(m.library->string() == "/m/libdemo.so");
    CHECK(m.sha256 == std::string("abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789"));
    CHECK(m.raw_secrets);
    REQUIRE(m.auth.size() == 3);
    CHECK(m.auth[0].fields.at(0).secret);
    CHECK(m.auth[1].scopes == std::vector<std::string>{"read", "write"});
    CHECK(m.auth[2].name == "tenant");
    CHECK(m.auth[2].fields.size() == 2);
    REQUIRE(m.actions.size() == 1);
    CHECK(m.actions[0].timeout == std::chrono::milliseconds(1500));
    CHECK(m.actions[0].input.validate(boost::json::parse(R"({"subject":"hi","priority":2})")).empty());
    CHECK_FALSE(m.actions[0].input.validate(boost::json::parse(R"({"subject":"hi","priority":7})")).empty());
    REQUIRE(m.triggers.size() == 3);
    CHECK(m.triggers[1].interval == std::chrono::minutes(5));  // the poll default
    CHECK(m.triggers[2].cron == "0 2 * * *");
    CHECK(m.organizations);
    CHECK(m.organizations_config.at("parameter") == "companyId");
    CHECK(m.organizations_config.at("domain") == "/website");
    CHECK(m.config.at("base").as_string() == "https://api.example.com");
}

TEST_CASE("YAML scalars keep their types in schemas", "[manifest]") {
    auto r = parse(kHead + R"(actions:
  - name: a
    title: A
    input:
      type: object
      properties:
        code: {type: string, enum: ["1", "true", "null"]}
        n: {type: integer, maximum: 10}
)");
    REQUIRE(r.manifest);
    const auto& s = r.manifest->actions[0].input;
    CHECK(s.validate(boost::json::parse(R"({"code":"1","n":10})")).empty());
    CHECK_FALSE(s.validate(boost::json::parse(R"({"code":1})")).empty());
    CHECK_FALSE(s.validate(boost::json::parse(R"({"n":11})")).empty());
}

TEST_CASE("plugin manifests configure another plugin", "[manifest]") {
    auto r = parse("apiVersion: patchbay/v1\nname: petstore\nversion: 0.1.0\ntitle: Pets\nplugin: openapi\nconfig: {spec: pets.yaml}\n"
                   "actions:\n  - {name: list_pets, title: List pets}\n");
    REQUIRE(r.manifest);
    CHECK(r.manifest->plugin == std::string("openapi"));
    CHECK_FALSE(r.manifest->library);
}

TEST_CASE("malformed manifests name the file, line and column and say what to write", "[manifest]") {
    const std::vector<Case> cases = {
        {"empty file", "", 0, "the file is empty"},
        {"not a mapping", "- just\n- a list\n", 1, "must be a mapping"},
        {"YAML syntax", "name: [unclosed\n", 2, "YAML syntax error"},
        {"bad indentation", "apiVersion: patchbay/v1\n  name: x\n", 2, "YAML syntax error"},
        {"missing apiVersion", "name: demo\nversion: 1.0.0\ntitle: D\nlibrary: x.so\n", 1, "missing required key 'apiVersion'"},
        {"wrong apiVersion", "apiVersion: patchbay/v9\nname: demo\nversion: 1.0.0\ntitle: D\nlibrary: x.so\n", 1, "is not supported"},
        {"missing name", "apiVersion: patchbay/v1\nversion: 1.0.0\ntitle: D\nlibrary: x.so\n", 1, "missing required key 'name'"},
        {"bad name", "apiVersion: patchbay/v1\nname: My Tool\nversion: 1.0.0\ntitle: D\nlibrary: x.so\n", 2, "lower-case letters"},
        {"bad version", "apiVersion: patchbay/v1\nname: demo\nversion: one\ntitle: D\nlibrary: x.so\n", 3, "semantic version"},
        {"missing title", "apiVersion: patchbay/v1\nname: demo\nversion: 1.0.0\nlibrary: x.so\n", 1, "missing required key 'title'"},
        {"no library or plugin", "apiVersion: patchbay/v1\nname: demo\nversion: 1.0.0\ntitle: D\n", 1, "missing 'library'"},
        {"library and plugin", kHead + "plugin: openapi\n", 6, "either 'library' or 'plugin'"},
        {"bad sha256", kHead + "sha256: 1234\n", 6, "64 hexadecimal"},
        {"unknown key with suggestion", kHead + "acions: []\n", 6, "did you mean 'actions'"},
        {"title is a list", "apiVersion: patchbay/v1\nname: demo\nversion: 1.0.0\ntitle: [a, b]\nlibrary: x.so\n", 4, "must be a single value"},
        {"actions not a list", kHead + "actions: {name: x}\n", 6, "'actions' must be a list"},
        {"action without name", kHead + "actions:\n  - title: T\n", 7, "missing required key 'name'"},
        {"action without title", kHead + "actions:\n  - name: a\n", 7, "missing required key 'title'"},
        {"duplicate action", kHead + "actions:\n  - {name: a, title: A}\n  - {name: a, title: B}\n", 8, "declared twice"},
        {"bad action name", kHead + "actions:\n  - {name: 9lives, title: A}\n", 7, "must start with a letter"},
        {"bad timeout", kHead + "actions:\n  - name: a\n    title: A\n    timeout: soon\n", 9, "positive duration"},
        {"schema type typo", kHead + "actions:\n  - name: a\n    title: A\n    input:\n      type: object\n      properties:\n        x:\n          type: strng\n",
         13, "unknown type"},
        {"schema not a mapping", kHead + "actions:\n  - name: a\n    title: A\n    input: [1]\n", 9, "must be a JSON Schema"},
        {"unknown auth type", kHead + "auth:\n  - type: magic\n", 7, "unknown auth type 'magic'"},
        {"api_key without in", kHead + "auth:\n  - type: api_key\n    parameter: X-Key\n", 7, "missing required key 'in'"},
        {"oauth2 without tokenUrl", kHead + "auth:\n  - type: oauth2_client_credentials\n", 7, "tokenUrl"},
        {"custom auth without fields", kHead + "auth:\n  - type: custom\n", 7, "needs a 'fields' list"},
        {"bad trigger kind", kHead + "triggers:\n  - {name: t, title: T, kind: push}\n", 7, "use webhook, poll or schedule"},
        {"webhook signature without algorithm", kHead + "triggers:\n  - name: t\n    title: T\n    kind: webhook\n    webhook: {signature: {header: X-Sig}}\n", 10,
         "algorithm must be hmac-sha256 or hmac-sha1"},
        {"webhook signed text without the body", kHead + "triggers:\n  - name: t\n    title: T\n    kind: webhook\n    webhook:\n      signature: {algorithm: hmac-sha256, header: X, signed: '{id}'}\n",
         11, "{body} exactly once"},
        {"schedule without cron", kHead + "triggers:\n  - {name: t, title: T, kind: schedule}\n", 7, "needs 'cron'"},
        {"cron in an unknown time zone", kHead + "triggers:\n  - {name: t, title: T, kind: schedule, cron: '0 9 * * *', timezone: Moon/Base}\n", 7,
         "unknown time zone 'Moon/Base'"},
        {"cron with 3 fields", kHead + "triggers:\n  - {name: t, title: T, kind: schedule, cron: '* * *'}\n", 7, "5 fields"},
        {"rawSecrets not boolean", kHead + "rawSecrets: maybe\nactions: []\n", 6, "true or false"},
        {"tab indentation", "apiVersion: patchbay/v1\nname: demo\n\tversion: 1.0.0\n", 3, "YAML syntax error"},
    };
    for (const auto& c : cases) {
        INFO("case: " << c.what);
        auto r = parse(c.text);
        CHECK_FALSE(r.manifest);
        REQUIRE_FALSE(r.diagnostics.empty());
        const auto& d = r.diagnostics.front();
        INFO("got: " << d.to_string());
        CHECK(d.file == "/m/demo.yaml");
        CHECK(d.line == c.line);
        if (c.line > 0) CHECK(d.column >= 1);
        CHECK(d.to_string().find(c.needle) != std::string::npos);
        if (c.line > 0) CHECK(d.to_string().rfind("/m/demo.yaml:" + std::to_string(c.line) + ":", 0) == 0);
    }
    CHECK(cases.size() >= 20);
}

TEST_CASE("every problem of a manifest is reported, not only the first", "[manifest]") {
    auto r = parse("apiVersion: patchbay/v1\nname: Bad Name\nversion: x\ntitle: T\nlibrary: l.so\nactions:\n  - {title: no name}\n");
    CHECK(r.diagnostics.size() == 3);
}

TEST_CASE("durations", "[manifest]") {
    CHECK(parse_duration("30s") == std::chrono::milliseconds(30000));
    CHECK(parse_duration("1500ms") == std::chrono::milliseconds(1500));
    CHECK(parse_duration("2m") == std::chrono::milliseconds(120000));
    CHECK(parse_duration("1h") == std::chrono::milliseconds(3600000));
    CHECK(parse_duration("0.5s") == std::chrono::milliseconds(500));
    CHECK(parse_duration("45") == std::chrono::milliseconds(45000));
    CHECK_FALSE(parse_duration("soon"));
    CHECK_FALSE(parse_duration("5 days"));
    CHECK_FALSE(parse_duration(""));
}

#include "manifest/yaml_json.hpp"
#include "test_support.hpp"

#include <yaml-cpp/yaml.h>

TEST_CASE("the published manifest schema accepts the stock and example manifests and rejects typos", "[manifest]") {
    auto schema_doc = boost::json::parse(testing::read_file(std::string(PATCHBAY_SOURCE_DIR) + "/manifests/manifest.schema.json"));
    auto schema = patchbay::schema::Schema::compile(schema_doc);
    REQUIRE(schema.ok());
    for (auto file : {"/plugins/http/manifest.yaml", "/docs/examples/hello/manifest.yaml"}) {
        INFO(file);
        auto doc = yaml_to_json(YAML::LoadFile(std::string(PATCHBAY_SOURCE_DIR) + file));
        auto v = schema.value().validate(doc);
        INFO((v.empty() ? "" : v[0].pointer + ": " + v[0].message));
        CHECK(v.empty());
        // The runtime's parser agrees.
        CHECK(parse_manifest_file(std::string(PATCHBAY_SOURCE_DIR) + file).diagnostics.empty());
    }
    auto typo = yaml_to_json(YAML::Load(kHead + "acions: []\n"));
    CHECK_FALSE(schema.value().validate(typo).empty());
    auto both = yaml_to_json(YAML::Load(kHead + "plugin: x\n"));
    CHECK_FALSE(schema.value().validate(both).empty());
}
