#pragma once
// What the KPIs learn from each commit of the ingest path: messages and bytes per device,
// response times (receive time minus a heartbeat's own `ts`) and battery samples.

#include "ingest/ingestor.h"
#include "kpi/device_activity_log.h"

namespace fp {

// Records the reports of `e` in `log` and writes them to its journal. Runs on the commit
// thread as the Ingestor's ack barrier, so the activity of an acknowledged report is durable
// before its answer is sent.
void record_commit(DeviceActivityLog& log, const CommitEvent& e);

}  // namespace fp
