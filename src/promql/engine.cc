#include "promql/engine.h"

#include <algorithm>
#include <cmath>
#include <optional>
#include <unordered_map>

#include "promql/aggregation.h"
#include "promql/function_table.h"
#include "promql/range_functions.h"

namespace fp::promql {
namespace {

// Evaluation errors unwind the recursion as an exception (as Prometheus's engine panics and
// recovers); it never leaves this file: the entry points turn it into a Status.
struct EvalError {
  Status status;
};
[[noreturn]] void fail(std::string msg) {
  throw EvalError{Status(StatusCode::kUnprocessable, std::move(msg))};
}
void check(const Status& s) {
  if (!s.ok()) throw EvalError{s};
}

struct Steps {
  int64_t start, end, step;
  size_t n;
  int64_t at(size_t i) const { return start + static_cast<int64_t>(i) * step; }
  size_t index(int64_t t) const { return static_cast<size_t>((t - start) / step); }
};

// A node's value over all steps.
struct Value {
  ValueType type = ValueType::kVector;
  std::vector<double> scalar;  // kScalar: one per step
  Matrix vec;                  // kVector: points at step times
  std::string str;
};

const Expr& unwrap(const Expr& e) {
  const Expr* p = &e;
  while (p->kind == Expr::Kind::kParen) p = p->args[0].get();
  return *p;
}

bool drops_name(BinOp op) {
  return op == BinOp::kAdd || op == BinOp::kSub || op == BinOp::kMul || op == BinOp::kDiv ||
         op == BinOp::kPow || op == BinOp::kMod;  // not atan2, as in Prometheus 2.42
}

// vectorElemBinop for floats: the value and whether a comparison keeps the sample.
std::pair<double, bool> elem_binop(BinOp op, double l, double r) {
  switch (op) {
    case BinOp::kAdd:
      return {l + r, true};
    case BinOp::kSub:
      return {l - r, true};
    case BinOp::kMul:
      return {l * r, true};
    case BinOp::kDiv:
      return {l / r, true};
    case BinOp::kPow:
      return {std::pow(l, r), true};
    case BinOp::kMod:
      return {std::fmod(l, r), true};
    case BinOp::kAtan2:
      return {std::atan2(l, r), true};
    case BinOp::kEq:
      return {l, l == r};
    case BinOp::kNe:
      return {l, l != r};
    case BinOp::kGt:
      return {l, l > r};
    case BinOp::kLt:
      return {l, l < r};
    case BinOp::kGe:
      return {l, l >= r};
    case BinOp::kLe:
      return {l, l <= r};
    default:
      return {0, false};
  }
}

double scalar_binop(BinOp op, double l, double r) {
  auto [v, keep] = elem_binop(op, l, r);
  return is_comparison(op) ? (keep ? 1 : 0) : v;
}

double apply_simple(std::string_view f, double v) {
  if (f == "abs") return std::fabs(v);
  if (f == "ceil") return std::ceil(v);
  if (f == "floor") return std::floor(v);
  if (f == "exp") return std::exp(v);
  if (f == "sqrt") return std::sqrt(v);
  if (f == "ln") return std::log(v);
  if (f == "log2") return std::log2(v);
  if (f == "log10") return std::log10(v);
  if (f == "sgn") return v < 0 ? -1 : v > 0 ? 1 : v;
  return v;
}

const char* kSameLabelset = "vector cannot contain metrics with the same labelset";

// Fails when two series share a label set (Prometheus's Matrix.ContainsSameLabelset).
void check_unique(const Matrix& m) {
  if (m.size() < 2) return;
  std::unordered_map<std::string, int> seen;
  for (const auto& s : m)
    if (!seen.emplace(labels_key(s.labels), 0).second) fail(kSameLabelset);
}

// Merges series that share a label set, failing when two have a point at the same step
// (Prometheus checks each step's vector for duplicate label sets).
Matrix merge_same_labels(Matrix m) {
  std::unordered_map<std::string, size_t> slot;
  Matrix out;
  bool merged = false;
  for (auto& s : m) {
    auto [it, fresh] = slot.emplace(labels_key(s.labels), out.size());
    if (fresh) {
      out.push_back(std::move(s));
      continue;
    }
    merged = true;
    auto& dst = out[it->second].points;
    std::vector<Point> all;
    all.reserve(dst.size() + s.points.size());
    std::merge(dst.begin(), dst.end(), s.points.begin(), s.points.end(), std::back_inserter(all),
               [](const Point& a, const Point& b) { return a.t < b.t; });
    for (size_t i = 1; i < all.size(); ++i)
      if (all[i].t == all[i - 1].t) fail(kSameLabelset);
    dst = std::move(all);
  }
  (void)merged;
  return out;
}

// Output series assembled step by step; a second point for one series at one step is the
// duplicate-labelset error.
class MatrixBuilder {
 public:
  size_t slot(const Labels& ls) {
    auto [it, fresh] = index_.emplace(labels_key(ls), out_.size());
    if (fresh) out_.push_back(Series{ls, {}});
    return it->second;
  }
  void add(size_t slot, int64_t t, double v) {
    auto& pts = out_[slot].points;
    if (!pts.empty() && pts.back().t == t) fail(kSameLabelset);
    pts.push_back({t, v});
  }
  Matrix take() { return std::move(out_); }

