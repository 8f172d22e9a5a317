#include "simulate/http_report_sink.h"

#include "simulate/message_json.h"
#include "util/json_writer.h"

namespace fp::sim {

namespace {

std::string short_body(const std::string& body) {
  return body.size() > 300 ? body.substr(0, 300) + "..." : body;
}

}  // namespace

HttpReportSink::HttpReportSink(HttpTarget target, std::string api_key, int connections,
                               RunStats& stats)
    : stats_(stats),
      client_(std::move(target), std::move(api_key), connections,
              static_cast<size_t>(connections) * 2) {}

std::string HttpReportSink::first_error() const {
  std::lock_guard lock(error_mu_);
  return first_error_;
}

void HttpReportSink::note_error(std::string what) {
  stats_.requests_failed.fetch_add(1);
  std::lock_guard lock(error_mu_);
  if (first_error_.empty()) first_error_ = std::move(what);
}

void HttpReportSink::register_device(const SimDevice& d) {
  JsonWriter w;
  w.begin_object();
  w.field("device_id", d.id).field("type", to_string(d.kind)).field("location", d.site->name);
  w.field("name", std::string(to_string(d.kind)) + " " + d.id.substr(d.id.rfind('-') + 1) + " at " +
                      std::string(d.site->name));
  w.key("metadata").begin_object().field("simulated", true);
  w.field("battery_powered", d.battery_powered).end_object();
  w.end_object();
  const std::string id = d.id;
  client_.submit({"/api/v1/devices", w.take(), [this, id](const HttpAnswer& a) {
                    stats_.requests.fetch_add(1);
                    if (a.status == 201 || a.status == 409) {
                      stats_.devices_registered.fetch_add(1);
                    } else {
                      note_error(a.status == 0
                                     ? a.error
                                     : "registering " + id + ": HTTP " + std::to_string(a.status) +
                                           " " + short_body(a.body));
                    }
                  }});
}

void HttpReportSink::send_readings(std::vector<OutgoingReading> batch) {
  if (batch.empty()) return;
  std::vector<uint32_t> points;  // per reading, to count the rejected ones' points
  points.reserve(batch.size());
  for (const auto& r : batch) points.push_back(static_cast<uint32_t>(r.reading.values.size()));
  std::string body = encode_readings_json(batch);
  client_.submit({"/api/v1/telemetry", std::move(body),
                  [this, points = std::move(points)](const HttpAnswer& a) {
                    stats_.requests.fetch_add(1);
                    if (a.status != 0) stats_.record_latency(a.latency);
                    uint64_t total_points = 0;
                    for (uint32_t p : points) total_points += p;
                    if (a.status == 200) {
                      stats_.readings_accepted.fetch_add(points.size());
                      stats_.points_accepted.fetch_add(total_points);
                      return;
                    }
                    if (a.status == 422) {
                      if (auto idx = rejected_indexes(a.body)) {
                        uint64_t rejected_points = 0;
                        for (size_t i : *idx)
                          if (i < points.size()) rejected_points += points[i];
                        stats_.readings_rejected.fetch_add(idx->size());
                        stats_.points_rejected.fetch_add(rejected_points);
                        stats_.readings_accepted.fetch_add(points.size() - idx->size());
                        stats_.points_accepted.fetch_add(total_points - rejected_points);
                        return;
                      }
                    }
                    note_error(a.status == 0 ? a.error
                                             : "telemetry: HTTP " + std::to_string(a.status) + " " +
                                                   short_body(a.body));
                  }});
}

void HttpReportSink::send_heartbeat(const HeartbeatMessage& hb) {
  client_.submit({"/api/v1/devices/" + hb.device_id + "/heartbeat", encode_heartbeat_json(hb),
                  [this](const HttpAnswer& a) {
                    stats_.requests.fetch_add(1);
                    if (a.status != 0) stats_.record_latency(a.latency);
                    if (a.status == 200)
                      stats_.heartbeats_accepted.fetch_add(1);
                    else
                      note_error(a.status == 0 ? a.error
                                               : "heartbeat: HTTP " + std::to_string(a.status) +
                                                     " " + short_body(a.body));
                  }});
}

}  // namespace fp::sim
