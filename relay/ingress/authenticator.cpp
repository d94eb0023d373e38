#include "relay/ingress/authenticator.hpp"

#include <sodium.h>

#include <array>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <deque>
#include <unordered_map>

#include "core/crypto.hpp"
#include "core/pg/pool.hpp"

namespace smarthost::ingress {
namespace {

namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;

constexpr const char* k_credential_by_username = R"sql(
SELECT c.id, c.account_id, a.name, c.secret_hash, c.enabled
  FROM credentials c JOIN accounts a ON a.id = c.account_id
 WHERE c.username = $1)sql";

constexpr const char* k_credential_state =
    "SELECT secret_hash, enabled FROM credentials WHERE id = $1";

constexpr std::size_t k_max_cache_entries = 100000;

// Verifies on `hashers` and completes on the caller's executor.
template <class Token>
auto async_verify(asio::thread_pool& hashers, std::string hash, std::string password,
                  Token&& token) {
    return asio::async_initiate<Token, void(bool)>(
        [&hashers](auto handler, std::string hash, std::string password) {
            auto home = asio::make_work_guard(asio::get_associated_executor(handler));
            asio::post(hashers, [handler = std::move(handler), home = std::move(home),
                                 hash = std::move(hash), password = std::move(password)]() mutable {
                const bool match = crypto::verify_password(hash, password);
                auto executor = home.get_executor();
                asio::post(executor, [handler = std::move(handler), match]() mutable {
                    std::move(handler)(match);
                });
            });
        },
        token, std::move(hash), std::move(password));
}

using Digest = std::array<unsigned char, 32>;

struct CacheEntry {
    std::string secret_hash;  // the stored hash the password was verified against
    Digest password_digest;   // keyed digest of the password that matched it
    Clock::time_point expires;
};

struct CredentialState {
    bool valid = false;  // exists, enabled, and its secret is the one logged in with
    std::string secret_hash;
    Clock::time_point expires;
};

}  // namespace

struct Authenticator::Impl {
    Impl(pg::Pool& pool_in, asio::thread_pool& hashers_in, Settings settings_in)
        : pool(pool_in), hashers(hashers_in), settings(std::move(settings_in)) {}

    pg::Pool& pool;
    asio::thread_pool& hashers;
    Settings settings;
    std::unordered_map<std::string, CacheEntry> cache;
    std::unordered_map<std::int64_t, CredentialState> states;
    std::size_t pending = 0;          // verify() calls in flight
    std::size_t lookups_running = 0;  // of them, reading the database now
    // Waiting for a look-up slot, oldest first; a waiter is woken by cancelling its timer
    // and then holds the slot its waker gave up.
    std::deque<std::shared_ptr<asio::steady_timer>> lookup_waiters;
    // The cache keeps keyed digests, never passwords; the key lives only in this process.
    std::array<unsigned char, crypto_generichash_KEYBYTES> digest_key{};
    std::string dummy_hash;  // verified against for unknown users, so timing tells nothing
    std::uint64_t hashes = 0;

    Digest digest(std::string_view password) const {
        Digest out{};
        crypto_generichash(out.data(), out.size(),
                           reinterpret_cast<const unsigned char*>(password.data()), password.size(),
                           digest_key.data(), digest_key.size());
        return out;
    }

    bool cached(const std::string& username, std::string_view secret_hash, const Digest& d) {
        auto it = cache.find(username);
        if (it == cache.end()) return false;
        const auto& entry = it->second;
        if (entry.expires < Clock::now() || entry.secret_hash != secret_hash) {
            cache.erase(it);
            return false;
        }
        return sodium_memcmp(entry.password_digest.data(), d.data(), d.size()) == 0;
    }

    void remember(const std::string& username, std::string secret_hash, const Digest& d) {
        const auto cache_ttl = settings.cache_ttl;
        if (cache_ttl.count() == 0) return;
        if (cache.size() >= k_max_cache_entries) {
            std::erase_if(cache,
                          [now = Clock::now()](const auto& kv) { return kv.second.expires < now; });
            if (cache.size() >= k_max_cache_entries) cache.clear();
        }
        cache[username] = CacheEntry{std::move(secret_hash), d, Clock::now() + cache_ttl};
    }

