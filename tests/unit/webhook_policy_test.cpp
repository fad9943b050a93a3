// Webhook verification as the manifest declares it: known HMAC answers, the GitHub, Slack and
// Stripe styles, and every way a delivery must be refused (wrong secret, one byte changed, stale
// or future timestamp, missing or malformed header).
#include "common/crypto.hpp"
#include "triggers/webhook_policy.hpp"

#include <boost/json.hpp>
#include <catch2/catch.hpp>

namespace json = boost::json;
namespace tr = patchbay::triggers;
using namespace std::chrono;

namespace {

tr::WebhookPolicy policy(const char* text) {
    auto p = tr::parse_webhook_policy(json::parse(text));
    INFO((p ? "" : p.error().message));
    REQUIRE(p.ok());
    return std::move(p).value();
}

std::string parse_error(const char* text) {
    auto p = tr::parse_webhook_policy(json::parse(text));
    REQUIRE_FALSE(p.ok());
    return p.error().message;
}

// "" when verified, else the reason.
std::string check(const tr::WebhookPolicy& p, tr::IncomingWebhook in, std::vector<std::string> secrets) {
    auto e = tr::verify_webhook(p, in, secrets);
    if (e) CHECK(e->code == patchbay::Errc::signature_invalid);
    return e ? e->message : "";
}

system_clock::time_point at(int64_t unix_seconds) { return system_clock::time_point(seconds(unix_seconds)); }

}  // namespace

TEST_CASE("HMAC answers match the RFC test vectors", "[webhook]") {
    namespace c = patchbay::crypto;
    // RFC 2202 and RFC 4231, test case 2.
    CHECK(c::hex(c::hmac(c::Mac::hmac_sha1, "Jefe", "what do ya want for nothing?")) == "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79");
    CHECK(c::hex(c::hmac(c::Mac::hmac_sha256, "Jefe", "what do ya want for nothing?")) ==
          "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
    CHECK(c::from_hex("00fFab") == std::string("\0\xff\xab", 3));
    CHECK_FALSE(c::from_hex("0g"));
    CHECK_FALSE(c::from_hex("abc"));
}

TEST_CASE("GitHub style: HMAC-SHA256 of the raw body as sha256={hex}", "[webhook]") {
    auto p = policy(R"({"signature": {"algorithm": "hmac-sha256", "header": "X-Hub-Signature-256", "format": "sha256={hex}"},
                        "deliveryId": "X-GitHub-Delivery"})");
    // The example from GitHub's documentation on validating webhook deliveries.
    const std::string secret = "It's a Secret to Everybody";
    tr::IncomingWebhook in{{{"x-hub-signature-256", "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"}}, "Hello, World!"};
    CHECK(check(p, in, {secret}) == "");
    CHECK(tr::sign_webhook(*p.signature, secret, "Hello, World!") == in.headers[0].second);
    CHECK(check(p, in, {"another secret", secret}) == "");  // while a secret is rotated, either opens it
    CHECK(check(p, in, {"It's a secret to everybody"}).find("does not match") != std::string::npos);
    // One byte of the body changed.
    tr::IncomingWebhook changed = in;
    changed.body = "Hello, World?";
    CHECK(check(p, changed, {secret}).find("does not match") != std::string::npos);
    // The header missing, or written another way.
    CHECK(check(p, tr::IncomingWebhook{{}, "Hello, World!"}, {secret}).find("X-Hub-Signature-256 header (its signature) is missing") !=
          std::string::npos);
    tr::IncomingWebhook sha1_form{{{"X-Hub-Signature-256", "sha1=757107ea0eb2509fc211221cce984b8a37570b6d"}}, "Hello, World!"};
    CHECK(check(p, sha1_form, {secret}).find("not in the form 'sha256={hex}'") != std::string::npos);
    tr::IncomingWebhook not_hex{{{"X-Hub-Signature-256", "sha256=zz"}}, "Hello, World!"};
    CHECK(check(p, not_hex, {secret}).find("not hex") != std::string::npos);
    // No secret to check with: refused, never waved through.
    CHECK(check(p, in, {}).find("no signing secret") != std::string::npos);
    // The reason never carries the secret or the expected signature.
    std::string reason = check(p, changed, {secret});
    CHECK(reason.find(secret) == std::string::npos);
    CHECK(reason.find(patchbay::crypto::hex(patchbay::crypto::hmac(patchbay::crypto::Mac::hmac_sha256, secret, "Hello, World?"))) ==
          std::string::npos);
}

