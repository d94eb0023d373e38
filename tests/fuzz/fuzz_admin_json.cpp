// Arbitrary admin API request bodies through parse_object and FieldReader
// (admin-api/json_body.cpp), read the way the routes read them, with the routes' field
// lists and canonicalizers. Invariants: no crash; a refusal is 400, 415 or 422 with an
// RFC 9457 problem body that is JSON and carries that status; an accepted body holds only
// known fields; every value a reader returns is within its bounds (length, no NUL, range),
// and the canonical forms of addresses and domains are canonical (a second pass changes
// nothing); the reader's error list is empty exactly when it says ok.

#include <boost/json.hpp>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>
#include <string>
#include <string_view>

#include "admin-api/json_body.hpp"
#include "admin-api/mail_names.hpp"

namespace {

using namespace smarthost::admin;
namespace json = boost::json;

void check(bool condition) {
    if (!condition) std::abort();
}

// The routes' bodies: accounts (with their "limits" object), sender domains,
// suppressions, credentials, networks, an action without fields.
constexpr std::string_view k_account_fields[] = {"name", "note", "status", "suspended_reason",
                                                 "limits"};
constexpr std::string_view k_limit_fields[] = {"messages_per_minute", "messages_per_hour",
                                               "max_message_bytes"};
constexpr std::string_view k_domain_fields[] = {"domain", "include_subdomains"};
constexpr std::string_view k_suppression_fields[] = {"address"};
constexpr std::string_view k_credential_fields[] = {"username", "cidr"};
constexpr std::span<const std::string_view> k_bodies[] = {
    k_account_fields, k_domain_fields, k_suppression_fields, k_credential_fields, k_no_fields};

constexpr std::string_view k_content_types[] = {"application/json", "application/merge-patch+json",
                                                "text/plain"};

void check_problem(const Response& response) {
    check(response.status == 400 || response.status == 415 || response.status == 422);
    boost::system::error_code ec;
    const auto body = json::parse(response.body, ec);
    check(!ec && body.is_object());
    check(body.as_object().at("status").to_number<std::uint64_t>() == response.status);
}

void check_string(const std::optional<std::string>& value, std::size_t max, bool allow_empty) {
    if (!value) return;
    check(value->size() <= max && (allow_empty || !value->empty()));
    check(value->find('\0') == std::string::npos);
}

template <class Canonical>
void check_canonical(const std::optional<std::string>& value, Canonical canonical) {
    if (!value) return;
    std::string why;
    const auto again = canonical(*value, why);
    check(again && *again == *value);
}

void check_limit(const std::optional<std::optional<std::int64_t>>& value, std::int64_t max) {
    if (!value || !*value) return;
    check(**value >= 0 && **value <= max);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size < 1) return 0;
    const auto known = k_bodies[data[0] % std::size(k_bodies)];
    Request request;
    request.method = "POST";
    request.content_type = k_content_types[(data[0] >> 4) % std::size(k_content_types)];
    request.body.assign(reinterpret_cast<const char*>(data + 1), size - 1);

    auto parsed = parse_object(request, known);
    if (const auto* problem = std::get_if<Response>(&parsed)) {
        check_problem(*problem);
        return 0;
    }
    const auto& object = std::get<json::object>(parsed);
    for (const auto& entry : object) {
        bool is_known = false;
        for (const auto field : known)
            is_known = is_known || field == std::string_view(entry.key());
        check(is_known);
    }

    FieldReader fields(object);
    check_string(fields.string("name", 64), 64, false);
    check_string(fields.string("note", 1000, true), 1000, true);
    check_canonical(fields.required_canonical("address", 254, canonical_address),
                    canonical_address);
    check_canonical(fields.required_canonical("domain", 253, canonical_domain), canonical_domain);
    check_string(fields.string("username", 254), 254, false);
    (void)fields.boolean("include_subdomains");
    if (const auto* limits = fields.object("limits")) {
        FieldReader nested = fields.nested(*limits, "limits");
        nested.unknown_fields(k_limit_fields);
        check_limit(nested.limit("messages_per_minute", 1000000), 1000000);
        check_limit(nested.limit("max_message_bytes", INT64_MAX), INT64_MAX);
    }
    check(fields.ok() == fields.errors().empty());
    for (const auto& error : fields.errors())
        check(!error.field.empty() && !error.message.empty());
    if (!fields.ok()) check_problem(problem::validation(std::move(fields.errors())));
    return 0;
}
