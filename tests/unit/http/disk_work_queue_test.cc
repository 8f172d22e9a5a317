// DiskWorkQueue: what is admitted and what is shed with 503 + Retry-After, and that an
// admission ends with its answer (or when the handler drops its responder unanswered).

#include "http/disk_work_queue.h"

#include <gtest/gtest.h>

#include <atomic>
#include <future>
#include <optional>
#include <thread>

namespace fp::http {
namespace {

// The worker lets go of a handler's responder just after the answer: wait for that.
size_t settled_in_flight(const DiskWorkQueue& q) {
  for (int i = 0; i < 500 && q.stats().in_flight != 0; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  return q.stats().in_flight;
}

std::string header(const Response& r, std::string_view name) {
  for (const auto& [k, v] : r.headers)
    if (k == name) return v;
  return {};
}

TEST(DiskWorkQueue, ClassifiesRoutes) {
  Route ingest{Method::kPost, "/api/v1/telemetry", Access::kDevice, {}, {}};
  Route device{Method::kPost, "/api/v1/devices", Access::kWrite, {}, {}};
  Route query{Method::kPost, "/prometheus/api/v1/query", Access::kRead, {}, {}};
  EXPECT_EQ(DiskWorkQueue::needs_disk(ingest, Method::kPost), DiskWorkQueue::Use::kAsync);
  EXPECT_EQ(DiskWorkQueue::needs_disk(device, Method::kPost), DiskWorkQueue::Use::kBlocking);
  EXPECT_EQ(DiskWorkQueue::needs_disk(device, Method::kGet), DiskWorkQueue::Use::kNone);
  EXPECT_EQ(DiskWorkQueue::needs_disk(query, Method::kPost), DiskWorkQueue::Use::kNone);
}

TEST(DiskWorkQueue, BlockingHandlersRunOffTheCallingThread) {
  DiskWorkQueue q({.threads = 2, .max_in_flight = 10, .shed_after_ms = 60'000});
  std::promise<std::thread::id> ran_on;
  std::promise<int> answered;
  q.run(
      DiskWorkQueue::Use::kBlocking, ErrorStyle::kApi,
      [&](Responder r) {
        ran_on.set_value(std::this_thread::get_id());
        r(Response::json(201, "{}"));
      },
      [&](Response r) { answered.set_value(r.status); });
  EXPECT_NE(ran_on.get_future().get(), std::this_thread::get_id());
  EXPECT_EQ(answered.get_future().get(), 201);
  EXPECT_EQ(settled_in_flight(q), 0u);
}

TEST(DiskWorkQueue, ShedsWhenTheOldestRequestWaitedTooLong) {
  DiskWorkQueue q({.threads = 1, .max_in_flight = 100, .shed_after_ms = 50, .retry_after_s = 3});
  Responder held;  // the first request's answer, not given yet (its disk is slow)
  q.run(
      DiskWorkQueue::Use::kAsync, ErrorStyle::kApi, [&](Responder r) { held = std::move(r); },
      [](Response) {});
  EXPECT_EQ(q.stats().in_flight, 1u);
  EXPECT_FALSE(q.stats().shedding);
  std::this_thread::sleep_for(std::chrono::milliseconds(80));
  EXPECT_TRUE(q.stats().shedding);
  std::optional<Response> shed;
  bool ran = false;
  q.run(
      DiskWorkQueue::Use::kAsync, ErrorStyle::kApi, [&](Responder) { ran = true; },
      [&](Response r) { shed = std::move(r); });
  ASSERT_TRUE(shed.has_value());  // answered at once, on this thread
  EXPECT_FALSE(ran);
  EXPECT_EQ(shed->status, 503);
  EXPECT_EQ(header(*shed, "Retry-After"), "3");
  EXPECT_NE(shed->body.find("disk_overloaded"), std::string::npos);
  EXPECT_EQ(q.stats().shed, 1u);
  // Once the slow one is answered (and its handler done), requests are admitted again.
  held(Response::json(200, "{}"));
  held = nullptr;
  EXPECT_FALSE(q.stats().shedding);
  bool admitted = false;
  q.run(
      DiskWorkQueue::Use::kAsync, ErrorStyle::kApi,
      [&](Responder r) {
        admitted = true;
        r(Response::json(200, "{}"));
      },
      [](Response) {});
  EXPECT_TRUE(admitted);
}

TEST(DiskWorkQueue, ShedsBeyondMaxInFlightAndOnCatalogBacklog) {
  std::atomic<int64_t> backlog{0};
  DiskWorkQueue q(
      {.threads = 1, .max_in_flight = 2, .shed_after_ms = 60'000, .catalog_backlog_ms = [&] {
         return backlog.load();
       }});
  std::vector<Responder> held;
  for (int i = 0; i < 2; ++i)
    q.run(
        DiskWorkQueue::Use::kAsync, ErrorStyle::kApi,
        [&](Responder r) { held.push_back(std::move(r)); }, [](Response) {});
  int status = 0;
  q.run(
      DiskWorkQueue::Use::kAsync, ErrorStyle::kApi, [](Responder) {},
      [&](Response r) { status = r.status; });
  EXPECT_EQ(status, 503);
  for (auto& r : held) r(Response::json(200, "{}"));
  held.clear();       // the handlers are done with their responders
  backlog = 120'000;  // a catalog write has waited two minutes
  status = 0;
  q.run(
      DiskWorkQueue::Use::kAsync, ErrorStyle::kApi, [](Responder) {},
      [&](Response r) { status = r.status; });
  EXPECT_EQ(status, 503);
  EXPECT_NE(q.stats().reason.find("catalog"), std::string::npos);
}

TEST(DiskWorkQueue, ADroppedResponderOrAThrowEndsTheAdmission) {
  DiskWorkQueue q({.threads = 1, .max_in_flight = 1, .shed_after_ms = 60'000});
  q.run(
      DiskWorkQueue::Use::kAsync, ErrorStyle::kApi, [](Responder) {}, [](Response) {});
  EXPECT_EQ(settled_in_flight(q), 0u);  // the handler dropped its responder
  std::promise<int> answered;
  q.run(
      DiskWorkQueue::Use::kBlocking, ErrorStyle::kApi,
      [](Responder) { throw std::runtime_error("boom"); },
      [&](Response r) { answered.set_value(r.status); });
  EXPECT_EQ(answered.get_future().get(), 500);
  EXPECT_EQ(settled_in_flight(q), 0u);
}

TEST(DiskWorkQueue, AnAdmittedRequestTheDiskHoldsTooLongIsAnswered503) {
  DiskWorkQueue q({.threads = 1,
                   .max_in_flight = 10,
                   .shed_after_ms = 60'000,
                   .retry_after_s = 4,
                   .answer_within_ms = 100});
  Responder held;
  std::promise<Response> answered;
  std::atomic<int> answers{0};
  q.run(
      DiskWorkQueue::Use::kAsync, ErrorStyle::kApi, [&](Responder r) { held = std::move(r); },
      [&](Response r) {
        if (answers++ == 0) answered.set_value(std::move(r));
      });
  auto f = answered.get_future();
  ASSERT_EQ(f.wait_for(std::chrono::seconds(5)), std::future_status::ready);
  const Response r = f.get();
  EXPECT_EQ(r.status, 503);
  EXPECT_EQ(header(r, "Retry-After"), "4");
  EXPECT_NE(r.body.find("may or may not be stored"), std::string::npos);
  EXPECT_EQ(q.stats().timed_out, 1u);
  // Still waiting for the disk: it counts as in flight until the handler is done.
  EXPECT_EQ(q.stats().in_flight, 1u);
  held(Response::json(200, "{}"));  // the late answer is dropped
  EXPECT_EQ(answers.load(), 1);
  held = nullptr;
  EXPECT_EQ(q.stats().in_flight, 0u);
}

TEST(DiskWorkQueue, StopRunsWhatIsQueuedBeforeReturningAndRefusesLaterRequests) {
  DiskWorkQueue q({.threads = 1, .max_in_flight = 100, .shed_after_ms = 60'000});
  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  std::atomic<int> ran{0};
  // One job holds the only worker; the others wait in the queue behind it.
  for (int i = 0; i < 5; ++i)
    q.run(
        DiskWorkQueue::Use::kBlocking, ErrorStyle::kApi,
        [&, released](Responder r) {
          released.wait();
          ++ran;
          r(Response::json(201, "{}"));
        },
        [](Response) {});
  std::thread stopper([&] { q.stop(); });
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  release.set_value();
  stopper.join();
  // Nothing queued is left for the destructor, which runs after what the jobs use is gone.
  EXPECT_EQ(ran.load(), 5);
  std::optional<Response> late;
  bool handler_ran = false;
  q.run(
      DiskWorkQueue::Use::kBlocking, ErrorStyle::kApi, [&](Responder) { handler_ran = true; },
      [&](Response r) { late = std::move(r); });
  ASSERT_TRUE(late.has_value());
  EXPECT_EQ(late->status, 503);
  EXPECT_FALSE(handler_ran);
  q.stop();  // idempotent
}

}  // namespace
}  // namespace fp::http