TEST_CASE("Slack style: a signed template of version, timestamp and body, with a timestamp tolerance", "[webhook]") {
    auto p = policy(R"({"signature": {"algorithm": "hmac-sha256", "header": "X-Slack-Signature", "format": "v0={hex}",
                                      "signed": "v0:{timestamp}:{body}"},
                        "timestamp": {"header": "X-Slack-Request-Timestamp", "tolerance": "5m"}})");
    CHECK(p.tolerance == seconds(300));
    const std::string secret = "8f742231b10e8888abcd99yyyzzz85a5";
    const std::string body = "token=xyz&team_id=T1&command=%2Fweather&text=94070";
    const int64_t t = 1'531'420'618;
    // Computed independently of the signer: HMAC over "v0:<t>:<body>".
    std::string expected = "v0=" + patchbay::crypto::hex(patchbay::crypto::hmac(patchbay::crypto::Mac::hmac_sha256, secret,
                                                                                 "v0:" + std::to_string(t) + ":" + body));
    CHECK(tr::sign_webhook(*p.signature, secret, body, std::to_string(t)) == expected);
    auto delivery = [&](int64_t stamp, int64_t now, std::string sig) {
        return tr::IncomingWebhook{{{"X-Slack-Signature", std::move(sig)}, {"X-Slack-Request-Timestamp", std::to_string(stamp)}}, body, at(now)};
    };
    CHECK(check(p, delivery(t, t + 299, expected), {secret}) == "");
    CHECK(check(p, delivery(t, t - 299, expected), {secret}) == "");
    CHECK(check(p, delivery(t, t + 301, expected), {secret}).find("301 s old") != std::string::npos);
    CHECK(check(p, delivery(t, t - 400, expected), {secret}).find("400 s in the future") != std::string::npos);
    // A fresh timestamp on an old signature: the signature covers the time, so it fails.
    CHECK(check(p, delivery(t + 1000, t + 1000, expected), {secret}).find("does not match") != std::string::npos);
    tr::IncomingWebhook no_time{{{"X-Slack-Signature", expected}}, body, at(t)};
    CHECK(check(p, no_time, {secret}).find("X-Slack-Request-Timestamp header (its timestamp) is missing") != std::string::npos);
    CHECK(check(p, delivery(t, t, expected), {secret}) == "");
    tr::IncomingWebhook garbage_time{{{"X-Slack-Signature", expected}, {"X-Slack-Request-Timestamp", "yesterday"}}, body, at(t)};
    CHECK(check(p, garbage_time, {secret}).find("not a Unix time") != std::string::npos);
}

TEST_CASE("Stripe style: t= and several v1= in one header, signed as {timestamp}.{body}", "[webhook]") {
    auto p = policy(R"({"signature": {"algorithm": "hmac-sha256", "header": "Stripe-Signature", "format": "t={timestamp},v1={hex}",
                                      "signed": "{timestamp}.{body}"}})");
    CHECK(p.signs_time());
    const std::string secret = "whsec_test", body = R"({"id":"evt_1","type":"charge.succeeded"})";
    const int64_t t = 1'700'000'000;
    std::string good = patchbay::crypto::hex(patchbay::crypto::hmac(patchbay::crypto::Mac::hmac_sha256, secret, std::to_string(t) + "." + body));
    CHECK(tr::sign_webhook(*p.signature, secret, body, std::to_string(t)) == "t=" + std::to_string(t) + ",v1=" + good);
    auto delivery = [&](std::string header, int64_t now = 1'700'000'000) {
        return tr::IncomingWebhook{{{"stripe-signature", std::move(header)}}, body, at(now)};
    };
    CHECK(check(p, delivery("t=" + std::to_string(t) + ",v1=" + good), {secret}) == "");
    // Another v1 from an older secret next to the good one; any match passes.
    CHECK(check(p, delivery("t=" + std::to_string(t) + ",v1=" + std::string(64, 'a') + ", v1=" + good + ",v0=00"), {secret}) == "");
    CHECK(check(p, delivery("t=" + std::to_string(t) + ",v1=" + std::string(64, 'a')), {secret}).find("does not match") != std::string::npos);
    CHECK(check(p, delivery("v1=" + good), {secret}).find("no 't=' timestamp") != std::string::npos);
    CHECK(check(p, delivery("t=" + std::to_string(t)), {secret}).find("no 'v1=' signature") != std::string::npos);
    CHECK(check(p, delivery("t=" + std::to_string(t) + ",v1=" + good, t + 3600), {secret}).find("3600 s old") != std::string::npos);
    // Milliseconds are read as such.
    auto ms = policy(R"({"signature": {"algorithm": "hmac-sha256", "header": "S", "format": "t={timestamp},v1={hex}", "signed": "{timestamp}.{body}"}})");
    std::string stamp = std::to_string(t * 1000);
    std::string sig = tr::sign_webhook(*ms.signature, secret, body, stamp);
    CHECK(check(ms, tr::IncomingWebhook{{{"S", sig}}, body, at(t + 10)}, {secret}) == "");
}

