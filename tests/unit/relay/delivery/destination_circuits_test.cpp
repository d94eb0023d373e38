#include "relay/delivery/destination_circuits.hpp"

#include <gtest/gtest.h>

namespace smarthost::delivery {
namespace {

using namespace std::chrono_literals;

const CircuitTime k_noon = CircuitTime(std::chrono::seconds(1795608000));  // 2026-11-25T12:00Z

ShapingConfig settings() {
    ShapingConfig c;
    c.circuit_failures = 3;
    c.circuit_window = 300s;
    c.circuit_cooldown = 600s;
    return c;
}

TEST(CircuitBreaker, ThresholdFailuresWithinTheWindowOpenTheCircuitForTheCooldown) {
    CircuitState state;
    state = after_failure(state, settings(), k_noon, "451 4.4.1 connection refused");
    state = after_failure(state, settings(), k_noon + 10s, "451 4.4.1 connection refused");
    EXPECT_EQ(state.failures, 2u);
    EXPECT_FALSE(state.open_until);
    EXPECT_EQ(gate(state, k_noon + 11s), HostGate::pass);
    state = after_failure(state, settings(), k_noon + 20s, "451 4.4.2 timed out");
    ASSERT_TRUE(state.open_until);
    EXPECT_EQ(*state.open_until, k_noon + 620s);
    EXPECT_EQ(state.last_error, "451 4.4.2 timed out");
    EXPECT_EQ(gate(state, k_noon + 619s), HostGate::skip);
    EXPECT_EQ(reopens_at(state), k_noon + 620s);
}

TEST(CircuitBreaker, FailuresOutsideTheWindowStartItAgain) {
    CircuitState state;
    state = after_failure(state, settings(), k_noon, "refused");
    state = after_failure(state, settings(), k_noon + 100s, "refused");
    state = after_failure(state, settings(), k_noon + 301s, "refused");  // the window ended
    EXPECT_EQ(state.failures, 1u);
    EXPECT_EQ(state.first_failure_at, k_noon + 301s);
    EXPECT_FALSE(state.open_until);
}

TEST(CircuitBreaker, AfterTheCooldownOneProbeDecides) {
    CircuitState state;
    for (int i = 0; i < 3; ++i)
        state = after_failure(state, settings(), k_noon, "refused");
    const auto half_open = k_noon + 600s;
    EXPECT_EQ(gate(state, half_open), HostGate::probe);
    const auto probing = with_probe(state, half_open + 40s);
    EXPECT_EQ(gate(probing, half_open + 1s), HostGate::skip);  // another worker's probe is out
    EXPECT_EQ(reopens_at(probing), half_open + 40s);
    EXPECT_EQ(gate(probing, half_open + 41s), HostGate::probe);  // that probe never reported
    // A failed probe opens it again for a whole cool-down.
    const auto reopened = after_failure(probing, settings(), half_open + 5s, "refused");
    EXPECT_EQ(*reopened.open_until, half_open + 605s);
    EXPECT_FALSE(reopened.probe_until);
    EXPECT_EQ(gate(reopened, half_open + 6s), HostGate::skip);
}

TEST(CircuitBreaker, OnlyConnectionLevelFailuresCount) {
    queue::AttemptResult failure;
    failure.stage = queue::Stage::connect;
    EXPECT_TRUE(is_connection_failure(failure));
    failure.stage = queue::Stage::greeting;
    EXPECT_TRUE(is_connection_failure(failure));
    for (auto stage : {queue::Stage::ehlo, queue::Stage::starttls, queue::Stage::rcpt,
                       queue::Stage::data, queue::Stage::local}) {
        failure.stage = stage;
        EXPECT_FALSE(is_connection_failure(failure));
    }
}

}  // namespace
}  // namespace smarthost::delivery
