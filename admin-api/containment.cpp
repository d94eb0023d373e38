#include "admin-api/containment.hpp"

#include <boost/json.hpp>
#include <memory>
#include <string>

#include "admin-api/audit.hpp"
#include "admin-api/json_body.hpp"
#include "admin-api/mail_names.hpp"
#include "admin-api/pagination.hpp"
#include "admin-api/time_range.hpp"
#include "core/pg/pool.hpp"
#include "relay/queue/holds.hpp"
#include "relay/smtp/sub_user_header.hpp"

namespace smarthost::admin {
namespace {

namespace asio = boost::asio;
namespace json = boost::json;

constexpr std::string_view k_hold_fields[] = {"credential_id", "sub_user", "note"};
constexpr std::string_view k_action_fields[] = {"action", "filter", "bounce"};
constexpr std::string_view k_filter_fields[] = {
    "account_id",    "credential_id",    "sub_user",       "sender",
    "sender_domain", "recipient_domain", "received_after", "received_before"};
constexpr std::size_t k_note_max = 1024;
constexpr std::size_t k_sub_user_max = smtp::k_max_sub_user_octets;
constexpr std::int64_t k_id_max = std::numeric_limits<std::int64_t>::max();
// How long a POST works on its action before answering 202 and leaving the rest to the
// job runners: enough for tens of thousands of recipients.
constexpr std::chrono::milliseconds k_inline_budget{2000};

constexpr std::string_view k_hold_json =
    "json_build_object('id', t.id, 'account_id', t.account_id, 'credential_id', "
    "t.credential_id, 'sub_user', t.sub_user, 'reason', t.reason, 'evidence', t.evidence, "
    "'active', t.released_at IS NULL, 'created_by', t.created_by, 'created_at', t.created_at, "
    "'released_by', t.released_by, 'released_at', t.released_at)";
constexpr std::string_view k_hold_audit =
    "jsonb_build_object('hold_id', t.id, 'account_id', t.account_id, 'credential_id', "
    "t.credential_id, 'reason', t.reason)";

constexpr std::string_view k_job_json =
    "json_build_object('id', t.id, 'action', t.action, 'bounce', t.bounce, 'filter', t.filter, "
    "'hold_id', "
    "t.hold_id, 'state', t.state, 'recipients', t.recipients, 'batches', t.batches, "
    "'error', t.error, 'created_by', t.created_by, 'created_at', t.created_at, "
    "'updated_at', t.updated_at, 'finished_at', t.finished_at)";
constexpr std::string_view k_job_audit =
    "jsonb_build_object('job_id', t.id, 'action', t.action, 'bounce', t.bounce, 'filter', "
    "t.filter)";

// A hold as shown alone: with what it holds now and its jobs.
const std::string k_hold_detail =
    "SELECT json_build_object('hold', " + std::string(k_hold_json) +
    ", 'recipients_held', (SELECT count(*) FROM recipients r WHERE r.hold_id = t.id AND "
    "r.state = 'held'), 'jobs', coalesce((SELECT json_agg(json_build_object('id', j.id, "
    "'action', j.action, 'state', j.state, 'recipients', j.recipients) ORDER BY j.id) FROM "
    "queue_jobs j WHERE j.hold_id = t.id), '[]')) FROM holds t WHERE t.id = $1";

// An operator's hold on account $5, or on its credential $6, or on its sub-user $8; $7
// the note.
constexpr std::string_view k_place_hold = R"sql(
INSERT INTO holds (account_id, credential_id, sub_user, reason, evidence, created_by)
SELECT a.id, c.id, $8::text, 'operator', jsonb_strip_nulls(jsonb_build_object('note', $7::text)),
       'api:' || $1::text
  FROM accounts a LEFT JOIN credentials c ON c.id = $6::bigint AND c.account_id = a.id
 WHERE a.id = $5 AND ($6::bigint IS NULL OR c.id IS NOT NULL)
ON CONFLICT DO NOTHING
RETURNING *)sql";

// The holds smarthost places for a suspension or a disabled credential follow that state:
// they are released by resuming the account or enabling the credential.
constexpr std::string_view k_release_hold = R"sql(
UPDATE holds SET released_at = now(), released_by = 'api:' || $1::text
 WHERE id = $5 AND released_at IS NULL
   AND reason NOT IN ('account_suspended', 'credential_disabled')
RETURNING *)sql";

