#include "app/server_metrics_collectors.h"

#include <sys/resource.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

namespace fp {
namespace {

uint64_t file_size_or_zero(const std::filesystem::path& p) {
  std::error_code ec;
  auto n = std::filesystem::file_size(p, ec);
  return ec ? 0 : n;
}

double resident_bytes() {
  std::ifstream f("/proc/self/statm");
  uint64_t size = 0, resident = 0;
  f >> size >> resident;
  return static_cast<double>(resident) * static_cast<double>(sysconf(_SC_PAGESIZE));
}

double cpu_seconds() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  auto tv = [](const timeval& t) { return static_cast<double>(t.tv_sec) + t.tv_usec / 1e6; };
  return tv(ru.ru_utime) + tv(ru.ru_stime);
}

}  // namespace

void add_server_collectors(metrics::Registry& registry, CollectorSources src) {
  using metrics::Kind;
  const double start_time = static_cast<double>(::time(nullptr));
  registry.add_collector([src = std::move(src), start_time](metrics::ExpositionWriter& w) {
    const auto counts = src.tracker.counts();
    w.header("fleetpulse_devices", "Registered devices by current status.", Kind::kGauge);
    for (int s = 0; s < kDeviceStatusCount; ++s)
      w.sample("fleetpulse_devices", {"status"},
               {std::string(to_string(static_cast<DeviceStatus>(s)))},
               static_cast<double>(counts[static_cast<size_t>(s)]));

    w.header("fleetpulse_device_battery_level",
             "Last reported battery level in percent (capped at --metrics-device-cap devices).",
             Kind::kGauge);
    std::vector<std::pair<std::string, double>> signals;
    src.tracker.for_each(src.device_cap, [&](const DeviceLiveState& d) {
      if (d.battery_level)
        w.sample("fleetpulse_device_battery_level", {"device_id"}, {d.device_id}, *d.battery_level);
      if (d.signal_strength) signals.emplace_back(d.device_id, *d.signal_strength);
    });
    w.header("fleetpulse_device_signal_strength",
             "Last reported signal strength in dBm (capped at --metrics-device-cap devices).",
             Kind::kGauge);
    for (const auto& [id, v] : signals)
      w.sample("fleetpulse_device_signal_strength", {"device_id"}, {id}, v);

    w.header("fleetpulse_alerts_open", "Open alerts by severity.", Kind::kGauge);
    const std::array<int64_t, 3> open =
        src.open_alerts ? src.open_alerts() : std::array<int64_t, 3>{};
    const char* severities[] = {"info", "warning", "critical"};
    for (size_t i = 0; i < 3; ++i)
      w.sample("fleetpulse_alerts_open", {"severity"}, {severities[i]},
               static_cast<double>(open[i]));

    const std::filesystem::path dir(src.data_dir);
    w.header("fleetpulse_storage_bytes", "Bytes on disk by storage component.", Kind::kGauge);
    w.sample("fleetpulse_storage_bytes", {"component"}, {"catalog"},
             static_cast<double>(file_size_or_zero(dir / "catalog.db") +
                                 file_size_or_zero(dir / "catalog.db-wal")));
    const tsdb::BlockStats blocks = src.store.block_stats();
    w.sample("fleetpulse_storage_bytes", {"component"}, {"blocks"},
             static_cast<double>(blocks.bytes));
    w.header("fleetpulse_blocks", "Immutable block files (raw and rollups).", Kind::kGauge);
    w.sample("fleetpulse_blocks", {}, {}, static_cast<double>(blocks.blocks));
    w.header("fleetpulse_block_flushes_total", "Head flushes written as blocks.", Kind::kCounter);
    w.sample("fleetpulse_block_flushes_total", {}, {}, static_cast<double>(blocks.flushes));
    w.header("fleetpulse_block_compactions_total", "Partitions compacted (with rollups built).",
             Kind::kCounter);
    w.sample("fleetpulse_block_compactions_total", {}, {}, static_cast<double>(blocks.compactions));
    w.header("fleetpulse_block_errors_total",
             "Failed block writes (retried), damaged blocks found at start, and chunk reads that "
             "failed their checksum.",
             Kind::kCounter);
    w.sample("fleetpulse_block_errors_total", {}, {},
             static_cast<double>(blocks.errors + blocks.damaged + blocks.read_errors));
    const tsdb::StorageHealth sh = src.store.health();
    w.header("fleetpulse_blocks_quarantined_total",
             "Damaged blocks moved to quarantine at start (re-sealed where readable).",
             Kind::kCounter);
    w.sample("fleetpulse_blocks_quarantined_total", {}, {}, static_cast<double>(blocks.damaged));
    w.header("fleetpulse_storage_quarantined_files", "Damaged files kept in tsdb/quarantine.",
             Kind::kGauge);
    w.sample("fleetpulse_storage_quarantined_files", {}, {},
             static_cast<double>(sh.quarantined_files));
    w.header("fleetpulse_storage_damage_unacknowledged",
             "Storage damage reports an operator has not acknowledged yet.", Kind::kGauge);
    w.sample("fleetpulse_storage_damage_unacknowledged", {}, {},
             static_cast<double>(sh.damage_unacknowledged));
    w.header("fleetpulse_wal_records_skipped_total",
             "Damaged WAL records skipped by recovery at the last start.", Kind::kCounter);
    w.sample("fleetpulse_wal_records_skipped_total", {}, {},
             static_cast<double>(sh.wal_records_skipped));
    w.header("fleetpulse_wal_bytes", "Bytes in telemetry WAL segments.", Kind::kGauge);
    const WalStats wal = src.store.wal_stats();
    w.sample("fleetpulse_wal_bytes", {}, {}, static_cast<double>(wal.bytes));
    w.header("fleetpulse_wal_fsyncs_total", "fsync calls made by the WAL.", Kind::kCounter);
    w.sample("fleetpulse_wal_fsyncs_total", {}, {}, static_cast<double>(wal.fsyncs));
    w.header("fleetpulse_series", "Time series (device, metric) stored.", Kind::kGauge);
    w.sample("fleetpulse_series", {}, {}, static_cast<double>(src.store.series()));
    w.header("fleetpulse_points_stored", "Telemetry points held by the store.", Kind::kGauge);
    w.sample("fleetpulse_points_stored", {}, {}, static_cast<double>(src.store.points()));

    const auto st = src.ingestor.stats();
    w.header("fleetpulse_ingest_queue_depth", "Reports waiting for the commit path.", Kind::kGauge);
    w.sample("fleetpulse_ingest_queue_depth", {}, {}, static_cast<double>(st.pending));
    w.header("fleetpulse_commits_total", "Group commits (durable transactions) made.",
             Kind::kCounter);
    w.sample("fleetpulse_commits_total", {}, {}, static_cast<double>(st.commits));
    w.header("fleetpulse_commit_errors_total", "Group commits that failed.", Kind::kCounter);
    w.sample("fleetpulse_commit_errors_total", {}, {}, static_cast<double>(st.commit_errors));
    w.header("fleetpulse_devices_auto_registered_total",
             "Devices registered because they reported.", Kind::kCounter);
    w.sample("fleetpulse_devices_auto_registered_total", {}, {},
             static_cast<double>(st.auto_registered));

    w.header("fleetpulse_http_connections", "Open HTTP connections.", Kind::kGauge);
    w.sample("fleetpulse_http_connections", {}, {},
             src.open_connections ? static_cast<double>(src.open_connections()) : 0);

    w.header("process_resident_memory_bytes", "Resident memory size in bytes.", Kind::kGauge);
    w.sample("process_resident_memory_bytes", {}, {}, resident_bytes());
    w.header("process_cpu_seconds_total", "User and system CPU time spent in seconds.",
             Kind::kCounter);
    w.sample("process_cpu_seconds_total", {}, {}, cpu_seconds());
    w.header("process_start_time_seconds",
             "Start time of the process since the Unix epoch in seconds.", Kind::kGauge);
    w.sample("process_start_time_seconds", {}, {}, start_time);
  });
}

