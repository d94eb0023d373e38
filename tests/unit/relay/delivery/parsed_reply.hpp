#pragma once
// A server reply for the client-side unit tests, written as the server sends it.

#include <gtest/gtest.h>

#include <string_view>

#include "relay/delivery/server_reply.hpp"

namespace smarthost::delivery::test {

// "250 ok\r\n" as a parsed reply; a text that is no whole reply fails the test.
inline smtp::Reply reply(std::string_view text) {
    auto parsed = parse_reply(text);
    EXPECT_TRUE(parsed) << text;
    return parsed.value_or(smtp::Reply{});
}

}  // namespace smarthost::delivery::test
