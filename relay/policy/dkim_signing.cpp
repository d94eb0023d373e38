#include "relay/policy/dkim_signing.hpp"

#include <boost/asio/async_result.hpp>
#include <boost/asio/bind_executor.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <functional>

#include "relay/dkim/signer.hpp"
#include "relay/policy/author_fields.hpp"

namespace smarthost::policy {
namespace {

namespace asio = boost::asio;

// Opened keys kept per process; past this many, the map starts again (keys are few).
constexpr std::size_t k_max_opened_keys = 10000;

// Runs `work` on `workers` and completes with its result on the caller's executor.
template <class Work, class Token>
auto async_run(asio::thread_pool& workers, Work work, Token&& token) {
    using Value = decltype(work());
    return asio::async_initiate<Token, void(Value)>(
        [&workers](auto handler, Work work) {
            auto home = asio::make_work_guard(asio::get_associated_executor(handler));
            asio::post(workers, [handler = std::move(handler), home = std::move(home),
                                 work = std::move(work)]() mutable {
                auto value = work();
                auto executor = home.get_executor();
                asio::post(executor,
                           [handler = std::move(handler), value = std::move(value)]() mutable {
                               std::move(handler)(std::move(value));
                           });
            });
        },
        token, std::move(work));
}

// The domain of the first mailbox of From:, lower case; empty when there is none.
std::string author_domain(std::string_view message) {
    const auto fields = author_fields(message);
    for (const auto& author : fields.authors)
        if (author.field == "From") return domain_of(author.address);
    return {};
}

// What the worker does: leaves a message alone that a key of the same d= signed already,
// else signs it. Made outside the coroutine: GCC 12 mislays the locals of a lambda written
// inside one.
std::function<DkimSigner::Outcome()> signing_job(std::string_view message,
                                                 std::vector<dkim::SigningKey> keys,
                                                 dkim::SigningOptions options,
                                                 DkimSigner::Outcome outcome) {
    return [message, keys = std::move(keys), options, outcome = std::move(outcome)]() mutable {
        if (dkim::already_signed_by(message, keys, options.now)) {
            outcome.already_signed = true;
            return outcome;
        }
        auto fields = dkim::sign(message, keys, options);
        if (!fields) {
            outcome.kind = DkimSigner::Outcome::Kind::failed;
            outcome.error = fields.error().message;
            return outcome;
        }
        outcome.kind = DkimSigner::Outcome::Kind::signed_message;
        outcome.fields = std::move(*fields);
        for (const auto& key : keys)
            outcome.algorithms.push_back(key.key.algorithm());
        return outcome;
    };
}

}  // namespace

const char* to_string(SigningDecision decision) {
    switch (decision) {
        case SigningDecision::sign:
            return "sign";
        case SigningDecision::no_author_domain:
            return "no_author_domain";
        case SigningDecision::no_matching_domain:
            return "no_matching_domain";
        case SigningDecision::policy_off:
            return "policy_off";
        case SigningDecision::no_active_key:
            return "no_active_key";
        case SigningDecision::key_not_published:
            return "key_not_published";
    }
    return "unknown";
}

SigningChoice choose_signing_keys(const AccountPolicy& policy, std::string_view author_domain) {
    SigningChoice choice;
    if (author_domain.empty()) return choice;
    for (const auto& entry : policy.sender_domains) {
        if (!domain_matches(entry, author_domain, true)) continue;
        if (choice.domain == nullptr || entry.domain.size() > choice.domain->domain.size())
            choice.domain = &entry;
    }
    if (choice.domain == nullptr) {
        choice.decision = SigningDecision::no_matching_domain;
        return choice;
    }
    const auto& domain = *choice.domain;
    if (domain.dkim_policy == DkimPolicy::off) {
        choice.decision = SigningDecision::policy_off;
        return choice;
    }
    if (domain.dkim_keys.empty()) {
        choice.decision = SigningDecision::no_active_key;
        return choice;
    }
    for (const auto& key : domain.dkim_keys)
        if (key.published || domain.dkim_policy == DkimPolicy::always) choice.keys.push_back(&key);
    choice.decision =
        choice.keys.empty() ? SigningDecision::key_not_published : SigningDecision::sign;
    return choice;
}

DkimSigner::DkimSigner(std::optional<dkim::KeyVault> vault, Settings settings,
                       boost::asio::thread_pool& workers)
    : vault_(std::move(vault)), settings_(settings), workers_(workers) {}

void DkimSigner::set_settings(Settings settings) {
    settings_ = settings;
}

Result<std::shared_ptr<const dkim::PrivateKey>> DkimSigner::open_key(const SenderDomain& domain,
                                                                     const DkimKeyRef& key) {
    {
        const std::lock_guard lock(keys_mutex_);
        if (const auto it = opened_.find(key.id); it != opened_.end()) return it->second;
    }
    const auto pem = vault_->open(key.sealed, dkim::key_owner(domain.domain, key.selector));
    if (!pem) return pem.error();
    auto opened = dkim::PrivateKey::from_pem(*pem);
    if (!opened) return opened.error();
    auto shared = std::make_shared<const dkim::PrivateKey>(std::move(*opened));
    const std::lock_guard lock(keys_mutex_);
    if (opened_.size() >= k_max_opened_keys) opened_.clear();
    opened_.emplace(key.id, shared);
    return std::shared_ptr<const dkim::PrivateKey>(shared);
}

boost::asio::awaitable<DkimSigner::Outcome> DkimSigner::sign(
    const AccountPolicy& policy, std::string_view message,
    std::chrono::system_clock::time_point now) {
    Outcome outcome;
    const auto choice = choose_signing_keys(policy, author_domain(message));
    outcome.decision = choice.decision;
    if (choice.decision != SigningDecision::sign) co_return outcome;
    if (!vault_) {
        outcome.kind = Outcome::Kind::failed;
        outcome.error = "no DKIM key-encryption key is configured";
        co_return outcome;
    }
    std::vector<dkim::SigningKey> keys;
    for (const auto* key : choice.keys) {
        auto opened = open_key(*choice.domain, *key);
        if (!opened) {
            outcome.kind = Outcome::Kind::failed;
            outcome.error = opened.error().message;
            co_return outcome;
        }
        keys.push_back(dkim::SigningKey{choice.domain->domain, key->selector, **opened});
    }
    const dkim::SigningOptions options{now, settings_.expiry};
    // The hashing and the private-key operation run on a worker: an RSA-2048 signature
    // costs about a quarter of a millisecond, which the I/O thread should not spend.
    outcome = co_await async_run(workers_,
                                 signing_job(message, std::move(keys), options, std::move(outcome)),
                                 asio::use_awaitable);
    co_return outcome;
}

}  // namespace smarthost::policy
