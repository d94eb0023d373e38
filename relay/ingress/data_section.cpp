#include "relay/ingress/data_section.hpp"

#include <algorithm>
#include <chrono>

namespace smarthost::ingress {
namespace {

using Clock = std::chrono::steady_clock;

// When `received` octets since `started` fall below the minimum data rate.
Clock::time_point slow_data_deadline(const SmtpLimits& limits, Clock::time_point started,
                                     std::uint64_t received) {
    const auto rate = limits.data_min_bytes_per_second;
    if (rate == 0) return Clock::time_point::max();
    const auto earned = std::chrono::milliseconds(received * 1000 / rate);
    return started + std::max<Clock::duration>(limits.data_rate_grace, earned);
}

}  // namespace

boost::asio::awaitable<DataSection> receive_data_section(
    SessionChannel& channel, const SmtpLimits& limits, BodyBudget::Charge& charge,
    std::string prefix, std::optional<std::uint64_t> declared_size) {
    DataSection section;
    smtp::DataReader reader(limits.max_message_bytes, limits.max_line_bytes);
    reader.limit_storage([&charge](std::uint64_t bytes) { return charge.resize(bytes); });
    reader.start_with(prefix);
    if (declared_size) reader.expect_size(*declared_size);
    const auto started = Clock::now();
    auto& inbox = channel.inbox();
    std::uint64_t received = inbox.size();
    for (;;) {
        inbox.erase(0, reader.consume(inbox));
        if (reader.finished()) break;
        // Silence ends the data section after data_timeout; a trickle once its average
        // rate, after the grace, falls below data_min_bytes_per_second.
        const auto silence = Clock::now() + limits.data_timeout;
        const auto too_slow = slow_data_deadline(limits, started, received);
        section.ended =
            co_await channel.read_more(std::min(silence, too_slow), SessionChannel::Waiting::data);
        if (section.ended != SessionChannel::ReadEnd::more) {
            section.too_slow = too_slow <= silence;
            charge.reset();
            co_return section;
        }
        received += inbox.size();
    }
    section.body = reader.take_body();
    section.result = reader.result();
    if (section.result == smtp::DataResult::ok &&
        !charge.resize(charge.bytes() + section.body.size()))
        section.result = smtp::DataResult::no_storage;
    if (section.result != smtp::DataResult::ok) {
        std::string().swap(section.body);
        charge.reset();
    }
    co_return section;
}

}  // namespace smarthost::ingress
