#include "relay/queue/group_commit.hpp"

#include <fmt/format.h>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <deque>
#include <exception>
#include <utility>

#include "core/metrics/metrics.hpp"
#include "core/pg/pool.hpp"
#include "core/spawn.hpp"

namespace smarthost::queue {

namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;

namespace {

// One statement per message: the message, its recipients (text[] parameters, in the
// order given) and its 'accepted' event; recipients that policy bounced at once
// (Envelope::bounced) are stored final with a 'bounced' event each. The message row
// comes from one of the two sources below.
constexpr const char* k_insert_head = R"sql(
WITH message AS (
    INSERT INTO messages (id, account_id, credential_id, envelope_sender, client_ip,
                          client_helo, tls_version, size_bytes, body_8bitmime, smtputf8,
                          dsn_ret, dsn_envid, header_message_id, body, sub_user,
                          scan_score, scan_action, scan_symbols))sql";

constexpr const char* k_insert_values = R"sql(
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $29, $24, $25, $26))sql";

// A report is stored only if every recipient it reports on ($29) is final by now (bounced,
// expired, cancelled by a bouncing cancel, or delivered for a relayed report). A report has no
// sub-user (a message's sub_user is $29 in the plain form) and no scan.
constexpr const char* k_insert_if_reported_final = R"sql(
    SELECT $1::uuid, $2::bigint, $3::bigint, $4::text, $5::inet, $6::text, $7::text,
           $8::bigint, $9::boolean, $10::boolean, $11::text, $12::text, $13::text, $14::bytea,
           NULL::text, $24::double precision, $25::text, $26::jsonb
    WHERE NOT EXISTS (SELECT 1 FROM recipients
                      WHERE id = ANY($29::bigint[])
                        AND state NOT IN ('bounced', 'expired', 'cancelled', 'delivered')
                        AND NOT (state = 'deferred' AND delay_warned)))sql";

constexpr const char* k_insert_tail = R"sql(
    RETURNING id, client_ip, client_helo, tls_version
), recipient AS (
    INSERT INTO recipients (message_id, address, domain, dsn_notify, dsn_orcpt, state)
    SELECT message.id, r.address, r.domain, nullif(r.notify, ''), nullif(r.orcpt, ''),
           CASE WHEN $27::boolean THEN 'held' ELSE 'queued' END
    FROM message,
         unnest($15::text[], $16::text[], $17::text[], $18::text[])
             WITH ORDINALITY AS r (address, domain, notify, orcpt, position)
    ORDER BY r.position
    RETURNING id, message_id
), held_event AS (
    INSERT INTO events (message_id, recipient_id, kind, reply)
    SELECT message_id, id, 'held', $28::text FROM recipient WHERE $27::boolean
), bounced AS (
    INSERT INTO recipients (message_id, address, domain, dsn_notify, dsn_orcpt, state, last_reply)
    SELECT message.id, b.address, b.domain, nullif(b.notify, ''), nullif(b.orcpt, ''),
           'bounced', b.reply
    FROM message,
         unnest($19::text[], $20::text[], $21::text[], $22::text[], $23::text[])
             WITH ORDINALITY AS b (address, domain, notify, orcpt, reply, position)
    ORDER BY b.position
    RETURNING id, message_id, last_reply
), bounced_event AS (
    INSERT INTO events (message_id, recipient_id, kind, reply)
    SELECT message_id, id, 'bounced', last_reply FROM bounced
)
INSERT INTO events (message_id, kind, remote_ip, remote_host, tls_version)
SELECT id, 'accepted', client_ip, nullif(client_helo, ''), tls_version FROM message)sql";

// Contract 1, "250 means stored": the commit must wait for the WAL flush (and for the
// synchronous standbys, if any), whatever the server, database or role default says. A
// default of off would otherwise acknowledge mail that a crash of the database can lose.
constexpr const char* k_synchronous_commit = "SET LOCAL synchronous_commit = on";

// A PostgreSQL array literal of text elements, each double-quoted with '"' and '\'
// escaped, so no address can break out of its element.
template <class Item, class Field>
std::string text_array(const std::vector<Item>& items, Field field) {
    std::string literal = "{";
    for (const Item& item : items) {
        if (literal.size() > 1) literal += ',';
        literal += '"';
        for (char c : field(item)) {
            if (c == '"' || c == '\\') literal += '\\';
            literal += c;
        }
        literal += '"';
    }
    literal += '}';
    return literal;
}

template <class Item, class Member>
std::string text_array(const std::vector<Item>& items, Member Item::*member) {
    return text_array(items,
                      [member](const Item& item) -> const std::string& { return item.*member; });
}

std::string bounced_array(const std::vector<smtp::BouncedRecipient>& bounced,
                          std::string smtp::Recipient::*member) {
    return text_array(bounced, [member](const smtp::BouncedRecipient& b) -> const std::string& {
        return b.recipient.*member;
    });
}

