#include "promql/matrix_answer.h"

#include <cstdint>
#include <cstring>
#include <memory>

#include "promql/api_json.h"
#include "util/json_writer.h"

namespace fp::promql {
namespace {

// The longest point: [timestamp,"value"] and a comma.
constexpr size_t kMaxPointChars = kMaxTimestampChars + kMaxValueChars + 8;

// A fixed buffer handed to the sink whenever the next write might not fit.
class PieceBuffer {
 public:
  explicit PieceBuffer(const AnswerSink& sink)
      : sink_(sink), buf_(std::make_unique<char[]>(kAnswerPieceBytes)), end_(buf_.get()) {}
  // Room for `n` (≤ kAnswerPieceBytes) more bytes at the returned pointer; commit() after.
  char* room(size_t n) {
    if (static_cast<size_t>(buf_.get() + kAnswerPieceBytes - end_) < n) flush();
    return end_;
  }
  void commit(char* end) { end_ = end; }
  void put(std::string_view s) {
    while (!s.empty()) {
      const size_t n = std::min(s.size(), kAnswerPieceBytes);
      char* p = room(n);
      std::memcpy(p, s.data(), n);
      commit(p + n);
      s.remove_prefix(n);
    }
  }
  size_t pending() const { return static_cast<size_t>(end_ - buf_.get()); }
  void flush() {
    if (end_ != buf_.get()) sink_(std::string_view(buf_.get(), end_ - buf_.get()));
    end_ = buf_.get();
  }

 private:
  const AnswerSink& sink_;
  std::unique_ptr<char[]> buf_;
  char* end_;
};

}  // namespace

// The grid's timestamps, each formatted once, back to back.
class MatrixAnswerWriter::Timestamps {
 public:
  explicit Timestamps(const AnswerSteps& g) : grid_(g) {
    text_.reserve(g.count * 15);
    offsets_.reserve(g.count + 1);
    offsets_.push_back(0);
    char buf[kMaxTimestampChars];
    for (size_t k = 0; k < g.count; ++k) {
      text_.append(buf, write_timestamp(buf, g.start + static_cast<int64_t>(k) * g.step));
      offsets_.push_back(static_cast<uint32_t>(text_.size()));
    }
  }
  char* write(char* p, int64_t t) const {
    if (grid_.count != 0 && t >= grid_.start) {
      const int64_t k = (t - grid_.start) / grid_.step;
      if (static_cast<size_t>(k) < grid_.count && grid_.start + k * grid_.step == t) {
        const uint32_t from = offsets_[k], to = offsets_[k + 1];
        std::memcpy(p, text_.data() + from, to - from);
        return p + (to - from);
      }
    }
    return write_timestamp(p, t);
  }

 private:
  AnswerSteps grid_;
  std::string text_;
  std::vector<uint32_t> offsets_;
};

namespace {

using TimestampTable = MatrixAnswerWriter::Timestamps;

// The last value formatted: a gauge sampled every 5 minutes and queried every minute repeats
// each value five times over.
class ValueCache {
 public:
  char* write(char* p, double v) {
    uint64_t bits;
    std::memcpy(&bits, &v, sizeof bits);
    if (len_ != 0 && bits == bits_) {
      std::memcpy(p, text_, len_);
      return p + len_;
    }
    char* end = write_value(p, v);
    const size_t n = static_cast<size_t>(end - p);
    len_ = n <= sizeof text_ ? n : 0;
    if (len_ != 0) {
      std::memcpy(text_, p, n);
      bits_ = bits;
    }
    return end;
  }

 private:
  uint64_t bits_ = 0;
  size_t len_ = 0;  // 0: nothing cached
  char text_[32];
};

void write_points(PieceBuffer& out, const std::vector<Point>& pts, const TimestampTable& times) {
  ValueCache values;
  for (size_t i = 0; i < pts.size(); ++i) {
    char* p = out.room(kMaxPointChars);
    if (i) *p++ = ',';
    *p++ = '[';
    p = times.write(p, pts[i].t);
    *p++ = ',';
    *p++ = '"';
    p = values.write(p, pts[i].v);
    *p++ = '"';
    *p++ = ']';
    out.commit(p);
  }
}

std::string labels_json(const Labels& ls) {
  JsonWriter w;
  w.begin_object();
  for (const auto& [n, v] : ls) w.key(n).value(v);
  w.end_object();
  return w.take();
}

}  // namespace

MatrixAnswerWriter::MatrixAnswerWriter(const Matrix& m, const std::vector<std::string>& warnings,
                                       const AnswerSteps& steps)
    : m_(m), warnings_(warnings), times_(std::make_shared<const Timestamps>(steps)) {}

bool MatrixAnswerWriter::write_some(const AnswerSink& sink, size_t bytes) {
  size_t written = 0;
  const AnswerSink counting = [&](std::string_view piece) {
    written += piece.size();
    sink(piece);
  };
  PieceBuffer out(counting);
  for (; next_ <= m_.size() + 1 && written + out.pending() < bytes;) {
    const size_t part = next_++;
    if (part == 0) {
      out.put(R"({"status":"success","data":{"resultType":"matrix","result":[)");
      continue;
    }
    if (part <= m_.size()) {
      const Series& s = m_[part - 1];
      out.put(part > 1 ? R"(,{"metric":)" : R"({"metric":)");
      out.put(labels_json(s.labels));
      out.put(R"(,"values":[)");
      write_points(out, s.points, *times_);
      out.put("]}");
      continue;
    }
    out.put("]}");
    if (!warnings_.empty()) {
      JsonWriter w;
      w.begin_array();
      for (const auto& s : warnings_) w.value(s);
      w.end_array();
      out.put(",\"warnings\":");
      out.put(w.str());
    }
    out.put("}");
  }
  out.flush();
  return next_ <= m_.size() + 1;
}

void write_matrix_answer(const Matrix& m, const std::vector<std::string>& warnings,
                         const AnswerSteps& grid, const AnswerSink& sink) {
  MatrixAnswerWriter w(m, warnings, grid);
  while (w.write_some(sink, SIZE_MAX)) {
  }
}

size_t matrix_answer_size_hint(const Matrix& m) {
  size_t points = 0;
  for (const auto& s : m) points += s.points.size();
  return points * 28 + m.size() * 128 + 64;
}

}  // namespace fp::promql
