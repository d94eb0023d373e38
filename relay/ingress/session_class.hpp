#pragma once
// The SMTP session's class, shared by its two halves: relay/ingress/session.cpp (the
// conversation: admission, the command loop, the caps and the end) and
// relay/ingress/session_work.cpp (what the machine asks for: AUTH, the policy checks, the
// data section, the commit). Internal to relay/ingress; start_session() is the way in.

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "core/config.hpp"
#include "relay/ingress/body_budget.hpp"
#include "relay/ingress/drain.hpp"
#include "relay/ingress/identity.hpp"
#include "relay/ingress/message_assembly.hpp"
#include "relay/ingress/services.hpp"
#include "relay/ingress/session.hpp"
#include "relay/ingress/session_channel.hpp"
#include "relay/policy/connection_limiter.hpp"
#include "relay/policy/content_scanner.hpp"
#include "relay/policy/dnsbl.hpp"
#include "relay/smtp/command_reader.hpp"
#include "relay/smtp/session_machine.hpp"

namespace smarthost::ingress::detail {

namespace asio = boost::asio;
using asio::ip::tcp;
using Clock = std::chrono::steady_clock;
using ReadEnd = SessionChannel::ReadEnd;
using Waiting = SessionChannel::Waiting;

// One SMTP connection: the connect gate admits it, then the session machine decides and
// this class does what the machine asks, reading and writing through its channel.
class Session : public std::enable_shared_from_this<Session> {
  public:
    Session(tcp::socket socket, const ListenerConfig& listener, IngressServices services,
            std::function<void()> on_end, ClaimClientAddress claim_client);
    ~Session();
    void follow_drain();
    asio::awaitable<void> run();

  private:
    std::string client_ip_;
    SessionChannel channel_;
    // A copy: SIGHUP may change the listener's limits; this session keeps those it began with.
    const ListenerConfig listener_;
    IngressServices services_;
    std::function<void()> on_end_;
    ClaimClientAddress claim_client_;
    Drain::Token drain_token_ = 0;

    std::optional<smtp::SessionMachine> machine_;
    smtp::CommandReader command_reader_{512};

    std::string client_network_;              // what throttles count client_ip_ as (IPv6: its /64)
    policy::BlocklistResult client_listing_;  // DNSBL zones that list client_ip_
    std::string sender_domain_tags_;          // tag-action domain blocklist hits, this MAIL
    std::optional<Identity> network_identity_;  // from an allow-listed network
    std::optional<Identity> identity_;          // who the mail is sent as
    // This session counted towards its accounts' connection limits: the network's from
    // connect, the authenticated account's (when another) from AUTH.
    policy::ConnectionSlot network_slot_;
    policy::ConnectionSlot auth_slot_;
    std::string tls_version_;
    std::size_t messages_accepted_ = 0;
    Clock::time_point started_ = Clock::now();
    Clock::time_point session_ends_ = Clock::time_point::max();   // [smtp] max_session_seconds
    Clock::time_point line_deadline_ = Clock::time_point::max();  // the command line read now
    std::string close_reason_ = "client closed";

    // The message of the transaction, from DATA until it is committed.
    std::string message_id_;
    std::string body_;  // trace fields, then the data section: the only copy
    std::size_t prefix_size_ = 0;
    // From the check after the final dot: the sub-user the account's trusted header named,
    // and the header to remove before signing (docs/policy.md "Sub-users").
    std::string sub_user_;
    std::string strip_header_;
    BodyBudget::Charge body_charge_;  // body_'s memory and the driver's copy of it

    // session.cpp: the conversation.
    asio::awaitable<void> serve();
    smtp::SessionSettings session_settings() const;
    asio::awaitable<bool> flush();
    asio::awaitable<void> close_with(smtp::Action action);
    // A client that is neither allow-listed nor logged in (it cannot be before the
    // greeting) and speaks before the greeting is a spambot that does not wait for
    // replies (postscreen's pre-greet test). Only on clear-text connections: inside
    // implicit TLS the bytes waiting could be the handshake's.
    bool talks_before_greeting();
    asio::awaitable<void> refuse_pipelining();
    // Which of the command deadlines passed: the session's life, a command line still
    // arriving (a trickle), or plain silence (an idle client, counted but not a refusal).
    asio::awaitable<void> close_timed_out_command();
    // A session closed by one of its caps: counted by reason, and recorded in rejections
    // when it is abuse rather than an idle client going away.
    void cut_session(std::string_view reason, bool abuse);
    // Carries out one action; false when the session is over.
    asio::awaitable<bool> perform(smtp::Action action);

    // session_work.cpp: what the machine asks for.
    asio::awaitable<smtp::Action> authenticate(smtp::AuthRequest request);
    // Only for a session that logged in: an allow-listed network's has no credential.
    asio::awaitable<bool> credential_still_valid();
    // The machine asks only for sessions with an identity; the next command is read only
    // once the verdict is in, so pipelined replies keep their order.
    asio::awaitable<smtp::Action> check_policy(smtp::PolicyQuery query);
    // Reads the data section; nullopt when the connection ended meanwhile.
    asio::awaitable<std::optional<smtp::Action>> receive_data();
    // The data section did not end: a message cut by the shutdown or a timeout is not
    // acknowledged, and the client keeps it.
    asio::awaitable<void> end_data_early(ReadEnd end, bool too_slow);
    MessageOrigin origin();
    // The data section as the client sent it, without the fields the relay put in front.
    std::string_view as_received() const;
    void drop_body();
    asio::awaitable<smtp::Action> enqueue();
    // Puts the DKIM signatures the account's keys make in front of the body; false when
    // the message was to be signed and could not be (it must then not be stored).
    asio::awaitable<bool> sign_body(std::chrono::system_clock::time_point now);
    // session_scan.cpp: rspamd's verdict on the body (docs/scanning.md), taken before
    // signing: the X-Spam fields it puts in front of the body (add_header, hold) are
    // signed and stored. Fail-open: no answer is an accept without a record.
    asio::awaitable<policy::ScanVerdict> scan_body();
    // The 550 5.7.1 of a rejected message, logged and recorded like the policy refusals.
    smtp::Action refuse_scanned(const policy::ScanVerdict& verdict);
};

}  // namespace smarthost::ingress::detail
