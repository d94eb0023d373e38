#include "relay/queue/queue_jobs.hpp"

#include <spdlog/spdlog.h>

#include <array>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "core/pg/pool.hpp"
#include "core/pg/sqlstate.hpp"
#include "core/spawn.hpp"
#include "relay/delivery/cancel_report.hpp"
#include "relay/queue/group_commit.hpp"
#include "relay/queue/holds.hpp"
#include "relay/queue/new_message.hpp"
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
    // Only mail received before the cancel was asked for: neither what the customer
    // sends next nor the reports a bouncing cancel queues under the same account.
    {BulkAction::cancel,
     "cancel",
     {"queued", "deferred", "held"},
     "m.received_at <= job.created_at",
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
    SELECT j.id, j.filter, j.hold_id, j.bounce, j.created_at FROM queue_jobs j
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
RETURNING j.id, j.action, j.phase, j.cursor_message::text, j.cursor_recipient, j.bounce)sql";

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

// The recipients of a bouncing cancel's next $2 messages that still await their report,
// with what a report needs of each message (its body comes from k_report_body).
constexpr const char* k_pending_reports = R"sql(
WITH due AS (
    SELECT DISTINCT r.message_id
      FROM queue_job_reports p JOIN recipients r ON r.id = p.recipient_id
     WHERE p.job_id = $1
     ORDER BY r.message_id LIMIT $2
)
SELECT replace(m.id::text, '-', ''), m.account_id, m.envelope_sender, coalesce(m.dsn_envid, ''),
       coalesce(m.dsn_ret, ''), (extract(epoch FROM m.received_at) * 1000000)::bigint,
       m.size_bytes, r.id, r.address, coalesce(r.dsn_notify, ''), coalesce(r.dsn_orcpt, '')
  FROM due JOIN messages m ON m.id = due.message_id
  JOIN recipients r ON r.message_id = m.id
  JOIN queue_job_reports p ON p.job_id = $1 AND p.recipient_id = r.id
 ORDER BY m.id, r.id)sql";

// The first $2 bytes of a message as stored; no row once its body has been purged.
constexpr const char* k_report_body = R"sql(
SELECT substring(body FROM 1 FOR $2::int) FROM messages WHERE id = $1::uuid AND body IS NOT NULL)sql";

// Clears the notes of the recipients $3 that a group of reports covers, first in the
// reports' transaction, while the job is still $2's. Any other count than $4 means that
// another process sent these reports (or took the job): the cast then fails on purpose,
// the transaction rolls back, and nothing is sent twice. (The failing branch is not a
// constant, so the planner cannot fold it and fail every time.)
constexpr const char* k_clear_notes = R"sql(
WITH cleared AS (
    DELETE FROM queue_job_reports p USING queue_jobs j
     WHERE p.job_id = $1 AND p.recipient_id = ANY($3::bigint[])
       AND j.id = p.job_id AND j.lease_owner = $2::text AND j.state = 'running'
    RETURNING p.recipient_id
)
SELECT CASE WHEN count(*) = $4::bigint THEN count(*)
            ELSE ('queue job reports already sent: ' || count(*))::bigint END
  FROM cleared)sql";

