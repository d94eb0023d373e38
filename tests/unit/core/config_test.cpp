#include "core/config.hpp"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>

namespace smarthost {
namespace {

namespace fs = std::filesystem;

class ConfigFile : public ::testing::Test {
  protected:
    void SetUp() override {
        dir_ = fs::temp_directory_path() /
               ("smarthost-config-" + std::to_string(::getpid()) + "-" +
                ::testing::UnitTest::GetInstance()->current_test_info()->name());
        fs::create_directories(dir_);
        ::unsetenv("SMARTHOST_DATABASE_URL");
        ::unsetenv("SMARTHOST_TLS_CERTIFICATE");
        ::unsetenv("SMARTHOST_TLS_PRIVATE_KEY");
        ::unsetenv("SMARTHOST_UPSTREAM_PASSWORD");
        ::unsetenv("SMARTHOST_DKIM_KEK");
    }
    void TearDown() override { fs::remove_all(dir_); }

    fs::path write(const std::string& text) {
        auto path = dir_ / "smarthost.toml";
        std::ofstream(path) << text;
        return path;
    }

    // The message load_config stops with, or "" when it loads.
    std::string error_of(const std::string& text) {
        try {
            load_config(write(text));
            return "";
        } catch (const ConfigError& e) {
            return e.what();
        }
    }

