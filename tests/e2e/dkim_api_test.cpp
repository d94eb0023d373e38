// DKIM keys through the admin API of the real binary: a key made, shown with the TXT
// record to publish, verified against the test DNS, activated (rotation), retired and
// deleted; problems for bad input; no answer ever carrying the private key; 503 without a
// key-encryption key; and the CLI's dkim commands.

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <chrono>
#include <fstream>

#include "relay/dkim/keys.hpp"
#include "tests/e2e/admin_http.hpp"
#include "tests/e2e/harness.hpp"
#include "tests/support/dnsmasq.hpp"
#include "tests/support/smtp_sink.hpp"
#include "tests/support/test_database.hpp"

namespace smarthost::e2e {
namespace {

namespace json = boost::json;
using namespace std::chrono_literals;

constexpr const char* k_kek = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

std::string str(const json::value& value) {
    return std::string(value.as_string());
}

// A server with the admin role (and the KEK unless told otherwise), its DNS the fixture's.
struct AdminServer {
    AdminServer(test::TestDatabase& db, const std::string& dns_forwarder, bool with_kek = true,
                std::string roles = "admin")
        : port(free_port()) {
        ServerOptions options;
        options.roles = std::move(roles);
        options.extra_toml = "[admin]\naddress = \"127.0.0.1:" + std::to_string(port) +
                             "\"\n[delivery]\ndns_forwarders = [\"" + dns_forwarder +
                             "\"]\ndns_timeout_ms = 3000\n";
        if (with_kek)
            options.extra_toml += "[dkim]\nkey_encryption_key = \"" + std::string(k_kek) + "\"\n";
        server = std::make_unique<SmarthostServer>(db.url(), options);
        ready = wait_for_port("the admin listener", "127.0.0.1", port, std::chrono::seconds(10));
        const auto made = server->subcommand({"token", "create", "--name", "ops"});
        token = made.output.substr(0, made.output.find('\n'));
    }

    HttpResult call(const std::string& method, const std::string& path,
                    const std::string& body = {}) const {
        auto result = http(method, port, path, token, body);
        // Whatever the route and the outcome: never the private key, sealed or not.
        EXPECT_EQ(result.text.find("PRIVATE KEY"), std::string::npos) << result.text;
        EXPECT_EQ(result.text.find("-----BEGIN"), std::string::npos) << result.text;
        EXPECT_EQ(result.text.find("private_key_sealed"), std::string::npos) << result.text;
        return result;
    }

