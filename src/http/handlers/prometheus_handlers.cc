// The Prometheus HTTP query API under /prometheus/api/v1/ (query, query_range, series,
// labels, label/{name}/values, metadata, status/buildinfo), GET and form POST, with
// Prometheus's JSON shapes and error format, over stored telemetry (see src/promql/).

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <thread>

#include "http/gzip_encoder.h"
#include "http/handlers/routes.h"
#include "http/paced_write.h"
#include "ingest/derived_series.h"
#include "model/time_format.h"
#include "promql/answer_pump.h"
#include "promql/api_json.h"
#include "promql/api_params.h"
#include "promql/device_status_source.h"
#include "promql/engine.h"
#include "promql/kpi_history_source.h"
#include "promql/lexer.h"
#include "promql/matrix_answer.h"
#include "promql/parser.h"
#include "promql/telemetry_source.h"
#include "util/json_writer.h"

namespace fp::http {
namespace {

constexpr int64_t kMinTime = -9223372036854775807LL / 1000000 * 1000 / 2;  // far past
constexpr int64_t kMaxTime = 9223372036854775807LL / 1000000 * 1000 / 2;   // far future

// Form values from the URL query and, for a form POST, the body; repeated keys kept.
class FormValues {
 public:
  explicit FormValues(const Request& req) {
    if (auto q = req.target.find('?'); q != std::string::npos)
      parse(std::string_view(req.target).substr(q + 1));
    if (req.method == Method::kPost &&
        req.content_type.find("application/x-www-form-urlencoded") != std::string::npos)
      parse(req.body);
  }
  std::optional<std::string> get(std::string_view key) const {
    for (const auto& [k, v] : values_)
      if (k == key) return v;
    return std::nullopt;
  }
  std::vector<std::string> all(std::string_view key) const {
    std::vector<std::string> out;
    for (const auto& [k, v] : values_)
      if (k == key) out.push_back(v);
    return out;
  }

