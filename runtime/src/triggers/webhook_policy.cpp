#include "triggers/webhook_policy.hpp"

#include "common/crypto.hpp"
#include "common/text.hpp"

#include <boost/json.hpp>

#include <algorithm>
#include <charconv>
#include <cstdlib>

namespace patchbay::triggers {

namespace json = boost::json;

namespace {

Error bad(std::string what) { return Error(Errc::invalid_input, "webhook: " + std::move(what)); }

std::string text(const json::object& o, std::string_view key) {
    const auto* v = o.if_contains(key);
    return v && v->is_string() ? std::string(v->get_string()) : std::string();
}

// The placeholders of a template: "{body}" etc. Returns the names in order, or an error for an
// unclosed brace.
Result<std::vector<std::string>> placeholders(std::string_view t, std::string_view where) {
    std::vector<std::string> names;
    for (size_t open = t.find('{'); open != std::string_view::npos; open = t.find('{', open + 1)) {
        size_t close = t.find('}', open);
        if (close == std::string_view::npos) return bad(std::string(where) + " '" + std::string(t) + "' has a '{' without its '}'");
        names.emplace_back(t.substr(open + 1, close - open - 1));
        open = close;
    }
    return names;
}

// "300", 300, "300s", "5m".
std::optional<std::chrono::seconds> seconds_of(const json::value& v) {
    if (v.is_int64() && v.get_int64() >= 0) return std::chrono::seconds(v.get_int64());
    if (v.is_uint64()) return std::chrono::seconds(static_cast<int64_t>(v.get_uint64()));
    if (!v.is_string()) return std::nullopt;
    std::string_view s = v.get_string();
    int64_t n = 0;
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), n);
    if (ec != std::errc() || n < 0) return std::nullopt;
    std::string_view unit(end, static_cast<size_t>(s.data() + s.size() - end));
    if (unit.empty() || unit == "s") return std::chrono::seconds(n);
    if (unit == "m") return std::chrono::seconds(n * 60);
    if (unit == "h") return std::chrono::seconds(n * 3600);
    return std::nullopt;
}

Status parse_format(SignatureRule& r) {
    const std::string& f = r.format;
    auto names = placeholders(f, "signature.format");
    if (!names) return names.error();
    size_t sigs = 0;
    for (const auto& n : *names) {
        if (n == "hex" || n == "base64") ++sigs;
        else if (n != "timestamp") return bad("signature.format '" + f + "' names {" + n + "}; use {hex} or {base64} (and {timestamp} in a key=value list)");
    }
    if (sigs != 1) return bad("signature.format '" + f + "' must hold exactly one {hex} or {base64}");
    // A list of key=value pairs ("t={timestamp},v1={hex}"), or fixed text around the signature
    // ("sha256={hex}", "v1,{base64}").
    auto items = comma_list({f});
    bool has_pairs = items.size() > 1 && std::all_of(items.begin(), items.end(), [](const std::string& i) { return i.find("={") != std::string::npos; });
    if (!has_pairs) {
        if (std::find(names->begin(), names->end(), "timestamp") != names->end())
            return bad("signature.format '" + f + "': {timestamp} belongs in a key=value list such as 't={timestamp},v1={hex}'");
        size_t at = f.find('{');
        r.base64 = f.compare(at, 8, "{base64}") == 0;
        r.prefix = f.substr(0, at);
        r.suffix = f.substr(f.find('}', at) + 1);
        return std::nullopt;
    }
    r.pairs = true;
    for (const auto& item : items) {
        size_t eq = item.find('=');
        if (eq == std::string::npos || eq == 0)
            return bad("signature.format '" + f + "': '" + item + "' is not key={value}; write e.g. 't={timestamp},v1={hex}'");
        std::string key = item.substr(0, eq), value = item.substr(eq + 1);
        if (value == "{hex}" || value == "{base64}") {
            r.signature_key = key;
            r.base64 = value == "{base64}";
        } else if (value == "{timestamp}") {
            r.timestamp_key = key;
        } else {
            return bad("signature.format '" + f + "': the value of '" + key + "' must be {hex}, {base64} or {timestamp}");
        }
    }
    return std::nullopt;
}