    static constexpr const char* minimal =
        "[server]\nhostname = \"relay.example\"\n[database]\nurl = \"postgresql:///x\"\n";
    fs::path dir_;
};

TEST_F(ConfigFile, MinimalFileLoadsWithDocumentedDefaults) {
    const auto config = load_config(write(minimal));
    EXPECT_EQ(config.hostname, "relay.example");
    EXPECT_EQ(config.database_url, "postgresql:///x");
    EXPECT_EQ(config.database_pool_size, 8u);
    EXPECT_FALSE(config.allow_auth_without_tls);
    EXPECT_TRUE(config.listeners.empty());
    EXPECT_EQ(config.group_commit_max_messages, 64u);
}

TEST_F(ConfigFile, ListenerInheritsLimitsAndOverridesSome) {
    const auto config =
        load_config(write(std::string(minimal) +
                          "[smtp]\nmax_recipients = 50\n"
                          "[[smtp.listener]]\nname = \"plain\"\naddress = \"[::1]:2525\"\n"
                          "tls = \"none\"\nmax_message_bytes = 4096\n"));
    ASSERT_EQ(config.listeners.size(), 1u);
    const auto& l = config.listeners[0];
    EXPECT_EQ(l.host, "::1");
    EXPECT_EQ(l.port, 2525);
    EXPECT_EQ(l.tls, TlsMode::none);
    EXPECT_FALSE(l.allow_networks);
    EXPECT_EQ(l.limits.max_recipients, 50u);
    EXPECT_EQ(l.limits.max_message_bytes, 4096u);
}

TEST_F(ConfigFile, AddressLimitsDefaultToRfc5321AndMayOnlyBeRaised) {
    const auto defaults =
        load_config(write(std::string(minimal) + "[[smtp.listener]]\nname = \"a\"\n"
                                                 "address = \"127.0.0.1:2525\"\ntls = \"none\"\n"));
    EXPECT_EQ(defaults.listeners.at(0).limits.max_local_part_octets, 64u);
    EXPECT_EQ(defaults.listeners.at(0).limits.max_path_octets, 256u);
    const auto legacy =
        load_config(write(std::string(minimal) +
                          "[smtp]\nmax_path_octets = 400\n"
                          "[[smtp.listener]]\nname = \"legacy\"\naddress = \"127.0.0.1:2525\"\n"
                          "tls = \"none\"\nmax_local_part_octets = 200\n"));
    EXPECT_EQ(legacy.listeners.at(0).limits.max_local_part_octets, 200u);
    EXPECT_EQ(legacy.listeners.at(0).limits.max_path_octets, 400u);
    // Below RFC 5321 section 4.5.3.1's MUST, or past the 512-octet command line.
    EXPECT_NE(error_of(std::string(minimal) + "[smtp]\nmax_local_part_octets = 32\n")
                  .find("smtp.max_local_part_octets: must be between 64 and 512"),
              std::string::npos);
    EXPECT_NE(error_of(std::string(minimal) + "[smtp]\nmax_path_octets = 1000\n")
                  .find("smtp.max_path_octets: must be between 256 and 512"),
              std::string::npos);
}

TEST_F(ConfigFile, TheBodyMemoryBoundHoldsThreeOfEveryListenersLargestMessage) {
    EXPECT_EQ(load_config(write(minimal)).max_body_bytes_in_memory, std::uint64_t{1} << 30);
    EXPECT_EQ(
        load_config(write(std::string(minimal) + "[smtp]\nmax_body_bytes_in_memory = 104857600\n"
                                                 "max_message_bytes = 34952533\n"))
            .max_body_bytes_in_memory,
        104857600u);
    EXPECT_NE(error_of(std::string(minimal) + "[smtp]\nmax_body_bytes_in_memory = 1000\n")
                  .find("smtp.max_body_bytes_in_memory: must be between"),
              std::string::npos);
    EXPECT_NE(error_of(std::string(minimal) +
                       "[smtp]\nmax_body_bytes_in_memory = 104857600\n"
                       "[[smtp.listener]]\nname = \"a\"\naddress = \"127.0.0.1:2525\"\n"
                       "tls = \"none\"\nmax_message_bytes = 34952534\n")
                  .find("smtp.max_body_bytes_in_memory: 104857600 is less than three times "
                        "smtp.listener[0]'s max_message_bytes (34952534)"),
              std::string::npos);
}

TEST_F(ConfigFile, MaxReceivedHeadersIsAnSmtpKeyForEveryListener) {
    EXPECT_EQ(load_config(write(minimal)).max_received_headers, 50u);
    EXPECT_EQ(load_config(write(std::string(minimal) + "[smtp]\nmax_received_headers = 100\n"))
                  .max_received_headers,
              100u);
    EXPECT_NE(error_of(std::string(minimal) + "[smtp]\nmax_received_headers = 0\n")
                  .find("smtp.max_received_headers: must be between 1 and 1000"),
              std::string::npos);
    EXPECT_NE(error_of(std::string(minimal) +
                       "[[smtp.listener]]\nname = \"a\"\naddress = \"127.0.0.1:2525\"\n"
                       "tls = \"none\"\nmax_received_headers = 10\n")
                  .find("smtp.listener[0].max_received_headers: is not a known key"),
              std::string::npos);
}

TEST_F(ConfigFile, ShutdownGraceDefaultsTo30SecondsAndIsBounded) {
    EXPECT_EQ(load_config(write(minimal)).shutdown_grace, std::chrono::seconds(30));
    EXPECT_EQ(load_config(write("[server]\nhostname = \"h\"\nshutdown_grace_seconds = 5\n"
                                "[database]\nurl = \"x\"\n"))
                  .shutdown_grace,
              std::chrono::seconds(5));
    EXPECT_NE(error_of("[server]\nhostname = \"h\"\nshutdown_grace_seconds = -1\n"
                       "[database]\nurl = \"x\"\n")
                  .find("server.shutdown_grace_seconds: must be between 0 and 3600"),
              std::string::npos);
}

TEST_F(ConfigFile, UnknownKeyIsNamedWithTheFile) {
    const auto error = error_of(std::string(minimal) + "[smtp]\nmax_recipient = 5\n");
    EXPECT_NE(error.find("smtp.max_recipient"), std::string::npos) << error;
    EXPECT_NE(error.find("smarthost.toml"), std::string::npos) << error;
}

TEST_F(ConfigFile, MissingHostnameIsNamed) {
    const auto error = error_of("[server]\n[database]\nurl = \"x\"\n");
    EXPECT_NE(error.find("server.hostname: is required"), std::string::npos) << error;
}

TEST_F(ConfigFile, MissingDatabaseUrlNamesTheKeyAndTheVariable) {
    const auto error = error_of("[server]\nhostname = \"h\"\n");
    EXPECT_NE(error.find("database.url"), std::string::npos) << error;
    EXPECT_NE(error.find("SMARTHOST_DATABASE_URL"), std::string::npos) << error;
}

TEST_F(ConfigFile, WrongTypeAndRangeAreNamed) {
    EXPECT_NE(error_of(std::string(minimal) + "[smtp]\nmax_errors = \"ten\"\n")
                  .find("smtp.max_errors: must be an integer"),
              std::string::npos);
    EXPECT_NE(error_of(std::string(minimal) + "[smtp]\nmax_line_bytes = 10\n")
                  .find("smtp.max_line_bytes: must be between"),
              std::string::npos);
}

TEST_F(ConfigFile, BadListenerAddressAndModeAreNamed) {
    const std::string base = std::string(minimal) + "[[smtp.listener]]\nname = \"a\"\n";
    EXPECT_NE(error_of(base + "address = \"127.0.0.1\"\ntls = \"none\"\n")
                  .find("smtp.listener[0].address"),
              std::string::npos);
    EXPECT_NE(error_of(base + "address = \"127.0.0.1:99999\"\ntls = \"none\"\n")
                  .find("smtp.listener[0].address"),
              std::string::npos);
    EXPECT_NE(
        error_of(base + "address = \"127.0.0.1:25\"\ntls = \"ssl\"\n").find("smtp.listener[0].tls"),
        std::string::npos);
}

TEST_F(ConfigFile, TlsListenerNeedsACertificate) {
    const auto error = error_of(std::string(minimal) +
                                "[[smtp.listener]]\nname = \"a\"\naddress = \"127.0.0.1:2587\"\n");
    EXPECT_NE(error.find("smtp.listener[0].tls"), std::string::npos) << error;
}

TEST_F(ConfigFile, SyntaxErrorGivesLineAndColumn) {
    const auto error = error_of("[server\nhostname = 1\n");
    EXPECT_NE(error.find("smarthost.toml:1:"), std::string::npos) << error;
}

TEST_F(ConfigFile, RelativePathsAreRelativeToTheFile) {
    const auto config = load_config(
        write(std::string(minimal) +
              "[tls]\ncertificate = \"tls/cert.pem\"\nprivate_key = \"/abs/key.pem\"\n"));
    EXPECT_EQ(config.tls_certificate, dir_ / "tls/cert.pem");
    EXPECT_EQ(config.tls_private_key, fs::path("/abs/key.pem"));
}

TEST_F(ConfigFile, EnvironmentOverridesTheDatabaseUrl) {
    ::setenv("SMARTHOST_DATABASE_URL", "postgresql://override/db", 1);
    const auto config = load_config(write(minimal));
    ::unsetenv("SMARTHOST_DATABASE_URL");
    EXPECT_EQ(config.database_url, "postgresql://override/db");
}

TEST_F(ConfigFile, TheShippedExampleLoads) {
    ::setenv("SMARTHOST_DATABASE_URL", "postgresql://localhost/smarthost", 1);
    const auto config = load_config(fs::path(SMARTHOST_SOURCE_DIR) / "config/smarthost.toml");
    ::unsetenv("SMARTHOST_DATABASE_URL");
    EXPECT_EQ(config.listeners.size(), 2u);
}

// ---- [delivery] -------------------------------------------------------------------------

TEST_F(ConfigFile, DeliveryDefaultsAreTheDocumentedOnes) {
    const auto d = load_config(write(minimal)).delivery;
    EXPECT_EQ(d.concurrency, 100u);
    EXPECT_EQ(d.concurrency_per_domain, 10u);
    EXPECT_EQ(d.lease, std::chrono::seconds(300));
    EXPECT_EQ(d.mx_port, 25);
    EXPECT_TRUE(d.allow_destination_networks.empty());
    EXPECT_TRUE(d.dns_forwarders.empty());
    EXPECT_EQ(d.tls, OutboundTls::opportunistic);
    EXPECT_EQ(d.max_queue_lifetime, std::chrono::seconds(5 * 24 * 3600));
    EXPECT_EQ(d.delay_warning, std::chrono::seconds(4 * 3600));
    EXPECT_FALSE(d.upstream.configured());
    EXPECT_EQ(d.timeouts.data_end, std::chrono::seconds(600));
    EXPECT_TRUE(d.mta_sts);
    EXPECT_EQ(d.mta_sts_port, 443);
    EXPECT_EQ(d.mta_sts_timeout, std::chrono::seconds(10));
}

TEST_F(ConfigFile, DeliveryMtaStsKeys) {
    const auto d = load_config(write(std::string(minimal) +
                                     "[delivery]\nmta_sts = false\nmta_sts_port = 8443\n"
                                     "mta_sts_timeout_seconds = 3\n"))
                       .delivery;
    EXPECT_FALSE(d.mta_sts);
    EXPECT_EQ(d.mta_sts_port, 8443);
    EXPECT_EQ(d.mta_sts_timeout, std::chrono::seconds(3));
    EXPECT_NE(error_of(std::string(minimal) + "[delivery]\nmta_sts_port = 0\n")
                  .find("delivery.mta_sts_port"),
              std::string::npos);
    EXPECT_NE(error_of(std::string(minimal) + "[delivery]\nmta_sts_timeout_seconds = 61\n")
                  .find("delivery.mta_sts_timeout_seconds"),
              std::string::npos);
}

TEST_F(ConfigFile, DeliveryConcurrencyWithPerDomainOverrides) {
    const auto d = load_config(write(std::string(minimal) +
                                     "[delivery]\nconcurrency = 7\nconcurrency_per_domain = 2\n"
                                     "batch_recipients = 50\nlease_seconds = 60\n"
                                     "[delivery.domain_concurrency]\n\"Big.Example\" = 5\n"))
                       .delivery;
    EXPECT_EQ(d.concurrency, 7u);
    EXPECT_EQ(d.batch_recipients, 50u);
    EXPECT_EQ(d.lease, std::chrono::seconds(60));
    EXPECT_EQ(d.limit_for("big.example"), 5u);
    EXPECT_EQ(d.limit_for("BIG.example"), 5u);
    EXPECT_EQ(d.limit_for("small.example"), 2u);
    EXPECT_NE(error_of(std::string(minimal) + "[delivery.domain_concurrency]\n\"a.example\" = 0\n")
                  .find("delivery.domain_concurrency.\"a.example\""),
              std::string::npos);
}

TEST_F(ConfigFile, DeliveryBodyBytesBoundClaimsAndTheProcess) {
    const auto defaults = load_config(write(minimal)).delivery;
    EXPECT_EQ(defaults.max_claim_body_bytes, std::size_t{256} << 20);
    EXPECT_EQ(defaults.max_body_bytes_in_memory, std::size_t{1} << 30);
    const auto d =
        load_config(write(std::string(minimal) + "[delivery]\nmax_claim_body_bytes = 4194304\n"
                                                 "max_body_bytes_in_memory = 16777216\n"))
            .delivery;
    EXPECT_EQ(d.max_claim_body_bytes, 4u << 20);
    EXPECT_EQ(d.max_body_bytes_in_memory, 16u << 20);
    EXPECT_NE(error_of(std::string(minimal) + "[delivery]\nmax_claim_body_bytes = 1000\n")
                  .find("delivery.max_claim_body_bytes: must be between 1048576"),
              std::string::npos);
    EXPECT_NE(error_of(std::string(minimal) + "[delivery]\nmax_body_bytes_in_memory = \"1G\"\n")
                  .find("delivery.max_body_bytes_in_memory: must be an integer"),
              std::string::npos);
}

TEST_F(ConfigFile, AdminTlsNeedsTheTlsCertificate) {
    EXPECT_NE(error_of(std::string(minimal) + "[admin]\naddress = \"127.0.0.1:8025\"\ntls = true\n")
                  .find("admin.tls"),
              std::string::npos);
}

TEST_F(ConfigFile, DeliveryConcurrencyPerMxHostWithExactAndParentOverrides) {
    const auto d = load_config(write(std::string(minimal) +
                                     "[delivery]\nconcurrency_per_host = 3\n"
                                     "[delivery.host_concurrency]\n\".Google.com\" = 30\n"
                                     "\"alt1.aspmx.l.google.com\" = 4\n"))
                       .delivery;
    EXPECT_EQ(d.host_limit_for("mx.example.net"), 3u);
    EXPECT_EQ(d.host_limit_for("ASPMX.L.google.com"), 30u);
    EXPECT_EQ(d.host_limit_for("alt1.aspmx.l.google.com"), 4u);
    EXPECT_EQ(d.host_limit_for("google.com"), 3u);  // ".google.com" covers hosts below it
    EXPECT_EQ(d.host_limit_for("notgoogle.com"), 3u);
    EXPECT_EQ(load_config(write(std::string(minimal))).delivery.concurrency_per_host, 20u);
    EXPECT_NE(
        error_of(std::string(minimal) + "[delivery.host_concurrency]\n\"mx.example\" = \"x\"\n")
            .find("delivery.host_concurrency.\"mx.example\""),
        std::string::npos);
}

TEST_F(ConfigFile, DeliveryNetworkDnsAndTlsKeys) {
    const auto d =
        load_config(write(std::string(minimal) +
                          "[delivery]\nmx_port = 2525\nsource_address = \"192.0.2.1\"\n"
                          "allow_destination_networks = [\"127.0.0.0/8\"]\n"
                          "dns_forwarders = [\"127.0.0.1@5353\"]\ndns_timeout_ms = 2000\n"
                          "ipv6 = false\ntls = \"none\"\nverify_domains = [\"Bank.Example\"]\n"))
            .delivery;
    EXPECT_EQ(d.mx_port, 2525);
    EXPECT_EQ(d.source_address, "192.0.2.1");
    EXPECT_EQ(d.allow_destination_networks, std::vector<std::string>{"127.0.0.0/8"});
    EXPECT_EQ(d.dns_forwarders, std::vector<std::string>{"127.0.0.1@5353"});
    EXPECT_EQ(d.dns_timeout, std::chrono::milliseconds(2000));
    EXPECT_FALSE(d.ipv6);
    EXPECT_EQ(d.tls_for("bank.example"), OutboundTls::verify);
    EXPECT_EQ(d.tls_for("other.example"), OutboundTls::none);
    EXPECT_NE(error_of(std::string(minimal) + "[delivery]\ntls = \"maybe\"\n").find("delivery.tls"),
              std::string::npos);
    EXPECT_NE(error_of(std::string(minimal) + "[delivery]\ndns_forwarders = \"x\"\n")
                  .find("delivery.dns_forwarders: must be an array of strings"),
              std::string::npos);
    EXPECT_NE(error_of(std::string(minimal) + "[delivery]\nipv4 = false\nipv6 = false\n"), "");
}

TEST_F(ConfigFile, DaneIsOnWithATrustAnchorAndOffWithout) {
    const auto plain = load_config(write(std::string(minimal))).delivery;
    EXPECT_TRUE(plain.dnssec_trust_anchor_file.empty());
    EXPECT_FALSE(plain.dane_enabled());
    const auto anchored =
        load_config(write(std::string(minimal) +
                          "[delivery]\ndnssec_trust_anchor_file = \"/etc/smarthost/root.ds\"\n"))
            .delivery;
    EXPECT_EQ(anchored.dnssec_trust_anchor_file, "/etc/smarthost/root.ds");
    EXPECT_TRUE(anchored.dane_enabled());
    const auto validating_only =
        load_config(write(std::string(minimal) +
                          "[delivery]\ndnssec_trust_anchor_file = \"/etc/smarthost/root.ds\"\n"
                          "dane = false\n"))
            .delivery;
    EXPECT_FALSE(validating_only.dane_enabled());
    EXPECT_NE(error_of(std::string(minimal) + "[delivery]\ndane = true\n")
                  .find("delivery.dane: needs dnssec_trust_anchor_file"),
              std::string::npos);
    EXPECT_NE(error_of(std::string(minimal) + "[delivery]\ndane = \"yes\"\n")
                  .find("delivery.dane: must be true or false"),
              std::string::npos);
}

TEST_F(ConfigFile, DeliveryRetryAndRetentionKeys) {
    const auto d = load_config(write(std::string(minimal) +
                                     "[delivery]\nfirst_retry_seconds = 2\n"
                                     "retry_backoff_factor = 1.5\nmax_retry_seconds = 10\n"
                                     "retry_jitter = 0\nmax_queue_lifetime_seconds = 3\n"
                                     "delay_warning_seconds = 0\n"
                                     "body_retention_seconds = 0\nevent_retention_days = 7\n"))
                       .delivery;
    EXPECT_EQ(d.first_retry, std::chrono::seconds(2));
    EXPECT_DOUBLE_EQ(d.retry_backoff_factor, 1.5);
    EXPECT_EQ(d.max_retry, std::chrono::seconds(10));
    EXPECT_DOUBLE_EQ(d.retry_jitter, 0.0);
    EXPECT_EQ(d.max_queue_lifetime, std::chrono::seconds(3));
    EXPECT_EQ(d.delay_warning, std::chrono::seconds(0));
    EXPECT_EQ(d.body_retention, std::chrono::seconds(0));
    EXPECT_EQ(d.event_retention, std::chrono::seconds(7 * 86400));
    EXPECT_NE(error_of(std::string(minimal) + "[delivery]\nretry_backoff_factor = 0.5\n")
                  .find("delivery.retry_backoff_factor"),
              std::string::npos);
}

TEST_F(ConfigFile, RejectionAndSuspiciousLoginRetentionInDays) {
    const auto defaults = load_config(write(minimal)).delivery;
    EXPECT_EQ(defaults.rejection_retention, std::chrono::seconds(30 * 86400));
    EXPECT_EQ(defaults.suspicious_login_retention, std::chrono::seconds(90 * 86400));
    const auto d =
        load_config(write(std::string(minimal) + "[delivery]\nrejection_retention_days = 2\n"
                                                 "suspicious_login_retention_days = 400\n"))
            .delivery;
    EXPECT_EQ(d.rejection_retention, std::chrono::seconds(2 * 86400));
    EXPECT_EQ(d.suspicious_login_retention, std::chrono::seconds(400 * 86400));
    EXPECT_NE(error_of(std::string(minimal) + "[delivery]\nrejection_retention_days = 0\n")
                  .find("delivery.rejection_retention_days: must be between 1 and 3660"),
              std::string::npos);
    EXPECT_NE(
        error_of(std::string(minimal) + "[delivery]\nsuspicious_login_retention_days = 3661\n")
            .find("delivery.suspicious_login_retention_days: must be between 1 and 3660"),
        std::string::npos);
}

TEST_F(ConfigFile, DeliveryClientTimeouts) {
    const auto d =
        load_config(write(std::string(minimal) + "[delivery.timeouts]\nconnect_seconds = 3\n"
                                                 "data_end_seconds = 20\n"))
            .delivery;
    EXPECT_EQ(d.timeouts.connect, std::chrono::seconds(3));
    EXPECT_EQ(d.timeouts.data_end, std::chrono::seconds(20));
    EXPECT_EQ(d.timeouts.rcpt, std::chrono::seconds(300));
    EXPECT_NE(error_of(std::string(minimal) + "[delivery.timeouts]\nconect_seconds = 3\n")
                  .find("delivery.timeouts.conect_seconds: is not a known key"),
              std::string::npos);
}

TEST_F(ConfigFile, UpstreamRelayForListedDomainsWithPasswordFromTheEnvironment) {
    ::setenv("SMARTHOST_UPSTREAM_PASSWORD", "from-env", 1);
    const auto d = load_config(write(std::string(minimal) +
                                     "[delivery.upstream]\nhost = \"relay.example\"\nport = 465\n"
                                     "username = \"u\"\npassword = \"in-file\"\n"
                                     "domains = [\"Example.COM\"]\n"))
                       .delivery;
    ::unsetenv("SMARTHOST_UPSTREAM_PASSWORD");
    EXPECT_EQ(d.upstream.host, "relay.example");
    EXPECT_EQ(d.upstream.port, 465);
    EXPECT_EQ(d.upstream.password, "from-env");
    EXPECT_EQ(d.upstream.tls, OutboundTls::verify);
    EXPECT_FALSE(d.upstream.allow_auth_without_verified_tls);
    EXPECT_TRUE(d.upstream.applies_to("example.com"));
    EXPECT_FALSE(d.upstream.applies_to("example.org"));
}

TEST_F(ConfigFile, UpstreamAuthOverUnverifiedTlsOnlyWhenAllowedExplicitly) {
    const auto d = load_config(write(std::string(minimal) +
                                     "[delivery.upstream]\nhost = \"relay.example\"\n"
                                     "username = \"u\"\npassword = \"p\"\ntls = \"opportunistic\"\n"
                                     "allow_auth_without_verified_tls = true\n"))
                       .delivery;
    EXPECT_EQ(d.upstream.tls, OutboundTls::opportunistic);
    EXPECT_TRUE(d.upstream.allow_auth_without_verified_tls);
    EXPECT_NE(error_of(std::string(minimal) +
                       "[delivery.upstream]\nhost = \"h\"\nallow_auth_without_verified_tls = 1\n")
                  .find("delivery.upstream.allow_auth_without_verified_tls: must be true or false"),
              std::string::npos);
    // Allowing unverified TLS never allows no TLS at all.
    EXPECT_NE(error_of(std::string(minimal) +
                       "[delivery.upstream]\nhost = \"h\"\nusername = \"u\"\npassword = \"p\"\n"
                       "tls = \"none\"\nallow_auth_without_verified_tls = true\n")
                  .find("delivery.upstream.tls"),
              std::string::npos);
}

TEST_F(ConfigFile, UpstreamForAllMailWithoutAuthAndItsChecks) {
    const auto d = load_config(write(std::string(minimal) +
                                     "[delivery.upstream]\nhost = \"127.0.0.1\"\nport = 2526\n"
                                     "tls = \"none\"\n"))
                       .delivery;
    EXPECT_TRUE(d.upstream.applies_to("anything.example"));
    EXPECT_TRUE(d.upstream.username.empty());
    EXPECT_NE(error_of(std::string(minimal) + "[delivery.upstream]\nport = 25\n")
                  .find("delivery.upstream.host: is required"),
              std::string::npos);
    EXPECT_NE(
        error_of(std::string(minimal) + "[delivery.upstream]\nhost = \"h\"\nusername = \"u\"\n")
            .find("delivery.upstream.password"),
        std::string::npos);
    EXPECT_NE(error_of(std::string(minimal) +
                       "[delivery.upstream]\nhost = \"h\"\nusername = \"u\"\npassword = \"p\"\n"
                       "tls = \"none\"\n")
                  .find("delivery.upstream.tls"),
              std::string::npos);
}

}  // namespace
}  // namespace smarthost

