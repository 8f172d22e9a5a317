#include "mqtt/publish_batch.h"

namespace fp::mqtt {

Refusal PublishBatch::add(const IngestSinks& sinks, const TopicMatch& target,
                          std::string_view payload, uint64_t seq) {
  if (!admission_) {  // the batch's first message: the messages of one read arrived together
    received_ms_ = sinks.clock.now_ms();
    admission_ = std::make_shared<SeriesAdmission>(sinks.ingestor.limits(), received_ms_);
  }
  Refusal r = decode_telemetry_message(sinks, target, payload, received_ms_, *batch_, *admission_);
  if (r.submitted()) seqs_.push_back(seq);
  return r;
}

void PublishBatch::submit(const IngestSinks& sinks,
                          std::function<void(std::vector<uint64_t> seqs, bool durable)> done) {
  if (seqs_.empty()) {
    admission_.reset();  // every message was refused: nothing to wait for
    return;
  }
  auto batch = std::exchange(batch_, std::make_shared<ReadingBatch>());
  submit_telemetry_batch(sinks, std::move(batch), received_ms_, std::exchange(admission_, {}),
                         [seqs = std::exchange(seqs_, {}), done = std::move(done)](
                             bool durable) mutable { done(std::move(seqs), durable); });
}

}  // namespace fp::mqtt
