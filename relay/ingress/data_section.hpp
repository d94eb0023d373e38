#pragma once
// Receiving one message's data section, after the 354: into the buffer it is stored from,
// behind the trace fields the relay puts in front, until CRLF.CRLF, within the listener's
// limits (size, line length, silence, the minimum data rate) and the bound on message
// data held in memory, which is charged as the data arrives.

#include <boost/asio/awaitable.hpp>
#include <cstdint>
#include <optional>
#include <string>

#include "core/config.hpp"
#include "relay/ingress/body_budget.hpp"
#include "relay/ingress/session_channel.hpp"
#include "relay/smtp/data_reader.hpp"

namespace smarthost::ingress {

struct DataSection {
    // Not `more`: the connection ended before the final dot (the shutdown, a timeout, the
    // client gone) and nothing else here counts.
    SessionChannel::ReadEnd ended = SessionChannel::ReadEnd::more;
    bool too_slow = false;  // a timeout by the minimum data rate rather than by silence
    smtp::DataResult result = smtp::DataResult::ok;
    std::string body;  // the trace fields, then the data section; empty unless result is ok
};

// `charge` holds the body's memory when the result is ok: the body and the database
// driver's copy of it, taken now so that a message whose commit would pass the bound is
// refused (452) while the client still holds it.
boost::asio::awaitable<DataSection> receive_data_section(
    SessionChannel& channel, const SmtpLimits& limits, BodyBudget::Charge& charge,
    std::string prefix, std::optional<std::uint64_t> declared_size);

}  // namespace smarthost::ingress
