#pragma once
// The parts of an HTTP exchange the routes see: plain values, no Beast types, so routes
// and problems are testable without sockets.

#include <string>
#include <utility>
#include <vector>

namespace smarthost::admin {

struct Request {
    std::string method;  // "GET", "POST", ...
    std::string path;    // without the query string
    std::string query;   // after '?', not decoded
    std::string content_type;
    std::string authorization;
    std::string body;
};

struct Response {
    unsigned status = 200;
    std::string content_type = "application/json";
    std::string body;
    std::vector<std::pair<std::string, std::string>> headers;
};

inline Response json_response(unsigned status, std::string body) {
    Response response;
    response.status = status;
    response.body = std::move(body);
    return response;
}

inline Response no_content() {
    Response response;
    response.status = 204;
    response.content_type.clear();
    return response;
}

}  // namespace smarthost::admin
