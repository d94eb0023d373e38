// End to end: PROXY protocol v1 and v2 in front of the SMTP listeners (docs/smtp.md,
// "PROXY protocol"). The test plays the load balancer from 127.0.0.5 with swaks' --proxy
// options and with a raw client; the client addresses it carries are other 127.0.0.x.

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "tests/e2e/harness.hpp"
#include "tests/support/test_database.hpp"

namespace smarthost::e2e {
namespace {

using namespace std::string_literals;

// Not 127.0.0.1: the harness probes the ports from there before the networks are added,
// and the server caches that it found no allow-listed network for it.
constexpr const char* k_proxy_ip = "127.0.0.5";     // trusted; allow-listed for "proxyowner"
constexpr const char* k_customer_ip = "127.0.0.2";  // allow-listed for "customer"
constexpr const char* k_stranger_ip = "127.0.0.3";  // nobody's network, not a trusted proxy
constexpr const char* k_other_ip = "127.0.0.4";     // nobody's network

const std::string k_trusted = "proxy_protocol = true\ntrusted_proxies = [\"127.0.0.5/32\"]\n";

ServerOptions proxied_listeners() {
    ServerOptions options;
    options.listeners = {
        {"lb", "starttls", true, k_trusted},
        {"lbs", "implicit", true, k_trusted},
        {"lb-one-per-ip", "starttls", true, k_trusted + "max_connections_per_ip = 1\n"},
        {"direct", "starttls", true},
    };
    return options;
}

std::string v1_header(const std::string& client_ip) {
    return "PROXY TCP4 " + client_ip + " 127.0.0.1 40000 587\r\n";
}

class ProxyProtocol : public ::testing::Test {
  protected:
    ProxyProtocol() : server_(db_.url(), proxied_listeners()) {}

    void SetUp() override {
        account_id_ = db_.create_account("customer");
        db_.add_sender_domain(account_id_, "customer.example");
        db_.exec("INSERT INTO allowed_networks (account_id, network) VALUES ($1, $2)", account_id_,
                 std::string(k_customer_ip) + "/32");
        // The proxy's own address is allow-listed too, for another account: were it used
        // instead of the carried one, mail would relay (and for the wrong account).
        proxy_owner_id_ = db_.create_account("proxyowner");
        db_.add_sender_domain(proxy_owner_id_, "customer.example");
        db_.exec("INSERT INTO allowed_networks (account_id, network) VALUES ($1, $2)",
                 proxy_owner_id_, std::string(k_proxy_ip) + "/32");
    }

    void TearDown() override {
        if (HasFailure()) std::cerr << "---- smarthost log ----\n" << server_.log() << '\n';
    }

    std::string port(const std::string& listener) { return std::to_string(server_.port(listener)); }

    // The stored message's account, client address and Received: header field.
    struct Stored {
        std::string account_id, client_ip, received;
    };
    Stored stored(const std::string& id) {
        const auto rows = db_.exec(
            "SELECT account_id, host(client_ip), "
            "split_part(encode(substring(body from 1 for 400), 'escape'), ';', 1) "
            "FROM messages WHERE id = $1::uuid",
            id);
        EXPECT_EQ(rows.size(), 1u);
        if (rows.size() != 1) return {};
        return {*rows[0][0], *rows[0][1], *rows[0][2]};
    }

    // One message through `listener`, swaks playing the load balancer at k_proxy_ip and
    // carrying `client_ip` in a header of `version` ("1" or "2").
    CommandResult swaks_via_proxy(const std::string& listener, const std::string& version,
                                  const std::string& client_ip,
                                  const std::vector<std::string>& extra = {}) {
        std::vector<std::string> args{"--server",
                                      "127.0.0.1:" + port(listener),
                                      "--local-interface",
                                      k_proxy_ip,
                                      "--proxy-version",
                                      version,
                                      "--proxy-family",
                                      version == "1" ? "TCP4" : "AF_INET",
                                      "--proxy-source",
                                      client_ip,
                                      "--proxy-source-port",
                                      "40000",
                                      "--proxy-dest",
                                      "127.0.0.1",
                                      "--proxy-dest-port",
                                      port(listener),
                                      "--from",
                                      "app@customer.example",
                                      "--to",
                                      "someone@example.org"};
        args.insert(args.end(), extra.begin(), extra.end());
        return swaks(args);
    }

    void expect_relayed_for_customer(const CommandResult& result) {
        ASSERT_EQ(result.exit_code, 0) << result.output;
        const auto id = queued_id(result.output);
        ASSERT_FALSE(id.empty()) << result.output;
        const auto message = stored(id);
        EXPECT_EQ(message.account_id, std::to_string(account_id_));
        EXPECT_EQ(message.client_ip, k_customer_ip);
        EXPECT_NE(message.received.find("[127.0.0.2]"), std::string::npos) << message.received;
        EXPECT_EQ(message.received.find(k_proxy_ip), std::string::npos) << message.received;
    }

