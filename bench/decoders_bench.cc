// Decoder throughput: how many values per second one core turns from a request body into a
// ReadingBatch. Named workloads:
//   LineProtocol/tsbs_trucks            5000 lines of TSBS IoT "readings": 1000 trucks x 5
//                                       times, 8 tags, 7 float fields, ns timestamps (the
//                                       shape of the project's ingest benchmark)
//   LineProtocol/tsbs_trucks_no_tags    the same, with tags_as_attributes off
//   LineProtocol/telegraf_system        5000 Telegraf cpu/mem/system lines (floats, integers,
//                                       a string field)
//   LineProtocol/tsbs_trucks_admitted   tsbs_trucks as the server decodes it: each line passes a
//                                       SeriesAdmission against an index that already holds the
//                                       trucks' 7,000 series (the ids travel with the batch)
//   TelemetryJson/<form>                an array of 1000 readings in one form: flat (4
//                                       metrics), metric (1), metric_type (1), values (4)
// items_per_second counts values stored as points (numeric and boolean fields; not string
// fields, units or tags, which become attributes); "lines/s" and "readings/s" count items. Each
// iteration decodes into a fresh batch, as a request does.
#include <benchmark/benchmark.h>
#include <fmt/format.h>

#include <random>
#include <string>
#include <vector>

#include "ingest/cardinality_limits.h"
#include "ingest/line_protocol.h"
#include "ingest/telemetry_json.h"

namespace fp {
namespace {

constexpr int64_t kNow = 1'767'225'600'000;

std::string tsbs_trucks_body() {
  static const char* fleets[] = {"South", "North", "East", "West"};
  static const char* drivers[] = {"Trish", "Albert", "Derek", "Rodney", "Seth"};
  static const char* models[] = {"H-2", "F-150", "G-2000"};
  std::mt19937 rng(42);
  std::uniform_real_distribution<double> u(0, 1);
  std::string body;
  const int64_t t0 = 1'451'606'400'000'000'000;
  for (int i = 0; i < 5000; ++i) {
    const int truck = i % 1000;
    const int64_t ts = t0 + int64_t{i / 1000} * 10'000'000'000;
    body += fmt::format(
        "readings,name=truck_{},fleet={},driver={},model={},device_version=v2.3,"
        "load_capacity=1500,fuel_capacity=150,nominal_fuel_consumption=12 "
        "latitude={:.5f},longitude={:.5f},elevation={:.0f},velocity={:.0f},heading={:.0f},"
        "grade={:.0f},fuel_consumption={:.1f} {}\n",
        truck, fleets[truck % 4], drivers[truck % 5], models[truck % 3], u(rng) * 180 - 90,
        u(rng) * 360 - 180, u(rng) * 500, u(rng) * 100, u(rng) * 360, u(rng) * 100, u(rng) * 50,
        ts);
  }
  return body;
}

std::string telegraf_system_body() {
  std::string body;
  const int64_t t0 = 1'767'225'600'000'000'000;
  for (int i = 0; i < 5000; ++i) {
    const int host = i % 50;
    const int64_t ts = t0 + int64_t{i / 150} * 10'000'000'000;
    switch (i % 3) {
      case 0:
        body += fmt::format(
            "cpu,cpu=cpu-total,host=server{:02} usage_idle={:.3f},usage_user={:.3f},"
            "usage_system={:.3f},usage_iowait=0.1 {}\n",
            host, 90.0 + i % 10, 5.5 + i % 3, 1.25, ts);
        break;
      case 1:
        body += fmt::format(
            "mem,host=server{:02} available_percent={:.2f},used={}i,total=16785408000i,"
            "free={}i {}\n",
            host, 40.0 + i % 20, 8'000'000'000 + i, 2'000'000'000 - i, ts);
        break;
      default:
        body += fmt::format(
            "system,host=server{:02} load1={:.2f},load5=0.5,n_cpus=8i,uptime={}u,"
            "uptime_format=\"{} days,  3:04\" {}\n",
            host, 0.01 * (i % 100), 86400 + i, i % 30, ts);
        break;
    }
  }
  return body;
}

void run_line_protocol(benchmark::State& state, const std::string& body,
                       const LineProtocolOptions& opt) {
  size_t values = 0, lines = 0;
  for (auto _ : state) {
    ReadingBatch batch;
    std::vector<ItemError> errors;
    decode_line_protocol(body, opt, kNow, batch, errors, &lines);
    if (!errors.empty()) state.SkipWithError(errors.front().message.c_str());
    values = batch.points().size();
    benchmark::DoNotOptimize(batch.points().data());
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * values));
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * body.size()));
  state.counters["lines/s"] = benchmark::Counter(static_cast<double>(state.iterations() * lines),
                                                 benchmark::Counter::kIsRate);
}

void BM_LineProtocol_TsbsTrucks(benchmark::State& state) {
  static const std::string body = tsbs_trucks_body();
  run_line_protocol(state, body, {});
}
BENCHMARK(BM_LineProtocol_TsbsTrucks)->Name("LineProtocol/tsbs_trucks");

