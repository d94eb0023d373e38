#pragma once
// One bound on the memory that message bodies take in the smtp role: every session
// charges the bytes its data section holds, from the first octet until the message is
// committed or refused. Past the bound a DATA gets 452 4.3.1 instead of 354, and a data
// section that would pass it is read to its end without being stored, then answered
// 452 4.3.1, so the client keeps the message and retries (docs/security.md).

#include <atomic>
#include <cstdint>

namespace smarthost::ingress {

class BodyBudget {
  public:
    explicit BodyBudget(std::uint64_t limit_bytes) : limit_(limit_bytes) {}
    BodyBudget(const BodyBudget&) = delete;
    BodyBudget& operator=(const BodyBudget&) = delete;

    std::uint64_t limit() const { return limit_; }
    std::uint64_t held() const { return held_.load(std::memory_order_relaxed); }
    // Room a new data section must find: its first buffer (the Received: field and the
    // reader's first 64 KiB step) with some to spare, so a DATA answered 354 is not one
    // certain to be refused at its end.
    static constexpr std::uint64_t k_room_to_start = 128 * 1024;
    // Whether a new data section may start.
    bool has_room() const { return held() + k_room_to_start <= limit_; }

    // The bytes one session holds, returned when it is reset or destroyed.
    class Charge {
      public:
        Charge() = default;
        explicit Charge(BodyBudget& budget) : budget_(&budget) {}
        Charge(Charge&& other) noexcept;
        Charge& operator=(Charge&& other) noexcept;
        ~Charge() { reset(); }

        // Brings the charge to `bytes`; false, charging nothing more, when that would
        // pass the limit. Shrinking always succeeds.
        bool resize(std::uint64_t bytes);
        void reset() { resize(0); }
        std::uint64_t bytes() const { return bytes_; }

      private:
        BodyBudget* budget_ = nullptr;
        std::uint64_t bytes_ = 0;
    };

  private:
    bool take(std::uint64_t bytes);
    void give_back(std::uint64_t bytes);

    const std::uint64_t limit_;
    std::atomic<std::uint64_t> held_{0};
};

}  // namespace smarthost::ingress
