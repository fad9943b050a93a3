// Imported integrations end to end: `patchbay openapi import` writes the manifest, the server
// picks it up, and each action's request reaches a recording upstream exactly as the spec says it
// is serialized (path styles, query arrays and deepObject, headers, cookies, JSON, form and
// multipart bodies) with the connection's credentials only where the operation's security wants them.
#include "common/crypto.hpp"
#include "test_support.hpp"
#include "upstream.hpp"

#include <boost/json.hpp>
#include <catch2/catch.hpp>

using namespace testing;
namespace json = boost::json;

namespace {

fs::path fixture(const std::string& name) { return fs::path(PATCHBAY_SOURCE_DIR) / "tests/fixtures/openapi" / name; }

struct Imported {
    TempDir folder;
    Upstream up;
    std::unique_ptr<Served> server;
    std::string connection;

    Imported(const std::string& spec, const std::string& name, const std::string& auth_type, json::object secrets,
             json::object settings = {}) {
        fs::copy(staged_manifests(), folder.path(), fs::copy_options::recursive);
        auto r = run({patchbay_bin(), "openapi", "import", fixture(spec).string(), "--name", name, "--manifests", folder.path().string()});
        INFO(r.out << r.err);
        REQUIRE(r.exit_code == 0);
        server = std::make_unique<Served>(folder.path());
        server->install({name});
        auto c = server->call("POST", "/v1/connections",
                              json::serialize(json::object{{"integration", name}, {"name", "test"}, {"auth_type", auth_type},
                                                           {"base_url", up.url("/any")}, {"secrets", std::move(secrets)},
                                                           {"settings", std::move(settings)}}));
        INFO(c.body);
        REQUIRE(c.status == 201);
        connection = std::string(c.json().at("id").as_string());
    }

    Response invoke(const std::string& integration, const std::string& action, const std::string& input) {
        return server->call("POST", "/v1/integrations/" + integration + "/actions/" + action + "/invoke",
                            R"({"connection": ")" + connection + R"(", "input": )" + input + "}");
    }
    // The upstream's echo of the request: {method, target, headers, body}.
    json::object sent(const std::string& integration, const std::string& action, const std::string& input) {
        auto r = invoke(integration, action, input);
        INFO(r.body);
        REQUIRE(r.status == 200);
        return r.json().at("output").as_object();
    }
};

std::string header(const json::object& echo, const char* name) {
    const auto* h = echo.at("headers").as_object().if_contains(name);
    return h ? std::string(h->as_string()) : std::string();
}

}  // namespace