// Messages per reports' transaction: bounds the bodies held at once.
constexpr std::int64_t k_report_messages = 8;
// A report that returns headers only needs the beginning of the message alone.
constexpr std::int64_t k_report_header_bytes = 256 * 1024;

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
    // A bouncing cancel notes what it cancelled; run_batches() sends the reports.
    if (action == BulkAction::cancel)
        sql +=
            "\n), noted AS (\n    INSERT INTO queue_job_reports (job_id, recipient_id)\n"
            "    SELECT job.id, c.id FROM changed c, job WHERE job.bounce";
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
        bool bounce = false;
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
        job.bounce = rows->get_bool(0, 5);
        co_return std::optional<Leased>(std::move(job));
    }

    // The messages of the next group that awaits a bouncing cancel's reports, with the
    // recipients noted for each.
    asio::awaitable<Result<std::vector<delivery::CancelledMessage>>> pending_reports(
        std::int64_t job_id) {
        auto rows = co_await pool.query(k_pending_reports, job_id, k_report_messages);
        if (!rows) co_return rows.error();
        std::vector<delivery::CancelledMessage> messages;
        std::vector<std::pair<std::string, std::int64_t>> bodies;  // message id, size
        for (std::size_t row = 0; row < rows->size(); ++row) {
            const std::string id(rows->get(row, 0));
            if (bodies.empty() || bodies.back().first != id) {
                delivery::CancelledMessage message;
                message.account_id = rows->get_int(row, 1);
                message.sender = std::string(rows->get(row, 2));
                message.envid = std::string(rows->get(row, 3));
                const auto ret = rows->get(row, 4);
                if (ret == "FULL") message.ret = smtp::DsnReturn::full;
                if (ret == "HDRS") message.ret = smtp::DsnReturn::headers;
                message.received_at =
                    delivery::TimePoint(std::chrono::duration_cast<delivery::TimePoint::duration>(
                        std::chrono::microseconds(rows->get_int(row, 5))));
                messages.push_back(std::move(message));
                bodies.emplace_back(id, rows->get_int(row, 6));
            }
            messages.back().recipients.push_back(delivery::CancelledRecipient{
                rows->get_int(row, 7), std::string(rows->get(row, 8)),
                std::string(rows->get(row, 10)), std::string(rows->get(row, 9))});
        }
        // A report returns a message whole only under RET=FULL and within the bound
        // (dsn.hpp); otherwise its header section is all it needs.
        const auto full_limit = static_cast<std::int64_t>(settings.dsn.full_content_limit);
        for (std::size_t i = 0; i < messages.size(); ++i) {
            auto& message = messages[i];
            const bool whole =
                message.ret == smtp::DsnReturn::full && bodies[i].second <= full_limit;
            if (message.ret == smtp::DsnReturn::full && !whole)
                message.ret = smtp::DsnReturn::headers;
            if (message.sender.empty()) continue;  // no report: no body needed
            std::vector<pg::Param> params;
            params.push_back(pg::text(bodies[i].first));
            params.push_back(pg::to_param(whole ? bodies[i].second : k_report_header_bytes));
            auto body =
                co_await pool.execute(k_report_body, std::move(params), pg::ResultFormat::binary);
            if (!body) co_return body.error();
            if (body->size() > 0) message.content = std::string(body->get(0, 0));
        }
        co_return messages;
    }

    // Sends every report a bouncing cancel has noted, a group of messages per
    // transaction. False if the job is no longer ours.
    asio::awaitable<Result<bool>> send_reports(const Leased& job) {
        for (;;) {
            auto messages = co_await pending_reports(job.id);
            if (!messages) co_return messages.error();
            if (messages->empty()) co_return true;
            std::vector<std::int64_t> noted;
            std::vector<delivery::CancelReport> reports;
            for (const auto& message : *messages) {
                for (const auto& recipient : message.recipients)
                    noted.push_back(recipient.id);
                auto report = delivery::cancel_report(settings.dsn, message, settings.clock(),
                                                      new_message_id());
                if (report) reports.push_back(std::move(*report));
            }
            std::string ids = "{";
            for (const auto id : noted)
                ids += (ids.size() > 1 ? "," : "") + std::to_string(id);
            ids += '}';
            std::vector<pg::Statement> statements;
            statements.push_back(
                pg::Statement{k_clear_notes,
                              {pg::to_param(job.id), pg::text(owner), pg::text(std::move(ids)),
                               pg::to_param(static_cast<std::int64_t>(noted.size()))}});
            for (const auto& report : reports)
                statements.push_back(insert_message_statement(report.message, &report.reported));
            if (!reports.empty()) statements.push_back(notify_queue_statement());
            auto written = co_await pool.transaction(std::move(statements));
            if (!written) {
                // Cleared by someone else: the job is no longer ours to work on.
                if (pg::classify(written.error().code) == pg::SqlStateClass::invalid_value)
                    co_return false;
                co_return written.error();
            }
        }
    }

    // Batches until the job is done (true) or `until` has come (false). Loses no work if
    // the lease was lost: the statement then changes nothing, and the job is left.
    asio::awaitable<Result<bool>> run_batches(Leased& job,
                                              std::chrono::steady_clock::time_point until) {
        const auto states = bulk_source_states(job.action);
        const std::string sql = bulk_batch_sql(job.action);
        // What a former holder of the job cancelled but did not report yet goes first.
        if (job.bounce) {
            auto sent = co_await send_reports(job);
            if (!sent) co_return sent.error();
            if (!*sent) co_return false;
        }
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
            if (job.bounce) {
                auto sent = co_await send_reports(job);
                if (!sent) co_return sent.error();
                if (!*sent) co_return false;
            }
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
