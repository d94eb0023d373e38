#include "relay/dns/rdata.hpp"

#include <arpa/inet.h>

#include <cstdint>

namespace smarthost::dns::rdata {

namespace {

std::optional<std::string> address_text(int family, std::string_view rdata, std::size_t size) {
    if (rdata.size() != size) return std::nullopt;
    char text[INET6_ADDRSTRLEN] = {};
    if (!inet_ntop(family, rdata.data(), text, sizeof text)) return std::nullopt;
    return std::string(text);
}

bool plain_label_byte(unsigned char byte) {
    return (byte >= 'a' && byte <= 'z') || (byte >= 'A' && byte <= 'Z') ||
           (byte >= '0' && byte <= '9') || byte == '-' || byte == '_';
}

}  // namespace

std::optional<std::string> parse_a(std::string_view rdata) {
    return address_text(AF_INET, rdata, 4);
}

std::optional<std::string> parse_aaaa(std::string_view rdata) {
    return address_text(AF_INET6, rdata, 16);
}

std::optional<std::string> name_to_text(std::string_view wire) {
    std::string text;
    std::size_t at = 0;
    for (;;) {
        if (at >= wire.size()) return std::nullopt;
        const auto length = static_cast<unsigned char>(wire[at++]);
        if (length == 0) break;
        if (length > 63 || at + length > wire.size()) return std::nullopt;  // or a pointer
        if (!text.empty()) text += '.';
        for (unsigned char byte : wire.substr(at, length)) {
            if (plain_label_byte(byte)) {
                text += static_cast<char>(byte);
            } else {
                text += '\\';
                text += static_cast<char>('0' + byte / 100);
                text += static_cast<char>('0' + byte / 10 % 10);
                text += static_cast<char>('0' + byte % 10);
            }
        }
        at += length;
    }
    if (at != wire.size()) return std::nullopt;
    return text.empty() ? std::string(".") : text;
}

std::optional<MxRecord> parse_mx(std::string_view rdata) {
    if (rdata.size() < 3) return std::nullopt;
    const auto high = static_cast<unsigned char>(rdata[0]);
    const auto low = static_cast<unsigned char>(rdata[1]);
    auto exchange = name_to_text(rdata.substr(2));
    if (!exchange) return std::nullopt;
    return MxRecord{static_cast<std::uint16_t>(high << 8 | low), std::move(*exchange)};
}

std::optional<std::string> parse_txt(std::string_view rdata) {
    if (rdata.empty()) return std::nullopt;
    std::string text;
    std::size_t at = 0;
    while (at < rdata.size()) {
        const auto length = static_cast<unsigned char>(rdata[at++]);
        if (at + length > rdata.size()) return std::nullopt;
        text.append(rdata.substr(at, length));
        at += length;
    }
    return text;
}

std::optional<TlsaRecord> parse_tlsa(std::string_view rdata) {
    if (rdata.size() < 3) return std::nullopt;
    TlsaRecord record;
    record.usage = static_cast<std::uint8_t>(rdata[0]);
    record.selector = static_cast<std::uint8_t>(rdata[1]);
    record.matching_type = static_cast<std::uint8_t>(rdata[2]);
    record.data = std::string(rdata.substr(3));
    return record;
}

}  // namespace smarthost::dns::rdata