TEST_CASE("base64 signatures, HMAC-SHA1 and the delivery id in the signed text", "[webhook]") {
    auto shopify = policy(R"({"signature": {"algorithm": "hmac-sha256", "header": "X-Shopify-Hmac-Sha256", "format": "{base64}"}})");
    std::string sig = patchbay::crypto::base64(patchbay::crypto::hmac(patchbay::crypto::Mac::hmac_sha256, "s3cret", "{}"));
    CHECK(check(shopify, tr::IncomingWebhook{{{"X-Shopify-Hmac-Sha256", sig}}, "{}"}, {"s3cret"}) == "");
    CHECK(check(shopify, tr::IncomingWebhook{{{"X-Shopify-Hmac-Sha256", "!!"}}, "{}"}, {"s3cret"}).find("not base64") != std::string::npos);

    auto sha1 = policy(R"({"signature": {"algorithm": "HMAC-SHA1", "header": "X-Signature", "format": "sha1={hex}"}})");
    std::string s1 = "sha1=" + patchbay::crypto::hex(patchbay::crypto::hmac(patchbay::crypto::Mac::hmac_sha1, "k", "body"));
    CHECK(check(sha1, tr::IncomingWebhook{{{"X-Signature", s1}}, "body"}, {"k"}) == "");
    CHECK_FALSE(check(sha1, tr::IncomingWebhook{{{"X-Signature", s1}}, "body "}, {"k"}).empty());

    auto with_id = policy(R"({"signature": {"algorithm": "hmac-sha256", "header": "webhook-signature", "format": "v1,{base64}",
                                            "signed": "{id}.{timestamp}.{body}"},
                              "timestamp": {"header": "webhook-timestamp"}, "deliveryId": "webhook-id"})");
    std::string signed_sig = tr::sign_webhook(*with_id.signature, "k", "{}", "1700000000", "msg_1");
    tr::IncomingWebhook in{{{"webhook-id", "msg_1"}, {"webhook-timestamp", "1700000000"}, {"webhook-signature", signed_sig}}, "{}", at(1'700'000'000)};
    CHECK(check(with_id, in, {"k"}) == "");
    in.headers[2].second = "v1,bm90IGl0 " + signed_sig;  // several signatures, space-separated
    CHECK(check(with_id, in, {"k"}) == "");
    in.headers[0].second = "msg_2";  // the same signature does not carry over to another delivery id
    CHECK(check(with_id, in, {"k"}).find("does not match") != std::string::npos);
}

TEST_CASE("a manifest's webhook block is checked, with errors saying what to write", "[webhook]") {
    CHECK(parse_error(R"({"signature": {"header": "X"}})").find("algorithm must be hmac-sha256 or hmac-sha1") != std::string::npos);
    CHECK(parse_error(R"({"signature": {"algorithm": "md5", "header": "X"}})").find("not 'md5'") != std::string::npos);
    CHECK(parse_error(R"({"signature": {"algorithm": "hmac-sha256"}})").find("signature.header is required") != std::string::npos);
    CHECK(parse_error(R"({"signature": {"algorithm": "hmac-sha256", "header": "X", "format": "sha256="}})").find("exactly one {hex} or {base64}") !=
          std::string::npos);
    CHECK(parse_error(R"({"signature": {"algorithm": "hmac-sha256", "header": "X", "format": "{sig}"}})").find("names {sig}") != std::string::npos);
    CHECK(parse_error(R"({"signature": {"algorithm": "hmac-sha256", "header": "X", "signed": "{timestamp}"}})").find("{body} exactly once") !=
          std::string::npos);
    CHECK(parse_error(R"({"signature": {"algorithm": "hmac-sha256", "header": "X", "signed": "{timestamp}.{body}"}})").find("say where it comes from") !=
          std::string::npos);
    CHECK(parse_error(R"({"signature": {"algorithm": "hmac-sha256", "header": "X", "signed": "{id}.{body}"}})").find("deliveryId") !=
          std::string::npos);
    CHECK(parse_error(R"({"signature": {"algorithm": "hmac-sha256", "header": "X", "format": "t={when},v1={hex}"}})").find("names {when}") !=
          std::string::npos);
    CHECK(parse_error(R"({"signature": {"algorithm": "hmac-sha256", "header": "X", "sign": "{body}"}})").find("unknown key 'sign'") !=
          std::string::npos);
    CHECK(parse_error(R"({"timestamp": {"tolerance": "5m"}})").find("timestamp.header is required") != std::string::npos);
    CHECK(parse_error(R"({"timestamp": {"header": "T", "tolerance": "2d"}})").find("between 1s and 24h") != std::string::npos);
    CHECK(parse_error(R"({"deliveryId": 5})").find("deliveryId must name the header") != std::string::npos);
    CHECK(parse_error(R"({"verify": true})").find("unknown key 'verify'") != std::string::npos);
    CHECK(policy(R"({"verifiedBy": "plugin"})").plugin_verifies);
    CHECK(parse_error(R"({"verifiedBy": "magic"})").find("verifiedBy is host") != std::string::npos);
    CHECK(parse_error(R"({"verifiedBy": "plugin", "signature": {"algorithm": "hmac-sha1", "header": "X"}})").find("the plugin checks them") !=
          std::string::npos);
    // No signature at all is a valid policy: such a tool's subscriptions must be marked unsigned.
    CHECK_FALSE(policy("{}").signature);
    CHECK_FALSE(policy("null").signature);
}
