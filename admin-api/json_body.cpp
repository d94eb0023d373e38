#include "admin-api/json_body.hpp"

#include <algorithm>
#include <boost/json.hpp>

#include "core/ascii.hpp"

namespace smarthost::admin {
namespace {

namespace json = boost::json;

// "application/json", "application/json; charset=utf-8", "application/merge-patch+json".
bool is_json_media_type(std::string_view content_type) {
    auto type = content_type.substr(0, content_type.find(';'));
    while (!type.empty() && type.back() == ' ')
        type.remove_suffix(1);
    const std::string lower = to_lower(type);
    return lower == "application/json" ||
           (lower.starts_with("application/") && lower.ends_with("+json"));
}

}  // namespace

std::variant<json::object, Response> parse_object(const Request& request,
                                                  std::span<const std::string_view> known_fields) {
    if (request.body.empty()) return json::object{};
    if (!is_json_media_type(request.content_type))
        return problem::unsupported_media_type(request.content_type);
    boost::system::error_code ec;
    auto value = json::parse(request.body, ec);
    if (ec) return problem::malformed_json("the body is not valid JSON: " + ec.message());
    if (!value.is_object()) return problem::malformed_json("the body must be a JSON object");
    FieldReader reader(value.as_object());
    reader.unknown_fields(known_fields);
    if (!reader.ok()) return problem::validation(std::move(reader.errors()));
    return std::move(value.as_object());
}

bool FieldReader::has(std::string_view field) const {
    return object_.contains(field);
}

void FieldReader::fail(std::string_view field, std::string message) {
    errors_->push_back(FieldError{name(field), std::move(message)});
}

void FieldReader::unknown_fields(std::span<const std::string_view> known_fields) {
    for (const auto& entry : object_) {
        const auto key = std::string_view(entry.key());
        if (std::find(known_fields.begin(), known_fields.end(), key) == known_fields.end())
            fail(key, "unknown field");
    }
}

std::optional<std::string> FieldReader::string(std::string_view field, std::size_t max_length,
                                               bool allow_empty) {
    const auto* value = object_.if_contains(field);
    if (!value) return std::nullopt;
    if (!value->is_string()) {
        fail(field, "must be a string");
        return std::nullopt;
    }
    const auto& text = value->as_string();
    if (text.empty() && !allow_empty) {
        fail(field, "must not be empty");
        return std::nullopt;
    }
    if (text.size() > max_length) {
        fail(field, "must be at most " + std::to_string(max_length) + " characters");
        return std::nullopt;
    }
    // PostgreSQL text cannot hold NUL.
    if (text.find('\0') != json::string::npos) {
        fail(field, "must not contain NUL");
        return std::nullopt;
    }
    return std::string(text);
}

std::optional<std::string> FieldReader::required_canonical(std::string_view field,
                                                           std::size_t max_length,
                                                           Canonicalizer canonical) {
    if (!has(field)) {
        fail(field, "is required");
        return std::nullopt;
    }
    const auto text = string(field, max_length);
    if (!text) return std::nullopt;
    std::string why;
    auto result = canonical(*text, why);
    if (!result) fail(field, why);
    return result;
}

std::optional<bool> FieldReader::boolean(std::string_view field) {
    const auto* value = object_.if_contains(field);
    if (!value) return std::nullopt;
    if (!value->is_bool()) {
        fail(field, "must be true or false");
        return std::nullopt;
    }
    return value->as_bool();
}

std::optional<std::optional<std::int64_t>> FieldReader::limit(std::string_view field,
                                                              std::int64_t max) {
    const auto* value = object_.if_contains(field);
    if (!value) return std::nullopt;
    if (value->is_null()) return std::optional<std::int64_t>{};
    std::int64_t number = 0;
    if (value->is_int64()) {
        number = value->as_int64();
    } else if (value->is_uint64()) {
        number = value->as_uint64() > static_cast<std::uint64_t>(max)
                     ? max + 1
                     : static_cast<std::int64_t>(value->as_uint64());
    } else {
        fail(field, "must be a non-negative integer or null");
        return std::nullopt;
    }
    if (number < 0) {
        fail(field, "must not be negative");
        return std::nullopt;
    }
    if (number > max) {
        fail(field, "must be at most " + std::to_string(max));
        return std::nullopt;
    }
    return std::optional<std::int64_t>{number};
}

const json::object* FieldReader::object(std::string_view field) {
    const auto* value = object_.if_contains(field);
    if (!value) return nullptr;
    if (!value->is_object()) {
        fail(field, "must be an object");
        return nullptr;
    }
    return &value->as_object();
}

FieldReader FieldReader::nested(const json::object& object, std::string_view field) {
    return FieldReader(object, name(field) + ".", errors_);
}

}  // namespace smarthost::admin
