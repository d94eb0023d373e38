#include "relay/events/webhook_sender.hpp"

#include <spdlog/spdlog.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "core/metrics/metrics.hpp"
#include "core/pg/notification_listener.hpp"
#include "core/pg/pool.hpp"
#include "core/spawn.hpp"
#include "relay/dns/address_policy.hpp"
#include "relay/dns/resolver.hpp"
#include "relay/events/http_post.hpp"
#include "relay/events/outbox.hpp"
#include "relay/events/retry_policy.hpp"
#include "relay/events/signature.hpp"
#include "relay/events/webhook_deliveries.hpp"
#include "relay/events/webhook_url.hpp"

namespace smarthost::events {
namespace {

namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;

asio::ssl::context make_tls_context(const WebhooksConfig& config) {
    asio::ssl::context context(asio::ssl::context::tls_client);
    context.set_options(asio::ssl::context::no_sslv2 | asio::ssl::context::no_sslv3 |
                        asio::ssl::context::no_tlsv1 | asio::ssl::context::no_tlsv1_1);
    if (config.tls_ca_file.empty())
        context.set_default_verify_paths();
    else
        context.load_verify_file(config.tls_ca_file.string());
    return context;
}

RetryPolicy retry_policy(const WebhooksConfig& config) {
    return RetryPolicy{config.first_retry, config.retry_backoff_factor, config.max_retry,
                       static_cast<std::int64_t>(config.max_attempts), config.max_age};
}

void count(const char* result) {
    metrics::global().webhook_deliveries.Add({{"result", result}}).Increment();
}

}  // namespace

struct WebhookSender::Impl : std::enable_shared_from_this<Impl> {
    Impl(asio::any_io_executor ex, pg::Pool& p, dns::Resolver& r, Settings s)
        : executor(ex),
          pool(p),
          resolver(r),
          settings(std::move(s)),
          deliveries(p),
          policy(settings.webhooks.allow_destination_networks),
          retries(retry_policy(settings.webhooks)),
          tls(make_tls_context(settings.webhooks)),
          timer(ex),
          listener(ex,
                   pg::NotificationListener::Settings{
                       settings.database_url, std::string(k_webhook_channel),
                       std::chrono::seconds(1), "webhooks", "webhook_listen"},
                   [this] { wake(); }) {}

    void wake() {
        wake_pending = true;
        timer.cancel();
    }

    // The addresses to try, or why there are none.
    asio::awaitable<std::vector<std::string>> addresses_of(const WebhookUrl& url,
                                                           std::string& why) {
        std::vector<std::string> candidates;
        if (url.host_is_address) {
            candidates.push_back(url.host);
        } else {
            auto answer = co_await resolver.addresses(url.host);
            if (!answer) {
                why = "resolving " + url.host + ": " + answer.error().message;
                co_return std::vector<std::string>{};
            }
            if (answer->status != dns::AnswerStatus::ok) {
                why = "resolving " + url.host + ": " + dns::to_string(answer->status);
                co_return std::vector<std::string>{};
            }
            candidates = answer->records;
        }
        std::vector<std::string> allowed;
        for (const auto& address : candidates) {
            if (auto refusal = policy.refusal(address))
                why = *refusal + " (webhooks.allow_destination_networks)";
            else
                allowed.push_back(address);
        }
        co_return allowed;
    }

    asio::awaitable<DeliveryOutcome> attempt(const ClaimedDelivery& delivery) {
        DeliveryOutcome outcome;
        std::string why;
        const auto url = parse_webhook_url(delivery.url, why);
        const auto key = secret_key(delivery.secret);
        if (!url) {
            outcome.error = "url " + why;
            co_return outcome;
        }
        if (!key) {
            outcome.error = "the endpoint's secret is not a whsec_ secret";
            co_return outcome;
        }
        const auto addresses = co_await addresses_of(*url, why);
        if (addresses.empty()) {
            outcome.error = why;
            co_return outcome;
        }
        const auto timestamp = std::chrono::duration_cast<std::chrono::seconds>(
                                   std::chrono::system_clock::now().time_since_epoch())
                                   .count();
        HeaderList headers;
        headers.emplace_back("webhook-id", delivery.event_id);
        headers.emplace_back("webhook-timestamp", std::to_string(timestamp));
        headers.emplace_back("webhook-signature",
                             sign(*key, delivery.event_id, timestamp, delivery.body));
        const auto answer = co_await post(*url, addresses, headers, delivery.body, tls,
                                          settings.webhooks.request_timeout);
        outcome.status = answer.status;
        outcome.delivered = answer.status && *answer.status >= 200 && *answer.status < 300;
        if (!outcome.delivered)
            outcome.error =
                answer.status ? "answered " + std::to_string(*answer.status) : answer.error;
        co_return outcome;
    }

