#include "relay/policy/domain_health_check.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json.hpp>
#include <fstream>
#include <map>
#include <sstream>

#include "core/metrics/metrics.hpp"
#include "core/pg/pool.hpp"
#include "core/spawn.hpp"
#include "relay/dns/resolver.hpp"
#include "relay/events/outbox.hpp"
#include "relay/policy/public_suffixes.hpp"

namespace smarthost::policy {
namespace {

namespace asio = boost::asio;
namespace json = boost::json;

constexpr const char* k_domain_by_id = R"sql(
SELECT id, domain, dkim_policy FROM sender_domains WHERE id = $1)sql";

// Domains added since the last round get their row, due at once.
constexpr const char* k_add_new_domains = R"sql(
INSERT INTO sender_domain_health (sender_domain_id, checked_at)
SELECT d.id, '-infinity' FROM sender_domains d
 WHERE NOT EXISTS (SELECT 1 FROM sender_domain_health h WHERE h.sender_domain_id = d.id)
ON CONFLICT (sender_domain_id) DO NOTHING)sql";

// Claims due domains by moving checked_at ($3: now, in milliseconds since the epoch):
// another replica's round skips them. Only sender_domain_health rows are locked.
constexpr const char* k_claim_due = R"sql(
WITH claimed AS (
UPDATE sender_domain_health SET checked_at = to_timestamp($3::float8 / 1000)
 WHERE sender_domain_id IN (
       SELECT sender_domain_id FROM sender_domain_health
        WHERE checked_at < to_timestamp($3::float8 / 1000) - make_interval(secs => $1)
        ORDER BY checked_at, sender_domain_id
        LIMIT $2
        FOR NO KEY UPDATE SKIP LOCKED)
RETURNING sender_domain_id)
SELECT d.id, d.domain, d.dkim_policy
  FROM claimed JOIN sender_domains d ON d.id = claimed.sender_domain_id)sql";

constexpr const char* k_keys = R"sql(
SELECT selector, algorithm, public_key, state FROM dkim_keys
 WHERE sender_domain_id = $1 AND state <> 'retired'
 ORDER BY selector, algorithm)sql";

// Nothing for a domain deleted meanwhile. When the verdict — whether mail passes DMARC,
// and the set of problem codes — differs from the one stored before (not on the first
// check), a domain.health_changed webhook event is written with it (outbox.hpp).
const std::string k_store = R"sql(
WITH previous AS (
    SELECT health FROM sender_domain_health WHERE sender_domain_id = $1
), stored AS (
    INSERT INTO sender_domain_health (sender_domain_id, health, checked_at)
    SELECT id, $2::jsonb, to_timestamp($3::float8 / 1000) FROM sender_domains WHERE id = $1
    ON CONFLICT (sender_domain_id)
    DO UPDATE SET health = EXCLUDED.health, checked_at = EXCLUDED.checked_at
    RETURNING sender_domain_id, health
), verdicts AS (
    SELECT d.account_id, d.id, d.domain,
           s.health->'dmarc_pass' AS dmarc_pass, p.health->'dmarc_pass' AS previous_dmarc_pass,
           (SELECT coalesce(jsonb_agg(DISTINCT f->>'code'), '[]')
              FROM jsonb_array_elements(s.health->'findings') AS f) AS problems,
           (SELECT coalesce(jsonb_agg(DISTINCT f->>'code'), '[]')
              FROM jsonb_array_elements(p.health->'findings') AS f) AS previous_problems
    FROM stored s JOIN sender_domains d ON d.id = s.sender_domain_id
    JOIN previous p ON p.health IS NOT NULL
), )sql" + events::outbox_ctes("webhook", R"sql(
    SELECT 'domain.health_changed', v.account_id,
           jsonb_build_object('domain_id', v.id, 'domain', v.domain,
                              'dmarc_pass', v.dmarc_pass,
                              'previous_dmarc_pass', v.previous_dmarc_pass,
                              'problems', v.problems, 'previous_problems', v.previous_problems)
    FROM verdicts v
    WHERE v.dmarc_pass IS DISTINCT FROM v.previous_dmarc_pass
       OR v.problems <> v.previous_problems)sql") +
                            " SELECT count(*) FROM stored";

