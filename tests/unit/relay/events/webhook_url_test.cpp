#include "relay/events/webhook_url.hpp"

#include <gtest/gtest.h>

namespace smarthost::events {
namespace {

std::optional<WebhookUrl> parse(std::string_view url) {
    std::string why;
    return parse_webhook_url(url, why);
}

std::string refusal(std::string_view url) {
    std::string why;
    EXPECT_FALSE(parse_webhook_url(url, why)) << url;
    return why;
}

TEST(WebhookUrl, ParsesHostPortAndTarget) {
    const auto url = parse("https://Hooks.Example.com:8443/in/smarthost?token=x");
    ASSERT_TRUE(url);
    EXPECT_TRUE(url->https);
    EXPECT_EQ(url->host, "hooks.example.com");
    EXPECT_EQ(url->port, 8443);
    EXPECT_EQ(url->target, "/in/smarthost?token=x");
    EXPECT_FALSE(url->host_is_address);
}

TEST(WebhookUrl, DefaultsPortAndTarget) {
    const auto http = parse("http://127.0.0.1");
    ASSERT_TRUE(http);
    EXPECT_EQ(http->port, 80);
    EXPECT_EQ(http->target, "/");
    EXPECT_TRUE(http->host_is_address);
    const auto https = parse("https://hooks.example.com?a=1");
    ASSERT_TRUE(https);
    EXPECT_EQ(https->port, 443);
    EXPECT_EQ(https->target, "/?a=1");
}

TEST(WebhookUrl, TakesBracketedIpv6) {
    const auto url = parse("http://[::1]:8080/x");
    ASSERT_TRUE(url);
    EXPECT_EQ(url->host, "::1");
    EXPECT_EQ(url->port, 8080);
    EXPECT_TRUE(url->host_is_address);
}

TEST(WebhookUrl, RefusesOtherSchemesCredentialsFragmentsAndJunk) {
    EXPECT_EQ(refusal("ftp://example.com/"), "must start with http:// or https://");
    EXPECT_EQ(refusal("file:///etc/passwd"), "must start with http:// or https://");
    EXPECT_EQ(refusal("http://user:pass@example.com/"), "must not contain a user name or password");
    EXPECT_EQ(refusal("http://example.com/#x"), "must not have a fragment");
    EXPECT_EQ(refusal("http://exa mple.com/"),
              "must not contain spaces, control or non-ASCII characters (percent-encode them)");
    EXPECT_EQ(refusal("http://example.com\r\nHost: evil/"),
              "must not contain spaces, control or non-ASCII characters (percent-encode them)");
    EXPECT_EQ(refusal("http://:80/"), "must have a host name or IP address");
    EXPECT_EQ(refusal("http://-bad.example/"), "must have a host name or IP address");
    EXPECT_EQ(refusal("http://example.com:0/"), "has a port outside 1..65535");
    EXPECT_EQ(refusal("http://example.com:65536/"), "has a port outside 1..65535");
    EXPECT_EQ(refusal("http://example.com:80a/"), "has an invalid port");
    EXPECT_EQ(refusal("http://example.com:/"), "has an empty port");
    EXPECT_EQ(refusal("http://[::1/"), "has an unclosed [ in its host");
    EXPECT_EQ(refusal("http://[nothing]/"), "has an invalid IPv6 address");
    EXPECT_EQ(refusal("http://example.com/" + std::string(2100, 'a')),
              "must be at most 2048 characters");
}

}  // namespace
}  // namespace smarthost::events