    asio::awaitable<void> acquire_lookup() {
        if (lookups_running < settings.max_lookups) {
            ++lookups_running;
            co_return;
        }
        auto woken = std::make_shared<asio::steady_timer>(co_await asio::this_coro::executor,
                                                          Clock::time_point::max());
        lookup_waiters.push_back(woken);
        co_await woken->async_wait(asio::as_tuple(asio::use_awaitable));
    }

    void release_lookup() {
        if (lookup_waiters.empty()) {
            --lookups_running;
            return;
        }
        auto next = std::move(lookup_waiters.front());
        lookup_waiters.pop_front();
        next->cancel();  // the slot passes to it
    }

    // The credential row, read under a look-up slot.
    asio::awaitable<Result<pg::Rows>> read(const char* sql, auto key) {
        co_await acquire_lookup();
        auto rows = co_await pool.query(sql, key);
        release_lookup();
        co_return rows;
    }

    asio::awaitable<bool> verify_off_thread(std::string hash, std::string password) {
        ++hashes;
        co_return co_await async_verify(hashers, std::move(hash), std::move(password),
                                        asio::use_awaitable);
    }
};

Authenticator::Authenticator(pg::Pool& pool, asio::thread_pool& hashers, Settings settings)
    : impl_(std::make_unique<Impl>(pool, hashers, std::move(settings))) {
    crypto_generichash_keygen(impl_->digest_key.data());
    impl_->dummy_hash = crypto::hash_password(crypto::random_password());
}

Authenticator::~Authenticator() = default;

std::uint64_t Authenticator::hashes_computed() const {
    return impl_->hashes;
}

asio::awaitable<AuthVerdict> Authenticator::verify(std::string username, std::string password) {
    AuthVerdict verdict;
    auto& impl = *impl_;
    if (impl.pending >= impl.settings.max_pending) {
        verdict.outcome = smtp::AuthOutcome::temporary_failure;
        verdict.overloaded = true;
        co_return verdict;
    }
    ++impl.pending;
    struct Done {
        std::size_t& pending;
        ~Done() { --pending; }
    } done{impl.pending};
    // Every check reads the credential row, so a disabled credential or a changed
    // password takes effect at once; only the argon2id computation is cached.
    auto rows = co_await impl.read(k_credential_by_username, username);
    if (!rows) {
        verdict.outcome = smtp::AuthOutcome::temporary_failure;
        co_return verdict;
    }
    if (rows->empty()) {
        co_await impl.verify_off_thread(impl.dummy_hash, std::move(password));
        co_return verdict;
    }
    const std::string secret_hash(rows->get(0, 3));
    const bool enabled = rows->get_bool(0, 4);
    const Digest d = impl_->digest(password);
    bool match = impl_->cached(username, secret_hash, d);
    if (!match) {
        match = co_await impl_->verify_off_thread(secret_hash, std::move(password));
        if (match) impl_->remember(username, secret_hash, d);
    }
    if (!match || !enabled) co_return verdict;

    verdict.outcome = smtp::AuthOutcome::success;
    verdict.identity.credential_id = rows->get_int(0, 0);
    verdict.identity.account_id = rows->get_int(0, 1);
    verdict.identity.account_name = std::string(rows->get(0, 2));
    verdict.identity.username = std::move(username);
    verdict.identity.credential_secret = secret_hash;
    impl.states[*verdict.identity.credential_id] =
        CredentialState{true, secret_hash, Clock::now() + impl.settings.state_ttl};
    co_return verdict;
}

asio::awaitable<bool> Authenticator::still_valid(const Identity& identity) {
    if (!identity.credential_id) co_return true;  // an allow-listed network's session
    auto& impl = *impl_;
    const auto id = *identity.credential_id;
    auto known = impl.states.find(id);
    if (known == impl.states.end() || known->second.expires <= Clock::now()) {
        auto rows = co_await impl.read(k_credential_state, id);
        if (!rows) co_return true;
        if (impl.states.size() >= k_max_cache_entries) impl.states.clear();
        CredentialState state;
        state.expires = Clock::now() + impl.settings.state_ttl;
        if (!rows->empty()) {
            state.secret_hash = std::string(rows->get(0, 0));
            state.valid = rows->get_bool(0, 1);
        }
        known = impl.states.insert_or_assign(id, std::move(state)).first;
    }
    co_return known->second.valid && known->second.secret_hash == identity.credential_secret;
}

}  // namespace smarthost::ingress
