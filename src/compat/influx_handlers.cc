// InfluxDB's write API: POST /api/v2/write (2.x) and POST /write (1.x), GET /ping, and the
// /health body InfluxDB clients read. Bodies go through the native line-protocol decoder and
// the one commit path; answers and error bodies are InfluxDB's:
//   204                          every line stored (also an empty body)
//   400 unable to parse '...'    no line valid: nothing stored
//   400 partial write: ...       the valid lines were stored, the others are named
// 2.x errors are {"code":"invalid","message":"..."}, 1.x errors {"error":"..."}.

#include "compat/compat_handlers.h"
#include "http/server.h"
#include "ingest/line_protocol.h"
#include "util/json_writer.h"

namespace fp::compat {
namespace {

using http::ErrorStyle;
using http::Response;
using http::styled_error;

// The 0-based physical line `index` of `body`, without its line end.
std::string_view line_at(std::string_view body, size_t index) {
  size_t start = 0;
  for (size_t i = 0; i < index; ++i) {
    const size_t nl = body.find('\n', start);
    if (nl == std::string_view::npos) return {};
    start = nl + 1;
  }
  std::string_view line = body.substr(start, body.find('\n', start) - start);
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  return line;
}

// InfluxDB's wording (models.ParsePoints): one "unable to parse '<line>': <reason>" per
// rejected line, joined by newlines. Lines are quoted up to 1 KiB; at most 100 are listed.
std::string parse_errors(std::string_view body, const std::vector<ItemError>& errors) {
  std::string out;
  size_t listed = 0;
  for (const auto& e : errors) {
    if (listed++ == 100) {
      out += "\n(" + std::to_string(errors.size() - 100) + " more lines could not be parsed)";
      break;
    }
    if (!out.empty()) out += '\n';
    std::string_view line = line_at(body, e.index);
    if (line.size() > 1024) line = line.substr(0, 1024);
    out += "unable to parse '";
    out += line;
    out += "': ";
    out += e.message;
  }
  return out;
}

Response styled_status(ErrorStyle style, const Status& s) {
  const int status = http::error_response(s).status;
  return styled_error(style, status, "", s.message());
}

// Decodes, commits and answers one write. `scale` multiplies explicit timestamps read in
// `precision` (60 and 3600 for InfluxDB 1.x's "m" and "h", read as seconds).
void write_lines(http::ApiContext& ctx, http::RequestContext& rc, http::Responder respond,
                 ErrorStyle style, Precision precision, int64_t scale) {
  const std::string& body = rc.request.body;
  LineProtocolOptions opt;
  opt.precision = precision;
  int64_t now = ctx.clock.now_ms();
  auto admission = std::make_shared<SeriesAdmission>(ctx.ingestor.limits(), now);
  opt.admission = admission.get();
  // With a scale, lines without a timestamp must stay recognisable after decoding: explicit
  // times in seconds are whole seconds, so stamp the others off the second.
  if (scale > 1 && now % 1000 == 0) ++now;
  auto batch = std::make_shared<ReadingBatch>();
  auto errors = std::make_shared<std::vector<ItemError>>();
  size_t lines = 0;
  decode_line_protocol(body, opt, now, *batch, *errors, &lines);
  if (scale > 1)
    for (Point& p : batch->mutable_points()) {
      if (p.ts_ms == now) continue;
      if (p.ts_ms > kMaxEpochMs / scale) {
        ctx.metrics.ingest_rejected.with({"invalid_reading"}).inc(static_cast<double>(lines));
        return respond(styled_error(style, 400, "invalid",
                                    "timestamp out of range (after 2262-04-11) with precision " +
                                        std::string(scale == 60 ? "m" : "h")));
      }
      p.ts_ms *= scale;
    }
  if (!rc.device_id.empty())
    for (const auto& d : batch->devices())
      if (d != rc.device_id) {
        ctx.metrics.ingest_rejected.with({"forbidden_device"}).inc(static_cast<double>(lines));
        return respond(styled_error(style, 403, "forbidden",
                                    "a device token may only write its own data, not '" + d + "'"));
      }
  if (!errors->empty() && errors->size() >= lines) {
    // Nothing valid: InfluxDB stores nothing and answers with the parse errors.
    ctx.metrics.ingest_rejected.with({"invalid_reading"}).inc(static_cast<double>(errors->size()));
    return respond(styled_error(style, 400, "invalid", parse_errors(body, *errors)));
  }
  int64_t retry_after_s = 1;
  if (Status refusal; !admit_devices(ctx, *batch, lines, &retry_after_s, &refusal)) {
    Response r = styled_error(style, 429, "too many requests", refusal.message());
    for (auto& [name, value] : r.headers)
      if (name == "Retry-After") value = std::to_string(retry_after_s);
    return respond(std::move(r));
  }
  batch->set_wire_bytes(body.size());
  commit_batch(ctx, std::move(batch), "line_protocol", errors->size(), std::move(admission),
               [style, errors, body = std::make_shared<std::string>(body),
                respond = std::move(respond)](const Status& s) {
                 if (!s.ok()) return respond(styled_status(style, s));
                 if (errors->empty()) return respond(Response::no_content());
                 respond(styled_error(style, 400, "invalid",
                                      "partial write: " + parse_errors(*body, *errors) +
                                          " dropped=" + std::to_string(errors->size())));
               });
}

}  // namespace

void influx_v2_write(http::ApiContext& ctx, http::RequestContext& rc, http::Responder respond) {
  const auto p = rc.request.param("precision").value_or("ns");
  std::optional<Precision> precision;
  if (p == "ns") precision = Precision::kNanos;
  if (p == "us") precision = Precision::kMicros;
  if (p == "ms") precision = Precision::kMillis;
  if (p == "s") precision = Precision::kSeconds;
  if (!precision)
    return respond(styled_error(ErrorStyle::kInfluxV2, 400, "invalid",
                                "invalid precision; valid precision units are ns, us, ms, and s"));
  if (rc.request.param("bucket").value_or("").empty())
    return respond(styled_error(ErrorStyle::kInfluxV2, 404, "not found", "bucket not found"));
  write_lines(ctx, rc, std::move(respond), ErrorStyle::kInfluxV2, *precision, 1);
}

void influx_v1_write(http::ApiContext& ctx, http::RequestContext& rc, http::Responder respond) {
  // `db` and `rp` name nothing here (there is one store); a write without `db`, which
  // InfluxDB refuses, is accepted like the native /api/v1/write.
  const auto p = rc.request.param("precision").value_or("n");
  std::optional<Precision> precision;
  int64_t scale = 1;
  if (p == "n" || p == "ns" || p.empty()) precision = Precision::kNanos;
  if (p == "u" || p == "us") precision = Precision::kMicros;
  if (p == "ms") precision = Precision::kMillis;
  if (p == "s") precision = Precision::kSeconds;
  if (p == "m") precision = Precision::kSeconds, scale = 60;
  if (p == "h") precision = Precision::kSeconds, scale = 3600;
  if (!precision)
    return respond(
        styled_error(ErrorStyle::kInfluxV1, 400, "invalid",
                     "invalid precision \"" + std::string(p) + "\" (use n, u, ms, s, m or h)"));
  write_lines(ctx, rc, std::move(respond), ErrorStyle::kInfluxV1, *precision, scale);
}

void influx_v1_query(http::RequestContext& rc, http::Responder respond) {
  // q comes in the query string or, as Telegraf sends it, in a form body.
  std::string q(rc.request.param("q").value_or(""));
  if (q.empty() && rc.request.body.rfind("q=", 0) == 0) {
    std::map<std::string, std::string, std::less<>> form;
    std::string ignored;
    if (http::parse_target("/?" + rc.request.body, ignored, form)) q = form["q"];
  }
  size_t i = 0;
  while (i < q.size() && (q[i] == ' ' || q[i] == '\n' || q[i] == '\t')) ++i;
  std::string head = q.substr(i, 15);
  for (char& c : head) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  if (head == "CREATE DATABASE")
    return respond(Response::json(200, R"({"results":[{"statement_id":0}]})"));
  respond(styled_error(ErrorStyle::kInfluxV1, 400, "invalid",
                       "fleetpulse takes InfluxDB writes only: InfluxQL queries are not served "
                       "(CREATE DATABASE is accepted and does nothing); query with /api/v1 or "
                       "the Prometheus API"));
}

void influx_ping(http::RequestContext& rc, http::Responder respond) {
  Response r;
  const auto verbose = rc.request.param("verbose").value_or("");
  if (verbose == "true" || verbose == "1") {
    JsonWriter w;
    w.begin_object().field("version", kInfluxVersion).end_object();
    r = Response::json(200, w.take());
  } else {
    r = Response::no_content();
  }
  r.headers.emplace_back("X-Influxdb-Version", std::string(kInfluxVersion));
  r.headers.emplace_back("X-Influxdb-Build", "OSS");
  respond(std::move(r));
}

Response influx_health() {
  JsonWriter w;
  w.begin_object()
      .field("name", "influxdb")
      .field("message", "ready for queries and writes")
      .field("status", "pass")
      .key("checks")
      .begin_array()
      .end_array()
      .field("version", kInfluxVersion)
      .field("commit", "fleetpulse")
      .end_object();
  Response r = Response::json(200, w.take());
  r.headers.emplace_back("X-Influxdb-Version", std::string(kInfluxVersion));
  r.headers.emplace_back("X-Influxdb-Build", "OSS");
  return r;
}

bool is_influx_client(std::string_view ua) {
  for (std::string_view prefix : {"influxdb-client", "Telegraf", "influxdb", "InfluxDB"})
    if (ua.substr(0, prefix.size()) == prefix) return true;
  return false;
}

}  // namespace fp::compat
