#pragma once
// One HTTP/1.1 request, POST for webhooks or GET (the MTA-STS policy fetch,
// relay/delivery/mta_sts_fetch), to one of a server's addresses (tried in order), over TLS
// with the certificate chain and host name verified for https, within one deadline for
// connecting, sending and reading the answer. The answer is read to at most
// k_max_answer_bytes; redirects are not followed (a 3xx is a failure like any non-2xx).

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace boost::asio::ssl {
class context;
}

namespace smarthost::events {

struct WebhookUrl;

inline constexpr std::size_t k_max_answer_bytes = 64 * 1024;

struct PostAnswer {
    PostAnswer(std::optional<int> status_in = {}, std::string error_in = {})
        : status(status_in), error(std::move(error_in)) {}
    std::optional<int> status;  // none: no answer (refused, timeout, TLS failure)
    std::string error;          // why there was no answer; empty with a status
    std::string content_type;   // the answer's Content-Type
    std::string body;           // the answer's body, when `complete`
    bool complete = false;      // the whole body was read, within k_max_answer_bytes
};

using HeaderList = std::vector<std::pair<std::string, std::string>>;

// `tls` is used for https URLs and must outlive the call. The headers are set after the
// defaults (Host, User-Agent "smarthost-webhooks", Content-Type application/json), so
// they may replace them.
boost::asio::awaitable<PostAnswer> post(const WebhookUrl& url,
                                        const std::vector<std::string>& addresses,
                                        const HeaderList& headers, const std::string& body,
                                        boost::asio::ssl::context& tls,
                                        std::chrono::steady_clock::duration timeout);

// A GET of the URL, with no body and no Content-Type.
boost::asio::awaitable<PostAnswer> get(const WebhookUrl& url,
                                       const std::vector<std::string>& addresses,
                                       const HeaderList& headers, boost::asio::ssl::context& tls,
                                       std::chrono::steady_clock::duration timeout);

}  // namespace smarthost::events
