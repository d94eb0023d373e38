#include "relay/delivery/transport_security.hpp"

#include <spdlog/spdlog.h>

#include "core/config.hpp"
#include "core/metrics/metrics.hpp"
#include "core/pg/pool.hpp"
#include "relay/dns/resolver.hpp"

namespace smarthost::delivery {

namespace asio = boost::asio;
using std::chrono::system_clock;

namespace {

// The operator's policy and the cached MTA-STS policy of $1, in one round trip: one row,
// NULLs for what is not there. Times travel as microseconds since the epoch.
constexpr std::string_view k_lookup = R"sql(
SELECT (SELECT policy FROM tls_policies WHERE domain = $1),
       m.policy_id, m.mode, array_to_string(m.mx, ' '), m.max_age_seconds,
       (extract(epoch FROM m.fetched_at) * 1000000)::bigint,
       (extract(epoch FROM m.expires_at) * 1000000)::bigint
  FROM (SELECT 1) AS one LEFT JOIN mta_sts_policies m ON m.domain = $1)sql";

// Times are the caller's clock (one clock per decision), never the database's now().
constexpr std::string_view k_store = R"sql(
INSERT INTO mta_sts_policies (domain, policy_id, mode, mx, max_age_seconds, fetched_at,
                              expires_at)
VALUES ($1, $2, $3, string_to_array($4, ' '), $5::int,
        'epoch'::timestamptz + $6::bigint * interval '1 microsecond',
        'epoch'::timestamptz + $7::bigint * interval '1 microsecond')
ON CONFLICT (domain) DO UPDATE
   SET policy_id = EXCLUDED.policy_id, mode = EXCLUDED.mode, mx = EXCLUDED.mx,
       max_age_seconds = EXCLUDED.max_age_seconds, fetched_at = EXCLUDED.fetched_at,
       expires_at = EXCLUDED.expires_at)sql";

constexpr std::size_t k_max_failed_fetches = 10000;

std::int64_t micros(system_clock::time_point when) {
    return std::chrono::duration_cast<std::chrono::microseconds>(when.time_since_epoch()).count();
}

system_clock::time_point from_micros(std::int64_t value) {
    return system_clock::time_point{} + std::chrono::microseconds(value);
}

std::vector<std::string> split_words(std::string_view text) {
    std::vector<std::string> words;
    while (!text.empty()) {
        const auto space = text.find(' ');
        if (space != 0) words.emplace_back(text.substr(0, space));
        if (space == std::string_view::npos) break;
        text.remove_prefix(space + 1);
    }
    return words;
}

std::optional<mta_sts::CachedPolicy> cached_of(const pg::Rows& rows) {
    if (rows.empty() || rows.is_null(0, 1)) return std::nullopt;
    const auto mode = mta_sts::mode_from_name(rows.get(0, 2));
    if (!mode) return std::nullopt;
    mta_sts::CachedPolicy cached;
    cached.id = std::string(rows.get(0, 1));
    cached.policy.mode = *mode;
    cached.policy.mx = split_words(rows.get(0, 3));
    cached.policy.max_age_seconds = static_cast<std::uint32_t>(rows.get_int(0, 4));
    cached.fetched_at = from_micros(rows.get_int(0, 5));
    cached.expires_at = from_micros(rows.get_int(0, 6));
    return cached;
}

}  // namespace

std::optional<TlsPolicy> operator_tls_from_name(std::string_view name) {
    if (name == "require") return TlsPolicy::require;
    if (name == "verify") return TlsPolicy::verify;
    if (name == "opportunistic") return TlsPolicy::opportunistic;
    return std::nullopt;
}

HostSecurity decide_host_security(const DomainSecurity& domain, std::string_view host) {
    HostSecurity security;
    if (domain.operator_policy) {
        security.tls = *domain.operator_policy;
        return security;
    }
    security.tls = domain.configured;
    const auto sts = mta_sts::decide_host(domain.mta_sts, domain.domain, host);
    switch (sts.verdict) {
        case mta_sts::HostVerdict::verify:
            security.tls = TlsPolicy::verify;
            security.mta_sts_enforced = true;
            break;
        case mta_sts::HostVerdict::skip:
            security.skip = true;
            security.reason = sts.reason;
            break;
        case mta_sts::HostVerdict::as_usual:
            security.mta_sts_testing_mismatch = sts.testing_mismatch;
            break;
    }
    return security;
}