// The header value split into its key=value items ("t=1,v1=ab,v1=cd").
std::vector<std::pair<std::string_view, std::string_view>> pairs_of(std::string_view v) {
    std::vector<std::pair<std::string_view, std::string_view>> out;
    while (!v.empty()) {
        size_t comma = v.find(',');
        std::string_view item = v.substr(0, comma);
        v = comma == std::string_view::npos ? std::string_view() : v.substr(comma + 1);
        while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
        while (!item.empty() && item.back() == ' ') item.remove_suffix(1);
        size_t eq = item.find('=');
        if (eq != std::string_view::npos) out.emplace_back(item.substr(0, eq), item.substr(eq + 1));
    }
    return out;
}

std::string fill(std::string_view t, std::string_view body, std::string_view timestamp, std::string_view id) {
    std::string out;
    out.reserve(t.size() + body.size() + timestamp.size() + id.size());
    for (size_t i = 0; i < t.size(); ++i) {
        if (t[i] == '{') {
            size_t close = t.find('}', i);
            std::string_view name = t.substr(i + 1, close - i - 1);
            out += name == "body" ? body : name == "timestamp" ? timestamp : id;
            i = close;
        } else {
            out += t[i];
        }
    }
    return out;
}

crypto::Mac mac_of(SignatureRule::Algorithm a) {
    return a == SignatureRule::Algorithm::hmac_sha1 ? crypto::Mac::hmac_sha1 : crypto::Mac::hmac_sha256;
}

Error refused(std::string why) { return Error(Errc::signature_invalid, "the webhook delivery is refused: " + std::move(why)); }

}  // namespace

bool WebhookPolicy::signs_time() const {
    return !timestamp_header.empty() || (signature && !signature->timestamp_key.empty());
}

std::optional<std::string_view> IncomingWebhook::header(std::string_view name) const {
    for (const auto& [k, v] : headers)
        if (iequals(k, name)) return std::string_view(v);
    return std::nullopt;
}

