#include "relay/delivery/pending_reports.hpp"

#include <spdlog/spdlog.h>

#include <cstdint>
#include <utility>
#include <vector>

#include "core/pg/pool.hpp"
#include "core/pg/sqlstate.hpp"
#include "relay/delivery/dsn_message.hpp"
#include "relay/queue/group_commit.hpp"
#include "relay/queue/new_message.hpp"
#include "relay/queue/notify.hpp"
#include "relay/queue/recipient_locks.hpp"

namespace smarthost::delivery {

namespace asio = boost::asio;

namespace {

// A message's stored lines, with what its report needs of the message, and whether one of
// its recipients is still being tried in this pass.
constexpr const char* k_pending_lines = R"sql(
SELECT m.account_id, m.envelope_sender, coalesce(m.dsn_envid, ''), coalesce(m.dsn_ret, ''),
       (extract(epoch FROM m.received_at) * 1000000)::bigint, m.size_bytes, r.id, r.address,
       coalesce(r.dsn_notify, ''), coalesce(r.dsn_orcpt, ''),
       coalesce(r.pending_report->>'action', ''), coalesce(r.pending_report->>'status', ''),
       coalesce(r.pending_report->>'remote_mta', ''),
       coalesce(r.pending_report->>'diagnostic', ''),
       EXISTS (SELECT 1 FROM recipients s
                WHERE s.message_id = m.id AND s.state IN ('in_flight', 'queued'))
  FROM messages m JOIN recipients r ON r.message_id = m.id AND r.pending_report IS NOT NULL
 WHERE m.id = $1::uuid
 ORDER BY r.id)sql";

// The first $2 bytes of a message as stored; no row once its body has been purged.
constexpr const char* k_report_body = R"sql(
SELECT substring(body FROM 1 FOR $2::int) FROM messages WHERE id = $1::uuid AND body IS NOT NULL)sql";

// Clears the lines $1 that a report covers, in the report's transaction (after
// k_lock_recipients). Any other count than $2 means another process sent them: the cast
// then fails on purpose and the transaction rolls back, so nothing is sent twice. (The
// failing branch is not a constant, so the planner cannot fold it and fail every time.)
constexpr const char* k_clear_lines = R"sql(
WITH cleared AS (
    UPDATE recipients SET pending_report = NULL
     WHERE id = ANY($1::bigint[]) AND pending_report IS NOT NULL
    RETURNING id
)
SELECT CASE WHEN count(*) = $2::bigint THEN count(*)
            ELSE ('pending report already sent: ' || count(*))::bigint END
  FROM cleared)sql";

// Messages whose lines waited $1 seconds or more; recipients_pending_report_idx.
constexpr const char* k_stale_messages = R"sql(
SELECT DISTINCT replace(message_id::text, '-', '') FROM recipients
 WHERE pending_report IS NOT NULL AND updated_at <= now() - $1::bigint * interval '1 second'
 LIMIT $2)sql";

// A report that returns headers only needs the beginning of the message alone.
constexpr std::int64_t k_report_header_bytes = 256 * 1024;

smtp::DsnReturn dsn_return(std::string_view ret) {
    if (ret == "FULL") return smtp::DsnReturn::full;
    if (ret == "HDRS") return smtp::DsnReturn::headers;
    return smtp::DsnReturn::unspecified;
}

}  // namespace

PendingReports::PendingReports(pg::Pool& pool, Settings settings)
    : pool_(pool), settings_(std::move(settings)) {}

asio::awaitable<Result<bool>> PendingReports::send_if_complete(std::string message_id,
                                                               TimePoint now) {
    return send(std::move(message_id), true, now);
}

asio::awaitable<Result<std::size_t>> PendingReports::sweep(TimePoint now, std::size_t limit) {
    auto stale = co_await pool_.query(k_stale_messages,
                                      static_cast<std::int64_t>(settings_.sweep_after.count()),
                                      static_cast<std::int64_t>(limit));
    if (!stale) co_return stale.error();
    std::size_t sent = 0;
    for (std::size_t row = 0; row < stale->size(); ++row) {
        auto done = co_await send(std::string(stale->get(row, 0)), false, now);
        if (!done) co_return done.error();
        if (*done) ++sent;
    }
    co_return sent;
}