TEST_CASE("an imported OpenAPI 3 integration sends each operation as the spec serializes it", "[openapi]") {
    Imported w("petstore.yaml", "pets", "api_key", json::object{{"api_key", "key-123"}});

    auto list = w.sent("pets", "listPets",
                       R"({"tags": ["a b", "c"], "limit": 5, "filter": {"color": "red", "age": 2}, "ids": [1, 2],
                          "X-Request-Id": "r-1", "session": "s1"})");
    CHECK(list.at("method") == "GET");
    CHECK(list.at("target") == "/any/pets?tags=a%20b&tags=c&limit=5&filter%5Bcolor%5D=red&filter%5Bage%5D=2&ids=1%7C2");
    CHECK(header(list, "x-request-id") == "r-1");
    CHECK(header(list, "cookie") == "session=s1");
    CHECK(header(list, "x-api-key") == "key-123");

    CHECK(w.sent("pets", "getPet", R"({"petId": 42})").at("target") == "/any/pets/42");
    CHECK(w.sent("pets", "ownerPets", R"({"ownerId": ["x", "y/z"], "kind": {"a": "b"}})").at("target") ==
          "/any/owners/.x,y%2Fz/pets/;a=b");

    auto created = w.sent("pets", "createPet", R"({"body": {"name": "Rex", "tag": null}})");
    CHECK(created.at("method") == "POST");
    CHECK(header(created, "content-type") == "application/json");
    CHECK(json::parse(created.at("body").as_string()) == json::parse(R"({"name": "Rex", "tag": null})"));

    auto form = w.sent("pets", "searchOwners", R"({"body": {"q": "ann smith", "page": 2}})");
    CHECK(header(form, "content-type") == "application/x-www-form-urlencoded");
    CHECK(form.at("body") == "q=ann%20smith&page=2");

    auto upload = w.sent("pets", "uploadPhoto", R"({"petId": 7, "body": {"caption": "hi", "meta": {"k": 1}, "photo": "AA=="}})");
    CHECK(upload.at("method") == "PUT");
    std::string ct = header(upload, "content-type");
    REQUIRE(ct.rfind("multipart/form-data; boundary=", 0) == 0);
    std::string boundary = ct.substr(ct.find('=') + 1);
    std::string body(upload.at("body").as_string());
    CHECK(body.find("--" + boundary + "\r\nContent-Disposition: form-data; name=\"caption\"\r\n\r\nhi\r\n") != std::string::npos);
    CHECK(body.find("name=\"meta\"\r\nContent-Type: application/json\r\n\r\n{\"k\":1}\r\n") != std::string::npos);
    CHECK(body.find("--" + boundary + "--") != std::string::npos);

    // Files: bytes that are not text arrive exactly, named, with the encoding's content type or
    // the caller's.
    const std::string png("\x89PNG\r\n\x1a\n\0\xff--patchbay-", 21);
    std::string b64 = patchbay::crypto::base64(png);
    json::object files{{"petId", 7},
                       {"body", json::object{{"photo", b64},
                                             {"extras", json::array{json::object{{"text", "notes"}, {"filename", "n\"a\r\n.txt"}, {"content_type", "text/plain"}},
                                                                    b64}}}}};
    auto sent_files = w.sent("pets", "uploadPhoto", json::serialize(files));
    ct = header(sent_files, "content-type");
    REQUIRE(ct.rfind("multipart/form-data; boundary=", 0) == 0);
    boundary = ct.substr(ct.find('=') + 1);
    auto raw = patchbay::crypto::from_base64(sent_files.at("body_base64").as_string());
    REQUIRE(raw);
    CHECK(raw->find("--" + boundary + "\r\nContent-Disposition: form-data; name=\"photo\"; filename=\"photo\"\r\nContent-Type: image/png\r\n\r\n" + png +
                    "\r\n--" + boundary) != std::string::npos);
    // Quotes and line breaks in a file name cannot break out of its header.
    CHECK(raw->find("name=\"extras\"; filename=\"n%22a%0D%0A.txt\"\r\nContent-Type: text/plain\r\n\r\nnotes\r\n") != std::string::npos);
    CHECK(raw->find("name=\"extras\"; filename=\"extras\"\r\nContent-Type: application/octet-stream\r\n\r\n" + png + "\r\n") !=
          std::string::npos);
    CHECK(png.find(boundary) == std::string::npos);

    auto avatar = w.sent("pets", "setAvatar", json::serialize(json::object{{"petId", 7}, {"body", b64}}));
    CHECK(avatar.at("method") == "PUT");
    CHECK(header(avatar, "content-type") == "image/png");
    CHECK(patchbay::crypto::from_base64(avatar.at("body_base64").as_string()) == png);
    auto webp = w.sent("pets", "setAvatar", R"({"petId": 7, "body": {"base64": "UklGRg==", "content_type": "image/webp"}})");
    CHECK(header(webp, "content-type") == "image/webp");
    CHECK(patchbay::crypto::from_base64(webp.at("body_base64").as_string()) == "RIFF");
    // URL-safe base64 and MIME line breaks are read too.
    auto url_safe = w.sent("pets", "setAvatar", R"({"petId": 7, "body": "-_8\r\n"})");
    CHECK(patchbay::crypto::from_base64(url_safe.at("body_base64").as_string()) == "\xfb\xff");
    // Content that is not base64 is refused, naming the field, before anything is sent.
    int sent_before = w.up.requests();
    auto truncated = w.invoke("pets", "setAvatar", R"({"petId": 7, "body": "QUJDR"})");
    CHECK(truncated.status == 400);
    CHECK(truncated.body.find("its length is wrong") != std::string::npos);
    auto not_base64 = w.invoke("pets", "uploadPhoto", R"({"petId": 7, "body": {"photo": "not base64!"}})");
    CHECK(not_base64.status == 400);
    CHECK(not_base64.error_code() == "INVALID_INPUT");
    CHECK(not_base64.body.find("'body.photo' is not base64") != std::string::npos);
    auto neither = w.invoke("pets", "setAvatar", R"({"petId": 7, "body": {"filename": "a.png"}})");
    CHECK(neither.status == 400);
    CHECK(std::string(neither.json().at("error").at("message").as_string()).find("one of \"base64\" or \"text\"") != std::string::npos);
    CHECK(w.up.requests() == sent_before);

    // security: [] — sent without the connection's credentials.
    auto health = w.sent("pets", "health", "{}");
    CHECK(header(health, "x-api-key").empty());
    // An operation that wants another kind of credential is refused before anything is sent.
    int before = w.up.requests();
    auto refused = w.invoke("pets", "deletePet", R"({"petId": 1})");
    CHECK(refused.status == 400);
    CHECK(refused.body.find("needs a connection with auth type bearer") != std::string::npos);
    CHECK(w.up.requests() == before);
    // The input schema from the spec is enforced.
    auto invalid = w.invoke("pets", "createPet", R"({"body": {"name": ""}})");
    CHECK(invalid.status == 400);
    CHECK(invalid.error_code() == "INVALID_INPUT");
}

