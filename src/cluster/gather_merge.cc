#include "cluster/gather_merge.h"

#include <simdjson.h>

#include <algorithm>
#include <cmath>
#include <memory>
#include <set>

#include "cluster/gather_metrics.h"
#include "cluster/partition.h"
#include "promql/parser.h"
#include "util/json_writer.h"

namespace fp::cluster {
namespace {

namespace sj = simdjson::dom;

struct Parsed {
  std::unique_ptr<sj::parser> parser;
  sj::object root;
  std::set<uint32_t> partitions;
};

std::string Raw(sj::element e) {
  return simdjson::minify(e);
}

std::string Raw(sj::object o) {
  return simdjson::minify(o);
}

std::optional<std::string_view> StringField(sj::object o, std::string_view key) {
  std::string_view s;
  if (o[key].get_string().get(s) != simdjson::SUCCESS) return std::nullopt;
  return s;
}

std::optional<double> NumberField(sj::object o, std::string_view key) {
  double d = 0;
  if (o[key].get_double().get(d) != simdjson::SUCCESS) return std::nullopt;
  return d;
}

// The elements of an array field; empty when absent or not an array (a default-constructed
// dom::array must not be iterated).
std::vector<sj::element> ArrayField(sj::object o, std::string_view key) {
  std::vector<sj::element> out;
  sj::array a;
  if (o[key].get_array().get(a) != simdjson::SUCCESS) return out;
  for (sj::element e : a) out.push_back(e);
  return out;
}

size_t LimitOf(const GatherRequest& req, size_t fallback) {
  auto it = req.query.find("limit");
  if (it == req.query.end()) return fallback;
  try {
    const long v = std::stol(it->second);
    return v > 0 ? static_cast<size_t>(v) : fallback;
  } catch (...) {
    return fallback;
  }
}

std::string Param(const GatherRequest& req, std::string_view key) {
  auto it = req.query.find(key);
  return it == req.query.end() ? std::string() : it->second;
}

bool Owns(const Parsed& p, std::string_view device_id, uint32_t total) {
  return p.partitions.count(PartitionOf(device_id, total)) > 0;
}

// Copies every field of `o` except `skip` into the open object of `w`.
void CopyFieldsExcept(JsonWriter& w, sj::object o, std::initializer_list<std::string_view> skip) {
  for (auto field : o) {
    if (std::find(skip.begin(), skip.end(), field.key) != skip.end()) continue;
    w.key(field.key).raw(Raw(field.value));
  }
}

void WritePartial(JsonWriter& w, const std::vector<uint32_t>& missing) {
  w.field("partial", !missing.empty());
  if (missing.empty()) return;
  w.key("missing_partitions").begin_array();
  for (uint32_t p : missing) w.value(static_cast<int64_t>(p));
  w.end_array();
}

// Device cursors of the catalog: "c1" + lowercase hex of the last device_id.
std::string DeviceCursor(std::string_view id) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out = "c1";
  for (unsigned char c : id) {
    out += kHex[c >> 4];
    out += kHex[c & 0xf];
  }
  return out;
}

struct Item {
  std::string id;
  sj::object obj;
};

// Compares two JSON values of one sort field: nulls first (the catalog's COALESCE -1e300),
// numbers numerically, strings bytewise.
int CompareField(sj::object a, sj::object b, std::string_view key) {
  double x = 0, y = 0;
  const bool xn = a[key].get_double().get(x) == simdjson::SUCCESS;
  const bool yn = b[key].get_double().get(y) == simdjson::SUCCESS;
  if (xn && yn) return x < y ? -1 : (x > y ? 1 : 0);
  std::string_view s, t;
  const bool xs = a[key].get_string().get(s) == simdjson::SUCCESS;
  const bool ys = b[key].get_string().get(t) == simdjson::SUCCESS;
  if (xs && ys) return s.compare(t) < 0 ? -1 : (s == t ? 0 : 1);
  const bool xnull = !xn && !xs, ynull = !yn && !ys;
  if (xnull != ynull) return xnull ? -1 : 1;
  return 0;
}

// GET /api/v1/devices and /api/v1/latest: {"devices":[...],"next_cursor":...}.
void MergeDeviceList(const GatherRequest& req, std::vector<Parsed>& parsed,
                     const std::vector<uint32_t>& missing, JsonWriter& w) {
  const bool latest = req.kind == GatherKind::kLatest;
  const size_t limit = LimitOf(req, latest ? 1000 : 100);
  std::string sort = Param(req, "sort");
  bool desc = false;
  if (!sort.empty() && sort[0] == '-') {
    desc = true;
    sort.erase(0, 1);
  }
  if (sort.empty()) sort = "device_id";
  const bool by_id = sort == "device_id";
  const bool cursorable = by_id && !desc;  // the catalog's plain "c1" cursor
  std::vector<Item> items;
  std::optional<std::string> cutoff;  // smallest last id of an owner that has more
  bool owner_has_more = false;
  for (Parsed& p : parsed) {
    std::string last;
    for (sj::element e : ArrayField(p.root, "devices")) {
      sj::object o;
      if (e.get_object().get(o) != simdjson::SUCCESS) continue;
      auto id = StringField(o, "device_id");
      if (!id) continue;
      last = std::string(*id);
      if (Owns(p, *id, req.partitions_total)) items.push_back({std::string(*id), o});
    }
    std::string_view next;
    if (p.root["next_cursor"].get_string().get(next) == simdjson::SUCCESS) {
      owner_has_more = true;
      if (cursorable && (!cutoff || last < *cutoff)) cutoff = last;
    }
  }
  std::stable_sort(items.begin(), items.end(), [&](const Item& a, const Item& b) {
    int c = by_id ? a.id.compare(b.id) : CompareField(a.obj, b.obj, sort);
    if (c == 0) c = a.id.compare(b.id);
    return desc ? c > 0 : c < 0;
  });
  if (cutoff) {
    // Past the cutoff an owner with more may have devices we have not seen: stop there.
    items.erase(
        std::remove_if(items.begin(), items.end(), [&](const Item& i) { return i.id > *cutoff; }),
        items.end());
  }
  const bool more = owner_has_more || items.size() > limit;
  if (items.size() > limit) items.resize(limit);
  w.begin_object().key("devices").begin_array();
  for (const Item& i : items) w.raw(Raw(i.obj));
  w.end_array().key("next_cursor");
  if (more && cursorable && !items.empty())
    w.value(latest ? items.back().id : DeviceCursor(items.back().id));
  else
    w.null();
  if (more && !cursorable) w.field("truncated", true);  // no cursor across owners for this order
  WritePartial(w, missing);
  w.end_object();
}

// GET /api/v1/alerts(/recent): newest first by started_at across owners, cut to the limit.
void MergeAlerts(const GatherRequest& req, std::vector<Parsed>& parsed,
                 const std::vector<uint32_t>& missing, JsonWriter& w) {
  const size_t limit = LimitOf(req, 100);
  std::vector<Item> items;
  bool owner_has_more = false;
  for (Parsed& p : parsed) {
    for (sj::element e : ArrayField(p.root, "alerts")) {
      sj::object o;
      if (e.get_object().get(o) != simdjson::SUCCESS) continue;
      auto id = StringField(o, "device_id");
      if (id && !Owns(p, *id, req.partitions_total)) continue;
      items.push_back({std::string(id.value_or("")), o});
    }
    std::string_view next;
    if (p.root["next_cursor"].get_string().get(next) == simdjson::SUCCESS) owner_has_more = true;
  }
  std::stable_sort(items.begin(), items.end(), [](const Item& a, const Item& b) {
    return CompareField(a.obj, b.obj, "started_at") > 0;
  });
  const bool more = owner_has_more || items.size() > limit;
  if (items.size() > limit) items.resize(limit);
  w.begin_object().key("alerts").begin_array();
  for (const Item& i : items) w.raw(Raw(i.obj));
  w.end_array().key("next_cursor").null();
  if (more) w.field("truncated", true);  // alert ids are per node: no cursor across owners
  WritePartial(w, missing);
  w.end_object();
}

// Adds numbers, merges objects recursively; strings and the rest: the first answer's.
// `min_keys` are taken as the minimum instead of the sum.
// With `missing` set (the top level), the partial fields are appended.
void SumObjects(JsonWriter& w, const std::vector<sj::object>& objs,
                const std::set<std::string_view>& min_keys,
                const std::vector<uint32_t>* missing = nullptr) {
  w.begin_object();
  std::vector<std::string_view> keys;
  for (sj::object o : objs)
    for (auto f : o)
      if (std::find(keys.begin(), keys.end(), f.key) == keys.end()) keys.push_back(f.key);
  for (std::string_view k : keys) {
    std::vector<sj::element> vals;
    for (sj::object o : objs) {
      sj::element e;
      if (o[k].get(e) == simdjson::SUCCESS) vals.push_back(e);
    }
    w.key(k);
    if (vals.front().is_number()) {
      bool integral = true;
      double sum = 0, lo = INFINITY;
      for (sj::element e : vals) {
        double d = 0;
        if (e.get_double().get(d) != simdjson::SUCCESS) continue;
        integral = integral && (e.is_int64() || e.is_uint64());
        sum += d;
        lo = std::min(lo, d);
      }
      const double v = min_keys.count(k) ? lo : sum;
      if (integral)
        w.value(static_cast<int64_t>(v));
      else
        w.value(v);
    } else if (vals.front().is_object()) {
      std::vector<sj::object> sub;
      for (sj::element e : vals)
        if (e.is_object()) sub.push_back(e.get_object().value_unsafe());
      SumObjects(w, sub, min_keys);
    } else {
      w.raw(Raw(vals.front()));
    }
  }
  if (missing) WritePartial(w, *missing);
  w.end_object();
}

// GET /api/v1/stats.
void MergeStats(std::vector<Parsed>& parsed, const std::vector<uint32_t>& missing, JsonWriter& w) {
  std::vector<sj::object> objs;
  for (Parsed& p : parsed) objs.push_back(p.root);
  SumObjects(w, objs, {"uptime_s"}, &missing);
}

// One KPI summary entry (the fleet or a group) combined from several owners.
void MergeKpiEntry(JsonWriter& w, const std::vector<sj::object>& entries) {
  static const std::set<std::string_view> kSum = {"devices",  "messages",         "bytes",
                                                  "rejected", "messages_per_min", "bytes_per_min"};
  double devices = 0;
  for (sj::object e : entries) devices += NumberField(e, "devices").value_or(0);
  w.begin_object();
  std::vector<std::string_view> keys;
  for (sj::object o : entries)
    for (auto f : o)
      if (std::find(keys.begin(), keys.end(), f.key) == keys.end()) keys.push_back(f.key);
  for (std::string_view k : keys) {
    w.key(k);
    if (k == "response_time_ms") {
      // avg weighted by devices; p95 cannot be combined exactly: the largest owner p95.
      double num = 0, den = 0, p95 = -INFINITY;
      for (sj::object e : entries) {
        sj::object rt;
        if (e[k].get_object().get(rt) != simdjson::SUCCESS) continue;
        const double n = NumberField(e, "devices").value_or(0);
        if (auto a = NumberField(rt, "avg")) num += *a * n, den += n;
        if (auto p = NumberField(rt, "p95")) p95 = std::max(p95, *p);
      }
      w.begin_object().key("avg");
      den > 0 ? w.value(num / den) : w.null();
      w.key("p95");
      std::isfinite(p95) ? w.value(p95) : w.null();
      w.end_object();
      continue;
    }
    if (k == "activity_since") {
      std::optional<std::string_view> first;
      for (sj::object e : entries)
        if (auto s = StringField(e, k); s && (!first || *s < *first)) first = s;
      first ? w.value(*first) : w.null();
      continue;
    }
    if (k == "error_rate") {
      double msgs = 0, rejected = 0;
      for (sj::object e : entries) {
        msgs += NumberField(e, "messages").value_or(0);
        rejected += NumberField(e, "rejected").value_or(0);
      }
      msgs > 0 ? w.value(rejected / msgs) : w.value(0.0);
      continue;
    }
    bool any_number = false;
    double sum = 0, num = 0, den = 0;
    bool integral = true;
    for (sj::object e : entries) {
      sj::element v;
      if (e[k].get(v) != simdjson::SUCCESS || !v.is_number()) continue;
      any_number = true;
      integral = integral && (v.is_int64() || v.is_uint64());
      const double d = v.get_double().value_unsafe();
      const double n = NumberField(e, "devices").value_or(0);
      sum += d;
      num += d * n;
      den += n;
    }
    if (!any_number) {
      sj::element v;
      w.raw(entries.front()[k].get(v) == simdjson::SUCCESS ? Raw(v) : "null");
    } else if (kSum.count(k)) {
      integral ? w.value(static_cast<int64_t>(sum)) : w.value(sum);
    } else {
      // Percentages, times and rates per device: the device-weighted mean.
      den > 0 ? w.value(num / den) : w.value(sum / static_cast<double>(entries.size()));
    }
  }
  (void)devices;
  w.end_object();
}

// GET /api/v1/kpis/summary: {"window","group_by","fleet":{..},"groups":[{"key",..}]}.
void MergeKpiSummary(std::vector<Parsed>& parsed, const std::vector<uint32_t>& missing,
                     JsonWriter& w) {
  w.begin_object();
  CopyFieldsExcept(w, parsed.front().root, {"fleet", "groups", "partial", "missing_partitions"});
  std::vector<sj::object> fleets;
  std::map<std::string, std::vector<sj::object>> groups;
  for (Parsed& p : parsed) {
    sj::object f;
    if (p.root["fleet"].get_object().get(f) == simdjson::SUCCESS) fleets.push_back(f);
    for (sj::element e : ArrayField(p.root, "groups")) {
      sj::object g;
      if (e.get_object().get(g) != simdjson::SUCCESS) continue;
      groups[std::string(StringField(g, "key").value_or(""))].push_back(g);
    }
  }
  w.key("fleet");
  fleets.empty() ? (void)w.null() : MergeKpiEntry(w, fleets);
  w.key("groups").begin_array();
  for (auto& [key, entries] : groups) MergeKpiEntry(w, entries);
  w.end_array();
  WritePartial(w, missing);
  w.end_object();
}

// GET /api/v1/aggregates: groups by key; group_by=device keeps each owner's own devices,
// other groupings merge buckets of equal ts (min, max, sum, count combine; avg = sum/count).
void MergeAggregates(const GatherRequest& req, std::vector<Parsed>& parsed,
                     const std::vector<uint32_t>& missing, JsonWriter& w) {
  const bool by_device = Param(req, "group_by") == "device";
  struct Bucket {
    std::optional<double> min, max, sum, count, avg_num, first, last;
    double avg_den = 0;
  };
  std::map<std::string, std::map<std::string, Bucket>> groups;
  std::map<std::string, std::string> device_groups;  // group_by=device: key -> raw group
  for (Parsed& p : parsed) {
    for (sj::element e : ArrayField(p.root, "groups")) {
      sj::object g;
      if (e.get_object().get(g) != simdjson::SUCCESS) continue;
      const std::string key(StringField(g, "key").value_or(""));
      if (by_device) {
        if (Owns(p, key, req.partitions_total)) device_groups[key] = Raw(g);
        continue;
      }
      auto& buckets = groups[key];
      for (sj::element be : ArrayField(g, "buckets")) {
        sj::object b;
        if (be.get_object().get(b) != simdjson::SUCCESS) continue;
        Bucket& m = buckets[std::string(StringField(b, "ts").value_or(""))];
        auto merge = [&](std::optional<double>& into, std::string_view f, auto op) {
          if (auto v = NumberField(b, f)) into = into ? op(*into, *v) : *v;
        };
        merge(m.min, "min", [](double a, double c) { return std::min(a, c); });
        merge(m.max, "max", [](double a, double c) { return std::max(a, c); });
        merge(m.sum, "sum", [](double a, double c) { return a + c; });
        merge(m.count, "count", [](double a, double c) { return a + c; });
        merge(m.first, "first", [](double a, double) { return a; });
        merge(m.last, "last", [](double, double c) { return c; });
        if (auto avg = NumberField(b, "avg")) {
          const double n = NumberField(b, "count").value_or(1);
          m.avg_num = m.avg_num.value_or(0) + *avg * n;
          m.avg_den += n;
        }
      }
    }
  }
  w.begin_object();
  CopyFieldsExcept(w, parsed.front().root, {"groups", "partial", "missing_partitions"});
  w.key("groups").begin_array();
  if (by_device) {
    for (auto& [key, raw] : device_groups) w.raw(raw);
  } else {
    for (auto& [key, buckets] : groups) {
      w.begin_object().field("key", key).key("buckets").begin_array();
      for (auto& [ts, b] : buckets) {
        w.begin_object().field("ts", ts);
        auto put = [&](std::string_view f, const std::optional<double>& v) {
          if (v) w.field(f, *v);
        };
        put("min", b.min);
        put("max", b.max);
        if (b.avg_num) w.field("avg", *b.avg_num / b.avg_den);
        put("sum", b.sum);
        if (b.count) w.field("count", static_cast<int64_t>(*b.count));
        put("first", b.first);
        put("last", b.last);
        w.end_object();
      }
      w.end_array().end_object();
    }
  }
  w.end_array();
  WritePartial(w, missing);
  w.end_object();
}

// The outer aggregation of a PromQL expression, when the merge can combine it exactly.
enum class PromOuter { kNone, kSum, kMin, kMax };

PromOuter OuterOf(std::string_view q) {
  auto parsed = promql::parse_expression(q);
  if (!parsed.ok()) return PromOuter::kNone;
  const promql::Expr* e = parsed->get();
  while (e->kind == promql::Expr::Kind::kParen) e = e->args[0].get();
  if (e->kind != promql::Expr::Kind::kAggregate) return PromOuter::kNone;
  switch (e->agg) {
    case promql::AggOp::kSum:
    case promql::AggOp::kCount:
      return PromOuter::kSum;
    case promql::AggOp::kMin:
      return PromOuter::kMin;
    case promql::AggOp::kMax:
      return PromOuter::kMax;
    default:
      return PromOuter::kNone;
  }
}

std::string FormatPromValue(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  JsonWriter w;
  w.value(v);
  return w.str();
}

// /prometheus/api/v1/query and query_range: series merged by label set.
void MergePromQuery(const GatherRequest& req, std::vector<Parsed>& parsed,
                    const std::vector<uint32_t>& missing, JsonWriter& w) {
  const PromOuter outer = OuterOf(Param(req, "query"));
  std::string result_type = "vector";
  // label set (raw) -> ts (raw number text) -> value
  std::map<std::string, std::map<std::string, double>> series;
  std::map<std::string, std::string> scalars;  // scalar/string results: the first answer's
  std::vector<std::string> warnings;
  for (Parsed& p : parsed) {
    sj::object data;
    if (p.root["data"].get_object().get(data) != simdjson::SUCCESS) continue;
    if (auto t = StringField(data, "resultType")) result_type = std::string(*t);
    for (sj::element e : ArrayField(p.root, "warnings")) {
      std::string_view s;
      if (e.get_string().get(s) == simdjson::SUCCESS) warnings.emplace_back(s);
    }
    if (result_type == "scalar" || result_type == "string") {
      sj::element r;
      if (data["result"].get(r) == simdjson::SUCCESS && scalars.empty()) scalars["result"] = Raw(r);
      continue;
    }
    for (sj::element e : ArrayField(data, "result")) {
      sj::object s;
      sj::object labels;
      if (e.get_object().get(s) != simdjson::SUCCESS ||
          s["metric"].get_object().get(labels) != simdjson::SUCCESS)
        continue;
      if (auto dev = StringField(labels, "device_id"); dev && !Owns(p, *dev, req.partitions_total))
        continue;
      auto& points = series[Raw(labels)];
      auto add = [&](sj::array pair) {
        std::string ts;
        std::string_view text;
        size_t i = 0;
        for (sj::element x : pair) {
          if (i == 0) ts = Raw(x);
          if (i == 1 && x.get_string().get(text) != simdjson::SUCCESS) text = "NaN";
          ++i;
        }
        const double v = std::strtod(std::string(text).c_str(), nullptr);
        auto [it, fresh] = points.emplace(ts, v);
        if (fresh) return;
        switch (outer) {
          case PromOuter::kSum:
            it->second += v;
            break;
          case PromOuter::kMin:
            it->second = std::min(it->second, v);
            break;
          case PromOuter::kMax:
            it->second = std::max(it->second, v);
            break;
          case PromOuter::kNone:
            break;
        }
      };
      sj::array pair;
      if (s["value"].get_array().get(pair) == simdjson::SUCCESS) add(pair);
      for (sj::element pe : ArrayField(s, "values"))
        if (pe.get_array().get(pair) == simdjson::SUCCESS) add(pair);
    }
  }
  if (!missing.empty()) {
    std::string m = "partial answer: partitions";
    for (uint32_t p : missing) m += " " + std::to_string(p);
    warnings.push_back(m + " did not answer");
  }
  w.begin_object().field("status", "success").key("data").begin_object();
  w.field("resultType", result_type).key("result");
  if (!scalars.empty()) {
    w.raw(scalars["result"]);
  } else {
    w.begin_array();
    for (auto& [labels, points] : series) {
      w.begin_object().key("metric").raw(labels);
      w.key(result_type == "matrix" ? "values" : "value");
      if (result_type == "matrix") w.begin_array();
      std::vector<std::pair<double, std::string>> ordered;
      for (auto& [ts, v] : points) ordered.emplace_back(std::strtod(ts.c_str(), nullptr), ts);
      std::sort(ordered.begin(), ordered.end());
      for (auto& [t, ts] : ordered) {
        w.begin_array().raw(ts).value(FormatPromValue(points[ts])).end_array();
        if (result_type != "matrix") break;
      }
      if (result_type == "matrix") w.end_array();
      w.end_object();
    }
    w.end_array();
  }
  w.end_object();
  if (!warnings.empty()) {
    w.key("warnings").begin_array();
    for (const std::string& s : warnings) w.value(s);
    w.end_array();
  }
  WritePartial(w, missing);
  w.end_object();
}

// /prometheus/api/v1/series, labels, label/{name}/values: the union of `data`.
void MergePromList(std::vector<Parsed>& parsed, const std::vector<uint32_t>& missing,
                   JsonWriter& w) {
  std::set<std::string> items;  // raw JSON, sorted and unique
  for (Parsed& p : parsed)
    for (sj::element e : ArrayField(p.root, "data")) items.insert(Raw(e));
  w.begin_object().field("status", "success").key("data").begin_array();
  for (const std::string& s : items) w.raw(s);
  w.end_array();
  if (!missing.empty()) {
    std::string m = "partial answer: partitions";
    for (uint32_t p : missing) m += " " + std::to_string(p);
    w.key("warnings").begin_array().value(m + " did not answer").end_array();
  }
  WritePartial(w, missing);
  w.end_object();
}

}  // namespace

