#include "relay/queue/queue_actions.hpp"

#include <string>

namespace smarthost::queue {
namespace {

struct ActionRule {
    std::string_view name;
    std::string_view from_states;  // SQL list
    std::string_view set;          // SQL assignments to recipients `r`
    std::string_view event;        // events.kind, or empty for none
    bool wakes_delivery;
};

constexpr ActionRule k_retry{"retry", "'queued', 'deferred'", "next_attempt_at = now()", "", true};
constexpr ActionRule k_hold{"hold", "'queued', 'deferred'", "state = 'held'", "held", false};
// Back to the state it would have without the hold: never tried, or tried and deferred.
constexpr ActionRule k_release{
    "release", "'held'",
    "state = CASE WHEN r.attempts = 0 THEN 'queued' ELSE 'deferred' END, next_attempt_at = now(), "
    "hold_id = NULL",
    "released", true};
constexpr ActionRule k_cancel{"cancel", "'queued', 'deferred', 'held'",
                              "state = 'cancelled', hold_id = NULL", "cancelled", false};

const ActionRule& rule_of(RecipientAction action) {
    switch (action) {
        case RecipientAction::retry:
            return k_retry;
        case RecipientAction::hold:
            return k_hold;
        case RecipientAction::release:
            return k_release;
        case RecipientAction::cancel:
            break;
    }
    return k_cancel;
}

}  // namespace

std::string_view action_name(RecipientAction action) {
    return rule_of(action).name;
}

std::string from_states_phrase(RecipientAction action) {
    std::string phrase(rule_of(action).from_states);
    std::erase(phrase, '\'');
    const auto last_comma = phrase.rfind(", ");
    if (last_comma != std::string::npos) phrase.replace(last_comma, 2, " or ");
    return phrase;
}

bool wakes_delivery(RecipientAction action) {
    return rule_of(action).wakes_delivery;
}

std::string recipient_action_ctes(RecipientAction action, int message_param) {
    const ActionRule& rule = rule_of(action);
    const std::string message_id = "$" + std::to_string(message_param) + "::uuid";
    std::string sql = "message AS (SELECT id FROM messages WHERE id = " + message_id +
                      "), changed AS (UPDATE recipients r SET " + std::string(rule.set) +
                      ", updated_at = now() WHERE r.message_id = " + message_id +
                      " AND r.state IN (" + std::string(rule.from_states) +
                      ") RETURNING r.id, r.message_id, r.address, r.state), ";
    if (!rule.event.empty())
        sql +=
            "event AS (INSERT INTO events (message_id, recipient_id, kind) "
            "SELECT message_id, id, '" +
            std::string(rule.event) + "' FROM changed), ";
    sql +=
        "in_flight AS (SELECT count(*) AS count FROM recipients WHERE message_id = " + message_id +
        " AND state = 'in_flight')";
    return sql;
}

}  // namespace smarthost::queue