 private:
  std::unordered_map<std::string, size_t> index_;
  Matrix out_;
};

// Moves [lo, hi) along `v` (ascending by time_of) to the elements in the closed window
// [mint, maxt]; windows must come in ascending order.
template <typename T, typename TimeOf>
void slide_window(const std::vector<T>& v, int64_t mint, int64_t maxt, size_t& lo, size_t& hi,
                  TimeOf time_of) {
  while (hi < v.size() && time_of(v[hi]) <= maxt) ++hi;
  while (lo < hi && time_of(v[lo]) < mint) ++lo;
}

// Walks a matrix step by step (steps visited in order): at(ts) lists the (series, value)
// samples at ts in series order, without materialising every step at once.
class StepCursor {
 public:
  explicit StepCursor(const Matrix& m) : m_(m), pos_(m.size(), 0) {}
  const std::vector<AggSample>& at(int64_t ts) {
    cur_.clear();
    for (uint32_t si = 0; si < m_.size(); ++si) {
      const auto& pts = m_[si].points;
      if (pos_[si] < pts.size() && pts[pos_[si]].t == ts) cur_.push_back({si, pts[pos_[si]++].v});
    }
    return cur_;
  }

 private:
  const Matrix& m_;
  std::vector<size_t> pos_;
  std::vector<AggSample> cur_;
};

class Evaluator {
 public:
  Evaluator(const SeriesSource& src, Steps steps, const EngineOptions& opt)
      : src_(src), steps_(steps), opt_(opt), budget_(opt.limits) {}

  Value eval(const Expr& e) {
    switch (e.kind) {
      case Expr::Kind::kParen:
        return eval(*e.args[0]);
      case Expr::Kind::kNumber: {
        Value v;
        v.type = ValueType::kScalar;
        v.scalar.assign(steps_.n, e.number);
        return v;
      }
      case Expr::Kind::kString: {
        Value v;
        v.type = ValueType::kString;
        v.str = e.text;
        return v;
      }
      case Expr::Kind::kVectorSelector:
        return vector_selector(e);
      case Expr::Kind::kMatrixSelector:
        fail("range vector selector can only be evaluated inside a function");
      case Expr::Kind::kUnaryMinus:
        return unary_minus(e);
      case Expr::Kind::kCall:
        return call(e);
      case Expr::Kind::kAggregate:
        return aggregate(e);
      case Expr::Kind::kBinary:
        return binary(e);
    }
    fail("unknown expression");
  }

  // A range vector selector at the single instant steps_.start: raw points per series.
  Matrix matrix_selector_instant(const Expr& e) {
    const int64_t maxt = steps_.start - e.offset_ms;
    const int64_t mint = maxt - e.range_ms;
    Matrix out;
    for (auto& s : select(e, mint, maxt)) {
      std::vector<Point> pts;
      for (const Point& p : s.points)
        if (p.t >= mint && p.t <= maxt) pts.push_back(p);
      if (!pts.empty()) out.push_back(Series{std::move(s.labels), std::move(pts)});
    }
    return out;
  }

  // Series whose windows were answered from rollup buckets (window_call_from_runs).
  size_t rollup_series() const { return rollup_series_; }

 private:
  // Charges the query's points budget for a series a selector or range function evaluated, so
  // that the matrices a query holds are bounded by promql-max-points as the points it reads
  // are (a 5-minute series at a 1 s step is 300 points held per point read): the query ends
  // at most one series (11,000 points) past the limit.
  void hold(const Series& s) { check(budget_.take_points(s.points.size())); }

  Matrix select(const Expr& sel, int64_t mint, int64_t maxt) {
    Matrix m;
    check(src_.select(sel.matchers, mint, maxt, true, budget_, m));
    std::sort(m.begin(), m.end(),
              [](const Series& a, const Series& b) { return a.labels < b.labels; });
    return m;
  }

  // An instant-vector selector's points for the lookback at every step (from the start of the
  // first step's lookback): only those the lookback can pick (SeriesSource::select_for_steps,
  // which may read rollups), sorted by labels.
  Matrix select_for_steps(const Expr& sel) {
    Matrix m;
    const StepGrid grid{steps_.start - sel.offset_ms, steps_.n > 1 ? steps_.step : 0};
    check(src_.select_for_steps(sel.matchers, grid.first - opt_.lookback_ms,
                                steps_.end - sel.offset_ms, grid, budget_, m));
    std::sort(m.begin(), m.end(),
              [](const Series& a, const Series& b) { return a.labels < b.labels; });
    return m;
  }

