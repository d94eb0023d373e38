#include "relay/dns/resolver.hpp"

#include <unbound.h>

#include <algorithm>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <optional>
#include <stdexcept>
#include <unordered_map>
#include <utility>

#include "core/metrics/metrics.hpp"
#include "relay/dns/rdata.hpp"

namespace smarthost::dns {

namespace asio = boost::asio;
using namespace boost::asio::experimental::awaitable_operators;

const char* to_string(AnswerStatus status) {
    switch (status) {
        case AnswerStatus::ok:
            return "ok";
        case AnswerStatus::nxdomain:
            return "nxdomain";
        case AnswerStatus::nodata:
            return "nodata";
        case AnswerStatus::temporary:
            return "temporary";
        case AnswerStatus::timeout:
            return "timeout";
    }
    return "unknown";
}

namespace {

// The `type` label of smarthost_dns_lookups_total: a fixed set, whatever is asked.
const char* type_label(int type) {
    switch (type) {
        case rr_type::a:
            return "A";
        case rr_type::aaaa:
            return "AAAA";
        case rr_type::mx:
            return "MX";
        case rr_type::txt:
            return "TXT";
        case rr_type::tlsa:
            return "TLSA";
    }
    return "other";
}

constexpr int k_class_in = 1;
constexpr int k_rcode_nxdomain = 3;

// One question in flight. libunbound's callback gets a raw pointer to it; the Impl's
// `pending` map keeps it alive until the callback has run or ub_cancel succeeded.
struct Query {
    explicit Query(const asio::any_io_executor& executor) : wakeup(executor) {}
    ~Query() {
        if (result) ub_resolve_free(result);
    }
    Query(const Query&) = delete;
    Query& operator=(const Query&) = delete;

    asio::steady_timer wakeup;  // the deadline; cancelled early when the answer arrives
    int async_id = 0;
    bool answered = false;
    bool abandoned = false;  // the resolver shut down under it
    int error = 0;
    ub_result* result = nullptr;
};

void check(int rc, const char* what) {
    if (rc != 0) throw std::runtime_error(std::string(what) + ": " + ub_strerror(rc));
}

RawAnswer raw_answer(const ub_result& result) {
    RawAnswer answer;
    answer.rcode = result.rcode;
    answer.ttl_seconds = result.ttl > 0 ? static_cast<std::uint32_t>(result.ttl) : 0;
    answer.secure = result.secure != 0 && result.bogus == 0;
    if (result.rcode == k_rcode_nxdomain || result.nxdomain) {
        answer.status = AnswerStatus::nxdomain;
    } else if (result.rcode != 0 || result.bogus) {
        answer.status = AnswerStatus::temporary;
    } else if (!result.havedata) {
        answer.status = AnswerStatus::nodata;
    } else {
        answer.status = AnswerStatus::ok;
        for (int i = 0; result.data[i]; ++i) {
            answer.records.emplace_back(result.data[i], static_cast<std::size_t>(result.len[i]));
        }
    }
    return answer;
}

template <class Record, class Parse>
Result<Answer<Record>> decoded(Result<RawAnswer> raw, const std::string& name, Parse parse) {
    if (!raw) return raw.error();
    Answer<Record> answer{raw->status, {}, raw->ttl_seconds, raw->rcode, raw->secure};
    for (const std::string& rdata : raw->records) {
        auto record = parse(rdata);
        if (!record) return Error{"malformed DNS record for " + name, "", true};
        answer.records.push_back(std::move(*record));
    }
    return answer;
}

// Which failure says more about an address lookup: a resolver problem means we do not
// know, so it outranks "no such name", which outranks "no record of this type".
int failure_rank(AnswerStatus status) {
    switch (status) {
        case AnswerStatus::timeout:
            return 4;
        case AnswerStatus::temporary:
            return 3;
        case AnswerStatus::nxdomain:
            return 2;
        case AnswerStatus::nodata:
            return 1;
        case AnswerStatus::ok:
            return 0;
    }
    return 0;
}

}  // namespace

struct Resolver::Impl : std::enable_shared_from_this<Impl> {
    Impl(asio::any_io_executor executor_in, Settings settings_in)
        : executor(std::move(executor_in)), settings(std::move(settings_in)), pipe(executor) {
        ctx = ub_ctx_create();
        if (!ctx) throw std::runtime_error("cannot create a libunbound context");
        try {
            configure();
            pipe.assign(ub_fd(ctx));
        } catch (...) {
            ub_ctx_delete(ctx);
            throw;
        }
    }

