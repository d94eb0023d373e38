#pragma once
// The anomaly detector (docs/abuse.md "Anomaly rules"): every `[abuse] interval_seconds`,
// each enabled rule's query (anomaly_rules.hpp) over the rows of all replicas, and for each
// unit that trips: a rule_trips row with the evidence, a metric, and the rule's action —
// a hold (reason rule:<rule>) on the credential or account, or a suspension of the
// account (a credential: disabled) with its hold. Any number of replicas may run it: each
// trip is decided under a transaction-level advisory lock on (rule, unit), and a unit
// trips a rule at most once per window, and not while the rule's hold on it is active.
// Times come from the database's clock only.

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <cstddef>
#include <memory>

#include "core/abuse_config.hpp"
#include "core/result.hpp"

namespace smarthost::pg {
class Pool;
}

namespace smarthost::policy {

class AnomalyDetector {
  public:
    AnomalyDetector(boost::asio::any_io_executor executor, pg::Pool& pool, AbuseConfig config);
    ~AnomalyDetector();

    // One evaluation of every rule; returns the number of new trips.
    boost::asio::awaitable<Result<std::size_t>> evaluate();

    // evaluate() every interval until stop().
    void start();
    void stop();

  private:
    struct Impl;
    std::shared_ptr<Impl> impl_;
};

}  // namespace smarthost::policy