  Value vector_selector(const Expr& e) {
    Value out;
    const int64_t lookback = opt_.lookback_ms;
    Matrix data = select_for_steps(e);
    for (auto& s : data) {
      Series r{std::move(s.labels), {}};
      const auto& pts = s.points;
      size_t j = 0;
      for (size_t i = 0; i < steps_.n; ++i) {
        const int64_t ts = steps_.at(i);
        const int64_t ref = ts - e.offset_ms;
        while (j < pts.size() && pts[j].t <= ref) ++j;
        if (j > 0 && pts[j - 1].t >= ref - lookback) r.points.push_back({ts, pts[j - 1].v});
      }
      hold(r);
      if (!r.points.empty()) out.vec.push_back(std::move(r));
    }
    return out;
  }

  Value unary_minus(const Expr& e) {
    Value v = eval(*e.args[0]);
    if (v.type == ValueType::kScalar) {
      for (double& x : v.scalar) x = -x;
      return v;
    }
    for (auto& s : v.vec) {
      s.labels = without_name(s.labels);
      for (auto& p : s.points) p.v = -p.v;
    }
    check_unique(v.vec);
    return v;
  }

  Value call(const Expr& e) {
    const std::string& f = e.text;
    if (f == "time") {
      Value v;
      v.type = ValueType::kScalar;
      for (size_t i = 0; i < steps_.n; ++i)
        v.scalar.push_back(static_cast<double>(steps_.at(i)) / 1000);
      return v;
    }
    if (f == "vector") {
      Value s = eval(*e.args[0]);
      Value v;
      Series out{{}, {}};
      for (size_t i = 0; i < steps_.n; ++i) out.points.push_back({steps_.at(i), s.scalar[i]});
      v.vec.push_back(std::move(out));
      return v;
    }
    if (f == "scalar") {
      Value in = eval(*e.args[0]);
      Value v;
      v.type = ValueType::kScalar;
      v.scalar.assign(steps_.n, NAN);
      std::vector<int> count(steps_.n, 0);
      for (const auto& s : in.vec)
        for (const auto& p : s.points) {
          const size_t i = steps_.index(p.t);
          if (++count[i] == 1) v.scalar[i] = p.v;
        }
      for (size_t i = 0; i < steps_.n; ++i)
        if (count[i] != 1) v.scalar[i] = NAN;
      return v;
    }
    for (size_t i = 0; i < e.args.size(); ++i)
      if (e.args[i]->type() == ValueType::kMatrix) return range_call(e, i);
    // Functions of an instant vector (and scalar parameters).
    Value in = eval(*e.args[0]);
    std::vector<Value> params;
    for (size_t i = 1; i < e.args.size(); ++i) params.push_back(eval(*e.args[i]));
    Value out;
    for (auto& s : in.vec) {
      Series r{without_name(s.labels), {}};
      for (const Point& p : s.points) {
        const size_t i = steps_.index(p.t);
        if (f == "round") {
          const double to_nearest = params.empty() ? 1.0 : params[0].scalar[i];
          const double inv = 1.0 / to_nearest;
          r.points.push_back({p.t, std::floor(p.v * inv + 0.5) / inv});
        } else if (f == "clamp") {
          const double lo = params[0].scalar[i], hi = params[1].scalar[i];
          if (hi < lo) continue;
          r.points.push_back({p.t, go_max(lo, go_min(hi, p.v))});
        } else if (f == "clamp_min") {
          r.points.push_back({p.t, go_max(params[0].scalar[i], p.v)});
        } else if (f == "clamp_max") {
          r.points.push_back({p.t, go_min(params[0].scalar[i], p.v)});
        } else {
          r.points.push_back({p.t, apply_simple(f, p.v)});
        }
      }
      if (!r.points.empty()) out.vec.push_back(std::move(r));
    }
    out.vec = merge_same_labels(std::move(out.vec));
    return out;
  }

  // Go's math.Max / math.Min: NaN wins, and they tell -0 from +0.
  static double go_max(double a, double b) {
    if (std::isnan(a) || std::isnan(b)) return NAN;
    return std::fmax(a, b);
  }
  static double go_min(double a, double b) {
    if (std::isnan(a) || std::isnan(b)) return NAN;
    return std::fmin(a, b);
  }

