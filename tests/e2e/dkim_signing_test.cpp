// DKIM signing end to end (docs/dkim.md): the real binary signs at acceptance what swaks
// submits, postfix's smtp-sink receives it, and independent verifiers (python3-dkim's
// dkimverify, OpenDKIM's opendkim-testmsg and opendkim-testkey) check the signatures with
// the public keys served by dnsmasq (tests/e2e/dkim_verify.sh). Keys are made by the test
// and stored sealed as the key routes store them.

#include <gtest/gtest.h>

#include <atomic>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <thread>

#include "relay/dkim/key_vault.hpp"
#include "relay/dkim/keys.hpp"
#include "relay/dkim/signer.hpp"
#include "tests/e2e/harness.hpp"
#include "tests/support/dnsmasq.hpp"
#include "tests/support/smtp_sink.hpp"
#include "tests/support/test_database.hpp"

namespace smarthost::e2e {
namespace {

using namespace std::chrono_literals;
using test::DnsRecord;

constexpr const char* k_kek = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=";
constexpr const char* k_domain = "sender.test";

std::string to_hex(std::string_view bytes) {
    static constexpr char digits[] = "0123456789abcdef";
    std::string hex;
    for (const unsigned char c : bytes) {
        hex += digits[c >> 4];
        hex += digits[c & 15];
    }
    return hex;
}

std::string from_hex(const std::string& hex) {
    std::string out;
    for (std::size_t i = 0; i + 1 < hex.size(); i += 2)
        out.push_back(static_cast<char>(std::stoi(hex.substr(i, 2), nullptr, 16)));
    return out;
}

struct TestKey {
    std::string selector;
    dkim::PrivateKey key;
    std::string record() const {
        return dkim::key_record_text(key.algorithm(), key.public_key_base64());
    }
};

TestKey make_key(const std::string& selector, dkim::Algorithm algorithm) {
    auto key = dkim::PrivateKey::generate(algorithm);
    if (!key) throw std::runtime_error(key.error().message);
    return TestKey{selector, std::move(*key)};
}

class DkimSigning : public ::testing::Test {
  protected:
    DkimSigning() : mx_port_(free_port()) {}

    void TearDown() override {
        if (!HasFailure()) return;
        if (server_) std::cerr << "---- smarthost log ----\n" << server_->log();
        if (replica_) std::cerr << "---- replica log ----\n" << replica_->log();
    }

    // dest.test's MX is smtp-sink on 127.0.0.3; `published` keys have their records.
    // `replicas` 2: a second process on the same database (both smtp and delivery).
    void start(const std::vector<const TestKey*>& published, bool with_kek = true, int replicas = 1,
               const std::string& account_cache_ms = "0") {
        // The delivery role re-checks domain ownership: sender.test keeps its proof.
        std::vector<DnsRecord> records{
            DnsRecord::mx("dest.test", 10, "mx.dest.test"),
            DnsRecord::address("mx.dest.test", "127.0.0.3"),
            DnsRecord::txt("_smarthost.sender.test",
                           {"smarthost-verification=0123456789abcdef0123456789abcdef"})};
        for (const auto* key : published)
            records.push_back(DnsRecord::txt(dkim::key_record_name(key->selector, k_domain),
                                             dkim::character_strings(key->record())));
        dns_ = std::make_unique<test::Dnsmasq>(std::move(records));
        sink_ = std::make_unique<test::SmtpSink>("127.0.0.3", mx_port_);
        ServerOptions options;
        options.listeners = {{"submission", "none"}};
        options.roles = "smtp,delivery";
        options.extra_toml = "[delivery]\nmx_port = " + std::to_string(mx_port_) +
                             "\nallow_destination_networks = [\"127.0.0.0/8\"]\n"
                             "dns_forwarders = [\"" +
                             dns_->forwarder() +
                             "\"]\nipv6 = false\npoll_seconds = 1\n"
                             "[policy]\naccount_cache_ms = " +
                             account_cache_ms + "\n";
        if (with_kek)
            options.extra_toml += "[dkim]\nkey_encryption_key = \"" + std::string(k_kek) +
                                  "\"\nsignature_expiry_seconds = 604800\n";
        server_ = std::make_unique<SmarthostServer>(db_.url(), options);
        if (replicas > 1) replica_ = std::make_unique<SmarthostServer>(db_.url(), options);
    }

