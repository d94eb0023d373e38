#include "relay/ingress/body_budget.hpp"

#include <gtest/gtest.h>

#include <utility>

namespace smarthost::ingress {
namespace {

TEST(IngressBodyBudget, ChargesAddUpToTheLimitAndNoFurther) {
    BodyBudget budget(1000);
    BodyBudget::Charge first(budget);
    BodyBudget::Charge second(budget);
    EXPECT_TRUE(first.resize(600));
    EXPECT_TRUE(second.resize(400));
    EXPECT_EQ(budget.held(), 1000u);
    EXPECT_FALSE(second.resize(401));
    EXPECT_EQ(second.bytes(), 400u);  // a refused growth charges nothing more
    EXPECT_TRUE(first.resize(100));   // shrinking always succeeds
    EXPECT_TRUE(second.resize(900));
    EXPECT_EQ(budget.held(), 1000u);
}

TEST(IngressBodyBudget, AChargeGivesItsBytesBackWhenResetMovedOrDestroyed) {
    BodyBudget budget(1000);
    {
        BodyBudget::Charge charge(budget);
        ASSERT_TRUE(charge.resize(700));
        BodyBudget::Charge moved = std::move(charge);
        EXPECT_EQ(budget.held(), 700u);
        charge = BodyBudget::Charge(budget);  // the moved-from one starts again at 0
        ASSERT_TRUE(charge.resize(300));
        EXPECT_EQ(budget.held(), 1000u);
        moved.reset();
        EXPECT_EQ(budget.held(), 300u);
    }
    EXPECT_EQ(budget.held(), 0u);
}

TEST(IngressBodyBudget, ADataSectionStartsOnlyWhereItsFirstBufferFits) {
    BodyBudget budget(1024 * 1024);
    EXPECT_TRUE(budget.has_room());
    BodyBudget::Charge charge(budget);
    ASSERT_TRUE(charge.resize(budget.limit() - BodyBudget::k_room_to_start));
    EXPECT_TRUE(budget.has_room());
    ASSERT_TRUE(charge.resize(budget.limit() - BodyBudget::k_room_to_start + 1));
    EXPECT_FALSE(budget.has_room());
    charge.reset();
    EXPECT_TRUE(budget.has_room());
}

TEST(IngressBodyBudget, AChargeOfNoBudgetIsUnbounded) {
    BodyBudget::Charge charge;
    EXPECT_TRUE(charge.resize(std::uint64_t{1} << 40));
}

}  // namespace
}  // namespace smarthost::ingress
