#include "relay/queue/notify.hpp"

#include <string>

#include "core/pg/pool.hpp"

namespace smarthost::queue {

pg::Statement notify_queue_statement() {
    return pg::Statement{"SELECT pg_notify($1::text, '')",
                         {pg::text(std::string(k_queue_channel))}};
}

}  // namespace smarthost::queue
