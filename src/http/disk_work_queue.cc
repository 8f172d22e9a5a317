#include "http/disk_work_queue.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <exception>
#include <string_view>
#include <utility>

namespace fp::http {
namespace {

using SteadyClock = std::chrono::steady_clock;

int64_t ms_between(SteadyClock::time_point a, SteadyClock::time_point b) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(b - a).count();
}

// The routes whose state-changing handlers wait for a catalog write.
constexpr std::array<std::string_view, 5> kCatalogWritePrefixes = {
    "/api/v1/devices", "/api/v1/admin/", "/api/v1/rules", "/api/v1/alerts",
    "/api/v1/notifications/"};

}  // namespace

DiskWorkQueue::Use DiskWorkQueue::needs_disk(const Route& route, Method method) {
  if (method != Method::kPost && method != Method::kPut && method != Method::kPatch &&
      method != Method::kDelete)
    return Use::kNone;
  // Device-token routes are the ingest routes: they answer from the Ingestor's commit.
  if (route.access == Access::kDevice) return Use::kAsync;
  for (std::string_view p : kCatalogWritePrefixes)
    if (std::string_view(route.pattern).starts_with(p)) return Use::kBlocking;
  return Use::kNone;
}

DiskWorkQueue::DiskWorkQueue(DiskWorkOptions options) : options_(std::move(options)) {
  for (int i = 0; i < std::max(1, options_.threads); ++i)
    workers_.emplace_back([this] { worker_loop(); });
  deadline_thread_ = std::thread([this] { deadline_loop(); });
}

DiskWorkQueue::~DiskWorkQueue() {
  stop();
}

void DiskWorkQueue::stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  deadline_cv_.notify_all();
  for (auto& t : workers_)
    if (t.joinable()) t.join();
  if (deadline_thread_.joinable()) deadline_thread_.join();
}

int64_t DiskWorkQueue::oldest_locked(SteadyClock::time_point now) const {
  return admitted_.empty() ? 0 : ms_between(admitted_.begin()->second.since, now);
}

std::string DiskWorkQueue::overload_reason(int64_t oldest_ms, size_t in_flight,
                                           int64_t backlog_ms) const {
  if (in_flight >= options_.max_in_flight)
    return std::to_string(in_flight) + " requests are waiting for the disk";
  if (oldest_ms >= options_.shed_after_ms)
    return "a request has waited " + std::to_string(oldest_ms) + " ms for the disk";
  if (backlog_ms >= options_.shed_after_ms)
    return "a catalog write has waited " + std::to_string(backlog_ms) + " ms for the disk";
  return {};
}

// One admitted request: its answer is given once, by the handler or by the deadline.
struct DiskWorkQueue::Admission {
  Admission(DiskWorkQueue* q, uint64_t t, ErrorStyle s, Responder r)
      : queue(q), ticket(t), style(s), respond(std::move(r)) {}
  DiskWorkQueue* queue;
  uint64_t ticket;
  ErrorStyle style;
  Responder respond;
  std::atomic<bool> answered{false};
  // True for the first caller only.
  bool claim() { return !answered.exchange(true); }
  // The handler's answer (or none: it dropped its responder) ends the admission.
  ~Admission() { queue->release(ticket); }
};

Response DiskWorkQueue::unavailable(ErrorStyle style, const std::string& message) const {
  Response r = styled_error(style, 503, "disk_overloaded", message);
  // Ours instead of the generic one second: the disk needs longer to catch up.
  std::erase_if(r.headers, [](const auto& h) { return h.first == "Retry-After"; });
  r.headers.emplace_back("Retry-After", std::to_string(options_.retry_after_s));
  return r;
}

