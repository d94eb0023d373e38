#include "relay/dns/resolver.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <chrono>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include "relay/dns/address_policy.hpp"
#include "relay/dns/mx_plan.hpp"
#include "tests/support/dnsmasq.hpp"
#include "tests/support/run_awaitable.hpp"

namespace smarthost::dns {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;
using namespace boost::asio::experimental::awaitable_operators;
using test::Dnsmasq;
using test::DnsRecord;
using Clock = std::chrono::steady_clock;

std::vector<DnsRecord> fixture_records() {
    return {
        DnsRecord::mx("multi.test", 10, "mx1.multi.test"),
        DnsRecord::mx("multi.test", 20, "mx2.multi.test"),
        DnsRecord::mx("multi.test", 20, "mx3.multi.test"),
        DnsRecord::address("mx1.multi.test", "127.0.0.2"),
        DnsRecord::address("nomx.test", "127.0.0.3"),
        DnsRecord::address("nomx.test", "::1"),
        DnsRecord::address("v6.test", "2001:db8::25"),
        DnsRecord::null_mx("nullmx.test"),
        DnsRecord::nxdomain("nx.test"),
        DnsRecord::txt("txt.test", {"v=spf1 ", "-all"}),
        DnsRecord::txt("txt.test", {"second record"}),
        DnsRecord::unanswered("slow.test"),
    };
}

template <class Record>
std::set<Record> as_set(const std::vector<Record>& records) {
    return std::set<Record>(records.begin(), records.end());
}

class ResolverTest : public ::testing::Test {
  protected:
    Resolver::Settings settings(std::chrono::milliseconds timeout = 5s) {
        Resolver::Settings result;
        result.forwarders = {dns.forwarder()};
        result.timeout = timeout;
        return result;
    }
    template <class T>
    T run(asio::awaitable<T> task) {
        return test::run_awaitable(io, std::move(task));
    }

