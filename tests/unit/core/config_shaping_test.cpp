// [[delivery.destination_group]] and [delivery.shaping] (core/config_shaping.cpp).
#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>

#include "core/config.hpp"

namespace smarthost {
namespace {

namespace fs = std::filesystem;

class ShapingConfigFile : public ::testing::Test {
  protected:
    void SetUp() override {
        dir_ = fs::temp_directory_path() /
               ("smarthost-shaping-" + std::to_string(::getpid()) + "-" +
                ::testing::UnitTest::GetInstance()->current_test_info()->name());
        fs::create_directories(dir_);
        ::unsetenv("SMARTHOST_DATABASE_URL");
    }
    void TearDown() override { fs::remove_all(dir_); }

    ShapingConfig load(const std::string& text) {
        const auto path = dir_ / "smarthost.toml";
        std::ofstream(path) << k_minimal << text;
        return load_config(path).delivery.shaping;
    }

    std::string error_of(const std::string& text) {
        try {
            load(text);
            return "";
        } catch (const ConfigError& e) {
            return e.what();
        }
    }

    static const DestinationGroupConfig* named(const ShapingConfig& c, const std::string& name) {
        const auto it = std::find_if(c.groups.begin(), c.groups.end(),
                                     [&](const auto& g) { return g.name == name; });
        return it == c.groups.end() ? nullptr : &*it;
    }

    static constexpr const char* k_minimal =
        "[server]\nhostname = \"relay.example\"\n[database]\nurl = \"postgresql:///x\"\n";
    fs::path dir_;
};

TEST_F(ShapingConfigFile, TheBigReceiversAreShippedAsGroups) {
    const auto c = load("");
    ASSERT_EQ(c.groups.size(), 3u);
    const auto* gmail = named(c, "gmail");
    ASSERT_NE(gmail, nullptr);
    EXPECT_EQ(gmail->domains, (std::vector<std::string>{"gmail.com", "googlemail.com"}));
    EXPECT_EQ(gmail->mx_suffixes, (std::vector<std::string>{".google.com", ".googlemail.com"}));
    EXPECT_EQ(gmail->max_connections, 10u);
    EXPECT_EQ(gmail->messages_per_connection, 100u);
    EXPECT_EQ(gmail->messages_per_minute, 1000u);
    EXPECT_EQ(gmail->messages_per_hour, 30000u);
    ASSERT_NE(named(c, "microsoft"), nullptr);
    ASSERT_NE(named(c, "yahoo"), nullptr);
    EXPECT_EQ(c.circuit_failures, 5u);
    EXPECT_EQ(c.backoff, std::chrono::seconds(60));
}

TEST_F(ShapingConfigFile, AShippedGroupCanBeTunedOrRemovedAndNewOnesAdded) {
    const auto c = load(
        "[[delivery.destination_group]]\nname = \"gmail\"\nmessages_per_minute = 50\n"
        "[[delivery.destination_group]]\nname = \"yahoo\"\nenabled = false\n"
        "[[delivery.destination_group]]\nname = \"isp-x\"\ndomains = [\"ISP-X.Example.\"]\n"
        "mx_suffixes = [\".mx.isp-x.example\"]\nmax_connections = 2\n"
        "messages_per_connection = 5\nmessages_per_hour = 100\n");
    const auto* gmail = named(c, "gmail");
    ASSERT_NE(gmail, nullptr);
    EXPECT_EQ(gmail->messages_per_minute, 50u);
    EXPECT_EQ(gmail->messages_per_hour, 30000u);  // keys not given keep the shipped value
    EXPECT_EQ(gmail->domains.size(), 2u);
    EXPECT_EQ(named(c, "yahoo"), nullptr);
    const auto* isp = named(c, "isp-x");
    ASSERT_NE(isp, nullptr);
    EXPECT_EQ(isp->domains, (std::vector<std::string>{"isp-x.example"}));
    EXPECT_EQ(isp->mx_suffixes, (std::vector<std::string>{".mx.isp-x.example"}));
    EXPECT_EQ(isp->max_connections, 2u);
    EXPECT_EQ(isp->messages_per_connection, 5u);
    EXPECT_EQ(isp->messages_per_minute, 0u);
    EXPECT_EQ(isp->messages_per_hour, 100u);
}

TEST_F(ShapingConfigFile, DefaultGroupsFalseShipsNone) {
    EXPECT_TRUE(load("[delivery.shaping]\ndefault_groups = false\n").groups.empty());
}

TEST_F(ShapingConfigFile, ShapingSettingsAreRead) {
    const auto c = load(
        "[delivery.shaping]\nstate_refresh_seconds = 2\nbackoff_seconds = 30\n"
        "max_backoff_seconds = 600\nmin_throttle = 0.25\nrecovery_factor = 2\n"
        "recovery_interval_seconds = 60\ncircuit_failures = 3\ncircuit_window_seconds = 120\n"
        "circuit_cooldown_seconds = 90\n");
    EXPECT_EQ(c.state_refresh, std::chrono::seconds(2));
    EXPECT_EQ(c.backoff, std::chrono::seconds(30));
    EXPECT_EQ(c.max_backoff, std::chrono::seconds(600));
    EXPECT_DOUBLE_EQ(c.min_throttle, 0.25);
    EXPECT_DOUBLE_EQ(c.recovery_factor, 2.0);
    EXPECT_EQ(c.recovery_interval, std::chrono::seconds(60));
    EXPECT_EQ(c.circuit_failures, 3u);
    EXPECT_EQ(c.circuit_window, std::chrono::seconds(120));
    EXPECT_EQ(c.circuit_cooldown, std::chrono::seconds(90));
}

TEST_F(ShapingConfigFile, MistakesNameTheKey) {
    EXPECT_NE(error_of("[[delivery.destination_group]]\nname = \"Bad Name\"\ndomains = [\"a.b\"]\n")
                  .find("delivery.destination_group[0].name"),
              std::string::npos);
    EXPECT_NE(error_of("[[delivery.destination_group]]\ndomains = [\"a.b\"]\n")
                  .find("delivery.destination_group[0].name: is required"),
              std::string::npos);
    EXPECT_NE(error_of("[[delivery.destination_group]]\nname = \"x\"\n")
                  .find("needs domains or mx_suffixes"),
              std::string::npos);
    EXPECT_NE(error_of("[[delivery.destination_group]]\nname = \"x\"\nmx_suffixes = [\"google\"]\n")
                  .find("delivery.destination_group[0].mx_suffixes"),
              std::string::npos);
    EXPECT_NE(error_of("[[delivery.destination_group]]\nname = \"x\"\ndomains = [\"gmail.com\"]\n")
                  .find("domain \"gmail.com\" is in two groups"),
              std::string::npos);
    EXPECT_NE(error_of("[[delivery.destination_group]]\nname = \"x\"\ndomains = [\"a.b\"]\n"
                       "messages_per_minute = -1\n")
                  .find("delivery.destination_group[0].messages_per_minute"),
              std::string::npos);
    EXPECT_NE(error_of("[[delivery.destination_group]]\nname = \"x\"\ndomains = [\"a.b\"]\n"
                       "typo = 1\n")
                  .find("typo"),
              std::string::npos);
    EXPECT_NE(error_of("[delivery.shaping]\nbackoff_seconds = 100\nmax_backoff_seconds = 10\n")
                  .find("delivery.shaping.max_backoff_seconds"),
              std::string::npos);
    EXPECT_NE(
        error_of("[delivery.shaping]\nmin_throttle = 0\n").find("delivery.shaping.min_throttle"),
        std::string::npos);
}

}  // namespace
}  // namespace smarthost
