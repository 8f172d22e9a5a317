#include "mqtt/publish_batch.h"

namespace fp::mqtt {

Refusal PublishBatch::add(const IngestSinks& sinks, const TopicMatch& target,
                          std::string_view payload, uint64_t seq) {
  const int64_t now = sinks.clock.now_ms();
  std::unique_ptr<SeriesAdmission> admission;
  if (seqs_.empty()) {  // the first message: decoded straight into the batch
    received_ms_ = now;
    Refusal r = decode_telemetry_message(sinks, target, payload, now, *batch_, admission);
    if (!r.submitted()) {
      batch_->clear();
      return r;
    }
  } else {
    scratch_.clear();
    Refusal r = decode_telemetry_message(sinks, target, payload, now, scratch_, admission);
    if (!r.submitted()) return r;
    append_batch(*batch_, scratch_);
  }
  admissions_.push_back(std::move(admission));
  seqs_.push_back(seq);
  return {};
}

void PublishBatch::submit(
    const IngestSinks& sinks,
    std::function<void(const std::vector<uint64_t>& seqs, bool durable)> done) {
  if (seqs_.empty()) return;
  auto batch = std::exchange(batch_, std::make_shared<ReadingBatch>());
  submit_telemetry_batch(sinks, std::move(batch), received_ms_, std::exchange(admissions_, {}),
                         [seqs = std::exchange(seqs_, {}), done = std::move(done)](bool durable) {
                           done(seqs, durable);
                         });
}

}  // namespace fp::mqtt