namespace smarthost {
namespace {

TEST_F(ConfigFile, AdminSectionEnablesTheAdminRole) {
    const auto config =
        load_config(write(std::string(minimal) + "[admin]\naddress = \"127.0.0.1:8025\"\n"
                                                 "request_timeout_seconds = 5\n"));
    EXPECT_TRUE(config.admin.enabled);
    EXPECT_EQ(config.admin.host, "127.0.0.1");
    EXPECT_EQ(config.admin.port, 8025);
    EXPECT_EQ(config.admin.request_timeout, std::chrono::seconds(5));
    EXPECT_FALSE(load_config(write(minimal)).admin.enabled);
}

TEST_F(ConfigFile, AdminNetworkPrefixLimitsDefaultToSlash16AndSlash48) {
    const std::string admin = std::string(minimal) + "[admin]\naddress = \"127.0.0.1:8025\"\n";
    const auto defaults = load_config(write(admin)).admin;
    EXPECT_EQ(defaults.min_network_prefix_ipv4, 16u);
    EXPECT_EQ(defaults.min_network_prefix_ipv6, 48u);
    const auto set = load_config(write(admin + "min_network_prefix_ipv4 = 24\n"
                                               "min_network_prefix_ipv6 = 64\n"))
                         .admin;
    EXPECT_EQ(set.min_network_prefix_ipv4, 24u);
    EXPECT_EQ(set.min_network_prefix_ipv6, 64u);
    EXPECT_NE(error_of(admin + "min_network_prefix_ipv4 = 33\n")
                  .find("admin.min_network_prefix_ipv4: must be between 0 and 32"),
              std::string::npos);
    EXPECT_NE(error_of(admin + "min_network_prefix_ipv6 = 129\n")
                  .find("admin.min_network_prefix_ipv6: must be between 0 and 128"),
              std::string::npos);
}

TEST_F(ConfigFile, AdminAddressAndKeysAreChecked) {
    EXPECT_NE(error_of(std::string(minimal) + "[admin]\n").find("admin.address: is required"),
              std::string::npos);
    EXPECT_NE(
        error_of(std::string(minimal) + "[admin]\naddress = \"localhost\"\n").find("admin.address"),
        std::string::npos);
    EXPECT_NE(error_of(std::string(minimal) + "[admin]\naddress = \"127.0.0.1:1\"\nport = 2\n")
                  .find("admin.port: is not a known key"),
              std::string::npos);
}

TEST_F(ConfigFile, PolicyDefaultsVerifyDomainsAndRejectSuppressed) {
    const auto policy = load_config(write(minimal)).policy;
    EXPECT_EQ(policy.suppressed_recipients, SuppressedRecipients::reject);
    EXPECT_TRUE(policy.sender_domain_verification);
    EXPECT_EQ(policy.verification_label, "_smarthost");
    EXPECT_EQ(policy.verification_interval, std::chrono::seconds(900));
    EXPECT_EQ(policy.account_cache, std::chrono::milliseconds(5000));
}

TEST_F(ConfigFile, PolicySectionIsRead) {
    const auto policy =
        load_config(write(std::string(minimal) + "[policy]\nsuppressed_recipients = \"reject\"\n"
                                                 "sender_domain_verification = false\n"
                                                 "verification_label = \"_mail-proof\"\n"
                                                 "verification_interval_seconds = 3600\n"
                                                 "account_cache_ms = 0\n"))
            .policy;
    EXPECT_FALSE(policy.sender_domain_verification);
    EXPECT_EQ(policy.verification_label, "_mail-proof");
    EXPECT_EQ(policy.verification_interval, std::chrono::seconds(3600));
    EXPECT_EQ(policy.account_cache, std::chrono::milliseconds(0));
}

TEST_F(ConfigFile, BlocklistZonesAndAuthThrottleAreRead) {
    const auto config = load_config(
        write(std::string(minimal) +
              "[auth]\nmax_failures = 5\nfailure_window_seconds = 60\nlockout_seconds = 30\n"
              "max_network_failures = 12\nusername_alert_failures = 0\n"
              "[policy]\ndnsbl_exempt_networks = [\"10.0.0.0/8\"]\n"
              "outbound_check_interval_seconds = 60\n"
              "[[policy.dnsbl]]\nzone = \"Zen.Example.\"\naction = \"tempfail\"\n"
              "listed_answers = [\"127.0.0.2\"]\nlookup_url = \"https://x/{ip}\"\n"
              "timeout_ms = 500\nauth_suspicious = true\n"
              "[[policy.dnsbl]]\nzone = \"tag.example\"\naction = \"tag\"\n"
              "[[policy.domain_blocklist]]\nzone = \"dbl.example\"\n"));
    EXPECT_EQ(config.auth_throttle.max_failures, 5u);
    EXPECT_EQ(config.auth_throttle.failure_window, std::chrono::seconds(60));
    EXPECT_EQ(config.auth_throttle.lockout, std::chrono::seconds(30));
    EXPECT_EQ(config.auth_throttle.max_network_failures, 12u);
    EXPECT_EQ(config.auth_throttle.username_alert_failures, 0u);
    const auto& policy = config.policy;
    ASSERT_EQ(policy.dnsbl.size(), 2u);
    EXPECT_EQ(policy.dnsbl[0].zone, "zen.example");
    EXPECT_EQ(policy.dnsbl[0].action, BlocklistAction::tempfail);
    EXPECT_EQ(policy.dnsbl[0].listed_answers, std::vector<std::string>{"127.0.0.2"});
    EXPECT_EQ(policy.dnsbl[0].lookup_url, "https://x/{ip}");
    EXPECT_EQ(policy.dnsbl[0].timeout, std::chrono::milliseconds(500));
    EXPECT_TRUE(policy.dnsbl[0].auth_suspicious);
    EXPECT_EQ(policy.dnsbl[1].action, BlocklistAction::tag);
    ASSERT_EQ(policy.domain_blocklist.size(), 1u);
    EXPECT_EQ(policy.domain_blocklist[0].action, BlocklistAction::reject);
    EXPECT_EQ(policy.dnsbl_exempt_networks, std::vector<std::string>{"10.0.0.0/8"});
    EXPECT_EQ(policy.outbound_check_interval, std::chrono::seconds(60));
}

TEST_F(ConfigFile, BlocklistZoneKeysAreChecked) {
    const std::string zone = std::string(minimal) + "[[policy.dnsbl]]\n";
    EXPECT_NE(error_of(zone + "action = \"reject\"\n").find("policy.dnsbl[0].zone: is required"),
              std::string::npos);
    EXPECT_NE(error_of(zone + "zone = \"a..b\"\n").find("policy.dnsbl[0].zone: must be a DNS name"),
              std::string::npos);
    EXPECT_NE(error_of(zone + "zone = \"bl.example\"\naction = \"drop\"\n")
                  .find("policy.dnsbl[0].action: must be one of reject, tempfail, tag"),
              std::string::npos);
    EXPECT_NE(error_of(zone + "zone = \"bl.example\"\ntimeout_ms = 5\n")
                  .find("policy.dnsbl[0].timeout_ms: must be between 100"),
              std::string::npos);
    EXPECT_NE(error_of(std::string(minimal) + "[[policy.domain_blocklist]]\nzone = \"d.example\"\n"
                                              "weight = 1\n")
                  .find("policy.domain_blocklist[0].weight: is not a known key"),
              std::string::npos);
}

// Checked here, not first by the blocklists: a SIGHUP with such an entry must change nothing.
TEST_F(ConfigFile, BlocklistAnswersAndExemptNetworksMustBeNetworks) {
    EXPECT_NE(error_of(std::string(minimal) + "[[policy.dnsbl]]\nzone = \"bl.example\"\n"
                                              "listed_answers = [\"127.0.0.2\", \"127.0.0.x\"]\n")
                  .find("policy.dnsbl[0].listed_answers: \"127.0.0.x\" is not an address or "
                        "network"),
              std::string::npos);
    EXPECT_NE(error_of(std::string(minimal) + "[[policy.domain_blocklist]]\nzone = \"d.example\"\n"
                                              "listed_answers = [\"127.0.1.0/40\"]\n")
                  .find("policy.domain_blocklist[0].listed_answers: \"127.0.1.0/40\""),
              std::string::npos);
    EXPECT_NE(error_of(std::string(minimal) + "[policy]\ndnsbl_exempt_networks = [\"10.0.0.0/8\", "
                                              "\"office\"]\n")
                  .find("policy.dnsbl_exempt_networks: \"office\" is not an address or network"),
              std::string::npos);
}

TEST_F(ConfigFile, PolicyKeysAreChecked) {
    EXPECT_EQ(
        load_config(write(std::string(minimal) + "[policy]\nsuppressed_recipients = \"bounce\"\n"))
            .policy.suppressed_recipients,
        SuppressedRecipients::bounce);
    EXPECT_NE(error_of(std::string(minimal) + "[policy]\nsuppressed_recipients = \"drop\"\n")
                  .find("policy.suppressed_recipients: must be"),
              std::string::npos);
    EXPECT_NE(error_of(std::string(minimal) + "[policy]\nverification_label = \"a.b\"\n")
                  .find("policy.verification_label: must be one DNS label"),
              std::string::npos);
    EXPECT_NE(error_of(std::string(minimal) + "[policy]\nverification_interval_seconds = 5\n")
                  .find("policy.verification_interval_seconds: must be between 60"),
              std::string::npos);
    EXPECT_NE(error_of(std::string(minimal) + "[policy]\nverify = true\n")
                  .find("policy.verify: is not a known key"),
              std::string::npos);
}

TEST_F(ConfigFile, ConnectionLimitDefaultsToNoneAndIsRead) {
    const auto defaults = load_config(write(minimal));
    EXPECT_EQ(defaults.limits.max_connections, 0u);
    EXPECT_EQ(defaults.limits.connection_count_interval, std::chrono::milliseconds(1000));
    const auto config =
        load_config(write(std::string(minimal) + "[limits]\nmax_connections = 20\n"
                                                 "connection_count_interval_ms = 250\n"));
    EXPECT_EQ(config.limits.max_connections, 20u);
    EXPECT_EQ(config.limits.connection_count_interval, std::chrono::milliseconds(250));
    EXPECT_NE(error_of(std::string(minimal) + "[limits]\nmax_connections = -1\n")
                  .find("limits.max_connections: must be between 0"),
              std::string::npos);
    EXPECT_NE(error_of(std::string(minimal) + "[limits]\nconnection_count_interval_ms = 10\n")
                  .find("limits.connection_count_interval_ms: must be between 100"),
              std::string::npos);
}

TEST_F(ConfigFile, TheShippedExampleLimitsConnectionsPerAccount) {
    ::setenv("SMARTHOST_DATABASE_URL", "postgresql://localhost/smarthost", 1);
    const auto config = load_config(fs::path(SMARTHOST_SOURCE_DIR) / "config/smarthost.toml");
    ::unsetenv("SMARTHOST_DATABASE_URL");
    EXPECT_EQ(config.limits.max_connections, 20u);
}

}  // namespace
}  // namespace smarthost

