#pragma once
// The rate limits a credential or the sub-users of an account can have (docs/policy.md
// "Credential limits", "Sub-users"), and the account's trusted sub-user header settings:
// how the API reads them from a body, shows them and writes them.

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "admin-api/json_body.hpp"
#include "core/pg/pool.hpp"

namespace smarthost::admin {

// The five limits of relay/policy/rate_windows.hpp, as JSON fields and column suffixes.
inline constexpr std::array<std::string_view, 5> k_rate_limit_names{
    "messages_per_minute", "messages_per_hour", "messages_per_day", "recipients_per_hour",
    "recipients_per_day"};

// One (present, value) per limit of a "limits" object: absent keeps the column, null clears it.
using LimitChanges = std::vector<std::optional<std::optional<std::int64_t>>>;

// Reads the object `field` of `fields` (unknown names fail, each value 0..2^31-1 or null).
LimitChanges read_rate_limits(FieldReader& fields, std::string_view field);

// json_build_object('messages_per_minute', t.<prefix>messages_per_minute, ...).
std::string rate_limits_json(std::string_view column_prefix);

// ", <prefix>messages_per_minute = CASE WHEN $i::bool THEN $i+1::int ELSE ... END, ..." from
// parameter `index` on (advanced past them), and the parameters to bind.
std::string rate_limits_update_sql(std::string_view column_prefix, int& index);
void push_limit_params(const LimitChanges& changes, std::vector<pg::Param>& params);

// The "sub_users" object of PATCH /api/v1/accounts/{id}: header (a field name or null),
// strip_header, max_sub_users and limits.
struct SubUserSettings {
    std::optional<std::optional<std::string>> header;
    std::optional<bool> strip_header;
    std::optional<std::int64_t> max_sub_users;
    LimitChanges limits = LimitChanges(k_rate_limit_names.size());
};
SubUserSettings read_sub_user_settings(FieldReader& fields);
std::string sub_user_settings_json();
std::string sub_user_settings_update_sql(int& index);
void push_sub_user_params(const SubUserSettings& settings, std::vector<pg::Param>& params);

}  // namespace smarthost::admin
