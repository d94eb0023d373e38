#include "relay/ingress/drain.hpp"

#include <gtest/gtest.h>

#include <vector>

namespace smarthost::ingress {
namespace {

TEST(Drain, ServesUntilBegunThenDrainsThenCloses) {
    Drain drain;
    EXPECT_EQ(drain.phase(), Drain::Phase::serving);
    EXPECT_FALSE(drain.stopping());
    drain.begin();
    EXPECT_EQ(drain.phase(), Drain::Phase::draining);
    EXPECT_TRUE(drain.stopping());
    drain.close();
    EXPECT_EQ(drain.phase(), Drain::Phase::closing);
    drain.begin();  // a second SIGTERM does not reopen the grace period
    EXPECT_EQ(drain.phase(), Drain::Phase::closing);
}

TEST(Drain, SubscribersHearEachPhaseChangeOnceUntilTheyUnsubscribe) {
    Drain drain;
    std::vector<Drain::Phase> heard;
    const auto token = drain.subscribe([&] { heard.push_back(drain.phase()); });
    int other_heard = 0;
    drain.subscribe([&] { ++other_heard; });
    drain.begin();
    drain.begin();
    EXPECT_EQ(heard, std::vector<Drain::Phase>{Drain::Phase::draining});
    drain.unsubscribe(token);
    EXPECT_EQ(drain.subscribers(), 1u);
    drain.close();
    EXPECT_EQ(heard.size(), 1u);
    EXPECT_EQ(other_heard, 2);
}

TEST(Drain, ANoticeMayUnsubscribeOthers) {
    Drain drain;
    Drain::Token second = 0;
    int second_heard = 0;
    drain.subscribe([&] { drain.unsubscribe(second); });
    second = drain.subscribe([&] { ++second_heard; });
    drain.begin();  // the copy of the notices taken before the first ran still calls it
    EXPECT_EQ(drain.subscribers(), 1u);
    drain.close();
    EXPECT_EQ(second_heard, 1);
}

}  // namespace
}  // namespace smarthost::ingress
