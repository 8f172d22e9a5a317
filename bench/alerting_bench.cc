// Alerting and KPI costs: rule evaluation per reading (the alert engine's thread), and the
// fleet KPI summary over 100k devices (one status-history scan, no query per device).

#include <benchmark/benchmark.h>
#include <stdlib.h>

#include <filesystem>

#include "alerting/alert_engine.h"
#include "kpi/kpi_service.h"

namespace fp {
namespace {

struct TempCatalog {
  std::filesystem::path dir;
  std::unique_ptr<Catalog> catalog;
  explicit TempCatalog(const Clock& clock) {
    std::string tmpl = (std::filesystem::temp_directory_path() / "fp_bench_XXXXXX").string();
    if (!mkdtemp(tmpl.data())) std::abort();
    dir = tmpl;
    catalog = std::move(Catalog::open((dir / "catalog.db").string(), clock)).value();
  }
  ~TempCatalog() {
    catalog.reset();
    std::filesystem::remove_all(dir);
  }
};

// 10,000 readings of 1,000 devices against 6 rules on the metric (none fire).
void BM_EvaluateReadings(benchmark::State& state) {
  ManualClock clock;
  TempCatalog tc(clock);
  AlertEngine engine(*tc.catalog, clock, nullptr, AlertEngineOptions{});
  if (!engine.load({}).ok()) std::abort();
  for (const char* json : {R"({"kind":"threshold","metric":"t","threshold":1000})",
                           R"({"kind":"range","metric":"t","min":-100,"max":1000})",
                           R"({"kind":"rate","metric":"t","threshold":1e9})",
                           R"({"kind":"anomaly","metric":"t","threshold":50})",
                           R"({"kind":"stuck","metric":"t","for":"1h","tolerance":0})",
                           R"({"kind":"absence","metric":"t","for":"1h"})"})
    if (!engine.create_rule(*parse_rule(json, "")).ok()) std::abort();
  auto batch = std::make_shared<ReadingBatch>();
  const uint32_t metric = batch->intern_metric("t");
  for (int i = 0; i < 10'000; ++i)
    batch->add(batch->intern_device("dev-" + std::to_string(i % 1000)), metric, i, i % 50);
  CommittedWork work;
  work.batches.push_back(batch);
  for (auto _ : state) {
    clock.advance(1000);
    engine.evaluate(work);
  }
  state.SetItemsProcessed(state.iterations() * 10'000);
}
BENCHMARK(BM_EvaluateReadings)->Unit(benchmark::kMillisecond);

// 100,000 devices, 3 transitions each in the window, grouped by type.
void BM_KpiSummary100k(benchmark::State& state) {
  ManualClock clock;
  TempCatalog tc(clock);
  const int64_t t0 = clock.now_ms();
  DeviceStatusTracker tracker(StatusPolicy{}, clock);
  std::vector<Device> devices;
  std::vector<StatusTransition> history;
  for (int i = 0; i < 100'000; ++i) {
    Device d;
    d.device_id = "dev-" + std::to_string(i);
    d.type = "type-" + std::to_string(i % 10);
    d.created_at_ms = d.updated_at_ms = t0;
    devices.push_back(d);
    history.push_back({d.device_id, DeviceStatus::kUnknown, DeviceStatus::kOnline, "", t0});
    history.push_back(
        {d.device_id, DeviceStatus::kOnline, DeviceStatus::kOffline, "", t0 + 600'000});
    history.push_back(
        {d.device_id, DeviceStatus::kOffline, DeviceStatus::kOnline, "", t0 + 900'000});
  }
  if (!tc.catalog->apply_reports(devices, {}, history).ok()) std::abort();
  for (Device& d : devices) {
    d.status = DeviceStatus::kOnline;
    tracker.add(d);
  }
  DeviceActivityLog activity;
  for (const Device& d : devices) activity.record_message(d.device_id, t0 + 1000, 200);
  clock.set(t0 + 3'600'000);
  DeviceKpiService service(*tc.catalog, tracker, activity, clock);
  for (auto _ : state) {
    auto s = service.summary(86'400'000, KpiGroupBy::kType);
    if (!s.ok() || s->fleet.devices != 100'000) std::abort();
    benchmark::DoNotOptimize(s);
  }
}
BENCHMARK(BM_KpiSummary100k)->Unit(benchmark::kMillisecond)->Iterations(3);

}  // namespace
}  // namespace fp