    Dnsmasq dns{fixture_records()};
    asio::io_context io;
};

TEST_F(ResolverTest, MxRecordsComeWithTheirPreferencesAndTtl) {
    Resolver resolver(io.get_executor(), settings());
    auto answer = run(resolver.mx("multi.test"));
    ASSERT_TRUE(answer) << answer.error().message;
    EXPECT_EQ(answer->status, AnswerStatus::ok);
    std::set<std::pair<int, std::string>> records;
    for (const MxRecord& record : answer->records)
        records.emplace(record.preference, record.exchange);
    EXPECT_EQ(records,
              (std::set<std::pair<int, std::string>>{
                  {10, "mx1.multi.test"}, {20, "mx2.multi.test"}, {20, "mx3.multi.test"}}));
    EXPECT_GT(answer->ttl_seconds, 0u);
    EXPECT_LE(answer->ttl_seconds, 60u);
}

TEST_F(ResolverTest, MxAnswerPlansPreferredHostFirst) {
    Resolver resolver(io.get_executor(), settings());
    std::mt19937_64 random(7);
    auto plan = plan_mx("multi.test", run(resolver.mx("multi.test")), random);
    ASSERT_EQ(plan.verdict, Verdict::proceed);
    ASSERT_EQ(plan.hosts.size(), 3u);
    EXPECT_EQ(plan.hosts[0].name, "mx1.multi.test");
    auto targets = plan_host(plan.hosts[0], run(resolver.addresses(plan.hosts[0].name)),
                             AddressPolicy({"127.0.0.0/8"}));
    ASSERT_EQ(targets.verdict, Verdict::proceed) << targets.reason;
    EXPECT_EQ(targets.addresses, std::vector<std::string>{"127.0.0.2"});
}

TEST_F(ResolverTest, DomainWithoutMxIsNodataAndFallsBackToItsAddresses) {
    Resolver resolver(io.get_executor(), settings());
    auto mx = run(resolver.mx("nomx.test"));
    ASSERT_TRUE(mx) << mx.error().message;
    EXPECT_EQ(mx->status, AnswerStatus::nodata);
    EXPECT_TRUE(mx->records.empty());

    std::mt19937_64 random(1);
    auto plan = plan_mx("nomx.test", mx, random);
    ASSERT_EQ(plan.verdict, Verdict::proceed);
    EXPECT_EQ(plan.hosts, std::vector<MxHost>{(MxHost{"nomx.test", 0, true})});

    auto a = run(resolver.a("nomx.test"));
    ASSERT_TRUE(a);
    EXPECT_EQ(a->records, std::vector<std::string>{"127.0.0.3"});
    auto both = run(resolver.addresses("nomx.test"));
    ASSERT_TRUE(both);
    EXPECT_EQ(both->status, AnswerStatus::ok);
    EXPECT_EQ(both->records, (std::vector<std::string>{"127.0.0.3", "::1"}));
}

TEST_F(ResolverTest, NullMxIsOneRecordPointingAtTheRoot) {
    Resolver resolver(io.get_executor(), settings());
    auto answer = run(resolver.mx("nullmx.test"));
    ASSERT_TRUE(answer) << answer.error().message;
    ASSERT_EQ(answer->status, AnswerStatus::ok);
    EXPECT_EQ(answer->records, std::vector<MxRecord>{(MxRecord{0, "."})});
    std::mt19937_64 random(1);
    auto plan = plan_mx("nullmx.test", answer, random);
    EXPECT_EQ(plan.verdict, Verdict::bounce);
    EXPECT_EQ(plan.enhanced_status, "5.1.10");
}

TEST_F(ResolverTest, UnknownNamesAreNxdomain) {
    Resolver resolver(io.get_executor(), settings());
    for (const char* name : {"nx.test", "host.nx.test", "missing.test"}) {
        auto answer = run(resolver.mx(name));
        ASSERT_TRUE(answer) << answer.error().message;
        EXPECT_EQ(answer->status, AnswerStatus::nxdomain) << name;
        EXPECT_EQ(answer->rcode, 3) << name;
    }
    std::mt19937_64 random(1);
    auto plan = plan_mx("nx.test", run(resolver.mx("nx.test")), random);
    EXPECT_EQ(plan.verdict, Verdict::bounce);
    EXPECT_EQ(plan.enhanced_status, "5.1.2");
}

TEST_F(ResolverTest, AaaaRecords) {
    Resolver resolver(io.get_executor(), settings());
    auto aaaa = run(resolver.aaaa("v6.test"));
    ASSERT_TRUE(aaaa) << aaaa.error().message;
    EXPECT_EQ(aaaa->status, AnswerStatus::ok);
    EXPECT_EQ(aaaa->records, std::vector<std::string>{"2001:db8::25"});
    auto a = run(resolver.a("v6.test"));
    ASSERT_TRUE(a);
    EXPECT_EQ(a->status, AnswerStatus::nodata);
}

TEST_F(ResolverTest, AddressFamiliesFollowTheSettings) {
    auto only_v6 = settings();
    only_v6.ipv4 = false;
    Resolver v6(io.get_executor(), only_v6);
    auto answer = run(v6.addresses("nomx.test"));
    ASSERT_TRUE(answer);
    EXPECT_EQ(answer->records, std::vector<std::string>{"::1"});

    auto only_v4 = settings();
    only_v4.ipv6 = false;
    Resolver v4(io.get_executor(), only_v4);
    auto none = run(v4.addresses("v6.test"));
    ASSERT_TRUE(none);
    EXPECT_EQ(none->status, AnswerStatus::nodata);
}

TEST_F(ResolverTest, TxtRecordsJoinTheirStrings) {
    Resolver resolver(io.get_executor(), settings());
    auto answer = run(resolver.txt("txt.test"));
    ASSERT_TRUE(answer) << answer.error().message;
    EXPECT_EQ(answer->status, AnswerStatus::ok);
    EXPECT_EQ(as_set(answer->records), (std::set<std::string>{"v=spf1 -all", "second record"}));
}

TEST_F(ResolverTest, RefusalByTheServerIsTemporary) {
    Resolver resolver(io.get_executor(), settings(10s));
    auto answer = run(resolver.a("outside.example"));  // dnsmasq: REFUSED, no upstream
    ASSERT_TRUE(answer) << answer.error().message;
    EXPECT_EQ(answer->status, AnswerStatus::temporary);
    std::mt19937_64 random(1);
    EXPECT_EQ(plan_mx("outside.example", run(resolver.mx("outside.example")), random).verdict,
              Verdict::defer);
}

TEST_F(ResolverTest, UnansweredQueryTimesOutAtTheDeadline) {
    Resolver resolver(io.get_executor(), settings(300ms));
    const auto started = Clock::now();
    auto answer = run(resolver.mx("slow.test"));
    const auto elapsed = Clock::now() - started;
    ASSERT_TRUE(answer) << answer.error().message;
    EXPECT_EQ(answer->status, AnswerStatus::timeout);
    EXPECT_GE(elapsed, 290ms);
    EXPECT_LT(elapsed, 3s);
    EXPECT_EQ(resolver.pending(), 0u);
    std::mt19937_64 random(1);
    EXPECT_EQ(plan_mx("slow.test", answer, random).verdict, Verdict::defer);
}

TEST_F(ResolverTest, ManyConcurrentQueriesAllGetTheirOwnAnswers) {
    Resolver resolver(io.get_executor(), settings());
    constexpr int k_rounds = 100;
    int correct = 0;
    int finished = 0;
    for (int i = 0; i < k_rounds; ++i) {
        asio::co_spawn(
            io,
            [&]() -> asio::awaitable<void> {
                auto [mx, a, aaaa, nx] =
                    co_await (resolver.mx("multi.test") && resolver.a("nomx.test") &&
                              resolver.aaaa("v6.test") && resolver.a("nope.nx.test"));
                correct += mx && mx->records.size() == 3 && a &&
                           a->records == std::vector<std::string>{"127.0.0.3"} && aaaa &&
                           aaaa->records == std::vector<std::string>{"2001:db8::25"} && nx &&
                           nx->status == AnswerStatus::nxdomain;
                ++finished;
            },
            asio::detached);
    }
    io.run();
    EXPECT_EQ(finished, k_rounds);
    EXPECT_EQ(correct, k_rounds);
    EXPECT_EQ(resolver.pending(), 0u);
}

TEST_F(ResolverTest, TimeoutsDoNotDisturbConcurrentAnswers) {
    Resolver resolver(io.get_executor(), settings(400ms));
    int timed_out = 0;
    int answered = 0;
    for (int i = 0; i < 20; ++i) {
        asio::co_spawn(
            io,
            [&, i]() -> asio::awaitable<void> {
                auto slow = co_await resolver.a("host" + std::to_string(i) + ".slow.test");
                timed_out += slow && slow->status == AnswerStatus::timeout;
            },
            asio::detached);
        asio::co_spawn(
            io,
            [&]() -> asio::awaitable<void> {
                auto fast = co_await resolver.a("mx1.multi.test");
                answered += fast && fast->records == std::vector<std::string>{"127.0.0.2"};
            },
            asio::detached);
    }
    io.run();
    EXPECT_EQ(timed_out, 20);
    EXPECT_EQ(answered, 20);
    EXPECT_EQ(resolver.pending(), 0u);
    // Still serving after the cancelled queries.
    auto after = run(resolver.mx("multi.test"));
    ASSERT_TRUE(after);
    EXPECT_EQ(after->status, AnswerStatus::ok);
}

TEST_F(ResolverTest, CancelledQueryIsForgotten) {
    Resolver resolver(io.get_executor(), settings(30s));
    const auto started = Clock::now();
    auto outcome = run([&]() -> asio::awaitable<bool> {
        asio::steady_timer give_up(co_await asio::this_coro::executor, 200ms);
        auto winner = co_await (resolver.a("slow.test") ||
                                give_up.async_wait(asio::as_tuple(asio::use_awaitable)));
        co_return winner.index() == 1;
    }());
    EXPECT_TRUE(outcome);
    EXPECT_LT(Clock::now() - started, 5s);  // io.run() returned: nothing left waiting
    EXPECT_EQ(resolver.pending(), 0u);
    auto after = run(resolver.a("mx1.multi.test"));
    ASSERT_TRUE(after);
    EXPECT_EQ(after->records, std::vector<std::string>{"127.0.0.2"});
}

TEST_F(ResolverTest, DestroyingTheResolverEndsQueriesInFlight) {
    std::optional<Resolver> resolver(std::in_place, io.get_executor(), settings(30s));
    int shut_down = 0;
    for (int i = 0; i < 10; ++i) {
        asio::co_spawn(
            io,
            [&]() -> asio::awaitable<void> {
                auto answer = co_await resolver->mx("slow.test");
                shut_down += !answer && answer.error().unavailable;
            },
            asio::detached);
    }
    asio::steady_timer later(io, 100ms);
    later.async_wait([&](boost::system::error_code) { resolver.reset(); });
    const auto started = Clock::now();
    io.run();
    EXPECT_LT(Clock::now() - started, 5s);
    EXPECT_EQ(shut_down, 10);
}

TEST_F(ResolverTest, AnswersAreCachedForTheirTtl) {
    Resolver resolver(io.get_executor(), settings(500ms));
    auto first = run(resolver.mx("multi.test"));
    ASSERT_TRUE(first);
    ASSERT_EQ(first->status, AnswerStatus::ok);
    dns.stop();
    auto cached = run(resolver.mx("multi.test"));
    ASSERT_TRUE(cached) << cached.error().message;
    EXPECT_EQ(cached->status, AnswerStatus::ok);
    EXPECT_EQ(cached->records.size(), 3u);
    // Not cached: the server is gone, so there is no answer.
    auto uncached = run(resolver.mx("nomx.test"));
    ASSERT_TRUE(uncached);
    EXPECT_NE(uncached->status, AnswerStatus::ok);
    EXPECT_NE(uncached->status, AnswerStatus::nodata);
}

TEST_F(ResolverTest, MalformedNameIsAnError) {
    Resolver resolver(io.get_executor(), settings());
    auto answer = run(resolver.a(std::string(64, 'a') + ".test"));
    ASSERT_FALSE(answer);
    EXPECT_FALSE(answer.error().unavailable) << answer.error().message;
}

TEST_F(ResolverTest, BadForwarderIsAStartUpError) {
    Resolver::Settings bad;
    bad.forwarders = {"not-an-address"};
    EXPECT_THROW(Resolver(io.get_executor(), bad), std::runtime_error);
}

TEST_F(ResolverTest, MissingResolvConfIsAStartUpError) {
    Resolver::Settings system;
    system.resolv_conf = "/nonexistent/resolv.conf";
    EXPECT_THROW(Resolver(io.get_executor(), system), std::runtime_error);
}

TEST_F(ResolverTest, ResolvConfServersAreUsedWithoutForwarders) {
    // resolv.conf cannot name a port, so this only shows it is read and accepted; the
    // queries themselves are covered through forwarders above.
    char path[] = "/tmp/smarthost-resolv-XXXXXX";
    const int fd = ::mkstemp(path);
    ASSERT_GE(fd, 0);
    const std::string content = "nameserver 127.0.0.1\n";
    ASSERT_EQ(::write(fd, content.data(), content.size()), static_cast<ssize_t>(content.size()));
    ::close(fd);
    Resolver::Settings system;
    system.resolv_conf = path;
    EXPECT_NO_THROW(Resolver(io.get_executor(), system));
    ::unlink(path);
}

}  // namespace
}  // namespace smarthost::dns
