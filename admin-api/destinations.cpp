#include "admin-api/destinations.hpp"

#include <algorithm>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json.hpp>
#include <charconv>
#include <chrono>
#include <map>
#include <memory>

#include "admin-api/audit.hpp"
#include "admin-api/pagination.hpp"
#include "core/pg/pool.hpp"
#include "relay/delivery/destination_backoff.hpp"

namespace smarthost::admin {
namespace {

namespace asio = boost::asio;
namespace json = boost::json;
using namespace std::chrono_literals;
using Clock = std::chrono::system_clock;

constexpr std::int64_t k_default_circuits = 100;
constexpr std::int64_t k_max_circuits = 1000;

constexpr std::string_view k_backoffs = R"sql(
SELECT group_name, throttle, (extract(epoch FROM backoff_until) * 1000000)::bigint, backoffs,
       last_reply, to_json(backoff_until)#>>'{}', version
FROM destination_backoff)sql";

// Quota leased in the windows that contain the API's `now` ($1: minute start, $2: hour
// start, Unix seconds): an upper bound of what the replicas sent in them.
constexpr std::string_view k_usage = R"sql(
SELECT group_name, limit_name, leased FROM destination_usage
WHERE (limit_name = 'messages_per_minute'
       AND window_start = 'epoch'::timestamptz + $1::bigint * interval '1 second')
   OR (limit_name = 'messages_per_hour'
       AND window_start = 'epoch'::timestamptz + $2::bigint * interval '1 second'))sql";

// Open circuits (including half-open ones, whose cool-down is over and whose probe has not
// closed them yet), the latest to re-open first.
constexpr std::string_view k_circuits = R"sql(
SELECT json_build_object('items', coalesce(json_agg(json_build_object(
           'host', c.host, 'failures', c.failures, 'first_failure_at', c.first_failure_at,
           'open_until', c.open_until, 'probe_until', c.probe_until,
           'half_open', c.open_until <= 'epoch'::timestamptz + $1::bigint * interval '1 microsecond',
           'last_error', c.last_error)
       ORDER BY c.open_until DESC, c.host), '[]'))
FROM (SELECT * FROM destination_circuits WHERE open_until IS NOT NULL
      ORDER BY open_until DESC, host LIMIT $2) c)sql";

// Clears the group's backoff and throttle at the API's clock ($6, microseconds); the
// version moves on, so a replica's push-back computed from the old state is re-read.
constexpr std::string_view k_resume = R"sql(
INSERT INTO destination_backoff AS d (group_name, throttle, backoff_until, backoffs, last_reply,
                                      version, updated_at)
VALUES ($5, 1, 'epoch'::timestamptz + $6::bigint * interval '1 microsecond', 0, NULL, 1,
        'epoch'::timestamptz + $6::bigint * interval '1 microsecond')
ON CONFLICT (group_name) DO UPDATE
SET throttle = 1, backoff_until = least(d.backoff_until, excluded.backoff_until),
    version = d.version + 1, updated_at = excluded.updated_at
RETURNING *)sql";

constexpr std::string_view k_resume_audit = "jsonb_build_object('group', t.group_name)";
constexpr std::string_view k_resume_json =
    "json_build_object('name', t.group_name, 'throttle', t.throttle, 'in_backoff', false, "
    "'backoff_until', t.backoff_until, 'backoffs', t.backoffs)";

std::int64_t seconds_of(Clock::time_point t) {
    return std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count();
}

std::int64_t micros_of(Clock::time_point t) {
    return std::chrono::duration_cast<std::chrono::microseconds>(t.time_since_epoch()).count();
}

json::array strings(const std::vector<std::string>& values) {
    json::array out;
    for (const auto& value : values)
        out.emplace_back(value);
    return out;
}

struct GroupState {
    delivery::BackoffState backoff;
    std::string backoff_until_text;
};

