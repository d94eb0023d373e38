#pragma once
// The lock order of leased recipient rows, for every statement of relay/queue that updates
// several of them (claims.cpp and settle.cpp).

#include <cstdint>
#include <string>
#include <vector>

namespace smarthost::queue {

// Every statement that updates several leased rows locks them in id order first: two
// transactions of one owner (a lease extension and a worker recording its outcomes)
// taking the same rows in different orders deadlock, and PostgreSQL then aborts one.
inline constexpr const char* k_lock_recipients = R"sql(
SELECT id FROM recipients WHERE id = ANY($1::bigint[]) ORDER BY id FOR UPDATE)sql";

// A PostgreSQL bigint[] literal: "{1,2,3}".
inline std::string id_array(const std::vector<std::int64_t>& ids) {
    std::string literal = "{";
    for (std::int64_t id : ids) {
        if (literal.size() > 1) literal += ',';
        literal += std::to_string(id);
    }
    literal += '}';
    return literal;
}

}  // namespace smarthost::queue
