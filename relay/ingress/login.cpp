#include "relay/ingress/login.hpp"

#include <spdlog/spdlog.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "core/config.hpp"
#include "relay/ingress/authenticator.hpp"
#include "relay/ingress/connect_gate.hpp"
#include "relay/ingress/session_metrics.hpp"
#include "relay/policy/auth_throttle.hpp"

namespace smarthost::ingress {

namespace asio = boost::asio;

asio::awaitable<Login> log_in(IngressServices services, LoginClient client,
                              smtp::AuthRequest request) {
    auto& throttle = services.auth_throttle;
    Login login;
    const auto lock = co_await throttle.login_lock(client.network, request.username);
    if (lock == policy::LoginLock::network) {
        spdlog::info("auth refused listener={} client={}: network {} locked out",
                     client.listener.name, client.ip, client.network);
        count_auth(client.listener.name, smtp::AuthOutcome::temporary_failure);
        record_refusal_of_client(services, client.listener, client.ip, "auth_lockout");
        login.outcome = Login::Outcome::refused_and_close;
        login.reply = smtp::reply::client_locked_out(services.config.hostname, client.network);
        login.close_reason = "address locked out after failed logins";
        co_return login;
    }
    if (lock == policy::LoginLock::username_network) {
        spdlog::info("auth refused listener={} client={} user={}: username locked out from {}",
                     client.listener.name, client.ip, request.username, client.network);
        count_auth(client.listener.name, smtp::AuthOutcome::temporary_failure);
        login.outcome = Login::Outcome::temporary;
        login.reply = smtp::reply::username_locked_out();
        co_return login;
    }
    const std::string username = request.username;
    auto verdict = co_await services.authenticator.verify(std::move(request.username),
                                                          std::move(request.password));
    if (verdict.overloaded) {
        count_auth_overloaded(client.listener.name);
    } else {
        count_auth(client.listener.name, verdict.outcome);
    }
    if (verdict.outcome == smtp::AuthOutcome::temporary_failure) {
        login.outcome = Login::Outcome::temporary;
        co_return login;
    }
    if (verdict.outcome == smtp::AuthOutcome::invalid_credentials) {
        co_await throttle.record_failure(client.network, username);
        // Slows down password guessing on one connection (RFC 4954 section 4 allows it).
        asio::steady_timer delay(co_await asio::this_coro::executor,
                                 services.config.auth_failure_delay);
        co_await delay.async_wait(asio::as_tuple(asio::use_awaitable));
        spdlog::info("auth failed listener={} client={}", client.listener.name, client.ip);
        login.outcome = Login::Outcome::invalid;
        co_return login;
    }

    const Identity& who = verdict.identity;
    if (client.listing.auth_suspicious()) {
        std::vector<std::string> zones;
        for (const auto& hit : client.listing.hits)
            if (hit.auth_suspicious) zones.push_back(hit.zone);
        co_await throttle.record_suspicious_login(who.account_id, who.credential_id, who.username,
                                                  client.ip, "dnsbl", std::move(zones));
    } else {
        // The right password for a username others were guessing: maybe its owner, maybe
        // a guess that worked. Let in (contract 8), and shown to the operator.
        const bool flagged = co_await throttle.username_flagged(username);
        if (flagged)
            co_await throttle.record_suspicious_login(who.account_id, who.credential_id,
                                                      who.username, client.ip, "failed_logins", {});
    }
    // Counted once per account: an allow-listed client logging in as its own network's
    // account holds the slot it took at connect.
    if (!client.network_identity || client.network_identity->account_id != who.account_id) {
        auto refusal = co_await hold_connection(services, who, login.slot);
        if (refusal) {
            spdlog::info(
                "auth refused listener={} client={} user={}: account {} at its connection limit",
                client.listener.name, client.ip, who.username, who.account_name);
            login.outcome = Login::Outcome::refused_and_close;
            login.reply = std::move(*refusal);
            login.close_reason = "account connection limit";
            co_return login;
        }
    }
    login.outcome = Login::Outcome::success;
    login.identity = std::move(verdict.identity);
    co_return login;
}

}  // namespace smarthost::ingress