constexpr std::string_view k_insert_job = R"sql(
INSERT INTO queue_jobs (action, filter, bounce, created_by)
VALUES ($5, $6::jsonb, $7, 'api:' || $1::text)
RETURNING *)sql";

// A sub-user as messages.sub_user stores it (the header's value normalized).
std::optional<std::string> read_sub_user(FieldReader& fields) {
    const auto text = fields.string("sub_user", k_sub_user_max);
    if (!text) return std::nullopt;
    auto normalized = smtp::normalize_sub_user(*text);
    if (!normalized)
        fields.fail("sub_user", "must be a sub-user name: printable US-ASCII without spaces");
    return normalized;
}

// The `account_id` a list is narrowed to, if any.
std::optional<std::int64_t> read_account_id(const QueryParams& query,
                                            std::vector<FieldError>& errors) {
    const auto text = query_value(query, "account_id");
    if (!text) return std::nullopt;
    auto id = parse_id(*text);
    if (!id) errors.push_back({"account_id", "must be a positive integer"});
    return id;
}

asio::awaitable<Response> list_holds(RequestContext& context) {
    const auto query = parse_query(context.request.query);
    std::vector<FieldError> errors;
    const auto page = read_page(query, errors);
    const auto account_id = read_account_id(query, errors);
    const auto state = query_value(query, "state");
    if (state && *state != "active" && *state != "released")
        errors.push_back({"state", "must be active or released"});
    if (!errors.empty()) co_return problem::validation(std::move(errors));
    auto rows = co_await context.pool.query(
        "SELECT " + std::string(k_hold_json) +
            ", t.id FROM holds t WHERE ($1::bigint IS NULL OR t.account_id = $1) "
            "AND ($2::text IS NULL OR (t.released_at IS NULL) = ($2 = 'active')) "
            "AND ($3::bigint IS NULL OR t.id > $3) ORDER BY t.id LIMIT $4",
        account_id, state, page.cursor, page.limit + 1);
    if (!rows) co_return problem::from_database(rows.error());
    co_return page_response(*rows, page.limit);
}

asio::awaitable<Response> show_hold(RequestContext& context) {
    const auto id = context.id_param();
    if (!id) co_return problem::not_found("no such hold");
    auto rows = co_await context.pool.query(k_hold_detail, *id);
    if (!rows) co_return problem::from_database(rows.error());
    if (rows->empty()) co_return problem::not_found("no such hold");
    co_return json_response(200, std::string(rows->get(0, 0)));
}

// The hold as it is now, after the transaction that changed it.
asio::awaitable<Response> answer_hold(RequestContext& context, unsigned status, std::int64_t id) {
    auto rows = co_await context.pool.query(k_hold_detail, id);
    if (!rows) co_return problem::from_database(rows.error());
    if (rows->empty()) co_return problem::not_found("no such hold");
    co_return json_response(status, std::string(rows->get(0, 0)));
}

std::vector<pg::Statement> hold_change(const RequestContext& context, unsigned status,
                                       std::string_view dml, std::vector<pg::Param> params) {
    std::vector<pg::Statement> statements;
    statements.push_back(audited(context, status, dml, k_hold_audit, "t.id", std::move(params)));
    statements.push_back(pg::Statement{std::string(queue::start_hold_jobs_sql()), {}});
    return statements;
}

