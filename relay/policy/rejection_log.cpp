#include "relay/policy/rejection_log.hpp"

#include <spdlog/spdlog.h>

#include "core/pg/pool.hpp"
#include "core/spawn.hpp"

namespace smarthost::policy {

namespace {

namespace asio = boost::asio;

constexpr const char* k_insert_rejection =
    "INSERT INTO rejections (account_id, reason, credential_id, sub_user) VALUES ($1, $2, $3, $4)";

// By value: it runs detached, after record() returned.
asio::awaitable<void> insert_rejection(pg::Pool& pool, std::shared_ptr<std::size_t> in_flight,
                                       std::optional<std::int64_t> account_id, std::string reason,
                                       RefusedSender sender) {
    auto stored = co_await pool.query(k_insert_rejection, account_id, reason, sender.credential_id,
                                      sender.sub_user);
    --*in_flight;
    if (!stored) spdlog::warn("rejection {} not recorded: {}", reason, stored.error().message);
}

}  // namespace

RejectionLog::RejectionLog(asio::any_io_executor executor, pg::Pool& pool)
    : executor_(std::move(executor)), pool_(pool), in_flight_(std::make_shared<std::size_t>(0)) {}

void RejectionLog::record(std::optional<std::int64_t> account_id, std::string reason,
                          RefusedSender sender) {
    if (*in_flight_ >= k_max_in_flight) {
        spdlog::warn("rejection {} not recorded: {} inserts already in flight", reason,
                     *in_flight_);
        return;
    }
    ++*in_flight_;
    spawn_logged(
        executor_, "record_rejection",
        insert_rejection(pool_, in_flight_, account_id, std::move(reason), std::move(sender)));
}

}  // namespace smarthost::policy
