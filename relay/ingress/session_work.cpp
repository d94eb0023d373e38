// What the session machine asks of the session during a mail transaction: verifying AUTH,
// the policy checks, receiving the data section and committing the message.
#include <spdlog/spdlog.h>

#include <algorithm>

#include "core/metrics/metrics.hpp"
#include "relay/ingress/authenticator.hpp"
#include "relay/ingress/data_section.hpp"
#include "relay/ingress/login.hpp"
#include "relay/ingress/session_class.hpp"
#include "relay/ingress/session_metrics.hpp"
#include "relay/policy/dkim_signing.hpp"
#include "relay/policy/mail_checks.hpp"
#include "relay/policy/rejection_log.hpp"
#include "relay/queue/group_commit.hpp"
#include "relay/smtp/received_header.hpp"
#include "relay/smtp/sub_user_header.hpp"

namespace smarthost::ingress::detail {

asio::awaitable<smtp::Action> Session::authenticate(smtp::AuthRequest request) {
    const LoginClient client{listener_, client_ip_, client_network_, client_listing_,
                             network_identity_};
    auto login = co_await log_in(services_, client, std::move(request));
    switch (login.outcome) {
        case Login::Outcome::success:
            identity_ = std::move(login.identity);
            auth_slot_ = std::move(login.slot);
            co_return machine_->on_auth_result(smtp::AuthOutcome::success);
        case Login::Outcome::invalid:
            co_return machine_->on_auth_result(smtp::AuthOutcome::invalid_credentials);
        case Login::Outcome::temporary:
            if (login.reply) co_return machine_->on_auth_locked(std::move(*login.reply));
            co_return machine_->on_auth_result(smtp::AuthOutcome::temporary_failure);
        case Login::Outcome::refused_and_close:
            break;
    }
    close_reason_ = std::move(login.close_reason);
    co_return machine_->on_auth_refused(std::move(*login.reply));
}

asio::awaitable<bool> Session::credential_still_valid() {
    if (!identity_ || !identity_->credential_id) co_return true;
    co_return co_await services_.authenticator.still_valid(*identity_);
}

asio::awaitable<smtp::Action> Session::check_policy(smtp::PolicyQuery query) {
    if (!identity_) {
        spdlog::error("session {} {}: policy check without an identity", listener_.name,
                      client_ip_);
        co_return machine_->on_policy_verdict(smtp::PolicyVerdict::refuse(
            smtp::reply::policy_unavailable(), smtp::Refusal::unavailable));
    }
    const policy::MailClient client{identity_->account_id, identity_->credential_id, client_ip_,
                                    client_listing_};
    auto check = co_await policy::check_mail(services_.policy, services_.blocklists,
                                             services_.rejections, client, query, as_received());
    if (query.stage == smtp::PolicyStage::sender)
        sender_domain_tags_ = std::move(check.sender_domain_tags);
    if (query.stage == smtp::PolicyStage::message) {
        sub_user_ = std::move(check.sub_user);
        strip_header_ = std::move(check.strip_header);
    }
    if (check.verdict.refused()) {
        const auto& refusal = *check.verdict.refusal;
        spdlog::info("policy refused listener={} client={} account={} address=<{}>: {} {} {}",
                     listener_.name, client_ip_, identity_->account_name, query.address,
                     refusal.code, refusal.enhanced,
                     refusal.lines.empty() ? "" : refusal.lines.front());
        if (query.stage == smtp::PolicyStage::message) drop_body();
    }
    co_return machine_->on_policy_verdict(check.verdict);
}

asio::awaitable<std::optional<smtp::Action>> Session::receive_data() {
    body_charge_ = BodyBudget::Charge(services_.body_budget);
    sub_user_.clear();
    strip_header_.clear();
    // The queue id and the Received: field are made now (Postfix also dates it at
    // DATA), so the body is received behind them in the buffer it is stored from.
    message_id_ = queue::new_message_id();
    std::string prefix =
        trace_fields(origin(), machine_->envelope(), services_.config.hostname, message_id_,
                     client_listing_.tag_summary(), sender_domain_tags_, smtp::rfc5322_date_now());
    prefix_size_ = prefix.size();
    auto section =
        co_await receive_data_section(channel_, listener_.limits, body_charge_, std::move(prefix),
                                      machine_->envelope().declared_size);
    if (section.ended != ReadEnd::more) {
        co_await end_data_early(section.ended, section.too_slow);
        co_return std::nullopt;
    }
    if (section.result == smtp::DataResult::no_storage)
        spdlog::warn("data refused listener={} client={}: the message would pass {} bytes held",
                     listener_.name, client_ip_, services_.body_budget.limit());
    body_ = std::move(section.body);
    if (section.result != smtp::DataResult::ok) prefix_size_ = 0;
    co_return machine_->on_data_end(section.result);
}

asio::awaitable<void> Session::end_data_early(ReadEnd end, bool too_slow) {
    drop_body();
    if (end == ReadEnd::shutdown) {
        close_reason_ = "shutdown";
        co_await close_with(machine_->on_shutdown());
    } else if (end == ReadEnd::timed_out && too_slow) {
        cut_session("data_rate", true);
        channel_.send(smtp::reply::data_too_slow(services_.config.hostname));
        co_await flush();
    } else if (end == ReadEnd::timed_out) {
        cut_session("data_timeout", true);
        co_await close_with(machine_->on_timeout());
    } else {
        close_reason_ = "client closed";
    }
}

MessageOrigin Session::origin() {
    MessageOrigin origin;
    if (identity_) {
        origin.account_id = identity_->account_id;
        origin.credential_id = identity_->credential_id;
    }
    origin.client_ip = client_ip_;
    origin.helo = machine_->helo();
    origin.protocol = machine_->protocol_name();
    origin.tls_version = tls_version_;
    origin.tls_cipher = channel_.stream().tls_cipher();
    return origin;
}

std::string_view Session::as_received() const {
    return std::string_view(body_).substr(std::min(prefix_size_, body_.size()));
}

void Session::drop_body() {
    std::string().swap(body_);
    prefix_size_ = 0;
    body_charge_.reset();
}

asio::awaitable<smtp::Action> Session::enqueue() {
    if (!identity_) {
        // The machine accepts recipients only for an identified client; reaching here
        // without one is a bug, and the message must not be stored unattributed.
        spdlog::error("session {} {}: DATA without an identity", listener_.name, client_ip_);
        drop_body();
        co_return machine_->on_enqueued("");
    }
    const auto now = std::chrono::system_clock::now();
    // Before signing: the signature covers the message as delivered, without the header.
    if (!strip_header_.empty()) smtp::remove_header_fields(body_, prefix_size_, strip_header_);
    const auto scan = co_await scan_body();
    if (scan.action == policy::ScanAction::reject) {
        drop_body();
        co_return refuse_scanned(scan);
    }
    if (!co_await sign_body(now)) {
        drop_body();
        co_return machine_->on_not_queued(smtp::reply::not_signed());
    }
    const auto& envelope = machine_->envelope();
    const auto recipients = envelope.recipients.size();
    const std::string sender = envelope.sender;
    const std::string id = message_id_;
    const auto size = body_.size();
    auto message = assemble_message(origin(), envelope, message_id_, std::move(body_), prefix_size_,
                                    services_.config.hostname, now);
    body_.clear();  // moved into the message
    record_scan(scan, message);
    prefix_size_ = 0;
    message.sub_user = std::move(sub_user_);
    auto status = co_await services_.committer.enqueue(std::move(message));
    body_charge_.reset();  // committed or failed, the committer holds the body no more
    if (!status) {
        spdlog::warn("message not queued listener={} client={} account={}: {}", listener_.name,
                     client_ip_, identity_->account_name, status.error().message);
        co_return machine_->on_enqueued("");
    }
    ++messages_accepted_;
    count_accepted(*identity_, recipients);
    spdlog::info(
        "accepted id={} account={} user={} client={} tls={} from=<{}> recipients={} size={}", id,
        identity_->account_name, identity_->username, client_ip_,
        tls_version_.empty() ? "none" : tls_version_, sender, recipients, size);
    co_return machine_->on_enqueued(id);
}

asio::awaitable<bool> Session::sign_body(std::chrono::system_clock::time_point now) {
    auto& metrics = metrics::global();
    const auto policy = co_await services_.policy.account(identity_->account_id);
    if (!policy) {
        // Whether this message is to be signed is unknown: it is not stored unsigned.
        spdlog::warn("message not signed listener={} client={} account={}: {}", listener_.name,
                     client_ip_, identity_->account_name, policy.error().message);
        metrics.dkim_signing_failures.Increment();
        co_return false;
    }
    auto outcome = co_await services_.dkim.sign(**policy, body_, now);
    using Kind = policy::DkimSigner::Outcome::Kind;
    switch (outcome.kind) {
        case Kind::failed:
            spdlog::error("message not signed listener={} client={} account={}: {}", listener_.name,
                          client_ip_, identity_->account_name, outcome.error);
            metrics.dkim_signing_failures.Increment();
            co_return false;
        case Kind::not_signed:
            metrics.dkim_unsigned_messages
                .Add({{"reason", outcome.already_signed ? "already_signed"
                                                        : policy::to_string(outcome.decision)}})
                .Increment();
            co_return true;
        case Kind::signed_message:
            break;
    }
    body_.insert(0, outcome.fields);
    prefix_size_ += outcome.fields.size();
    for (const auto algorithm : outcome.algorithms)
        metrics.dkim_signatures.Add({{"algorithm", dkim::to_string(algorithm)}}).Increment();
    co_return true;
}

}  // namespace smarthost::ingress::detail