TEST_CASE("an imported Swagger 2.0 integration: collection formats, body and form parameters", "[openapi]") {
    Imported w("swagger2.json", "legacy", "basic", json::object{{"password", "pw"}}, json::object{{"username", "ada"}});
    auto list = w.sent("legacy", "items.list", R"({"sku": ["a", "b"], "fields": ["x", "y"]})");
    CHECK(list.at("target") == "/any/items?sku=a&sku=b&fields=x,y");
    CHECK(header(list, "authorization") == "Basic YWRhOnB3");
    auto created = w.sent("legacy", "items.create", R"({"body": {"sku": "s-1", "qty": null}})");
    CHECK(json::parse(created.at("body").as_string()).at("sku") == "s-1");
    auto label = w.sent("legacy", "items.label", R"({"id": 3, "body": {"text": "fragile"}})");
    CHECK(label.at("target") == "/any/items/3/label");
    CHECK(label.at("body") == "text=fragile");
    auto image = w.sent("legacy", "items.image", R"({"id": 3, "body": {"image": {"text": "GIF89a", "filename": "l.gif"}, "note": "n"}})");
    CHECK(header(image, "content-type").rfind("multipart/form-data; boundary=", 0) == 0);
    CHECK(image.at("body").as_string().find("name=\"image\"; filename=\"l.gif\"\r\nContent-Type: application/octet-stream\r\n\r\nGIF89a\r\n") !=
          std::string::npos);
    CHECK(image.at("body").as_string().find("name=\"note\"\r\n\r\nn\r\n") != std::string::npos);
    auto blob = w.sent("legacy", "items.blob", R"({"id": 3, "body": "AAEC"})");
    CHECK(header(blob, "content-type") == "application/octet-stream");
    CHECK(patchbay::crypto::from_base64(blob.at("body_base64").as_string()) == std::string("\0\1\2", 3));
    // Every operation requires basic auth (the document's security): a token connection is refused.
    auto other = w.server->call("POST", "/v1/connections",
                                json::serialize(json::object{{"integration", "legacy"}, {"name", "tok"}, {"auth_type", "token"},
                                                             {"base_url", w.up.url("/any")}, {"secrets", json::object{{"api_key", "t"}}}}));
    REQUIRE(other.status == 201);
    auto refused = w.server->call("POST", "/v1/integrations/legacy/actions/items.list/invoke",
                                  R"({"connection": ")" + std::string(other.json().at("id").as_string()) + R"(", "input": {}})");
    CHECK(refused.status == 400);
    CHECK(refused.body.find("auth type basic") != std::string::npos);
}

