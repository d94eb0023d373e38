#include "core/config_changes.hpp"

#include <gtest/gtest.h>

#include "core/config.hpp"

namespace smarthost {
namespace {

using Keys = std::vector<std::string>;

TEST(ConfigValues, KeysAreFlattenedToTheirPaths) {
    const auto values = parse_config_values(R"(
[server]
hostname = "relay.example"
[[smtp.listener]]
name = "submission"
address = "127.0.0.1:2587"
[delivery]
verify_domains = ["a.example", "b.example"]
[delivery.domain_concurrency]
"gmail.com" = 20
)");
    EXPECT_EQ(values.at("server.hostname"), "'relay.example'");
    EXPECT_EQ(values.at("smtp.listener[0].address"), "'127.0.0.1:2587'");
    EXPECT_EQ(values.at("delivery.domain_concurrency.\"gmail.com\""), "20");
    EXPECT_EQ(values.count("delivery.verify_domains"), 1u);
    EXPECT_EQ(values.size(), 5u);
}

TEST(ConfigValues, UnparsableTextIsAConfigError) {
    EXPECT_THROW(parse_config_values("[server\nhostname = 1"), ConfigError);
}

TEST(ChangedKeys, ChangedAddedAndRemovedKeysAreNamedInOrder) {
    const auto before = parse_config_values(
        "[limits]\nmessages_per_hour = 10\nlease_block = 5\n[log]\nlevel = \"info\"\n");
    const auto after = parse_config_values(
        "[limits]\nmessages_per_hour = 20\nmessages_per_day = 5\n[log]\nlevel = \"info\"\n");
    EXPECT_EQ(changed_keys(before, after),
              (Keys{"limits.lease_block", "limits.messages_per_day", "limits.messages_per_hour"}));
    EXPECT_TRUE(changed_keys(after, after).empty());
}

TEST(ChangedKeys, ArrayValuesCompareAsAWhole) {
    const auto before = parse_config_values("[delivery]\nverify_domains = [\"a\"]\n");
    const auto after = parse_config_values("[delivery]\nverify_domains = [\"a\", \"b\"]\n");
    EXPECT_EQ(changed_keys(before, after), (Keys{"delivery.verify_domains"}));
}

TEST(ReloadableKey, LimitsPolicyValuesThrottleAndLogLevelReload) {
    EXPECT_TRUE(reloadable_key("limits.recipients_per_message"));
    EXPECT_TRUE(reloadable_key("limits.lease_block"));
    EXPECT_TRUE(reloadable_key("limits.max_connections"));
    EXPECT_FALSE(reloadable_key("limits.connection_count_interval_ms"));
    EXPECT_TRUE(reloadable_key("policy.suppressed_recipients"));
    EXPECT_TRUE(reloadable_key("policy.account_cache_ms"));
    EXPECT_TRUE(reloadable_key("auth.max_failures"));
    EXPECT_TRUE(reloadable_key("auth.lockout_seconds"));
    EXPECT_TRUE(reloadable_key("log.level"));
    EXPECT_TRUE(reloadable_key("server.shutdown_grace_seconds"));
    EXPECT_TRUE(reloadable_key("abuse.max_held_recipients"));
    EXPECT_FALSE(reloadable_key("abuse.interval_seconds"));  // the detector starts with it
}

TEST(ReloadableKey, BlocklistZonesAndExemptNetworksReload) {
    EXPECT_TRUE(reloadable_key("policy.dnsbl[0].zone"));
    EXPECT_TRUE(reloadable_key("policy.dnsbl[3].listed_answers"));
    EXPECT_TRUE(reloadable_key("policy.domain_blocklist[0].timeout_ms"));
    EXPECT_TRUE(reloadable_key("policy.dnsbl"));  // dnsbl = []
    EXPECT_TRUE(reloadable_key("policy.dnsbl_exempt_networks"));
}

TEST(ReloadableKey, AddingAndRemovingAZoneChangesOnlyReloadableKeys) {
    const auto none = parse_config_values("[policy]\naccount_cache_ms = 0\n");
    const auto one = parse_config_values(
        "[policy]\naccount_cache_ms = 0\n[[policy.dnsbl]]\nzone = \"bl.test\"\n"
        "listed_answers = [\"127.0.0.2\"]\n[[policy.domain_blocklist]]\nzone = \"dbl.test\"\n");
    const auto emptied = parse_config_values("[policy]\naccount_cache_ms = 0\ndnsbl = []\n");
    for (const auto* next : {&one, &emptied}) {
        const auto changed = changed_keys(none, *next);
        ASSERT_FALSE(changed.empty());
        for (const auto& key : changed)
            EXPECT_TRUE(reloadable_key(key)) << key;
    }
    for (const auto& key : changed_keys(one, none))
        EXPECT_TRUE(reloadable_key(key)) << key;
}

TEST(ReloadableKey, ListenerLimitsReloadButNotItsAddressOrTls) {
    EXPECT_TRUE(reloadable_key("smtp.max_recipients"));
    EXPECT_TRUE(reloadable_key("smtp.listener[0].max_connections"));
    EXPECT_TRUE(reloadable_key("smtp.listener[12].command_timeout_seconds"));
    EXPECT_TRUE(reloadable_key("smtp.max_local_part_octets"));
    EXPECT_TRUE(reloadable_key("smtp.listener[1].max_path_octets"));
    EXPECT_TRUE(reloadable_key("smtp.max_received_headers"));
    EXPECT_FALSE(reloadable_key("smtp.listener[0].address"));
    EXPECT_FALSE(reloadable_key("smtp.listener[0].tls"));
    EXPECT_FALSE(reloadable_key("smtp.listener[x].max_connections"));
    EXPECT_FALSE(reloadable_key("smtp.listener"));
}

TEST(ReloadableKey, EverythingElseNeedsARestart) {
    EXPECT_FALSE(reloadable_key("database.url"));
    EXPECT_FALSE(reloadable_key("database.pool_size"));
    EXPECT_FALSE(reloadable_key("server.hostname"));
    EXPECT_FALSE(reloadable_key("tls.certificate"));
    EXPECT_FALSE(reloadable_key("policy.sender_domain_verification"));
    EXPECT_FALSE(reloadable_key("policy.outbound_check_interval_seconds"));
    EXPECT_FALSE(reloadable_key("policy.dnsblx"));
    EXPECT_FALSE(reloadable_key("delivery.dns_forwarders"));
    EXPECT_FALSE(reloadable_key("delivery.concurrency"));
    EXPECT_FALSE(reloadable_key("auth.hash_threads"));
    EXPECT_FALSE(reloadable_key("limits.nested.key"));
}

}  // namespace
}  // namespace smarthost