    std::uint16_t port;
    std::unique_ptr<SmarthostServer> server;
    testing::AssertionResult ready = testing::AssertionFailure();
    std::string token;
};

// The problem's field errors name `field`.
bool names_field(const HttpResult& result, const std::string& field) {
    if (!result.body.is_object() || !result.body.as_object().contains("errors")) return false;
    for (const auto& error : result.body.at("errors").as_array())
        if (str(error.at("field")) == field) return true;
    return false;
}

TEST(DkimApi, AKeyIsMadeShownVerifiedAndActivatedAndRotationRetiresTheOldOne) {
    test::TestDatabase db;
    const auto account = db.create_account("shop");
    const auto domain = db.add_sender_domain(account, "shop.test");
    // Imported, so the record can be served before the server starts.
    auto imported = dkim::PrivateKey::generate(dkim::Algorithm::rsa_sha256);
    ASSERT_TRUE(imported.ok());
    const auto record_text =
        dkim::key_record_text(dkim::Algorithm::rsa_sha256, imported->public_key_base64());
    test::Dnsmasq dns({test::DnsRecord::txt("imported._domainkey.shop.test",
                                            dkim::character_strings(record_text))});
    AdminServer admin(db, dns.forwarder());
    ASSERT_TRUE(admin.ready) << admin.server->log();
    const auto keys_path = "/api/v1/domains/" + std::to_string(domain) + "/dkim-keys";

    // A generated key: its record is not published, so under the default policy
    // ("verified") it does not activate without "force".
    const auto made = admin.call("POST", keys_path, "{}");
    ASSERT_EQ(made.status, 201) << made.text;
    const auto& key = made.body.as_object();
    EXPECT_EQ(str(key.at("algorithm")), "rsa-sha256");
    EXPECT_EQ(key.at("key_bits").as_int64(), 2048);
    EXPECT_EQ(str(key.at("state")), "created");
    EXPECT_EQ(str(key.at("domain")), "shop.test");
    const auto selector = str(key.at("selector"));
    EXPECT_TRUE(selector.starts_with("sh20")) << selector;
    const auto& record = key.at("dns_record").as_object();
    EXPECT_EQ(str(record.at("name")), selector + "._domainkey.shop.test");
    EXPECT_EQ(str(record.at("type")), "TXT");
    EXPECT_TRUE(str(record.at("value")).starts_with("v=DKIM1; k=rsa; p=")) << made.text;
    std::string joined;
    for (const auto& part : record.at("strings").as_array()) {
        EXPECT_LE(part.as_string().size(), 255u);
        joined += str(part);
    }
    EXPECT_EQ(joined, str(record.at("value")));
    EXPECT_GT(record.at("strings").as_array().size(), 1u);
    EXPECT_TRUE(str(key.at("zone_file_line"))
                    .starts_with(selector + "._domainkey.shop.test. IN TXT \"v=DKIM1; k=rsa; p="))
        << made.text;
    const auto generated_id = std::to_string(key.at("id").as_int64());

    const auto refused = admin.call("POST", "/api/v1/dkim-keys/" + generated_id + "/activate");
    EXPECT_EQ(refused.status, 409) << refused.text;
    EXPECT_EQ(refused.content_type, "application/problem+json");
    const auto forced =
        admin.call("POST", "/api/v1/dkim-keys/" + generated_id + "/activate", R"({"force":true})");
    ASSERT_EQ(forced.status, 200) << forced.text;
    EXPECT_EQ(str(forced.body.at("state")), "active");

    // The imported key: published in the test DNS, verified, then activated without force,
    // which retires the generated one.
    json::object import_body;
    import_body["selector"] = "imported";
    import_body["private_key_pem"] = imported->pem();
    const auto added = admin.call("POST", keys_path, json::serialize(import_body));
    ASSERT_EQ(added.status, 201) << added.text;
    EXPECT_TRUE(added.body.at("imported").as_bool());
    EXPECT_EQ(str(added.body.at("dns_record").at("value")), record_text);
    const auto imported_id = std::to_string(added.body.at("id").as_int64());

    const auto verified = admin.call("POST", "/api/v1/dkim-keys/" + imported_id + "/verify");
    ASSERT_EQ(verified.status, 200) << verified.text;
    EXPECT_TRUE(verified.body.at("conclusive").as_bool());
    EXPECT_EQ(str(verified.body.at("dns_status")), "published");
    EXPECT_FALSE(verified.body.at("dns_checked_at").is_null());
    const auto missing = admin.call("POST", "/api/v1/dkim-keys/" + generated_id + "/verify");
    EXPECT_EQ(str(missing.body.at("dns_status")), "missing") << missing.text;

    const auto activated = admin.call("POST", "/api/v1/dkim-keys/" + imported_id + "/activate");
    ASSERT_EQ(activated.status, 200) << activated.text;
    EXPECT_EQ(str(activated.body.at("state")), "active");
    const auto old = admin.call("GET", "/api/v1/dkim-keys/" + generated_id);
    EXPECT_EQ(str(old.body.at("state")), "retired") << old.text;
    EXPECT_FALSE(old.body.at("retired_at").is_null());

    const auto listed = admin.call("GET", keys_path);
    ASSERT_EQ(listed.status, 200) << listed.text;
    EXPECT_EQ(listed.body.at("items").as_array().size(), 2u);

    // Delete: refused for the active key, done for the retired one.
    const auto kept = admin.call("DELETE", "/api/v1/dkim-keys/" + imported_id);
    EXPECT_EQ(kept.status, 409) << kept.text;
    EXPECT_EQ(admin.call("DELETE", "/api/v1/dkim-keys/" + generated_id).status, 204);
    EXPECT_EQ(admin.call("GET", "/api/v1/dkim-keys/" + generated_id).status, 404);
    const auto retired = admin.call("POST", "/api/v1/dkim-keys/" + imported_id + "/retire");
    EXPECT_EQ(str(retired.body.at("state")), "retired") << retired.text;

    // The signing policy is the domain's, in its view.
    const auto policy = admin.call("PATCH", "/api/v1/domains/" + std::to_string(domain),
                                   R"({"dkim_policy":"always"})");
    ASSERT_EQ(policy.status, 200) << policy.text;
    EXPECT_EQ(str(policy.body.at("dkim_policy")), "always");
    const auto bad_policy = admin.call("PATCH", "/api/v1/domains/" + std::to_string(domain),
                                       R"({"dkim_policy":"sometimes"})");
    EXPECT_EQ(bad_policy.status, 422);
    EXPECT_TRUE(names_field(bad_policy, "dkim_policy")) << bad_policy.text;

    // Every change is audited; the stored key is sealed.
    const auto audit = db.exec(
        "SELECT count(*) FROM audit_log WHERE token_name = 'ops' AND path LIKE '%dkim-keys%'");
    EXPECT_EQ(*audit.at(0).at(0), "8");  // two verify-nows among them
    EXPECT_TRUE(db.exec("SELECT 1 FROM dkim_keys WHERE position('PRIVATE KEY'::bytea IN "
                        "private_key_sealed) > 0")
                    .empty());
}

TEST(DkimApi, TheDeliveryRoleChecksKeyRecordsWithoutBeingAsked) {
    test::TestDatabase db;
    const auto account = db.create_account("shop");
    const auto domain = db.add_sender_domain(account, "shop.test");
    auto imported = dkim::PrivateKey::generate(dkim::Algorithm::ed25519_sha256);
    ASSERT_TRUE(imported.ok());
    test::Dnsmasq dns({test::DnsRecord::txt(
        "imported._domainkey.shop.test",
        dkim::character_strings(dkim::key_record_text(dkim::Algorithm::ed25519_sha256,
                                                      imported->public_key_base64())))});
    json::object import_body;
    import_body["selector"] = "imported";
    import_body["private_key_pem"] = imported->pem();
    std::string key_id;
    {
        AdminServer admin(db, dns.forwarder());
        ASSERT_TRUE(admin.ready) << admin.server->log();
        const auto added =
            admin.call("POST", "/api/v1/domains/" + std::to_string(domain) + "/dkim-keys",
                       json::serialize(import_body));
        ASSERT_EQ(added.status, 201) << added.text;
        key_id = std::to_string(added.body.at("id").as_int64());
    }
    // A delivery replica's first round finds the never-checked key.
    AdminServer replica(db, dns.forwarder(), true, "delivery,admin");
    ASSERT_TRUE(replica.ready) << replica.server->log();
    EXPECT_TRUE(wait_until("the key's record is seen published", [&] {
        return *db.exec("SELECT dns_status FROM dkim_keys WHERE id = $1", key_id).at(0).at(0) ==
               "published";
    }));
}

// Onboarding as docs/admin-api.md tells it, with nothing but the API: import the key the
// customer publishes, verify, activate; the next message is signed with it, and python3-dkim
// verifies the signature against the published record.
TEST(DkimApi, AKeyOnboardedThroughTheApiSignsTheNextMessage) {
    test::TestDatabase db;
    const auto account = db.create_account("shop");
    db.exec("INSERT INTO allowed_networks (account_id, network) VALUES ($1, '127.0.0.0/8')",
            account);
    const auto domain = db.add_sender_domain(account, "shop.test");
    auto imported = dkim::PrivateKey::generate(dkim::Algorithm::rsa_sha256);
    ASSERT_TRUE(imported.ok());
    const auto record =
        dkim::key_record_text(dkim::Algorithm::rsa_sha256, imported->public_key_base64());
    const auto mx_port = free_port();
    test::Dnsmasq dns(
        {test::DnsRecord::mx("dest.test", 10, "mx.dest.test"),
         test::DnsRecord::address("mx.dest.test", "127.0.0.3"),
         test::DnsRecord::txt("_smarthost.shop.test",
                              {"smarthost-verification=0123456789abcdef0123456789abcdef"}),
         test::DnsRecord::txt("onboard._domainkey.shop.test", dkim::character_strings(record))});
    test::SmtpSink sink("127.0.0.3", mx_port);
    const auto admin_port = free_port();
    ServerOptions options;
    options.listeners = {{"submission", "none"}};
    options.roles = "smtp,delivery,admin";
    options.extra_toml = "[admin]\naddress = \"127.0.0.1:" + std::to_string(admin_port) +
                         "\"\n[delivery]\nmx_port = " + std::to_string(mx_port) +
                         "\nallow_destination_networks = [\"127.0.0.0/8\"]\ndns_forwarders = "
                         "[\"" +
                         dns.forwarder() +
                         "\"]\nipv6 = false\npoll_seconds = 1\n[policy]\naccount_cache_ms = 0\n"
                         "[dkim]\nkey_encryption_key = \"" +
                         std::string(k_kek) + "\"\n";
    SmarthostServer server(db.url(), options);
    ASSERT_TRUE(wait_for_port("the admin listener", "127.0.0.1", admin_port, 10s)) << server.log();
    const auto made = server.subcommand({"token", "create", "--name", "ops"});
    const auto token = made.output.substr(0, made.output.find('\n'));

    json::object import_body;
    import_body["selector"] = "onboard";
    import_body["private_key_pem"] = imported->pem();
    const auto added =
        http("POST", admin_port, "/api/v1/domains/" + std::to_string(domain) + "/dkim-keys", token,
             json::serialize(import_body));
    ASSERT_EQ(added.status, 201) << added.text;
    const auto key_path = "/api/v1/dkim-keys/" + std::to_string(added.body.at("id").as_int64());
    const auto verified = http("POST", admin_port, key_path + "/verify", token);
    ASSERT_EQ(str(verified.body.at("dns_status")), "published") << verified.text;
    const auto activated = http("POST", admin_port, key_path + "/activate", token);
    ASSERT_EQ(activated.status, 200) << activated.text;

    TempDir dir;
    const auto file = dir.path() / "message.eml";
    std::ofstream(file, std::ios::binary)
        << "From: Alice <alice@shop.test>\r\nTo: bob@dest.test\r\nSubject: onboarded\r\n"
           "Date: Mon, 7 Dec 2026 05:00:00 +0000\r\nMessage-ID: <onboarded@shop.test>\r\n\r\n"
           "Signed with the key the API activated.\r\n";
    const auto sent =
        swaks({"--server", "127.0.0.1:" + std::to_string(server.port("submission")), "--from",
               "alice@shop.test", "--to", "bob@dest.test", "--data", file.string()});
    ASSERT_EQ(sent.exit_code, 0) << sent.output;

    std::string delivered;
    ASSERT_TRUE(wait_until(
        "smtp-sink received the message",
        [&] {
            for (const auto& dump : sink.dumps()) {
                if (dump.find("Subject: onboarded") == std::string::npos) continue;
                // smtp-sink's X- lines out, CRLF back (the message has no bare LF).
                std::string_view rest = dump;
                while (rest.starts_with("X-"))
                    rest.remove_prefix(rest.find('\n') + 1);
                delivered.clear();
                for (const char c : rest)
                    delivered += c == '\n' ? std::string("\r\n") : std::string(1, c);
                return true;
            }
            return false;
        },
        30s))
        << server.log();
    EXPECT_NE(delivered.find("DKIM-Signature:"), std::string::npos) << delivered;
    EXPECT_NE(delivered.find("s=onboard;"), std::string::npos) << delivered;
    EXPECT_NE(delivered.find("d=shop.test;"), std::string::npos) << delivered;

    std::ofstream(dir.path() / "delivered.eml", std::ios::binary) << delivered;
    std::ofstream(dir.path() / "records") << "onboard._domainkey.shop.test\t" << record << '\n';
    const auto checked = run_command(
        {"bash", std::string(SMARTHOST_E2E_SOURCE_DIR) + "/tests/e2e/dkim_verify.sh",
         (dir.path() / "records").string(), (dir.path() / "delivered.eml").string(), "dkimverify"},
        60s);
    EXPECT_EQ(checked.exit_code, 0) << checked.output << delivered;
}

TEST(DkimApi, BadInputGetsAProblemNamingTheField) {
    test::TestDatabase db;
    const auto account = db.create_account("shop");
    const auto domain = db.add_sender_domain(account, "shop.test");
    test::Dnsmasq dns({});
    AdminServer admin(db, dns.forwarder());
    ASSERT_TRUE(admin.ready) << admin.server->log();
    const auto keys_path = "/api/v1/domains/" + std::to_string(domain) + "/dkim-keys";

    struct Case {
        const char* body;
        const char* field;
    };
    const Case cases[] = {
        {R"({"algorithm":"rsa-sha1"})", "algorithm"},
        {R"({"algorithm":42})", "algorithm"},
        {R"({"selector":"Not_A_Selector"})", "selector"},
        {R"({"selector":"a..b"})", "selector"},
        {R"({"private_key_pem":"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"})",
         "private_key_pem"},
        {R"({"secret":"x"})", "secret"},
    };
    for (const auto& c : cases) {
        const auto result = admin.call("POST", keys_path, c.body);
        EXPECT_EQ(result.status, 422) << c.body << " " << result.text;
        EXPECT_EQ(result.content_type, "application/problem+json") << c.body;
        EXPECT_TRUE(names_field(result, c.field)) << c.body << " " << result.text;
    }
    // A PEM past 16 KiB is refused before it is parsed.
    const auto oversized = admin.call(
        "POST", keys_path, R"({"private_key_pem":")" + std::string(16 * 1024 + 1, 'A') + R"("})");
    EXPECT_EQ(oversized.status, 422) << oversized.text;
    EXPECT_TRUE(names_field(oversized, "private_key_pem")) << oversized.text;
    // An RSA key below 1024 bits (RFC 8301) is refused.
    const auto weak =
        run_command({"openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:512"});
    ASSERT_EQ(weak.exit_code, 0) << weak.output;
    json::object weak_body;
    weak_body["private_key_pem"] = weak.output;
    const auto refused_weak = admin.call("POST", keys_path, json::serialize(weak_body));
    EXPECT_EQ(refused_weak.status, 422) << refused_weak.text;
    EXPECT_TRUE(names_field(refused_weak, "private_key_pem")) << refused_weak.text;

    EXPECT_EQ(admin.call("POST", "/api/v1/domains/999999/dkim-keys", "{}").status, 404);
    EXPECT_EQ(admin.call("GET", "/api/v1/dkim-keys/999999").status, 404);

    // At most ten keys per domain.
    for (int i = 0; i < 10; ++i)
        ASSERT_EQ(admin.call("POST", keys_path, R"({"algorithm":"ed25519-sha256"})").status, 201);
    const auto eleventh = admin.call("POST", keys_path, R"({"algorithm":"ed25519-sha256"})");
    EXPECT_EQ(eleventh.status, 409) << eleventh.text;
    EXPECT_EQ(*db.exec("SELECT count(*) FROM dkim_keys").at(0).at(0), "10");
}

TEST(DkimApi, WithoutAKeyEncryptionKeyTheKeyRoutesAnswer503AndTheRestRuns) {
    test::TestDatabase db;
    const auto account = db.create_account("shop");
    const auto domain = db.add_sender_domain(account, "shop.test");
    test::Dnsmasq dns({});
    AdminServer admin(db, dns.forwarder(), false);
    ASSERT_TRUE(admin.ready) << admin.server->log();
    const auto made =
        admin.call("POST", "/api/v1/domains/" + std::to_string(domain) + "/dkim-keys", "{}");
    EXPECT_EQ(made.status, 503) << made.text;
    EXPECT_EQ(made.content_type, "application/problem+json");
    EXPECT_EQ(str(made.body.at("detail")), "dkim key-encryption key not configured");
    EXPECT_EQ(admin.call("GET", "/api/v1/domains/" + std::to_string(domain)).status, 200);
}

TEST(DkimApi, AMalformedKeyEncryptionKeyStopsStartUpWithoutShowingIt) {
    test::TestDatabase db;
    ServerOptions options;
    options.roles = "admin";
    const auto port = free_port();
    options.extra_toml = "[admin]\naddress = \"127.0.0.1:" + std::to_string(port) +
                         "\"\n[dkim]\nkey_encryption_key = \"c2hvcnQtc2VjcmV0\"\n";
    SmarthostServer server(db.url(), options);
    EXPECT_EQ(server.wait_exit(std::chrono::seconds(20)), 2) << server.log();
    EXPECT_NE(server.log().find("dkim.key_encryption_key"), std::string::npos) << server.log();
    EXPECT_EQ(server.log().find("c2hvcnQtc2VjcmV0"), std::string::npos) << server.log();
}

TEST(DkimApi, TheCliCreatesShowsAndActivatesKeys) {
    test::TestDatabase db;
    const auto account = db.create_account("shop");
    db.add_sender_domain(account, "shop.test");
    const auto other = db.create_account("other");
    db.add_sender_domain(other, "shared.test");
    db.add_sender_domain(account, "shared.test");
    test::Dnsmasq dns({});
    AdminServer admin(db, dns.forwarder());
    ASSERT_TRUE(admin.ready) << admin.server->log();

    const auto created = admin.server->subcommand(
        {"dkim", "create", "--domain", "shop.test", "--algorithm", "ed25519-sha256"});
    ASSERT_EQ(created.exit_code, 0) << created.output;
    EXPECT_NE(created.output.find("._domainkey.shop.test. IN TXT \"v=DKIM1; k=ed25519; p="),
              std::string::npos)
        << created.output;
    EXPECT_EQ(created.output.find("PRIVATE KEY"), std::string::npos);
    const auto id = *db.exec("SELECT id FROM dkim_keys").at(0).at(0);

    const auto shown = admin.server->subcommand({"dkim", "show", "--domain", "shop.test"});
    ASSERT_EQ(shown.exit_code, 0) << shown.output;
    EXPECT_NE(shown.output.find("key " + id + ":"), std::string::npos) << shown.output;

    const auto unforced = admin.server->subcommand({"dkim", "activate", "--key", id});
    EXPECT_EQ(unforced.exit_code, 1) << unforced.output;
    const auto activated = admin.server->subcommand({"dkim", "activate", "--key", id, "--force"});
    ASSERT_EQ(activated.exit_code, 0) << activated.output;
    EXPECT_EQ(*db.exec("SELECT state FROM dkim_keys WHERE id = $1", id).at(0).at(0), "active");

    // A domain two accounts have needs --account.
    const auto ambiguous = admin.server->subcommand({"dkim", "create", "--domain", "shared.test"});
    EXPECT_EQ(ambiguous.exit_code, 1) << ambiguous.output;
    EXPECT_NE(ambiguous.output.find("--account"), std::string::npos) << ambiguous.output;
    const auto named = admin.server->subcommand(
        {"dkim", "create", "--domain", "shared.test", "--account", "other", "--selector", "s1"});
    EXPECT_EQ(named.exit_code, 0) << named.output;
}

}  // namespace
}  // namespace smarthost::e2e
