// Blocklists against dnsmasq: zones changed by SIGHUP (reconfigure) apply to the next
// check, and a check in flight finishes with the zones it started with.

#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <optional>

#include "relay/dns/resolver.hpp"
#include "relay/policy/dnsbl.hpp"
#include "tests/support/dnsmasq.hpp"
#include "tests/support/run_awaitable.hpp"

namespace smarthost::policy {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;
using test::DnsRecord;
using test::run_awaitable;

BlocklistZone zone(std::string name, std::vector<std::string> listed_answers = {},
                   std::chrono::milliseconds timeout = 2000ms) {
    BlocklistZone z;
    z.zone = std::move(name);
    z.listed_answers = std::move(listed_answers);
    z.timeout = timeout;
    return z;
}

class BlocklistsReconfigure : public ::testing::Test {
  protected:
    BlocklistsReconfigure()
        : dns_({DnsRecord::address("2.0.0.127.bl.test", "127.0.0.2"),
                DnsRecord::address("spam.example.dbl.test", "127.0.1.2"),
                DnsRecord::unanswered("slow.test")}) {
        dns::Resolver::Settings settings;
        settings.forwarders = {dns_.forwarder()};
        settings.timeout = 1500ms;
        resolver_ = std::make_unique<dns::Resolver>(io_.get_executor(), settings);
    }

    // The zones that list 127.0.0.2, by name.
    std::vector<std::string> listing(Blocklists& blocklists) {
        auto result = run_awaitable(io_, blocklists.check_client("127.0.0.2"));
        std::vector<std::string> zones;
        for (const auto& hit : result.hits)
            zones.push_back(hit.zone);
        return zones;
    }

    asio::io_context io_;
    test::Dnsmasq dns_;
    std::unique_ptr<dns::Resolver> resolver_;
};

TEST_F(BlocklistsReconfigure, ZonesAddedChangedAndRemovedApplyToTheNextCheck) {
    Blocklists blocklists(*resolver_, PolicyConfig{});
    EXPECT_FALSE(blocklists.checks_clients());
    EXPECT_TRUE(listing(blocklists).empty());

    PolicyConfig with_zone;
    with_zone.dnsbl = {zone("bl.test", {"127.0.0.2"})};
    with_zone.domain_blocklist = {zone("dbl.test")};
    blocklists.reconfigure(Blocklists::prepare(with_zone));
    EXPECT_TRUE(blocklists.checks_clients());
    EXPECT_TRUE(blocklists.checks_sender_domains());
    EXPECT_EQ(listing(blocklists), std::vector<std::string>{"bl.test"});
    auto domain = run_awaitable(io_, blocklists.check_sender_domain("Spam.Example"));
    ASSERT_EQ(domain.hits.size(), 1u);
    EXPECT_EQ(domain.hits[0].answer, "127.0.1.2");

    // The answer is cached now; the new rule judges it.
    PolicyConfig other_rule = with_zone;
    other_rule.dnsbl = {zone("bl.test", {"127.0.0.3"})};
    blocklists.reconfigure(Blocklists::prepare(other_rule));
    EXPECT_TRUE(listing(blocklists).empty());

    PolicyConfig exempted = with_zone;
    exempted.dnsbl_exempt_networks = {"127.0.0.0/30"};
    blocklists.reconfigure(Blocklists::prepare(exempted));
    EXPECT_TRUE(listing(blocklists).empty());

    blocklists.reconfigure(Blocklists::prepare(with_zone));
    EXPECT_EQ(listing(blocklists), std::vector<std::string>{"bl.test"});
    blocklists.reconfigure(Blocklists::prepare(PolicyConfig{}));
    EXPECT_FALSE(blocklists.checks_clients());
    EXPECT_FALSE(blocklists.checks_sender_domains());
    EXPECT_TRUE(listing(blocklists).empty());
}

TEST_F(BlocklistsReconfigure, ABadEntryIsRefusedBeforeAnythingChanges) {
    PolicyConfig with_zone;
    with_zone.dnsbl = {zone("bl.test", {"127.0.0.2"})};
    Blocklists blocklists(*resolver_, with_zone);
    PolicyConfig bad_answer;
    bad_answer.dnsbl = {zone("bl.test", {"127.0.0.x"})};
    EXPECT_THROW(Blocklists::prepare(bad_answer), std::invalid_argument);
    PolicyConfig bad_network;
    bad_network.dnsbl_exempt_networks = {"office"};
    EXPECT_THROW(Blocklists::prepare(bad_network), std::invalid_argument);
    EXPECT_EQ(listing(blocklists), std::vector<std::string>{"bl.test"});
}

TEST_F(BlocklistsReconfigure, ACheckInFlightFinishesWithTheZonesItStartedWith) {
    PolicyConfig zones;
    zones.dnsbl = {zone("slow.test", {}, 400ms), zone("bl.test", {"127.0.0.2"})};
    Blocklists blocklists(*resolver_, zones);
    std::optional<BlocklistResult> in_flight;
    asio::co_spawn(
        io_,
        [&]() -> asio::awaitable<void> {
            in_flight = co_await blocklists.check_client("127.0.0.2");
        },
        asio::detached);
    // While slow.test keeps the check waiting, the zones are replaced (and the old set
    // would be freed if the check did not hold it).
    asio::steady_timer replace(io_, 100ms);
    replace.async_wait(
        [&](boost::system::error_code) { blocklists.reconfigure(Blocklists::prepare({})); });
    io_.restart();
    io_.run();
    ASSERT_TRUE(in_flight);
    ASSERT_EQ(in_flight->hits.size(), 1u);
    EXPECT_EQ(in_flight->hits[0].zone, "bl.test");
    EXPECT_EQ(in_flight->timed_out, std::vector<std::string>{"slow.test"});
    EXPECT_EQ(blocklists.timeouts(), 1u);
    EXPECT_TRUE(listing(blocklists).empty());
}

}  // namespace
}  // namespace smarthost::policy
