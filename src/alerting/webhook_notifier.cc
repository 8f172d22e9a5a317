#include "alerting/webhook_notifier.h"

#include <spdlog/spdlog.h>

#include <algorithm>

#include "alerting/alert_json.h"

namespace fp {

WebhookNotifier::WebhookNotifier(Catalog& catalog, const Clock& clock, NotifierOptions options,
                                 PostFn post)
    : catalog_(catalog), clock_(clock), options_(options), post_(std::move(post)) {}

WebhookNotifier::~WebhookNotifier() {
  stop();
}

Status WebhookNotifier::restore() {
  FP_ASSIGN_OR_RETURN(std::vector<WebhookDelivery> rows,
                      catalog_.load_deliveries(0, static_cast<int>(options_.max_pending)));
  if (!rows.empty()) spdlog::info("event=webhook_queue_restored deliveries={}", rows.size());
  const bool more = rows.size() >= options_.max_pending;
  enqueue(std::move(rows));
  if (more) {
    std::lock_guard lock(mu_);
    backlog_ = true;
  }
  return Status::Ok();
}

void WebhookNotifier::start() {
  std::lock_guard lock(mu_);
  if (thread_.joinable()) return;
  stopping_ = false;
  thread_ = std::thread([this] { run(); });
}

void WebhookNotifier::stop() {
  {
    std::lock_guard lock(mu_);
    if (!thread_.joinable()) return;
    stopping_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

std::string WebhookNotifier::payload(const AlertChange& c) {
  JsonWriter w;
  w.begin_object().field("event", "alert." + std::string(to_string(c.alert.state)));
  w.key("rule");
  if (c.alert.rule_id.empty())
    w.null();
  else
    w.begin_object().field("id", c.alert.rule_id).field("name", c.rule_name).end_object();
  w.key("alert");
  write_alert(w, c.alert);
  w.end_object();
  return w.take();
}

std::vector<WebhookDelivery> WebhookNotifier::plan(const AlertChange& change) {
  std::vector<WebhookDelivery> rows;
  if (change.webhooks.empty()) return rows;
  const std::string body = payload(change);
  const int64_t now = clock_.now_ms();
  for (const std::string& url : change.webhooks) {
    WebhookDelivery d;
    d.alert_id = change.alert.id;
    d.rule_id = change.alert.rule_id;
    d.url = url;
    d.payload = body;
    d.created_at_ms = d.next_attempt_ms = now;
    rows.push_back(std::move(d));
  }
  return rows;
}

void WebhookNotifier::queued(std::vector<WebhookDelivery> deliveries) {
  enqueue(std::move(deliveries));
}

void WebhookNotifier::notify(const AlertChange& change) {
  std::vector<WebhookDelivery> rows = plan(change);
  if (rows.empty()) return;
  if (Status s = catalog_.put_alert_with_deliveries(change.alert, rows); !s.ok())
    spdlog::error("event=webhook_queue_not_stored alert={} error=\"{}\"", change.alert.id,
                  s.message());
  enqueue(std::move(rows));
}

std::chrono::steady_clock::time_point WebhookNotifier::due_at(int64_t wall_ms) const {
  const int64_t wait = std::max<int64_t>(0, wall_ms - clock_.now_ms());
  return std::chrono::steady_clock::now() + std::chrono::milliseconds(wait);
}

void WebhookNotifier::enqueue(std::vector<WebhookDelivery> rows) {
  if (rows.empty()) return;
  {
    std::lock_guard lock(mu_);
    for (WebhookDelivery& r : rows) enqueue_locked(std::move(r));
  }
  cv_.notify_one();
}

void WebhookNotifier::enqueue_locked(WebhookDelivery row) {
  if (row.id != 0 && held_.contains(row.id)) return;  // already queued (backlog reload)
  if (queue_.size() >= options_.max_pending) {
    if (row.id != 0) {
      backlog_ = true;  // stored: loaded once the queue has drained
      return;
    }
    ++dropped_;
    spdlog::warn("event=webhook_dropped alert={} url={} reason=\"queue full, not stored\"",
                 row.alert_id, row.url);
    return;
  }
  if (row.id != 0) held_.insert(row.id);
  const auto due = due_at(row.next_attempt_ms);
  queue_.push({due, std::move(row), next_seq_++});
}

void WebhookNotifier::load_backlog() {
  auto rows = catalog_.load_deliveries(0, static_cast<int>(options_.max_pending));
  std::lock_guard lock(mu_);
  backlog_ = false;
  if (!rows.ok()) {
    spdlog::error("event=webhook_queue_unreadable error=\"{}\"", rows.status().message());
    return;
  }
  if (rows->size() >= options_.max_pending) backlog_ = true;
  for (WebhookDelivery& r : *rows) enqueue_locked(std::move(r));
}

Status WebhookNotifier::retry_dead_letter(int64_t id) {
  FP_ASSIGN_OR_RETURN(DeadLetter dl, catalog_.get_dead_letter(id));
  WebhookDelivery d;
  d.alert_id = dl.alert_id;
  d.rule_id = dl.rule_id;
  d.url = dl.url;
  d.payload = dl.payload;
  d.created_at_ms = d.next_attempt_ms = clock_.now_ms();
  FP_RETURN_IF_ERROR(catalog_.requeue_dead_letter(id, d));
  enqueue({std::move(d)});
  return Status::Ok();
}

NotifierStats WebhookNotifier::stats() const {
  NotifierStats s{delivered_.load(), failed_attempts_.load(), dead_lettered_.load(),
                  dropped_.load(), 0};
  std::lock_guard lock(mu_);
  s.pending = queue_.size();
  return s;
}

void WebhookNotifier::run() {
  for (;;) {
    Delivery d;
    bool reload = false;
    {
      std::unique_lock lock(mu_);
      for (;;) {
        if (stopping_) return;
        if (queue_.empty() && backlog_) {
          reload = true;
          break;
        }
        if (!queue_.empty() && queue_.top().due <= std::chrono::steady_clock::now()) break;
        if (queue_.empty())
          cv_.wait(lock);
        else
          cv_.wait_until(lock, queue_.top().due);
      }
      if (!reload) {
        d = queue_.top();
        queue_.pop();
      }
    }
    if (reload)
      load_backlog();
    else
      attempt(std::move(d));  // no lock held across the HTTP exchange
  }
}

void WebhookNotifier::attempt(Delivery d) {
  WebhookDelivery& row = d.row;
  const int64_t now = clock_.now_ms();
  if (row.first_attempt_ms == 0) row.first_attempt_ms = now;
  const PostResult r = post_(row.url, row.payload, options_.timeout);
  auto release = [&] {
    std::lock_guard lock(mu_);
    held_.erase(row.id);
  };
  if (r.ok()) {
    // A crash before this delete delivers it again after the restart (at least once).
    if (row.id != 0)
      if (Status s = catalog_.delete_delivery(row.id); !s.ok())
        spdlog::error("event=webhook_queue_delete_failed id={} error=\"{}\"", row.id, s.message());
    ++delivered_;
    release();
    return;
  }
  ++row.attempts;
  row.last_error = r.describe();
  if (row.attempts < options_.max_attempts) {
    auto delay = options_.backoff * (int64_t{1} << std::min(row.attempts - 1, 20));
    if (delay > options_.max_backoff) delay = options_.max_backoff;
    row.next_attempt_ms = clock_.now_ms() + delay.count();
    if (row.id != 0)
      if (Status s = catalog_.update_delivery(row); !s.ok())
        spdlog::error("event=webhook_queue_update_failed id={} error=\"{}\"", row.id, s.message());
    ++failed_attempts_;
    spdlog::warn("event=webhook_retry alert={} url={} attempt={} error=\"{}\" retry_in_ms={}",
                 row.alert_id, row.url, row.attempts, row.last_error, delay.count());
    {
      std::lock_guard lock(mu_);  // back in the queue even when it is full: it was held
      d.due = std::chrono::steady_clock::now() + delay;
      d.seq = next_seq_++;
      queue_.push(std::move(d));
    }
    return;
  }
  DeadLetter dl;
  dl.alert_id = row.alert_id;
  dl.rule_id = row.rule_id;
  dl.url = row.url;
  dl.payload = row.payload;
  dl.attempts = row.attempts;
  dl.last_error = row.last_error;
  dl.created_at_ms = row.first_attempt_ms;
  dl.failed_at_ms = clock_.now_ms();
  auto id = catalog_.dead_letter_delivery(row.id, dl);
  ++failed_attempts_;
  ++dead_lettered_;
  release();
  if (!id.ok())
    spdlog::error("event=dead_letter_not_stored alert={} url={} error=\"{}\"", row.alert_id,
                  row.url, id.status().message());
  else
    spdlog::warn("event=webhook_dead_letter id={} alert={} url={} attempts={} error=\"{}\"", *id,
                 row.alert_id, row.url, row.attempts, dl.last_error);
}

}  // namespace fp
