#include "relay/policy/dnsbl.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <memory>
#include <stdexcept>

#include "core/ascii.hpp"
#include "core/metrics/metrics.hpp"
#include "core/spawn.hpp"
#include "relay/dns/resolver.hpp"

namespace smarthost::policy {
namespace {

namespace asio = boost::asio;

int weight(BlocklistAction action) {
    switch (action) {
        case BlocklistAction::reject:
            return 3;
        case BlocklistAction::tempfail:
            return 2;
        case BlocklistAction::tag:
            return 1;
    }
    return 0;
}

void replace_all(std::string& text, std::string_view from, std::string_view to) {
    for (auto at = text.find(from); at != std::string::npos; at = text.find(from, at + to.size()))
        text.replace(at, from.size(), to);
}

std::vector<dns::Network> parse_networks(const std::vector<std::string>& entries,
                                         std::string_view what) {
    std::vector<dns::Network> networks;
    for (const auto& entry : entries) {
        auto network = dns::Network::parse(entry);
        if (!network)
            throw std::invalid_argument(
                fmt::format("{}: \"{}\" is not an address or network", what, entry));
        networks.push_back(*network);
    }
    return networks;
}

}  // namespace

std::optional<std::string> reversed_address(std::string_view ip) {
    boost::system::error_code ec;
    auto address = asio::ip::make_address(std::string(ip), ec);
    if (ec) return std::nullopt;
    if (address.is_v6() && address.to_v6().is_v4_mapped())
        address = asio::ip::make_address_v4(asio::ip::v4_mapped, address.to_v6());
    std::string name;
    if (address.is_v4()) {
        const auto bytes = address.to_v4().to_bytes();
        for (auto it = bytes.rbegin(); it != bytes.rend(); ++it)
            name += fmt::format("{}{}", name.empty() ? "" : ".", *it);
        return name;
    }
    // RFC 5782 section 2.4: every nibble, least significant first.
    static constexpr char k_hex[] = "0123456789abcdef";
    const auto bytes = address.to_v6().to_bytes();
    for (auto it = bytes.rbegin(); it != bytes.rend(); ++it) {
        if (!name.empty()) name += '.';
        name += k_hex[*it & 0x0f];
        name += '.';
        name += k_hex[*it >> 4];
    }
    return name;
}

ListedAnswers::ListedAnswers(const std::vector<std::string>& entries)
    : networks_(parse_networks(entries, "listed_answers")) {
    if (networks_.empty()) networks_.push_back(*dns::Network::parse("127.0.0.0/8"));
}

std::optional<std::string> ListedAnswers::listed(const std::vector<std::string>& answers) const {
    for (const auto& answer : answers) {
        const auto address = dns::Network::parse(answer);
        if (!address) continue;
        for (const auto& network : networks_)
            if (network.contains(*address)) return answer;
    }
    return std::nullopt;
}

std::string lookup_url(std::string_view url_template, std::string_view looked_up) {
    std::string url(url_template);
    replace_all(url, "{ip}", looked_up);
    replace_all(url, "{domain}", looked_up);
    return url;
}

const BlocklistHit* BlocklistResult::strongest() const {
    const BlocklistHit* best = nullptr;
    for (const auto& hit : hits)
        if (!best || weight(hit.action) > weight(best->action)) best = &hit;
    return best;
}

bool BlocklistResult::auth_suspicious() const {
    return std::any_of(hits.begin(), hits.end(), [](const auto& h) { return h.auth_suspicious; });
}

std::string BlocklistResult::tag_summary() const {
    std::string summary;
    for (const auto& hit : hits) {
        if (hit.action != BlocklistAction::tag) continue;
        if (!summary.empty()) summary += ", ";
        summary += hit.zone + "=" + hit.answer;
    }
    return summary;
}

std::optional<smtp::Reply> client_refusal_at_connect(const BlocklistHit& hit, std::string_view ip) {
    // reject: the greeting itself is the refusal (RFC 5321 section 3.1). tempfail is
    // answered at MAIL instead, so that the client gets a 451 for its message and queues
    // it, rather than a 421 that many submission clients show as a connection error.
    if (hit.action != BlocklistAction::reject) return std::nullopt;
    return smtp::reply::client_listed(554, "5.7.1", ip, hit.zone, hit.url);
}

std::optional<smtp::Reply> client_refusal_at_mail(const BlocklistHit& hit, std::string_view ip) {
    if (hit.action != BlocklistAction::tempfail) return std::nullopt;
    return smtp::reply::client_listed(451, "4.7.1", ip, hit.zone, hit.url);
}

std::optional<smtp::Reply> sender_domain_refusal(const BlocklistHit& hit, std::string_view domain) {
    switch (hit.action) {
        case BlocklistAction::reject:
            return smtp::reply::sender_domain_listed(550, "5.7.1", domain, hit.zone, hit.url);
        case BlocklistAction::tempfail:
            return smtp::reply::sender_domain_listed(451, "4.7.1", domain, hit.zone, hit.url);
        case BlocklistAction::tag:
            break;
    }
    return std::nullopt;
}

struct Blocklists::Zone {
    BlocklistZone config;
    ListedAnswers listed;
};

struct BlocklistZones {
    explicit BlocklistZones(const PolicyConfig& config)
        : exempt(parse_networks(config.dnsbl_exempt_networks, "policy.dnsbl_exempt_networks")) {
        for (const auto& zone : config.dnsbl)
            client_zones.push_back(Blocklists::Zone{zone, ListedAnswers(zone.listed_answers)});
        for (const auto& zone : config.domain_blocklist)
            domain_zones.push_back(Blocklists::Zone{zone, ListedAnswers(zone.listed_answers)});
    }
    std::vector<Blocklists::Zone> client_zones;
    std::vector<Blocklists::Zone> domain_zones;
    std::vector<dns::Network> exempt;
};

namespace {

// The shared_ptr aliasing form: one zone list that keeps its whole set alive.
using ZoneList = std::shared_ptr<const std::vector<Blocklists::Zone>>;
ZoneList client_zones_of(const std::shared_ptr<const BlocklistZones>& set) {
    return {set, &set->client_zones};
}
ZoneList domain_zones_of(const std::shared_ptr<const BlocklistZones>& set) {
    return {set, &set->domain_zones};
}

}  // namespace

Blocklists::Blocklists(dns::Resolver& resolver, const PolicyConfig& config)
    : resolver_(resolver), zones_(prepare(config)) {}

std::shared_ptr<const BlocklistZones> Blocklists::prepare(const PolicyConfig& config) {
    return std::make_shared<const BlocklistZones>(config);
}

void Blocklists::reconfigure(std::shared_ptr<const BlocklistZones> zones) {
    zones_ = std::move(zones);
}

bool Blocklists::checks_clients() const {
    return !zones_->client_zones.empty();
}

bool Blocklists::checks_sender_domains() const {
    return !zones_->domain_zones.empty();
}

asio::awaitable<BlocklistResult> Blocklists::check_client(std::string ip) {
    BlocklistResult none;
    const auto set = zones_;
    if (set->client_zones.empty()) co_return none;
    const auto address = dns::Network::parse(ip);
    if (!address) co_return none;
    for (const auto& network : set->exempt)
        if (network.contains(*address)) co_return none;
    auto label = reversed_address(ip);
    if (!label) co_return none;
    auto result = co_await check(client_zones_of(set), std::move(*label), std::move(ip));
    co_return result;
}

asio::awaitable<BlocklistResult> Blocklists::check_sender_domain(std::string domain) {
    BlocklistResult none;
    const auto set = zones_;
    domain = to_lower(domain);
    // An address literal or an empty domain is not something a domain list can name.
    if (set->domain_zones.empty() || domain.empty() || domain.front() == '[') co_return none;
    auto result = co_await check(domain_zones_of(set), domain, domain);
    co_return result;
}

asio::awaitable<std::vector<ZoneOutcome>> Blocklists::check_own_address(std::string ip) {
    std::vector<ZoneOutcome> none;
    const auto set = zones_;
    auto label = reversed_address(ip);
    if (!label || set->client_zones.empty()) co_return none;
    auto outcomes = co_await lookup(client_zones_of(set), std::move(*label), std::move(ip));
    co_return outcomes;
}

asio::awaitable<std::vector<ZoneOutcome>> Blocklists::lookup(std::shared_ptr<const Zones> zones,
                                                             std::string label,
                                                             std::string looked_up) {
    using Status = ZoneOutcome::Status;
    struct Shared {
        explicit Shared(asio::any_io_executor ex, std::size_t n) : done(ex), outcomes(n) {}
        asio::steady_timer done;
        std::vector<ZoneOutcome> outcomes;
        std::size_t remaining = 0;
    };
    auto executor = co_await asio::this_coro::executor;
    auto shared = std::make_shared<Shared>(executor, zones->size());
    shared->remaining = zones->size();
    shared->done.expires_at(asio::steady_timer::time_point::max());
    for (std::size_t i = 0; i < zones->size(); ++i) {
        auto ask = [this, shared, zones, i, name = label + "." + (*zones)[i].config.zone,
                    looked_up]() -> asio::awaitable<void> {
            const Zone& zone = (*zones)[i];
            auto answer = co_await resolver_.a(name, zone.config.timeout);
            ZoneOutcome& out = shared->outcomes[i];
            out.zone = zone.config.zone;
            const char* metric = "not_listed";
            if (!answer) {
                out.status = Status::error;
                metric = "error";
                spdlog::warn("dnsbl: {} lookup failed: {}", name, answer.error().message);
            } else if (answer->status == dns::AnswerStatus::timeout) {
                out.status = Status::timeout;
                metric = "timeout";
            } else if (answer->status == dns::AnswerStatus::temporary) {
                out.status = Status::error;
                metric = "error";
            } else if (answer->status == dns::AnswerStatus::ok) {
                if (auto listed = zone.listed.listed(answer->records)) {
                    out.status = Status::listed;
                    metric = "listed";
                    out.hit = BlocklistHit{zone.config.zone, zone.config.action, *listed,
                                           lookup_url(zone.config.lookup_url, looked_up),
                                           zone.config.auth_suspicious};
                }
            }
            metrics::global()
                .dnsbl_lookups.Add({{"zone", zone.config.zone}, {"result", metric}})
                .Increment();
            if (--shared->remaining == 0) shared->done.cancel();
        };
        spawn_logged(executor, "dnsbl_lookup", std::move(ask));
    }
    while (shared->remaining > 0)
        co_await shared->done.async_wait(asio::as_tuple(asio::use_awaitable));
    for (std::size_t i = 0; i < zones->size(); ++i) {
        if (shared->outcomes[i].status != Status::timeout) continue;
        ++timeouts_;
        spdlog::warn("dnsbl: {} did not answer for {} within {} ms; not counted as listed",
                     (*zones)[i].config.zone, looked_up, (*zones)[i].config.timeout.count());
    }
    std::vector<ZoneOutcome> outcomes = std::move(shared->outcomes);
    co_return outcomes;
}

asio::awaitable<BlocklistResult> Blocklists::check(std::shared_ptr<const Zones> zones,
                                                   std::string label, std::string looked_up) {
    auto outcomes = co_await lookup(zones, std::move(label), std::move(looked_up));
    BlocklistResult result;
    for (std::size_t i = 0; i < outcomes.size(); ++i) {
        if (outcomes[i].hit) result.hits.push_back(std::move(*outcomes[i].hit));
        if (outcomes[i].status == ZoneOutcome::Status::timeout)
            result.timed_out.push_back((*zones)[i].config.zone);
    }
    co_return result;
}

}  // namespace smarthost::policy
