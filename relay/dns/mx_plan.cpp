#include "relay/dns/mx_plan.hpp"

#include <algorithm>
#include <unordered_set>

#include "core/ascii.hpp"
#include "relay/dns/address_policy.hpp"

namespace smarthost::dns {

namespace {

template <class Plan>
Plan failed(Verdict verdict, std::string enhanced_status, std::string reason) {
    Plan plan;
    plan.verdict = verdict;
    plan.enhanced_status = std::move(enhanced_status);
    plan.reason = std::move(reason);
    return plan;
}

std::string lookup_failure(std::string_view type, std::string_view name, AnswerStatus status) {
    return std::string(type) + " lookup for " + std::string(name) +
           (status == AnswerStatus::timeout ? " timed out" : " failed temporarily");
}

}  // namespace

MxPlan plan_mx(std::string_view domain, const Result<MxAnswer>& answer, std::mt19937_64& random) {
    const std::string name(domain);
    if (!answer) {
        return failed<MxPlan>(Verdict::defer, "4.4.3",
                              "MX lookup for " + name + " failed: " + answer.error().message);
    }
    switch (answer->status) {
        case AnswerStatus::nxdomain:
            return failed<MxPlan>(Verdict::bounce, "5.1.2", "domain " + name + " does not exist");
        case AnswerStatus::nodata: {
            MxPlan plan;
            plan.verdict = Verdict::proceed;
            plan.hosts.push_back(MxHost{name, 0, true});
            return plan;
        }
        case AnswerStatus::temporary:
        case AnswerStatus::timeout:
            return failed<MxPlan>(Verdict::defer, "4.4.3",
                                  lookup_failure("MX", name, answer->status));
        case AnswerStatus::ok:
            break;
    }

    std::vector<MxHost> hosts;
    std::unordered_set<std::string> seen;
    std::vector<MxRecord> records = answer->records;
    // A duplicate exchange keeps its most preferred entry.
    std::sort(records.begin(), records.end(),
              [](const MxRecord& x, const MxRecord& y) { return x.preference < y.preference; });
    for (const MxRecord& record : records) {
        if (record.exchange == ".") continue;
        if (!seen.insert(to_lower(record.exchange)).second) continue;
        hosts.push_back(MxHost{record.exchange, record.preference, false});
    }
    if (hosts.empty()) {
        // Only "." left: a null MX (RFC 7505 3), or equally unusable records.
        return failed<MxPlan>(Verdict::bounce, "5.1.10",
                              "domain " + name + " does not accept mail (null MX)");
    }
    for (auto begin = hosts.begin(); begin != hosts.end();) {
        auto end = std::find_if(begin, hosts.end(), [&](const MxHost& host) {
            return host.preference != begin->preference;
        });
        std::shuffle(begin, end, random);
        begin = end;
    }
    MxPlan plan;
    plan.verdict = Verdict::proceed;
    plan.hosts = std::move(hosts);
    return plan;
}

HostTargets plan_host(const MxHost& host, const Result<AddressAnswer>& answer,
                      const AddressPolicy& policy) {
    if (!answer) {
        return failed<HostTargets>(
            Verdict::defer, "4.4.3",
            "address lookup for " + host.name + " failed: " + answer.error().message);
    }
    switch (answer->status) {
        case AnswerStatus::temporary:
        case AnswerStatus::timeout:
            return failed<HostTargets>(Verdict::defer, "4.4.3",
                                       lookup_failure("address", host.name, answer->status));
        case AnswerStatus::nxdomain:
            // An implicit MX is the domain itself: it vanished between the two lookups.
            return failed<HostTargets>(
                Verdict::bounce, host.implicit ? "5.1.2" : "5.4.4",
                (host.implicit ? "domain " : "MX host ") + host.name + " does not exist");
        case AnswerStatus::nodata:
            return failed<HostTargets>(Verdict::bounce, "5.4.4",
                                       host.implicit
                                           ? "domain " + host.name + " has no MX and no address"
                                           : "MX host " + host.name + " has no address");
        case AnswerStatus::ok:
            break;
    }
    HostTargets targets;
    for (const std::string& address : answer->records) {
        if (auto refusal = policy.refusal(address)) {
            targets.refused.push_back(std::move(*refusal));
        } else {
            targets.addresses.push_back(address);
        }
    }
    if (targets.addresses.empty()) {
        std::string reason = "no permitted address for " + host.name;
        for (const std::string& refusal : targets.refused)
            reason += "; " + refusal;
        targets.verdict = Verdict::bounce;
        targets.enhanced_status = "5.4.4";
        targets.reason = std::move(reason);
        return targets;
    }
    targets.verdict = Verdict::proceed;
    return targets;
}

}  // namespace smarthost::dns
