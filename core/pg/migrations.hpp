#pragma once
// Versioned schema migrations from schema/, compiled into the binary. Each runs in its
// own transaction; a session advisory lock makes concurrent `smarthost migrate` safe.

#include <span>
#include <string>
#include <string_view>

#include "core/result.hpp"

namespace smarthost::pg {

struct Migration {
    int version;            // from the file name: 0001_init.sql -> 1
    std::string_view name;  // "0001_init"
    std::string_view sql;
};

std::span<const Migration> bundled_migrations();

struct MigrationReport {
    int from_version = 0;
    int to_version = 0;
    int applied = 0;
};

// Blocking: used by `smarthost migrate` and at start-up checks, never on an I/O thread.
Result<MigrationReport> migrate(const std::string& database_url);
// The highest applied version, 0 for an empty database.
Result<int> current_version(const std::string& database_url);

}  // namespace smarthost::pg