  Value range_call(const Expr& e, size_t matrix_arg) {
    const Expr& sel = unwrap(*e.args[matrix_arg]);
    if (auto v = window_call_from_runs(e, sel)) return std::move(*v);
    std::vector<double> arg(steps_.n, 0);
    for (size_t i = 0; i < e.args.size(); ++i)
      if (i != matrix_arg) arg = eval(*e.args[i]).scalar;
    const bool keep_name = e.text == "last_over_time";
    Matrix data =
        select(sel, steps_.start - sel.offset_ms - sel.range_ms, steps_.end - sel.offset_ms);
    // min/max_over_time slide (SlidingExtreme) instead of a pass over each window.
    const bool is_max = e.text == "max_over_time";
    const bool extreme_fn = is_max || e.text == "min_over_time";
    Value out;
    for (auto& s : data) {
      Series r{keep_name ? s.labels : without_name(s.labels), {}};
      const auto& pts = s.points;
      SlidingExtreme extreme(is_max);
      size_t lo = 0, hi = 0, pushed = 0;
      for (size_t i = 0; i < steps_.n; ++i) {
        const int64_t ts = steps_.at(i);
        const int64_t maxt = ts - sel.offset_ms, mint = maxt - sel.range_ms;
        slide_window(pts, mint, maxt, lo, hi, [](const Point& p) { return p.t; });
        if (hi == lo) continue;
        if (extreme_fn) {
          for (; pushed < hi; ++pushed) extreme.push(pushed, pts[pushed].v);
          extreme.drop_before(lo);
          r.points.push_back({ts, extreme.value()});
          continue;
        }
        RangeWindow w{std::span<const Point>(pts.data() + lo, hi - lo), mint, maxt, sel.range_ms,
                      arg[i]};
        if (auto v = eval_range_function(e.text, w)) r.points.push_back({ts, *v});
      }
      hold(r);
      if (!r.points.empty()) out.vec.push_back(std::move(r));
    }
    check_unique(out.vec);
    return out;
  }

  // min/max/count/sum_over_time over windows whose ends and range are multiples of a rollup
  // width (window_rollup_width): a window is then whole buckets plus, at most, the one sample
  // on its end (a bucket's first), so the source's runs give the answer the samples give —
  // min/max of finite or infinite values in any grouping, NaN only when every sample is NaN
  // (functions.go: `cur < min || isNaN(min)`); counts as sums; sums from buckets only where
  // every partial sum is exact (select_runs' exact_sum), so Kahan over bucket sums is Kahan
  // over the samples, bit for bit (raw runs: the very same additions). nullopt: another
  // function or windows off the rollup boundaries.
  std::optional<Value> window_call_from_runs(const Expr& e, const Expr& sel) {
    const std::string& f = e.text;
    const bool is_min = f == "min_over_time", is_max = f == "max_over_time";
    const bool is_sum = f == "sum_over_time";
    if (!is_min && !is_max && !is_sum && f != "count_over_time") return std::nullopt;
    const int64_t first_end = steps_.start - sel.offset_ms;
    const int64_t width =
        window_rollup_width(first_end, steps_.n > 1 ? steps_.step : 0, sel.range_ms);
    if (width == 0) return std::nullopt;
    std::vector<RunSeries> data;
    check(src_.select_runs(sel.matchers, first_end - sel.range_ms, steps_.end - sel.offset_ms,
                           width, is_sum, budget_, data));
    std::sort(data.begin(), data.end(),
              [](const RunSeries& a, const RunSeries& b) { return a.labels < b.labels; });
    Value out;
    for (auto& s : data) {
      rollup_series_ += s.from_rollups;
      Series r{without_name(s.labels), {}};
      const auto& runs = s.runs;
      // Runs [lo, whole_end) lie wholly in the window; a run at whole_end starting on the
      // window's end counts for its first sample only. Both ends only move forward, so min/max
      // slide (SlidingExtreme), and counts and exact sums are prefix differences: O(runs + steps)
      // instead of a pass over each window (3,600 points a window for a 1 s series' [1h]).
      const bool prefix_sums = is_sum && s.exact_sums;
      std::vector<double> count_before(is_min || is_max ? 0 : runs.size() + 1, 0);
      std::vector<double> sum_before(prefix_sums ? runs.size() + 1 : 0, 0);
      if (!is_min && !is_max) {
        for (size_t k = 0; k < runs.size(); ++k) {
          count_before[k + 1] = count_before[k] + static_cast<double>(runs[k].count);
          if (prefix_sums) sum_before[k + 1] = sum_before[k] + runs[k].sum;
        }
      }
      SlidingExtreme extreme(is_max);
      size_t lo = 0, hi = 0, pushed = 0;
      for (size_t i = 0; i < steps_.n; ++i) {
        const int64_t ts = steps_.at(i);
        const int64_t maxt = ts - sel.offset_ms, mint = maxt - sel.range_ms;
        slide_window(runs, mint, maxt, lo, hi, [](const SampleRun& r) { return r.first_t; });
        if (hi == lo) continue;
        const bool partial_last = runs[hi - 1].first_t == maxt;
        const size_t whole_end = partial_last ? hi - 1 : hi;
        double v;
        if (is_min || is_max) {
          for (; pushed < whole_end; ++pushed)
            extreme.push(pushed, is_min ? runs[pushed].min : runs[pushed].max);
          extreme.drop_before(lo);
          v = extreme.value();
          if (partial_last) {
            const double x = runs[hi - 1].first;
            if (std::isnan(v) || (is_min ? x < v : x > v)) v = x;
          }
        } else if (!is_sum) {
          v = count_before[whole_end] - count_before[lo] + (partial_last ? 1 : 0);
        } else if (prefix_sums) {
          // Every partial sum is exact (exact_sums), so in any order it is the Kahan sum.
          v = sum_before[whole_end] - sum_before[lo] + (partial_last ? runs[hi - 1].first : 0);
        } else {
          double sum = 0, c = 0;  // raw runs only: the samples' own Kahan sum
          for (size_t k = lo; k < hi; ++k) kahan_add(runs[k].first, sum, c);
          v = std::isinf(sum) ? sum : sum + c;
        }
        r.points.push_back({ts, v});
      }
      hold(r);
      if (!r.points.empty()) out.vec.push_back(std::move(r));
    }
    check_unique(out.vec);
    return out;
  }

