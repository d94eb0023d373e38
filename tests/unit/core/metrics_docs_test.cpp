// docs/metrics.md, docs/grafana-dashboard.json and docs/alerts/smarthost-rules.yml name
// only metrics the process exports, and the documentation covers every family.

#include <gtest/gtest.h>

#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>
#include <string>

#include "core/metrics/metrics.hpp"

namespace smarthost::metrics {
namespace {

std::string read_file(const std::string& relative) {
    std::ifstream file(std::string(SMARTHOST_SOURCE_DIR) + "/" + relative);
    EXPECT_TRUE(file) << "cannot open " << relative;
    std::stringstream text;
    text << file.rdbuf();
    return text.str();
}

// Every family's name, with the series names a histogram adds.
std::set<std::string> exported_names() {
    const Metrics metrics;
    std::set<std::string> names;
    for (const auto& family : metrics.families()) {
        names.insert(family.name);
        if (family.type == "histogram")
            for (const char* suffix : {"_bucket", "_sum", "_count"})
                names.insert(family.name + suffix);
    }
    return names;
}

std::set<std::string> metric_names_in(const std::string& text) {
    std::set<std::string> names;
    const std::regex name(R"(smarthost_[a-z0-9_]+)");
    for (auto it = std::sregex_iterator(text.begin(), text.end(), name);
         it != std::sregex_iterator(); ++it)
        names.insert(it->str());
    return names;
}

// Every PromQL expression of the dashboard's panels.
void collect_exprs(const boost::json::value& value, std::string& out) {
    if (const auto* object = value.if_object()) {
        for (const auto& [key, child] : *object) {
            if (key == "expr" && child.is_string()) {
                out += child.as_string().c_str();
                out += '\n';
            } else {
                collect_exprs(child, out);
            }
        }
    } else if (const auto* array = value.if_array()) {
        for (const auto& child : *array)
            collect_exprs(child, out);
    }
}

TEST(MetricsDocs, TheDashboardQueriesOnlyExportedMetrics) {
    const auto dashboard = boost::json::parse(read_file("docs/grafana-dashboard.json"));
    std::string exprs;
    collect_exprs(dashboard, exprs);
    const auto used = metric_names_in(exprs);
    EXPECT_GE(used.size(), 10u) << "the dashboard should chart most families";
    const auto exported = exported_names();
    for (const auto& name : used)
        EXPECT_TRUE(exported.contains(name)) << name << " is charted but not exported";
}

TEST(MetricsDocs, TheAlertRulesUseOnlyExportedMetrics) {
    const auto used = metric_names_in(read_file("docs/alerts/smarthost-rules.yml"));
    EXPECT_GE(used.size(), 5u);
    const auto exported = exported_names();
    for (const auto& name : used)
        EXPECT_TRUE(exported.contains(name)) << name << " is alerted on but not exported";
}

TEST(MetricsDocs, EveryFamilyIsDocumentedAndNothingElse) {
    const auto documented = metric_names_in(read_file("docs/metrics.md"));
    const auto exported = exported_names();
    const Metrics metrics;
    for (const auto& family : metrics.families())
        EXPECT_TRUE(documented.contains(family.name))
            << family.name << " is not in docs/metrics.md";
    for (const auto& name : documented)
        EXPECT_TRUE(exported.contains(name)) << name << " is documented but not exported";
}

}  // namespace
}  // namespace smarthost::metrics
