#pragma once
// One /checkv2 exchange with rspamd's normal worker (HTTP/1.1 over TCP, one connection per
// message), bounded in time (connect, send and answer together) and in the answer's size.
// Every way it can fail is a value, never an exception: the caller fails open.

#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "relay/policy/content_scan.hpp"

namespace smarthost::policy {

struct RspamdReply {
    std::optional<ScanAnswer> answer;
    ScanFailure failure = ScanFailure::none;
};

class RspamdClient {
  public:
    struct Settings {
        std::string host;  // an address, or a name (resolved by the system, per scan)
        std::string port;
        std::string target;  // "/checkv2"
        std::chrono::milliseconds timeout{2000};
        std::uint64_t max_answer_bytes = 256 * 1024;
    };
    explicit RspamdClient(Settings settings) : settings_(std::move(settings)) {}

    // `message` must stay alive and unchanged until the call returns.
    boost::asio::awaitable<RspamdReply> check(const ScanEnvelope& envelope,
                                              std::string_view message) const;

  private:
    Settings settings_;
};

}  // namespace smarthost::policy
