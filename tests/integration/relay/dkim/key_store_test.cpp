// The dkim_keys repository against a real PostgreSQL: keys made and sealed, selectors by
// date, activation retiring the previous key in the same transaction, the one-active
// index, deletion of an active key refused, the bounds on what a caller can grow.

#include "relay/dkim/key_store.hpp"

#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>

#include "core/pg/pool.hpp"
#include "relay/dkim/keys.hpp"
#include "tests/support/run_awaitable.hpp"
#include "tests/support/test_database.hpp"

namespace smarthost::dkim {
namespace {

using namespace std::chrono;
using test::run_awaitable;

constexpr const char* k_kek = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

// 15 November 2026: the fourth quarter; nothing here meets the real clock.
const system_clock::time_point k_now = sys_days{2026y / November / 15} + 10h;

KeyVault vault() {
    auto made = KeyVault::from_base64(k_kek);
    if (!made) throw std::runtime_error(made.error().message);
    return std::move(*made);
}

std::string from_hex(std::string_view hex) {
    if (hex.starts_with("\\x")) hex.remove_prefix(2);
    std::string bytes;
    for (std::size_t i = 0; i + 1 < hex.size(); i += 2)
        bytes.push_back(static_cast<char>(std::stoi(std::string(hex.substr(i, 2)), nullptr, 16)));
    return bytes;
}

class DkimKeyStoreTest : public ::testing::Test {
  protected:
    DkimKeyStoreTest() : pool_(io_.get_executor(), {db_.url(), 2, 5}), store_(pool_, vault_) {
        account_ = db_.create_account("shop");
        domain_ = db_.add_sender_domain(account_, "shop.test");
    }

    StoredKey create(NewKey request, system_clock::time_point now = k_now) {
        if (request.domain_id == 0) request.domain_id = domain_;
        auto outcome = run_awaitable(io_, store_.create(std::move(request), now, nullptr));
        EXPECT_TRUE(outcome.ok()) << outcome.error().message;
        const auto* refusal = std::get_if<KeyRefusal>(&*outcome);
        EXPECT_EQ(refusal, nullptr) << refusal->message;
        return std::get<StoredKey>(*outcome);
    }
    StoredKey create_rsa() { return create(NewKey{}); }
    StoredKey create_ed25519() {
        NewKey request;
        request.algorithm = Algorithm::ed25519_sha256;
        return create(std::move(request));
    }

    KeyRefusal refused(Result<KeyOutcome<StoredKey>> outcome) {
        EXPECT_TRUE(outcome.ok()) << outcome.error().message;
        const auto* refusal = std::get_if<KeyRefusal>(&*outcome);
        EXPECT_NE(refusal, nullptr);
        return refusal ? *refusal : KeyRefusal{};
    }
    StoredKey accepted(Result<KeyOutcome<StoredKey>> outcome) {
        EXPECT_TRUE(outcome.ok()) << outcome.error().message;
        const auto* refusal = std::get_if<KeyRefusal>(&*outcome);
        EXPECT_EQ(refusal, nullptr) << refusal->message;
        return refusal ? StoredKey{} : std::get<StoredKey>(*outcome);
    }

    StoredKey activate(std::int64_t id, bool force = false) {
        return accepted(run_awaitable(io_, store_.activate(id, force, k_now, nullptr)));
    }

    std::string state_of(std::int64_t id) {
        return *db_.exec("SELECT state FROM dkim_keys WHERE id = $1", id).at(0).at(0);
    }

