#pragma once
// A small Prometheus metrics registry: counters, gauges and histograms in labelled families,
// plus collectors that write computed series at scrape time. expose() renders the text
// exposition format 0.0.4 (checked by `promtool check metrics` in the tests).
//
// Thread safety: all instruments are lock-free atomics. Family::with() takes a mutex, so hot
// paths look an instrument up once and keep the reference (instruments are never freed
// before the registry).

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

namespace fp::metrics {

class Counter {
 public:
  void inc(double n = 1) { v_.fetch_add(n, std::memory_order_relaxed); }
  double value() const { return v_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> v_{0};
};

class Gauge {
 public:
  void set(double v) { v_.store(v, std::memory_order_relaxed); }
  void add(double n) { v_.fetch_add(n, std::memory_order_relaxed); }
  double value() const { return v_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> v_{0};
};

class Histogram {
 public:
  explicit Histogram(std::vector<double> upper_bounds);
  void observe(double v);
  // Cumulative counts per bucket (last one is +Inf), the sum and the count.
  void snapshot(std::vector<uint64_t>& cumulative, double& sum, uint64_t& count) const;
  const std::vector<double>& bounds() const { return bounds_; }

 private:
  std::vector<double> bounds_;
  std::unique_ptr<std::atomic<uint64_t>[]> buckets_;  // one per bound plus +Inf
  std::atomic<double> sum_{0};
  std::atomic<uint64_t> count_{0};
};

using Labels = std::vector<std::string>;

enum class Kind { kCounter, kGauge, kHistogram };

// One metric name with a fixed list of label names and one instrument per label-value tuple.
template <typename T>
class Family {
 public:
  Family(std::string name, std::string help, std::vector<std::string> label_names,
         std::function<std::unique_ptr<T>()> make)
      : name_(std::move(name)),
        help_(std::move(help)),
        label_names_(std::move(label_names)),
        make_(std::move(make)) {}

  // The instrument for these label values (in label-name order), created on first use.
  T& with(const Labels& values) {
    std::lock_guard lock(mu_);
    auto& slot = children_[values];
    if (!slot) slot = make_();
    return *slot;
  }
  T& get() { return with({}); }

  const std::string& name() const { return name_; }
  const std::string& help() const { return help_; }
  const std::vector<std::string>& label_names() const { return label_names_; }
  template <typename Fn>
  void visit(Fn&& fn) const {
    std::lock_guard lock(mu_);
    for (const auto& [labels, inst] : children_) fn(labels, *inst);
  }

 private:
  std::string name_, help_;
  std::vector<std::string> label_names_;
  std::function<std::unique_ptr<T>()> make_;
  mutable std::mutex mu_;
  std::map<Labels, std::unique_ptr<T>> children_;  // guarded by mu_
};

// Writes series computed at scrape time. Use write_header once per metric name, then samples.
class ExpositionWriter {
 public:
  explicit ExpositionWriter(std::string& out) : out_(out) {}
  void header(std::string_view name, std::string_view help, Kind kind);
  void sample(std::string_view name, const std::vector<std::string>& label_names,
              const Labels& label_values, double v, std::string_view extra_label = {},
              std::string_view extra_value = {});

 private:
  std::string& out_;
};

class Registry {
 public:
  Family<Counter>& counter(std::string name, std::string help,
                           std::vector<std::string> labels = {});
  Family<Gauge>& gauge(std::string name, std::string help, std::vector<std::string> labels = {});
  Family<Histogram>& histogram(std::string name, std::string help, std::vector<double> bounds,
                               std::vector<std::string> labels = {});
  // A collector runs on every scrape, after the families, and writes its own series.
  void add_collector(std::function<void(ExpositionWriter&)> fn);

  std::string expose() const;

 private:
  mutable std::mutex mu_;
  std::vector<std::unique_ptr<Family<Counter>>> counters_;
  std::vector<std::unique_ptr<Family<Gauge>>> gauges_;
  std::vector<std::unique_ptr<Family<Histogram>>> histograms_;
  std::vector<std::function<void(ExpositionWriter&)>> collectors_;
};

// Latency buckets in seconds, 100 µs .. 10 s.
std::vector<double> latency_buckets();

}  // namespace fp::metrics
