#include "admin-api/scope_limits.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <boost/json.hpp>
#include <limits>

#include "relay/smtp/sub_user_header.hpp"

namespace smarthost::admin {
namespace {

namespace json = boost::json;

constexpr std::int64_t k_int_max = std::numeric_limits<std::int32_t>::max();
constexpr std::int64_t k_most_sub_users = 100000;  // accounts.max_sub_users' CHECK
constexpr std::string_view k_sub_user_fields[] = {"header", "strip_header", "max_sub_users",
                                                  "limits"};

}  // namespace

LimitChanges read_rate_limits(FieldReader& fields, std::string_view field) {
    LimitChanges values(k_rate_limit_names.size());
    const auto* limits = fields.object(field);
    if (!limits) return values;
    auto nested = fields.nested(*limits, field);
    for (const auto& entry : *limits)
        if (std::find(k_rate_limit_names.begin(), k_rate_limit_names.end(),
                      std::string_view(entry.key())) == k_rate_limit_names.end())
            nested.fail(entry.key(), "unknown field");
    for (std::size_t i = 0; i < k_rate_limit_names.size(); ++i)
        values[i] = nested.limit(k_rate_limit_names[i], k_int_max);
    return values;
}

std::string rate_limits_json(std::string_view column_prefix) {
    std::string pairs;
    for (const auto name : k_rate_limit_names)
        pairs +=
            fmt::format("{}'{}', t.{}{}", pairs.empty() ? "" : ", ", name, column_prefix, name);
    return "json_build_object(" + pairs + ")";
}

std::string rate_limits_update_sql(std::string_view column_prefix, int& index) {
    std::string sql;
    for (const auto name : k_rate_limit_names) {
        const std::string column = std::string(column_prefix) + std::string(name);
        sql += fmt::format(", {0} = CASE WHEN ${1}::bool THEN ${2}::int ELSE {0} END", column,
                           index, index + 1);
        index += 2;
    }
    return sql;
}

void push_limit_params(const LimitChanges& changes, std::vector<pg::Param>& params) {
    for (const auto& change : changes) {
        params.push_back(pg::to_param(change.has_value()));
        params.push_back(change && *change ? pg::to_param(**change) : pg::null_param());
    }
}

SubUserSettings read_sub_user_settings(FieldReader& fields) {
    SubUserSettings settings;
    const auto* object = fields.object("sub_users");
    if (!object) return settings;
    auto nested = fields.nested(*object, "sub_users");
    nested.unknown_fields(k_sub_user_fields);
    if (const auto* header = object->if_contains("header")) {
        if (header->is_null()) {
            settings.header = std::optional<std::string>{};
        } else if (!header->is_string()) {
            nested.fail("header", "must be a header field name or null");
        } else {
            const std::string name(header->as_string());
            if (auto problem = smtp::sub_user_header_problem(name))
                nested.fail("header", *problem);
            else
                settings.header = name;
        }
    }
    settings.strip_header = nested.boolean("strip_header");
    if (const auto max = nested.limit("max_sub_users", k_most_sub_users)) {
        if (!*max || **max < 1)
            nested.fail("max_sub_users",
                        "must be between 1 and " + std::to_string(k_most_sub_users));
        else
            settings.max_sub_users = **max;
    }
    settings.limits = read_rate_limits(nested, "limits");
    return settings;
}

std::string sub_user_settings_json() {
    return "json_build_object('header', t.sub_user_header, 'strip_header', "
           "t.sub_user_header_strip, 'max_sub_users', t.max_sub_users, 'limits', " +
           rate_limits_json("sub_user_") + ")";
}

std::string sub_user_settings_update_sql(int& index) {
    std::string sql = fmt::format(
        ", sub_user_header = CASE WHEN ${0}::bool THEN ${1}::text ELSE sub_user_header END"
        ", sub_user_header_strip = coalesce(${2}::bool, sub_user_header_strip)"
        ", max_sub_users = coalesce(${3}::int, max_sub_users)",
        index, index + 1, index + 2, index + 3);
    index += 4;
    return sql + rate_limits_update_sql("sub_user_", index);
}

void push_sub_user_params(const SubUserSettings& settings, std::vector<pg::Param>& params) {
    params.push_back(pg::to_param(settings.header.has_value()));
    params.push_back(settings.header && *settings.header ? pg::text(**settings.header)
                                                         : pg::null_param());
    params.push_back(settings.strip_header ? pg::to_param(*settings.strip_header)
                                           : pg::null_param());
    params.push_back(settings.max_sub_users ? pg::to_param(*settings.max_sub_users)
                                            : pg::null_param());
    push_limit_params(settings.limits, params);
}

}  // namespace smarthost::admin