// Domains with each code, once per domain however many keys share a problem.
constexpr const char* k_problem_counts = R"sql(
SELECT f.finding->>'code', count(DISTINCT h.sender_domain_id)
  FROM sender_domain_health h, jsonb_array_elements(h.health->'findings') AS f(finding)
 WHERE h.health IS NOT NULL
 GROUP BY 1)sql";

// Rounds of lookups for one domain: the first asks for the DMARC, SPF and key records;
// each later one follows includes, redirects and MX hosts one step (SPF allows 10).
constexpr int k_max_lookup_rounds = 24;

struct DomainRow {
    std::int64_t id = 0;
    std::string domain;
    DkimPolicy dkim_policy = DkimPolicy::verified;
};

std::vector<DomainRow> domain_rows(const pg::Rows& rows) {
    std::vector<DomainRow> out;
    for (std::size_t i = 0; i < rows.size(); ++i) {
        out.push_back(DomainRow{rows.get_int(i, 0), std::string(rows.get(i, 1)),
                                parse_dkim_policy(rows.get(i, 2)).value_or(DkimPolicy::verified)});
    }
    return out;
}

std::int64_t epoch_milliseconds(std::chrono::system_clock::time_point time) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(time.time_since_epoch()).count();
}

PublicSuffixList load_public_suffixes(const std::string& path) {
    if (path.empty()) return {};
    std::ifstream file(path);
    if (!file) {
        spdlog::info(
            "domain health: no public suffix list at {}; organizational domains are "
            "the last two labels",
            path);
        return {};
    }
    std::stringstream text;
    text << file.rdbuf();
    return PublicSuffixList::parse(text.str());
}

// Every code gets a series, 0 when no domain has it, so alerts see zeros, not gaps.
void set_problem_gauges(const std::map<std::string, std::int64_t, std::less<>>& counts) {
    auto& gauges = metrics::global().sender_domain_health_problems;
    for (const auto code : all_health_codes()) {
        const auto found = counts.find(code);
        gauges.Add({{"code", std::string(code)}})
            .Set(found == counts.end() ? 0.0 : static_cast<double>(found->second));
    }
}

template <class Record>
dns::Answer<Record> unanswered() {
    dns::Answer<Record> answer;
    answer.status = dns::AnswerStatus::temporary;
    return answer;
}

const char* dkim_policy_name(DkimPolicy policy) {
    switch (policy) {
        case DkimPolicy::off:
            return "off";
        case DkimPolicy::always:
            return "always";
        case DkimPolicy::verified:
            break;
    }
    return "verified";
}

json::value optional_text(const std::optional<std::string>& text) {
    if (!text) return nullptr;
    return json::value(*text);
}

}  // namespace

std::string health_json(const DomainHealth& health, DkimPolicy dkim_policy) {
    json::array keys;
    for (const auto& key : health.keys) {
        keys.push_back(json::object{{"selector", key.selector},
                                    {"algorithm", key.algorithm},
                                    {"state", key.active ? "active" : "created"},
                                    {"record_name", key.record_name},
                                    {"record", to_string(key.status)}});
    }
    json::array findings;
    for (const auto& finding : health.findings) {
        json::object item{{"code", finding.code},
                          {"severity", to_string(finding.severity)},
                          {"message", finding.message}};
        if (!finding.record.empty()) item["record"] = finding.record;
        findings.push_back(std::move(item));
    }
    json::value dmarc_policy = nullptr;
    if (health.dmarc_policy) dmarc_policy = to_string(*health.dmarc_policy);
    json::object document{
        {"domain", health.domain},
        {"dkim_aligned", health.dkim_aligned},
        {"spf_aligned", health.spf_aligned},
        {"dmarc_pass", health.dmarc_pass},
        {"dkim", json::object{{"policy", dkim_policy_name(dkim_policy)}, {"keys", keys}}},
        {"spf", json::object{{"record", optional_text(health.spf_record)},
                             {"result", to_string(health.spf_result)},
                             {"reason", health.spf_reason}}},
        {"dmarc", json::object{{"record_name", health.dmarc_record_name},
                               {"record", optional_text(health.dmarc_record)},
                               {"policy", dmarc_policy},
                               {"adkim", to_string(health.dkim_alignment)},
                               {"aspf", to_string(health.spf_alignment)}}},
        {"findings", findings},
    };
    return json::serialize(document);
}

