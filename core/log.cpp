#include "core/log.hpp"

#include <spdlog/sinks/stdout_sinks.h>

namespace smarthost {

void init_logging(std::string_view level) {
    auto logger = spdlog::stderr_logger_mt("smarthost");
    logger->set_pattern("%Y-%m-%dT%H:%M:%S.%eZ %l %v", spdlog::pattern_time_type::utc);
    logger->set_level(spdlog::level::from_str(std::string(level)));
    logger->flush_on(spdlog::level::info);
    spdlog::set_default_logger(std::move(logger));
}

}  // namespace smarthost
