#include "relay/queue/queue_jobs.hpp"

#include <spdlog/spdlog.h>

#include <array>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "core/pg/pool.hpp"
#include "core/spawn.hpp"
#include "relay/queue/holds.hpp"
#include "relay/queue/notify.hpp"

namespace smarthost::queue {

namespace asio = boost::asio;

namespace {

struct ActionRule {
    BulkAction action;
    std::string_view name;
    std::array<std::string_view, 3> states;  // visited in this order; empty ones unused
    std::string_view condition;              // more conditions on `r`, or empty
    std::string_view set;                    // assignments to recipients `r`
    std::string_view event;                  // events.kind, or empty for none
};

// A release by filter leaves alone what an active hold parked: the claims would park it
// again at once. A hold's own release job (filter hold_id) releases what it parked.
constexpr std::string_view k_not_under_active_hold =
    "(f.hold_id IS NOT NULL OR r.hold_id IS NULL OR NOT EXISTS "
    "(SELECT 1 FROM holds h WHERE h.id = r.hold_id AND h.released_at IS NULL))";

constexpr std::array<ActionRule, 4> k_rules{{
    {BulkAction::hold,
     "hold",
     {"queued", "deferred", ""},
     "(job.hold_id IS NULL OR EXISTS (SELECT 1 FROM hold))",
     "state = 'held', hold_id = (SELECT id FROM hold)",
     "held"},
    // Back to the state it would have without the hold, due now.
    {BulkAction::release,
     "release",
     {"held", "", ""},
     k_not_under_active_hold,
     "state = CASE WHEN r.attempts = 0 THEN 'queued' ELSE 'deferred' END, "
     "next_attempt_at = now(), hold_id = NULL",
     "released"},
    {BulkAction::cancel,
     "cancel",
     {"queued", "deferred", "held"},
     "",
     "state = 'cancelled', hold_id = NULL",
     "cancelled"},
    {BulkAction::retry, "retry", {"queued", "deferred", ""}, "", "next_attempt_at = now()", ""},
}};

const ActionRule& rule_of(BulkAction action) {
    for (const auto& rule : k_rules)
        if (rule.action == action) return rule;
    return k_rules.back();
}

bool wakes_delivery(BulkAction action) {
    return action == BulkAction::release || action == BulkAction::retry;
}

// The job must still be ours; a hold job's hold must still be active, and is locked
// FOR SHARE so that a release waits for the batch that parks under it (and its release
// job then sees what the batch parked). The filter's fields are read from the job row,
// so the statement is the same for every filter. The cursor's own condition on
// message_id lets the index scan start there.
constexpr std::string_view k_batch_head = R"sql(
WITH job AS (
    SELECT j.id, j.filter, j.hold_id FROM queue_jobs j
     WHERE j.id = $1 AND j.lease_owner = $2::text AND j.state = 'running'
    FOR NO KEY UPDATE
), hold AS (
    SELECT h.id, h.reason FROM holds h JOIN job ON h.id = job.hold_id
     WHERE h.released_at IS NULL
    FOR SHARE OF h
), f AS (
    SELECT (job.filter->>'account_id')::bigint AS account_id,
           (job.filter->>'credential_id')::bigint AS credential_id,
           job.filter->>'sub_user' AS sub_user,
           lower(job.filter->>'sender') AS sender,
           lower(job.filter->>'sender_domain') AS sender_domain,
           lower(job.filter->>'recipient_domain') AS recipient_domain,
           (job.filter->>'received_after')::timestamptz AS received_after,
           (job.filter->>'received_before')::timestamptz AS received_before,
           (job.filter->>'hold_id')::bigint AS hold_id
      FROM job
), target AS (
    SELECT r.id, r.message_id
      FROM job, f, recipients r JOIN messages m ON m.id = r.message_id
     WHERE r.state = $3::text
       AND ($4::uuid IS NULL OR (r.message_id >= $4::uuid
                                 AND (r.message_id, r.id) > ($4::uuid, $5::bigint)))
       AND (f.account_id IS NULL OR m.account_id = f.account_id)
       AND (f.credential_id IS NULL OR m.credential_id = f.credential_id)
       AND (f.sub_user IS NULL OR m.sub_user = f.sub_user)
       AND (f.sender IS NULL OR lower(m.envelope_sender) = f.sender)
       AND (f.sender_domain IS NULL
            OR lower(substring(m.envelope_sender FROM '@([^@]*)$')) = f.sender_domain)
       AND (f.recipient_domain IS NULL OR r.domain = f.recipient_domain)
       AND (f.received_after IS NULL OR m.received_at >= f.received_after)
       AND (f.received_before IS NULL OR m.received_at < f.received_before)
       AND (f.hold_id IS NULL OR r.hold_id = f.hold_id))sql";

constexpr std::string_view k_batch_tail = R"sql(
), last AS (
    SELECT message_id, id FROM target ORDER BY message_id DESC, id DESC LIMIT 1
), progress AS (
    UPDATE queue_jobs j
       SET recipients = j.recipients + (SELECT count(*) FROM changed), batches = j.batches + 1,
           cursor_message = coalesce((SELECT message_id FROM last), j.cursor_message),
           cursor_recipient = coalesce((SELECT id FROM last), j.cursor_recipient),
           lease_expires_at = now() + $7::bigint * interval '1 millisecond', updated_at = now()
      FROM job WHERE j.id = job.id
)
SELECT (SELECT count(*) FROM job), (SELECT count(*) FROM target),
       (SELECT message_id::text FROM last), (SELECT id FROM last), (SELECT count(*) FROM wake))sql";

