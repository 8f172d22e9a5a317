#include "alerting/webhook_notifier.h"

#include <spdlog/spdlog.h>

#include "alerting/alert_json.h"

namespace fp {

WebhookNotifier::WebhookNotifier(Catalog& catalog, const Clock& clock, NotifierOptions options,
                                 PostFn post)
    : catalog_(catalog), clock_(clock), options_(options), post_(std::move(post)) {}

WebhookNotifier::~WebhookNotifier() {
  stop();
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

void WebhookNotifier::notify(const AlertChange& change) {
  if (change.webhooks.empty()) return;
  const std::string body = payload(change);
  for (const std::string& url : change.webhooks)
    enqueue(
        {std::chrono::steady_clock::now(), change.alert.id, change.alert.rule_id, url, body, 0, 0});
}

void WebhookNotifier::enqueue(Delivery d) {
  {
    std::lock_guard lock(mu_);
    if (queue_.size() >= options_.max_pending) {
      ++dropped_;
      spdlog::warn("event=webhook_dropped alert={} url={} reason=\"queue full\"", d.alert_id,
                   d.url);
      return;
    }
    d.seq = next_seq_++;
    queue_.push(std::move(d));
  }
  cv_.notify_one();
}

Status WebhookNotifier::retry_dead_letter(int64_t id) {
  FP_ASSIGN_OR_RETURN(DeadLetter d, catalog_.get_dead_letter(id));
  FP_RETURN_IF_ERROR(catalog_.delete_dead_letter(id));
  enqueue({std::chrono::steady_clock::now(), d.alert_id, d.rule_id, d.url, d.payload, 0, 0});
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
    {
      std::unique_lock lock(mu_);
      for (;;) {
        if (stopping_) return;
        if (!queue_.empty() && queue_.top().due <= std::chrono::steady_clock::now()) break;
        if (queue_.empty())
          cv_.wait(lock);
        else
          cv_.wait_until(lock, queue_.top().due);
      }
      d = queue_.top();
      queue_.pop();
    }
    attempt(std::move(d));  // no lock held across the HTTP exchange
  }
}

void WebhookNotifier::attempt(Delivery d) {
  if (d.attempts == 0) d.first_attempt_ms = clock_.now_ms();
  ++d.attempts;
  const PostResult r = post_(d.url, d.payload, options_.timeout);
  if (r.ok()) {
    ++delivered_;
    return;
  }
  ++failed_attempts_;
  if (d.attempts < options_.max_attempts) {
    auto delay = options_.backoff * (int64_t{1} << std::min(d.attempts - 1, 20));
    if (delay > options_.max_backoff) delay = options_.max_backoff;
    spdlog::warn("event=webhook_retry alert={} url={} attempt={} error=\"{}\" retry_in_ms={}",
                 d.alert_id, d.url, d.attempts, r.describe(), delay.count());
    d.due = std::chrono::steady_clock::now() + delay;
    enqueue(std::move(d));
    return;
  }
  DeadLetter dl;
  dl.alert_id = d.alert_id;
  dl.rule_id = d.rule_id;
  dl.url = d.url;
  dl.payload = d.payload;
  dl.attempts = d.attempts;
  dl.last_error = r.describe();
  dl.created_at_ms = d.first_attempt_ms;
  dl.failed_at_ms = clock_.now_ms();
  auto id = catalog_.put_dead_letter(dl);
  ++dead_lettered_;
  if (!id.ok())
    spdlog::error("event=dead_letter_not_stored alert={} url={} error=\"{}\"", d.alert_id, d.url,
                  id.status().message());
  else
    spdlog::warn("event=webhook_dead_letter id={} alert={} url={} attempts={} error=\"{}\"", *id,
                 d.alert_id, d.url, d.attempts, dl.last_error);
}

}  // namespace fp
