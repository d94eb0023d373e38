#include "relay/smtp/data_reader.hpp"

#include <sys/mman.h>

#include <algorithm>
#include <cstdint>
#include <cstring>

namespace smarthost::smtp {

namespace {

// Scanner states, kept in DataReader::state_ between calls so input may be split anywhere.
enum ScanState : int {
    line_start = 0,  // after CRLF, or at the start of the data section
    mid_line,        // inside a line (also after a bare LF: that is no line start)
    dot_seen,        // a "." at a line start
    dot_cr,          // ".\r" at a line start: LF now ends the data
    cr_seen,         // a CR inside a line: LF now ends the line
};

const char* find_byte(const char* begin, const char* end, char c) {
    return static_cast<const char*>(std::memchr(begin, c, static_cast<std::size_t>(end - begin)));
}

// A large body's buffer is a mapping of its own (serve() fixes glibc's mmap threshold).
// Asking for transparent huge pages spares the kernel a page fault per 4 KiB while the
// body is written into it: on a virtual machine those faults tripled the time to take
// 100 bodies of 10 MiB (bench/RESULTS.md "Body memory"). Only advice: THP may be off.
void advise_huge_pages(std::string& buffer) {
    constexpr std::uintptr_t huge_page = 2 * 1024 * 1024;
    if (buffer.capacity() < huge_page) return;
    const auto start = reinterpret_cast<std::uintptr_t>(buffer.data());
    const auto begin = (start + huge_page - 1) & ~(huge_page - 1);
    const auto end = (start + buffer.capacity()) & ~(huge_page - 1);
    if (end > begin) ::madvise(reinterpret_cast<void*>(begin), end - begin, MADV_HUGEPAGE);
}

}  // namespace

DataReader::DataReader(std::uint64_t max_message_bytes, std::size_t max_line_bytes)
    : max_message_bytes_(max_message_bytes), max_line_bytes_(max_line_bytes) {}

// The buffer grows by a quarter, not libstdc++'s doubling, so a body holds at most about
// 1.25 times its size (what BodyBudget charges is the capacity); growing in steps of at
// least this keeps small bodies from reallocating at every line.
constexpr std::size_t k_min_growth = 64 * 1024;

// A declared size's buffer is charged as it is written, always at least this far beyond
// the data (a transparent huge page is resident whole once touched): its untouched rest is
// not memory the process uses, and charging it at once would let a client hold the bound
// with SIZE= alone.
constexpr std::size_t k_charge_ahead = 2 * 1024 * 1024;

void DataReader::start_with(std::string_view prefix) {
    body_.assign(prefix);
    if (!charge(body_.capacity())) problem(DataResult::no_storage);
}

bool DataReader::charge(std::uint64_t bytes) {
    if (grant_ && !grant_(bytes)) return false;
    charged_ = bytes;
    return true;
}

void DataReader::expect_size(std::uint64_t declared_bytes) {
    if (result_ != DataResult::ok || declared_bytes > max_message_bytes_) return;
    // What a client declares is near the stored size: dot-unstuffing only shrinks it.
    const std::size_t capacity = body_.size() + static_cast<std::size_t>(declared_bytes);
    if (capacity <= body_.capacity()) return;
    const std::size_t written = std::min(capacity, body_.size() + 2 * k_charge_ahead);
    if (!charge(charged_ + written)) return;  // it grows as it comes
    std::string reserved;
    reserved.reserve(capacity);
    advise_huge_pages(reserved);
    reserved.append(body_);
    body_.swap(reserved);
    std::string().swap(reserved);
    charge(written);
}

void DataReader::problem(DataResult result) {
    if (result_ != DataResult::ok) return;  // the first problem wins
    result_ = result;
    body_.clear();
    body_.shrink_to_fit();
    charge(body_.capacity());
}

bool DataReader::grow_for(std::size_t count) {
    const std::size_t size = body_.size();
    if (size + count <= body_.capacity()) {
        // A grown buffer is charged whole; a declared size's, in steps as it is written.
        const std::size_t capacity = body_.capacity();
        if (std::min(capacity, size + count + k_charge_ahead) <= charged_) return true;
        return charge(std::min(capacity, size + count + 2 * k_charge_ahead));
    }
    const std::size_t capacity = std::max(size + count, size + size / 4 + k_min_growth);
    if (!charge(charged_ + capacity)) return false;
    // reserve() on a new string allocates exactly, where it would double this one's.
    std::string grown;
    grown.reserve(capacity);
    advise_huge_pages(grown);
    grown.append(body_);
    body_.swap(grown);
    std::string().swap(grown);
    charge(body_.capacity());
    return true;
}

void DataReader::append(const char* octets, std::size_t count) {
    body_octets_ += count;
    if (result_ != DataResult::ok) return;
    if (body_octets_ > max_message_bytes_) {
        problem(DataResult::too_big);
        return;
    }
    if (!grow_for(count)) {
        problem(DataResult::no_storage);
        return;
    }
    body_.append(octets, count);
}

void DataReader::count_line_octets(std::size_t count) {
    line_length_ += count;
    // The limit includes the CRLF (RFC 5321 section 4.5.3.1.6).
    if (line_length_ + 2 > max_line_bytes_) problem(DataResult::line_too_long);
}

std::size_t DataReader::consume(std::string_view input) {
    const char* const begin = input.data();
    const char* const end = begin + input.size();
    const char* p = begin;
    while (p < end && !finished_) {
        switch (state_) {
            case line_start:
                line_length_ = 0;
                if (*p == '.') {
                    // Dot-stuffing (RFC 5321 section 4.5.2): the first dot is not data.
                    count_line_octets(1);
                    state_ = dot_seen;
                    ++p;
                } else {
                    state_ = mid_line;
                }
                break;
            case dot_seen:
                if (*p == '\r') {
                    state_ = dot_cr;
                    ++p;
                } else {
                    state_ = mid_line;
                }
                break;
            case dot_cr:
                if (*p == '\n') {
                    finished_ = true;  // CRLF "." CRLF: the only end of the data
                    ++p;
                } else {
                    problem(DataResult::bare_cr);
                    state_ = mid_line;
                }
                break;
            case cr_seen:
                if (*p == '\n') {
                    append("\r\n", 2);
                    state_ = line_start;
                    ++p;
                } else {
                    problem(DataResult::bare_cr);
                    count_line_octets(1);
                    state_ = mid_line;
                }
                break;
            default: {
                // The hot path: copy the run of ordinary octets up to the next CR, LF or NUL.
                const char* stop = find_byte(p, end, '\n');
                if (stop == nullptr) stop = end;
                if (const char* cr = find_byte(p, stop, '\r')) stop = cr;
                if (const char* nul = find_byte(p, stop, '\0')) stop = nul;
                if (stop > p) {
                    // Two steps, so the problem found first is the one an octet-by-octet
                    // reader would find first, however the input is split.
                    auto count = static_cast<std::size_t>(stop - p);
                    auto room = line_length_ + 2 < max_line_bytes_
                                    ? max_line_bytes_ - 2 - line_length_
                                    : std::size_t{0};
                    auto within_line = std::min(count, room);
                    count_line_octets(within_line);
                    append(p, within_line);
                    count_line_octets(count - within_line);
                    append(p + within_line, count - within_line);
                    p = stop;
                }
                if (p == end) break;
                if (*p == '\r') {
                    state_ = cr_seen;
                } else if (*p == '\n') {
                    // A bare LF is a line end to some receivers and not to others: the
                    // root of SMTP smuggling. It ends nothing here, and it is no line start
                    // for the terminator, so "\n.\n", "\n.\r\n" and "\r\n.\n" never end it.
                    problem(DataResult::bare_lf);
                    line_length_ = 0;
                } else {
                    problem(DataResult::nul);
                    count_line_octets(1);
                }
                ++p;
                break;
            }
        }
    }
    auto used = static_cast<std::size_t>(p - begin);
    octets_ += used;
    return used;
}

}  // namespace smarthost::smtp