void DiskWorkQueue::run(Use use, ErrorStyle style, std::function<void(Responder)> handler,
                        Responder respond) {
  const int64_t backlog = options_.catalog_backlog_ms ? options_.catalog_backlog_ms() : 0;
  const auto now = SteadyClock::now();
  std::string reason;
  std::shared_ptr<Admission> admission;
  bool stopped = false;
  bool first = false;  // the deadline thread sleeps without a timeout while nothing is admitted
  {
    std::lock_guard lock(mu_);
    stopped = stopping_;  // no worker would run it, and what it uses may be gone soon
    if (!stopped) reason = overload_reason(oldest_locked(now), admitted_.size(), backlog);
    if (!reason.empty()) {
      ++shed_;
    } else if (!stopped) {
      admission = std::make_shared<Admission>(this, ++next_ticket_, style, std::move(respond));
      first = admitted_.empty();
      admitted_.emplace(admission->ticket, Entry{now, admission, false});
    }
  }
  if (first) deadline_cv_.notify_one();
  if (stopped)
    return respond(styled_error(style, 503, "unavailable", "the server is shutting down"));
  if (!admission)
    return respond(unavailable(style, "the server's disk is behind (" + reason + "); retry in " +
                                          std::to_string(options_.retry_after_s) + " s"));

  Responder answer = [admission](Response res) {
    if (admission->claim()) admission->respond(std::move(res));
    // else the deadline answered already: this late answer is dropped.
  };
  auto call = [handler = std::move(handler), answer = std::move(answer)]() mutable {
    try {
      handler(answer);
    } catch (const std::exception& e) {
      spdlog::error("event=handler_exception error=\"{}\"", e.what());
      answer(error_response(500, "internal", "internal error"));
    }
  };
  if (use != Use::kBlocking) return call();
  {
    std::lock_guard lock(mu_);
    work_.emplace_back(std::move(call));
  }
  cv_.notify_one();
}

void DiskWorkQueue::release(uint64_t ticket) {
  std::lock_guard lock(mu_);
  admitted_.erase(ticket);
}

void DiskWorkQueue::deadline_loop() {
  std::unique_lock lock(mu_);
  while (!stopping_) {
    // Every 50 ms while requests are admitted; with none, until one is (an idle server's
    // thread does not wake 20 times a second for nothing).
    if (admitted_.empty())
      deadline_cv_.wait(lock, [&] { return stopping_ || !admitted_.empty(); });
    else
      deadline_cv_.wait_for(lock, std::chrono::milliseconds(50));
    const auto now = SteadyClock::now();
    std::vector<std::shared_ptr<Admission>> late;
    for (auto& [ticket, e] : admitted_) {  // oldest first
      if (ms_between(e.since, now) < options_.answer_within_ms) break;
      if (e.expired) continue;
      e.expired = true;
      if (auto a = e.admission.lock()) late.push_back(std::move(a));
    }
    if (late.empty()) continue;
    lock.unlock();
    for (auto& a : late) {
      if (!a->claim()) continue;
      ++timed_out_;
      // Not an acknowledgement: the write may still commit (a retry of telemetry or a
      // heartbeat overwrites the same points; a retried create answers 409).
      a->respond(unavailable(a->style, "the disk did not commit this write within " +
                                           std::to_string(options_.answer_within_ms) +
                                           " ms; it may or may not be stored: retry"));
    }
    late.clear();  // the last references may end admissions: release() locks mu_
    lock.lock();
  }
}

DiskWorkQueue::Stats DiskWorkQueue::stats() const {
  Stats s;
  s.catalog_backlog_ms = options_.catalog_backlog_ms ? options_.catalog_backlog_ms() : 0;
  std::lock_guard lock(mu_);
  s.in_flight = admitted_.size();
  s.oldest_ms = oldest_locked(SteadyClock::now());
  s.shed = shed_;
  s.timed_out = timed_out_.load();
  s.reason = overload_reason(s.oldest_ms, s.in_flight, s.catalog_backlog_ms);
  s.shedding = !s.reason.empty();
  return s;
}

void DiskWorkQueue::worker_loop() {
  for (;;) {
    std::function<void()> job;
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [this] { return stopping_ || !work_.empty(); });
      if (work_.empty()) return;
      job = std::move(work_.front());
      work_.pop_front();
    }
    job();
  }
}

bool dispatch_disk_work(DiskWorkQueue* q, const Route& route, RequestContext& rc, ErrorStyle style,
                        const Responder& done) {
  if (q == nullptr) return false;
  const DiskWorkQueue::Use use = DiskWorkQueue::needs_disk(route, rc.request.method);
  if (use == DiskWorkQueue::Use::kNone) return false;
  auto ctx = std::make_shared<RequestContext>(std::move(rc));
  q->run(
      use, style, [ctx, &route](Responder respond) { route.handler(*ctx, std::move(respond)); },
      done);
  return true;
}

}  // namespace fp::http
