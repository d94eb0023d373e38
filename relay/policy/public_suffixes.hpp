#pragma once
// The Public Suffix List (publicsuffix.org; Debian's `publicsuffix` package installs it
// as /usr/share/publicsuffix/public_suffix_list.dat), for the organizational domain of
// DMARC (RFC 7489 section 3.2). Pure: the file's text comes in.

#include <string>
#include <string_view>
#include <unordered_set>

namespace smarthost::policy {

class PublicSuffixList {
  public:
    // An empty list: every name's public suffix is its last label ("shop.example.co.uk"
    // → organizational domain "co.uk"; good enough for .com and most ccTLDs).
    PublicSuffixList() = default;
    // The list's text: one rule a line ("co.uk", "*.ck", "!www.ck"), "//" comments.
    static PublicSuffixList parse(std::string_view text);

    // The public suffix plus one label ("mail.shop.example.co.uk" → "example.co.uk");
    // a name that is itself a public suffix is its own. Lower case in, lower case out.
    std::string organizational_domain(std::string_view domain) const;

    bool empty() const { return rules_.empty() && wildcards_.empty(); }

  private:
    std::unordered_set<std::string> rules_;
    std::unordered_set<std::string> wildcards_;   // "*.ck" stored as "ck"
    std::unordered_set<std::string> exceptions_;  // "!www.ck" stored as "www.ck"
};

}  // namespace smarthost::policy
