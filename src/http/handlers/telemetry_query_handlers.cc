// Telemetry queries: latest values (device and fleet), raw points, bucketed aggregates
// (device and fleet with group_by) and export as CSV or NDJSON.

#include <charconv>
#include <chrono>
#include <map>
#include <thread>

#include "http/handlers/latest_values_json.h"
#include "http/handlers/query_params.h"
#include "http/handlers/routes.h"
#include "http/paced_write.h"
#include "model/time_format.h"
#include "query/aggregate.h"
#include "util/json_writer.h"

namespace fp::http {
namespace {

constexpr int64_t kDefaultRange = 24 * 3'600'000;

Response no_device(const std::string& id) {
  return error_response(404, "not_found", "no device '" + id + "'");
}

bool device_known(ApiContext& ctx, const std::string& id) {
  return ctx.tracker.contains(id) || ctx.store.index().has_device(id);
}

struct Range {
  int64_t start, end;
};

Result<Range> range_params(ApiContext& ctx, const Request& req) {
  const int64_t now = ctx.clock.now_ms();
  auto start = time_param(req, "start", now - kDefaultRange, now);
  if (!start.ok()) return start.status();
  auto end = time_param(req, "end", INT64_MAX, now);
  if (!end.ok()) return end.status();
  if (*end < *start) return Status::InvalidArgument("end is before start");
  return Range{*start, *end};
}

Result<std::string> metric_param(const Request& req) {
  auto m = req.param("metric");
  if (!m || m->empty()) return Status::InvalidArgument("metric is required");
  return std::string(*m);
}

Result<int64_t> interval_param(const Request& req) {
  auto v = req.param("interval");
  if (!v) return int64_t{3'600'000};
  auto d = parse_duration_ms(*v);
  if (!d || *d < 1000)
    return Status::InvalidArgument(
        "interval must be a duration of at least 1s, e.g. 1m, 5m, 1h, 1d");
  return *d;
}

void write_bucket(JsonWriter& w, const query::Bucket& b, uint8_t aggs) {
  w.begin_object().field("ts", format_rfc3339(b.start));
  if (aggs & query::kMin) w.field("min", b.min);
  if (aggs & query::kMax) w.field("max", b.max);
  if (aggs & query::kAvg) w.field("avg", b.count ? b.sum / static_cast<double>(b.count) : 0.0);
  if (aggs & query::kSum) w.field("sum", b.sum);
  if (aggs & query::kCount) w.field("count", b.count);
  if (aggs & query::kFirst) w.field("first", b.first);
  if (aggs & query::kLast) w.field("last", b.last);
  w.end_object();
}

// The parameters every aggregate query takes: metric, start/end, interval, agg.
struct AggregateParams {
  std::string metric;
  Range range;
  int64_t interval;
  uint8_t aggs;
};

Result<AggregateParams> aggregate_params(ApiContext& ctx, const Request& req) {
  auto metric = metric_param(req);
  if (!metric.ok()) return metric.status();
  auto range = range_params(ctx, req);
  if (!range.ok()) return range.status();
  auto interval = interval_param(req);
  if (!interval.ok()) return interval.status();
  auto aggs = query::parse_aggregates(req.param("agg").value_or(""));
  if (!aggs.ok()) return aggs.status();
  return AggregateParams{std::move(*metric), *range, *interval, *aggs};
}

// Marks an answer that may be short because stored readings could not be read (damage not
// yet acknowledged, see TimeSeriesStore::missing_data): "partial":true and the reason.
void write_partial(JsonWriter& w, const std::string& missing) {
  if (missing.empty()) return;
  w.field("partial", true).field("partial_reason", missing);
}

// Raw points with cursor paging. The cursor is the timestamp to continue from.
void raw_points(ApiContext& ctx, RequestContext& rc, const Responder& respond) {
  const std::string& device = rc.params.get("id");
  const Request& req = rc.request;
  auto metric = metric_param(req);
  if (!metric.ok()) return respond(error_response(metric.status()));
  auto range = range_params(ctx, req);
  if (!range.ok()) return respond(error_response(range.status()));
  auto limit = limit_param(req, 1000, 100'000);
  if (!limit.ok()) return respond(error_response(limit.status()));
  const auto order = req.param("order").value_or("asc");
  if (order != "asc" && order != "desc")
    return respond(error_response(400, "invalid_parameter", "order must be asc or desc"));
  const bool desc = order == "desc";
  if (auto c = req.param("cursor"); c && !c->empty()) {
    int64_t at;
    auto [p, ec] = std::from_chars(c->data(), c->data() + c->size(), at);
    if (ec != std::errc() || p != c->data() + c->size())
      return respond(
          error_response(400, "invalid_parameter", "cursor is not one this API returned"));
    if (desc)
      range->end = std::min(range->end, at);
    else
      range->start = std::max(range->start, at);
  }
  if (!device_known(ctx, device)) return respond(no_device(device));
  auto id = ctx.store.index().find(device, *metric);
  std::vector<tsdb::Sample> points;
  if (id) {
    if (!desc) {
      ctx.store.scan(*id, range->start, range->end, [&](const tsdb::Sample& s) {
        if (points.size() <= static_cast<size_t>(*limit)) points.push_back(s);
      });
    } else {
      ctx.store.scan(*id, range->start, range->end,
                     [&](const tsdb::Sample& s) { points.push_back(s); });
      std::reverse(points.begin(), points.end());
      if (points.size() > static_cast<size_t>(*limit) + 1)
        points.resize(static_cast<size_t>(*limit) + 1);
    }
  }
  std::optional<std::string> next;
  if (points.size() > static_cast<size_t>(*limit)) {
    next = std::to_string(points[static_cast<size_t>(*limit)].ts);
    points.resize(static_cast<size_t>(*limit));
  }
  JsonWriter w;
  w.begin_object().field("device_id", device).field("metric", *metric).key("points").begin_array();
  for (const auto& s : points)
    w.begin_object().field("ts", format_rfc3339(s.ts)).field("value", s.value).end_object();
  w.end_array().field("next_cursor", next);
  write_partial(w, ctx.store.missing_data(device, *metric, range->start, range->end));
  w.end_object();
  respond(Response::json(200, w.take()));
}

void device_aggregates(ApiContext& ctx, RequestContext& rc, const Responder& respond) {
  const std::string& device = rc.params.get("id");
  const Request& req = rc.request;
  auto params = aggregate_params(ctx, req);
  if (!params.ok()) return respond(error_response(params.status()));
  const auto& [metric, range, interval, aggs] = *params;
  if (!device_known(ctx, device)) return respond(no_device(device));
  std::vector<query::Bucket> buckets;
  if (auto id = ctx.store.index().find(device, metric)) {
    auto r = query::aggregate_series(ctx.store, *id, range.start, range.end, interval);
    if (!r.ok()) return respond(error_response(r.status()));
    buckets = std::move(*r);
  }
  JsonWriter w;
  w.begin_object().field("device_id", device).field("metric", metric);
  w.field("interval", format_duration(interval)).key("buckets").begin_array();
  for (const auto& b : buckets) write_bucket(w, b, aggs);
  w.end_array();
  write_partial(w, ctx.store.missing_data(device, metric, range.start, range.end));
  w.end_object();
  respond(Response::json(200, w.take()));
}

// Devices selected by the list filters (status, type, location, q, device_id=a,b).
Result<std::vector<Device>> select_devices(ApiContext& ctx, const Request& req, size_t max) {
  std::vector<Device> out;
  if (auto ids = req.param("device_id"); ids && !ids->empty()) {
    std::string_view rest = *ids;
    while (!rest.empty()) {
      size_t comma = rest.find(',');
      std::string id(rest.substr(0, comma));
      rest = comma == std::string_view::npos ? std::string_view{} : rest.substr(comma + 1);
      auto d = ctx.catalog.get_device(id);
      if (d.ok())
        out.push_back(std::move(*d));
      else if (device_known(ctx, id))
        out.push_back(Device{id});
    }
    return out;
  }
  auto f = device_filter_param(req);
  if (!f.ok()) return f.status();
  std::string cursor;
  do {
    auto page = ctx.catalog.list_devices(*f, cursor, 1000);
    if (!page.ok()) return page.status();
    for (auto& d : page->devices) {
      if (out.size() >= max) return out;
      out.push_back(std::move(d));
    }
    cursor = page->next_cursor.value_or("");
  } while (!cursor.empty());
  return out;
}

// The devices a fleet read goes through, in device_id order after `after_id`, at most `limit`
// (with type and location when `with_labels`). With the list filters only (or none), one
// catalog read of ids from the cursor on; with device_id=a,b or a sort other than by id, the
// devices select_devices() picks (the sort's order), those after the cursor.
Result<std::vector<DeviceLabels>> fleet_devices(ApiContext& ctx, const Request& req,
                                                const std::string& after_id, size_t limit,
                                                bool with_labels) {
  if (const auto ids = req.param("device_id"); !ids || ids->empty()) {
    auto f = device_filter_param(req);
    if (!f.ok()) return f.status();
    if (f->sort == DeviceSortKey::kDeviceId && !f->descending)
      return ctx.catalog.list_device_labels(*f, after_id, limit, with_labels);
  }
  auto devices = select_devices(ctx, req, 1'000'000);
  if (!devices.ok()) return devices.status();
  std::vector<DeviceLabels> out;
  for (Device& d : *devices) {
    if (out.size() == limit) break;
    if (!after_id.empty() && d.device_id <= after_id) continue;
    out.push_back({std::move(d.device_id), std::move(d.type), std::move(d.location)});
  }
  return out;
}

void fleet_latest(ApiContext& ctx, RequestContext& rc, const Responder& respond) {
  const Request& req = rc.request;
  auto limit = limit_param(req, 1000, 100'000);
  if (!limit.ok()) return respond(error_response(limit.status()));
  const std::string cursor(req.param("cursor").value_or(""));
  // One more than the page: whether another page exists.
  auto devices = fleet_devices(ctx, req, cursor, static_cast<size_t>(*limit) + 1, false);
  if (!devices.ok()) return respond(error_response(devices.status()));
  std::optional<std::string> next;
  if (devices->size() > static_cast<size_t>(*limit)) {
    devices->resize(static_cast<size_t>(*limit));
    next = devices->back().device_id;
  }
  const auto metric = req.param("metric");
  std::string out;
  out.reserve(64 + devices->size() * (metric ? 96 : 512));
  out += "{\"devices\":[";
  std::string missing;
  LatestValuesJson latest(ctx.store, out);
  for (const DeviceLabels& d : *devices) {
    if (&d != &devices->front()) out += ',';
    latest.append_device(d.device_id, metric, missing);
  }
  out += "],\"next_cursor\":";
  if (next)
    append_json_string(out, *next);
  else
    out += "null";
  if (!missing.empty()) {
    out += ",\"partial\":true,\"partial_reason\":";
    append_json_string(out, missing);
  }
  out += '}';
  respond(Response::json(200, std::move(out)));
}

void fleet_aggregates(ApiContext& ctx, RequestContext& rc, const Responder& respond) {
  const Request& req = rc.request;
  auto params = aggregate_params(ctx, req);
  if (!params.ok()) return respond(error_response(params.status()));
  const auto& [metric, range, interval, aggs] = *params;
  const auto group_by = req.param("group_by").value_or("");
  if (group_by != "" && group_by != "device" && group_by != "type" && group_by != "location")
    return respond(
        error_response(400, "invalid_parameter", "group_by must be device, type or location"));
  const bool by_label = group_by == "type" || group_by == "location";
  auto devices = fleet_devices(ctx, req, "", 1'000'000, by_label);
  if (!devices.ok()) return respond(error_response(devices.status()));

  std::map<std::string, std::map<int64_t, query::Bucket>> groups;
  std::string missing;
  for (const DeviceLabels& d : *devices) {
    add_missing(missing, ctx.store.missing_data(d.device_id, metric, range.start, range.end));
    auto id = ctx.store.index().find(d.device_id, metric);
    if (!id) continue;
    auto buckets = query::aggregate_series(ctx.store, *id, range.start, range.end, interval);
    if (!buckets.ok()) return respond(error_response(buckets.status()));
    const std::string key = group_by == "device"     ? d.device_id
                            : group_by == "type"     ? d.type
                            : group_by == "location" ? d.location
                                                     : "all";
    auto& g = groups[key];
    for (const auto& b : *buckets) {
      auto& into = g[b.start];
      into.start = b.start;
      into.merge(b);
    }
  }
  JsonWriter w;
  w.begin_object().field("metric", metric).field("interval", format_duration(interval));
  w.field("group_by", group_by.empty() ? std::string_view("none") : group_by);
  w.key("groups").begin_array();
  for (const auto& [key, buckets] : groups) {
    w.begin_object().field("key", key).key("buckets").begin_array();
    for (const auto& [start, b] : buckets) write_bucket(w, b, aggs);
    w.end_array().end_object();
  }
  w.end_array();
  write_partial(w, missing);
  w.end_object();
  respond(Response::json(200, w.take()));
}

// Formats one point of an export.
void append_export_line(std::string& out, bool csv, const std::string& device,
                        std::string_view metric, const tsdb::Sample& s) {
  JsonWriter v;
  v.value(s.value);
  if (csv) {
    out += device;
    out += ',';
    out += metric;
    out += ',';
    append_rfc3339(out, s.ts);
    out += ',';
    out += v.str();
    out += '\n';
    return;
  }
  JsonWriter line;
  line.begin_object().field("device_id", device).field("metric", metric);
  line.field("ts", format_rfc3339(s.ts)).key("value").raw(v.str()).end_object();
  out += line.str();
  out += '\n';
}

// The export job: series by series, a day of points at a time, written to the client while
// it keeps up (waiting, not buffering, when it does not), so memory stays bounded whatever
// the range. Ends the stream when done or when the client or the server goes.
void run_export(ApiContext& ctx, const std::shared_ptr<StreamSink>& sink, bool csv,
                const std::vector<Device>& devices, std::optional<std::string> only_metric,
                Range range, const std::atomic<bool>& stop) {
  constexpr int64_t kWindow = 24 * 3'600'000;
  std::string out;
  if (csv) out = "device_id,metric,ts,value\n";
  auto send = [&]() {
    const bool written = write_paced(*sink, std::move(out), stop);
    out.clear();
    return written;
  };
  std::vector<tsdb::Sample> points;
  std::string missing;
  for (const Device& d : devices) {
    for (const auto& series : ctx.store.index().metrics_of(d.device_id)) {
      if (only_metric && series.first != *only_metric) continue;
      // Asked before the scan (a series whose points are all unreadable has no span) and
      // after it (chunks that failed their checksum while it read them).
      add_missing(missing,
                  ctx.store.missing_data(d.device_id, series.first, range.start, range.end));
      const auto span = ctx.store.time_span(series.second);
      if (!span) continue;
      const int64_t first = std::max(range.start, span->first);
      const int64_t last = std::min(range.end, span->second);
      for (int64_t t = first; t <= last;) {
        const int64_t window_end = t > last - kWindow ? last : t + kWindow - 1;
        points.clear();
        ctx.store.scan(series.second, t, window_end,
                       [&](const tsdb::Sample& s) { points.push_back(s); });
        for (const tsdb::Sample& s : points) {
          append_export_line(out, csv, d.device_id, series.first, s);
          if (out.size() >= kExportChunkBytes && !send()) return;
        }
        if (window_end == last) break;
        t = window_end + 1;
      }
      add_missing(missing,
                  ctx.store.missing_data(d.device_id, series.first, range.start, range.end));
    }
  }
  if (!missing.empty() && !csv) {
    // The export is short: its last line says so (CSV has the response header only).
    JsonWriter line;
    line.begin_object().field("partial", true).field("partial_reason", missing).end_object();
    out += line.str();
    out += '\n';
  }
  if (!out.empty() && !send()) return;
  sink->finish();
}

void export_points(ApiContext& ctx, RequestContext& rc, const Responder& respond) {
  const Request& req = rc.request;
  const auto format = req.param("format").value_or("ndjson");
  if (format != "csv" && format != "ndjson")
    return respond(error_response(400, "invalid_parameter", "format must be csv or ndjson"));
  auto range = range_params(ctx, req);
  if (!range.ok()) return respond(error_response(range.status()));
  auto devices = select_devices(ctx, req, 1'000'000);
  if (!devices.ok()) return respond(error_response(devices.status()));
  std::optional<std::string> only_metric;
  if (auto m = req.param("metric")) only_metric = std::string(*m);
  const bool csv = format == "csv";
  if (!ctx.exports.has_capacity()) {
    Response busy = error_response(503, "unavailable", "too many exports at once: retry shortly");
    busy.headers.emplace_back("Retry-After", "5");
    return respond(std::move(busy));
  }
  Response res;
  res.content_type = csv ? "text/csv; charset=utf-8" : "application/x-ndjson";
  // Damage known before the export starts, in headers (the stream cannot say it in CSV).
  std::string missing;
  for (const Device& d : *devices)
    for (const auto& series : ctx.store.index().metrics_of(d.device_id))
      if (!only_metric || series.first == *only_metric)
        add_missing(missing,
                    ctx.store.missing_data(d.device_id, series.first, range->start, range->end));
  if (!missing.empty()) {
    res.headers.emplace_back("X-Fleetpulse-Partial", "true");
    res.headers.emplace_back("X-Fleetpulse-Partial-Reason", missing);
  }
  res.stream_queue_limit = size_t{64} << 20;  // the job waits at 2 MiB; this is a backstop
  // An owner's part of a cluster export: a cut one has no last chunk (cluster/gather_export.h).
  res.stream_chunked = req.param("fp_local").has_value();
  res.on_stream = [&ctx, csv, devices = std::move(*devices), only_metric,
                   r = *range](std::shared_ptr<StreamSink> sink) mutable {
    const bool started = ctx.exports.try_run([&ctx, sink, csv, devices = std::move(devices),
                                              only_metric, r](const std::atomic<bool>& stop) {
      run_export(ctx, sink, csv, devices, only_metric, r, stop);
      if (sink->is_open()) sink->finish();
    });
    if (!started) sink->close();  // lost a race for the last slot: the stream is cut short
  };
  respond(std::move(res));
}

}  // namespace

void add_telemetry_query_routes(Router& r, ApiContext& ctx) {
  r.add(Method::kGet, "/api/v1/devices/{id}/latest", Access::kRead,
        [&ctx](RequestContext& rc, Responder respond) {
          const std::string& id = rc.params.get("id");
          if (!device_known(ctx, id)) return respond(no_device(id));
          std::string out, missing;
          LatestValuesJson(ctx.store, out).append_device(id, rc.request.param("metric"), missing);
          respond(Response::json(200, std::move(out)));
        });
  r.add(Method::kGet, "/api/v1/latest", Access::kRead,
        [&ctx](RequestContext& rc, Responder respond) { fleet_latest(ctx, rc, respond); });
  r.add(Method::kGet, "/api/v1/devices/{id}/telemetry", Access::kRead,
        [&ctx](RequestContext& rc, Responder respond) { raw_points(ctx, rc, respond); });
  r.add(Method::kGet, "/api/v1/devices/{id}/aggregates", Access::kRead,
        [&ctx](RequestContext& rc, Responder respond) { device_aggregates(ctx, rc, respond); });
  r.add(Method::kGet, "/api/v1/aggregates", Access::kRead,
        [&ctx](RequestContext& rc, Responder respond) { fleet_aggregates(ctx, rc, respond); });
  r.add(Method::kGet, "/api/v1/export", Access::kRead,
        [&ctx](RequestContext& rc, Responder respond) { export_points(ctx, rc, respond); });
}

}  // namespace fp::http