// Takes job $1 (or, with NULL, the oldest running job nobody works on) for $2.
constexpr const char* k_lease = R"sql(
UPDATE queue_jobs j
   SET lease_owner = $2::text, lease_expires_at = now() + $3::bigint * interval '1 millisecond',
       updated_at = now()
 WHERE j.id = (SELECT id FROM queue_jobs
                WHERE state = 'running' AND ($1::bigint IS NULL OR id = $1)
                  AND (lease_owner IS NULL OR lease_expires_at < now() OR lease_owner = $2)
                ORDER BY id LIMIT 1
                FOR UPDATE SKIP LOCKED)
RETURNING j.id, j.action, j.phase, j.cursor_message::text, j.cursor_recipient)sql";

constexpr const char* k_next_phase = R"sql(
UPDATE queue_jobs SET phase = $3, cursor_message = NULL, cursor_recipient = NULL,
       updated_at = now()
 WHERE id = $1 AND lease_owner = $2::text AND state = 'running')sql";

constexpr const char* k_finish = R"sql(
UPDATE queue_jobs SET state = 'done', finished_at = now(), updated_at = now(),
       lease_owner = NULL, lease_expires_at = NULL
 WHERE id = $1 AND lease_owner = $2::text AND state = 'running')sql";

constexpr const char* k_give_up_lease = R"sql(
UPDATE queue_jobs SET lease_owner = NULL, lease_expires_at = NULL
 WHERE id = $1 AND lease_owner = $2::text)sql";

constexpr const char* k_progress = "SELECT state, recipients FROM queue_jobs WHERE id = $1";

}  // namespace

std::optional<BulkAction> bulk_action_named(std::string_view name) {
    for (const auto& rule : k_rules)
        if (rule.name == name) return rule.action;
    return std::nullopt;
}

std::string_view bulk_action_name(BulkAction action) {
    return rule_of(action).name;
}

std::vector<std::string_view> bulk_source_states(BulkAction action) {
    std::vector<std::string_view> states;
    for (const auto state : rule_of(action).states)
        if (!state.empty()) states.push_back(state);
    return states;
}

