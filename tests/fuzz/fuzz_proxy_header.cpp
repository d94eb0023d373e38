// Arbitrary bytes through parse_proxy_header, fed the way the session reads them: never
// more than the parser asks for, in pieces of a fuzzed size. Invariants: no crash; the
// parser always asks for at least one byte and never for more than the header's rest;
// a complete header is bounded (107 bytes for v1, 16 + 2048 for v2), its length is what
// was read, and the same bytes given at once parse to the same result; a carried
// address is a valid textual address.

#include <arpa/inet.h>

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "relay/ingress/proxy_header.hpp"

namespace {

using smarthost::ingress::parse_proxy_header;
using Status = smarthost::ingress::ProxyHeaderParse::Status;

void check(bool condition) {
    if (!condition) std::abort();
}

bool valid_address(const std::string& text) {
    std::array<unsigned char, 16> bytes{};
    return inet_pton(AF_INET, text.c_str(), bytes.data()) == 1 ||
           inet_pton(AF_INET6, text.c_str(), bytes.data()) == 1;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size < 1) return 0;
    const std::size_t chunk = 1 + data[0] % 32;
    const std::string_view input(reinterpret_cast<const char*>(data + 1), size - 1);

    std::string received;
    for (;;) {
        const auto parse = parse_proxy_header(received);
        if (parse.status == Status::invalid) {
            check(!parse.error.empty());
            return 0;
        }
        if (parse.status == Status::complete) {
            check(parse.header_bytes == received.size());
            check(parse.version == 1 || parse.version == 2);
            check(parse.header_bytes <=
                  (parse.version == 1 ? smarthost::ingress::k_proxy_v1_max_bytes
                                      : 16 + smarthost::ingress::k_proxy_v2_max_payload_bytes));
            if (parse.client) check(valid_address(parse.client->address));
            // Bytes behind the header change nothing.
            const auto with_more = parse_proxy_header(std::string(input.substr(0, size - 1)));
            check(with_more.status == Status::complete);
            check(with_more.header_bytes == parse.header_bytes);
            check(with_more.client.has_value() == parse.client.has_value());
            if (parse.client) check(with_more.client->address == parse.client->address);
            return 0;
        }
        check(parse.more_bytes >= 1);
        check(parse.more_bytes <= 16 + smarthost::ingress::k_proxy_v2_max_payload_bytes);
        if (received.size() >= input.size()) return 0;  // the input ends inside the header
        const auto take = std::min({parse.more_bytes, chunk, input.size() - received.size()});
        received.append(input.substr(received.size(), take));
    }
}
