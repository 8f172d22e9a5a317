#include "metrics/registry.h"

#include <charconv>
#include <cmath>

namespace fp::metrics {
namespace {

void append_number(std::string& out, double v) {
  if (std::isnan(v)) {
    out += "NaN";
  } else if (std::isinf(v)) {
    out += v > 0 ? "+Inf" : "-Inf";
  } else {
    char buf[32];
    auto r = std::to_chars(buf, buf + sizeof buf, v);
    out.append(buf, r.ptr);
  }
}

void append_label_value(std::string& out, std::string_view v) {
  for (char c : v) {
    if (c == '\\')
      out += "\\\\";
    else if (c == '"')
      out += "\\\"";
    else if (c == '\n')
      out += "\\n";
    else
      out.push_back(c);
  }
}

std::string_view kind_name(Kind k) {
  switch (k) {
    case Kind::kCounter:
      return "counter";
    case Kind::kGauge:
      return "gauge";
    case Kind::kHistogram:
      return "histogram";
  }
  return "untyped";
}

}  // namespace

Histogram::Histogram(std::vector<double> upper_bounds)
    : bounds_(std::move(upper_bounds)), buckets_(new std::atomic<uint64_t>[bounds_.size() + 1]) {
  for (size_t i = 0; i <= bounds_.size(); ++i) buckets_[i] = 0;
}

void Histogram::observe(double v) {
  size_t i = 0;
  while (i < bounds_.size() && v > bounds_[i]) ++i;
  buckets_[i].fetch_add(1, std::memory_order_relaxed);
  sum_.fetch_add(v, std::memory_order_relaxed);
  count_.fetch_add(1, std::memory_order_relaxed);
}

void Histogram::snapshot(std::vector<uint64_t>& cumulative, double& sum, uint64_t& count) const {
  cumulative.assign(bounds_.size() + 1, 0);
  uint64_t acc = 0;
  for (size_t i = 0; i <= bounds_.size(); ++i) {
    acc += buckets_[i].load(std::memory_order_relaxed);
    cumulative[i] = acc;
  }
  sum = sum_.load(std::memory_order_relaxed);
  count = acc;  // consistent with the buckets even while observe() runs concurrently
}

void ExpositionWriter::header(std::string_view name, std::string_view help, Kind kind) {
  out_ += "# HELP ";
  out_ += name;
  out_ += ' ';
  out_ += help;
  out_ += "\n# TYPE ";
  out_ += name;
  out_ += ' ';
  out_ += kind_name(kind);
  out_ += '\n';
}

void ExpositionWriter::sample(std::string_view name, const std::vector<std::string>& label_names,
                              const Labels& label_values, double v, std::string_view extra_label,
                              std::string_view extra_value) {
  out_ += name;
  if (!label_names.empty() || !extra_label.empty()) {
    out_ += '{';
    bool first = true;
    for (size_t i = 0; i < label_names.size() && i < label_values.size(); ++i) {
      if (!first) out_ += ',';
      first = false;
      out_ += label_names[i];
      out_ += "=\"";
      append_label_value(out_, label_values[i]);
      out_ += '"';
    }
    if (!extra_label.empty()) {
      if (!first) out_ += ',';
      out_ += extra_label;
      out_ += "=\"";
      out_ += extra_value;
      out_ += '"';
    }
    out_ += '}';
  }
  out_ += ' ';
  append_number(out_, v);
  out_ += '\n';
}

Family<Counter>& Registry::counter(std::string name, std::string help,
                                   std::vector<std::string> labels) {
  std::lock_guard lock(mu_);
  counters_.push_back(
      std::make_unique<Family<Counter>>(std::move(name), std::move(help), std::move(labels),
                                        [] { return std::make_unique<Counter>(); }));
  return *counters_.back();
}

Family<Gauge>& Registry::gauge(std::string name, std::string help,
                               std::vector<std::string> labels) {
  std::lock_guard lock(mu_);
  gauges_.push_back(std::make_unique<Family<Gauge>>(std::move(name), std::move(help),
                                                    std::move(labels),
                                                    [] { return std::make_unique<Gauge>(); }));
  return *gauges_.back();
}

Family<Histogram>& Registry::histogram(std::string name, std::string help,
                                       std::vector<double> bounds,
                                       std::vector<std::string> labels) {
  std::lock_guard lock(mu_);
  histograms_.push_back(std::make_unique<Family<Histogram>>(
      std::move(name), std::move(help), std::move(labels),
      [b = std::move(bounds)] { return std::make_unique<Histogram>(b); }));
  return *histograms_.back();
}

void Registry::add_collector(std::function<void(ExpositionWriter&)> fn) {
  std::lock_guard lock(mu_);
  collectors_.push_back(std::move(fn));
}

std::string Registry::expose() const {
  std::string out;
  out.reserve(16 * 1024);
  ExpositionWriter w(out);
  std::lock_guard lock(mu_);
  for (const auto& f : counters_) {
    w.header(f->name(), f->help(), Kind::kCounter);
    f->visit([&](const Labels& l, const Counter& c) {
      w.sample(f->name(), f->label_names(), l, c.value());
    });
  }
  for (const auto& f : gauges_) {
    w.header(f->name(), f->help(), Kind::kGauge);
    f->visit([&](const Labels& l, const Gauge& g) {
      w.sample(f->name(), f->label_names(), l, g.value());
    });
  }
  std::vector<uint64_t> cum;
  for (const auto& f : histograms_) {
    w.header(f->name(), f->help(), Kind::kHistogram);
    const std::string bucket = f->name() + "_bucket";
    f->visit([&](const Labels& l, const Histogram& h) {
      double sum;
      uint64_t count;
      h.snapshot(cum, sum, count);
      for (size_t i = 0; i < cum.size(); ++i) {
        std::string le;
        if (i < h.bounds().size())
          append_number(le, h.bounds()[i]);
        else
          le = "+Inf";
        w.sample(bucket, f->label_names(), l, static_cast<double>(cum[i]), "le", le);
      }
      w.sample(f->name() + "_sum", f->label_names(), l, sum);
      w.sample(f->name() + "_count", f->label_names(), l, static_cast<double>(count));
    });
  }
  for (const auto& c : collectors_) c(w);
  return out;
}

std::vector<double> latency_buckets() {
  return {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
          0.05,   0.1,     0.25,   0.5,   1,      2.5,   5,    10};
}

}  // namespace fp::metrics