    test::TestDatabase db_;
    SmarthostServer server_;
    std::int64_t account_id_ = 0;
    std::int64_t proxy_owner_id_ = 0;
};

TEST_F(ProxyProtocol, V1CarriedAddressIsAllowListedAndInReceived) {
    expect_relayed_for_customer(swaks_via_proxy("lb", "1", k_customer_ip));
}

TEST_F(ProxyProtocol, V2CarriedAddressIsAllowListedAndInReceived) {
    expect_relayed_for_customer(swaks_via_proxy(
        "lb", "2", k_customer_ip, {"--proxy-protocol", "STREAM", "--proxy-command", "PROXY"}));
}

TEST_F(ProxyProtocol, HeaderComesBeforeTheImplicitTlsHandshake) {
    expect_relayed_for_customer(swaks_via_proxy("lbs", "2", k_customer_ip, {"--tls-on-connect"}));
}

TEST_F(ProxyProtocol, CarriedAddressOutsideEveryNetworkGets530ThoughTheProxysIsListed) {
    const auto result = swaks_via_proxy("lb", "1", k_other_ip);
    EXPECT_NE(result.exit_code, 0);
    EXPECT_NE(result.output.find("530 5.7.0"), std::string::npos) << result.output;
    EXPECT_EQ(*db_.exec("SELECT count(*) FROM messages").at(0).at(0), "0");
}

TEST_F(ProxyProtocol, HeaderInPiecesWithCommandsRightBehindIt) {
    RawSmtpClient client(server_.port("lb"), k_proxy_ip);
    const std::string header = v1_header(k_customer_ip);
    client.send(header.substr(0, 4));
    client.send(header.substr(4) + "EHLO client.example\r\n");
    EXPECT_EQ(reply_code(client.reply()), 220);
    EXPECT_EQ(reply_code(client.reply()), 250);  // the EHLO sent with the header's tail
    EXPECT_EQ(reply_code(client.command("MAIL FROM:<app@customer.example>")), 250);
    EXPECT_EQ(reply_code(client.command("RCPT TO:<someone@example.org>")), 250);
}

TEST_F(ProxyProtocol, LocalCommandKeepsTheProxysOwnAddress) {
    RawSmtpClient client(server_.port("lb"), k_proxy_ip);
    client.send("\r\n\r\n\0\r\nQUIT\n\x20\x00\x00\x00"s);  // v2 LOCAL, no address block
    EXPECT_EQ(reply_code(client.reply()), 220);
    EXPECT_EQ(reply_code(client.command("EHLO client.example")), 250);
    EXPECT_EQ(reply_code(client.command("MAIL FROM:<app@customer.example>")), 250);
    // Allow-listed as the proxy itself: the "proxyowner" account's network.
    EXPECT_EQ(reply_code(client.command("RCPT TO:<someone@example.org>")), 250);
}

TEST_F(ProxyProtocol, PeerOutsideTrustedProxiesIsClosedWithoutAGreeting) {
    RawSmtpClient client(server_.port("lb"), k_stranger_ip);
    client.send(v1_header(k_customer_ip));
    EXPECT_EQ(client.reply(), "");
    EXPECT_TRUE(client.closed());
}

TEST_F(ProxyProtocol, MalformedHeadersAreClosedWithoutAGreeting) {
    for (const std::string& input :
         {"PROXY TCP4 127.0.0.2 127.0.0.1 65536 587\r\n"s, "PROXY TCP6 127.0.0.2 ::1 1 2\r\n"s,
          "EHLO client.example\r\n"s,
          "\r\n\r\n\0\r\nQUIT\n\x21\x12\x00\x0c"s + std::string(12, 'x')}) {
        RawSmtpClient client(server_.port("lb"), k_proxy_ip);
        client.send(input);
        EXPECT_EQ(client.reply(), "") << input;
        EXPECT_TRUE(client.closed()) << input;
    }
}

TEST_F(ProxyProtocol, NoHeaderInTimeIsClosedWithoutAGreeting) {
    RawSmtpClient client(server_.port("lb"), k_proxy_ip);
    client.send("PROXY TCP4 127.0.0.2");  // and then nothing: 5 s allowed
    EXPECT_EQ(client.reply(std::chrono::seconds(15)), "");
    EXPECT_TRUE(client.closed());
}

TEST_F(ProxyProtocol, PerIpLimitCountsTheCarriedAddressNotTheProxys) {
    RawSmtpClient first(server_.port("lb-one-per-ip"), k_proxy_ip);
    first.send(v1_header(k_customer_ip));
    EXPECT_EQ(reply_code(first.reply()), 220);

    RawSmtpClient second(server_.port("lb-one-per-ip"), k_proxy_ip);
    second.send(v1_header(k_customer_ip));
    const auto refused = second.reply();
    EXPECT_EQ(reply_code(refused), 421) << refused;
    EXPECT_NE(refused.find("4.7.0"), std::string::npos) << refused;

    RawSmtpClient other(server_.port("lb-one-per-ip"), k_proxy_ip);
    other.send(v1_header(k_other_ip));
    EXPECT_EQ(reply_code(other.reply()), 220);
}

TEST_F(ProxyProtocol, ListenerWithoutItTakesAProxyLineAsAnUnknownCommand) {
    RawSmtpClient client(server_.port("direct"), k_customer_ip);
    EXPECT_EQ(reply_code(client.reply()), 220);
    const auto reply = client.command("PROXY TCP4 127.0.0.4 127.0.0.1 40000 587");
    EXPECT_EQ(reply_code(reply), 500) << reply;
    EXPECT_EQ(reply_code(client.command("EHLO client.example")), 250);
}

}  // namespace
}  // namespace smarthost::e2e
