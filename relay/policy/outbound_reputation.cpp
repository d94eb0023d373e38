#include "relay/policy/outbound_reputation.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <set>

#include "core/metrics/metrics.hpp"
#include "core/pg/pool.hpp"
#include "core/spawn.hpp"
#include "relay/policy/dnsbl.hpp"

namespace smarthost::policy {
namespace {

namespace asio = boost::asio;

constexpr const char* k_store_listing = R"sql(
INSERT INTO outbound_listings (source_address, zone, listed, answer, checked_at)
VALUES ($1::inet, $2, $3, $4, now())
ON CONFLICT (source_address, zone) DO UPDATE
   SET listed = EXCLUDED.listed, answer = EXCLUDED.answer, checked_at = now())sql";

}  // namespace

struct OutboundReputation::Impl {
    Impl(asio::any_io_executor ex, pg::Pool& p, Blocklists& b, std::string address,
         std::chrono::seconds every)
        : executor(ex),
          pool(p),
          blocklists(b),
          source_address(std::move(address)),
          interval(every),
          timer(ex) {}

    asio::awaitable<std::size_t> check_once() {
        auto outcomes = co_await blocklists.check_own_address(source_address);
        forget_removed_zones(outcomes);
        std::size_t stored = 0;
        for (const auto& outcome : outcomes) {
            using Status = ZoneOutcome::Status;
            if (outcome.status == Status::timeout || outcome.status == Status::error) continue;
            const bool listed = outcome.status == Status::listed;
            const std::string& zone = outcome.zone;
            std::optional<std::string> answer;
            if (listed) answer = outcome.hit->answer;
            auto rows = co_await pool.query(k_store_listing, source_address, zone, listed, answer);
            if (!rows) {
                spdlog::warn("outbound reputation: {} in {} not stored: {}", source_address, zone,
                             rows.error().message);
                continue;
            }
            ++stored;
            metrics::global()
                .outbound_address_listings.Add({{"address", source_address}, {"zone", zone}})
                .Set(listed ? 1 : 0);
            gauged_zones.insert(zone);
            if (listed)
                spdlog::warn("outbound reputation: our address {} is listed in {} ({})",
                             source_address, zone, *answer);
        }
        co_return stored;
    }

    // A zone SIGHUP removed leaves the gauge, so that an old listing does not keep an
    // alert firing; its outbound_listings row stays, with its checked_at.
    void forget_removed_zones(const std::vector<ZoneOutcome>& outcomes) {
        auto& family = metrics::global().outbound_address_listings;
        for (auto it = gauged_zones.begin(); it != gauged_zones.end();) {
            const bool configured = std::any_of(outcomes.begin(), outcomes.end(),
                                                [&](const auto& o) { return o.zone == *it; });
            if (configured) {
                ++it;
                continue;
            }
            family.Remove(&family.Add({{"address", source_address}, {"zone", *it}}));
            it = gauged_zones.erase(it);
        }
    }

    // `self` keeps this alive while the loop runs, whatever happens to the owner.
    asio::awaitable<void> loop(std::shared_ptr<Impl> self) {
        while (self->running) {
            co_await check_once();
            timer.expires_after(interval);
            co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
        }
    }

    asio::any_io_executor executor;
    pg::Pool& pool;
    Blocklists& blocklists;
    std::string source_address;
    std::chrono::seconds interval;
    asio::steady_timer timer;
    bool running = false;
    std::set<std::string> gauged_zones;  // zones with a smarthost_outbound_address_listed
};

OutboundReputation::OutboundReputation(asio::any_io_executor executor, pg::Pool& pool,
                                       Blocklists& blocklists, std::string source_address,
                                       std::chrono::seconds interval)
    : impl_(std::make_shared<Impl>(executor, pool, blocklists, std::move(source_address),
                                   interval)) {}

OutboundReputation::~OutboundReputation() {
    stop();
}

asio::awaitable<std::size_t> OutboundReputation::check_once() {
    auto impl = impl_;
    auto stored = co_await impl->check_once();
    co_return stored;
}

void OutboundReputation::start() {
    if (impl_->running) return;
    impl_->running = true;
    spawn_supervised(impl_->executor, "outbound_reputation",
                     [impl = impl_] { return impl->loop(impl); });
}

void OutboundReputation::stop() {
    impl_->running = false;
    impl_->timer.cancel();
}

}  // namespace smarthost::policy