namespace smarthost {
namespace {

TEST_F(ConfigFile, MetricsSectionGivesTheMetricsListener) {
    const auto config =
        load_config(write(std::string(minimal) + "[metrics]\naddress = \"[::1]:9125\"\n"));
    EXPECT_TRUE(config.metrics.enabled);
    EXPECT_EQ(config.metrics.host, "::1");
    EXPECT_EQ(config.metrics.port, 9125);
    EXPECT_FALSE(load_config(write(minimal)).metrics.enabled);
}

TEST_F(ConfigFile, MetricsAddressAndKeysAreChecked) {
    EXPECT_NE(error_of(std::string(minimal) + "[metrics]\n").find("metrics.address: is required"),
              std::string::npos);
    EXPECT_NE(error_of(std::string(minimal) + "[metrics]\naddress = \"127.0.0.1:0\"\n")
                  .find("metrics.address"),
              std::string::npos);
    EXPECT_NE(error_of(std::string(minimal) + "[metrics]\naddress = \"127.0.0.1:9125\"\npath = "
                                              "\"/m\"\n")
                  .find("metrics.path: is not a known key"),
              std::string::npos);
}

}  // namespace
}  // namespace smarthost

namespace smarthost {
namespace {

// tls = "none" listeners, so no certificate is needed.
constexpr const char* k_two_listeners =
    "[[smtp.listener]]\nname = \"lb\"\naddress = \"127.0.0.1:2525\"\ntls = \"none\"\n"
    "[[smtp.listener]]\nname = \"direct\"\naddress = \"127.0.0.1:2526\"\ntls = \"none\"\n"
    "proxy_protocol = false\n";

TEST_F(ConfigFile, ProxyProtocolIsOffByDefault) {
    const auto config = load_config(write(std::string(minimal) + k_two_listeners));
    EXPECT_FALSE(config.listeners[0].proxy.enabled);
    EXPECT_TRUE(config.listeners[0].proxy.trusted_proxies.empty());
}

TEST_F(ConfigFile, ProxyProtocolDefaultsFromSmtpAndIsOverriddenPerListener) {
    const auto config = load_config(
        write(std::string(minimal) +
              "[smtp]\nproxy_protocol = true\ntrusted_proxies = [\"10.0.0.0/8\", \"fd00::1\"]\n" +
              k_two_listeners));
    ASSERT_EQ(config.listeners.size(), 2u);
    EXPECT_TRUE(config.listeners[0].proxy.enabled);
    EXPECT_EQ(config.listeners[0].proxy.trusted_proxies,
              (std::vector<std::string>{"10.0.0.0/8", "fd00::1"}));
    EXPECT_FALSE(config.listeners[1].proxy.enabled);

    const auto own = load_config(
        write(std::string(minimal) + "[smtp]\ntrusted_proxies = [\"10.0.0.0/8\"]\n" +
              "[[smtp.listener]]\nname = \"lb\"\naddress = \"127.0.0.1:2525\"\ntls = \"none\"\n"
              "proxy_protocol = true\ntrusted_proxies = [\"192.0.2.10\"]\n"));
    EXPECT_TRUE(own.listeners[0].proxy.enabled);
    EXPECT_EQ(own.listeners[0].proxy.trusted_proxies, std::vector<std::string>{"192.0.2.10"});
}

TEST_F(ConfigFile, ProxyProtocolWithoutTrustedProxiesNamesTheKey) {
    const std::string listener =
        "[[smtp.listener]]\nname = \"lb\"\naddress = \"127.0.0.1:2525\"\ntls = \"none\"\n";
    auto error = error_of(std::string(minimal) + listener + "proxy_protocol = true\n");
    EXPECT_NE(error.find("smtp.listener[0].trusted_proxies: must list at least one"),
              std::string::npos)
        << error;
    error = error_of(std::string(minimal) + "[smtp]\nproxy_protocol = true\n" + listener);
    EXPECT_NE(error.find("smtp.trusted_proxies: must list at least one"), std::string::npos)
        << error;
    error =
        error_of(std::string(minimal) + listener + "proxy_protocol = true\ntrusted_proxies = []\n");
    EXPECT_NE(error.find("smtp.listener[0].trusted_proxies"), std::string::npos) << error;
}

TEST_F(ConfigFile, TrustedProxiesMustBeNetworks) {
    auto error = error_of(std::string(minimal) + "[smtp]\ntrusted_proxies = [\"10.0.0.0/33\"]\n");
    EXPECT_NE(error.find("smtp.trusted_proxies: \"10.0.0.0/33\" is not an address or network"),
              std::string::npos)
        << error;
    error = error_of(std::string(minimal) +
                     "[[smtp.listener]]\nname = \"lb\"\naddress = \"127.0.0.1:2525\"\n"
                     "tls = \"none\"\nproxy_protocol = \"yes\"\n");
    EXPECT_NE(error.find("smtp.listener[0].proxy_protocol: must be true or false"),
              std::string::npos)
        << error;
    error = error_of(std::string(minimal) + "[smtp]\ntrusted_proxies = \"10.0.0.1\"\n");
    EXPECT_NE(error.find("smtp.trusted_proxies: must be an array of strings"), std::string::npos)
        << error;
}

TEST_F(ConfigFile, DkimDefaultsToNoKeyNoExpiryAndAQuarterHourCheck) {
    const auto config = load_config(write(minimal));
    EXPECT_FALSE(config.dkim.key_encryption_key_configured());
    EXPECT_EQ(config.dkim.signature_expiry, std::chrono::seconds(0));
    EXPECT_EQ(config.dkim.check_interval, std::chrono::seconds(900));
}

TEST_F(ConfigFile, DkimKeysAreReadAndTheEnvironmentKekWins) {
    const std::string file_kek = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
    const std::string env_kek = "HxwdHhsaGRgXFhUUExIREA8ODQwLCgkIBwYFBAMCAQA=";
    const auto text = std::string(minimal) + "[dkim]\nkey_encryption_key = \"" + file_kek +
                      "\"\nsignature_expiry_seconds = 604800\ncheck_interval_seconds = 300\n";
    auto config = load_config(write(text));
    EXPECT_EQ(config.dkim.key_encryption_key, file_kek);
    EXPECT_EQ(config.dkim.signature_expiry, std::chrono::seconds(604800));
    EXPECT_EQ(config.dkim.check_interval, std::chrono::seconds(300));
    ::setenv("SMARTHOST_DKIM_KEK", env_kek.c_str(), 1);
    config = load_config(write(text));
    ::unsetenv("SMARTHOST_DKIM_KEK");
    EXPECT_EQ(config.dkim.key_encryption_key, env_kek);
}

TEST_F(ConfigFile, AMalformedKekIsAStartUpErrorThatDoesNotShowIt) {
    for (const std::string kek : {"c2hvcnQtc2VjcmV0", "not base64 at all!",
                                  "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gIQ=="}) {
        const auto error =
            error_of(std::string(minimal) + "[dkim]\nkey_encryption_key = \"" + kek + "\"\n");
        EXPECT_NE(error.find("dkim.key_encryption_key"), std::string::npos) << error;
        EXPECT_EQ(error.find(kek), std::string::npos) << error;
    }
    ::setenv("SMARTHOST_DKIM_KEK", "c2hvcnQtc2VjcmV0", 1);
    const auto from_env = error_of(minimal);
    ::unsetenv("SMARTHOST_DKIM_KEK");
    EXPECT_NE(from_env.find("SMARTHOST_DKIM_KEK"), std::string::npos) << from_env;
}

TEST_F(ConfigFile, DkimCheckIntervalHasAFloor) {
    EXPECT_NE(error_of(std::string(minimal) + "[dkim]\ncheck_interval_seconds = 5\n"), "");
    EXPECT_NE(error_of(std::string(minimal) + "[dkim]\nkek = \"x\"\n"), "");
}

TEST_F(ConfigFile, MaxHeldRecipientsBoundsAHeldUnitByDefault) {
    EXPECT_EQ(load_config(write(minimal)).abuse.max_held_recipients, 100000u);
    EXPECT_EQ(load_config(write(std::string(minimal) + "[abuse]\nmax_held_recipients = 0\n"))
                  .abuse.max_held_recipients,
              0u);
    EXPECT_NE(error_of(std::string(minimal) + "[abuse]\nmax_held_recipients = -1\n")
                  .find("abuse.max_held_recipients"),
              std::string::npos);
}

TEST_F(ConfigFile, ScanRejectsRuleHoldsByDefaultAndIsRead) {
    const auto defaults = load_config(write(minimal)).abuse.scan_rejects;
    EXPECT_TRUE(defaults.enabled);
    EXPECT_EQ(defaults.window, std::chrono::seconds(600));
    EXPECT_EQ(defaults.threshold, 10u);
    EXPECT_EQ(defaults.action, RuleAction::hold);

    const auto set = load_config(write(std::string(minimal) +
                                       "[abuse.rules.scan_rejects]\nwindow_seconds = 300\n"
                                       "threshold = 4\naction = \"suspend\"\n"))
                         .abuse.scan_rejects;
    EXPECT_EQ(set.window, std::chrono::seconds(300));
    EXPECT_EQ(set.threshold, 4u);
    EXPECT_EQ(set.action, RuleAction::suspend);

    EXPECT_NE(error_of(std::string(minimal) + "[abuse.rules.scan_rejects]\naction = \"drop\"\n")
                  .find("abuse.rules.scan_rejects.action: must be alert, hold or suspend"),
              std::string::npos);
    EXPECT_NE(error_of(std::string(minimal) + "[abuse.rules.scan_rejects]\nthreshold = 0\n")
                  .find("abuse.rules.scan_rejects.threshold"),
              std::string::npos);
}

}  // namespace
}  // namespace smarthost

