#pragma once
// A throw-away PostgreSQL database for one test: created from the server named by
// SMARTHOST_TEST_DATABASE_URL (a role allowed to CREATE DATABASE), migrated, and
// dropped again. Without that variable the constructor throws: tests fail, never skip.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

namespace smarthost::test {

class TestDatabase {
  public:
    enum class Schema { migrated, empty };
    using Row = std::vector<std::optional<std::string>>;

    explicit TestDatabase(Schema schema = Schema::migrated);
    ~TestDatabase();
    TestDatabase(const TestDatabase&) = delete;
    TestDatabase& operator=(const TestDatabase&) = delete;

    // A libpq connection URL (same form as the server URL) naming this database.
    const std::string& url() const { return url_; }
    const std::string& name() const { return name_; }

    // Blocking, for set-up and assertions: runs one statement with text parameters
    // ($1, ...) and returns its rows in text format (NULL as nullopt; bytea as \x hex).
    // Throws std::runtime_error with PostgreSQL's message on error.
    template <class... Args>
    std::vector<Row> exec(std::string_view sql, const Args&... args) {
        return exec_params(sql, std::vector<std::optional<std::string>>{param(args)...});
    }
    std::vector<Row> exec_params(std::string_view sql,
                                 const std::vector<std::optional<std::string>>& params);

    // Inserts an active account and returns its id.
    std::int64_t create_account(std::string_view name);
    // Adds a sender domain to the account (verified unless told otherwise); returns its id.
    std::int64_t add_sender_domain(std::int64_t account_id, std::string_view domain,
                                   std::string_view status = "verified",
                                   bool include_subdomains = false,
                                   std::string_view token = "0123456789abcdef0123456789abcdef");

  private:
    static std::optional<std::string> param(std::nullopt_t) { return std::nullopt; }
    static std::optional<std::string> param(const std::string& value) { return value; }
    static std::optional<std::string> param(std::string_view value) { return std::string(value); }
    static std::optional<std::string> param(const char* value) { return std::string(value); }
    static std::optional<std::string> param(bool value) { return value ? "true" : "false"; }
    template <class T>
    static std::optional<std::string> param(const std::optional<T>& value) {
        return value ? param(*value) : std::nullopt;
    }
    template <class T>
    requires std::is_integral_v<T>
    static std::optional<std::string> param(T value) { return std::to_string(value); }

    std::string server_url_;
    std::string name_;
    std::string url_;
};

// Lower-case hex of bytes, for comparing with encode(column, 'hex').
std::string to_hex(std::string_view bytes);

}  // namespace smarthost::test