  // The values of series `s` (from select(), read from `ref - lookback`) at each step, as
  // vector_selector gives them: emit(step index, value).
  template <typename Emit>
  void step_values(const Series& s, int64_t offset_ms, Emit emit) const {
    const int64_t lookback = opt_.lookback_ms;
    const auto& pts = s.points;
    size_t j = 0;
    for (size_t i = 0; i < steps_.n; ++i) {
      const int64_t ref = steps_.at(i) - offset_ms;
      while (j < pts.size() && pts[j].t <= ref) ++j;
      if (j > 0 && pts[j - 1].t >= ref - lookback) emit(i, pts[j - 1].v);
    }
  }

  // sum/avg/min/max/count/group straight over a vector selector: each series' step values go
  // into its group's accumulators, series in the same order as the step-by-step path visits
  // them (so every float operation happens in the same order), without building the
  // selector's matrix over all steps first (10k series x 1,441 steps = 230 MB).
  std::optional<Value> aggregate_selector(const Expr& e) {
    const Expr& arg = unwrap(*e.args[0]);
    if (arg.kind != Expr::Kind::kVectorSelector || e.param) return std::nullopt;
    if (e.agg != AggOp::kSum && e.agg != AggOp::kAvg && e.agg != AggOp::kMin &&
        e.agg != AggOp::kMax && e.agg != AggOp::kCount && e.agg != AggOp::kGroup)
      return std::nullopt;
    const Matrix data = select_for_steps(arg);
    std::vector<std::string> grouping = e.grouping;
    std::sort(grouping.begin(), grouping.end());
    struct Group {
      Labels labels;
      std::vector<double> v, count;  // per step; count 0: no sample
      size_t first_step = SIZE_MAX, first_series = 0;
    };
    std::vector<Group> groups;
    std::unordered_map<std::string, uint32_t> index;
    for (size_t si = 0; si < data.size(); ++si) {
      const Series& s = data[si];
      Group* g = nullptr;
      step_values(s, arg.offset_ms, [&](size_t i, double x) {
        if (!g) {
          Labels gl =
              e.without ? drop_labels(s.labels, grouping, true) : keep_labels(s.labels, grouping);
          auto [it, fresh] = index.emplace(labels_key(gl), static_cast<uint32_t>(groups.size()));
          if (fresh) {
            groups.push_back({std::move(gl), std::vector<double>(steps_.n, 0),
                              std::vector<double>(steps_.n, 0)});
          }
          g = &groups[it->second];
        }
        if (i < g->first_step) {  // series come in order: the first at a step stays first
          g->first_step = i;
          g->first_series = si;
        }
        double& v = g->v[i];
        double& count = g->count[i];
        if (count == 0) {
          v = x;
          count = 1;
          return;
        }
        count++;
        switch (e.agg) {
          case AggOp::kSum:
            v += x;
            break;
          case AggOp::kAvg:
            if (std::isinf(v)) {
              if (std::isinf(x) && (v > 0) == (x > 0)) break;
              if (!std::isinf(x) && !std::isnan(x)) break;
            }
            v += x / count - v / count;
            break;
          case AggOp::kMax:
            if (v < x || std::isnan(v)) v = x;
            break;
          case AggOp::kMin:
            if (v > x || std::isnan(v)) v = x;
            break;
          default:
            break;
        }
      });
    }
    // Output series in the order the step-by-step path creates them.
    std::vector<uint32_t> order(groups.size());
    for (uint32_t k = 0; k < order.size(); ++k) order[k] = k;
    std::sort(order.begin(), order.end(), [&](uint32_t a, uint32_t b) {
      return std::pair(groups[a].first_step, groups[a].first_series) <
             std::pair(groups[b].first_step, groups[b].first_series);
    });
    Value out;
    out.vec.reserve(groups.size());
    for (uint32_t k : order) {
      Group& g = groups[k];
      Series r{std::move(g.labels), {}};
      for (size_t i = 0; i < steps_.n; ++i) {
        if (g.count[i] == 0) continue;
        const double v = e.agg == AggOp::kCount ? g.count[i] : e.agg == AggOp::kGroup ? 1 : g.v[i];
        r.points.push_back({steps_.at(i), v});
      }
      out.vec.push_back(std::move(r));
    }
    return out;
  }

