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
    }
    void TearDown() override { fs::remove_all(dir_); }

    fs::path write(const std::string& text) {
        const auto path = dir_ / "smarthost.toml";
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

}  // namespace
}  // namespace smarthost