namespace smarthost {
namespace {

class ScanningConfigFile : public ::testing::Test {
  protected:
    void SetUp() override {
        dir_ =
            fs::temp_directory_path() / ("smarthost-scanning-config-" + std::to_string(::getpid()));
        fs::create_directories(dir_);
        ::unsetenv("SMARTHOST_DATABASE_URL");
    }
    void TearDown() override { fs::remove_all(dir_); }

    Config load(const std::string& scanning) {
        const auto path = dir_ / "smarthost.toml";
        std::ofstream(path) << "[server]\nhostname = \"relay.example\"\n[database]\nurl = "
                               "\"postgresql:///x\"\n[scanning]\n"
                            << scanning;
        return load_config(path);
    }
    std::string error_of(const std::string& scanning) {
        try {
            load(scanning);
            return "";
        } catch (const ConfigError& e) {
            return e.what();
        }
    }
    fs::path dir_;
};

TEST_F(ScanningConfigFile, OffUnlessAUrlIsSetWithDocumentedDefaults) {
    const auto config = load("");
    EXPECT_FALSE(config.scanning.enabled());
    EXPECT_EQ(config.scanning.timeout, std::chrono::milliseconds(2000));
    EXPECT_EQ(config.scanning.add_header_score, 6.0);
    EXPECT_FALSE(config.scanning.hold_score);
    EXPECT_EQ(config.scanning.reject_score, 15.0);
}

TEST_F(ScanningConfigFile, TheUrlGivesHostPortAndPath) {
    auto scanning = load("rspamd_url = \"http://127.0.0.1\"\n").scanning;
    EXPECT_TRUE(scanning.enabled());
    EXPECT_EQ(scanning.host, "127.0.0.1");
    EXPECT_EQ(scanning.port, "11333");
    EXPECT_EQ(scanning.target, "/checkv2");
    scanning = load("rspamd_url = \"http://[::1]:11400/v2/check\"\n").scanning;
    EXPECT_EQ(scanning.host, "::1");
    EXPECT_EQ(scanning.port, "11400");
    EXPECT_EQ(scanning.target, "/v2/check");
}

TEST_F(ScanningConfigFile, BadUrlsAndThresholdsAreNamed) {
    for (const char* bad : {"rspamd_url = \"https://x\"\n", "rspamd_url = \"http://:1\"\n",
                            "rspamd_url = \"http://x:0\"\n", "rspamd_url = \"http://x:99999\"\n",
                            "rspamd_url = \"http://x/a b\"\n"})
        EXPECT_NE(error_of(bad).find("scanning.rspamd_url"), std::string::npos) << bad;
    EXPECT_NE(error_of("reject_score = \"high\"\n").find("scanning.reject_score: must be a score"),
              std::string::npos);
    EXPECT_NE(error_of("hold_score = 20\nreject_score = 10\n").find("ordered"), std::string::npos);
    EXPECT_FALSE(load("reject_score = false\n").scanning.reject_score);
    EXPECT_NE(error_of("timeout_ms = 0\n").find("scanning.timeout_ms"), std::string::npos);
}

}  // namespace
}  // namespace smarthost
