#pragma once
// RFC 9457 problem details (application/problem+json): every error response of the admin
// API is built here, so statuses, types and titles do not drift across routes.

#include <cstddef>
#include <string>
#include <vector>

#include "admin-api/http_message.hpp"
#include "core/result.hpp"

namespace smarthost::admin {

struct FieldError {
    std::string field;
    std::string message;
};

namespace problem {

Response bad_request(std::string detail);                            // 400
Response malformed_json(std::string detail);                         // 400
Response unauthorized(std::string detail);                           // 401 + WWW-Authenticate
Response not_found(std::string detail);                              // 404
Response method_not_allowed(const std::vector<std::string>& allow);  // 405 + Allow
Response conflict(std::string detail, std::vector<FieldError> errors = {});  // 409
Response conflict(std::string detail, std::string field, std::string message);
Response payload_too_large(std::size_t max_body_bytes);     // 413
Response unsupported_media_type(std::string content_type);  // 415
Response validation(std::vector<FieldError> errors);        // 422
Response validation(std::string field, std::string message);
Response unavailable();                    // 503
Response unavailable(std::string detail);  // 503: something other than the database
Response internal_error();                 // 500

// A database failure that is not one the route expected: unavailable → 503, a check
// constraint or bad input → 422, anything else → 500.
Response from_database(const Error& error);

}  // namespace problem
}  // namespace smarthost::admin
