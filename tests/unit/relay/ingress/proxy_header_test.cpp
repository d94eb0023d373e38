#include "relay/ingress/proxy_header.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace smarthost::ingress {
namespace {

using Status = ProxyHeaderParse::Status;
using namespace std::string_literals;

const std::string k_v2_signature = "\r\n\r\n\0\r\nQUIT\n"s;

// A v2 header: signature, version 2 + command, family/transport, length, then `payload`.
std::string v2(unsigned char version_command, unsigned char family_transport,
               const std::string& payload) {
    std::string header = k_v2_signature;
    header.push_back(static_cast<char>(version_command));
    header.push_back(static_cast<char>(family_transport));
    header.push_back(static_cast<char>(payload.size() >> 8));
    header.push_back(static_cast<char>(payload.size() & 0xff));
    return header + payload;
}

std::string bytes(std::initializer_list<int> values) {
    std::string text;
    for (int v : values)
        text.push_back(static_cast<char>(v));
    return text;
}

// 192.0.2.10:51234 -> 198.51.100.2:587
const std::string k_inet_block = bytes({192, 0, 2, 10, 198, 51, 100, 2, 0xc8, 0x22, 0x02, 0x4b});
// 2001:db8::7:51234 -> 2001:db8::1:587
const std::string k_inet6_block =
    bytes({0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,    7,    0x20, 0x01,
           0x0d, 0xb8, 0,    0,    0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0xc8, 0x22, 0x02, 0x4b});

ProxyHeaderParse complete_parse(const std::string& input) {
    auto parse = parse_proxy_header(input);
    EXPECT_EQ(parse.status, Status::complete) << parse.error;
    return parse;
}

std::string error_of(const std::string& input) {
    const auto parse = parse_proxy_header(input);
    EXPECT_EQ(parse.status, Status::invalid);
    return parse.error;
}

// ---- version 1 --------------------------------------------------------------------------

TEST(ProxyHeaderV1, Tcp4GivesTheSourceAddressAndPort) {
    const std::string header = "PROXY TCP4 192.0.2.10 198.51.100.2 51234 587\r\n";
    const auto parse = complete_parse(header);
    EXPECT_EQ(parse.version, 1);
    EXPECT_EQ(parse.header_bytes, header.size());
    ASSERT_TRUE(parse.client);
    EXPECT_EQ(parse.client->address, "192.0.2.10");
    EXPECT_EQ(parse.client->port, 51234);
}

TEST(ProxyHeaderV1, Tcp6GivesTheSourceInCanonicalForm) {
    const auto parse = complete_parse("PROXY TCP6 2001:DB8:0:0::7 2001:db8::1 0 65535\r\n");
    ASSERT_TRUE(parse.client);
    EXPECT_EQ(parse.client->address, "2001:db8::7");
    EXPECT_EQ(parse.client->port, 0);
}

TEST(ProxyHeaderV1, Ipv4MappedSourceIsGivenAsIpv4) {
    const auto parse = complete_parse("PROXY TCP6 ::ffff:192.0.2.10 ::1 1 2\r\n");
    ASSERT_TRUE(parse.client);
    EXPECT_EQ(parse.client->address, "192.0.2.10");
}

TEST(ProxyHeaderV1, UnknownKeepsTheConnectionsAddressAndIgnoresTheRest) {
    for (const std::string& header :
         {"PROXY UNKNOWN\r\n"s, "PROXY UNKNOWN 192.0.2.1 whatever it says\r\n"s}) {
        const auto parse = complete_parse(header);
        EXPECT_EQ(parse.header_bytes, header.size());
        EXPECT_FALSE(parse.client);
    }
}

TEST(ProxyHeaderV1, TheLongestLinesAreAccepted) {
    // The spec's worst case, 107 bytes: UNKNOWN followed by two full IPv6 addresses.
    const std::string full = "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff";
    const std::string unknown = "PROXY UNKNOWN " + full + " " + full + " 65535 65535\r\n";
    ASSERT_EQ(unknown.size(), k_proxy_v1_max_bytes);
    EXPECT_EQ(complete_parse(unknown).header_bytes, k_proxy_v1_max_bytes);
    const std::string tcp6 = "PROXY TCP6 " + full + " " + full + " 65535 65535\r\n";
    EXPECT_EQ(complete_parse(tcp6).client->address, full);
}

TEST(ProxyHeaderV1, BytesAfterTheHeaderAreLeftToTheSession) {
    const std::string header = "PROXY TCP4 192.0.2.10 198.51.100.2 51234 587\r\n";
    const auto parse = complete_parse(header + "EHLO client.example\r\n");
    EXPECT_EQ(parse.header_bytes, header.size());
}

TEST(ProxyHeaderV1, MalformedLinesAreRefusedWithTheReason) {
    struct Case {
        std::string header;
        std::string error;
    };
    const std::vector<Case> cases = {
        {"PROXY TCP5 1.2.3.4 1.2.3.5 1 2\r\n", "protocol \"TCP5\" is not TCP4, TCP6 or UNKNOWN"},
        {"PROXY tcp4 1.2.3.4 1.2.3.5 1 2\r\n", "protocol \"tcp4\""},
        {"PROXY UNKNOWNX\r\n", "protocol \"UNKNOWNX\""},
        {"PROXY \r\n", "protocol \"\""},
        {"PROXY TCP4 1.2.3.4 1.2.3.5 1\r\n", "separated by single spaces"},
        {"PROXY TCP4 1.2.3.4 1.2.3.5 1 2 3\r\n", "separated by single spaces"},
        {"PROXY TCP4  1.2.3.4 1.2.3.5 1 2\r\n", "separated by single spaces"},
        {"PROXY TCP4 1.2.3.4 1.2.3.5 1 2 \r\n", "separated by single spaces"},
        {"PROXY TCP4 1.2.3.4\t1.2.3.5 1 2\r\n", "separated by single spaces"},
        {"PROXY TCP4 2001:db8::1 1.2.3.5 1 2\r\n", "source address \"2001:db8::1\" is not an IPv4"},
        {"PROXY TCP6 1.2.3.4 ::1 1 2\r\n", "source address \"1.2.3.4\" is not an IPv6"},
        {"PROXY TCP4 1.2.3.4 ::1 1 2\r\n", "destination address \"::1\" is not an IPv4"},
        {"PROXY TCP4 01.2.3.4 1.2.3.5 1 2\r\n", "source address \"01.2.3.4\""},
        {"PROXY TCP4 1.2.3 1.2.3.5 1 2\r\n", "source address \"1.2.3\""},
        {"PROXY TCP4 256.2.3.4 1.2.3.5 1 2\r\n", "source address \"256.2.3.4\""},
        {"PROXY TCP6 fe80::1%eth0 ::1 1 2\r\n", "source address \"fe80::1%eth0\""},
        {"PROXY TCP4 1.2.3.4 1.2.3.5 65536 2\r\n", "source port \"65536\" is not a number"},
        {"PROXY TCP4 1.2.3.4 1.2.3.5 0587 2\r\n", "source port \"0587\""},
        {"PROXY TCP4 1.2.3.4 1.2.3.5 +1 2\r\n", "source port \"+1\""},
        {"PROXY TCP4 1.2.3.4 1.2.3.5 -1 2\r\n", "source port \"-1\""},
        {"PROXY TCP4 1.2.3.4 1.2.3.5 1 99999\r\n", "destination port \"99999\""},
        {"PROXY TCP4 1.2.3.4 1.2.3.5 1 x\r\n", "destination port \"x\""},
        {"PROXY TCP4 1.2.3.4 1.2.3.5 1 2\n", "bare LF"},
        {"PROXY TCP4 1.2.3.4\r1.2.3.5 1 2\r\n", "a CR inside the line"},
        {"PROXY TCP4 1.2.3.4 1.2.3.5 1 2\0\r\n"s, "destination port \"2\\x00\""},
        {"PROXY TCP4 " + std::string(96, '1') + "\r\n", "no CRLF within 107 bytes"},
        {"PROXY TCP4 1.2.3.4 1.2.3.5 1 2" + std::string(100, ' ') + "\r\n", "no CRLF within"},
    };
    for (const auto& c : cases) {
        const auto error = error_of(c.header);
        EXPECT_NE(error.find(c.error), std::string::npos)
            << "header: " << c.header << "\nerror: " << error;
    }
}

TEST(ProxyHeaderV1, AnSmtpCommandIsNotAHeader) {
    EXPECT_NE(error_of("EHLO client.example\r\n").find("not a PROXY protocol header"),
              std::string::npos);
    // Refused as soon as the bytes differ, without waiting for more.
    EXPECT_EQ(parse_proxy_header("PROXX").status, Status::invalid);
    EXPECT_EQ(parse_proxy_header("proxy ").status, Status::invalid);
}

TEST(ProxyHeaderV1, PiecesAreAskedForWithoutReadingPastTheHeader) {
    const std::string header = "PROXY TCP4 192.0.2.10 198.51.100.2 51234 587\r\n";
    const std::string input = header + "EHLO x\r\n";
    std::string received;
    std::size_t reads = 0;
    for (;;) {
        const auto parse = parse_proxy_header(received);
        if (parse.status == Status::complete) {
            EXPECT_EQ(parse.header_bytes, header.size());
            break;
        }
        ASSERT_EQ(parse.status, Status::incomplete) << parse.error;
        ASSERT_GE(parse.more_bytes, 1u);
        // A reader that gets all it asks for must still stop at the header's end.
        ASSERT_LE(received.size() + parse.more_bytes, header.size());
        received += input.substr(received.size(), parse.more_bytes);
        ++reads;
    }
    EXPECT_EQ(received, header);
    EXPECT_LT(reads, header.size());
}

TEST(ProxyHeaderV1, EveryShortestFormIsReachedWithoutOverreading) {
    for (const std::string& header : {"PROXY UNKNOWN\r\n"s, "PROXY TCP6 :: :: 0 0\r\n"s,
                                      "PROXY TCP4 0.0.0.0 0.0.0.0 0 0\r\n"s}) {
        std::string received;
        for (;;) {
            const auto parse = parse_proxy_header(received);
            if (parse.status == Status::complete) break;
            ASSERT_EQ(parse.status, Status::incomplete) << header << ": " << parse.error;
            ASSERT_LE(received.size() + parse.more_bytes, header.size()) << header;
            received += header.substr(received.size(), parse.more_bytes);
        }
        EXPECT_EQ(received, header);
    }
}

TEST(ProxyHeaderV1, EverySplitOfTheInputGivesTheSameResult) {
    const std::string header = "PROXY TCP6 2001:db8::7 2001:db8::1 51234 587\r\n";
    for (std::size_t split = 0; split <= header.size(); ++split) {
        const auto first = parse_proxy_header(header.substr(0, split));
        if (split < header.size()) {
            EXPECT_EQ(first.status, Status::incomplete) << split;
        }
        const auto whole = parse_proxy_header(header.substr(0, split) + header.substr(split));
        ASSERT_EQ(whole.status, Status::complete);
        EXPECT_EQ(whole.client->address, "2001:db8::7");
    }
}

// ---- version 2 --------------------------------------------------------------------------

TEST(ProxyHeaderV2, ProxyOverInetGivesTheSourceAddressAndPort) {
    const auto header = v2(0x21, 0x11, k_inet_block);
    const auto parse = complete_parse(header);
    EXPECT_EQ(parse.version, 2);
    EXPECT_EQ(parse.header_bytes, 28u);
    ASSERT_TRUE(parse.client);
    EXPECT_EQ(parse.client->address, "192.0.2.10");
    EXPECT_EQ(parse.client->port, 51234);
}

TEST(ProxyHeaderV2, ProxyOverInet6GivesTheSourceAddressAndPort) {
    const auto parse = complete_parse(v2(0x21, 0x21, k_inet6_block));
    EXPECT_EQ(parse.header_bytes, 52u);
    ASSERT_TRUE(parse.client);
    EXPECT_EQ(parse.client->address, "2001:db8::7");
    EXPECT_EQ(parse.client->port, 51234);
}

TEST(ProxyHeaderV2, Ipv4MappedSourceIsGivenAsIpv4) {
    std::string block = k_inet6_block;
    const std::string mapped = bytes({0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 192, 0, 2, 10});
    block.replace(0, 16, mapped);
    EXPECT_EQ(complete_parse(v2(0x21, 0x21, block)).client->address, "192.0.2.10");
}

TEST(ProxyHeaderV2, TlvsAreSkipped) {
    // PP2_TYPE_AUTHORITY "mx.example" and PP2_TYPE_NOOP, after the addresses.
    const std::string tlvs = bytes({0x02, 0x00, 0x0a}) + "mx.example" + bytes({0x04, 0x00, 0x00});
    const auto header = v2(0x21, 0x11, k_inet_block + tlvs);
    const auto parse = complete_parse(header + "EHLO x\r\n");
    EXPECT_EQ(parse.header_bytes, header.size());
    EXPECT_EQ(parse.client->address, "192.0.2.10");
}

TEST(ProxyHeaderV2, LocalAndUnspecKeepTheConnectionsAddress) {
    struct Case {
        unsigned char version_command, family_transport;
        std::string payload;
    };
    const std::vector<Case> cases = {
        {0x20, 0x00, ""},                   // LOCAL, the usual health check
        {0x20, 0x11, k_inet_block},         // LOCAL with addresses: ignored
        {0x20, 0x32, std::string(9, 'x')},  // LOCAL: family and transport ignored
        {0x21, 0x00, ""},                   // PROXY, AF_UNSPEC
        {0x21, 0x00, "some bytes"},         // AF_UNSPEC: the block is skipped
    };
    for (const auto& c : cases) {
        const auto header = v2(c.version_command, c.family_transport, c.payload);
        const auto parse = complete_parse(header);
        EXPECT_EQ(parse.header_bytes, header.size());
        EXPECT_FALSE(parse.client);
    }
}

TEST(ProxyHeaderV2, MalformedHeadersAreRefusedWithTheReason) {
    struct Case {
        std::string header;
        std::string error;
    };
    const std::vector<Case> cases = {
        {v2(0x11, 0x11, k_inet_block), "version 1 is not 2"},
        {v2(0x31, 0x11, k_inet_block), "version 3 is not 2"},
        {v2(0x22, 0x11, k_inet_block), "command 2 is neither LOCAL nor PROXY"},
        {v2(0x2f, 0x11, k_inet_block), "command 15"},
        {v2(0x21, 0x12, k_inet_block), "transport DGRAM is not STREAM"},
        {v2(0x21, 0x10, k_inet_block), "transport UNSPEC is not STREAM"},
        {v2(0x21, 0x31, std::string(216, '\0')), "AF_UNIX"},
        {v2(0x21, 0x41, k_inet_block), "address family 4 is unknown"},
        {v2(0x21, 0x11, k_inet_block.substr(0, 11)), "11 bytes, 12 needed for AF_INET"},
        {v2(0x21, 0x21, k_inet_block), "12 bytes, 36 needed for AF_INET6"},
        {v2(0x21, 0x11, std::string(k_proxy_v2_max_payload_bytes + 1, '\0')),
         "an address block of 2049 bytes (at most 2048 accepted)"},
        {"\r\n\r\n\0\r\nQUIX\n"s + bytes({0x21, 0x11, 0, 12}) + k_inet_block,
         "not a PROXY protocol header"},
    };
    for (const auto& c : cases) {
        const auto error = error_of(c.header);
        EXPECT_NE(error.find(c.error), std::string::npos) << "error: " << error;
    }
}

TEST(ProxyHeaderV2, AnOversizedLengthIsRefusedBeforeTheBlockArrives) {
    const auto header = v2(0x21, 0x11, std::string(60000, '\0'));
    EXPECT_EQ(parse_proxy_header(header.substr(0, 16)).status, Status::invalid);
    // As is a wrong family, before its address block.
    EXPECT_EQ(parse_proxy_header(v2(0x21, 0x12, k_inet_block).substr(0, 16)).status,
              Status::invalid);
}

TEST(ProxyHeaderV2, PiecesAreAskedForWithoutReadingPastTheHeader) {
    const std::string tlvs = bytes({0x04, 0x00, 0x05}) + "12345";
    const auto header = v2(0x21, 0x21, k_inet6_block + tlvs);
    const std::string input = header + "\x16\x03\x01 a TLS ClientHello";
    std::string received;
    for (;;) {
        const auto parse = parse_proxy_header(received);
        if (parse.status == Status::complete) break;
        ASSERT_EQ(parse.status, Status::incomplete) << parse.error;
        ASSERT_LE(received.size() + parse.more_bytes, header.size());
        received += input.substr(received.size(), parse.more_bytes);
    }
    EXPECT_EQ(received, header);
}

TEST(ProxyHeaderV2, EveryPrefixIsIncompleteAndOneByteAtATimeWorks) {
    const auto header = v2(0x21, 0x11, k_inet_block);
    for (std::size_t size = 0; size < header.size(); ++size) {
        const auto parse = parse_proxy_header(header.substr(0, size));
        EXPECT_EQ(parse.status, Status::incomplete) << size << ": " << parse.error;
        const std::size_t until = size == 0 ? 15 : size < 16 ? 16 : header.size();
        EXPECT_EQ(parse.more_bytes, until - size) << size;
    }
}

}  // namespace
}  // namespace smarthost::ingress