struct DomainHealthChecker::Impl : std::enable_shared_from_this<Impl> {
    asio::any_io_executor executor;
    pg::Pool& pool;
    dns::Resolver& resolver;
    Settings settings;
    PublicSuffixList suffixes;
    asio::steady_timer timer;
    bool running = false;

    Impl(asio::any_io_executor ex, pg::Pool& p, dns::Resolver& r, Settings s)
        : executor(ex),
          pool(p),
          resolver(r),
          settings(std::move(s)),
          suffixes(load_public_suffixes(settings.public_suffix_list)),
          timer(ex) {}

    asio::awaitable<void> look_up(const DnsQuestion& question, DnsFacts& facts) {
        using Type = DnsQuestion::Type;
        // A lookup that could not be made counts as an unanswered one.
        switch (question.type) {
            case Type::txt: {
                auto answer = co_await resolver.txt(question.name);
                facts.add_txt(question.name,
                              answer ? std::move(*answer) : unanswered<std::string>());
                break;
            }
            case Type::a:
            case Type::aaaa: {
                // Two statements, not co_await in a conditional expression: g++ 12
                // destroys the temporaries of such an expression twice.
                Result<dns::AddressAnswer> answer = Error{};
                if (question.type == Type::a) {
                    answer = co_await resolver.a(question.name);
                } else {
                    answer = co_await resolver.aaaa(question.name);
                }
                facts.add_addresses(question.type, question.name,
                                    answer ? std::move(*answer) : unanswered<std::string>());
                break;
            }
            case Type::mx: {
                auto answer = co_await resolver.mx(question.name);
                facts.add_mx(question.name,
                             answer ? std::move(*answer) : unanswered<dns::MxRecord>());
                break;
            }
        }
    }

    // Decides, looks up what the decision asked for, and decides again until it asks
    // for nothing more; what is still unknown after the last round counts as unanswered.
    asio::awaitable<DomainHealth> assess(const DomainHealthInput& input) {
        DnsFacts facts;
        for (int round = 0; round < k_max_lookup_rounds; ++round) {
            auto health = assess_domain_health(input, settings.relay, facts, suffixes);
            if (health.missing.empty()) co_return health;
            for (const auto& question : health.missing)
                co_await look_up(question, facts);
        }
        auto health = assess_domain_health(input, settings.relay, facts, suffixes);
        for (const auto& question : health.missing) {
            if (question.type == DnsQuestion::Type::txt) {
                facts.add_txt(question.name, unanswered<std::string>());
            } else if (question.type == DnsQuestion::Type::mx) {
                facts.add_mx(question.name, unanswered<dns::MxRecord>());
            } else {
                facts.add_addresses(question.type, question.name, unanswered<std::string>());
            }
        }
        co_return assess_domain_health(input, settings.relay, facts, suffixes);
    }

