#include <gtest/gtest.h>

#include "admin-api/messages.hpp"

namespace smarthost::admin {
namespace {

TEST(MessageId, AcceptsHexAndUuidForms) {
    EXPECT_EQ(parse_message_id("0193a1b2c3d47e8f9a0b1c2d3e4f5a6b"),
              "0193a1b2c3d47e8f9a0b1c2d3e4f5a6b");
    EXPECT_EQ(parse_message_id("0193A1B2-C3D4-7E8F-9A0B-1C2D3E4F5A6B"),
              "0193a1b2c3d47e8f9a0b1c2d3e4f5a6b");
}

TEST(MessageId, RefusesAnythingElse) {
    for (const auto* bad :
         {"", "1", "0193a1b2c3d47e8f9a0b1c2d3e4f5a6", "0193a1b2c3d47e8f9a0b1c2d3e4f5a6bc",
          "0193a1b2c3d47e8f9a0b1c2d3e4f5a6g", "0193a1b2-c3d47-e8f-9a0b-1c2d3e4f5a6b",
          "0193a1b2-c3d4-7e8f-9a0b-1c2d3e4f5a6b-", "{0193a1b2-c3d4-7e8f-9a0b-1c2d3e4f5a6b}"})
        EXPECT_EQ(parse_message_id(bad), std::nullopt) << bad;
}

}  // namespace
}  // namespace smarthost::admin
