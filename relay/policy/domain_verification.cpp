#include "relay/policy/domain_verification.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "core/pg/pool.hpp"
#include "core/spawn.hpp"

namespace smarthost::policy {
namespace {

namespace asio = boost::asio;

constexpr const char* k_domain_by_id = R"sql(
SELECT id, domain, verification_token, status FROM sender_domains WHERE id = $1)sql";

// Claims due domains by moving checked_at: another replica's round skips them. The lock
// is the one the UPDATE takes anyway (NO KEY UPDATE): a plain FOR UPDATE would also skip
// rows that an insert elsewhere holds in KEY SHARE for its foreign key (a DKIM key, a
// health row, a credential), and the domain would wait a whole round.
constexpr const char* k_claim_due = R"sql(
UPDATE sender_domains SET checked_at = now()
 WHERE id IN (SELECT id FROM sender_domains
               WHERE checked_at IS NULL OR checked_at < now() - make_interval(secs => $1)
               ORDER BY checked_at NULLS FIRST, id
               LIMIT $2
               FOR NO KEY UPDATE SKIP LOCKED)
RETURNING id, domain, verification_token, status)sql";

// Only if the token is still the one that was looked up: a token replaced meanwhile is
// not verified by a record for the old one. verified_at is when it last became verified.
constexpr const char* k_store_status = R"sql(
UPDATE sender_domains
   SET status = $2,
       checked_at = now(),
       verified_at = CASE WHEN $2 = 'verified' AND status <> 'verified' THEN now()
                          ELSE verified_at END
 WHERE id = $1 AND verification_token = $3)sql";

constexpr const char* k_record_prefix = "smarthost-verification=";

struct DomainRow {
    std::int64_t id = 0;
    std::string domain;
    std::string token;
    DomainStatus status = DomainStatus::pending;
};

std::vector<DomainRow> domain_rows(const pg::Rows& rows) {
    std::vector<DomainRow> out;
    for (std::size_t i = 0; i < rows.size(); ++i) {
        out.push_back(
            DomainRow{rows.get_int(i, 0), std::string(rows.get(i, 1)), std::string(rows.get(i, 2)),
                      parse_domain_status(rows.get(i, 3)).value_or(DomainStatus::pending)});
    }
    return out;
}

}  // namespace

const char* to_string(DomainStatus status) {
    switch (status) {
        case DomainStatus::verified:
            return "verified";
        case DomainStatus::failed:
            return "failed";
        case DomainStatus::pending:
            break;
    }
    return "pending";
}

std::optional<DomainStatus> parse_domain_status(std::string_view text) {
    if (text == "pending") return DomainStatus::pending;
    if (text == "verified") return DomainStatus::verified;
    if (text == "failed") return DomainStatus::failed;
    return std::nullopt;
}

std::string verification_record_name(std::string_view label, std::string_view domain) {
    std::string name(label);
    name += '.';
    name += domain;
    return name;
}

std::string verification_record_text(std::string_view token) {
    return std::string(k_record_prefix) + std::string(token);
}

bool proves_ownership(const std::vector<std::string>& txt_records, std::string_view token) {
    if (token.empty()) return false;
    const auto expected = verification_record_text(token);
    return std::find(txt_records.begin(), txt_records.end(), expected) != txt_records.end();
}

std::optional<DomainStatus> status_after_lookup(DomainStatus current, dns::AnswerStatus answer,
                                                bool found) {
    switch (answer) {
        case dns::AnswerStatus::ok:
        case dns::AnswerStatus::nxdomain:
        case dns::AnswerStatus::nodata:
            break;
        case dns::AnswerStatus::temporary:
        case dns::AnswerStatus::timeout:
            return std::nullopt;
    }
    if (found) return DomainStatus::verified;
    return current == DomainStatus::verified ? DomainStatus::failed : current;
}

struct DomainVerifier::Impl : std::enable_shared_from_this<Impl> {
    asio::any_io_executor executor;
    pg::Pool& pool;
    dns::Resolver& resolver;
    Settings settings;
    asio::steady_timer timer;
    bool running = false;

    Impl(asio::any_io_executor ex, pg::Pool& p, dns::Resolver& r, Settings s)
        : executor(ex), pool(p), resolver(r), settings(std::move(s)), timer(ex) {}

    asio::awaitable<Result<VerificationResult>> check(DomainRow row) {
        VerificationResult result{row.id, row.domain, row.status, false};
        auto answer = co_await resolver.txt(verification_record_name(settings.label, row.domain));
        std::optional<DomainStatus> next;
        if (answer) {
            next = status_after_lookup(row.status, answer->status,
                                       proves_ownership(answer->records, row.token));
        }
        if (!next) {
            spdlog::info("domain verification: {} inconclusive ({})", row.domain,
                         answer ? dns::to_string(answer->status) : answer.error().message);
            co_return result;
        }
        auto stored = co_await pool.query(k_store_status, row.id, to_string(*next), row.token);
        if (!stored) co_return stored.error();
        result.conclusive = true;
        result.status = *next;
        if (*next != row.status) {
            spdlog::info("domain verification: {} (id {}) {} -> {}", row.domain, row.id,
                         to_string(row.status), to_string(*next));
        }
        co_return result;
    }

    asio::awaitable<void> loop(std::shared_ptr<Impl> self) {
        const auto period =
            std::min<std::chrono::seconds>(settings.interval, std::chrono::seconds(60));
        while (running) {
            auto results = co_await self->verify_due();
            if (!results)
                spdlog::warn("domain verification round failed: {}", results.error().message);
            // A full batch means more are due: go on at once.
            if (results && results->size() == settings.batch) continue;
            timer.expires_after(period);
            co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
        }
    }

    asio::awaitable<Result<std::vector<VerificationResult>>> verify_due() {
        const auto interval_seconds = static_cast<std::int64_t>(settings.interval.count());
        const auto batch = static_cast<std::int64_t>(settings.batch);
        auto rows = co_await pool.query(k_claim_due, interval_seconds, batch);
        if (!rows) co_return rows.error();
        std::vector<VerificationResult> results;
        for (auto& row : domain_rows(*rows)) {
            auto result = co_await check(std::move(row));
            if (!result) co_return result.error();
            results.push_back(std::move(*result));
        }
        co_return results;
    }
};

DomainVerifier::DomainVerifier(asio::any_io_executor executor, pg::Pool& pool,
                               dns::Resolver& resolver, Settings settings)
    : impl_(std::make_shared<Impl>(executor, pool, resolver, std::move(settings))) {}

DomainVerifier::~DomainVerifier() {
    stop();
}

asio::awaitable<Result<std::optional<VerificationResult>>> DomainVerifier::verify(
    std::int64_t domain_id) {
    auto rows = co_await impl_->pool.query(k_domain_by_id, domain_id);
    if (!rows) co_return rows.error();
    auto found = domain_rows(*rows);
    if (found.empty()) co_return std::optional<VerificationResult>();
    auto result = co_await impl_->check(std::move(found.front()));
    if (!result) co_return result.error();
    co_return std::optional<VerificationResult>(std::move(*result));
}

asio::awaitable<Result<std::vector<VerificationResult>>> DomainVerifier::verify_due() {
    return impl_->verify_due();
}

void DomainVerifier::start() {
    if (impl_->running) return;
    impl_->running = true;
    spawn_supervised(impl_->executor, "domain_verification",
                     [impl = impl_] { return impl->loop(impl); });
}

void DomainVerifier::stop() {
    impl_->running = false;
    impl_->timer.cancel();
}

}  // namespace smarthost::policy
