// Arbitrary server bytes through the delivery client's ReplyReader and parse_ehlo
// (relay/delivery/client_machine.cpp), in pieces of a fuzzed size and whole. Invariants:
// no crash; memory stays within the reader's limit; every reply has a code of 100..599
// whose class its enhanced code shares, and at least one line; chunking never changes
// the replies or where the input turns malformed; the capabilities of any reply are
// consistent (upper-case AUTH mechanisms, each once; a size only when SIZE was given).

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "relay/delivery/client_machine.hpp"

namespace {

using namespace smarthost;
using delivery::ReplyReader;

void check(bool condition) {
    if (!condition) std::abort();
}

constexpr std::size_t k_max_reply_bytes = 512;

struct Replies {
    std::vector<smtp::Reply> replies;
    bool malformed = false;
};

Replies read(std::string_view input, std::size_t chunk) {
    ReplyReader reader(k_max_reply_bytes);
    Replies out;
    std::string inbox;
    for (std::size_t offset = 0; offset < input.size(); offset += chunk) {
        inbox.append(input.substr(offset, chunk));
        while (auto reply = reader.next(inbox))
            out.replies.push_back(std::move(*reply));
        // What waits for the rest of a reply stays within the limit.
        if (!reader.malformed()) check(inbox.size() <= k_max_reply_bytes);
    }
    out.malformed = reader.malformed();
    return out;
}

void check_reply(const smtp::Reply& reply) {
    check(reply.code >= 100 && reply.code <= 599);
    check(!reply.lines.empty());
    if (!reply.enhanced.empty()) {
        check(reply.enhanced[0] == '0' + reply.code / 100);
        check(reply.enhanced.size() >= 5 && reply.enhanced.size() <= 9);
    }
    std::size_t bytes = 0;
    for (const auto& line : reply.lines) {
        check(line.find('\n') == std::string::npos);
        bytes += line.size();
    }
    check(bytes <= k_max_reply_bytes);

    const auto caps = delivery::parse_ehlo(reply);
    check(caps.esmtp == (reply.code == 250));
    if (!caps.size_announced) check(caps.max_size == 0);
    for (std::size_t i = 0; i < caps.auth_mechanisms.size(); ++i) {
        const auto& mechanism = caps.auth_mechanisms[i];
        check(!mechanism.empty());
        for (char c : mechanism)
            check(!(c >= 'a' && c <= 'z') && c != ' ' && c != '=');
        check(caps.offers_auth(mechanism));
        for (std::size_t k = 0; k < i; ++k)
            check(caps.auth_mechanisms[k] != mechanism);
    }
    const auto text = reply.summary();
    check(text.starts_with(std::to_string(reply.code)));
}

bool same(const smtp::Reply& a, const smtp::Reply& b) {
    return a.code == b.code && a.enhanced == b.enhanced && a.lines == b.lines;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size < 1) return 0;
    const std::size_t chunk = 1 + data[0] % 64;
    const std::string_view input(reinterpret_cast<const char*>(data + 1), size - 1);

    const auto pieces = read(input, chunk);
    const auto whole = read(input, input.size() + 1);
    check(pieces.malformed == whole.malformed);
    check(pieces.replies.size() == whole.replies.size());
    for (std::size_t i = 0; i < whole.replies.size(); ++i) {
        check(same(pieces.replies[i], whole.replies[i]));
        check_reply(whole.replies[i]);
    }
    return 0;
}
