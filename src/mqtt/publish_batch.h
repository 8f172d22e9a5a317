#pragma once
// PublishBatch: the telemetry PUBLISHes of one socket read of one connection, submitted as one
// batch. Each message is decoded and checked alone (a refused one is answered alone, as
// before, and leaves nothing in the batch) straight into the batch, with one SeriesAdmission
// for all of them (a message whose series the batch already admitted costs no index lookup);
// submit() hands the batch to the write path once: one Ingestor submission, one commit wait and
// one completion for all the messages of the read, whose acknowledgements then leave together.
//
// Not thread-safe: one per I/O thread. A connection parses a read and submits its batch on one
// thread, with no other connection's read in between (Connection::parse).

#include <cstdint>
#include <functional>
#include <memory>
#include <string_view>
#include <vector>

#include "mqtt/message_ingest.h"

namespace fp::mqtt {

class PublishBatch {
 public:
  // Decodes `payload` for `target` (as submit_message does). Unless refused, its readings join
  // the batch and `seq` (the connection's acknowledgement number) completes with it.
  Refusal add(const IngestSinks& sinks, const TopicMatch& target, std::string_view payload,
              uint64_t seq);
  bool empty() const { return seqs_.empty(); }
  // Submits what joined (nothing when empty) and starts a new batch. `done(seqs, durable)`
  // runs once, on the commit thread, with the `seq` of every message in it.
  void submit(const IngestSinks& sinks,
              std::function<void(std::vector<uint64_t> seqs, bool durable)> done);

 private:
  std::shared_ptr<ReadingBatch> batch_ = std::make_shared<ReadingBatch>();
  // Made with the batch's first message; what it reserved is released once the batch is
  // durable (or, when every message was refused, at submit()).
  std::shared_ptr<SeriesAdmission> admission_;
  std::vector<uint64_t> seqs_;
  int64_t received_ms_ = 0;  // of the batch's first message: the time of all of them
};

}  // namespace fp::mqtt