    asio::awaitable<void> send(std::shared_ptr<Impl> self, ClaimedDelivery delivery) {
        auto outcome = co_await attempt(delivery);
        if (!outcome.delivered)
            outcome.retry_after = retry_delay(retries, delivery.attempts, delivery.age);
        auto recorded = co_await deliveries.record(settings.owner, delivery.id, outcome);
        if (!recorded) {
            spdlog::warn("webhooks: delivery {} of event {}: outcome not recorded: {}", delivery.id,
                         delivery.event_id, recorded.error().message);
        } else if (!*recorded) {
            spdlog::info("webhooks: delivery {} was taken over after its lease", delivery.id);
        } else if (outcome.delivered) {
            count("delivered");
        } else if (outcome.retry_after) {
            count("retried");
            spdlog::info("webhooks: {} to endpoint {} (attempt {}): {}; again in {} s",
                         delivery.kind, delivery.endpoint_id, delivery.attempts, outcome.error,
                         outcome.retry_after->count());
        } else {
            count("failed");
            spdlog::warn("webhooks: {} {} to endpoint {} failed after {} attempts: {}",
                         delivery.kind, delivery.event_id, delivery.endpoint_id, delivery.attempts,
                         outcome.error);
        }
        --self->in_flight;
        self->wake();  // the endpoint's next event, if any, may go now
    }

    // Outside any coroutine: the completion handler's capture (GCC 12).
    void spawn_send(ClaimedDelivery delivery) {
        ++in_flight;
        auto self = shared_from_this();
        spawn_logged(executor, "webhook_send", send(self, std::move(delivery)));
    }

    asio::awaitable<void> purge_if_due() {
        const auto now = Clock::now();
        if (now < next_purge) co_return;
        next_purge = now + settings.purge_interval;
        auto purged = co_await deliveries.purge(settings.webhooks.delivered_retention,
                                                settings.webhooks.failed_retention);
        if (!purged) {
            spdlog::warn("webhooks: purge failed: {}", purged.error().message);
            co_return;
        }
        auto& rows = metrics::global().purged_rows;
        rows.Add({{"table", "webhook_deliveries"}})
            .Increment(static_cast<double>(purged->deliveries));
        rows.Add({{"table", "webhook_events"}}).Increment(static_cast<double>(purged->events));
    }

    asio::awaitable<void> loop(std::shared_ptr<Impl> self) {
        const auto lease =
            std::chrono::duration_cast<std::chrono::milliseconds>(settings.webhooks.lease);
        while (self->running) {
            wake_pending = false;
            const std::size_t room = settings.webhooks.concurrency > in_flight
                                         ? settings.webhooks.concurrency - in_flight
                                         : 0;
            if (room > 0) {
                auto claimed = co_await deliveries.claim(settings.owner, lease, room);
                if (!claimed) {
                    spdlog::warn("webhooks: claim failed: {}", claimed.error().message);
                } else {
                    for (auto& delivery : *claimed)
                        spawn_send(std::move(delivery));
                }
            }
            co_await purge_if_due();
            if (wake_pending || !self->running) continue;
            timer.expires_after(settings.webhooks.poll_interval);
            co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
        }
    }

    asio::any_io_executor executor;
    pg::Pool& pool;
    dns::Resolver& resolver;
    Settings settings;
    WebhookDeliveries deliveries;
    dns::AddressPolicy policy;
    RetryPolicy retries;
    asio::ssl::context tls;
    asio::steady_timer timer;
    pg::NotificationListener listener;
    bool running = false;
    bool wake_pending = false;
    std::size_t in_flight = 0;
    Clock::time_point next_purge{};
};

WebhookSender::WebhookSender(asio::any_io_executor executor, pg::Pool& pool,
                             dns::Resolver& resolver, Settings settings)
    : impl_(std::make_shared<Impl>(executor, pool, resolver, std::move(settings))) {}

WebhookSender::~WebhookSender() {
    stop();
}

void WebhookSender::start() {
    if (impl_->running) return;
    impl_->running = true;
    impl_->listener.start();
    spawn_supervised(impl_->executor, "webhook_sender",
                     [impl = impl_] { return impl->loop(impl); });
}

void WebhookSender::stop() {
    impl_->running = false;
    impl_->listener.stop();
    impl_->timer.cancel();
}

}  // namespace smarthost::events