Result<WebhookPolicy> parse_webhook_policy(const json::value& block) {
    WebhookPolicy p;
    if (block.is_null()) return p;
    const auto* o = block.if_object();
    if (!o) return bad("must be a mapping with signature, timestamp and deliveryId");
    for (const auto& [k, v] : *o) {
        (void)v;
        if (k != "signature" && k != "timestamp" && k != "deliveryId" && k != "verifiedBy")
            return bad("unknown key '" + std::string(k) + "'; use signature, timestamp, deliveryId or verifiedBy");
    }
    if (const auto* s = o->if_contains("signature")) {
        const auto* so = s->if_object();
        if (!so) return bad("signature must be a mapping with algorithm, header, format and signed");
        for (const auto& [k, v] : *so) {
            (void)v;
            if (k != "algorithm" && k != "header" && k != "format" && k != "signed")
                return bad("signature: unknown key '" + std::string(k) + "'; use algorithm, header, format or signed");
        }
        SignatureRule r;
        std::string algorithm = ascii_lower(text(*so, "algorithm"));
        if (algorithm == "hmac-sha256") r.algorithm = SignatureRule::Algorithm::hmac_sha256;
        else if (algorithm == "hmac-sha1") r.algorithm = SignatureRule::Algorithm::hmac_sha1;
        else return bad("signature.algorithm must be hmac-sha256 or hmac-sha1" + (algorithm.empty() ? std::string() : ", not '" + algorithm + "'"));
        r.header = text(*so, "header");
        if (r.header.empty()) return bad("signature.header is required: the header the tool writes its signature in");
        if (so->contains("format")) r.format = text(*so, "format");
        if (auto e = parse_format(r)) return *e;
        if (so->contains("signed")) r.signed_template = text(*so, "signed");
        auto names = placeholders(r.signed_template, "signature.signed");
        if (!names) return names.error();
        size_t bodies = 0;
        for (const auto& n : *names) {
            if (n == "body") ++bodies;
            else if (n != "timestamp" && n != "id")
                return bad("signature.signed '" + r.signed_template + "' names {" + n + "}; use {body}, {timestamp} and {id}");
        }
        if (bodies != 1) return bad("signature.signed '" + r.signed_template + "' must hold {body} exactly once");
        p.signature = std::move(r);
    }
    if (const auto* t = o->if_contains("timestamp")) {
        const auto* to = t->if_object();
        if (!to) return bad("timestamp must be a mapping with header and tolerance");
        for (const auto& [k, v] : *to) {
            (void)v;
            if (k != "header" && k != "tolerance") return bad("timestamp: unknown key '" + std::string(k) + "'; use header or tolerance");
        }
        p.timestamp_header = text(*to, "header");
        if (const auto* tol = to->if_contains("tolerance")) {
            auto sec = seconds_of(*tol);
            if (!sec || *sec < std::chrono::seconds(1) || *sec > std::chrono::hours(24))
                return bad("timestamp.tolerance must be between 1s and 24h (e.g. 300s or 5m)");
            p.tolerance = *sec;
        }
        if (p.timestamp_header.empty() && !(p.signature && !p.signature->timestamp_key.empty()))
            return bad("timestamp.header is required unless the signature's format carries {timestamp}");
    }
    if (const auto* v = o->if_contains("verifiedBy")) {
        if (!v->is_string() || (v->get_string() != "host" && v->get_string() != "plugin"))
            return bad("verifiedBy is host (the default: the signature declared here) or plugin (the plugin's webhook hook checks)");
        p.plugin_verifies = v->get_string() == "plugin";
        if (p.plugin_verifies && (p.signature || !p.timestamp_header.empty()))
            return bad("a trigger its plugin verifies declares no signature or timestamp here; the plugin checks them");
    }
    if (const auto* d = o->if_contains("deliveryId")) {
        if (!d->is_string() || d->get_string().empty()) return bad("deliveryId must name the header that identifies each delivery");
        p.delivery_id_header = std::string(d->get_string());
    }
    if (p.signature) {
        auto names = placeholders(p.signature->signed_template, "signature.signed");
        for (const auto& n : *names) {
            if (n == "timestamp" && !p.signs_time())
                return bad("signature.signed uses {timestamp}; say where it comes from (timestamp.header, or {timestamp} in signature.format)");
            if (n == "id" && p.delivery_id_header.empty()) return bad("signature.signed uses {id}; name its header in deliveryId");
        }
    }
    return p;
}

