#pragma once
// submit_message: the one path from an MQTT application message (device connection or bridge)
// to the Ingestor. Decodes the payload with the ingest decoders (telemetry JSON in any reading
// form, or a heartbeat) for the device of the topic, submits it, and counts it in the server
// metrics once durable. The cardinality limits apply as on HTTP: readings beyond a series limit
// are dropped and counted (the message is refused when none is left), new devices beyond the
// auto-registration rate refuse the message.
//
// Thread safety: call from any thread; `done` runs on the Ingestor's commit thread and must not
// block.

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "ingest/cardinality_limits.h"
#include "ingest/write_path.h"
#include "kpi/device_activity_log.h"
#include "metrics/server_metrics.h"
#include "mqtt/topic_templates.h"
#include "util/clock.h"
#include "util/rate_meter.h"

namespace fp::mqtt {

struct IngestSinks {
  WritePath& writes;
  Ingestor& ingestor;  // cardinality limits and the auto-registration rate (admission)
  metrics::ServerMetrics& server_metrics;
  const Clock& clock;
  RateMeter* ingest_rate = nullptr;       // may be null
  DeviceActivityLog* activity = nullptr;  // per-device rejections for KPIs; may be null
  Catalog* catalog =
      nullptr;  // a device's attribute keys (--max-attributes-per-device); may be null
  // server_metrics' points_ingested{source="mqtt"} resolved once; null: looked up per message.
  metrics::Counter* points_mqtt = nullptr;
};

// Why a message was not submitted. reason 0: submitted, `done` will run.
struct Refusal {
  uint8_t reason = 0;      // MQTT 5 reason code (0x99 payload format invalid, 0x97 quota
                           // exceeded: a cardinality limit or the auto-registration rate)
  const char* label = "";  // metric label: invalid_telemetry, invalid_heartbeat, or the
                           // limit_label() of the limit that refused it
  std::string detail;
  bool submitted() const { return reason == 0; }
};

// `done(durable)` is called once the message is durable (true) or failed to be stored (false).
Refusal submit_message(const IngestSinks& sinks, const TopicMatch& target, std::string_view payload,
                       std::function<void(bool durable)> done);

// The two halves of submit_message for telemetry, so that several messages go in one batch
// (PublishBatch). decode_telemetry_message decodes `payload` into `batch`, after what it holds
// already, with every check submit_message makes (each message is its own request for the
// metric-names limit), and counts its rejections; when it returns a refusal, `batch` is as it
// was before. `admission` admits the series of every message of the batch: one for the batch,
// it must live until the batch is durable.
Refusal decode_telemetry_message(const IngestSinks& sinks, const TopicMatch& target,
                                 std::string_view payload, int64_t now_ms, ReadingBatch& batch,
                                 SeriesAdmission& admission);
// Submits decoded telemetry (its admission is released once it is durable); `done` as for
// submit_message.
void submit_telemetry_batch(const IngestSinks& sinks, std::shared_ptr<ReadingBatch> batch,
                            int64_t now_ms, std::shared_ptr<SeriesAdmission> admission,
                            std::function<void(bool durable)> done);

}  // namespace fp::mqtt