GatherKind GatherKindOf(std::string_view path) {
  if (path == "/api/v1/devices") return GatherKind::kDevices;
  if (path == "/api/v1/latest") return GatherKind::kLatest;
  if (path == "/api/v1/alerts" || path == "/api/v1/alerts/recent") return GatherKind::kAlerts;
  if (path == "/api/v1/stats") return GatherKind::kStats;
  if (path == "/api/v1/kpis/summary") return GatherKind::kKpiSummary;
  if (path == "/api/v1/aggregates") return GatherKind::kAggregates;
  if (path == "/prometheus/api/v1/query" || path == "/prometheus/api/v1/query_range")
    return GatherKind::kPromQuery;
  if (path == "/prometheus/api/v1/series" || path == "/prometheus/api/v1/labels" ||
      (path.starts_with("/prometheus/api/v1/label/") && path.ends_with("/values")))
    return GatherKind::kPromList;
  if (path == "/metrics") return GatherKind::kMetrics;
  return GatherKind::kNone;
}

GatherResponse MergeGathered(const GatherRequest& req, const std::vector<OwnerAnswer>& answers) {
  if (req.kind == GatherKind::kMetrics) return MergeMetrics(req, answers);
  GatherResponse out;
  std::set<uint32_t> missing(req.unowned.begin(), req.unowned.end());
  std::vector<Parsed> parsed;
  for (const OwnerAnswer& a : answers) {
    if (a.answered && a.status >= 400 && a.status < 500) {
      out.status = a.status;  // the request itself is wrong: every owner says so
      out.content_type = a.content_type;
      out.body = a.body;
      return out;
    }
    Parsed p;
    p.parser = std::make_unique<sj::parser>();
    sj::element root;
    const bool ok = a.answered && a.status >= 200 && a.status < 300 &&
                    p.parser->parse(a.body).get(root) == simdjson::SUCCESS &&
                    root.get_object().get(p.root) == simdjson::SUCCESS;
    if (!ok) {
      missing.insert(a.partitions.begin(), a.partitions.end());
      continue;
    }
    p.partitions.insert(a.partitions.begin(), a.partitions.end());
    parsed.push_back(std::move(p));
  }
  out.missing.assign(missing.begin(), missing.end());
  if (parsed.empty()) {
    JsonWriter w;
    w.begin_object().key("error").begin_object();
    w.field("code", "unavailable")
        .field("message", "no partition owner answered this fleet read; retry shortly");
    w.end_object();
    WritePartial(w, out.missing);
    w.end_object();
    out.status = 503;
    out.body = w.take();
    return out;
  }
  JsonWriter w;
  switch (req.kind) {
    case GatherKind::kDevices:
    case GatherKind::kLatest:
      MergeDeviceList(req, parsed, out.missing, w);
      break;
    case GatherKind::kAlerts:
      MergeAlerts(req, parsed, out.missing, w);
      break;
    case GatherKind::kStats:
      MergeStats(parsed, out.missing, w);
      break;
    case GatherKind::kKpiSummary:
      MergeKpiSummary(parsed, out.missing, w);
      break;
    case GatherKind::kAggregates:
      MergeAggregates(req, parsed, out.missing, w);
      break;
    case GatherKind::kPromQuery:
      MergePromQuery(req, parsed, out.missing, w);
      break;
    case GatherKind::kPromList:
      MergePromList(parsed, out.missing, w);
      break;
    case GatherKind::kMetrics:
    case GatherKind::kNone:
      break;
  }
  out.body = w.take();
  return out;
}

}  // namespace fp::cluster
