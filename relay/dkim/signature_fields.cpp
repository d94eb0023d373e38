#include "relay/dkim/signature_fields.hpp"

#include <array>
#include <charconv>
#include <unordered_map>

#include "core/ascii.hpp"
#include "relay/smtp/message_headers.hpp"

namespace smarthost::dkim {
namespace {

bool is_fws(char c) {
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

std::string_view trim_fws(std::string_view s) {
    while (!s.empty() && is_fws(s.front()))
        s.remove_prefix(1);
    while (!s.empty() && is_fws(s.back()))
        s.remove_suffix(1);
    return s;
}

std::string without_fws(std::string_view s) {
    std::string out;
    out.reserve(s.size());
    for (const char c : s)
        if (!is_fws(c)) out += c;
    return out;
}

bool valid_tag_name(std::string_view name) {
    if (name.empty()) return false;
    const auto alpha = [](char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); };
    if (!alpha(name.front())) return false;
    for (const char c : name)
        if (!alpha(c) && !(c >= '0' && c <= '9') && c != '_') return false;
    return true;
}

template <class Integer>
std::optional<Integer> parse_number(std::string_view text) {
    Integer value{};
    if (text.empty() || text.size() > 18) return std::nullopt;
    const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (error != std::errc() || end != text.data() + text.size()) return std::nullopt;
    return value;
}

// The fields a new signature covers, in the order h= lists them.
constexpr std::array<std::string_view, 12> k_signed_field_names = {"From",
                                                                   "To",
                                                                   "Cc",
                                                                   "Subject",
                                                                   "Date",
                                                                   "Message-ID",
                                                                   "Reply-To",
                                                                   "MIME-Version",
                                                                   "Content-Type",
                                                                   "Content-Transfer-Encoding",
                                                                   "List-Unsubscribe",
                                                                   "List-Unsubscribe-Post"};

// Lines of a new signature stay under this many columns (RFC 5322's 78, with room).
constexpr std::size_t k_fold_column = 76;

// Appends `piece` to `out`, first folding (CRLF TAB) when the current line would pass the
// fold column. `column` is the current line's length.
void append_folded(std::string& out, std::size_t& column, std::string_view piece,
                   std::string_view separator) {
    if (column + separator.size() + piece.size() > k_fold_column && column > 1) {
        // The separator's white space becomes the fold's.
        out += separator.substr(0, separator.find_last_not_of(' ') + 1);
        out += "\r\n\t";
        column = 1;
    } else {
        out += separator;
        column += separator.size();
    }
    out += piece;
    column += piece.size();
}

}  // namespace

const char* to_string(Algorithm algorithm) {
    return algorithm == Algorithm::ed25519_sha256 ? "ed25519-sha256" : "rsa-sha256";
}

std::optional<Algorithm> parse_algorithm(std::string_view text) {
    if (iequals(text, "rsa-sha256")) return Algorithm::rsa_sha256;
    if (iequals(text, "ed25519-sha256")) return Algorithm::ed25519_sha256;
    return std::nullopt;
}

const char* key_type(Algorithm algorithm) {
    return algorithm == Algorithm::ed25519_sha256 ? "ed25519" : "rsa";
}

std::optional<std::vector<Tag>> parse_tag_list(std::string_view text) {
    std::vector<Tag> tags;
    while (true) {
        const auto semicolon = text.find(';');
        const auto spec = trim_fws(text.substr(0, semicolon));
        const bool last = semicolon == std::string_view::npos;
        if (spec.empty()) {
            // Empty parts ("a=1;", "a=1;;b=2") are skipped, as receivers do.
            if (last) break;
            text.remove_prefix(semicolon + 1);
            continue;
        }
        const auto equals = spec.find('=');
        if (equals == std::string_view::npos) return std::nullopt;
        const auto name = trim_fws(spec.substr(0, equals));
        if (!valid_tag_name(name)) return std::nullopt;
        for (const auto& tag : tags)
            if (tag.name == name) return std::nullopt;
        tags.push_back(Tag{std::string(name), std::string(trim_fws(spec.substr(equals + 1)))});
        if (last) break;
        text.remove_prefix(semicolon + 1);
    }
    if (tags.empty()) return std::nullopt;
    return tags;
}

std::optional<std::string> public_key_of_record(std::string_view record) {
    const auto tags = parse_tag_list(record);
    if (!tags) return std::nullopt;
    std::optional<std::string> key;
    for (std::size_t i = 0; i < tags->size(); ++i) {
        const auto& tag = (*tags)[i];
        if (tag.name == "v" && (i != 0 || tag.value != "DKIM1")) return std::nullopt;
        if (tag.name != "p") continue;
        key.emplace();
        for (const char c : tag.value)
            if (c != ' ' && c != '\t' && c != '\r' && c != '\n') *key += c;
    }
    return key;
}

std::optional<Signature> parse_signature(std::string_view raw_value) {
    const auto tags = parse_tag_list(raw_value);
    if (!tags) return std::nullopt;
    Signature signature;
    bool has_version = false, has_algorithm = false, has_headers = false;
    for (const auto& tag : *tags) {
        const std::string_view value = tag.value;
        if (tag.name == "v") {
            if (value != "1") return std::nullopt;
            has_version = true;
        } else if (tag.name == "a") {
            const auto algorithm = parse_algorithm(value);
            if (!algorithm) return std::nullopt;
            signature.algorithm = *algorithm;
            has_algorithm = true;
        } else if (tag.name == "c") {
            const auto slash = value.find('/');
            const auto header = parse_canonicalization(value.substr(0, slash));
            if (!header) return std::nullopt;
            signature.header_canonicalization = *header;
            if (slash != std::string_view::npos) {
                const auto body = parse_canonicalization(value.substr(slash + 1));
                if (!body) return std::nullopt;
                signature.body_canonicalization = *body;
            }
        } else if (tag.name == "d") {
            signature.domain = to_lower(value);
        } else if (tag.name == "s") {
            signature.selector = to_lower(value);
        } else if (tag.name == "h") {
            const auto names = without_fws(value);
            std::string_view rest = names;
            while (true) {
                const auto colon = rest.find(':');
                const auto name = rest.substr(0, colon);
                if (name.empty()) return std::nullopt;
                signature.signed_headers.emplace_back(name);
                if (colon == std::string_view::npos) break;
                rest.remove_prefix(colon + 1);
            }
            has_headers = true;
        } else if (tag.name == "bh") {
            signature.body_hash = without_fws(value);
        } else if (tag.name == "b") {
            signature.signature = without_fws(value);
        } else if (tag.name == "l") {
            signature.body_length = parse_number<std::uint64_t>(value);
            if (!signature.body_length) return std::nullopt;
        } else if (tag.name == "t") {
            signature.timestamp = parse_number<std::int64_t>(value);
            if (!signature.timestamp) return std::nullopt;
        } else if (tag.name == "x") {
            signature.expiration = parse_number<std::int64_t>(value);
            if (!signature.expiration) return std::nullopt;
        }
    }
    if (!has_version || !has_algorithm || !has_headers || signature.domain.empty() ||
        signature.selector.empty() || signature.body_hash.empty() || signature.signature.empty())
        return std::nullopt;
    // A signature that does not cover From proves nothing about the author (RFC 6376
    // section 5.4).
    bool covers_from = false;
    for (const auto& name : signature.signed_headers)
        covers_from = covers_from || iequals(name, "From");
    if (!covers_from) return std::nullopt;
    return signature;
}

std::vector<std::string> headers_to_sign(std::string_view header_section) {
    std::array<std::size_t, k_signed_field_names.size()> counts{};
    smtp::HeaderFieldReader reader(header_section);
    while (const auto field = reader.next())
        for (std::size_t i = 0; i < k_signed_field_names.size(); ++i)
            if (iequals(field->name, k_signed_field_names[i])) ++counts[i];
    std::vector<std::string> names;
    for (std::size_t i = 0; i < k_signed_field_names.size(); ++i) {
        // From once more than it occurs: over-signed (RFC 6376 section 8.15).
        const std::size_t times = counts[i] + (i == 0 ? 1 : 0);
        for (std::size_t n = 0; n < times; ++n)
            names.emplace_back(k_signed_field_names[i]);
    }
    return names;
}

std::string canonical_signed_headers(std::string_view header_section,
                                     const std::vector<std::string>& signed_headers,
                                     Canonicalization canonicalization) {
    struct Field {
        std::string_view name;
        std::string_view raw_value;
        std::string_view raw_field;
    };
    // Fields by lower-case name, in order; each name's fields are taken from the bottom.
    std::unordered_map<std::string, std::vector<Field>> fields;
    smtp::HeaderFieldReader reader(header_section);
    while (const auto field = reader.next()) {
        const auto* end = field->raw_value.data() + field->raw_value.size();
        const std::string_view raw_field(field->name.data(),
                                         static_cast<std::size_t>(end - field->name.data()));
        fields[to_lower(field->name)].push_back(Field{field->name, field->raw_value, raw_field});
    }
    std::string canonical;
    for (const auto& name : signed_headers) {
        const auto it = fields.find(to_lower(name));
        if (it == fields.end() || it->second.empty()) continue;  // a null string (section 5.4.2)
        const Field field = it->second.back();
        it->second.pop_back();
        canonical +=
            canonical_header(field.name, field.raw_value, field.raw_field, canonicalization);
    }
    return canonical;
}

std::string signature_value_without_b(const SignatureTemplate& signature) {
    // " v=1; ..." after "DKIM-Signature:"; the column counts the field name.
    std::string value;
    std::size_t column = std::string_view("DKIM-Signature:").size();
    const auto tag = [&](std::string_view text) { append_folded(value, column, text, " "); };
    tag("v=1;");
    tag(std::string("a=") + to_string(signature.algorithm) + ";");
    tag("c=relaxed/relaxed;");
    tag("d=" + signature.domain + ";");
    tag("s=" + signature.selector + ";");
    tag("t=" + std::to_string(signature.timestamp) + ";");
    if (signature.expiration) tag("x=" + std::to_string(*signature.expiration) + ";");
    for (std::size_t i = 0; i < signature.signed_headers.size(); ++i) {
        std::string piece = (i == 0 ? "h=" : "") + signature.signed_headers[i];
        piece += i + 1 == signature.signed_headers.size() ? ";" : ":";
        append_folded(value, column, piece, i == 0 ? " " : "");
    }
    tag("bh=" + signature.body_hash + ";");
    tag("b=");
    return value;
}

std::string signature_field(std::string_view value_without_b, std::string_view b) {
    std::string field = "DKIM-Signature:";
    field += value_without_b;
    // The column after "b=" on the last line of the value.
    const auto last_line = value_without_b.rfind('\n');
    std::size_t column =
        last_line == std::string_view::npos ? field.size() : value_without_b.size() - last_line - 1;
    while (!b.empty()) {
        if (column >= k_fold_column) {
            field += "\r\n\t";
            column = 1;
        }
        const auto take = std::min(b.size(), k_fold_column - column);
        field += b.substr(0, take);
        column += take;
        b.remove_prefix(take);
    }
    field += "\r\n";
    return field;
}

std::string canonical_signature_field(std::string_view name, std::string_view raw_value,
                                      Canonicalization canonicalization) {
    // The b= tag's value, with the white space around it, becomes empty (section 3.7).
    std::string value;
    std::string_view rest = raw_value;
    while (!rest.empty()) {
        const auto semicolon = rest.find(';');
        const auto spec = rest.substr(0, semicolon);
        const auto equals = spec.find('=');
        if (equals != std::string_view::npos && trim_fws(spec.substr(0, equals)) == "b") {
            value += spec.substr(0, equals + 1);
        } else {
            value += spec;
        }
        if (semicolon == std::string_view::npos) break;
        value += ';';
        rest.remove_prefix(semicolon + 1);
    }
    std::string raw_field(name);
    raw_field += ':';
    raw_field += value;
    auto canonical = canonical_header(name, value, raw_field, canonicalization);
    canonical.resize(canonical.size() - 2);  // without its CRLF
    return canonical;
}

}  // namespace smarthost::dkim
