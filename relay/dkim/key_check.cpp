#include "relay/dkim/key_check.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "core/pg/pool.hpp"
#include "core/spawn.hpp"
#include "relay/dkim/keys.hpp"
#include "relay/dns/resolver.hpp"

namespace smarthost::dkim {
namespace {

namespace asio = boost::asio;

constexpr const char* k_key_by_id = R"sql(
SELECT k.id, k.selector, k.public_key, d.domain
  FROM dkim_keys k JOIN sender_domains d ON d.id = k.sender_domain_id
 WHERE k.id = $1)sql";

// Claims due keys by moving dns_checked_at: another replica's round skips them.
constexpr const char* k_claim_due = R"sql(
UPDATE dkim_keys k SET dns_checked_at = to_timestamp($3::bigint / 1000000.0)
  FROM sender_domains d
 WHERE d.id = k.sender_domain_id
   AND k.id IN (SELECT id FROM dkim_keys
                 WHERE state <> 'retired'
                   AND (dns_checked_at IS NULL OR dns_checked_at <
                        to_timestamp($3::bigint / 1000000.0) - make_interval(secs => $1))
                 ORDER BY dns_checked_at NULLS FIRST, id
                 LIMIT $2
                 FOR NO KEY UPDATE SKIP LOCKED)
RETURNING k.id, k.selector, k.public_key, d.domain)sql";

// Only while the key is the one that was looked up (a re-import under the same id cannot
// happen, but the comparison keeps a stale answer from landing on another key).
constexpr const char* k_store_status = R"sql(
UPDATE dkim_keys SET dns_status = $2, dns_checked_at = to_timestamp($3::bigint / 1000000.0)
 WHERE id = $1 AND public_key = $4)sql";

struct KeyRow {
    std::int64_t id = 0;
    std::string selector;
    std::string public_key;
    std::string domain;
};

std::vector<KeyRow> key_rows(const pg::Rows& rows) {
    std::vector<KeyRow> out;
    for (std::size_t i = 0; i < rows.size(); ++i) {
        KeyRow row;
        row.id = rows.get_int(i, 0);
        row.selector = rows.get(i, 1);
        row.public_key = rows.get(i, 2);
        row.domain = rows.get(i, 3);
        out.push_back(std::move(row));
    }
    return out;
}

}  // namespace

std::optional<DnsStatus> status_after_lookup(dns::AnswerStatus answer,
                                             const std::vector<std::string>& records,
                                             std::string_view public_key) {
    switch (answer) {
        case dns::AnswerStatus::nxdomain:
        case dns::AnswerStatus::nodata:
            return DnsStatus::missing;
        case dns::AnswerStatus::temporary:
        case dns::AnswerStatus::timeout:
            return std::nullopt;
        case dns::AnswerStatus::ok:
            break;
    }
    if (records.empty()) return DnsStatus::missing;
    const bool matches = std::any_of(records.begin(), records.end(), [&](const std::string& r) {
        const auto published = public_key_of_record(r);
        return published && !published->empty() && *published == public_key;
    });
    return matches ? DnsStatus::published : DnsStatus::mismatch;
}

struct KeyRecordChecker::Impl {
    asio::any_io_executor executor;
    pg::Pool& pool;
    dns::Resolver& resolver;
    Settings settings;
    std::function<Clock::time_point()> now;
    asio::steady_timer timer;
    bool running = false;

    Impl(asio::any_io_executor ex, pg::Pool& p, dns::Resolver& r, Settings s,
         std::function<Clock::time_point()> clock)
        : executor(ex), pool(p), resolver(r), settings(s), now(std::move(clock)), timer(ex) {}

    asio::awaitable<Result<KeyCheck>> check(KeyRow row) {
        KeyCheck result;
        result.key_id = row.id;
        result.record_name = key_record_name(row.selector, row.domain);
        result.conclusive = false;
        auto answer = co_await resolver.txt(result.record_name);
        std::optional<DnsStatus> next;
        if (answer) {
            next = status_after_lookup(answer->status, answer->records, row.public_key);
            result.detail = dns::to_string(answer->status);
        } else {
            result.detail = answer.error().message;
        }
        if (!next) {
            spdlog::info("dkim key check: {} (key {}) inconclusive ({})", result.record_name,
                         row.id, result.detail);
            co_return result;
        }
        auto stored = co_await pool.query(k_store_status, row.id, to_string(*next),
                                          epoch_microseconds(now()), row.public_key);
        if (!stored) co_return stored.error();
        result.conclusive = true;
        result.status = *next;
        co_return result;
    }

    asio::awaitable<Result<std::vector<KeyCheck>>> check_due() {
        auto rows = co_await pool.query(
            k_claim_due, static_cast<std::int64_t>(settings.interval.count()),
            static_cast<std::int64_t>(settings.batch), epoch_microseconds(now()));
        if (!rows) co_return rows.error();
        std::vector<KeyCheck> results;
        for (auto& row : key_rows(*rows)) {
            auto result = co_await check(std::move(row));
            if (!result) co_return result.error();
            results.push_back(std::move(*result));
        }
        co_return results;
    }

    asio::awaitable<void> loop(std::shared_ptr<Impl> self) {
        const auto period =
            std::min<std::chrono::seconds>(settings.interval, std::chrono::seconds(60));
        while (running) {
            auto results = co_await self->check_due();
            if (!results) spdlog::warn("dkim key check round failed: {}", results.error().message);
            // A full batch means more are due: go on at once.
            if (results && results->size() == settings.batch) continue;
            timer.expires_after(period);
            co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
        }
    }
};

KeyRecordChecker::KeyRecordChecker(asio::any_io_executor executor, pg::Pool& pool,
                                   dns::Resolver& resolver, Settings settings,
                                   std::function<Clock::time_point()> now)
    : impl_(std::make_shared<Impl>(executor, pool, resolver, settings, std::move(now))) {}

KeyRecordChecker::~KeyRecordChecker() {
    stop();
}

asio::awaitable<Result<std::optional<KeyCheck>>> KeyRecordChecker::check(std::int64_t key_id) {
    auto rows = co_await impl_->pool.query(k_key_by_id, key_id);
    if (!rows) co_return rows.error();
    auto found = key_rows(*rows);
    if (found.empty()) co_return std::optional<KeyCheck>();
    auto result = co_await impl_->check(std::move(found.front()));
    if (!result) co_return result.error();
    co_return std::optional<KeyCheck>(std::move(*result));
}

asio::awaitable<Result<std::vector<KeyCheck>>> KeyRecordChecker::check_due() {
    return impl_->check_due();
}

void KeyRecordChecker::start() {
    if (impl_->running) return;
    impl_->running = true;
    spawn_supervised(impl_->executor, "dkim_key_check",
                     [impl = impl_] { return impl->loop(impl); });
}

void KeyRecordChecker::stop() {
    impl_->running = false;
    impl_->timer.cancel();
}

}  // namespace smarthost::dkim