    ~Impl() {
        // The descriptor belongs to libunbound, which closes it in ub_ctx_delete. Deleting
        // the context drops every outstanding query without calling its callback.
        if (pipe.is_open()) pipe.release();
        ub_ctx_delete(ctx);
    }

    void configure() {
        // A background thread, not a forked process: fork() in a threaded server is a trap.
        check(ub_ctx_async(ctx, 1), "libunbound async");
        // The validator only with a trust anchor: see the header. Forwarders may be on
        // loopback (dnsmasq in tests, a local caching resolver, Docker's 127.0.0.11),
        // which unbound refuses by default.
        const bool validate = !settings.trust_anchor_file.empty();
        check(
            ub_ctx_set_option(ctx, "module-config:", validate ? "validator iterator" : "iterator"),
            "libunbound module-config");
        if (validate) {
            check(ub_ctx_add_ta_file(ctx, settings.trust_anchor_file.c_str()),
                  ("DNSSEC trust anchor file " + settings.trust_anchor_file).c_str());
        }
        check(ub_ctx_set_option(ctx, "do-not-query-localhost:", "no"),
              "libunbound do-not-query-localhost");
        if (settings.forwarders.empty()) {
            check(ub_ctx_resolvconf(ctx, settings.resolv_conf.c_str()),
                  ("reading " + settings.resolv_conf).c_str());
        }
        for (const std::string& forwarder : settings.forwarders) {
            check(ub_ctx_set_fwd(ctx, forwarder.c_str()), ("DNS forwarder " + forwarder).c_str());
        }
        if (!settings.forwarders.empty()) {
            // unbound answers NXDOMAIN itself for the RFC 6761 name "test."; configured
            // forwarders (test DNS servers) are asked instead.
            check(ub_ctx_zone_remove(ctx, "test."), "libunbound zone test.");
        }
    }

    static void on_answer(void* data, int error, ub_result* result) {
        auto* query = static_cast<Query*>(data);
        query->answered = true;
        query->error = error;
        query->result = result;
        query->wakeup.cancel();
    }

    // The result pipe is watched only while queries are pending, so an idle resolver
    // holds no work and io_context::run() can return.
    void watch() {
        if (watching || shut_down || pending.empty()) return;
        watching = true;
        pipe.async_wait(asio::posix::descriptor_base::wait_read,
                        [weak = weak_from_this()](boost::system::error_code ec) {
                            auto self = weak.lock();
                            if (!self) return;
                            self->watching = false;
                            if (!ec && !self->shut_down) self->process();
                            self->watch();
                        });
    }

    void process() {
        ub_process(ctx);
        std::erase_if(pending, [](const auto& entry) { return entry.second->answered; });
    }

    void forget(const std::shared_ptr<Query>& query) {
        pending.erase(query.get());
        if (pending.empty() && watching) pipe.cancel();
    }

    asio::awaitable<Result<RawAnswer>> ask(std::string name, int type,
                                           std::chrono::milliseconds timeout) {
        auto self = shared_from_this();  // survives the Resolver while we wait
        if (shut_down) co_return Error{"DNS resolver shut down", "", true};
        auto query = std::make_shared<Query>(executor);
        const int rc = ub_resolve_async(ctx, name.c_str(), type, k_class_in, query.get(),
                                        &Impl::on_answer, &query->async_id);
        if (rc != 0) {
            co_return Error{"cannot look up " + name + ": " + ub_strerror(rc), "", rc != UB_SYNTAX};
        }
        pending.emplace(query.get(), query);
        watch();
        if (!query->answered) {
            query->wakeup.expires_after(timeout.count() > 0 ? timeout : settings.timeout);
            co_await query->wakeup.async_wait(asio::as_tuple(asio::use_awaitable));
        }
        if (query->abandoned) co_return Error{"DNS resolver shut down", "", true};
        if (!query->answered) {
            // Deadline passed (or the caller cancelled us). If ub_cancel fails the answer
            // is already in the pipe: the query stays pending until its callback runs.
            if (ub_cancel(ctx, query->async_id) == 0) forget(query);
            RawAnswer timed_out;
            timed_out.status = AnswerStatus::timeout;
            co_return timed_out;
        }
        forget(query);
        if (query->error != 0 || !query->result) {
            co_return Error{"DNS lookup of " + name + " failed: " + ub_strerror(query->error), "",
                            query->error != UB_SYNTAX};
        }
        co_return raw_answer(*query->result);
    }