Status verify_webhook(const WebhookPolicy& policy, const IncomingWebhook& in, const std::vector<std::string>& secrets) {
    std::string_view timestamp;
    std::vector<std::string_view> candidates;  // signatures as written
    if (policy.signature) {
        const SignatureRule& r = *policy.signature;
        auto value = in.header(r.header);
        if (!value || value->empty()) return refused("the " + r.header + " header (its signature) is missing");
        if (r.pairs) {
            for (const auto& [k, v] : pairs_of(*value)) {
                if (k == r.signature_key) candidates.push_back(v);
                else if (!r.timestamp_key.empty() && k == r.timestamp_key) timestamp = v;
            }
            if (candidates.empty()) return refused("the " + r.header + " header has no '" + r.signature_key + "=' signature");
            if (!r.timestamp_key.empty() && timestamp.empty()) return refused("the " + r.header + " header has no '" + r.timestamp_key + "=' timestamp");
        } else {
            // Several signatures may come separated by spaces ("v1,abc v1,def") unless the format
            // itself has a space.
            std::vector<std::string_view> written;
            if (r.format.find(' ') != std::string::npos) {
                written.push_back(*value);
            } else {
                std::string_view v = *value;
                while (!v.empty()) {
                    size_t space = v.find(' ');
                    if (space != 0) written.push_back(v.substr(0, space));
                    v = space == std::string_view::npos ? std::string_view() : v.substr(space + 1);
                }
            }
            for (std::string_view w : written)
                if (w.size() >= r.prefix.size() + r.suffix.size() && w.substr(0, r.prefix.size()) == r.prefix &&
                    w.substr(w.size() - r.suffix.size()) == r.suffix)
                    candidates.push_back(w.substr(r.prefix.size(), w.size() - r.prefix.size() - r.suffix.size()));
            if (candidates.empty()) return refused("the " + r.header + " header is not in the form '" + r.format + "'");
        }
    }
    if (!policy.timestamp_header.empty()) {
        auto t = in.header(policy.timestamp_header);
        if (!t || t->empty()) return refused("the " + policy.timestamp_header + " header (its timestamp) is missing");
        timestamp = *t;
    }
    if (policy.signs_time()) {
        int64_t n = 0;
        auto [end, ec] = std::from_chars(timestamp.data(), timestamp.data() + timestamp.size(), n);
        if (ec != std::errc() || end != timestamp.data() + timestamp.size() || n <= 0)
            return refused("its timestamp '" + std::string(timestamp.substr(0, 40)) + "' is not a Unix time in seconds");
        if (n >= 100'000'000'000) n /= 1000;  // milliseconds
        auto now = std::chrono::duration_cast<std::chrono::seconds>(in.now.time_since_epoch()).count();
        int64_t skew = now - n;
        if (std::llabs(skew) > policy.tolerance.count())
            return refused("its timestamp is " + std::to_string(std::llabs(skew)) + " s " + (skew > 0 ? "old" : "in the future") +
                           "; deliveries more than " + std::to_string(policy.tolerance.count()) + " s away are refused (a replay?)");
    }
    if (!policy.signature) return std::nullopt;
    const SignatureRule& r = *policy.signature;
    std::string id;
    if (!policy.delivery_id_header.empty())
        if (auto d = in.header(policy.delivery_id_header)) id = std::string(*d);
    std::string payload = fill(r.signed_template, in.body, timestamp, id);
    bool any_readable = false;
    bool match = false;
    for (std::string_view written : candidates) {
        auto given = r.base64 ? crypto::from_base64(written) : crypto::from_hex(written);
        if (!given) continue;
        any_readable = true;
        for (const auto& secret : secrets) {
            // Every comparison runs, so the time taken does not tell which secret or signature matched.
            if (crypto::equal_constant_time(crypto::hmac(mac_of(r.algorithm), secret, payload), *given)) match = true;
        }
    }
    if (secrets.empty()) return refused("the subscription has no signing secret to check it with");
    if (!any_readable) return refused(std::string("its signature is not ") + (r.base64 ? "base64" : "hex"));
    if (!match) return refused("its signature does not match the body (wrong secret, or the body was changed)");
    return std::nullopt;
}

std::string sign_webhook(const SignatureRule& rule, std::string_view secret, std::string_view body, std::string_view timestamp,
                         std::string_view id) {
    std::string mac = crypto::hmac(mac_of(rule.algorithm), secret, fill(rule.signed_template, body, timestamp, id));
    std::string sig = rule.base64 ? crypto::base64(mac) : crypto::hex(mac);
    if (!rule.pairs) return rule.prefix + sig + rule.suffix;
    std::string out;
    for (const auto& item : comma_list({rule.format})) {
        std::string key = item.substr(0, item.find('='));
        out += (out.empty() ? "" : ",") + key + "=" + (key == rule.timestamp_key ? std::string(timestamp) : sig);
    }
    return out;
}

}  // namespace patchbay::triggers
