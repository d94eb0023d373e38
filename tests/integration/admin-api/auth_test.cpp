// Bearer tokens: missing, malformed, unknown and revoked tokens are 401; no spelling of a
// target reaches a handler without one; the token is checked before the body is read; the
// listener bounds its open connections.

#include <boost/asio/ip/tcp.hpp>
#include <chrono>

#include "admin-api/api_routes.hpp"
#include "tests/integration/admin-api/admin_api_fixture.hpp"

namespace smarthost::admin::test {
namespace {

namespace asio = boost::asio;
using asio::ip::tcp;
using namespace std::chrono_literals;

using AdminAuthTest = AdminApiTest;

HttpCall list_with(std::string authorization) {
    return HttpCall{"GET", "/api/v1/accounts", {}, "application/json", std::move(authorization)};
}

TEST_F(AdminAuthTest, MissingTokenIs401WithBearerChallenge) {
    const auto reply = call(list_with(""));
    EXPECT_EQ(reply.status, 401u);
    EXPECT_TRUE(reply.header("www-authenticate").starts_with("Bearer"))
        << reply.header("www-authenticate");
    EXPECT_EQ(reply.header("content-type"), "application/problem+json");
}

TEST_F(AdminAuthTest, OtherSchemeIs401) {
    EXPECT_EQ(call(list_with("Basic b3BzOnNlY3JldA==")).status, 401u);
}

TEST_F(AdminAuthTest, UnknownTokenIs401) {
    EXPECT_EQ(call(list_with("Bearer sht_not-a-real-token")).status, 401u);
    EXPECT_EQ(call(list_with("Bearer " + token + "x")).status, 401u);
}

TEST_F(AdminAuthTest, SchemeIsCaseInsensitive) {
    EXPECT_EQ(call(list_with("bearer " + token)).status, 200u);
}

TEST_F(AdminAuthTest, UnknownPathsNeedATokenToo) {
    EXPECT_EQ(call({"GET", "/api/v1/secret-route", {}, "", std::string()}).status, 401u);
}

TEST_F(AdminAuthTest, EveryRouteNeedsAToken) {
    const auto account = create_account_via_api("acme");
    const auto router = api_router();
    for (const auto& route : router.routes()) {
        std::string target = route.pattern;
        for (auto at = target.find('{'); at != std::string::npos; at = target.find('{'))
            target.replace(at, target.find('}', at) - at + 1, std::to_string(account));
        const auto reply = call({route.method, target, "{}", "application/json", std::string()});
        EXPECT_EQ(reply.status, 401u) << route.method << " " << target;
    }
    EXPECT_EQ(audit_rows().size(), 1u);  // the account; nothing unauthenticated
    EXPECT_EQ(db.exec("SELECT count(*) FROM accounts").at(0).at(0), "1");
}

// The bypass of issue 11: a target without its leading slash skipped the token check and
// still reached the handler (200 with the account list; a POST made credentials).
TEST_F(AdminAuthTest, ATargetWithoutItsLeadingSlashIs400) {
    const auto reply = call({"GET", "api/v1/accounts", {}, "", std::string()});
    EXPECT_EQ(reply.status, 400u) << reply.body;
    EXPECT_EQ(reply.header("content-type"), "application/problem+json");
    const auto created =
        call({"POST", "api/v1/accounts", R"({"name":"evil"})", "application/json", std::string()});
    EXPECT_EQ(created.status, 400u) << created.body;
    EXPECT_EQ(db.exec("SELECT count(*) FROM accounts").at(0).at(0), "0");
}

// Every route of the API (openapi_test.cpp holds it equal to docs/openapi.yaml), under
// every odd spelling of its target, without a token: never a 2xx, never a row written by
// a handler, never an audit row.
TEST_F(AdminAuthTest, NoSpellingOfAnyRouteReachesAHandlerWithoutAToken) {
    const auto account = create_account_via_api("acme");
    const auto tables = [&] {
        return db
            .exec(
                "SELECT (SELECT count(*) FROM accounts) || ' ' || "
                "(SELECT count(*) FROM credentials) || ' ' || "
                "(SELECT count(*) FROM allowed_networks) || ' ' || "
                "(SELECT count(*) FROM sender_domains) || ' ' || "
                "(SELECT count(*) FROM suppressions) || ' ' || "
                "(SELECT count(*) FROM api_tokens WHERE revoked_at IS NULL) || ' ' || "
                "(SELECT count(*) FROM holds) || ' ' || (SELECT count(*) FROM queue_jobs) || ' ' "
                "|| "
                "(SELECT count(*) FROM rule_trips)")
            .at(0)
            .at(0)
            .value();
    };
    const auto before = tables();
    const auto with_id = [&](std::string pattern) {
        for (auto at = pattern.find('{'); at != std::string::npos; at = pattern.find('{'))
            pattern.replace(at, pattern.find('}', at) - at + 1, std::to_string(account));
        return pattern;
    };
    const auto upper = [](std::string text) {
        for (auto& c : text)
            c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
        return text;
    };
    const std::string origin = "http://127.0.0.1:" + std::to_string(port);
    const auto body = std::string(R"({"name":"evil","username":"evil","cidr":"0.0.0.0/0",)") +
                      R"("domain":"evil.example","address":"x@evil.example"})";
    int calls = 0;
    const auto router = api_router();
    for (const auto& route : router.routes()) {
        const auto path = with_id(route.pattern);  // "/api/v1/..."
        const auto rest = path.substr(1);          // "api/v1/..."
        for (const auto& target : {
                 rest,
                 origin + path,
                 "/" + path,
                 "/./" + rest,
                 "/api/v1/../" + rest.substr(rest.find('/') + 1),
                 "/api%2F" + rest.substr(rest.find('/') + 1),
                 "/api/%76" + rest.substr(rest.find('/') + 2),
                 path + "/",
                 upper(path),
                 path + "?",
                 "?" + path,
                 "/api/v1/accounts/" + std::to_string(account) + "/.." +
                     path.substr(std::string("/api/v1").size()),
             }) {
            const auto reply =
                call({route.method, target, body, "application/json", std::string()});
            ++calls;
            EXPECT_TRUE(reply.status == 400 || reply.status == 401 || reply.status == 404)
                << route.method << " " << target << " -> " << reply.status << " " << reply.body;
        }
    }
    EXPECT_GT(calls, 12 * 20);  // the API's routes, each under 12 spellings
    EXPECT_EQ(tables(), before);
    EXPECT_EQ(audit_rows(), (std::vector<std::string>{"ops POST /api/v1/accounts 201"}));
}

// Authentication on the headers: a request without a token is answered 401 at once, its
// declared body never read (the server would otherwise wait request_timeout for it), and
// the connection closed so the unread body is not taken for a next request.
TEST_F(AdminAuthTest, TheTokenIsCheckedBeforeTheBodyIsRead) {
    tcp::iostream stream("127.0.0.1", std::to_string(port));
    stream.expires_after(10s);
    stream << "POST /api/v1/accounts HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
              "Content-Length: 60000\r\n\r\n{";
    stream.flush();
    const auto sent = std::chrono::steady_clock::now();
    std::string status_line;
    std::getline(stream, status_line);
    EXPECT_TRUE(status_line.starts_with("HTTP/1.1 401")) << status_line;
    // The fixture's request timeout is 2 s: an answer after the body wait would be later.
    EXPECT_LT(std::chrono::steady_clock::now() - sent, 1500ms);
    std::string line;
    while (std::getline(stream, line)) {
    }
    // Closed by the server at once, not kept alive to read the rest.
    EXPECT_LT(std::chrono::steady_clock::now() - sent, 1500ms);
    EXPECT_EQ(db.exec("SELECT count(*) FROM accounts").at(0).at(0), "0");
}

class AdminConnectionCapTest : public AdminApiTest {
  protected:
    AdminServer::Settings settings() override {
        auto s = AdminApiTest::settings();
        s.max_connections = 2;
        s.idle_timeout = 30s;
        return s;
    }
};

TEST_F(AdminConnectionCapTest, AConnectionOverTheCapGets503AndIsClosed) {
    // Two idle connections hold the cap (their accept is counted before any byte).
    tcp::iostream first("127.0.0.1", std::to_string(port));
    tcp::iostream second("127.0.0.1", std::to_string(port));
    ASSERT_TRUE(first && second);
    tcp::iostream third("127.0.0.1", std::to_string(port));
    third.expires_after(10s);
    std::string status_line;
    std::getline(third, status_line);
    EXPECT_TRUE(status_line.starts_with("HTTP/1.1 503")) << status_line;

    // A freed slot serves again.
    first.close();
    HttpReply reply;
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    do {
        try {
            reply = get("/healthz");
        } catch (const std::exception&) {
            reply.status = 0;  // closed unread while the slot was still taken
        }
    } while (reply.status != 200 && std::chrono::steady_clock::now() < deadline);
    EXPECT_EQ(reply.status, 200u);
}

TEST_F(AdminAuthTest, RevokedTokenIs401) {
    const auto other = create_token("ci");
    const auto id = db.exec("SELECT id FROM api_tokens WHERE name = 'ci'").at(0).at(0).value();
    EXPECT_EQ(call(list_with("Bearer " + other)).status, 200u);
    EXPECT_EQ(post("/api/v1/tokens/" + id + "/revoke").status, 200u);
    const auto reply = call(list_with("Bearer " + other));
    EXPECT_EQ(reply.status, 401u);
    EXPECT_NE(reply.json().at("detail").as_string().find("revoked"), std::string::npos);
}

TEST_F(AdminAuthTest, TokensAreStoredOnlyAsSha256AndMarkedUsed) {
    EXPECT_TRUE(token.starts_with("sht_"));
    EXPECT_GE(token.size(), 4u + 43u);
    auto rows = db.exec(
        "SELECT encode(token_sha256, 'hex') = encode(sha256($1::bytea), 'hex'), last_used_at "
        "IS NULL FROM api_tokens WHERE name = 'ops'",
        token);
    ASSERT_EQ(rows.size(), 1u);
    EXPECT_EQ(rows[0][0], "t");
    EXPECT_EQ(rows[0][1], "t");
    EXPECT_EQ(get("/api/v1/accounts").status, 200u);
    rows = db.exec("SELECT last_used_at IS NOT NULL FROM api_tokens WHERE name = 'ops'");
    EXPECT_EQ(rows[0][0], "t");
}

}  // namespace
}  // namespace smarthost::admin::test