    asio::awaitable<Result<DomainHealthReport>> check(DomainRow row) {
        auto key_rows = co_await pool.query(k_keys, row.id);
        if (!key_rows) co_return key_rows.error();
        DomainHealthInput input;
        input.domain = row.domain;
        input.dkim_policy = row.dkim_policy;
        for (std::size_t i = 0; i < key_rows->size(); ++i) {
            input.keys.push_back(
                DkimKeyFacts{std::string(key_rows->get(i, 0)), std::string(key_rows->get(i, 1)),
                             std::string(key_rows->get(i, 2)), key_rows->get(i, 3) == "active"});
        }
        auto health = co_await assess(input);
        auto stored = co_await pool.query(k_store, row.id, health_json(health, row.dkim_policy),
                                          epoch_milliseconds(settings.now()));
        if (!stored) co_return stored.error();
        co_return DomainHealthReport{row.id, std::move(health)};
    }

    asio::awaitable<Result<std::vector<DomainHealthReport>>> check_due() {
        const auto interval_seconds = static_cast<std::int64_t>(settings.interval.count());
        const auto batch = static_cast<std::int64_t>(settings.batch);
        if (auto added = co_await pool.query(k_add_new_domains); !added) co_return added.error();
        auto rows = co_await pool.query(k_claim_due, interval_seconds, batch,
                                        epoch_milliseconds(settings.now()));
        if (!rows) co_return rows.error();
        std::vector<DomainHealthReport> reports;
        for (auto& row : domain_rows(*rows)) {
            auto report = co_await check(std::move(row));
            if (!report) co_return report.error();
            reports.push_back(std::move(*report));
        }
        co_return reports;
    }

    asio::awaitable<Status> refresh_metrics() {
        auto rows = co_await pool.query(k_problem_counts);
        if (!rows) co_return rows.error();
        std::map<std::string, std::int64_t, std::less<>> counts;
        for (std::size_t i = 0; i < rows->size(); ++i)
            counts[std::string(rows->get(i, 0))] = rows->get_int(i, 1);
        set_problem_gauges(counts);
        co_return Done{};
    }

    asio::awaitable<void> loop(std::shared_ptr<Impl> self) {
        const auto period =
            std::min<std::chrono::seconds>(settings.interval, std::chrono::seconds(60));
        while (running) {
            auto reports = co_await self->check_due();
            if (!reports) spdlog::warn("domain health round failed: {}", reports.error().message);
            auto refreshed = co_await self->refresh_metrics();
            if (!refreshed)
                spdlog::debug("domain health gauges not refreshed: {}", refreshed.error().message);
            // A full batch means more are due: go on at once.
            if (reports && reports->size() == settings.batch) continue;
            timer.expires_after(period);
            co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
        }
    }
};

DomainHealthChecker::DomainHealthChecker(asio::any_io_executor executor, pg::Pool& pool,
                                         dns::Resolver& resolver, Settings settings)
    : impl_(std::make_shared<Impl>(executor, pool, resolver, std::move(settings))) {}

DomainHealthChecker::~DomainHealthChecker() {
    stop();
}

asio::awaitable<Result<std::optional<DomainHealthReport>>> DomainHealthChecker::check(
    std::int64_t domain_id) {
    auto rows = co_await impl_->pool.query(k_domain_by_id, domain_id);
    if (!rows) co_return rows.error();
    auto found = domain_rows(*rows);
    if (found.empty()) co_return std::optional<DomainHealthReport>();
    auto report = co_await impl_->check(std::move(found.front()));
    if (!report) co_return report.error();
    co_return std::optional<DomainHealthReport>(std::move(*report));
}

asio::awaitable<Result<std::vector<DomainHealthReport>>> DomainHealthChecker::check_due() {
    return impl_->check_due();
}

asio::awaitable<Status> DomainHealthChecker::refresh_metrics() {
    return impl_->refresh_metrics();
}

void DomainHealthChecker::start() {
    if (impl_->running) return;
    impl_->running = true;
    spawn_supervised(impl_->executor, "domain_health", [impl = impl_] { return impl->loop(impl); });
}

void DomainHealthChecker::stop() {
    impl_->running = false;
    impl_->timer.cancel();
}

}  // namespace smarthost::policy