    std::int64_t add_domain(const std::string& domain, const std::string& dkim_policy = "verified",
                            bool include_subdomains = false) {
        if (account_id_ == 0) {
            account_id_ = db_.create_account("customer");
            db_.exec(
                "INSERT INTO allowed_networks (account_id, network) VALUES ($1, '127.0.0.0/8')",
                account_id_);
        }
        const auto id = db_.add_sender_domain(account_id_, domain, "verified", include_subdomains);
        db_.exec("UPDATE sender_domains SET dkim_policy = $2 WHERE id = $1", id, dkim_policy);
        return id;
    }

    // Stores the key as the key routes do: sealed for "<domain>/<selector>".
    void store_key(std::int64_t domain_id, const std::string& domain, const TestKey& key,
                   const std::string& state = "active",
                   const std::string& dns_status = "published") {
        const auto vault = dkim::KeyVault::from_base64(k_kek);
        const auto sealed = vault->seal(key.key.pem(), dkim::key_owner(domain, key.selector));
        db_.exec(
            "INSERT INTO dkim_keys (sender_domain_id, selector, algorithm, key_bits, public_key, "
            "private_key_sealed, state, dns_status) VALUES ($1, $2, $3, $4, $5, decode($6, 'hex'), "
            "$7, $8)",
            domain_id, key.selector, std::string(dkim::to_string(key.key.algorithm())),
            static_cast<std::int64_t>(key.key.bits()), key.key.public_key_base64(), to_hex(sealed),
            state, dns_status);
    }

    // Submits with swaks from an allow-listed address; the whole transcript.
    CommandResult submit(const std::string& data) {
        TempDir dir;
        const auto file = dir.path() / "message.eml";
        std::ofstream(file, std::ios::binary) << data;
        return swaks({"--server", "127.0.0.1:" + std::to_string(server_->port("submission")),
                      "--from", "alice@" + std::string(k_domain), "--to", "bob@dest.test", "--data",
                      file.string()});
    }

    static std::string message(const std::string& from, const std::string& subject) {
        return "From: Alice <" + from + ">\r\nTo: bob@dest.test\r\nSubject: " + subject +
               "\r\nDate: Mon, 7 Dec 2026 05:00:00 +0000\r\nMessage-ID: <" + subject +
               "@sender.test>\r\nMIME-Version: 1.0\r\nContent-Type: text/plain\r\n\r\n"
               "Your order  has shipped.\r\n\r\n-- \r\nThe shop\r\n";
    }

    // The message as smtp-sink received it: smtp-sink writes its X- lines and a Received:
    // field in front, and LF line ends, which go back to CRLF here (the message has no
    // bare LF).
    std::optional<std::string> delivered(const std::string& subject) {
        std::optional<std::string> found;
        wait_until(
            "smtp-sink received " + subject,
            [&] {
                for (const auto& dump : sink_->dumps()) {
                    std::string message;
                    for (const char c : dump)
                        message += c == '\n' ? std::string("\r\n") : std::string(1, c);
                    if (message.find("Subject: " + subject + "\r\n") == std::string::npos) continue;
                    std::string_view rest = message;
                    while (rest.starts_with("X-"))
                        rest.remove_prefix(rest.find("\r\n") + 2);
                    found = std::string(rest);
                    return true;
                }
                return false;
            },
            30s);
        return found;
    }

    std::string stored_body(const std::string& id) {
        return from_hex(
            *db_.exec("SELECT encode(body, 'hex') FROM messages WHERE id = $1::uuid", id)[0][0]);
    }

