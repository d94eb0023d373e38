#include "relay/policy/dns_facts.hpp"

#include "core/ascii.hpp"

namespace smarthost::policy {
namespace {

template <class Map>
const typename Map::mapped_type* find_in(const Map& map, std::string_view name) {
    const auto found = map.find(normalized_name(name));
    return found == map.end() ? nullptr : &found->second;
}

}  // namespace

const char* to_string(DnsQuestion::Type type) {
    switch (type) {
        case DnsQuestion::Type::a:
            return "A";
        case DnsQuestion::Type::aaaa:
            return "AAAA";
        case DnsQuestion::Type::mx:
            return "MX";
        case DnsQuestion::Type::txt:
            break;
    }
    return "TXT";
}

std::string normalized_name(std::string_view name) {
    if (!name.empty() && name.back() == '.') name.remove_suffix(1);
    return to_lower(name);
}

const dns::TxtAnswer* DnsFacts::txt(std::string_view name) const {
    return find_in(txt_, name);
}

const dns::AddressAnswer* DnsFacts::addresses(DnsQuestion::Type type, std::string_view name) const {
    return find_in(type == DnsQuestion::Type::aaaa ? aaaa_ : a_, name);
}

const dns::MxAnswer* DnsFacts::mx(std::string_view name) const {
    return find_in(mx_, name);
}

void DnsFacts::add_txt(std::string_view name, dns::TxtAnswer answer) {
    txt_.insert_or_assign(normalized_name(name), std::move(answer));
}

void DnsFacts::add_addresses(DnsQuestion::Type type, std::string_view name,
                             dns::AddressAnswer answer) {
    auto& map = type == DnsQuestion::Type::aaaa ? aaaa_ : a_;
    map.insert_or_assign(normalized_name(name), std::move(answer));
}

void DnsFacts::add_mx(std::string_view name, dns::MxAnswer answer) {
    mx_.insert_or_assign(normalized_name(name), std::move(answer));
}

bool DnsFacts::contains(const DnsQuestion& question) const {
    switch (question.type) {
        case DnsQuestion::Type::txt:
            return txt(question.name) != nullptr;
        case DnsQuestion::Type::a:
        case DnsQuestion::Type::aaaa:
            return addresses(question.type, question.name) != nullptr;
        case DnsQuestion::Type::mx:
            return mx(question.name) != nullptr;
    }
    return false;
}

bool conclusive(dns::AnswerStatus status) {
    switch (status) {
        case dns::AnswerStatus::ok:
        case dns::AnswerStatus::nxdomain:
        case dns::AnswerStatus::nodata:
            return true;
        case dns::AnswerStatus::temporary:
        case dns::AnswerStatus::timeout:
            break;
    }
    return false;
}

}  // namespace smarthost::policy
