#pragma once
// BatchMark / roll_back_to: the telemetry PUBLISHes of one socket read are decoded one after
// the other into one ReadingBatch (PublishBatch). A message refused after some of its readings
// went in (the auto-registration rate, the attribute-key limit) is taken out again: the batch
// is cut back to the mark taken before the message was decoded. Refusals that late are rare,
// so cutting back rebuilds the batch rather than making every append undoable.
//
// Not thread-safe, like ReadingBatch.

#include <cstddef>

#include "model/reading_batch.h"

namespace fp::mqtt {

// How much a batch held, in each of its parts.
struct BatchMark {
  size_t devices = 0;
  size_t metrics = 0;
  size_t points = 0;
  size_t attributes = 0;
  size_t wire_bytes = 0;
};

BatchMark mark_of(const ReadingBatch& batch);

// Cuts `batch` back to what it held at `mark` (taken from it; since then only added to):
// devices, metric names, points (stamped or not), attributes, the resolved series ids of the
// points kept, and the wire bytes.
void roll_back_to(ReadingBatch& batch, const BatchMark& mark);

}  // namespace fp::mqtt
