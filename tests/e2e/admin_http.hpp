#pragma once
// Requests to the admin API of a server under test, through curl.

#include <boost/json/value.hpp>
#include <cstdint>
#include <string>

namespace smarthost::e2e {

struct HttpResult {
    int status = 0;  // 0: curl failed
    std::string content_type;
    std::string text;         // the body as received
    boost::json::value body;  // parsed; null when it is not JSON
};

HttpResult http(const std::string& method, std::uint16_t port, const std::string& path,
                const std::string& token, const std::string& body = {});

}  // namespace smarthost::e2e
