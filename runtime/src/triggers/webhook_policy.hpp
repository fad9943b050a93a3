// How a webhook trigger's deliveries are checked, as its manifest declares (`webhook:`), and the
// check itself. The host verifies, not the plugin: a tool's signing secret never reaches plugin
// code, and every integration gets the same careful comparison.
//
// Covered: HMAC-SHA256 and HMAC-SHA1 over the raw body or over a template of the body, a
// timestamp and the delivery id (GitHub's "{body}", Slack's "v0:{timestamp}:{body}", Stripe's
// "{timestamp}.{body}"); the signature written as hex or base64 with fixed text around it
// ("sha256={hex}") or as a list of key=value pairs ("t={timestamp},v1={hex}", where several v1
// entries may be present); a timestamp header and a tolerance against replays; the delivery-id
// header deduplication uses. Schemes beyond these are a plugin's webhook hook's job.
#pragma once

#include "common/error.hpp"

#include <boost/json/value.hpp>

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace patchbay::triggers {

struct SignatureRule {
    enum class Algorithm { hmac_sha256, hmac_sha1 };
    Algorithm algorithm = Algorithm::hmac_sha256;
    std::string header;              // where the signature is
    std::string format = "{hex}";    // how it is written there
    std::string signed_template = "{body}";  // what was signed

    // Parsed from `format`: either fixed text around one {hex}/{base64}, or key=value pairs.
    bool pairs = false;
    bool base64 = false;
    std::string prefix, suffix;      // plain form
    std::string signature_key;       // pairs form: the key whose values are signatures ("v1")
    std::string timestamp_key;       // pairs form: the key holding the timestamp ("t"), if any
};

struct WebhookPolicy {
    std::optional<SignatureRule> signature;   // none: the tool does not sign
    std::string timestamp_header;             // a header with the signing time (Unix seconds)
    std::chrono::seconds tolerance{300};      // how far that time may be from now, either way
    std::string delivery_id_header;           // names each delivery; repeats are dropped
    // `verifiedBy: plugin`: a scheme the host does not know (GitLab's token header, Twilio's
    // signature over the URL): the plugin's webhook hook checks each delivery against the
    // subscription's secrets, which it is given for that, and refuses what does not match.
    bool plugin_verifies = false;

    bool signs_time() const;
};

// Reads a manifest's `webhook:` block (as JSON). Errors name the key and say what to write.
Result<WebhookPolicy> parse_webhook_policy(const boost::json::value& block);

struct IncomingWebhook {
    std::vector<std::pair<std::string, std::string>> headers;  // as received; names compared case-insensitively
    std::string_view body;                                      // raw bytes, exactly as received
    std::chrono::system_clock::time_point now = std::chrono::system_clock::now();

    std::optional<std::string_view> header(std::string_view name) const;
};

// Checks a delivery against the policy with any of `secrets` (more than one while a secret is
// being rotated). Fails closed: a missing or malformed header, a stale or future timestamp, or a
// signature no secret produces is refused (SIGNATURE_INVALID) with the reason, never the secret
// or the expected signature. Comparisons take the same time however many bytes match.
Status verify_webhook(const WebhookPolicy& policy, const IncomingWebhook& in, const std::vector<std::string>& secrets);

// The signature a sender would write for `in` under the rule (for tests and the docs' examples).
std::string sign_webhook(const SignatureRule& rule, std::string_view secret, std::string_view body, std::string_view timestamp = {},
                         std::string_view id = {});

}  // namespace patchbay::triggers