asio::awaitable<Result<bool>> PendingReports::send(std::string message_id, bool wait_for_others,
                                                   TimePoint now) {
    enum Column {
        account_id,
        sender,
        envid,
        ret,
        received_micros,
        size_bytes,
        recipient_id,
        address,
        notify,
        orcpt,
        action,
        status,
        remote_mta,
        diagnostic,
        others_in_pass,
    };
    auto rows = co_await pool_.query(k_pending_lines, message_id);
    if (!rows) co_return rows.error();
    if (rows->empty()) co_return true;
    if (wait_for_others && rows->get_bool(0, others_in_pass)) co_return false;

    DsnOriginal original;
    original.sender = std::string(rows->get(0, sender));
    original.envid = std::string(rows->get(0, envid));
    original.ret = dsn_return(rows->get(0, ret));
    original.received_at = TimePoint(std::chrono::microseconds(rows->get_int(0, received_micros)));
    std::vector<DsnRecipient> lines;
    std::vector<std::int64_t> ids;
    for (std::size_t row = 0; row < rows->size(); ++row) {
        ids.push_back(rows->get_int(row, recipient_id));
        const auto named = action_named(rows->get(row, action));
        if (!named) continue;  // not written by this version: cleared, not reported
        DsnRecipient line;
        line.address = std::string(rows->get(row, address));
        line.notify = std::string(rows->get(row, notify));
        line.orcpt = std::string(rows->get(row, orcpt));
        line.action = *named;
        line.status = std::string(rows->get(row, status));
        line.remote_mta = std::string(rows->get(row, remote_mta));
        line.diagnostic = std::string(rows->get(row, diagnostic));
        line.last_attempt = now;
        if (line.action == DsnAction::delayed)
            line.will_retry_until = original.received_at + settings_.queue_lifetime;
        lines.push_back(std::move(line));
    }

    // The body: whole for RET=FULL within the bound, else enough for the header section.
    std::string content;
    if (!original.sender.empty() && !lines.empty()) {
        const std::int64_t size = rows->get_int(0, size_bytes);
        const bool whole = original.ret == smtp::DsnReturn::full &&
                           size <= static_cast<std::int64_t>(settings_.dsn.full_content_limit);
        if (original.ret == smtp::DsnReturn::full && !whole)
            original.ret = smtp::DsnReturn::headers;
        std::vector<pg::Param> params;
        params.push_back(pg::text(message_id));
        params.push_back(pg::to_param(whole ? size : k_report_header_bytes));
        auto body =
            co_await pool_.execute(k_report_body, std::move(params), pg::ResultFormat::binary);
        if (!body) co_return body.error();
        if (body->size() > 0) content = std::string(body->get(0, 0));
        original.content = content;
    }
    auto report = dsn_message(settings_.dsn, original, lines, rows->get_int(0, account_id), now,
                              queue::new_message_id());

    std::vector<pg::Statement> statements;
    statements.push_back(pg::Statement{queue::k_lock_recipients, {pg::text(queue::id_array(ids))}});
    statements.push_back(pg::Statement{
        k_clear_lines,
        {pg::text(queue::id_array(ids)), pg::to_param(static_cast<std::int64_t>(ids.size()))}});
    if (report) {
        statements.push_back(queue::insert_message_statement(*report));
        statements.push_back(queue::notify_queue_statement());
    }
    auto written = co_await pool_.transaction(std::move(statements));
    if (!written) {
        // Cleared by another batch or the sweep, which sent the report.
        if (pg::classify(written.error().code) == pg::SqlStateClass::invalid_value) co_return false;
        co_return written.error();
    }
    if (report) spdlog::info("delivery: report {} queued for message {}", report->id, message_id);
    co_return true;
}

}  // namespace smarthost::delivery
