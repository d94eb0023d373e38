#include "relay/policy/author_fields.hpp"

#include "relay/smtp/command_parser.hpp"
#include "relay/smtp/message_headers.hpp"

namespace smarthost::policy {
namespace {

bool is_space(char c) {
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

// One mailbox of the list, split while scanning: the text outside comments (quoted
// strings kept, white space dropped) and the content of its angle brackets, if any.
struct MailboxText {
    std::string bare;
    std::string angle;
    bool has_angle = false;
    bool bad = false;
};

// "local@domain": something before the last '@', a domain (or literal) after it, and no
// character that only the surrounding syntax may hold.
bool plausible_addr_spec(std::string_view address) {
    const auto at = address.rfind('@');
    if (at == std::string_view::npos || at == 0 || at + 1 == address.size()) return false;
    bool quoted = false;
    for (std::size_t i = 0; i < at; ++i) {
        const char c = address[i];
        if (c == '"') quoted = !quoted;
        if (!quoted && (c == ':' || c == ';' || c == '<' || c == '>' || c == ',' || c == '['))
            return false;
    }
    const auto domain = address.substr(at + 1);
    if (domain.front() == '[') return domain.back() == ']';
    for (unsigned char c : domain) {
        const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                        (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' ||
                        c >= 0x80;  // UTF-8: RFC 6532
        if (!ok) return false;
    }
    return true;
}

std::optional<std::string> mailbox_address(const MailboxText& text) {
    if (text.bad) return std::nullopt;
    std::string address = text.has_angle ? text.angle : text.bare;
    if (text.has_angle) {
        // Obsolete route "<@a,@b:local@domain>" (RFC 5322 section 4.4): the route goes.
        if (!address.empty() && address.front() == '@') {
            const auto colon = address.find(':');
            if (colon == std::string::npos) return std::nullopt;
            address.erase(0, colon + 1);
        }
    }
    if (!plausible_addr_spec(address)) return std::nullopt;
    return address;
}

}  // namespace

std::optional<std::vector<std::string>> mailbox_list_addresses(std::string_view value) {
    std::vector<std::string> addresses;
    MailboxText current;
    bool empty_segment = true;
    int comment_depth = 0;
    bool quoted = false;
    bool in_angle = false;
    bool angle_closed = false;

    auto finish = [&]() -> bool {
        if (quoted || comment_depth > 0 || in_angle) return false;
        if (!empty_segment) {  // obs-mbox-list allows empty elements: "a@b, , c@d"
            auto address = mailbox_address(current);
            if (!address) return false;
            addresses.push_back(std::move(*address));
        }
        current = {};
        empty_segment = true;
        angle_closed = false;
        return true;
    };

    for (std::size_t i = 0; i < value.size(); ++i) {
        const char c = value[i];
        std::string& target = in_angle ? current.angle : current.bare;
        if (comment_depth > 0) {
            if (c == '\\') {
                ++i;
            } else if (c == '(') {
                ++comment_depth;
            } else if (c == ')') {
                --comment_depth;
            }
            continue;
        }
        if (quoted) {
            target.push_back(c);
            if (c == '\\' && i + 1 < value.size()) {
                target.push_back(value[++i]);
            } else if (c == '"') {
                quoted = false;
            }
            continue;
        }
        if (is_space(c)) continue;
        if (c == '(') {
            comment_depth = 1;
            continue;
        }
        if (c == ',' && !in_angle) {
            if (!finish()) return std::nullopt;
            continue;
        }
        empty_segment = false;
        if (angle_closed) current.bad = true;  // text after the angle-addr
        if (c == '"') {
            quoted = true;
            target.push_back(c);
        } else if (c == '<') {
            if (in_angle || current.has_angle) return std::nullopt;
            in_angle = true;
            current.has_angle = true;
        } else if (c == '>') {
            if (!in_angle) return std::nullopt;
            in_angle = false;
            angle_closed = true;
        } else {
            target.push_back(c);
        }
    }
    if (!finish() || addresses.empty()) return std::nullopt;
    return addresses;
}

namespace {

// The raw values of one author field name, in message order.
struct FieldValues {
    std::string_view name;
    std::vector<std::string_view> raw_values;
};

// Unfolds and parses each value of `field` into `author`; false with author.problem or
// author.overlong_field set when one cannot be used. `single`: each must hold one mailbox.
bool add_authors(const FieldValues& field, bool single, AuthorFields& author) {
    for (const auto raw : field.raw_values) {
        const auto value = smtp::unfolded_value(raw, k_max_author_field_octets);
        if (!value) {
            author.overlong_field = field.name;
            return false;
        }
        auto addresses = mailbox_list_addresses(*value);
        if (single && (!addresses || addresses->size() != 1)) {
            author.problem =
                "the " + std::string(field.name) + ": header field must hold exactly one mailbox";
            return false;
        }
        if (!addresses) {
            author.problem =
                "the " + std::string(field.name) + ": header field is not a valid mailbox list";
            return false;
        }
        for (auto& address : *addresses)
            author.authors.push_back(Author{field.name, std::move(address)});
    }
    return true;
}

}  // namespace

AuthorFields author_fields(std::string_view message) {
    FieldValues from{"From", {}};
    FieldValues sender{"Sender", {}};
    FieldValues resent_from{"Resent-From", {}};
    FieldValues resent_sender{"Resent-Sender", {}};
    smtp::HeaderFieldReader reader(message);
    while (const auto field = reader.next()) {
        for (auto* wanted : {&from, &sender, &resent_from, &resent_sender}) {
            if (smtp::iequals(field->name, wanted->name))
                wanted->raw_values.push_back(field->raw_value);
        }
    }

    AuthorFields author;
    if (from.raw_values.empty()) {
        author.problem = "no From: header field";
    } else if (from.raw_values.size() > 1) {
        author.problem = "more than one From: header field";
    } else if (sender.raw_values.size() > 1) {
        author.problem = "more than one Sender: header field";
    }
    if (!author.problem.empty()) return author;
    bool usable = add_authors(from, false, author);
    if (usable && author.authors.size() > 1 && sender.raw_values.empty()) {
        author.problem = "several From: addresses without a Sender: header field";
        usable = false;
    }
    usable = usable && add_authors(sender, true, author) &&
             add_authors(resent_from, false, author) && add_authors(resent_sender, true, author);
    if (!usable) author.authors.clear();
    return author;
}

}  // namespace smarthost::policy
