#include "admin-api/account_scanning.hpp"

#include <fmt/format.h>

#include <boost/json.hpp>
#include <cmath>

#include "admin-api/json_body.hpp"

namespace smarthost::admin {
namespace {

namespace json = boost::json;

constexpr std::array<std::string_view, 3> k_score_fields{"add_header_score", "hold_score",
                                                         "reject_score"};
constexpr double k_max_score = 1000;

std::string score_param(double score) {
    return fmt::format("{}", score);
}

}  // namespace

ScanningChange read_scanning(FieldReader& fields) {
    ScanningChange change;
    const auto* scanning = fields.object("scanning");
    if (!scanning) return change;
    auto nested = fields.nested(*scanning, "scanning");
    for (const auto& entry : *scanning) {
        const std::string_view key = entry.key();
        const auto& value = entry.value();
        if (key == "enabled") {
            if (value.is_null())
                change.enabled.emplace();
            else if (value.is_bool())
                change.enabled.emplace(value.get_bool());
            else
                nested.fail(key, "must be true, false or null");
            continue;
        }
        const auto field = std::find(k_score_fields.begin(), k_score_fields.end(), key);
        if (field == k_score_fields.end()) {
            nested.fail(key, "unknown field");
            continue;
        }
        auto& slot = change.scores[static_cast<std::size_t>(field - k_score_fields.begin())];
        if (value.is_null()) {
            slot.emplace();
            continue;
        }
        std::optional<double> number;
        if (value.is_double()) number = value.get_double();
        if (value.is_int64()) number = static_cast<double>(value.get_int64());
        if (value.is_uint64()) number = static_cast<double>(value.get_uint64());
        if (!number || !std::isfinite(*number) || std::fabs(*number) > k_max_score) {
            nested.fail(key, "must be a number between -1000 and 1000, or null");
            continue;
        }
        slot.emplace(number);
    }
    // Those given together must be ordered; against the stored ones the CHECK decides.
    for (std::size_t low = 0; low < 3; ++low) {
        for (std::size_t high = low + 1; high < 3; ++high) {
            const auto& a = change.scores[low];
            const auto& b = change.scores[high];
            if (a && *a && b && *b && **a > **b)
                nested.fail(k_score_fields[high],
                            "must not be below " + std::string(k_score_fields[low]));
        }
    }
    return change;
}

std::string scanning_json() {
    return "json_build_object('enabled', t.scan_enabled, 'add_header_score', "
           "t.scan_add_header_score, 'hold_score', t.scan_hold_score, 'reject_score', "
           "t.scan_reject_score)";
}

void append_insert_params(const ScanningChange& change, std::vector<pg::Param>& params) {
    params.push_back(change.enabled && *change.enabled ? pg::to_param(**change.enabled)
                                                       : pg::null_param());
    for (const auto& score : change.scores)
        params.push_back(score && *score ? pg::text(score_param(**score)) : pg::null_param());
}

void append_update_params(const ScanningChange& change, std::vector<pg::Param>& params) {
    params.push_back(pg::to_param(change.enabled.has_value()));
    params.push_back(change.enabled && *change.enabled ? pg::to_param(**change.enabled)
                                                       : pg::null_param());
    for (const auto& score : change.scores) {
        params.push_back(pg::to_param(score.has_value()));
        params.push_back(score && *score ? pg::text(score_param(**score)) : pg::null_param());
    }
}

}  // namespace smarthost::admin