HostSecurity host_security(const DomainSecurity& domain, std::string_view host) {
    auto security = decide_host_security(domain, host);
    auto& enforced = metrics::global().mta_sts_enforced;
    if (security.mta_sts_enforced) enforced.Add({{"result", "verified"}}).Increment();
    if (security.skip) enforced.Add({{"result", "skipped"}}).Increment();
    if (security.mta_sts_testing_mismatch)
        enforced.Add({{"result", "testing_mismatch"}}).Increment();
    return security;
}

TransportSecuritySettings transport_security_settings(const DeliveryConfig& config) {
    TransportSecuritySettings settings;
    settings.mta_sts = config.mta_sts;
    settings.fetch.port = config.mta_sts_port;
    settings.fetch.timeout = config.mta_sts_timeout;
    settings.fetch.ca_file = config.tls_ca_file;
    return settings;
}

TransportSecurity::TransportSecurity(pg::Pool& pool, dns::Resolver& resolver,
                                     const dns::AddressPolicy& address_policy,
                                     TransportSecuritySettings settings, Clock clock)
    : pool_(pool),
      resolver_(resolver),
      settings_(std::move(settings)),
      clock_(std::move(clock)),
      fetcher_(resolver, address_policy, settings_.fetch) {}

asio::awaitable<Result<DomainSecurity>> TransportSecurity::for_domain(std::string domain,
                                                                      TlsPolicy configured) {
    DomainSecurity security;
    security.domain = std::move(domain);
    security.configured = configured;
    auto rows = co_await pool_.query(std::string(k_lookup), security.domain);
    if (!rows) co_return rows.error();
    if (!rows->empty() && !rows->is_null(0, 0))
        security.operator_policy = operator_tls_from_name(rows->get(0, 0));
    if (security.operator_policy || !settings_.mta_sts) co_return security;
    security.mta_sts = co_await mta_sts_policy(security.domain, cached_of(*rows));
    co_return security;
}

asio::awaitable<std::optional<mta_sts::Policy>> TransportSecurity::mta_sts_policy(
    const std::string& domain, const std::optional<mta_sts::CachedPolicy>& cached) {
    // RFC 8461 3.1: a TXT lookup that fails is no record; a cached policy still applies.
    std::optional<std::string> txt_id;
    auto txt = co_await resolver_.txt("_mta-sts." + domain);
    if (txt && txt->status == dns::AnswerStatus::ok) txt_id = mta_sts::policy_id(txt->records);
    const auto now = clock_();
    const auto current = [&]() -> std::optional<mta_sts::Policy> {
        if (cached && now < cached->expires_at) return cached->policy;
        return std::nullopt;
    };
    switch (mta_sts::refresh_for(cached, txt_id, now)) {
        case mta_sts::Refresh::no_policy:
            co_return std::nullopt;
        case mta_sts::Refresh::use_cached:
            co_return cached->policy;
        case mta_sts::Refresh::fetch:
            break;
    }
    if (const auto failed = failed_fetches_.find(domain);
        failed != failed_fetches_.end() && now < failed->second)
        co_return current();
    auto& fetches = metrics::global().mta_sts_policy_fetches;
    auto fetched = co_await fetcher_.fetch(domain);
    if (!fetched) {
        fetches.Add({{"result", "failed"}}).Increment();
        spdlog::warn("delivery: MTA-STS policy of {} (id {}) not fetched: {}", domain, *txt_id,
                     fetched.error().message);
        if (failed_fetches_.size() >= k_max_failed_fetches) failed_fetches_.clear();
        failed_fetches_[domain] = now + settings_.retry_fetch_after;
        // RFC 8461 5.1: keep using an unexpired cached policy when a refresh fails.
        co_return current();
    }
    fetches.Add({{"result", "fetched"}}).Increment();
    failed_fetches_.erase(domain);
    std::string mx;
    for (const auto& pattern : fetched->mx) {
        if (!mx.empty()) mx += ' ';
        mx += pattern;
    }
    const auto expires_at = now + std::chrono::seconds(fetched->max_age_seconds);
    auto stored = co_await pool_.query(
        std::string(k_store), domain, *txt_id, std::string(mta_sts::mode_name(fetched->mode)), mx,
        static_cast<std::int64_t>(fetched->max_age_seconds), micros(now), micros(expires_at));
    if (!stored)
        spdlog::warn("delivery: MTA-STS policy of {} not stored: {}", domain,
                     stored.error().message);
    co_return std::move(*fetched);
}

}  // namespace smarthost::delivery
