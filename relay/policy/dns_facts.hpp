#pragma once
// DNS answers gathered for a pure decision (SPF evaluation, the domain health): the
// decision asks for what it needs by DnsQuestion, the I/O side looks the questions up and
// runs the decision again until nothing is missing. Pure.

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "relay/dns/answers.hpp"

namespace smarthost::policy {

struct DnsQuestion {
    enum class Type { txt, a, aaaa, mx };
    Type type = Type::txt;
    std::string name;  // lower case, no trailing dot
    auto operator<=>(const DnsQuestion&) const = default;
};

const char* to_string(DnsQuestion::Type type);

// Lower case, without a trailing dot: the form names are stored and asked in.
std::string normalized_name(std::string_view name);

class DnsFacts {
  public:
    // nullptr when the question has not been answered yet.
    const dns::TxtAnswer* txt(std::string_view name) const;
    const dns::AddressAnswer* addresses(DnsQuestion::Type type, std::string_view name) const;
    const dns::MxAnswer* mx(std::string_view name) const;

    void add_txt(std::string_view name, dns::TxtAnswer answer);
    void add_addresses(DnsQuestion::Type type, std::string_view name, dns::AddressAnswer answer);
    void add_mx(std::string_view name, dns::MxAnswer answer);

    bool contains(const DnsQuestion& question) const;

  private:
    std::map<std::string, dns::TxtAnswer, std::less<>> txt_;
    std::map<std::string, dns::AddressAnswer, std::less<>> a_;
    std::map<std::string, dns::AddressAnswer, std::less<>> aaaa_;
    std::map<std::string, dns::MxAnswer, std::less<>> mx_;
};

// Whether an answer came back conclusively (a record, or the name or type absent).
bool conclusive(dns::AnswerStatus status);

}  // namespace smarthost::policy
