#pragma once
// DKIM signing at acceptance (docs/dkim.md): which of an account's keys sign a message,
// and the signing itself, off the I/O thread. The stored message is the signed message;
// a message that should be signed and cannot be is refused for now (451 4.3.0), never
// stored unsigned.

#include <boost/asio/awaitable.hpp>
#include <boost/asio/thread_pool.hpp>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "relay/dkim/key_vault.hpp"
#include "relay/dkim/keys.hpp"
#include "relay/policy/account_policy.hpp"

namespace smarthost::policy {

// Why a message is or is not signed: "signed", or the reason it is not.
enum class SigningDecision {
    sign,
    no_author_domain,    // no From: domain (the message checks refuse that earlier)
    no_matching_domain,  // From:'s domain is none of the account's verified domains
    policy_off,          // the domain's dkim_policy is off
    no_active_key,       // the domain has no active key
    key_not_published,   // policy 'verified' and no active key's record matches yet
};
const char* to_string(SigningDecision decision);

struct SigningChoice {
    SigningDecision decision = SigningDecision::no_author_domain;
    const SenderDomain* domain = nullptr;  // the d= domain, when one matched
    std::vector<const DkimKeyRef*> keys;   // the keys that sign, when `sign`
};

// Pure: the keys that sign mail whose From: is at `author_domain` (lower case). The d=
// is the account's verified sender domain that matches it: the domain itself, or for a
// subdomain the parent domain verified with subdomains (the most specific one wins).
SigningChoice choose_signing_keys(const AccountPolicy& policy, std::string_view author_domain);

class DkimSigner {
  public:
    struct Settings {
        std::optional<std::chrono::seconds> expiry;  // x= after t=; none when unset
    };
    struct Outcome {
        enum class Kind { signed_message, not_signed, failed };
        Kind kind = Kind::not_signed;
        std::string fields;  // the DKIM-Signature fields to put in front, when signed
        std::vector<dkim::Algorithm> algorithms;  // of those fields
        SigningDecision decision = SigningDecision::no_author_domain;
        bool already_signed = false;  // a valid signature of the same d= is in the message
        std::string error;            // why, when failed
    };

    // `vault` empty: no key-encryption key is configured, and a message that should be
    // signed fails (451) rather than leaving unsigned. Signing runs on `workers`.
    DkimSigner(std::optional<dkim::KeyVault> vault, Settings settings,
               boost::asio::thread_pool& workers);

    // `message` is the whole message as it will be stored (trace fields, header section,
    // body); it must stay alive and unchanged until the call returns.
    boost::asio::awaitable<Outcome> sign(const AccountPolicy& policy, std::string_view message,
                                         std::chrono::system_clock::time_point now);

    void set_settings(Settings settings);

  private:
    Result<std::shared_ptr<const dkim::PrivateKey>> open_key(const SenderDomain& domain,
                                                             const DkimKeyRef& key);

    std::optional<dkim::KeyVault> vault_;
    Settings settings_;
    boost::asio::thread_pool& workers_;
    std::mutex keys_mutex_;  // opened keys are shared by the I/O thread and the workers
    // Opened private keys by dkim_keys.id: a key's material never changes under its id.
    std::unordered_map<std::int64_t, std::shared_ptr<const dkim::PrivateKey>> opened_;
};

}  // namespace smarthost::policy
