#pragma once
// Reads the DATA section (RFC 5321 section 4.1.1.4): dot-unstuffing, termination only on
// CRLF.CRLF, and the checks that keep one message from being smuggled into another.

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

namespace smarthost::smtp {

enum class DataResult {
    ok,
    bare_lf,        // LF not preceded by CR somewhere in the data
    bare_cr,        // CR not followed by LF
    nul,            // a NUL octet
    line_too_long,  // a line longer than the limit (with CRLF)
    too_big,        // more octets than the message size limit
    no_storage,     // the memory granted for bodies would not hold it (452 4.3.1)
};

class DataReader {
  public:
    DataReader(std::uint64_t max_message_bytes, std::size_t max_line_bytes);

    // Bytes the body starts with (the Received: field the relay adds), so the message is
    // built in one buffer and never copied to put them in front. Not counted against the
    // message size limit. Call before consume().
    void start_with(std::string_view prefix);
    // Asked before the body's buffer grows, with the bytes the reader would then hold
    // (while growing, the old and the new buffer); false stops storing the body
    // (DataResult::no_storage). Also told when the reader gives memory back.
    using Grant = std::function<bool(std::uint64_t bytes_held)>;
    void limit_storage(Grant grant) { grant_ = std::move(grant); }
    // Makes room at once for a body of the size the client declared (MAIL FROM SIZE=,
    // RFC 1870), when the size limit and the grant allow it: one buffer, never copied
    // as it grows, charged as it is written. Without it, or for a body larger than
    // declared, the buffer grows.
    void expect_size(std::uint64_t declared_bytes);
    // Stops storing the body: the rest of the data section is read and dropped.
    void refuse_storage() { problem(DataResult::no_storage); }

    // Consumes data octets and returns how many it used. It stops right after the
    // terminating CRLF.CRLF, so bytes the client pipelined after it stay with the caller.
    // After a problem it keeps reading to the terminator but stops storing the body.
    std::size_t consume(std::string_view input);

    bool finished() const { return finished_; }
    DataResult result() const { return result_; }
    // Octets seen in the data section so far (before unstuffing), for logs and limits.
    std::uint64_t octets() const { return octets_; }
    // The message with CRLF line ends and dots unstuffed, without the final ".".
    // Complete only when finished() and result() == ok.
    std::string take_body() { return std::move(body_); }
    // Bytes of memory charged for the body's buffer now: its capacity, or for a declared
    // size what has been written and a little ahead.
    std::uint64_t held() const { return charged_; }

  private:
    void problem(DataResult result);
    void append(const char* octets, std::size_t count);
    void count_line_octets(std::size_t count);
    bool grow_for(std::size_t count);
    bool charge(std::uint64_t bytes);  // tells the grant; false if refused

    std::uint64_t max_message_bytes_;
    std::size_t max_line_bytes_;
    std::string body_;
    Grant grant_;
    std::uint64_t charged_ = 0;
    std::uint64_t octets_ = 0;
    std::uint64_t body_octets_ = 0;  // after unstuffing, compared with max_message_bytes_
    std::size_t line_length_ = 0;
    int state_ = 0;  // implementation-defined scanner state
    bool finished_ = false;
    DataResult result_ = DataResult::ok;
};

}  // namespace smarthost::smtp