  Value aggregate(const Expr& e) {
    if (auto fused = aggregate_selector(e)) return std::move(*fused);
    std::vector<double> param(steps_.n, 0);
    if (e.param) param = eval(*e.param).scalar;
    Value in = eval(*e.args[0]);
    const Matrix& m = in.vec;
    // Each input series' group, computed once.
    std::vector<uint32_t> group_of(m.size());
    std::vector<Labels> group_labels;
    std::unordered_map<std::string, uint32_t> groups;
    std::vector<std::string> grouping = e.grouping;
    std::sort(grouping.begin(), grouping.end());
    for (size_t si = 0; si < m.size(); ++si) {
      Labels g = e.without ? drop_labels(m[si].labels, grouping, true)
                           : keep_labels(m[si].labels, grouping);
      auto [it, fresh] = groups.emplace(labels_key(g), static_cast<uint32_t>(group_labels.size()));
      if (fresh) group_labels.push_back(std::move(g));
      group_of[si] = it->second;
    }
    const bool k_op = e.agg == AggOp::kTopk || e.agg == AggOp::kBottomk;
    MatrixBuilder out;
    std::vector<size_t> group_slot(group_labels.size(), SIZE_MAX);
    std::vector<size_t> series_slot(k_op ? m.size() : 0, SIZE_MAX);
    StepCursor cursor(m);
    std::vector<std::vector<AggSample>> per_group(group_labels.size());
    std::vector<uint32_t> order;  // groups in order of first appearance at this step
    std::vector<AggSample> selected;
    for (size_t i = 0; i < steps_.n; ++i) {
      const int64_t ts = steps_.at(i);
      const auto& samples = cursor.at(ts);
      // k is checked at every step, with or without samples, as Prometheus does.
      if (k_op) {
        const double k = param[i];
        if (!(k >= -9.223372036854775e18 && k <= 9.223372036854775e18))
          fail("Scalar value " + format_go_float(k) + " overflows int64");
        if (static_cast<int64_t>(k) < 1) continue;
      }
      if (samples.empty()) continue;
      order.clear();
      for (const AggSample& s : samples) {
        auto& g = per_group[group_of[s.series]];
        if (g.empty()) order.push_back(group_of[s.series]);
        g.push_back(s);
      }
      for (uint32_t g : order) {
        auto& gs = per_group[g];
        const double v = aggregate_group(e.agg, param[i], gs, selected);
        if (k_op) {
          for (const AggSample& s : selected) {
            if (series_slot[s.series] == SIZE_MAX)
              series_slot[s.series] = out.slot(m[s.series].labels);
            out.add(series_slot[s.series], ts, s.v);
          }
        } else {
          if (group_slot[g] == SIZE_MAX) group_slot[g] = out.slot(group_labels[g]);
          out.add(group_slot[g], ts, v);
        }
        gs.clear();
      }
    }
    Value v;
    v.vec = out.take();
    return v;
  }

  static std::string format_go_float(double d) {
    if (std::isnan(d)) return "NaN";
    if (std::isinf(d)) return d > 0 ? "+Inf" : "-Inf";
    char buf[64];
    snprintf(buf, sizeof buf, "%g", d);
    return buf;
  }