 private:
  static std::string decode(std::string_view s) {
    std::string out;
    for (size_t i = 0; i < s.size(); ++i) {
      if (s[i] == '+') {
        out += ' ';
      } else if (s[i] == '%' && i + 2 < s.size()) {
        int v = 0;
        auto r = std::from_chars(s.data() + i + 1, s.data() + i + 3, v, 16);
        if (r.ec == std::errc() && r.ptr == s.data() + i + 3) {
          out += static_cast<char>(v);
          i += 2;
        } else {
          out += s[i];
        }
      } else {
        out += s[i];
      }
    }
    return out;
  }
  void parse(std::string_view s) {
    while (!s.empty()) {
      const size_t amp = s.find('&');
      std::string_view pair = s.substr(0, amp);
      s = amp == std::string_view::npos ? std::string_view() : s.substr(amp + 1);
      if (pair.empty()) continue;
      const size_t eq = pair.find('=');
      values_.emplace_back(decode(pair.substr(0, eq)),
                           eq == std::string_view::npos ? "" : decode(pair.substr(eq + 1)));
    }
  }
  std::vector<std::pair<std::string, std::string>> values_;
};

Response gzipped(Response r) {
  r.headers.emplace_back("Content-Encoding", "gzip");
  r.headers.emplace_back("Vary", "Accept-Encoding");
  return r;
}

// A 200 answer, gzip-compressed when the client accepts it (as Prometheus answers).
Response success(const Request& req, std::string body) {
  if (body.size() < 1024 || !accepts_gzip(req.accept_encoding))
    return Response::json(200, std::move(body));
  Response r = Response::json(200, "");
  GzipEncoder gz(r.body);
  gz.add(body);
  gz.finish();
  return gzipped(std::move(r));
}

// A range query's matrix, formatted piece by piece straight into the body or into the gzip
// stream (then the uncompressed answer never exists at once).
Response matrix_success(const Request& req, const promql::QueryValue& q,
                        const std::vector<std::string>& warnings, const promql::AnswerSteps& grid) {
  Response r = Response::json(200, "");
  if (!accepts_gzip(req.accept_encoding)) {
    r.body.reserve(promql::matrix_answer_size_hint(q.series));
    promql::write_matrix_answer(q.series, warnings, grid,
                                [&r](std::string_view piece) { r.body.append(piece); });
    return r;
  }
  GzipEncoder gz(r.body);
  promql::write_matrix_answer(q.series, warnings, grid,
                              [&gz](std::string_view piece) { gz.add(piece); });
  gz.finish();
  return gzipped(std::move(r));
}

// Matrix answers estimated larger than this are streamed (matrix_stream); smaller ones are
// sent whole, on a connection that stays open.
constexpr size_t kStreamMatrixAbove = size_t{1} << 20;

// Hands a streamed response's sink from the server's thread to the query's thread, which
// waits for it: take() returns the sink, or null once the server dropped the response
// without starting the stream (the client went away first; the server shutting down), or
// when the stream did not start within `wait` (its headers could not be written: then a sink
// given later is closed at once).
class SinkHandoff {
 public:
  void give(std::shared_ptr<StreamSink> sink) {
    std::lock_guard lock(mu_);
    if (taker_gone_) {
      sink->close();
      return;
    }
    sink_ = std::move(sink);
    done_ = true;
    cv_.notify_all();
  }
  void abandon() {
    std::lock_guard lock(mu_);
    done_ = true;
    cv_.notify_all();
  }
  std::shared_ptr<StreamSink> take(std::chrono::milliseconds wait) {
    std::unique_lock lock(mu_);
    if (!cv_.wait_for(lock, wait, [this] { return done_; })) taker_gone_ = true;
    return std::move(sink_);
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::shared_ptr<StreamSink> sink_;  // guarded by mu_
  bool done_ = false;                 // guarded by mu_
  bool taker_gone_ = false;           // guarded by mu_
};

// Abandons the handoff when the last copy of the response's on_stream goes without being
// called (give() first makes it a no-op).
struct HandoffGuard {
  explicit HandoffGuard(std::shared_ptr<SinkHandoff> h) : handoff(std::move(h)) {}
  HandoffGuard(const HandoffGuard&) = delete;
  HandoffGuard& operator=(const HandoffGuard&) = delete;
  ~HandoffGuard() { handoff->abandon(); }
  std::shared_ptr<SinkHandoff> handoff;
};

// A client that takes nothing of a streamed answer for this long is cut off.
constexpr auto kStreamStall = std::chrono::seconds(10);

// A streamed range answer being written: its matrix, the writer's place in it, and the
// client's progress. step() writes pieces of ~256 KiB (compressed when the client accepts
// gzip) while at most kExportHighWater bytes wait for the socket, so the answer's bytes in
// memory stay bounded by a few MiB whatever its size. Runs on one thread at a time: the
// query's worker first, then the answer pump once parked there.
class StreamedAnswer {
 public:
  StreamedAnswer(std::shared_ptr<StreamSink> sink, promql::Matrix m,
                 std::vector<std::string> warnings, const promql::AnswerSteps& grid, bool gzip)
      : sink_(std::move(sink)),
        matrix_(std::move(m)),
        warnings_(std::move(warnings)),
        writer_(matrix_, warnings_, grid),
        progress_at_(std::chrono::steady_clock::now()) {
    if (gzip) gz_ = std::make_unique<GzipEncoder>(out_);
  }
  StreamedAnswer(const StreamedAnswer&) = delete;
  StreamedAnswer& operator=(const StreamedAnswer&) = delete;

  // Writes what the client has room for. True once done: the answer complete, the client gone,
  // or cut off after kStreamStall without taking a byte (the stream then closes unfinished).
  bool step() {
    if (!sink_->is_open()) return true;
    const auto now = std::chrono::steady_clock::now();
    if (const size_t q = sink_->queued_bytes(); q > kExportHighWater) {
      if (q < waiting_) {
        waiting_ = q;
        progress_at_ = now;
      } else if (now - progress_at_ > kStreamStall) {
        sink_->close();
        return true;
      }
      return false;
    }
    progress_at_ = now;
    while (sink_->queued_bytes() <= kExportHighWater) {
      bool more = true;
      while (more && out_.size() < kExportChunkBytes)
        more = writer_.write_some(
            [this](std::string_view piece) {
              if (gz_)
                gz_->add(piece);
              else
                out_.append(piece);
            },
            promql::kAnswerPieceBytes);
      if (!more && gz_) gz_->finish();
      if (!out_.empty() && !sink_->write(std::move(out_))) return true;
      out_.clear();
      if (!more) {
        sink_->finish();
        return true;
      }
    }
    waiting_ = sink_->queued_bytes();
    return false;
  }