asio::awaitable<Response> place_hold(RequestContext& context) {
    const auto account_id = context.id_param();
    if (!account_id) co_return problem::not_found("no such account");
    auto body = parse_object(context.request, k_hold_fields);
    if (auto* problem = std::get_if<Response>(&body)) co_return std::move(*problem);
    FieldReader fields(std::get<json::object>(body));
    std::optional<std::int64_t> credential_id;
    if (const auto value = fields.limit("credential_id", k_id_max); value && *value) {
        credential_id = **value;
        if (*credential_id == 0) fields.fail("credential_id", "must be a positive integer");
    }
    const auto note = fields.string("note", k_note_max);
    const auto sub_user = read_sub_user(fields);
    if (sub_user && credential_id)
        fields.fail("sub_user", "a hold is on a credential or a sub-user, not both");
    if (!fields.ok()) co_return problem::validation(std::move(fields.errors()));

    auto params = params_of(*account_id);
    params.push_back(credential_id ? pg::to_param(*credential_id) : pg::null_param());
    params.push_back(note ? pg::text(*note) : pg::null_param());
    params.push_back(sub_user ? pg::text(*sub_user) : pg::null_param());
    auto results = co_await context.pool.transaction(
        hold_change(context, 201, k_place_hold, std::move(params)));
    if (!results) co_return problem::from_database(results.error());
    if (!results->front().empty()) {
        auto answer = co_await answer_hold(context, 201, results->front().get_int(0, 0));
        co_return answer;
    }
    // Nothing placed: say why.
    auto why = co_await context.pool.query(
        "SELECT EXISTS (SELECT 1 FROM accounts WHERE id = $1), "
        "$2::bigint IS NULL OR EXISTS (SELECT 1 FROM credentials WHERE id = $2 AND account_id = "
        "$1), "
        "(SELECT min(id) FROM holds WHERE account_id = $1 AND credential_id IS NOT DISTINCT FROM "
        "$2 AND sub_user IS NOT DISTINCT FROM $3 AND reason = 'operator' AND released_at IS NULL)",
        *account_id, credential_id, sub_user);
    if (!why) co_return problem::from_database(why.error());
    if (!why->get_bool(0, 0)) co_return problem::not_found("no such account");
    if (!why->get_bool(0, 1))
        co_return problem::validation("credential_id", "no such credential in this account");
    const std::string unit = credential_id ? "credential" : sub_user ? "sub-user" : "account";
    co_return problem::conflict("an operator hold on this " + unit + " is already active: hold " +
                                std::string(why->get(0, 2)));
}

asio::awaitable<Response> release_hold(RequestContext& context) {
    const auto id = context.id_param();
    if (!id) co_return problem::not_found("no such hold");
    auto body = parse_object(context.request, k_no_fields);
    if (auto* problem = std::get_if<Response>(&body)) co_return std::move(*problem);
    auto results = co_await context.pool.transaction(
        hold_change(context, 200, k_release_hold, params_of(*id)));
    if (!results) co_return problem::from_database(results.error());
    if (!results->front().empty()) {
        auto answer = co_await answer_hold(context, 200, *id);
        co_return answer;
    }
    auto why = co_await context.pool.query(
        "SELECT released_at IS NULL, reason FROM holds WHERE id = $1", *id);
    if (!why) co_return problem::from_database(why.error());
    if (why->empty()) co_return problem::not_found("no such hold");
    if (!why->get_bool(0, 0)) co_return problem::conflict("this hold has been released already");
    co_return problem::conflict(
        why->get(0, 1) == "account_suspended"
            ? "this hold follows the account's suspension: resume the account to release it"
            : "this hold follows the credential's state: enable the credential to release it");
}

