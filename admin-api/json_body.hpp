#pragma once
// Request bodies: JSON objects only, known fields only, and typed field readers that
// collect every problem so a 422 lists all offending fields at once.

#include <boost/json/object.hpp>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "admin-api/http_message.hpp"
#include "admin-api/problem.hpp"

namespace smarthost::admin {

// A body with no fields at all (actions such as /resume).
inline constexpr std::span<const std::string_view> k_no_fields{};

// The body as a JSON object, or the problem to answer: 415 for a body that is not
// application/json, 400 for malformed JSON or a non-object, 422 for unknown fields.
// An empty body reads as {} (actions such as /resume need none).
// (Field lists are spans of named arrays: g++ 12 miscompiles braced lists of string
// literals in coroutines.)
std::variant<boost::json::object, Response> parse_object(
    const Request& request, std::span<const std::string_view> known_fields);

class FieldReader {
  public:
    explicit FieldReader(const boost::json::object& object, std::string prefix = "")
        : object_(object), prefix_(std::move(prefix)) {}

    bool has(std::string_view field) const;
    // A string of 1..max_length characters (0..max_length when allow_empty).
    std::optional<std::string> string(std::string_view field, std::size_t max_length,
                                      bool allow_empty = false);
    // A required string (1..max_length characters) in the canonical form `canonical`
    // gives it; when that refuses it, the field fails with the reason it gave.
    using Canonicalizer = std::optional<std::string> (*)(std::string_view text, std::string& why);
    std::optional<std::string> required_canonical(std::string_view field, std::size_t max_length,
                                                  Canonicalizer canonical);
    std::optional<bool> boolean(std::string_view field);
    // A non-negative integer ≤ max; a JSON null gives nullopt inside (use the default).
    std::optional<std::optional<std::int64_t>> limit(std::string_view field, std::int64_t max);
    const boost::json::object* object(std::string_view field);

    void fail(std::string_view field, std::string message);
    void unknown_fields(std::span<const std::string_view> known_fields);
    std::vector<FieldError>& errors() { return *errors_; }
    bool ok() const { return errors_->empty(); }

    // A reader for a nested object sharing this reader's error list ("limits.x").
    FieldReader nested(const boost::json::object& object, std::string_view field);

  private:
    FieldReader(const boost::json::object& object, std::string prefix,
                std::shared_ptr<std::vector<FieldError>> errors)
        : object_(object), prefix_(std::move(prefix)), errors_(std::move(errors)) {}
    std::string name(std::string_view field) const { return prefix_ + std::string(field); }

    const boost::json::object& object_;
    std::string prefix_;
    std::shared_ptr<std::vector<FieldError>> errors_ = std::make_shared<std::vector<FieldError>>();
};

}  // namespace smarthost::admin
