#include "admin-api/request_target.hpp"

#include <gtest/gtest.h>

namespace smarthost::admin {
namespace {

TEST(RequestTarget, OriginFormIsSplitIntoPathAndQuery) {
    const auto target =
        parse_request_target("/api/v1/messages?account=7&from=2026-11-25T00:00:00%2B01:00");
    ASSERT_TRUE(target);
    EXPECT_EQ(target->path, "/api/v1/messages");
    EXPECT_EQ(target->query, "account=7&from=2026-11-25T00:00:00%2B01:00");

    for (const char* good :
         {"/", "/healthz", "/api/v1/accounts/12/credentials", "/api/v1/accounts?",
          "/api/v1/domains/example.com", "/a-b_c~d/e.f:g@h"}) {
        EXPECT_TRUE(parse_request_target(good)) << good;
    }
}

// Each of these is a second spelling of a route under which a prefix check, a proxy or
// a path normaliser might see another path than the router does.
TEST(RequestTarget, EverySecondSpellingOfAPathIsRefused) {
    for (const char* bad : {
             "",
             "api/v1/accounts",                        // no leading slash (the bypass)
             "http://127.0.0.1:8025/api/v1/accounts",  // absolute-form
             "127.0.0.1:8025",                         // authority-form
             "*",                                      // asterisk-form
             "//api/v1/accounts",                      // network-path reference
             "/api//v1/accounts",                      // empty segment
             "/api/v1/accounts/",                      // trailing slash
             "/api/v1/./accounts",                     // dot segment
             "/api/v1/../v1/accounts",                 // dot-dot segment
             "/api/v1/accounts/..",
             "/api%2Fv1/accounts",       // encoded slash
             "/api/v1/%61ccounts",       // encoded letter
             "/api/v1/accounts%00",      // encoded NUL
             "/api/v1/%2e%2e/accounts",  // encoded dot-dot
             "/api/v1/accounts#top",     // fragment
             "/api/v1/accounts?x=1#top",
             "?limit=5",                      // query only
             "/api/v1/acc ounts",             // space
             "/api/v1/accounts\\..\\tokens",  // backslash
             "/api/v1/accounts?a=\x01",       // control byte in query
             "/api/v1/acco\x7funts",          // DEL
         }) {
        EXPECT_FALSE(parse_request_target(bad)) << bad;
    }
}

}  // namespace
}  // namespace smarthost::admin