  Value binary(const Expr& e) {
    Value l = eval(*e.args[0]);
    Value r = eval(*e.args[1]);
    if (l.type == ValueType::kScalar && r.type == ValueType::kScalar) {
      Value v;
      v.type = ValueType::kScalar;
      v.scalar.resize(steps_.n);
      for (size_t i = 0; i < steps_.n; ++i)
        v.scalar[i] = scalar_binop(e.op, l.scalar[i], r.scalar[i]);
      return v;
    }
    if (l.type == ValueType::kScalar || r.type == ValueType::kScalar) {
      const bool swap = l.type == ValueType::kScalar;
      Value& vec = swap ? r : l;
      const std::vector<double>& sc = swap ? l.scalar : r.scalar;
      Value out;
      const bool drop = drops_name(e.op) || e.return_bool;
      for (auto& s : vec.vec) {
        Series res{drop ? without_name(s.labels) : s.labels, {}};
        for (const Point& p : s.points) {
          double lv = p.v, rv = sc[steps_.index(p.t)];
          if (swap) std::swap(lv, rv);
          auto [value, keep] = elem_binop(e.op, lv, rv);
          if (is_comparison(e.op) && swap) value = rv;
          if (e.return_bool) {
            value = keep ? 1 : 0;
            keep = true;
          }
          if (keep) res.points.push_back({p.t, value});
        }
        if (!res.points.empty()) out.vec.push_back(std::move(res));
      }
      out.vec = merge_same_labels(std::move(out.vec));
      return out;
    }
    if (is_set_operator(e.op)) return set_operation(e, l.vec, r.vec);
    return vector_binop(e, l.vec, r.vec);
  }

  static std::string signature(const Labels& ls, const VectorMatching& vm) {
    return labels_key(vm.on ? keep_labels(ls, vm.labels) : drop_labels(ls, vm.labels, true));
  }

  Value set_operation(const Expr& e, const Matrix& lhs, const Matrix& rhs) {
    std::vector<std::string> lsig, rsig;
    for (const auto& s : lhs) lsig.push_back(signature(s.labels, e.matching));
    for (const auto& s : rhs) rsig.push_back(signature(s.labels, e.matching));
    StepCursor lcur(lhs), rcur(rhs);
    MatrixBuilder out;
    std::vector<size_t> lslot(lhs.size(), SIZE_MAX), rslot(rhs.size(), SIZE_MAX);
    std::unordered_map<std::string_view, int> sigs;
    for (size_t i = 0; i < steps_.n; ++i) {
      const int64_t ts = steps_.at(i);
      const auto& lsamples = lcur.at(ts);
      const auto& rsamples = rcur.at(ts);
      auto emit_l = [&](const AggSample& s) {
        if (lslot[s.series] == SIZE_MAX) lslot[s.series] = out.slot(lhs[s.series].labels);
        out.add(lslot[s.series], ts, s.v);
      };
      sigs.clear();
      switch (e.op) {
        case BinOp::kAnd:
        case BinOp::kUnless: {
          if (e.op == BinOp::kAnd && rsamples.empty()) break;
          for (const auto& s : rsamples) sigs[rsig[s.series]] = 1;
          for (const auto& s : lsamples)
            if (sigs.count(lsig[s.series]) == (e.op == BinOp::kAnd ? 1u : 0u)) emit_l(s);
          break;
        }
        default: {  // or
          for (const auto& s : lsamples) {
            sigs[lsig[s.series]] = 1;
            emit_l(s);
          }
          for (const auto& s : rsamples) {
            if (sigs.count(rsig[s.series])) continue;
            if (rslot[s.series] == SIZE_MAX) rslot[s.series] = out.slot(rhs[s.series].labels);
            out.add(rslot[s.series], ts, s.v);
          }
        }
      }
    }
    Value v;
    v.vec = out.take();
    return v;
  }