pg::Param optional_text(const std::string& value) {
    return value.empty() ? pg::null_param() : pg::text(value);
}

}  // namespace

pg::Statement insert_message_statement(const NewMessage& message,
                                       const std::vector<std::int64_t>* only_if_final) {
    static const std::string plain = std::string(k_insert_head) + k_insert_values + k_insert_tail;
    static const std::string guarded =
        std::string(k_insert_head) + k_insert_if_reported_final + k_insert_tail;
    const smtp::Envelope& envelope = message.envelope;
    pg::Param dsn_ret = pg::null_param();
    if (envelope.ret == smtp::DsnReturn::full) dsn_ret = pg::text("FULL");
    if (envelope.ret == smtp::DsnReturn::headers) dsn_ret = pg::text("HDRS");
    const auto& recipients = envelope.recipients;
    const auto& bounced = envelope.bounced;
    const auto& scan = message.scan;
    pg::Param scan_score = scan ? pg::text(fmt::format("{}", scan->score)) : pg::null_param();
    pg::Param scan_action = scan ? pg::text(scan->action) : pg::null_param();
    pg::Param scan_symbols = scan ? pg::text(scan->symbols_json) : pg::null_param();
    pg::Statement statement{only_if_final ? guarded : plain,
                            {
                                pg::text(message.id),
                                pg::to_param(message.account_id),
                                pg::to_param(message.credential_id),
                                pg::text(envelope.sender),
                                pg::text(message.client_ip),
                                pg::text(message.client_helo),
                                optional_text(message.tls_version),
                                pg::to_param(static_cast<std::int64_t>(message.body.size())),
                                pg::to_param(envelope.body == smtp::BodyType::eight_bit_mime),
                                pg::to_param(envelope.smtputf8),
                                std::move(dsn_ret),
                                optional_text(envelope.envid),
                                optional_text(message.header_message_id),
                                pg::borrowed_bytes(message.body),
                                pg::text(text_array(recipients, &smtp::Recipient::address)),
                                pg::text(text_array(recipients, &smtp::Recipient::domain)),
                                pg::text(text_array(recipients, &smtp::Recipient::notify)),
                                pg::text(text_array(recipients, &smtp::Recipient::orcpt)),
                                pg::text(bounced_array(bounced, &smtp::Recipient::address)),
                                pg::text(bounced_array(bounced, &smtp::Recipient::domain)),
                                pg::text(bounced_array(bounced, &smtp::Recipient::notify)),
                                pg::text(bounced_array(bounced, &smtp::Recipient::orcpt)),
                                pg::text(text_array(bounced, &smtp::BouncedRecipient::reply)),
                                scan_score,
                                scan_action,
                                scan_symbols,
                                pg::to_param(message.held_for_review),
                                optional_text(message.held_reason),
                            }};
    if (only_if_final) {
        std::string ids = "{";
        for (const std::int64_t id : *only_if_final) {
            if (ids.size() > 1) ids += ',';
            ids += std::to_string(id);
        }
        ids += '}';
        statement.params.push_back(pg::text(ids));
    } else {
        statement.params.push_back(optional_text(message.sub_user));
    }
    return statement;
}

namespace {

// A message waiting in enqueue(); woken by cancelling `done` once `status` is set.
struct Pending {
    Pending(const asio::any_io_executor& executor, NewMessage new_message)
        : done(executor), message(std::move(new_message)), arrived(Clock::now()) {
        done.expires_at(Clock::time_point::max());
    }
    void complete(Status result) {
        status = std::move(result);
        done.cancel();
    }
    asio::steady_timer done;
    NewMessage message;
    Clock::time_point arrived;
    std::optional<Status> status;
};

using Batch = std::vector<std::shared_ptr<Pending>>;

std::vector<pg::Statement> batch_statements(const Batch& batch) {
    std::vector<pg::Statement> statements;
    statements.reserve(batch.size() + 2);
    statements.push_back(pg::Statement{k_synchronous_commit, {}});
    for (const auto& pending : batch) {
        statements.push_back(insert_message_statement(pending->message));
        for (const auto& report : pending->message.reports)
            statements.push_back(insert_message_statement(report));
    }
    statements.push_back(notify_queue_statement());
    return statements;
}

}  // namespace

// A dispatcher coroutine forms batches from the queue and starts one commit coroutine
// per batch, at most max_batches_in_flight at once. It runs while the queue is not empty.
struct GroupCommitter::Impl : std::enable_shared_from_this<Impl> {
    Impl(pg::Pool& pool, Settings settings) : pool(pool), settings(std::move(settings)) {
        if (this->settings.max_batch_messages == 0) this->settings.max_batch_messages = 1;
        if (this->settings.max_batches_in_flight == 0) this->settings.max_batches_in_flight = 1;
    }

