#include "relay/delivery/mta_sts_fetch.hpp"

#include <boost/asio/ssl/context.hpp>
#include <stdexcept>

#include "relay/dns/address_policy.hpp"
#include "relay/dns/resolver.hpp"
#include "relay/events/http_post.hpp"
#include "relay/events/webhook_url.hpp"

namespace smarthost::delivery {

namespace asio = boost::asio;

namespace {

asio::ssl::context make_tls_context(const std::filesystem::path& ca_file) {
    asio::ssl::context context(asio::ssl::context::tls_client);
    context.set_options(asio::ssl::context::no_sslv2 | asio::ssl::context::no_sslv3 |
                        asio::ssl::context::no_tlsv1 | asio::ssl::context::no_tlsv1_1);
    boost::system::error_code ec;
    if (ca_file.empty())
        context.set_default_verify_paths(ec);
    else
        context.load_verify_file(ca_file.string(), ec);
    if (ec)
        throw std::runtime_error("delivery.tls_ca_file: cannot load CA certificates from \"" +
                                 ca_file.string() + "\": " + ec.message());
    context.set_verify_mode(asio::ssl::verify_peer);
    return context;
}

Error failure(std::string message) {
    return Error{std::move(message), {}};
}

}  // namespace

struct MtaStsFetcher::Impl {
    Impl(dns::Resolver& resolver_in, const dns::AddressPolicy& address_policy_in,
         MtaStsFetchSettings settings_in)
        : resolver(resolver_in),
          address_policy(address_policy_in),
          settings(std::move(settings_in)),
          tls(make_tls_context(settings.ca_file)) {}

    dns::Resolver& resolver;
    const dns::AddressPolicy& address_policy;
    MtaStsFetchSettings settings;
    asio::ssl::context tls;
};

MtaStsFetcher::MtaStsFetcher(dns::Resolver& resolver, const dns::AddressPolicy& address_policy,
                             MtaStsFetchSettings settings)
    : impl_(std::make_unique<Impl>(resolver, address_policy, std::move(settings))) {}

MtaStsFetcher::~MtaStsFetcher() = default;

asio::awaitable<Result<mta_sts::Policy>> MtaStsFetcher::fetch(std::string domain) {
    auto& impl = *impl_;
    events::WebhookUrl url;
    url.https = true;
    url.host = "mta-sts." + domain;
    url.port = impl.settings.port;
    url.target = "/.well-known/mta-sts.txt";
    auto answer = co_await impl.resolver.addresses(url.host);
    if (!answer) co_return failure("resolving " + url.host + ": " + answer.error().message);
    if (answer->status != dns::AnswerStatus::ok)
        co_return failure("resolving " + url.host + ": " + dns::to_string(answer->status));
    std::vector<std::string> addresses;
    std::string refused;
    for (const auto& address : answer->records) {
        if (auto refusal = impl.address_policy.refusal(address))
            refused = *refusal;
        else
            addresses.push_back(address);
    }
    if (addresses.empty()) co_return failure(url.host + ": " + refused);
    events::HeaderList headers;
    headers.emplace_back("User-Agent", "smarthost-mta-sts");
    auto response = co_await events::get(url, addresses, headers, impl.tls, impl.settings.timeout);
    if (!response.status) co_return failure("fetching from " + url.host + ": " + response.error);
    if (!response.complete)
        co_return failure("the policy from " + url.host + " is larger than 64 KiB or cut short");
    co_return mta_sts::policy_from_response(*response.status, response.content_type, response.body);
}

}  // namespace smarthost::delivery