void add_alerting_collectors(metrics::Registry& registry, const AlertEngine& alerts,
                             const WebhookNotifier& notifier) {
  using metrics::Kind;
  registry.add_collector([&alerts, &notifier](metrics::ExpositionWriter& w) {
    const NotifierStats st = notifier.stats();
    w.header("fleetpulse_webhook_deliveries_total",
             "Webhook delivery attempts by outcome (failed attempts are retried with backoff; "
             "dead_letter: gave up).",
             Kind::kCounter);
    const std::pair<const char*, uint64_t> outcomes[] = {{"delivered", st.delivered},
                                                         {"failed_attempt", st.failed_attempts},
                                                         {"dead_letter", st.dead_lettered},
                                                         {"dropped", st.dropped}};
    for (const auto& [result, n] : outcomes)
      w.sample("fleetpulse_webhook_deliveries_total", {"result"}, {result}, static_cast<double>(n));
    w.header("fleetpulse_webhook_pending", "Webhook deliveries waiting to be (re)tried.",
             Kind::kGauge);
    w.sample("fleetpulse_webhook_pending", {}, {}, static_cast<double>(st.pending));
    w.header("fleetpulse_alert_evaluations_dropped_total",
             "Committed batches not evaluated for alerts because the engine's queue was full.",
             Kind::kCounter);
    w.sample("fleetpulse_alert_evaluations_dropped_total", {}, {},
             static_cast<double>(alerts.dropped()));
  });
}

}  // namespace fp