    test::TestDatabase db_;
    boost::asio::io_context io_;
    pg::Pool pool_;
    KeyVault vault_ = vault();
    KeyStore store_;
    std::int64_t account_ = 0;
    std::int64_t domain_ = 0;
};

TEST_F(DkimKeyStoreTest, CreateStoresAnRsaKeySealedForItsDomainAndSelector) {
    const auto key = create_rsa();
    EXPECT_EQ(key.selector, "sh2026q4");
    EXPECT_EQ(key.algorithm, Algorithm::rsa_sha256);
    EXPECT_EQ(key.key_bits, 2048u);
    EXPECT_EQ(key.state, KeyState::created);
    EXPECT_EQ(key.dns_status, DnsStatus::unchecked);
    EXPECT_FALSE(key.imported);
    EXPECT_EQ(key.created_at.substr(0, 19), "2026-11-15T10:00:00");

    const auto row =
        db_.exec("SELECT private_key_sealed, public_key FROM dkim_keys WHERE id = $1", key.id)
            .at(0);
    const auto sealed = from_hex(*row.at(0));
    auto pem = vault_.open(sealed, key_owner("shop.test", "sh2026q4"));
    ASSERT_TRUE(pem.ok()) << pem.error().message;
    EXPECT_NE(pem->find("PRIVATE KEY"), std::string::npos);
    EXPECT_EQ(sealed.find("PRIVATE KEY"), std::string::npos);
    // Not a line of the key's base64 either: sealed, not merely wrapped.
    const auto first_line = pem->substr(pem->find('\n') + 1, 40);
    EXPECT_EQ(sealed.find(first_line), std::string::npos);
    auto reopened = PrivateKey::from_pem(*pem);
    ASSERT_TRUE(reopened.ok());
    EXPECT_EQ(reopened->public_key_base64(), *row.at(1));
    // Sealed for this owner only: another selector's associated data does not open it.
    EXPECT_FALSE(vault_.open(sealed, key_owner("shop.test", "other")).ok());
}

TEST_F(DkimKeyStoreTest, SecondKeyOfAQuarterGetsTheNextSuffix) {
    EXPECT_EQ(create_rsa().selector, "sh2026q4");
    EXPECT_EQ(create_ed25519().selector, "sh2026q4b");
    EXPECT_EQ(create_rsa().selector, "sh2026q4c");
}

TEST_F(DkimKeyStoreTest, OperatorSelectorIsValidatedAndUniquePerDomain) {
    NewKey named;
    named.selector = "mail2026";
    EXPECT_EQ(create(named).selector, "mail2026");
    named.domain_id = domain_;
    auto taken = refused(run_awaitable(io_, store_.create(named, k_now, nullptr)));
    EXPECT_EQ(taken.kind, KeyRefusal::Kind::conflict);
    EXPECT_EQ(taken.field, "selector");
    named.selector = "Bad_Selector";
    auto bad = refused(run_awaitable(io_, store_.create(named, k_now, nullptr)));
    EXPECT_EQ(bad.kind, KeyRefusal::Kind::invalid);
    EXPECT_EQ(bad.field, "selector");
}

TEST_F(DkimKeyStoreTest, ImportKeepsTheKeysAlgorithmAndRefusesWhatIsNotAKey) {
    auto made = PrivateKey::generate(Algorithm::ed25519_sha256);
    ASSERT_TRUE(made.ok());
    NewKey import;
    import.private_key_pem = made->pem();
    const auto key = create(import);
    EXPECT_TRUE(key.imported);
    EXPECT_EQ(key.algorithm, Algorithm::ed25519_sha256);
    EXPECT_EQ(key.public_key, made->public_key_base64());

    NewKey mismatched;
    mismatched.domain_id = domain_;
    mismatched.algorithm = Algorithm::rsa_sha256;
    mismatched.private_key_pem = made->pem();
    EXPECT_EQ(refused(run_awaitable(io_, store_.create(mismatched, k_now, nullptr))).field,
              "algorithm");

    NewKey garbage;
    garbage.domain_id = domain_;
    garbage.private_key_pem = "-----BEGIN PRIVATE KEY-----\nnot a key\n-----END PRIVATE KEY-----\n";
    auto refusal = refused(run_awaitable(io_, store_.create(garbage, k_now, nullptr)));
    EXPECT_EQ(refusal.kind, KeyRefusal::Kind::invalid);
    EXPECT_EQ(refusal.field, "private_key_pem");
}

TEST_F(DkimKeyStoreTest, ActivationRetiresThePreviousKeyOfTheSameAlgorithmOnly) {
    db_.exec("UPDATE sender_domains SET dkim_policy = 'always' WHERE id = $1", domain_);
    const auto first = create_rsa();
    const auto ed25519 = create_ed25519();
    const auto second = create_rsa();
    activate(first.id);
    activate(ed25519.id);

    const auto now_active = activate(second.id);
    EXPECT_EQ(now_active.state, KeyState::active);
    ASSERT_TRUE(now_active.activated_at);
    EXPECT_EQ(now_active.activated_at->substr(0, 19), "2026-11-15T10:00:00");
    EXPECT_EQ(state_of(first.id), "retired");
    // The one retired at the instant the other was activated: one transaction.
    EXPECT_EQ(*db_.exec("SELECT o.retired_at = n.activated_at FROM dkim_keys o, dkim_keys n "
                        "WHERE o.id = $1 AND n.id = $2",
                        first.id, second.id)
                   .at(0)
                   .at(0),
              "t");
    // RFC 8463 dual signing: the Ed25519 key signs on beside the new RSA key.
    EXPECT_EQ(state_of(ed25519.id), "active");
    // Activating the active key again changes nothing.
    EXPECT_EQ(activate(second.id).state, KeyState::active);
}

TEST_F(DkimKeyStoreTest, ConcurrentActivationsLeaveOneActiveKeyAndRefuseTheLoserCleanly) {
    db_.exec("UPDATE sender_domains SET dkim_policy = 'always' WHERE id = $1", domain_);
    activate(create_rsa().id);
    std::vector<std::int64_t> contenders;
    for (int i = 0; i < 4; ++i)
        contenders.push_back(create_rsa().id);
    // Each on its own connection (pool of 2 plus a second pool), all in flight at once.
    pg::Pool other(io_.get_executor(), {db_.url(), 2, 5});
    KeyStore other_store(other, vault_);
    std::vector<std::optional<Result<KeyOutcome<StoredKey>>>> outcomes(contenders.size());
    for (std::size_t i = 0; i < contenders.size(); ++i) {
        auto& store = i % 2 == 0 ? store_ : other_store;
        boost::asio::co_spawn(
            io_,
            [&, i, id = contenders[i]]() -> boost::asio::awaitable<void> {
                outcomes[i].emplace(co_await store.activate(id, false, k_now, nullptr));
            },
            boost::asio::detached);
    }
    io_.restart();
    io_.run();
    for (const auto& outcome : outcomes) {
        ASSERT_TRUE(outcome.has_value());
        ASSERT_TRUE(outcome->ok()) << outcome->error().message;  // a 409 at worst, never a 500
        if (const auto* refusal = std::get_if<KeyRefusal>(&**outcome)) {
            EXPECT_EQ(refusal->kind, KeyRefusal::Kind::conflict);
        }
    }
    EXPECT_EQ(*db_.exec("SELECT count(*) FROM dkim_keys WHERE state = 'active'").at(0).at(0), "1");
}

TEST_F(DkimKeyStoreTest, TheIndexAllowsOneActiveKeyPerAlgorithmAndDomain) {
    const auto first = create_rsa();
    const auto second = create_rsa();
    db_.exec("UPDATE dkim_keys SET state = 'active' WHERE id = $1", first.id);
    EXPECT_THROW(db_.exec("UPDATE dkim_keys SET state = 'active' WHERE id = $1", second.id),
                 std::runtime_error);
}

TEST_F(DkimKeyStoreTest, UnderPolicyVerifiedOnlyAPublishedKeyActivatesUnlessForced) {
    const auto key = create_rsa();
    auto refusal = refused(run_awaitable(io_, store_.activate(key.id, false, k_now, nullptr)));
    EXPECT_EQ(refusal.kind, KeyRefusal::Kind::conflict);
    EXPECT_NE(refusal.message.find("publish"), std::string::npos);
    EXPECT_EQ(state_of(key.id), "created");

    db_.exec("UPDATE dkim_keys SET dns_status = 'published' WHERE id = $1", key.id);
    EXPECT_EQ(activate(key.id).state, KeyState::active);

    const auto unpublished = create_rsa();
    EXPECT_EQ(activate(unpublished.id, true).state, KeyState::active);
    EXPECT_EQ(state_of(key.id), "retired");
}

TEST_F(DkimKeyStoreTest, ARetiredKeyIsNotActivatedAgain) {
    db_.exec("UPDATE sender_domains SET dkim_policy = 'always' WHERE id = $1", domain_);
    const auto key = create_rsa();
    const auto retired = accepted(run_awaitable(io_, store_.retire(key.id, k_now, nullptr)));
    EXPECT_EQ(retired.state, KeyState::retired);
    auto refusal = refused(run_awaitable(io_, store_.activate(key.id, true, k_now, nullptr)));
    EXPECT_EQ(refusal.kind, KeyRefusal::Kind::conflict);
    EXPECT_EQ(state_of(key.id), "retired");
}

TEST_F(DkimKeyStoreTest, AnActiveKeyIsNotDeletedARetiredOneIs) {
    const auto key = create_rsa();
    activate(key.id, true);
    auto refusal = refused(run_awaitable(io_, store_.remove(key.id, nullptr)));
    EXPECT_EQ(refusal.kind, KeyRefusal::Kind::conflict);
    EXPECT_EQ(state_of(key.id), "active");

    accepted(run_awaitable(io_, store_.retire(key.id, k_now, nullptr)));
    accepted(run_awaitable(io_, store_.remove(key.id, nullptr)));
    EXPECT_TRUE(db_.exec("SELECT 1 FROM dkim_keys WHERE id = $1", key.id).empty());
    EXPECT_EQ(refused(run_awaitable(io_, store_.remove(key.id, nullptr))).kind,
              KeyRefusal::Kind::not_found);
}

TEST_F(DkimKeyStoreTest, ADomainHoldsAtMostTenKeys) {
    for (std::size_t i = 0; i < k_max_keys_per_domain; ++i) {
        NewKey request;
        request.algorithm = Algorithm::ed25519_sha256;  // fast to make
        create(request);
    }
    NewKey one_more;
    one_more.domain_id = domain_;
    one_more.algorithm = Algorithm::ed25519_sha256;
    auto refusal = refused(run_awaitable(io_, store_.create(one_more, k_now, nullptr)));
    EXPECT_EQ(refusal.kind, KeyRefusal::Kind::conflict);
    EXPECT_EQ(*db_.exec("SELECT count(*) FROM dkim_keys").at(0).at(0), "10");
}

TEST_F(DkimKeyStoreTest, UnknownDomainOrKeyIsNotFound) {
    NewKey request;
    request.domain_id = domain_ + 100;
    EXPECT_EQ(refused(run_awaitable(io_, store_.create(request, k_now, nullptr))).kind,
              KeyRefusal::Kind::not_found);
    auto listed = run_awaitable(io_, store_.list(domain_ + 100));
    ASSERT_TRUE(listed.ok());
    EXPECT_FALSE(listed->has_value());
    auto empty = run_awaitable(io_, store_.list(domain_));
    ASSERT_TRUE(empty.ok());
    ASSERT_TRUE(empty->has_value());
    EXPECT_TRUE((*empty)->empty());
    EXPECT_EQ(refused(run_awaitable(io_, store_.activate(999, true, k_now, nullptr))).kind,
              KeyRefusal::Kind::not_found);
}

TEST_F(DkimKeyStoreTest, AChangeWithAnAuditRecordWritesItsAuditRowAndARefusalNone) {
    AuditRecord audit;
    audit.token_name = "ops";
    audit.method = "POST";
    audit.path = "/api/v1/domains/1/dkim-keys";
    audit.status = 201;
    NewKey request;
    request.domain_id = domain_;
    request.algorithm = Algorithm::ed25519_sha256;
    const auto key = accepted(run_awaitable(io_, store_.create(request, k_now, &audit)));
    auto rows = db_.exec("SELECT token_name, status, detail->>'selector' FROM audit_log");
    ASSERT_EQ(rows.size(), 1u);
    EXPECT_EQ(*rows[0][0], "ops");
    EXPECT_EQ(*rows[0][1], "201");
    EXPECT_EQ(*rows[0][2], key.selector);

    activate(key.id, true);
    audit.status = 204;
    refused(run_awaitable(io_, store_.remove(key.id, &audit)));
    EXPECT_EQ(db_.exec("SELECT 1 FROM audit_log").size(), 1u);
}

}  // namespace
}  // namespace smarthost::dkim