TEST_CASE("Prism, validating every request against the petstore spec, accepts what the plugin sends", "[openapi][prism]") {
    Prism prism(fixture("petstore.yaml"));
    OAuthProvider provider;
    TempDir folder;
    fs::copy(staged_manifests(), folder.path(), fs::copy_options::recursive);
    auto imported = run({patchbay_bin(), "openapi", "import", fixture("petstore.yaml").string(), "--name", "pets", "--manifests", folder.path().string()});
    REQUIRE(imported.exit_code == 0);
    Served server(folder.path());
    server.install({"pets", "http"});

    // Prism is strict: a request the spec does not allow is a 422, not a mock answer.
    auto bad = server.call("POST", "/v1/integrations/http/actions/request/invoke",
                           json::serialize(json::object{{"input", json::object{{"url", prism.url() + "/pets/not-a-number"},
                                                                               {"headers", json::object{{"X-API-Key", "k"}}}}}}));
    REQUIRE(bad.status == 200);
    CHECK(bad.json().at("output").at("status") == 422);

    auto connect = [&](const std::string& name, const std::string& auth, json::object settings, json::object secrets) {
        auto c = server.call("POST", "/v1/connections",
                             json::serialize(json::object{{"integration", "pets"}, {"name", name}, {"auth_type", auth}, {"base_url", prism.url()},
                                                          {"settings", std::move(settings)}, {"secrets", std::move(secrets)}}));
        INFO(c.body);
        REQUIRE(c.status == 201);
        return std::string(c.json().at("id").as_string());
    };
    std::string key = connect("key", "api_key", {}, {{"api_key", "k-1"}});
    std::string bearer = connect("bearer", "bearer", {}, {{"token", "t-1"}});
    std::string basic = connect("basic", "basic_auth", {{"username", "ada"}}, {{"password", "pw"}});
    std::string oauth = connect("oauth", "oauth", {{"client_id", "pets-app"}, {"token_url", provider.url("/token")}},
                                {{"client_secret", "s"}});

    // Prism's own mock answers can break the spec (it cannot generate the recursive Pet), which it
    // reports as response violations; the request is what is under test here.
    auto call = [&](const std::string& connection, const std::string& action, const std::string& input) {
        auto r = server.call("POST", "/v1/integrations/pets/actions/" + action + "/invoke",
                             R"({"connection": ")" + connection + R"(", "input": )" + input + "}");
        INFO(action << " -> " << r.body);
        if (r.status == 200) return;
        REQUIRE(r.error_code() == "UPSTREAM_ERROR");
        auto doc = r.json();
        const auto& problem = doc.at("error").at("details").at("body");
        CHECK(problem.at("type").as_string().ends_with("#VIOLATIONS"));
        for (const auto& v : problem.at("validation").as_array()) CHECK(v.at("location").at(0) == "response");
    };
    call(key, "listPets", R"({"tags": ["a b", "c"], "limit": 5, "filter": {"color": "red", "age": 2}, "X-Request-Id": "r-1"})");
    call(key, "getPet", R"({"petId": 42})");
    call(key, "createPet", R"({"body": {"name": "Rex", "tag": "dog"}})");
    call(key, "searchOwners", R"({"body": {"q": "ann smith", "page": 2}})");
    // (Prism reads repeated multipart parts as one value, never as an array: `extras`, a list of
    // files, is checked as sent on the recording server instead.)
    call(key, "uploadPhoto", R"({"petId": 7, "body": {"caption": "hi", "photo": "iVBORw0KGgo="}})");
    call(key, "setAvatar", R"({"petId": 7, "body": "iVBORw0KGgo="})");
    call(key, "get.orders", R"({"page": 3})");
    call(key, "health", "{}");
    call(bearer, "deletePet", R"({"petId": 1})");
    call(basic, "adminStats", "{}");
    call(oauth, "listVaccinations", R"({"petId": 1})");
    CHECK(provider.grants("client_credentials") == 1);
    // Prism checked every request: only the deliberately bad one failed its rules.
    std::string log = prism.log();
    auto count = [&](const std::string& what) {
        size_t n = 0;
        for (size_t at = log.find(what); at != std::string::npos; at = log.find(what, at + 1)) ++n;
        return n;
    };
    CHECK(count("Request did not pass the validation rules") == 1);
    CHECK(count("The request passed the validation rules") == 11);
}