asio::awaitable<Response> list_destinations(RequestContext& context, const ShapingConfig& shaping) {
    const auto now = Clock::now();
    const std::int64_t second = seconds_of(now);
    auto backoffs = co_await context.pool.query(std::string(k_backoffs));
    if (!backoffs) co_return problem::from_database(backoffs.error());
    auto usage = co_await context.pool.query(std::string(k_usage), second - second % 60,
                                             second - second % 3600);
    if (!usage) co_return problem::from_database(usage.error());
    std::map<std::string, GroupState> states;
    for (std::size_t row = 0; row < backoffs->size(); ++row) {
        GroupState state;
        state.backoff.throttle = std::stod(std::string(backoffs->get(row, 1)));
        state.backoff.backoff_until =
            Clock::time_point(std::chrono::microseconds(backoffs->get_int(row, 2)));
        state.backoff.backoffs = static_cast<std::uint64_t>(backoffs->get_int(row, 3));
        if (!backoffs->is_null(row, 4))
            state.backoff.last_reply = std::string(backoffs->get(row, 4));
        state.backoff_until_text = std::string(backoffs->get(row, 5));
        states.emplace(std::string(backoffs->get(row, 0)), std::move(state));
    }
    std::map<std::pair<std::string, std::string>, std::int64_t> leased;
    for (std::size_t row = 0; row < usage->size(); ++row)
        leased[{std::string(usage->get(row, 0)), std::string(usage->get(row, 1))}] =
            usage->get_int(row, 2);

    json::array items;
    for (const auto& group : shaping.groups) {
        json::object item;
        item["name"] = group.name;
        item["domains"] = strings(group.domains);
        item["mx_suffixes"] = strings(group.mx_suffixes);
        item["max_connections"] = group.max_connections;
        item["messages_per_connection"] = group.messages_per_connection;
        item["messages_per_minute"] = group.messages_per_minute;
        item["messages_per_hour"] = group.messages_per_hour;
        json::object state;
        const auto found = states.find(group.name);
        const delivery::BackoffState backoff =
            found == states.end() ? delivery::BackoffState{} : found->second.backoff;
        state["throttle"] = delivery::throttle_at(backoff, shaping, now);
        state["in_backoff"] = delivery::in_backoff(backoff, now);
        if (found == states.end()) {
            state["backoff_until"] = nullptr;
        } else {
            state["backoff_until"] = found->second.backoff_until_text;
        }
        state["backoffs"] = backoff.backoffs;
        if (backoff.last_reply.empty()) {
            state["last_reply"] = nullptr;
        } else {
            state["last_reply"] = backoff.last_reply;
        }
        item["state"] = std::move(state);
        json::object windows;
        for (const char* limit : {"messages_per_minute", "messages_per_hour"}) {
            const auto it = leased.find({group.name, limit});
            windows[limit] = it == leased.end() ? 0 : it->second;
        }
        item["leased"] = std::move(windows);
        items.emplace_back(std::move(item));
    }
    json::object body;
    body["items"] = std::move(items);
    co_return json_response(200, json::serialize(body));
}

asio::awaitable<Response> list_circuits(RequestContext& context) {
    std::int64_t limit = k_default_circuits;
    if (const auto text = query_value(parse_query(context.request.query), "limit")) {
        const auto [end, ec] = std::from_chars(text->data(), text->data() + text->size(), limit);
        if (ec != std::errc() || end != text->data() + text->size() || limit < 1 ||
            limit > k_max_circuits)
            co_return problem::validation("limit", "must be an integer between 1 and 1000");
    }
    auto rows =
        co_await context.pool.query(std::string(k_circuits), micros_of(Clock::now()), limit);
    if (!rows) co_return problem::from_database(rows.error());
    co_return json_response(200, std::string(rows->get(0, 0)));
}

asio::awaitable<Response> resume_group(RequestContext& context, const ShapingConfig& shaping) {
    const std::string name(context.param("group"));
    const bool configured = std::any_of(shaping.groups.begin(), shaping.groups.end(),
                                        [&](const auto& group) { return group.name == name; });
    if (!configured) co_return problem::not_found("no such destination group");
    auto statement = audited(context, 200, k_resume, k_resume_audit, k_resume_json,
                             params_of(name, micros_of(Clock::now())));
    auto rows =
        co_await context.pool.execute(std::move(statement.sql), std::move(statement.params));
    if (!rows) co_return problem::from_database(rows.error());
    co_return json_response(200, std::string(rows->get(0, 0)));
}

}  // namespace

void add_destination_routes(Router& router, const ShapingConfig& shaping) {
    auto config = std::make_shared<const ShapingConfig>(shaping);
    router.add("GET", "/api/v1/destinations",
               [config](RequestContext& context) { return list_destinations(context, *config); });
    router.add("GET", "/api/v1/destinations/circuits", list_circuits);
    router.add("POST", "/api/v1/destinations/{group}/resume",
               [config](RequestContext& context) { return resume_group(context, *config); });
}

}  // namespace smarthost::admin