// The filter of a queue action, checked and canonical, as the job stores it.
std::optional<json::object> read_filter(FieldReader& fields) {
    const auto* filter = fields.object("filter");
    if (!filter) {
        if (!fields.has("filter")) fields.fail("filter", "is required");
        return std::nullopt;
    }
    auto nested = fields.nested(*filter, "filter");
    nested.unknown_fields(k_filter_fields);
    json::object canonical;
    for (const std::string_view id_field : {"account_id", "credential_id"}) {
        const auto value = nested.limit(id_field, k_id_max);
        if (!value || !*value) continue;
        if (**value == 0)
            nested.fail(id_field, "must be a positive integer");
        else
            canonical[id_field] = **value;
    }
    if (const auto sub_user = read_sub_user(nested)) {
        canonical["sub_user"] = *sub_user;
        // Sub-user names are the account's own: the same name in another account is
        // another sub-user.
        if (!nested.has("account_id")) nested.fail("sub_user", "needs account_id");
    }
    if (nested.has("sender")) {
        if (auto sender = nested.required_canonical("sender", 320, canonical_address))
            canonical["sender"] = *sender;
    }
    for (const std::string_view domain_field : {"sender_domain", "recipient_domain"}) {
        if (!nested.has(domain_field)) continue;
        if (auto domain = nested.required_canonical(domain_field, 253, canonical_domain))
            canonical[domain_field] = *domain;
    }
    for (const std::string_view time_field : {"received_after", "received_before"}) {
        const auto text = nested.string(time_field, 64);
        if (!text) continue;
        if (!is_rfc3339_timestamp(*text))
            nested.fail(time_field, "must be an RFC 3339 timestamp");
        else
            canonical[time_field] = *text;
    }
    if (nested.ok() && canonical.empty())
        fields.fail("filter",
                    "needs at least one of account_id, credential_id, sender, sender_domain, "
                    "recipient_domain, received_after, received_before");
    return canonical;
}

// What the anomaly rules tripped (relay/policy/anomaly_detector.hpp), newest last.
asio::awaitable<Response> list_trips(RequestContext& context) {
    const auto query = parse_query(context.request.query);
    std::vector<FieldError> errors;
    const auto page = read_page(query, errors);
    const auto account_id = read_account_id(query, errors);
    const auto rule = query_value(query, "rule");
    if (rule && *rule != "volume" && *rule != "remote_rejections" && *rule != "spam_blocks" &&
        *rule != "scan_rejects" && *rule != "login_networks" && *rule != "suspicious_logins")
        errors.push_back({"rule",
                          "must be volume, remote_rejections, spam_blocks, scan_rejects, "
                          "login_networks or suspicious_logins"});
    if (!errors.empty()) co_return problem::validation(std::move(errors));
    auto rows = co_await context.pool.query(
        "SELECT json_build_object('id', t.id, 'rule', t.rule, 'account_id', t.account_id, "
        "'credential_id', t.credential_id, 'sub_user', t.sub_user, 'action', t.action, "
        "'evidence', t.evidence, "
        "'created_at', t.created_at), t.id FROM rule_trips t "
        "WHERE ($1::bigint IS NULL OR t.account_id = $1) AND ($2::text IS NULL OR t.rule = $2) "
        "AND ($3::bigint IS NULL OR t.id > $3) ORDER BY t.id LIMIT $4",
        account_id, rule, page.cursor, page.limit + 1);
    if (!rows) co_return problem::from_database(rows.error());
    co_return page_response(*rows, page.limit);
}

struct QueueActionRoutes {
    WorkOnQueueJob work_on;

    asio::awaitable<Response> answer_job(RequestContext& context, std::int64_t id,
                                         unsigned done_status) {
        auto rows = co_await context.pool.query(
            "SELECT " + std::string(k_job_json) + ", t.state FROM queue_jobs t WHERE t.id = $1",
            id);
        if (!rows) co_return problem::from_database(rows.error());
        if (rows->empty()) co_return problem::not_found("no such queue action");
        if (rows->get(0, 1) != "running")
            co_return json_response(done_status, std::string(rows->get(0, 0)));
        auto response = json_response(202, std::string(rows->get(0, 0)));
        response.headers.emplace_back("Location", "/api/v1/queue/actions/" + std::to_string(id));
        co_return response;
    }

