#pragma once
// Reading what an SMTP server says, as pure functions (no I/O): its replies, split off a
// byte stream with their enhanced status codes, and the extensions its EHLO reply offers.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "relay/smtp/reply.hpp"

namespace smarthost::delivery {

// ---- replies (RFC 5321 section 4.2, enhanced codes RFC 3463 / RFC 2034) ----------------

// Splits the server's byte stream into replies. A reply is complete at its last line
// ("250 text" or "250"); continuation lines are "250-text". The enhanced code, when a line
// starts with one whose class matches the reply code, goes to Reply::enhanced and is taken
// off the line texts.
class ReplyReader {
  public:
    // Replies longer than this (all lines) are malformed: a server cannot make us buffer
    // without bound.
    explicit ReplyReader(std::size_t max_reply_bytes = 64 * 1024)
        : max_reply_bytes_(max_reply_bytes) {}

    // Takes one complete reply off the front of `inbox`; nullopt when more bytes are
    // needed or the input is malformed (then malformed() is true and stays true).
    std::optional<smtp::Reply> next(std::string& inbox);
    bool malformed() const { return malformed_; }

  private:
    std::size_t max_reply_bytes_;
    bool malformed_ = false;
};

// Parses one whole reply given as text ("250-a\r\n250 b\r\n"); for tests and tools.
std::optional<smtp::Reply> parse_reply(std::string_view text);

// ---- EHLO (RFC 5321 section 4.1.1.1 and the extensions' RFCs) ---------------------------

struct Capabilities {
    bool esmtp = false;                        // the server answered EHLO (not only HELO)
    bool pipelining = false;                   // RFC 2920
    bool eight_bit_mime = false;               // RFC 6152
    bool smtputf8 = false;                     // RFC 6531
    bool starttls = false;                     // RFC 3207
    bool dsn = false;                          // RFC 3461
    bool enhanced_status_codes = false;        // RFC 2034
    bool size_announced = false;               // RFC 1870
    std::uint64_t max_size = 0;                // SIZE n; 0 means no fixed limit
    std::vector<std::string> auth_mechanisms;  // upper-cased, RFC 4954

    bool offers_auth(std::string_view mechanism) const;
};

Capabilities parse_ehlo(const smtp::Reply& ehlo_reply);

}  // namespace smarthost::delivery
