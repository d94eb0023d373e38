#include "relay/queue/new_message.hpp"

#include <sys/random.h>

#include <cerrno>
#include <chrono>
#include <stdexcept>

namespace smarthost::queue {

MessageId new_message_id() {
    unsigned char id[16];
    std::size_t filled = 6;
    while (filled < sizeof id) {
        const ssize_t got = ::getrandom(id + filled, sizeof id - filled, 0);
        if (got < 0 && errno != EINTR) throw std::runtime_error("getrandom failed");
        if (got > 0) filled += static_cast<std::size_t>(got);
    }
    // RFC 9562 section 5.7: 48-bit Unix milliseconds, version 7, variant 10, random bits.
    const auto millis = std::chrono::duration_cast<std::chrono::milliseconds>(
                            std::chrono::system_clock::now().time_since_epoch())
                            .count();
    for (int i = 0; i < 6; ++i)
        id[i] = static_cast<unsigned char>(millis >> (8 * (5 - i)));
    id[6] = static_cast<unsigned char>(0x70 | (id[6] & 0x0f));
    id[8] = static_cast<unsigned char>(0x80 | (id[8] & 0x3f));
    static constexpr char digits[] = "0123456789abcdef";
    std::string hex;
    hex.reserve(32);
    for (unsigned char byte : id) {
        hex += digits[byte >> 4];
        hex += digits[byte & 0x0f];
    }
    return hex;
}

}  // namespace smarthost::queue
