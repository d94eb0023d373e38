// The bytes of bodies the delivery role holds (relay/delivery/body_budget): counted once
// per body however many domain batches share it, given back when the last one lets go.

#include "relay/delivery/body_budget.hpp"

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <utility>

#include "core/metrics/metrics.hpp"
#include "relay/queue/claims.hpp"

namespace smarthost::delivery {
namespace {

queue::ClaimedMessage message_with(std::shared_ptr<const std::string> body) {
    queue::ClaimedMessage message;
    message.body = std::move(body);
    return message;
}

// One message to two domains (one shared body), another to the first only, one purged.
queue::Claim claim_of(std::size_t shared_bytes, std::size_t own_bytes) {
    auto shared = std::make_shared<const std::string>(shared_bytes, 's');
    queue::Claim claim;
    claim.domains.push_back({"x.example", {}});
    claim.domains[0].messages.push_back(message_with(shared));
    claim.domains[0].messages.push_back(
        message_with(std::make_shared<const std::string>(own_bytes, 'o')));
    claim.domains[0].messages.push_back(message_with(nullptr));
    claim.domains.push_back({"y.example", {}});
    claim.domains[1].messages.push_back(message_with(shared));
    return claim;
}

double gauge() {
    return metrics::global().delivery_body_bytes.Value();
}

TEST(BodyBudget, ABodySharedByTwoDomainsIsHeldOnceUntilBothLetGo) {
    std::size_t releases = 0;
    BodyBudget budget(1000, [&] { ++releases; });
    const double before = gauge();
    auto claim = claim_of(300, 200);
    budget.hold(claim);
    EXPECT_EQ(budget.held(), 500u);
    EXPECT_EQ(budget.room(), 500u);
    EXPECT_EQ(gauge() - before, 500);
    EXPECT_EQ(*claim.domains[1].messages[0].body, std::string(300, 's'));
    EXPECT_EQ(claim.domains[0].messages[0].body, claim.domains[1].messages[0].body);
    EXPECT_FALSE(claim.domains[0].messages[2].body);

    auto x = std::move(claim.domains[0]);
    auto y = std::move(claim.domains[1]);
    x.messages.clear();  // the shared body lives on in y's batch
    EXPECT_EQ(budget.held(), 300u);
    EXPECT_EQ(releases, 1u);
    y.messages.clear();
    EXPECT_EQ(budget.held(), 0u);
    EXPECT_EQ(budget.room(), 1000u);
    EXPECT_EQ(releases, 2u);
    EXPECT_EQ(gauge(), before);
}

TEST(BodyBudget, NoRoomOnceTheBoundIsReachedOrPassed) {
    BodyBudget budget(400, [] {});
    auto claim = claim_of(300, 200);  // a claim's first message may pass the bound alone
    budget.hold(claim);
    EXPECT_EQ(budget.held(), 500u);
    EXPECT_EQ(budget.room(), 0u);
}

TEST(BodyBudget, BodiesOutlivingTheBudgetLeaveTheGaugeAsItWas) {
    const double before = gauge();
    auto claim = claim_of(10, 20);
    {
        BodyBudget budget(1000, [] {});
        budget.hold(claim);
        EXPECT_EQ(gauge() - before, 30);
    }
    EXPECT_EQ(gauge(), before);
    claim.domains.clear();
    EXPECT_EQ(gauge(), before);
}

}  // namespace
}  // namespace smarthost::delivery
