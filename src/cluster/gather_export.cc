#include "cluster/gather_export.h"

#include <chrono>
#include <future>
#include <memory>
#include <set>
#include <thread>

#include "cluster/gather_stream.h"
#include "cluster/partition.h"
#include "http/paced_write.h"
#include "util/json_writer.h"

namespace fp::cluster {
namespace {

std::string JoinIds(const std::set<uint32_t>& ids) {
  std::string s;
  for (uint32_t p : ids) s += (s.empty() ? "" : ",") + std::to_string(p);
  return s;
}

// The device id a line of an owner's export is about; empty for anything else.
std::string_view DeviceOfLine(std::string_view line, bool csv) {
  if (csv) return line.substr(0, line.find(','));
  constexpr std::string_view kPrefix = R"({"device_id":")";
  if (!line.starts_with(kPrefix)) return {};
  line.remove_prefix(kPrefix.size());
  return line.substr(0, line.find('"'));
}

}  // namespace

void RunGatheredExport(const ExportGather& g, http::Responder respond,
                       const std::atomic<bool>& stop) {
  std::set<uint32_t> missing(g.unowned.begin(), g.unowned.end());
  std::string reasons;
  // Open every owner's export at once; a stopped owner costs one timeout, not one per owner.
  std::vector<std::future<std::unique_ptr<OwnerStream>>> opening;
  for (const ExportOwner& o : g.owners) {
    opening.push_back(std::async(std::launch::async, [&g, &o]() -> std::unique_ptr<OwnerStream> {
      if (o.host.empty()) return nullptr;
      std::string error;
      return OwnerStream::Open(o.host, o.port, g.base, g.open_timeout_ms, error);
    }));
  }
  std::vector<std::unique_ptr<OwnerStream>> streams;
  for (size_t i = 0; i < opening.size(); ++i) {
    std::unique_ptr<OwnerStream> s = opening[i].get();
    const ExportOwner& o = g.owners[i];
    if (s && s->status() >= 400 && s->status() < 500) {
      // The request itself is wrong (a bad parameter): every owner says so; pass it back.
      http::Response r;
      r.status = s->status();
      r.content_type = s->header("Content-Type");
      r.body = s->ReadAll(g.open_timeout_ms);
      return respond(std::move(r));
    }
    if (!s || s->status() != 200) {
      missing.insert(o.partitions.begin(), o.partitions.end());
      s.reset();
    } else if (s->header("X-Fleetpulse-Partial") == "true") {
      reasons += (reasons.empty() ? "" : "; ") + s->header("X-Fleetpulse-Partial-Reason");
    }
    streams.push_back(std::move(s));
  }
  bool any = false;
  for (const auto& s : streams) any = any || s != nullptr;
  if (!any) {
    http::Response r = Unavailable("no partition owner answered this export; retry shortly");
    return respond(std::move(r));
  }
  http::Response res;
  res.content_type = g.csv ? "text/csv; charset=utf-8" : "application/x-ndjson";
  if (!missing.empty() || !reasons.empty()) {
    res.headers.emplace_back("X-Fleetpulse-Partial", "true");
    std::string reason = reasons;
    if (!missing.empty())
      reason += (reason.empty() ? "" : "; ") + std::string("no answer for partitions ") +
                JoinIds(missing);
    res.headers.emplace_back("X-Fleetpulse-Partial-Reason", reason);
    if (!missing.empty())
      res.headers.emplace_back("X-Fleetpulse-Missing-Partitions", JoinIds(missing));
  }
  res.stream_queue_limit = size_t{64} << 20;
  res.stream_chunked = true;  // cut short (CSV): no last chunk
  auto sink_promise = std::make_shared<std::promise<std::shared_ptr<http::StreamSink>>>();
  auto sink_future = sink_promise->get_future();
  res.on_stream = [sink_promise](std::shared_ptr<http::StreamSink> sink) {
    sink_promise->set_value(std::move(sink));
  };
  respond(std::move(res));
  if (sink_future.wait_for(std::chrono::seconds(10)) != std::future_status::ready) return;
  std::shared_ptr<http::StreamSink> sink = sink_future.get();

  std::string out;
  if (g.csv) out = "device_id,metric,ts,value\n";
  auto send = [&]() {
    const bool written = http::write_paced(*sink, std::move(out), stop);
    out.clear();
    return written;
  };
  for (size_t i = 0; i < streams.size(); ++i) {
    if (!streams[i]) continue;
    const ExportOwner& o = g.owners[i];
    const std::set<uint32_t> asked(o.partitions.begin(), o.partitions.end());
    std::string in;
    bool header_skipped = !g.csv;
    bool complete = false;
    while (true) {
      const OwnerStream::ReadResult r = streams[i]->Read(in, g.idle_ms);
      if (r == OwnerStream::ReadResult::kEnd) complete = true;
      if (r != OwnerStream::ReadResult::kData) break;
      size_t start = 0;
      for (size_t nl; (nl = in.find('\n', start)) != std::string::npos; start = nl + 1) {
        std::string_view line(in.data() + start, nl - start);
        if (!header_skipped) {
          header_skipped = true;
          continue;
        }
        if (!g.csv && line.starts_with(R"({"partial":)")) {
          // The owner's own trailer (damaged blocks there): folded into ours.
          reasons += (reasons.empty() ? "" : "; ") + std::string("node ") + o.node +
                     " reported missing data";
          continue;
        }
        const std::string_view device = DeviceOfLine(line, g.csv);
        if (device.empty() || !asked.contains(PartitionOf(device, g.partitions_total))) continue;
        out.append(line);
        out += '\n';
      }
      in.erase(0, start);
      if (out.size() >= http::kExportChunkBytes && !send()) return;
    }
    streams[i].reset();
    if (complete) continue;
    // Stopped, or cut before its last chunk (killed): its partitions are missing. CSV cannot
    // say so in the body: the response ends without its last chunk, so it is not complete.
    missing.insert(o.partitions.begin(), o.partitions.end());
    if (g.csv) {
      if (!out.empty()) send();
      sink->close();
      return;
    }
  }
  if (!g.csv && (!missing.empty() || !reasons.empty())) {
    JsonWriter line;
    std::string reason = reasons;
    if (!missing.empty())
      reason += (reason.empty() ? "" : "; ") + std::string("no answer for partitions ") +
                JoinIds(missing);
    line.begin_object().field("partial", true).field("partial_reason", reason);
    line.key("missing_partitions").begin_array();
    for (uint32_t p : missing) line.value(static_cast<int64_t>(p));
    line.end_array().end_object();
    out += line.str();
    out += '\n';
  }
  if (!out.empty() && !send()) return;
  sink->finish();
}

}  // namespace fp::cluster