    pg::Pool& pool;
    Settings settings;
    std::deque<std::shared_ptr<Pending>> queue;
    std::size_t queued_bytes = 0;
    bool dispatching = false;
    std::size_t in_flight = 0;
    std::optional<asio::steady_timer> wakeup;  // the dispatcher sleeps on it
    std::uint64_t batches = 0;
    std::uint64_t messages = 0;

    bool batch_full() const {
        return queue.size() >= settings.max_batch_messages ||
               queued_bytes >= settings.max_batch_bytes;
    }

    void add(std::shared_ptr<Pending> pending, const asio::any_io_executor& executor) {
        queued_bytes += pending->message.body.size();
        queue.push_back(std::move(pending));
        if (!wakeup) wakeup.emplace(executor);
        if (!dispatching) {
            dispatching = true;
            spawn_logged(executor, "group_commit", dispatch(shared_from_this()));
        } else if (batch_full()) {
            wakeup->cancel();
        }
    }

    asio::awaitable<void> sleep_until(Clock::time_point when) {
        wakeup->expires_at(when);
        co_await wakeup->async_wait(asio::as_tuple(asio::use_awaitable));
    }

    static asio::awaitable<void> dispatch(std::shared_ptr<Impl> self) {
        const auto executor = co_await asio::this_coro::executor;
        while (!self->queue.empty()) {
            if (self->in_flight >= self->settings.max_batches_in_flight) {
                co_await self->sleep_until(Clock::time_point::max());
                continue;
            }
            const auto gather_until = self->queue.front()->arrived + self->settings.max_wait;
            if (!self->batch_full() && Clock::now() < gather_until) {
                co_await self->sleep_until(gather_until);
                continue;
            }
            ++self->in_flight;
            spawn_logged(executor, "group_commit_batch", commit(self, self->take_batch()));
        }
        self->dispatching = false;
    }

    Batch take_batch() {
        Batch batch;
        std::size_t bytes = 0;
        while (!queue.empty() && batch.size() < settings.max_batch_messages) {
            const std::size_t size = queue.front()->message.body.size();
            if (!batch.empty() && bytes + size > settings.max_batch_bytes) break;
            bytes += size;
            queued_bytes -= size;
            batch.push_back(std::move(queue.front()));
            queue.pop_front();
        }
        return batch;
    }

    static asio::awaitable<void> commit(std::shared_ptr<Impl> self, Batch batch) {
        try {
            co_await self->commit_batch(batch);
        } catch (const std::exception& e) {
            for (auto& pending : batch) {
                if (!pending->status) pending->complete(Error{e.what(), "", false});
            }
        }
        --self->in_flight;
        if (self->wakeup) self->wakeup->cancel();
    }

    asio::awaitable<void> commit_batch(const Batch& batch) {
        auto together = co_await pool.transaction(batch_statements(batch));
        if (together) {
            committed(batch);
            co_return;
        }
        if (together.error().unavailable || batch.size() == 1) {
            for (auto& pending : batch)
                pending->complete(together.error());
            co_return;
        }
        // One bad message (say, an account deleted meanwhile) must not fail its
        // neighbours: each is retried in a transaction of its own.
        std::optional<Error> outage;
        for (auto& pending : batch) {
            if (outage) {
                pending->complete(*outage);
                continue;
            }
            Batch alone{pending};
            auto result = co_await pool.transaction(batch_statements(alone));
            if (result) {
                committed(alone);
                continue;
            }
            if (result.error().unavailable) outage = result.error();
            pending->complete(result.error());
        }
    }

    void committed(const Batch& batch) {
        ++batches;
        messages += batch.size();
        metrics::global().group_commit_batch_messages.Observe(static_cast<double>(batch.size()));
        for (auto& pending : batch)
            pending->complete(Done{});
    }
};

GroupCommitter::GroupCommitter(pg::Pool& pool, Settings settings)
    : impl_(std::make_shared<Impl>(pool, std::move(settings))) {}

GroupCommitter::~GroupCommitter() = default;

asio::awaitable<Status> GroupCommitter::enqueue(NewMessage message) {
    const auto executor = co_await asio::this_coro::executor;
    auto pending = std::make_shared<Pending>(executor, std::move(message));
    impl_->add(pending, executor);
    while (!pending->status) {
        co_await pending->done.async_wait(asio::as_tuple(asio::use_awaitable));
    }
    co_return std::move(*pending->status);
}

bool GroupCommitter::idle() const {
    return impl_->queue.empty() && impl_->in_flight == 0;
}

std::uint64_t GroupCommitter::batches_committed() const {
    return impl_->batches;
}

std::uint64_t GroupCommitter::messages_committed() const {
    return impl_->messages;
}

}  // namespace smarthost::queue
