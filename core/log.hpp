#pragma once
// Process-wide logging: spdlog to stderr, one line per event, level from the config.

#include <spdlog/spdlog.h>

#include <string_view>

namespace smarthost {

void init_logging(std::string_view level);

}  // namespace smarthost