void BM_LineProtocol_TsbsTrucksNoTags(benchmark::State& state) {
  static const std::string body = tsbs_trucks_body();
  LineProtocolOptions opt;
  opt.tags_as_attributes = false;
  run_line_protocol(state, body, opt);
}
BENCHMARK(BM_LineProtocol_TsbsTrucksNoTags)->Name("LineProtocol/tsbs_trucks_no_tags");

void BM_LineProtocol_TelegrafSystem(benchmark::State& state) {
  static const std::string body = telegraf_system_body();
  run_line_protocol(state, body, {});
}
BENCHMARK(BM_LineProtocol_TelegrafSystem)->Name("LineProtocol/telegraf_system");

void BM_LineProtocol_TsbsTrucksAdmitted(benchmark::State& state) {
  static const std::string body = tsbs_trucks_body();
  tsdb::SeriesIndex index;
  {
    ReadingBatch known;
    std::vector<ItemError> errors;
    decode_line_protocol(body, {}, kNow, known, errors);
    for (const Point& p : known.points())
      index.get_or_create(known.devices()[p.device], known.metrics()[p.metric]);
  }
  CardinalityLimits limits(CardinalityLimitOptions{});
  limits.set_index(&index);
  size_t values = 0;
  for (auto _ : state) {
    ReadingBatch batch;
    std::vector<ItemError> errors;
    SeriesAdmission admission(limits, kNow);
    LineProtocolOptions opt;
    opt.admission = &admission;
    decode_line_protocol(body, opt, kNow, batch, errors);
    if (!errors.empty()) state.SkipWithError(errors.front().message.c_str());
    values = batch.points().size();
    benchmark::DoNotOptimize(batch.resolved_series());
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * values));
}
BENCHMARK(BM_LineProtocol_TsbsTrucksAdmitted)->Name("LineProtocol/tsbs_trucks_admitted");

enum class JsonForm { kFlat, kMetric, kMetricType, kValues };

std::string json_body(JsonForm form) {
  std::string body = "[";
  for (int i = 0; i < 1000; ++i) {
    if (i) body += ',';
    const int dev = i % 100;
    const int64_t ts = 1'767'225'600'000 + int64_t{i / 100} * 1000;
    switch (form) {
      case JsonForm::kFlat:
        body += fmt::format(
            R"({{"device_id":"dev-{}","ts":"2026-01-01T00:00:{:02}.000Z","temperature_c":{:.2f},)"
            R"("humidity":{:.1f},"lat":52.{},"lon":4.{}}})",
            dev, i / 100, 20.0 + i % 10 * 0.37, 40.0 + i % 30, dev, dev);
        break;
      case JsonForm::kMetric:
        body += fmt::format(
            R"({{"device_id":"dev-{}","metric":"temperature","value":{:.2f},"unit":"celsius","ts":{}}})",
            dev, 20.0 + i % 10 * 0.37, ts);
        break;
      case JsonForm::kMetricType:
        body += fmt::format(R"({{"device_id":"dev-{}","metric_type":"humidity","value":{:.1f}}})",
                            dev, 40.0 + i % 30);
        break;
      case JsonForm::kValues:
        body += fmt::format(
            R"({{"device_id":"dev-{}","ts":{},"values":{{"temperature":{:.2f},"voltage":3.{},)"
            R"("current":0.{},"power":{}}}}})",
            dev, ts, 20.0 + i % 10 * 0.37, i % 10, i % 7, i % 90);
        break;
    }
  }
  return body + "]";
}

void BM_TelemetryJson(benchmark::State& state, JsonForm form) {
  const std::string body = json_body(form);
  size_t values = 0, items = 0;
  for (auto _ : state) {
    ReadingBatch batch;
    std::vector<ItemError> errors;
    const Status st = decode_telemetry_json(body, {}, kNow, batch, errors, &items);
    if (!st.ok() || !errors.empty()) state.SkipWithError("decode failed");
    values = batch.points().size();
    benchmark::DoNotOptimize(batch.points().data());
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * values));
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * body.size()));
  state.counters["readings/s"] = benchmark::Counter(static_cast<double>(state.iterations() * items),
                                                    benchmark::Counter::kIsRate);
}
BENCHMARK_CAPTURE(BM_TelemetryJson, flat, JsonForm::kFlat)->Name("TelemetryJson/flat");
BENCHMARK_CAPTURE(BM_TelemetryJson, metric, JsonForm::kMetric)->Name("TelemetryJson/metric");
BENCHMARK_CAPTURE(BM_TelemetryJson, metric_type, JsonForm::kMetricType)
    ->Name("TelemetryJson/metric_type");
BENCHMARK_CAPTURE(BM_TelemetryJson, values, JsonForm::kValues)->Name("TelemetryJson/values");

}  // namespace
}  // namespace fp