std::string bulk_batch_sql(BulkAction action) {
    const ActionRule& rule = rule_of(action);
    std::string sql(k_batch_head);
    if (!rule.condition.empty()) sql += "\n       AND " + std::string(rule.condition);
    sql +=
        "\n     ORDER BY r.message_id, r.id LIMIT $6 FOR UPDATE OF r SKIP LOCKED\n), changed AS "
        "(\n    UPDATE recipients r SET " +
        std::string(rule.set) +
        ", updated_at = now()\n      FROM target t WHERE r.id = t.id RETURNING r.id, r.message_id";
    if (!rule.event.empty())
        sql +=
            "\n), event AS (\n    INSERT INTO events (message_id, recipient_id, kind, reply)\n"
            "    SELECT c.message_id, c.id, '" +
            std::string(rule.event) +
            "', coalesce((SELECT 'held: ' || reason FROM hold), "
            "'queue action ' || (SELECT id FROM job))\n      FROM changed c";
    // A CTE that only reads runs if it is read: the final SELECT counts it.
    if (wakes_delivery(action))
        sql += "\n), wake AS (\n    SELECT pg_notify('" + std::string(k_queue_channel) +
               "', '') FROM (SELECT 1 FROM changed LIMIT 1) AS any_changed";
    else
        sql += "\n), wake AS (\n    SELECT 1 WHERE false";
    sql += k_batch_tail;
    return sql;
}

struct QueueJobs::Impl {
    struct Leased {
        std::int64_t id = 0;
        BulkAction action = BulkAction::hold;
        std::size_t phase = 0;
        std::optional<std::string> cursor_message;
        std::optional<std::int64_t> cursor_recipient;
    };

    asio::any_io_executor executor;
    pg::Pool& pool;
    std::string owner;
    Settings settings;
    asio::steady_timer timer;
    bool running = false;

    Impl(asio::any_io_executor ex, pg::Pool& p, std::string o, Settings s)
        : executor(ex), pool(p), owner(std::move(o)), settings(s), timer(ex) {}

    std::int64_t lease_ms() const { return settings.lease.count(); }

    asio::awaitable<Result<std::optional<Leased>>> lease(std::optional<std::int64_t> id) {
        std::vector<pg::Param> params;
        params.push_back(id ? pg::to_param(*id) : pg::null_param());
        params.push_back(pg::text(owner));
        params.push_back(pg::to_param(lease_ms()));
        auto rows = co_await pool.execute(k_lease, std::move(params));
        if (!rows) co_return rows.error();
        if (rows->empty()) co_return std::optional<Leased>{};
        Leased job;
        job.id = rows->get_int(0, 0);
        const auto action = bulk_action_named(rows->get(0, 1));
        if (!action)
            co_return Error{"queue job " + std::to_string(job.id) + ": unknown action", {}};
        job.action = *action;
        job.phase = static_cast<std::size_t>(rows->get_int(0, 2));
        if (!rows->is_null(0, 3)) job.cursor_message = std::string(rows->get(0, 3));
        if (!rows->is_null(0, 4)) job.cursor_recipient = rows->get_int(0, 4);
        co_return std::optional<Leased>(std::move(job));
    }

