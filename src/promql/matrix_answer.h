#pragma once
// The answer to a range query (a matrix, ~40 MB of JSON for 1,000 series over a day at 60 s),
// written in bounded pieces to a sink instead of into one string: the HTTP handler appends the
// pieces to the response body or deflates them one by one (gzip), so the answer is formatted
// once, into a small buffer that stays in cache. Bytes are those of Prometheus 2.42.

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "promql/series_source.h"

namespace fp::promql {

// Receives the answer piece by piece, in order; each piece is at most kAnswerPieceBytes long
// and valid only during the call.
using AnswerSink = std::function<void(std::string_view piece)>;
inline constexpr size_t kAnswerPieceBytes = 64 * 1024;

// The steps of a range query: every point of its answer lies at start + k * step, k < count.
// Their timestamps are formatted once per query, not once per series.
struct AnswerSteps {
  int64_t start = 0;
  int64_t step = 1;
  size_t count = 0;
};

// Writes {"status":"success","data":{"resultType":"matrix","result":[...]}} (with "warnings"
// when not empty), byte for byte what query_result_json() writes for the same matrix. Points
// off `steps` are formatted one by one (correct, only slower). Runs on the calling thread.
void write_matrix_answer(const Matrix& m, const std::vector<std::string>& warnings,
                         const AnswerSteps& steps, const AnswerSink& sink);

// write_matrix_answer in parts, so that a writer can stop between them and resume later (on
// another thread: a streamed answer whose client stopped taking bytes is resumed by the
// answer pump, src/promql/answer_pump.h): the same bytes, written series by series. `m`,
// `warnings` and the sink must outlive the writer's calls. Not thread-safe.
class MatrixAnswerWriter {
 public:
  MatrixAnswerWriter(const Matrix& m, const std::vector<std::string>& warnings,
                     const AnswerSteps& steps);
  // Writes whole parts of the answer (its head, series, its tail) until at least `bytes` went
  // to `sink` or the answer is complete; false once everything has been written.
  bool write_some(const AnswerSink& sink, size_t bytes);

  class Timestamps;  // the steps' timestamps, formatted once

 private:
  const Matrix& m_;
  const std::vector<std::string>& warnings_;
  std::shared_ptr<const Timestamps> times_;
  size_t next_ = 0;  // the next part: 0 the head, 1..m_.size() the series, then the tail
};

// An upper estimate of the answer's size (to reserve a body of that size up front).
size_t matrix_answer_size_hint(const Matrix& m);

}  // namespace fp::promql
