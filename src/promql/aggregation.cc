#include "promql/aggregation.h"

#include <cmath>

#include "promql/range_functions.h"

namespace fp::promql {
namespace {

// Go's container/heap over a slice with the given less, so ties break as in Prometheus.
template <typename Less>
void heap_up(std::vector<AggSample>& h, size_t j, Less less) {
  while (j > 0) {
    const size_t i = (j - 1) / 2;
    if (i == j || !less(h[j], h[i])) break;
    std::swap(h[i], h[j]);
    j = i;
  }
}

template <typename Less>
bool heap_down(std::vector<AggSample>& h, size_t i0, size_t n, Less less) {
  size_t i = i0;
  while (true) {
    const size_t j1 = 2 * i + 1;
    if (j1 >= n) break;
    size_t j = j1;
    if (const size_t j2 = j1 + 1; j2 < n && less(h[j2], h[j1])) j = j2;
    if (!less(h[j], h[i])) break;
    std::swap(h[i], h[j]);
    i = j;
  }
  return i > i0;
}

template <typename Less>
void heap_push(std::vector<AggSample>& h, AggSample s, Less less) {
  h.push_back(s);
  heap_up(h, h.size() - 1, less);
}

template <typename Less>
void heap_pop(std::vector<AggSample>& h, Less less) {
  const size_t n = h.size() - 1;
  std::swap(h[0], h[n]);
  heap_down(h, 0, n, less);
  h.pop_back();
}

// vectorByValueHeap: NaN lowest; vectorByReverseValueHeap: NaN highest... as Go defines them.
bool by_value(const AggSample& a, const AggSample& b) {
  if (std::isnan(a.v)) return true;
  return a.v < b.v;
}
bool by_reverse_value(const AggSample& a, const AggSample& b) {
  if (std::isnan(a.v)) return true;
  return a.v > b.v;
}

template <typename Less, typename Better>
void select_k(const std::vector<AggSample>& samples, int64_t k, Less less, Better better,
              std::vector<AggSample>& heap) {
  heap.clear();
  heap.push_back(samples[0]);
  for (size_t i = 1; i < samples.size(); ++i) {
    const AggSample& s = samples[i];
    if (static_cast<int64_t>(heap.size()) < k || better(s.v, heap[0].v) || std::isnan(heap[0].v)) {
      if (static_cast<int64_t>(heap.size()) == k) {
        if (k == 1) {
          heap[0] = s;
          continue;
        }
        heap_pop(heap, less);
      }
      heap_push(heap, s, less);
    }
  }
}

}  // namespace

double aggregate_group(AggOp op, double param, const std::vector<AggSample>& samples,
                       std::vector<AggSample>& selected) {
  const double first = samples[0].v;
  switch (op) {
    case AggOp::kSum: {
      double v = first;
      for (size_t i = 1; i < samples.size(); ++i) v += samples[i].v;
      return v;
    }
    case AggOp::kAvg: {
      double mean = first, count = 1;
      for (size_t i = 1; i < samples.size(); ++i) {
        const double x = samples[i].v;
        count++;
        if (std::isinf(mean)) {
          if (std::isinf(x) && (mean > 0) == (x > 0)) continue;
          if (!std::isinf(x) && !std::isnan(x)) continue;
        }
        mean += x / count - mean / count;
      }
      return mean;
    }
    case AggOp::kMax:
    case AggOp::kMin: {
      double v = first;
      for (size_t i = 1; i < samples.size(); ++i) {
        const double x = samples[i].v;
        if ((op == AggOp::kMax ? v < x : v > x) || std::isnan(v)) v = x;
      }
      return v;
    }
    case AggOp::kCount:
      return static_cast<double>(samples.size());
    case AggOp::kGroup:
      return 1;
    case AggOp::kStddev:
    case AggOp::kStdvar: {
      double mean = first, value = 0, count = 1;
      for (size_t i = 1; i < samples.size(); ++i) {
        const double x = samples[i].v;
        count++;
        const double delta = x - mean;
        mean += delta / count;
        value += delta * (x - mean);
      }
      return op == AggOp::kStdvar ? value / count : std::sqrt(value / count);
    }
    case AggOp::kQuantile: {
      std::vector<double> vals;
      vals.reserve(samples.size());
      for (const auto& s : samples) vals.push_back(s.v);
      return quantile(param, vals);
    }
    case AggOp::kTopk:
      select_k(
          samples, static_cast<int64_t>(param), by_value,
          [](double x, double top) { return top < x; }, selected);
      return 0;
    case AggOp::kBottomk:
      select_k(
          samples, static_cast<int64_t>(param), by_reverse_value,
          [](double x, double top) { return top > x; }, selected);
      return 0;
  }
  return 0;
}

}  // namespace fp::promql