    // Batches until the job is done (true) or `until` has come (false). Loses no work if
    // the lease was lost: the statement then changes nothing, and the job is left.
    asio::awaitable<Result<bool>> run_batches(Leased& job,
                                              std::chrono::steady_clock::time_point until) {
        const auto states = bulk_source_states(job.action);
        const std::string sql = bulk_batch_sql(job.action);
        while (job.phase < states.size()) {
            if (std::chrono::steady_clock::now() >= until) co_return false;
            std::vector<pg::Param> params;
            params.push_back(pg::to_param(job.id));
            params.push_back(pg::text(owner));
            params.push_back(pg::text(std::string(states[job.phase])));
            params.push_back(job.cursor_message ? pg::text(*job.cursor_message) : pg::null_param());
            params.push_back(job.cursor_recipient ? pg::to_param(*job.cursor_recipient)
                                                  : pg::null_param());
            params.push_back(pg::to_param(static_cast<std::int64_t>(settings.batch_size)));
            params.push_back(pg::to_param(lease_ms()));
            auto rows = co_await pool.execute(sql, std::move(params));
            if (!rows) co_return rows.error();
            if (rows->get_int(0, 0) == 0) co_return false;  // no longer ours
            const auto taken = static_cast<std::size_t>(rows->get_int(0, 1));
            if (taken == settings.batch_size) {
                job.cursor_message = std::string(rows->get(0, 2));
                job.cursor_recipient = rows->get_int(0, 3);
                continue;
            }
            ++job.phase;
            job.cursor_message.reset();
            job.cursor_recipient.reset();
            std::vector<pg::Param> next;
            next.push_back(pg::to_param(job.id));
            next.push_back(pg::text(owner));
            next.push_back(pg::to_param(static_cast<std::int64_t>(job.phase)));
            if (auto moved = co_await pool.execute(k_next_phase, std::move(next)); !moved)
                co_return moved.error();
        }
        auto finished = co_await pool.query(k_finish, job.id, owner);
        if (!finished) co_return finished.error();
        co_return true;
    }

    asio::awaitable<Result<JobProgress>> work_on(std::int64_t id,
                                                 std::chrono::milliseconds budget) {
        JobProgress progress;
        progress.id = id;
        auto leased = co_await lease(id);
        if (!leased) co_return leased.error();
        if (*leased) {
            progress.ours = true;
            auto done = co_await run_batches(**leased, std::chrono::steady_clock::now() + budget);
            if (!done) co_return done.error();
            if (!*done) {
                auto given_up = co_await pool.query(k_give_up_lease, id, owner);
                if (!given_up) co_return given_up.error();
            }
        }
        auto rows = co_await pool.query(k_progress, id);
        if (!rows) co_return rows.error();
        if (rows->empty()) co_return Error{"no queue job " + std::to_string(id), {}};
        progress.state = std::string(rows->get(0, 0));
        progress.recipients = rows->get_int(0, 1);
        co_return progress;
    }

    // One round: missing hold jobs, then every job free to take, each to its end.
    asio::awaitable<Status> round() {
        if (auto started = co_await pool.query(std::string(start_hold_jobs_sql())); !started)
            co_return started.error();
        while (running) {
            auto leased = co_await lease(std::nullopt);
            if (!leased) co_return leased.error();
            if (!*leased) break;
            auto done =
                co_await run_batches(**leased, std::chrono::steady_clock::time_point::max());
            if (!done) co_return done.error();
        }
        co_return Done{};
    }

    asio::awaitable<void> loop(std::shared_ptr<Impl> self) {
        while (self->running) {
            if (auto status = co_await self->round(); !status)
                spdlog::warn("queue jobs: {}", status.error().message);
            self->timer.expires_after(self->settings.poll);
            co_await self->timer.async_wait(asio::as_tuple(asio::use_awaitable));
        }
    }
};

QueueJobs::QueueJobs(asio::any_io_executor executor, pg::Pool& pool, std::string owner,
                     Settings settings)
    : impl_(std::make_shared<Impl>(executor, pool, std::move(owner), settings)) {}

QueueJobs::~QueueJobs() {
    stop();
}

asio::awaitable<Result<JobProgress>> QueueJobs::work_on(std::int64_t id,
                                                        std::chrono::milliseconds budget) {
    auto impl = impl_;
    co_return co_await impl->work_on(id, budget);
}

void QueueJobs::start() {
    if (impl_->running) return;
    impl_->running = true;
    spawn_supervised(impl_->executor, "queue_jobs", [impl = impl_] { return impl->loop(impl); });
}

void QueueJobs::stop() {
    impl_->running = false;
    impl_->timer.cancel();
}

}  // namespace smarthost::queue
