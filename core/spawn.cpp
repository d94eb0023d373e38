#include "core/spawn.hpp"

#include <spdlog/spdlog.h>

#include "core/metrics/metrics.hpp"

namespace smarthost {

void report_task_failure(const char* task, std::exception_ptr failure) noexcept {
    try {
        try {
            std::rethrow_exception(failure);
        } catch (const std::exception& e) {
            spdlog::error("internal error in {}: {}", task, e.what());
        } catch (...) {
            spdlog::error("internal error in {}: an exception of unknown type", task);
        }
        metrics::global().task_failures.Add({{"task", task}}).Increment();
    } catch (...) {
        // Logging itself failed (out of memory): nothing more can be said.
    }
}

}  // namespace smarthost
