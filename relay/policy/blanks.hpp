#pragma once
// Spaces and tabs around the parts of DNS records (SPF terms, DMARC URIs). Pure.

#include <string_view>

namespace smarthost::policy {

// `text` without the spaces and tabs at both ends.
std::string_view trim_blanks(std::string_view text);

}  // namespace smarthost::policy