TEST_CASE("GitHub's real description: imported, and representative requests pass Prism or match as recorded", "[openapi][prism][github]") {
    fs::path spec = fs::path(PATCHBAY_SOURCE_DIR) / "node_modules/@octokit/openapi/generated/api.github.com.json";
    REQUIRE(fs::exists(spec));
    TempDir folder;
    fs::copy(staged_manifests(), folder.path(), fs::copy_options::recursive);
    const std::string ops =
        "meta/root,repos/get,repos/update,repos/list-for-org,issues/list-for-repo,issues/create,issues/update,search/repos,gists/create,"
        "markdown/render-raw,reactions/create-for-issue,activity/list-notifications-for-authenticated-user";
    auto imported = run({patchbay_bin(), "openapi", "import", spec.string(), "--name", "github", "--manifests", folder.path().string(),
                         "--include-operation", ops, "--report", "json"});
    INFO(imported.err);
    REQUIRE(imported.exit_code == 0);
    auto report = json::parse(imported.out);
    CHECK(report.at("imported") == 12);
    CHECK(report.at("skipped").as_array().empty());

    Prism prism(spec);
    Upstream recorder;
    Served server(folder.path());
    server.install({"github"});
    auto connect = [&](const std::string& name, const std::string& base) {
        auto c = server.call("POST", "/v1/connections",
                             json::serialize(json::object{{"integration", "github"}, {"name", name}, {"base_url", base}}));
        REQUIRE(c.status == 201);
        return std::string(c.json().at("id").as_string());
    };
    std::string mock = connect("prism", prism.url()), recorded = connect("recorder", recorder.url("/any"));
    auto invoke = [&](const std::string& connection, const std::string& action, const std::string& input) {
        return server.call("POST", "/v1/integrations/github/actions/" + action + "/invoke",
                           R"({"connection": ")" + connection + R"(", "input": )" + input + "}");
    };
    const std::vector<std::pair<std::string, std::string>> calls = {
        {"meta.root", "{}"},
        {"repos.get", R"({"owner": "octocat", "repo": "hello-world"})"},
        {"repos.update", R"({"owner": "octocat", "repo": "hello-world", "body": {"description": "new", "private": false}})"},
        {"repos.list-for-org", R"({"org": "github", "type": "public", "sort": "updated", "per_page": 50})"},
        {"issues.list-for-repo", R"({"owner": "octocat", "repo": "hello-world", "state": "open", "labels": "bug,ui", "per_page": 10})"},
        {"issues.update", R"({"owner": "octocat", "repo": "hello-world", "issue_number": 7, "body": {"state": "closed"}})"},
        {"search.repos", R"({"q": "tetris language:assembly", "sort": "stars", "order": "desc"})"},
        {"gists.create", R"({"body": {"files": {"a.txt": {"content": "hello"}}, "public": false}})"},
        {"markdown.render-raw", R"({"body": "# Title"})"},
        {"reactions.create-for-issue", R"({"owner": "octocat", "repo": "hello-world", "issue_number": 7, "body": {"content": "heart"}})"},
        {"activity.list-notifications-for-authenticated-user", R"({"all": true, "since": "2026-01-01T00:00:00Z"})"},
    };
    for (const auto& [action, input] : calls) {
        auto r = invoke(mock, action, input);
        INFO(action << " -> " << r.body.substr(0, 600));
        if (r.status != 200) {
            REQUIRE(r.error_code() == "UPSTREAM_ERROR");
            auto doc = r.json();
            for (const auto& v : doc.at("error").at("details").at("body").at("validation").as_array())
                CHECK(v.at("location").at(0) == "response");
        }
    }
    std::string log = prism.log();
    CHECK(log.find("Request did not pass the validation rules") == std::string::npos);
    size_t passed = 0;
    for (size_t at = log.find("The request passed the validation rules"); at != std::string::npos;
         at = log.find("The request passed the validation rules", at + 1))
        ++passed;
    CHECK(passed == calls.size());

    // Prism cannot compile create-issue's schema and accepts anything there: check that request
    // as sent instead.
    auto sent = invoke(recorded, "issues.create",
                       R"({"owner": "octo cat", "repo": "hello", "body": {"title": "Found a bug", "labels": ["bug"], "assignees": ["ada"]}})");
    INFO(sent.body);
    REQUIRE(sent.status == 200);
    auto echo = sent.json().at("output");
    CHECK(echo.at("method") == "POST");
    CHECK(echo.at("target") == "/any/repos/octo%20cat/hello/issues");
    CHECK(json::parse(echo.at("body").as_string()) == json::parse(R"({"title": "Found a bug", "labels": ["bug"], "assignees": ["ada"]})"));
    CHECK(echo.at("headers").at("content-type") == "application/json");
    // And the spec's own schema refuses an issue without a title before anything is sent.
    int before = recorder.requests();
    auto untitled = invoke(recorded, "issues.create", R"({"owner": "o", "repo": "r", "body": {"labels": ["bug"]}})");
    CHECK(untitled.error_code() == "INVALID_INPUT");
    CHECK(recorder.requests() == before);
}

TEST_CASE("pagination declared per operation: cursor, offset, page number and Link header, with a page cap", "[openapi][paging]") {
    TempDir folder;
    fs::copy(staged_manifests(), folder.path(), fs::copy_options::recursive);
    auto imported = run({patchbay_bin(), "openapi", "import", fixture("paging.yaml").string(), "--name", "paging", "--manifests", folder.path().string()});
    REQUIRE(imported.exit_code == 0);
    Upstream up;
    Served server(folder.path());
    server.install({"paging"});
    auto c = server.call("POST", "/v1/connections", json::serialize(json::object{{"integration", "paging"}, {"name", "c"}, {"base_url", up.url("")}}));
    REQUIRE(c.status == 201);
    std::string id(c.json().at("id").as_string());
    auto all = [&](const std::string& action, const std::string& input, const std::string& extra = R"("all_pages": true)") {
        auto r = server.call("POST", "/v1/integrations/paging/actions/" + action + "/invoke",
                             R"({"connection": ")" + id + R"(", "input": )" + input + ", " + extra + "}");
        INFO(action << " -> " << r.body.substr(0, 400));
        REQUIRE(r.status == 200);
        return r.json().at("output");
    };
    auto ids = [](const json::value& out) {
        std::vector<int64_t> v;
        for (const auto& i : out.at("items").as_array()) v.push_back(i.at("id").as_int64());
        return v;
    };
    std::vector<int64_t> all25(25);
    for (int i = 0; i < 25; ++i) all25[static_cast<size_t>(i)] = i;

    auto cursor = all("companies.cursor", R"({"style": "cursor", "total": 25, "per_page": 10})");
    CHECK(ids(cursor) == all25);
    CHECK(cursor.at("pages") == 3);
    CHECK(cursor.at("complete") == true);
    CHECK(ids(all("companies.offset", R"({"style": "offset", "total": 25})")) == all25);
    auto page = all("companies.page", R"({"style": "page", "total": 25})");
    CHECK(ids(page) == all25);
    CHECK(page.at("pages") == 3);
    CHECK(ids(all("companies.link", R"({"style": "link", "total": 25, "per_page": 10})")) == all25);

    // The cap: fewer pages than there are, and the answer says it is incomplete.
    auto capped = all("companies.cursor", R"({"style": "cursor", "total": 95, "per_page": 10})", R"("all_pages": true, "max_pages": 2)");
    CHECK(capped.at("items").as_array().size() == 20);
    CHECK(capped.at("complete") == false);
    // Without all_pages: one page, the body as the API sent it.
    auto one = all("companies.cursor", R"({"style": "cursor", "total": 25, "per_page": 10})", R"("workflow_id": "wf")");
    CHECK(one.at("data").as_array().size() == 10);
    CHECK(one.at("meta").at("next") == "10");
}

TEST_CASE("POST /v1/openapi/import: admins import a description over the API and the catalog picks it up", "[openapi][api]") {
    TempDir folder;
    fs::copy(staged_manifests(), folder.path(), fs::copy_options::recursive);
    Served server(folder.path());
    json::object body{{"name", "legacy"}, {"spec", json::parse(read_file(fixture("swagger2.json")))}, {"base_url", "https://inv.example.com/api"}};

    auto dry = body;
    dry["dry_run"] = true;
    auto preview = server.call("POST", "/v1/openapi/import", json::serialize(dry));
    REQUIRE(preview.status == 200);
    CHECK(preview.json().at("imported") == 5);
    CHECK_FALSE(fs::exists(folder / "legacy.yaml"));

    auto r = server.call("POST", "/v1/openapi/import", json::serialize(body));
    INFO(r.body);
    REQUIRE(r.status == 201);
    CHECK(fs::exists(folder / "legacy.yaml"));
    CHECK(eventually([&] {
        auto i = server.call("GET", "/v1/integrations/legacy");
        return i.status == 200 && i.json().at("status") == "ready";
    }));
    auto again = server.call("POST", "/v1/openapi/import", json::serialize(body));
    CHECK(again.status == 409);
    body["force"] = true;
    CHECK(server.call("POST", "/v1/openapi/import", json::serialize(body)).status == 201);
    CHECK(server.call("GET", "/v1/audit").body.find("integration.import") != std::string::npos);

    auto broken = server.call("POST", "/v1/openapi/import", R"({"name": "x", "spec": "title: not a spec"})");
    CHECK(broken.status == 400);
    CHECK(broken.body.find("not an OpenAPI") != std::string::npos);
    auto escape = server.call("POST", "/v1/openapi/import",
                              R"({"name": "x", "spec": {"openapi": "3.0.0", "info": {"title": "t", "version": "1"}, "paths": {"/a": {"$ref": "../../etc/passwd"}}}})");
    CHECK(escape.status == 400);  // its only operation refused, and said why
    CHECK(escape.body.find("names a file, but this spec was not read from a folder") != std::string::npos);

    auto member = run({patchbay_bin(), "admin", "--data", server.data_dir().string(), "users", "add", "mel", "--team", "default", "--role", "member"});
    REQUIRE(member.exit_code == 0);
    auto token = run({patchbay_bin(), "admin", "--data", server.data_dir().string(), "tokens", "create", "--team", "default", "--user", "mel"});
    CHECK(server.call_as(token.out.substr(0, token.out.find('\n')), "POST", "/v1/openapi/import", json::serialize(body)).status == 403);
}
