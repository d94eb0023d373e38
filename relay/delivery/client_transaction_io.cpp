#include "relay/delivery/client_transaction_io.hpp"

#include <optional>
#include <string>
#include <utility>

#include "relay/delivery/client_channel.hpp"
#include "relay/delivery/smtp_client.hpp"

namespace smarthost::delivery {
namespace {

namespace asio = boost::asio;
using std::chrono::milliseconds;

// The body goes out in slices of this size, each under the data-block timeout.
constexpr std::size_t k_body_slice = 64 * 1024;

struct TransactionRun {
    ClientChannel& channel;
    ClientTransaction& transaction;
    const ClientTimeouts& timeouts;

    // Reads one reply of the transaction; on failure the undecided recipients are
    // temporary failures and nullopt is returned.
    asio::awaitable<std::optional<smtp::Reply>> reply(Stage stage, milliseconds timeout) {
        auto reply = co_await channel.read_reply(stage, timeout);
        if (!reply) {
            transaction.on_connection_failed(stage, channel.last_local_failure());
        } else if (reply->code == 421) {
            channel.close();  // replies after a 421 never come; this one still counts
        }
        co_return reply;
    }

    asio::awaitable<bool> send(std::string bytes, Stage stage, milliseconds timeout) {
        const bool sent = co_await channel.write(std::move(bytes), stage, timeout);
        if (sent) co_return true;
        transaction.on_connection_failed(stage, channel.last_local_failure());
        co_return false;
    }

    asio::awaitable<void> pipelined(std::string_view body) {
        bool sent = false;
        const auto count = transaction.recipient_count();
        // RFC 2920 section 3.1: MAIL, RCPT and DATA may go in one group; the replies
        // come in order and each is checked.
        std::string group = transaction.mail_command();
        for (std::size_t i = 0; i < count; ++i)
            group += transaction.rcpt_command(i);
        group += "DATA\r\n";
        sent = co_await send(std::move(group), Stage::mail, timeouts.mail);
        if (!sent) co_return;
        auto next = co_await reply(Stage::mail, timeouts.mail);
        if (!next) co_return;
        transaction.on_mail_reply(*next);
        for (std::size_t i = 0; i < count; ++i) {
            next = co_await reply(Stage::rcpt, timeouts.rcpt);
            if (!next) co_return;
            transaction.on_rcpt_reply(i, *next);
        }
        next = co_await reply(Stage::data, timeouts.data_init);
        if (!next) co_return;
        if (!transaction.should_send_body()) {
            // DATA accepted although nothing else was: end the empty data section
            // (RFC 2920 section 3.1); its reply means nothing for the recipients.
            if (next->code == 354) {
                sent = co_await channel.write(".\r\n", Stage::data_end, timeouts.data_end);
                if (sent) co_await channel.read_reply(Stage::data_end, timeouts.data_end);
            }
            co_return;
        }
        transaction.on_data_reply(*next);
        if (next->code != 354) co_return;
        co_await send_body(body);
    }

    asio::awaitable<void> step_by_step(std::string_view body) {
        bool sent = false;
        sent = co_await send(transaction.mail_command(), Stage::mail, timeouts.mail);
        if (!sent) co_return;
        auto next = co_await reply(Stage::mail, timeouts.mail);
        if (!next) co_return;
        transaction.on_mail_reply(*next);
        if (!transaction.mail_accepted()) co_return;
        for (std::size_t i = 0; i < transaction.recipient_count(); ++i) {
            sent = co_await send(transaction.rcpt_command(i), Stage::rcpt, timeouts.rcpt);
            if (!sent) co_return;
            next = co_await reply(Stage::rcpt, timeouts.rcpt);
            if (!next) co_return;
            transaction.on_rcpt_reply(i, *next);
        }
        if (!transaction.should_send_body()) co_return;
        sent = co_await send("DATA\r\n", Stage::data, timeouts.data_init);
        if (!sent) co_return;
        next = co_await reply(Stage::data, timeouts.data_init);
        if (!next) co_return;
        transaction.on_data_reply(*next);
        if (next->code != 354) co_return;
        co_await send_body(body);
    }

    asio::awaitable<void> send_body(std::string_view body) {
        bool sent = false;
        DotStuffer stuffer;
        std::size_t offset = 0;
        do {
            std::string slice;
            stuffer.feed(body.substr(offset, k_body_slice), slice);
            offset += k_body_slice;
            // The terminator rides with the last slice: a tiny write of its own would wait
            // for the previous one's ACK (Nagle with delayed ACK).
            if (offset >= body.size()) stuffer.finish(slice);
            sent = co_await send(std::move(slice), Stage::data_end, timeouts.data_block);
            if (!sent) co_return;
        } while (offset < body.size());
        auto final_reply = co_await reply(Stage::data_end, timeouts.data_end);
        if (final_reply) transaction.on_final_reply(*final_reply);
    }
};

}  // namespace

asio::awaitable<void> run_transaction(ClientChannel& channel, ClientTransaction& transaction,
                                      const ClientTimeouts& timeouts, bool pipelining,
                                      std::string_view body) {
    TransactionRun run{channel, transaction, timeouts};
    if (pipelining) {
        co_await run.pipelined(body);
    } else {
        co_await run.step_by_step(body);
    }
}

}  // namespace smarthost::delivery