    asio::awaitable<Response> create(RequestContext& context) {
        auto body = parse_object(context.request, k_action_fields);
        if (auto* problem = std::get_if<Response>(&body)) co_return std::move(*problem);
        FieldReader fields(std::get<json::object>(body));
        const auto action = fields.string("action", 16);
        if (!fields.has("action"))
            fields.fail("action", "is required");
        else if (action && !queue::bulk_action_named(*action))
            fields.fail("action", "must be hold, release, cancel or retry");
        // Only a cancel ends recipients' delivery, so only a cancel has failures to report.
        const bool bounce = fields.boolean("bounce").value_or(false);
        if (bounce && action && *action != "cancel") fields.fail("bounce", "is for cancel only");
        const auto filter = read_filter(fields);
        if (!fields.ok()) co_return problem::validation(std::move(fields.errors()));

        auto statement = audited(context, 201, k_insert_job, k_job_audit, "t.id",
                                 params_of(*action, json::serialize(*filter), bounce));
        auto rows =
            co_await context.pool.execute(std::move(statement.sql), std::move(statement.params));
        if (!rows) co_return problem::from_database(rows.error());
        const auto id = rows->get_int(0, 0);
        if (work_on) {
            // A failure here leaves the job to the runners; the answer says where it is.
            auto progress = co_await work_on(id, k_inline_budget);
            (void)progress;
        }
        auto answer = co_await answer_job(context, id, 200);
        co_return answer;
    }

    asio::awaitable<Response> show(RequestContext& context) {
        const auto id = context.id_param();
        if (!id) co_return problem::not_found("no such queue action");
        auto answer = co_await answer_job(context, *id, 200);
        co_return answer;
    }

    asio::awaitable<Response> list(RequestContext& context) {
        const auto query = parse_query(context.request.query);
        std::vector<FieldError> errors;
        const auto page = read_page(query, errors);
        const auto state = query_value(query, "state");
        if (state && *state != "running" && *state != "done" && *state != "failed")
            errors.push_back({"state", "must be running, done or failed"});
        if (!errors.empty()) co_return problem::validation(std::move(errors));
        auto rows = co_await context.pool.query(
            "SELECT " + std::string(k_job_json) +
                ", t.id FROM queue_jobs t WHERE ($1::text IS NULL OR t.state = $1) "
                "AND ($2::bigint IS NULL OR t.id > $2) ORDER BY t.id LIMIT $3",
            state, page.cursor, page.limit + 1);
        if (!rows) co_return problem::from_database(rows.error());
        co_return page_response(*rows, page.limit);
    }
};

}  // namespace

void add_containment_routes(Router& router, WorkOnQueueJob work_on) {
    router.add("GET", "/api/v1/holds", list_holds);
    router.add("GET", "/api/v1/holds/{id}", show_hold);
    router.add("POST", "/api/v1/accounts/{id}/holds", place_hold);
    router.add("POST", "/api/v1/holds/{id}/release", release_hold);
    router.add("GET", "/api/v1/abuse/trips", list_trips);

    auto routes = std::make_shared<QueueActionRoutes>(QueueActionRoutes{std::move(work_on)});
    auto bind = [routes](asio::awaitable<Response> (QueueActionRoutes::*handler)(RequestContext&)) {
        return [routes, handler](RequestContext& context) { return ((*routes).*handler)(context); };
    };
    router.add("POST", "/api/v1/queue/actions", bind(&QueueActionRoutes::create));
    router.add("GET", "/api/v1/queue/actions", bind(&QueueActionRoutes::list));
    router.add("GET", "/api/v1/queue/actions/{id}", bind(&QueueActionRoutes::show));
}

}  // namespace smarthost::admin
