#include "admin-api/audit.hpp"

#include <boost/asio/use_awaitable.hpp>

#include "admin-api/pagination.hpp"

namespace smarthost::admin {
namespace {

namespace asio = boost::asio;

constexpr std::string_view k_list_audit = R"sql(
SELECT json_build_object('id', id, 'token_name', token_name, 'method', method, 'path', path,
                         'status', status, 'detail', detail, 'created_at', created_at), id
  FROM audit_log
 WHERE ($1::bigint IS NULL OR id < $1)
 ORDER BY id DESC
 LIMIT $2)sql";

asio::awaitable<Response> list_audit(RequestContext& context) {
    std::vector<FieldError> errors;
    const auto page = read_page(parse_query(context.request.query), errors);
    if (!errors.empty()) co_return problem::validation(std::move(errors));
    auto rows = co_await context.pool.query(std::string(k_list_audit), page.cursor, page.limit + 1);
    if (!rows) co_return problem::from_database(rows.error());
    co_return page_response(*rows, page.limit);
}

}  // namespace

std::vector<pg::Param> audit_params(const RequestContext& context, unsigned status) {
    return params_of(context.token_name, context.request.method, context.request.path,
                     static_cast<std::int64_t>(status));
}

pg::Statement audited(const RequestContext& context, unsigned status, std::string_view dml,
                      std::string_view detail, std::string_view select,
                      std::vector<pg::Param> params, std::string_view more_ctes) {
    pg::Statement statement;
    statement.sql = "WITH changed AS (" + std::string(dml) +
                    "), audit AS (INSERT INTO audit_log (token_name, method, path, status, "
                    "detail) SELECT $1::text, $2::text, $3::text, $4::int, " +
                    std::string(detail) + " FROM changed t)" +
                    (more_ctes.empty() ? "" : ", " + std::string(more_ctes)) + " SELECT " +
                    std::string(select) + " FROM changed t";
    statement.params = audit_params(context, status);
    for (auto& param : params)
        statement.params.push_back(std::move(param));
    return statement;
}

void add_audit_routes(Router& router) {
    router.add("GET", "/api/v1/audit", list_audit);
}

}  // namespace smarthost::admin