 private:
  std::shared_ptr<StreamSink> sink_;
  promql::Matrix matrix_;
  std::vector<std::string> warnings_;
  promql::MatrixAnswerWriter writer_;  // refers to matrix_ and warnings_
  std::string out_;                    // the next piece, gz_ writes into it
  std::unique_ptr<GzipEncoder> gz_;
  size_t waiting_ = 0;  // bytes queued when last seen blocked
  std::chrono::steady_clock::time_point progress_at_;
};

// An answer this thread has waited this long (in all) for its client to take is parked with
// the answer pump: a fast client is served by the query's thread alone, a slow or stalled one
// holds it for at most this long.
constexpr auto kParkAfter = std::chrono::milliseconds(100);

// A large matrix answer streamed in bounded pieces (HTTP/1.1 chunked; the connection closes
// after it), formatted on this (the query's) thread while the client keeps taking it; once
// this thread waited kParkAfter for it, the rest is parked with the answer pump
// (ctx.promql_answer_pump) and this thread is free — unless the pump is full, then this
// thread carries on as the pump would.
void stream_matrix(ApiContext& ctx, const Request& req, promql::Matrix m,
                   std::vector<std::string> warnings, const promql::AnswerSteps& grid,
                   const Responder& respond) {
  const bool gzip = accepts_gzip(req.accept_encoding);
  auto handoff = std::make_shared<SinkHandoff>();
  Response res = Response::json(200, "");
  if (gzip) res = gzipped(std::move(res));
  res.stream_chunked = true;
  res.stream_queue_limit = size_t{16} << 20;  // a backstop: step() waits at 2 MiB
  res.on_stream = [guard = std::make_shared<HandoffGuard>(handoff)](
                      std::shared_ptr<StreamSink> sink) { guard->handoff->give(std::move(sink)); };
  respond(std::move(res));
  std::shared_ptr<StreamSink> sink = handoff->take(kStreamStall);
  if (!sink) return;
  auto answer = std::make_shared<StreamedAnswer>(std::move(sink), std::move(m), std::move(warnings),
                                                 grid, gzip);
  promql::AnswerPump::Task rest = [answer] { return answer->step(); };
  bool park = true;  // until the pump refuses it once
  auto waited = std::chrono::steady_clock::duration::zero();
  while (!answer->step()) {
    if (park && waited > kParkAfter) {
      if (ctx.promql_answer_pump.try_park(rest)) return;
      park = false;
    }
    const auto before = std::chrono::steady_clock::now();
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
    waited += std::chrono::steady_clock::now() - before;
  }
}

Response prom_error(int status, std::string_view type, std::string_view msg) {
  return Response::json(status, promql::error_json(type, msg));
}
Response bad_data(std::string_view msg) {
  return prom_error(400, "bad_data", msg);
}

Result<int64_t> time_value(const FormValues& f, std::string_view name, int64_t fallback) {
  auto v = f.get(name);
  if (!v || v->empty()) return fallback;
  auto t = promql::parse_api_time(*v);
  if (!t)
    return Status::InvalidArgument("invalid parameter \"" + std::string(name) +
                                   "\": cannot parse \"" + *v + "\" to a valid timestamp");
  return *t;
}

// The device ids every selector of `e` names with device_id="..." (then only those devices'
// catalog rows are read), or nullopt when some selector may match any device.
void collect_named_devices(const promql::Expr& e, std::optional<std::set<std::string>>& out,
                           bool& any) {
  if (e.kind == promql::Expr::Kind::kVectorSelector ||
      e.kind == promql::Expr::Kind::kMatrixSelector) {
    bool named = false;
    for (const auto& m : e.matchers)
      if (m.name == "device_id" && m.op == promql::LabelMatcher::Op::kEqual) {
        if (!out) out.emplace();
        out->insert(m.value);
        named = true;
        break;
      }
    if (!named) any = true;
  }
  for (const auto& a : e.args) collect_named_devices(*a, out, any);
  if (e.param) collect_named_devices(*e.param, out, any);
}

std::optional<std::set<std::string>> named_devices(const std::vector<const promql::Expr*>& es) {
  std::optional<std::set<std::string>> out;
  bool any = false;
  for (const auto* e : es) collect_named_devices(*e, out, any);
  if (any) return std::nullopt;
  return out ? out : std::set<std::string>{};
}

// The series sources of one query: stored telemetry and device status history. Reads the
// catalog rows of `only` devices when given, else of every device.
struct QuerySources {
  QuerySources(ApiContext& ctx, std::optional<std::set<std::string>> only_devices)
      : only(std::move(only_devices)),
        telemetry(ctx.store, labels, only ? &*only : nullptr, &missing),
        status([this, &ctx](promql::StatusTimeline& tl) { return load_timeline(ctx, tl); }, labels,
               ctx.clock.now_ms()),
        kpi_history(ctx.store, labels, only ? &*only : nullptr, &missing),
        all({&telemetry, &status, &kpi_history}) {
    if (only) {
      for (const auto& id : *only)
        if (auto d = ctx.catalog.get_device(id); d.ok()) devices.push_back(std::move(*d));
    } else if (auto d = ctx.catalog.load_all_devices(); d.ok()) {
      devices = std::move(*d);
    }
    for (const auto& d : devices) labels[d.device_id] = {d.type, d.location};
  }
  // Status transitions from the catalog; a device without any has its current status since
  // it was registered.
  Status load_timeline(ApiContext& ctx, promql::StatusTimeline& tl) const {
    auto s = ctx.catalog.scan_status_history(
        0, [&tl](const StatusTransition& t) { tl[t.device_id].emplace_back(t.at_ms, t.to); });
    if (!s.ok()) return s;
    for (const auto& d : devices)
      if (tl[d.device_id].empty()) tl[d.device_id].emplace_back(d.created_at_ms, d.status);
    for (auto it = tl.begin(); it != tl.end();)
      it = labels.count(it->first) ? std::next(it) : tl.erase(it);  // deleted devices
    return Status::Ok();
  }

