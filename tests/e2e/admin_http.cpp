#include "tests/e2e/admin_http.hpp"

#include <boost/json.hpp>
#include <cstdlib>

#include "tests/e2e/harness.hpp"

namespace smarthost::e2e {

HttpResult http(const std::string& method, std::uint16_t port, const std::string& path,
                const std::string& token, const std::string& body) {
    std::vector<std::string> argv{"curl",
                                  "-sS",
                                  "-X",
                                  method,
                                  "-o",
                                  "-",
                                  "-w",
                                  "\n%{http_code} %{content_type}",
                                  "-H",
                                  "Authorization: Bearer " + token,
                                  "http://127.0.0.1:" + std::to_string(port) + path};
    if (!body.empty()) {
        argv.insert(argv.end(), {"-H", "Content-Type: application/json", "--data-binary", body});
    }
    const auto result = run_command(argv);
    HttpResult out;
    const auto newline = result.output.rfind('\n');
    if (result.exit_code != 0 || newline == std::string::npos) return out;
    const auto trailer = result.output.substr(newline + 1);
    out.status = std::atoi(trailer.c_str());
    if (const auto space = trailer.find(' '); space != std::string::npos)
        out.content_type = trailer.substr(space + 1);
    out.text = result.output.substr(0, newline);
    boost::system::error_code ec;
    out.body = boost::json::parse(out.text, ec);
    if (ec) out.body = nullptr;
    return out;
}

}  // namespace smarthost::e2e
