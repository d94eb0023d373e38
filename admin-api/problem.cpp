#include "admin-api/problem.hpp"

#include <spdlog/spdlog.h>

#include <boost/json.hpp>

#include "core/pg/sqlstate.hpp"

namespace smarthost::admin::problem {
namespace {

namespace json = boost::json;

// Problem type URIs name the kind of failure; RFC 9457 §3.1.1 lets them be URNs.
Response make(unsigned status, std::string_view slug, std::string_view title, std::string detail,
              const std::vector<FieldError>& errors = {}) {
    json::object body;
    body["type"] = std::string("urn:smarthost:problem:") + std::string(slug);
    body["title"] = title;
    body["status"] = status;
    body["detail"] = detail;
    if (!errors.empty()) {
        json::array list;
        for (const auto& e : errors)
            list.push_back(json::object{{"field", e.field}, {"message", e.message}});
        body["errors"] = std::move(list);
    }
    Response response;
    response.status = status;
    response.content_type = "application/problem+json";
    response.body = json::serialize(body);
    return response;
}

}  // namespace

Response bad_request(std::string detail) {
    return make(400, "bad-request", "Bad Request", std::move(detail));
}

Response malformed_json(std::string detail) {
    return make(400, "malformed-json", "Malformed JSON", std::move(detail));
}

Response unauthorized(std::string detail) {
    auto response = make(401, "unauthorized", "Unauthorized", std::move(detail));
    // RFC 6750 §3: the challenge names the scheme; error="invalid_token" when one was sent.
    response.headers.emplace_back("WWW-Authenticate", "Bearer realm=\"smarthost\"");
    return response;
}

Response not_found(std::string detail) {
    return make(404, "not-found", "Not Found", std::move(detail));
}

Response method_not_allowed(const std::vector<std::string>& allow) {
    std::string list;
    for (const auto& method : allow)
        list += (list.empty() ? "" : ", ") + method;
    auto response =
        make(405, "method-not-allowed", "Method Not Allowed", "allowed methods: " + list);
    response.headers.emplace_back("Allow", list);
    return response;
}

Response conflict(std::string detail, std::vector<FieldError> errors) {
    return make(409, "conflict", "Conflict", std::move(detail), errors);
}

Response conflict(std::string detail, std::string field, std::string message) {
    return conflict(std::move(detail), {FieldError{std::move(field), std::move(message)}});
}

Response validation(std::string field, std::string message) {
    return validation({FieldError{std::move(field), std::move(message)}});
}

Response payload_too_large(std::size_t max_body_bytes) {
    return make(413, "payload-too-large", "Content Too Large",
                "request bodies are limited to " + std::to_string(max_body_bytes) + " bytes");
}

Response unsupported_media_type(std::string content_type) {
    return make(415, "unsupported-media-type", "Unsupported Media Type",
                "request bodies must be application/json, not '" + content_type + "'");
}

Response validation(std::vector<FieldError> errors) {
    return make(422, "validation", "Unprocessable Content", "the request has invalid fields",
                errors);
}

Response unavailable() {
    return make(503, "unavailable", "Service Unavailable", "the database is not reachable");
}

Response unavailable(std::string detail) {
    return make(503, "unavailable", "Service Unavailable", std::move(detail));
}

Response internal_error() {
    return make(500, "internal", "Internal Server Error", "see the server log");
}

namespace {

// What the client is told when PostgreSQL refused a value it sent; null when the failure
// is not the client's doing.
const char* refused_value(pg::SqlStateClass kind) {
    switch (kind) {
        case pg::SqlStateClass::value_too_long:
            return "a value is longer than the database accepts";
        case pg::SqlStateClass::number_out_of_range:
            return "a number is outside the range the database accepts";
        case pg::SqlStateClass::check_violation:
            return "a value breaks a rule of the stored data";
        case pg::SqlStateClass::invalid_value:
            return "a value was refused by the database";
        case pg::SqlStateClass::unavailable:
        case pg::SqlStateClass::unique_violation:
        case pg::SqlStateClass::foreign_key_violation:
        case pg::SqlStateClass::exclusion_violation:
        case pg::SqlStateClass::rolled_back:
        case pg::SqlStateClass::undefined_table:
        case pg::SqlStateClass::other:
            break;
    }
    return nullptr;
}

}  // namespace

Response from_database(const Error& error) {
    const pg::SqlStateClass kind = pg::classify(error.code);
    if (error.unavailable || kind == pg::SqlStateClass::unavailable) return unavailable();
    // Data exceptions and check violations: the input got past validation but PostgreSQL
    // refused it; still the client's doing. Its message names the table and the
    // constraint, and its detail carries the whole failing row (a credential's hash
    // included): those go to the log, the client gets a fixed text.
    if (const char* refused = refused_value(kind)) {
        spdlog::warn("admin api: database refused a value ({}): {}", error.code, error.message);
        return make(422, "validation", "Unprocessable Content", refused);
    }
    spdlog::error("admin api: database error {}: {}", error.code, error.message);
    return internal_error();
}

}  // namespace smarthost::admin::problem