    void shutdown() {
        shut_down = true;
        for (auto& [raw, query] : pending) {
            ub_cancel(ctx, query->async_id);
            query->abandoned = true;
            query->wakeup.cancel();
        }
        pending.clear();
        if (watching) pipe.cancel();
    }

    asio::any_io_executor executor;
    Settings settings;
    ub_ctx* ctx = nullptr;
    asio::posix::stream_descriptor pipe;
    bool watching = false;
    bool shut_down = false;
    std::unordered_map<Query*, std::shared_ptr<Query>> pending;
};

Resolver::Resolver(asio::any_io_executor executor, Settings settings)
    : impl_(std::make_shared<Impl>(std::move(executor), std::move(settings))) {}

Resolver::~Resolver() {
    impl_->shutdown();
}

const Resolver::Settings& Resolver::settings() const {
    return impl_->settings;
}

std::size_t Resolver::pending() const {
    return impl_->pending.size();
}

asio::awaitable<Result<RawAnswer>> Resolver::query(std::string name, int type,
                                                   std::chrono::milliseconds timeout) {
    auto impl = impl_;
    auto answer = co_await impl->ask(std::move(name), type, timeout);
    metrics::global()
        .dns_lookups
        .Add({{"type", type_label(type)}, {"result", answer ? to_string(answer->status) : "error"}})
        .Increment();
    co_return answer;
}

asio::awaitable<Result<MxAnswer>> Resolver::mx(std::string domain) {
    auto raw = co_await query(domain, rr_type::mx);
    co_return decoded<MxRecord>(std::move(raw), domain, rdata::parse_mx);
}

asio::awaitable<Result<AddressAnswer>> Resolver::a(std::string name,
                                                   std::chrono::milliseconds timeout) {
    auto raw = co_await query(name, rr_type::a, timeout);
    co_return decoded<std::string>(std::move(raw), name, rdata::parse_a);
}

asio::awaitable<Result<AddressAnswer>> Resolver::aaaa(std::string name) {
    auto raw = co_await query(name, rr_type::aaaa);
    co_return decoded<std::string>(std::move(raw), name, rdata::parse_aaaa);
}

asio::awaitable<Result<TxtAnswer>> Resolver::txt(std::string name) {
    auto raw = co_await query(name, rr_type::txt);
    co_return decoded<std::string>(std::move(raw), name, rdata::parse_txt);
}

asio::awaitable<Result<TlsaAnswer>> Resolver::tlsa(std::string name) {
    auto raw = co_await query(name, rr_type::tlsa);
    co_return decoded<TlsaRecord>(std::move(raw), name, rdata::parse_tlsa);
}

asio::awaitable<Result<AddressAnswer>> Resolver::addresses(std::string name) {
    const Settings& config = impl_->settings;
    std::vector<Result<AddressAnswer>> answers;
    if (config.ipv4 && config.ipv6) {
        auto [v4, v6] = co_await (a(name) && aaaa(name));
        answers.push_back(std::move(v4));
        answers.push_back(std::move(v6));
    } else if (config.ipv4) {
        answers.push_back(co_await a(name));
    } else if (config.ipv6) {
        answers.push_back(co_await aaaa(name));
    } else {
        co_return Error{"neither IPv4 nor IPv6 is enabled for delivery", "", false};
    }

    AddressAnswer merged;
    merged.status = AnswerStatus::nodata;
    std::optional<std::uint32_t> ttl;
    std::optional<Error> error;
    merged.secure = true;
    for (auto& answer : answers) {
        if (!answer) {
            error = answer.error();
            merged.secure = false;
            continue;
        }
        merged.secure = merged.secure && answer->secure;
        ttl = std::min(ttl.value_or(answer->ttl_seconds), answer->ttl_seconds);
        if (answer->status == AnswerStatus::ok) {
            merged.records.insert(merged.records.end(), answer->records.begin(),
                                  answer->records.end());
        } else if (failure_rank(answer->status) > failure_rank(merged.status)) {
            merged.status = answer->status;
            merged.rcode = answer->rcode;
        }
    }
    merged.ttl_seconds = ttl.value_or(0);
    if (!merged.records.empty()) {
        merged.status = AnswerStatus::ok;
        merged.rcode = 0;
        co_return merged;
    }
    if (error) co_return *error;
    co_return merged;
}

}  // namespace smarthost::dns
