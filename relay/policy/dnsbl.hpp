#pragma once
// DNS blocklists (docs/policy.md, "DNSBL"): the client address at connect ([[policy.dnsbl]])
// and the envelope sender's domain at MAIL ([[policy.domain_blocklist]]) looked up in the
// configured zones, all zones at once, each with its own deadline. A zone that does not
// answer in time fails open: mail is not refused because a blocklist is slow.
//
// The pure parts (query names, answer matching, the verdict) are free functions below;
// Blocklists only asks the resolver. Answers are cached for their TTL by the resolver's
// libunbound context (positive and negative), so repeated connections from one client
// cost no DNS traffic.

#include <boost/asio/awaitable.hpp>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/config.hpp"
#include "relay/dns/address_policy.hpp"
#include "relay/smtp/reply.hpp"

namespace smarthost::dns {
class Resolver;
}

namespace smarthost::policy {

// "127.0.0.2" → "2.0.0.127"; "::1" → 32 reversed nibbles ("1.0.0. … .0"); nullopt when
// `ip` is not an address. IPv4-mapped IPv6 addresses are looked up as IPv4.
std::optional<std::string> reversed_address(std::string_view ip);

// Which A records mean "listed" for one zone: addresses or networks; none configured
// means any 127.0.0.0/8 answer (RFC 5782 section 2.1), so that answers outside it
// (a resolver that redirects NXDOMAIN, a blocklist's "you are querying through a public
// resolver" 127.255.255.x codes excepted) are not taken for listings.
class ListedAnswers {
  public:
    // Throws std::invalid_argument naming the entry that is not an address or network.
    explicit ListedAnswers(const std::vector<std::string>& entries);
    // The first answer that means listed, if any.
    std::optional<std::string> listed(const std::vector<std::string>& answers) const;

  private:
    std::vector<dns::Network> networks_;
};

// "{ip}" and "{domain}" in a zone's lookup_url replaced by what was looked up.
std::string lookup_url(std::string_view url_template, std::string_view looked_up);

struct BlocklistHit {
    std::string zone;
    BlocklistAction action = BlocklistAction::tag;
    std::string answer;  // the A record that meant listed
    std::string url;     // lookup_url with the address or domain filled in
    bool auth_suspicious = false;
};

struct BlocklistResult {
    std::vector<BlocklistHit> hits;      // zones that list it, in configuration order
    std::vector<std::string> timed_out;  // zones that did not answer in time (failed open)
    // The hit whose action weighs most (reject over tempfail over tag), if any.
    const BlocklistHit* strongest() const;
    bool auth_suspicious() const;
    // "zone=answer, zone=answer" of the tag hits, for the X-Smarthost-DNSBL header.
    std::string tag_summary() const;
};

// The refusals; nullopt for tag (and no hit).
std::optional<smtp::Reply> client_refusal_at_connect(const BlocklistHit& hit, std::string_view ip);
std::optional<smtp::Reply> client_refusal_at_mail(const BlocklistHit& hit, std::string_view ip);
std::optional<smtp::Reply> sender_domain_refusal(const BlocklistHit& hit, std::string_view domain);

// One zone's answer about one address or domain.
struct ZoneOutcome {
    enum class Status { listed, not_listed, timeout, error };
    std::string zone;
    Status status = Status::not_listed;
    std::optional<BlocklistHit> hit;  // when listed
};

// The zones and exempt networks of one configuration, checked (defined in dnsbl.cpp). A
// check holds the set it started with until it ends: a SIGHUP meanwhile changes nothing
// there.
struct BlocklistZones;

// Threading: every member runs on the resolver's I/O thread.
class Blocklists {
  public:
    struct Zone;  // one configured zone and its listed_answers

    // Throws std::invalid_argument for a bad listed_answers entry or exempt network.
    Blocklists(dns::Resolver& resolver, const PolicyConfig& config);

    // Throws std::invalid_argument like the constructor; for SIGHUP, before anything is
    // applied.
    static std::shared_ptr<const BlocklistZones> prepare(const PolicyConfig& config);
    // Checks that start afterwards use `zones`. Cached answers are raw A records: the
    // new listed_answers rules are applied to them too.
    void reconfigure(std::shared_ptr<const BlocklistZones> zones);

    bool checks_clients() const;
    bool checks_sender_domains() const;

    // Empty result for exempt clients and unparsable addresses.
    boost::asio::awaitable<BlocklistResult> check_client(std::string ip);
    boost::asio::awaitable<BlocklistResult> check_sender_domain(std::string domain);

    // Every [[policy.dnsbl]] zone's answer about one of our own outbound addresses (no
    // exemptions), in configuration order; for the outbound reputation checks.
    boost::asio::awaitable<std::vector<ZoneOutcome>> check_own_address(std::string ip);

    std::uint64_t timeouts() const { return timeouts_; }  // zone lookups that failed open

  private:
    using Zones = std::vector<Zone>;
    // `zones` shares ownership of the BlocklistZones it belongs to.
    boost::asio::awaitable<std::vector<ZoneOutcome>> lookup(std::shared_ptr<const Zones> zones,
                                                            std::string label,
                                                            std::string looked_up);
    boost::asio::awaitable<BlocklistResult> check(std::shared_ptr<const Zones> zones,
                                                  std::string label, std::string looked_up);

    dns::Resolver& resolver_;
    std::shared_ptr<const BlocklistZones> zones_;
    std::uint64_t timeouts_ = 0;
};

}  // namespace smarthost::policy