    // Runs a verifier in tests/e2e/dkim_verify.sh with these keys' records served.
    CommandResult verify(const std::string& message, const std::vector<const TestKey*>& keys,
                         const std::vector<std::string>& command) {
        TempDir dir;
        std::ofstream(dir.path() / "message.eml", std::ios::binary) << message;
        std::ofstream records(dir.path() / "records");
        for (const auto* key : keys)
            records << dkim::key_record_name(key->selector, k_domain) << '\t' << key->record()
                    << '\n';
        records.close();
        std::vector<std::string> argv{
            "bash", std::string(SMARTHOST_E2E_SOURCE_DIR) + "/tests/e2e/dkim_verify.sh",
            (dir.path() / "records").string(), (dir.path() / "message.eml").string()};
        argv.insert(argv.end(), command.begin(), command.end());
        return run_command(argv, 60s);
    }

    test::TestDatabase db_;
    std::uint16_t mx_port_;
    std::unique_ptr<test::Dnsmasq> dns_;
    std::unique_ptr<test::SmtpSink> sink_;
    std::unique_ptr<SmarthostServer> server_;
    std::unique_ptr<SmarthostServer> replica_;
    std::int64_t account_id_ = 0;
};

TEST_F(DkimSigning, RsaAndEd25519SignaturesVerifyWithPythonDkimAndOpenDkim) {
    const auto rsa = make_key("sh2026q4", dkim::Algorithm::rsa_sha256);
    const auto ed = make_key("ed2026q4", dkim::Algorithm::ed25519_sha256);
    const auto domain = add_domain(k_domain);
    store_key(domain, k_domain, rsa);
    store_key(domain, k_domain, ed);
    start({&rsa, &ed});

    const auto submitted = submit(message("alice@sender.test", "dual"));
    ASSERT_EQ(submitted.exit_code, 0) << submitted.output;
    const auto id = queued_id(submitted.output);
    const auto received = delivered("dual");
    ASSERT_TRUE(received);
    // The stored message is the signed message, and it is what was delivered.
    EXPECT_NE(stored_body(id).find("DKIM-Signature: v=1; a=ed25519-sha256;"), std::string::npos);
    EXPECT_NE(received->find(stored_body(id)), std::string::npos);
    const auto found = dkim::signatures_in(*received);
    ASSERT_EQ(found.size(), 2u);
    EXPECT_EQ(found[0].signature.domain, "sender.test");
    EXPECT_TRUE(found[0].signature.expiration);

    for (const std::string index : {"0", "1"}) {
        const auto checked = verify(*received, {&rsa, &ed}, {"dkimverify", "--index", index});
        EXPECT_EQ(checked.exit_code, 0) << index << ": " << checked.output;
        EXPECT_NE(checked.output.find("signature ok"), std::string::npos) << checked.output;
    }
    const auto opendkim = verify(*received, {&rsa, &ed}, {"opendkim-testmsg"});
    EXPECT_EQ(opendkim.exit_code, 0) << opendkim.output;

    // A changed body or a changed signed header fails both verifiers.
    auto body_changed = *received;
    body_changed.replace(body_changed.find("has shipped"), 11, "was lost");
    auto subject_changed = *received;
    subject_changed.replace(subject_changed.find("Subject: dual"), 13, "Subject: lure");
    for (const auto* changed : {&body_changed, &subject_changed}) {
        EXPECT_NE(verify(*changed, {&rsa, &ed}, {"dkimverify", "--index", "0"}).exit_code, 0);
        EXPECT_NE(verify(*changed, {&rsa, &ed}, {"dkimverify", "--index", "1"}).exit_code, 0);
        EXPECT_NE(verify(*changed, {&rsa, &ed}, {"opendkim-testmsg"}).exit_code, 0);
    }
}

// Rotation under load: two replicas accept mail while the new key is activated (with the
// command line, as an operator would); every delivered message carries one signature, by
// the old key or the new, and verifies with the key that signed it; mail accepted once the
// replicas' account caches have passed is signed with the new key only.
TEST_F(DkimSigning, ARotationUnderLoadLeavesEveryMessageVerifiableByTheKeyThatSignedIt) {
    const auto old_key = make_key("sh2026q3", dkim::Algorithm::rsa_sha256);
    const auto new_key = make_key("sh2026q4", dkim::Algorithm::rsa_sha256);
    const auto domain = add_domain(k_domain);
    store_key(domain, k_domain, old_key);
    store_key(domain, k_domain, new_key, "created", "published");
    start({&old_key, &new_key}, true, 2, "500");
    const auto new_id = *db_.exec("SELECT id FROM dkim_keys WHERE selector = 'sh2026q4'")[0][0];

    constexpr int k_messages = 60;
    std::atomic<int> submitted{0};
    std::atomic<bool> failed{false};
    std::atomic<bool> rotated{false};
    std::thread load([&] {
        for (int i = 0; i < k_messages; ++i) {
            auto& replica = i % 2 ? *replica_ : *server_;
            RawSmtpClient client(replica.port("submission"));
            client.reply();
            client.command("EHLO client.test");
            client.command("MAIL FROM:<alice@sender.test>");
            client.command("RCPT TO:<bob@dest.test>");
            client.command("DATA");
            const auto done =
                client.command(message("alice@sender.test", "rotation-" + std::to_string(i)) + ".");
            if (reply_code(done) != 250) failed = true;
            client.command("QUIT");
            ++submitted;
            // After the activation, 50 ms apart: 20 of them outlast both replicas' caches.
            if (rotated) std::this_thread::sleep_for(50ms);
        }
    });
    wait_until(
        "a third of the load is submitted", [&] { return submitted >= k_messages / 3; }, 60s);
    const auto activated = server_->subcommand({"dkim", "activate", "--key", new_id});
    const auto activated_at = submitted.load();
    rotated = true;
    load.join();
    ASSERT_EQ(activated.exit_code, 0) << activated.output;
    ASSERT_FALSE(failed);
    EXPECT_EQ(*db_.exec("SELECT state FROM dkim_keys WHERE selector = 'sh2026q3'")[0][0],
              "retired");
    EXPECT_EQ(*db_.exec("SELECT state FROM dkim_keys WHERE selector = 'sh2026q4'")[0][0], "active");

    TempDir received_dir;
    std::map<std::string, int> by_selector;
    const auto old_public = dkim::PublicKey::from_record(old_key.record()).value();
    const auto new_public = dkim::PublicKey::from_record(new_key.record()).value();
    for (int i = 0; i < k_messages; ++i) {
        const auto received = delivered("rotation-" + std::to_string(i));
        ASSERT_TRUE(received) << i;
        const auto found = dkim::signatures_in(*received);
        ASSERT_EQ(found.size(), 1u) << i;
        const auto& selector = found[0].signature.selector;
        ++by_selector[selector];
        const auto& key = selector == "sh2026q3" ? old_public : new_public;
        EXPECT_TRUE(dkim::verify(*received, found[0], key, std::chrono::system_clock::now()))
            << "message " << i << " by " << selector;
        if (i >= activated_at + 20) {
            EXPECT_EQ(selector, "sh2026q4") << "message " << i;
        }
        std::ofstream(received_dir.path() / ("m" + std::to_string(i) + ".eml"), std::ios::binary)
            << *received;
    }
    EXPECT_GT(by_selector["sh2026q3"], 0);
    EXPECT_GT(by_selector["sh2026q4"], 0);
    // And python3-dkim agrees, message by message, with both records published.
    const auto all =
        verify("", {&old_key, &new_key},
               {"sh", "-c",
                "for f in " + received_dir.path().string() +
                    "/*.eml; do dkimverify < \"$f\" >/dev/null || { echo \"$f\"; exit 1; }; done"});
    EXPECT_EQ(all.exit_code, 0) << all.output;
}

TEST_F(DkimSigning, OpenDkimTestkeyFindsThePublishedRecordMatchingTheKey) {
    const auto rsa = make_key("sh2026q4", dkim::Algorithm::rsa_sha256);
    const auto other = make_key("sh2026q4", dkim::Algorithm::rsa_sha256);
    TempDir dir;
    const auto key_file = dir.path() / "private.pem";
    std::ofstream(key_file) << rsa.key.pem();
    std::filesystem::permissions(
        key_file, std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
    const std::vector<std::string> testkey{"opendkim-testkey", "-x",  "@OPENDKIM_CONF@", "-d",
                                           k_domain,           "-s",  "sh2026q4",        "-k",
                                           key_file.string(),  "-vvv"};
    const auto matching = verify("", {&rsa}, testkey);
    EXPECT_EQ(matching.exit_code, 0) << matching.output;
    EXPECT_NE(matching.output.find("key OK"), std::string::npos) << matching.output;
    EXPECT_NE(verify("", {&other}, testkey).exit_code, 0);
}

TEST_F(DkimSigning, ASubdomainSignsWithTheParentDomainVerifiedWithSubdomains) {
    const auto rsa = make_key("sh2026q4", dkim::Algorithm::rsa_sha256);
    store_key(add_domain(k_domain, "verified", true), k_domain, rsa);
    start({&rsa});
    ASSERT_EQ(submit(message("news@mail.sender.test", "subdomain")).exit_code, 0);
    const auto received = delivered("subdomain");
    ASSERT_TRUE(received);
    const auto found = dkim::signatures_in(*received);
    ASSERT_EQ(found.size(), 1u);
    EXPECT_EQ(found[0].signature.domain, "sender.test");
    EXPECT_EQ(verify(*received, {&rsa}, {"dkimverify"}).exit_code, 0);
}

TEST_F(DkimSigning, AKeyNotYetPublishedSignsOnlyWhenThePolicySaysAlways) {
    const auto rsa = make_key("sh2026q4", dkim::Algorithm::rsa_sha256);
    const auto domain = add_domain(k_domain);
    store_key(domain, k_domain, rsa, "active", "missing");
    start({});
    ASSERT_EQ(submit(message("alice@sender.test", "unpublished")).exit_code, 0);
    const auto unsigned_message = delivered("unpublished");
    ASSERT_TRUE(unsigned_message);
    EXPECT_TRUE(dkim::signatures_in(*unsigned_message).empty());

    db_.exec("UPDATE sender_domains SET dkim_policy = 'always' WHERE id = $1", domain);
    ASSERT_EQ(submit(message("alice@sender.test", "always")).exit_code, 0);
    const auto signed_message = delivered("always");
    ASSERT_TRUE(signed_message);
    EXPECT_EQ(dkim::signatures_in(*signed_message).size(), 1u);

    db_.exec("UPDATE sender_domains SET dkim_policy = 'off' WHERE id = $1", domain);
    ASSERT_EQ(submit(message("alice@sender.test", "off")).exit_code, 0);
    const auto off = delivered("off");
    ASSERT_TRUE(off);
    EXPECT_TRUE(dkim::signatures_in(*off).empty());
}

TEST_F(DkimSigning, AMessageToBeSignedIsRefused451WhenItCannotBeSigned) {
    const auto rsa = make_key("sh2026q4", dkim::Algorithm::rsa_sha256);
    store_key(add_domain(k_domain), k_domain, rsa);
    start({&rsa}, false);  // no key-encryption key: the sealed key cannot be opened
    const auto result = submit(message("alice@sender.test", "refused"));
    EXPECT_NE(result.exit_code, 0);
    EXPECT_NE(result.output.find("451 4.3.0"), std::string::npos) << result.output;
    EXPECT_TRUE(db_.exec("SELECT 1 FROM messages").empty());
}

TEST_F(DkimSigning, AMessageAlreadySignedForTheDomainIsLeftAlone) {
    const auto rsa = make_key("sh2026q4", dkim::Algorithm::rsa_sha256);
    store_key(add_domain(k_domain), k_domain, rsa);
    start({&rsa});
    const auto original = message("alice@sender.test", "presigned");
    const auto fields = dkim::sign(original, {dkim::SigningKey{k_domain, rsa.selector, rsa.key}},
                                   dkim::SigningOptions{std::chrono::system_clock::now(), {}});
    ASSERT_TRUE(fields);
    ASSERT_EQ(submit(*fields + original).exit_code, 0);
    const auto received = delivered("presigned");
    ASSERT_TRUE(received);
    EXPECT_EQ(dkim::signatures_in(*received).size(), 1u);
    EXPECT_EQ(verify(*received, {&rsa}, {"dkimverify"}).exit_code, 0);
}

}  // namespace
}  // namespace smarthost::e2e
