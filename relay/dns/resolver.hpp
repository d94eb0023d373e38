#pragma once
// Asynchronous DNS lookups: libunbound's asynchronous API driven by Asio (its result
// pipe, ub_fd(), watched with a stream_descriptor; ub_process() runs the callbacks).
//
// Threading: a Resolver and every coroutine that calls it run on ONE executor (one
// io_context thread, or one strand), like pg::Pool. libunbound resolves on its own
// background thread; its answers come back through the pipe onto that executor.
//
// Caching: libunbound's context caches answers (positive and negative) for their TTL;
// every Resolver has one context, so one Resolver per process shares one cache.
//
// DNSSEC: validated only when Settings::trust_anchor_file is set (libunbound's validator
// module); answers then say whether they are `secure`, and bogus ones come as
// `temporary`. Without it every answer is insecure, so DANE never applies. Validation
// needs forwarders that pass DNSSEC records on (unbound, BIND, Knot Resolver do; dnsmasq
// without its dnssec options and many stub resolvers strip them, which makes the answers
// of signed zones bogus).

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/result.hpp"
#include "relay/dns/answers.hpp"

namespace smarthost::dns {

const char* to_string(AnswerStatus status);

namespace rr_type {
inline constexpr int a = 1;
inline constexpr int mx = 15;
inline constexpr int txt = 16;
inline constexpr int aaaa = 28;
inline constexpr int tlsa = 52;
}  // namespace rr_type

class Resolver {
  public:
    struct Settings {
        // "address@port" or "address" (port 53); sent to ub_ctx_set_fwd. Empty: the
        // servers of resolv_conf. With forwarders, names under .test (RFC 6761) are asked
        // too instead of being NXDOMAIN locally, so test DNS servers can serve them.
        std::vector<std::string> forwarders;
        std::chrono::milliseconds timeout{10000};  // per query
        // Address families that addresses() looks up (delivery targets).
        bool ipv4 = true;
        bool ipv6 = true;
        std::string resolv_conf = "/etc/resolv.conf";
        // DS or DNSKEY records in zone-file format (ub_ctx_add_ta_file), e.g. the root's
        // (/usr/share/dns/root.ds); empty: no validation.
        std::string trust_anchor_file;
    };

    // Throws std::runtime_error when libunbound rejects the configuration (a start-up
    // error: a malformed forwarder, an unreadable resolv.conf).
    Resolver(boost::asio::any_io_executor executor, Settings settings);
    ~Resolver();
    Resolver(const Resolver&) = delete;
    Resolver& operator=(const Resolver&) = delete;

    // A DNS outcome (even NXDOMAIN or a timeout) is an Answer; an Error means the
    // question could not be asked or the answer not read (bad name, malformed rdata,
    // libunbound failure, resolver destroyed).
    // `timeout` zero: Settings::timeout. DNSBL zones bring their own, shorter ones.
    boost::asio::awaitable<Result<RawAnswer>> query(std::string name, int type,
                                                    std::chrono::milliseconds timeout = {});
    boost::asio::awaitable<Result<MxAnswer>> mx(std::string domain);
    boost::asio::awaitable<Result<AddressAnswer>> a(std::string name,
                                                    std::chrono::milliseconds timeout = {});
    boost::asio::awaitable<Result<AddressAnswer>> aaaa(std::string name);
    boost::asio::awaitable<Result<TxtAnswer>> txt(std::string name);
    // "_25._tcp.mx.example.com" (RFC 6698); records of unknown kinds are kept as they are.
    boost::asio::awaitable<Result<TlsaAnswer>> tlsa(std::string name);

    // A and/or AAAA (as enabled in Settings), asked concurrently and merged, IPv4 first
    // (IPv4 paths to receivers tend to have the PTR records and reputation they check).
    // ok when either family has addresses; otherwise the more telling failure
    // (temporary/timeout over nxdomain over nodata), TTL the smaller of the two. Secure
    // only when every family asked was answered securely (RFC 7672 section 2.2).
    boost::asio::awaitable<Result<AddressAnswer>> addresses(std::string name);

    const Settings& settings() const;
    std::size_t pending() const;  // queries in flight, for tests and metrics

  private:
    struct Impl;
    std::shared_ptr<Impl> impl_;
};

}  // namespace smarthost::dns