  Value vector_binop(const Expr& e, const Matrix& lhs_in, const Matrix& rhs_in) {
    const VectorMatching& vm = e.matching;
    const bool one_to_many = vm.card == VectorMatching::Card::kOneToMany;
    // For one-to-many the sides swap so that the right side is always the "one" side.
    const Matrix& lhs = one_to_many ? rhs_in : lhs_in;
    const Matrix& rhs = one_to_many ? lhs_in : rhs_in;
    std::vector<std::string> lsig, rsig;
    for (const auto& s : lhs) lsig.push_back(signature(s.labels, vm));
    for (const auto& s : rhs) rsig.push_back(signature(s.labels, vm));
    StepCursor lcur(lhs), rcur(rhs);
    MatrixBuilder out;
    std::unordered_map<uint64_t, size_t> result_slot;  // (lhs, rhs) series pair -> output
    std::unordered_map<std::string_view, AggSample> right;
    std::unordered_map<std::string_view, std::vector<size_t>> matched;
    for (size_t i = 0; i < steps_.n; ++i) {
      const int64_t ts = steps_.at(i);
      const auto& lsamples = lcur.at(ts);
      const auto& rsamples = rcur.at(ts);
      if (lsamples.empty() || rsamples.empty()) continue;
      right.clear();
      for (const auto& s : rsamples) {
        auto [it, fresh] = right.emplace(rsig[s.series], s);
        if (!fresh) {
          const Labels& a = rhs[s.series].labels;
          const Labels& b = rhs[it->second.series].labels;
          const Labels matched_labels =
              vm.on ? keep_labels(a, vm.labels) : drop_labels(a, vm.labels, true);
          fail("found duplicate series for the match group " + labels_string(matched_labels) +
               " on the " + (one_to_many ? "left" : "right") + " hand-side of the operation: [" +
               labels_string(a) + ", " + labels_string(b) +
               "];many-to-many matching not allowed: matching labels must be unique on one side");
        }
      }
      matched.clear();
      for (const auto& s : lsamples) {
        auto it = right.find(lsig[s.series]);
        if (it == right.end()) continue;
        const AggSample& rsamp = it->second;
        double vl = s.v, vr = rsamp.v;
        if (one_to_many) std::swap(vl, vr);
        auto [value, keep] = elem_binop(e.op, vl, vr);
        if (e.return_bool) {
          value = keep ? 1 : 0;
        } else if (!keep) {
          continue;
        }
        const uint64_t pair = (uint64_t{s.series} << 32) | rsamp.series;
        auto slot_it = result_slot.find(pair);
        if (slot_it == result_slot.end()) {
          Labels res = result_labels(lhs[s.series].labels, rhs[rsamp.series].labels, e);
          slot_it = result_slot.emplace(pair, out.slot(res)).first;
        }
        auto& done = matched[lsig[s.series]];
        if (vm.card == VectorMatching::Card::kOneToOne) {
          if (!done.empty())
            fail(
                "multiple matches for labels: many-to-one matching must be explicit "
                "(group_left/group_right)");
        } else if (std::find(done.begin(), done.end(), slot_it->second) != done.end()) {
          fail("multiple matches for labels: grouping labels must ensure unique matches");
        }
        done.push_back(slot_it->second);
        out.add(slot_it->second, ts, value);
      }
    }
    Value v;
    v.vec = out.take();
    std::erase_if(v.vec, [](const Series& s) { return s.points.empty(); });
    return v;
  }

  static Labels result_labels(const Labels& l, const Labels& r, const Expr& e) {
    const VectorMatching& vm = e.matching;
    Labels res = drops_name(e.op) ? without_name(l) : l;
    if (vm.card == VectorMatching::Card::kOneToOne)
      res = vm.on ? keep_labels(res, vm.labels) : drop_labels(res, vm.labels, false);
    for (const auto& name : vm.include) set_label(res, name, label_value(r, name));
    if (e.return_bool) res = without_name(res);
    return res;
  }

  const SeriesSource& src_;
  const Steps steps_;
  const EngineOptions& opt_;
  QueryBudget budget_;
  size_t rollup_series_ = 0;
};

Result<QueryValue> run(const Expr& e, const SeriesSource& src, Steps steps,
                       const EngineOptions& opt, bool instant) {
  try {
    Evaluator ev(src, steps, opt);
    QueryValue q;
    q.t = steps.start;
    const Expr& top = unwrap(e);
    if (instant && top.kind == Expr::Kind::kMatrixSelector) {
      q.type = ValueType::kMatrix;
      q.series = ev.matrix_selector_instant(top);
      return q;
    }
    Value v = ev.eval(e);
    if (v.type == ValueType::kString) {
      q.type = ValueType::kString;
      q.str = v.str;
      return q;
    }
    if (v.type == ValueType::kScalar) {
      q.rollup_series = ev.rollup_series();
      if (instant) {
        q.type = ValueType::kScalar;
        q.scalar = v.scalar[0];
      } else {
        q.type = ValueType::kMatrix;
        Series s;
        for (size_t i = 0; i < steps.n; ++i) s.points.push_back({steps.at(i), v.scalar[i]});
        q.series.push_back(std::move(s));
      }
      return q;
    }
    q.type = instant ? ValueType::kVector : ValueType::kMatrix;
    q.series = std::move(v.vec);
    q.rollup_series = ev.rollup_series();
    std::sort(q.series.begin(), q.series.end(),
              [](const Series& a, const Series& b) { return a.labels < b.labels; });
    return q;
  } catch (const EvalError& err) {
    return err.status;
  }
}

}  // namespace

Result<QueryValue> evaluate_instant(const Expr& e, const SeriesSource& src, int64_t t,
                                    const EngineOptions& opt) {
  return run(e, src, Steps{t, t, 1, 1}, opt, true);
}

Result<QueryValue> evaluate_range(const Expr& e, const SeriesSource& src, int64_t start,
                                  int64_t end, int64_t step, const EngineOptions& opt) {
  if (step <= 0 || end < start) return Status::InvalidArgument("invalid range");
  const size_t n = static_cast<size_t>((end - start) / step) + 1;
  return run(e, src, Steps{start, end, step, n}, opt, false);
}

}  // namespace fp::promql