  std::optional<std::set<std::string>> only;
  std::vector<Device> devices;
  promql::DeviceLabelMap labels;
  promql::MissingData missing;  // answered as "warnings"
  promql::TelemetrySource telemetry;
  promql::DeviceStatusSource status;
  promql::KpiHistorySource kpi_history;  // fleetpulse_device_<kpi>, fleetpulse_type_<kpi>
  promql::CombinedSource all;
};

promql::EngineOptions engine_options(ApiContext& ctx) {
  promql::EngineOptions o;
  o.limits.max_series = ctx.promql_max_series;
  o.limits.max_points = ctx.promql_max_points;
  return o;
}

Response query_error(const Status& s) {
  switch (s.code()) {
    case StatusCode::kMalformed:
    case StatusCode::kInvalidArgument:
      return bad_data(s.message());
    case StatusCode::kUnprocessable:
      return prom_error(422, "execution", s.message());
    case StatusCode::kTooLarge:
      return prom_error(422, "execution", s.message());
    default:
      return prom_error(500, "internal", s.message());
  }
}

// Parses `query`; unsupported constructs answer 422 bad_data naming them.
Result<promql::ExprPtr> parse_query(const FormValues& f) {
  return promql::parse_expression(f.get("query").value_or(""));
}
Response parse_error(const Status& s) {
  if (s.code() == StatusCode::kUnprocessable) return prom_error(422, "bad_data", s.message());
  return bad_data(s.message());
}

void instant_query(ApiContext& ctx, metrics::Counter& rollup_series, const Request& req,
                   const Responder& respond) {
  FormValues f(req);
  auto t = time_value(f, "time", ctx.clock.now_ms());
  if (!t.ok()) return respond(bad_data(t.status().message()));
  auto expr = parse_query(f);
  if (!expr.ok()) return respond(parse_error(expr.status()));
  QuerySources src(ctx, named_devices({expr->get()}));
  auto r = promql::evaluate_instant(**expr, src.all, *t, engine_options(ctx));
  if (!r.ok()) return respond(query_error(r.status()));
  rollup_series.inc(static_cast<double>(r->rollup_series));
  respond(success(req, promql::query_result_json(*r, src.missing.reasons())));
}

void range_query(ApiContext& ctx, metrics::Counter& rollup_series, const Request& req,
                 const Responder& respond) {
  FormValues f(req);
  auto start = time_value(f, "start", INT64_MIN);
  if (!start.ok()) return respond(bad_data(start.status().message()));
  auto end = time_value(f, "end", INT64_MIN);
  if (!end.ok()) return respond(bad_data(end.status().message()));
  if (*start == INT64_MIN)
    return respond(bad_data("invalid parameter \"start\": cannot parse \"\" to a valid timestamp"));
  if (*end == INT64_MIN)
    return respond(bad_data("invalid parameter \"end\": cannot parse \"\" to a valid timestamp"));
  if (*end < *start)
    return respond(
        bad_data("invalid parameter \"end\": end timestamp must not be before start time"));
  const std::string step_text = f.get("step").value_or("");
  auto step = promql::parse_api_step(step_text);
  if (!step)
    return respond(bad_data("invalid parameter \"step\": cannot parse \"" + step_text +
                            "\" to a valid duration"));
  if (*step <= 0)
    return respond(
        bad_data("invalid parameter \"step\": zero or negative query resolution step "
                 "widths are not accepted. Try a positive integer"));
  if ((*end - *start) / *step > promql::kMaxPointsPerSeries)
    return respond(
        bad_data("exceeded maximum resolution of 11,000 points per timeseries. Try "
                 "decreasing the query resolution (?step=XX)"));
  auto expr = parse_query(f);
  if (!expr.ok()) return respond(parse_error(expr.status()));
  const auto type = (*expr)->type();
  if (type != promql::ValueType::kScalar && type != promql::ValueType::kVector)
    return respond(bad_data("invalid expression type \"" + std::string(promql::to_string(type)) +
                            "\" for range query, must be Scalar or instant Vector"));
  QuerySources src(ctx, named_devices({expr->get()}));
  auto r = promql::evaluate_range(**expr, src.all, *start, *end, *step, engine_options(ctx));
  if (!r.ok()) return respond(query_error(r.status()));
  rollup_series.inc(static_cast<double>(r->rollup_series));
  if (r->type != promql::ValueType::kMatrix)
    return respond(success(req, promql::query_result_json(*r, src.missing.reasons())));
  const promql::AnswerSteps grid{*start, *step, static_cast<size_t>((*end - *start) / *step) + 1};
  if (promql::matrix_answer_size_hint(r->series) > kStreamMatrixAbove)
    return stream_matrix(ctx, req, std::move(r->series), src.missing.reasons(), grid, respond);
  respond(matrix_success(req, *r, src.missing.reasons(), grid));
}

// The label sets of the series matching any match[] selector (all series without one) with
// data in [start, end].
Result<std::vector<promql::Labels>> matching_series(ApiContext& ctx, const FormValues& f,
                                                    bool require_match) {
  auto start = time_value(f, "start", kMinTime);
  if (!start.ok()) return start.status();
  auto end = time_value(f, "end", kMaxTime);
  if (!end.ok()) return end.status();
  std::vector<std::string> selectors = f.all("match[]");
  if (selectors.empty()) {
    if (require_match) return Status::InvalidArgument("no match[] parameter provided");
    selectors.push_back("{__name__=~\".+\"}");
  }
  std::vector<promql::ExprPtr> parsed;
  std::vector<const promql::Expr*> exprs;
  for (const auto& sel : selectors) {
    auto e = promql::parse_selector(sel);
    if (!e.ok()) return Status::InvalidArgument(e.status().message());
    exprs.push_back(e->get());
    parsed.push_back(std::move(*e));
  }
  QuerySources src(ctx, named_devices(exprs));
  promql::QueryBudget budget(engine_options(ctx).limits);
  std::set<promql::Labels> seen;
  for (const auto* e : exprs) {
    promql::Matrix m;
    if (auto s = src.all.select(e->matchers, *start, *end, false, budget, m); !s.ok()) return s;
    for (auto& s : m) seen.insert(std::move(s.labels));
  }
  return std::vector<promql::Labels>(seen.begin(), seen.end());
}

Response series_error(const Status& s) {
  if (s.code() == StatusCode::kTooLarge) return prom_error(422, "execution", s.message());
  return bad_data(s.message());
}

void series(ApiContext& ctx, const Request& req, const Responder& respond) {
  FormValues f(req);
  auto r = matching_series(ctx, f, true);
  if (!r.ok()) return respond(series_error(r.status()));
  respond(success(req, promql::series_json(*r)));
}

void label_names(ApiContext& ctx, const Request& req, const Responder& respond) {
  FormValues f(req);
  auto r = matching_series(ctx, f, false);
  if (!r.ok()) return respond(series_error(r.status()));
  std::set<std::string> names;
  for (const auto& ls : *r)
    for (const auto& [n, v] : ls) names.insert(n);
  respond(success(req, promql::string_list_json({names.begin(), names.end()})));
}

void label_values(ApiContext& ctx, RequestContext& rc, const Responder& respond) {
  FormValues f(rc.request);
  const std::string& name = rc.params.get("name");
  auto r = matching_series(ctx, f, false);
  if (!r.ok()) return respond(series_error(r.status()));
  std::set<std::string> values;
  for (const auto& ls : *r)
    if (auto v = promql::label_value(ls, name); !v.empty()) values.emplace(v);
  respond(success(rc.request, promql::string_list_json({values.begin(), values.end()})));
}

// Every stored metric is a gauge to Prometheus clients (a device's readings).
void metadata(ApiContext& ctx, const Request& req, const Responder& respond) {
  FormValues f(req);
  const auto only = f.get("metric");
  std::map<std::string, std::string> help;
  for (const auto& device : ctx.store.index().devices())
    for (const auto& [metric, id] : ctx.store.index().metrics_of(device))
      if (!is_internal_series_key(device))
        help.emplace(promql::prometheus_metric_name(metric), "telemetry reported by devices");
      else if (auto kpi = promql::kpi_metric(device, metric))  // KPI history, once sampled
        help.emplace(std::move(*kpi));
  help["fleetpulse_device_up"] = "1 while the device is online, else 0";
  help["fleetpulse_device_status"] = "1 for the device's status (label status), 0 for the others";
  JsonWriter w;
  w.begin_object().field("status", "success").key("data").begin_object();
  for (const auto& [n, text] : help) {
    if (only && !only->empty() && *only != n) continue;
    w.key(n).begin_array().begin_object();
    w.field("type", "gauge").field("help", text).field("unit", "");
    w.end_object().end_array();
  }
  w.end_object().end_object();
  respond(Response::json(200, w.take()));
}

void buildinfo(const Responder& respond) {
  JsonWriter w;
  w.begin_object().field("status", "success").key("data").begin_object();
  w.field("version", "2.42.0")
      .field("revision", "fleetpulse")
      .field("branch", "fleetpulse")
      .field("buildUser", "fleetpulse")
      .field("buildDate", "")
      .field("goVersion", "");
  w.end_object().end_object();
  respond(Response::json(200, w.take()));
}

// A query handler; `rollup_series` counts the series answered from rollups.
using QueryFn = void (*)(ApiContext&, metrics::Counter& rollup_series, const Request&,
                         const Responder&);

// Evaluates a query on a worker of ctx.promql_pool so that a long query does not hold a
// network thread; inline when the pool's queue is full (the request is never refused for it).
void off_network_thread(ApiContext& ctx, metrics::Counter& rollup_series, const Request& req,
                        Responder respond, QueryFn fn) {
  auto task = std::make_shared<std::pair<Request, Responder>>(req, std::move(respond));
  if (ctx.promql_pool.try_submit(
          [&ctx, &rollup_series, task, fn] { fn(ctx, rollup_series, task->first, task->second); }))
    return;
  fn(ctx, rollup_series, task->first, task->second);
}

}  // namespace

void add_prometheus_routes(Router& r, ApiContext& ctx) {
  const std::string base = "/prometheus/api/v1";
  metrics::Counter& rollup_series =
      ctx.registry
          .counter("fleetpulse_promql_rollup_series_total",
                   "Series whose min/max/count_over_time windows PromQL read from rollups")
          .get();
  for (Method m : {Method::kGet, Method::kPost}) {
    r.add(m, base + "/query", Access::kRead,
          [&ctx, &rollup_series](RequestContext& rc, Responder respond) {
            off_network_thread(ctx, rollup_series, rc.request, std::move(respond), instant_query);
          });
    r.add(m, base + "/query_range", Access::kRead,
          [&ctx, &rollup_series](RequestContext& rc, Responder respond) {
            off_network_thread(ctx, rollup_series, rc.request, std::move(respond), range_query);
          });
    r.add(m, base + "/series", Access::kRead,
          [&ctx](RequestContext& rc, Responder respond) { series(ctx, rc.request, respond); });
    r.add(m, base + "/labels", Access::kRead,
          [&ctx](RequestContext& rc, Responder respond) { label_names(ctx, rc.request, respond); });
    r.add(m, base + "/label/{name}/values", Access::kRead,
          [&ctx](RequestContext& rc, Responder respond) { label_values(ctx, rc, respond); });
    r.add(m, base + "/metadata", Access::kRead,
          [&ctx](RequestContext& rc, Responder respond) { metadata(ctx, rc.request, respond); });
    r.add(m, base + "/status/buildinfo", Access::kRead,
          [](RequestContext&, Responder respond) { buildinfo(respond); });
  }
}

}  // namespace fp::http
