// Devices: registry CRUD with filters and cursor pagination, and status history.

#include <algorithm>
#include <deque>
#include <functional>
#include <mutex>
#include <span>
#include <tuple>
#include <unordered_map>

#include "alerting/alert_engine.h"
#include "http/handlers/device_delete.h"
#include "http/handlers/device_json.h"
#include "http/handlers/query_params.h"
#include "http/handlers/routes.h"
#include "ingest/json_input.h"
#include "kpi/device_activity_log.h"
#include "model/time_format.h"

namespace fp::http {
namespace {

// Fields of a device body besides the updatable ones: the compatibility spellings and the
// device object's own read-only fields (a client may PUT back what it got; those are ignored).
constexpr std::string_view kReadOnlyFields[] = {
    "status_reason", "last_seen",  "battery_level", "signal_strength",    "created_at",
    "updated_at",    "connected",  "geo",           "report_interval_ms", "latest",
    "values",        "attributes", "last_connect"};
constexpr std::string_view kKnownFields[] = {"device_id", "name",   "type",        "location",
                                             "metadata",  "config", "device_name", "device_type",
                                             "status",    "enabled"};

// Creates of one device id, one after the other on this node (the owner, in a cluster): the
// catalog's "exists?" check and the change's publish through the stream are two steps, so two
// creates at once could both pass the check (docs/cluster.md). A create runs when none of its
// id is in flight, else when the one before it finished; different ids never wait. A create
// whose publish is acknowledged is applied to the catalog before it finishes (the write path
// waits for it, at most 5 s), so the next one's check sees it and answers 409.
class CreatesInFlight {
 public:
  // Runs `start` now, or after the creates of `id` before it called finish(id).
  void run(const std::string& id, std::function<void()> start) {
    {
      std::lock_guard lock(mu_);
      auto [it, first] = waiting_.try_emplace(id);
      if (!first) {
        it->second.push_back(std::move(start));
        return;
      }
    }
    start();
  }
  // The create of `id` that ran last is done: the next one waiting starts (on this thread).
  void finish(const std::string& id) {
    std::function<void()> next;
    {
      std::lock_guard lock(mu_);
      auto it = waiting_.find(id);
      if (it == waiting_.end()) return;
      if (it->second.empty()) {
        waiting_.erase(it);
        return;
      }
      next = std::move(it->second.front());
      it->second.pop_front();
    }
    next();
  }

 private:
  std::mutex mu_;
  // An id is a key while a create of it runs; its value: the creates waiting for it.
  std::unordered_map<std::string, std::deque<std::function<void()>>> waiting_;  // guarded by mu_
};

CreatesInFlight& creates_in_flight() {
  static CreatesInFlight creates;
  return creates;
}

bool listed(std::string_view key, std::span<const std::string_view> names) {
  return std::find(names.begin(), names.end(), key) != names.end();
}

// What a body says beyond the native fields, to be kept in `metadata` (never dropped):
// `status` "active"/"inactive" or `enabled` as metadata.enabled, and every unknown field
// under its own name. Each value is compact JSON text.
using MetadataExtras = std::vector<std::pair<std::string, std::string>>;

Result<MetadataExtras> metadata_extras(simdjson::dom::object obj) {
  MetadataExtras extras;
  for (auto [key, value] : obj) {
    if (listed(key, kReadOnlyFields)) continue;
    if (key == "status") {
      std::string_view s;
      if (value.get_string().get(s))
        return Status::Unprocessable("status must be a string: active or inactive");
      if (s == "active" || s == "inactive") {
        extras.emplace_back("enabled", s == "active" ? "true" : "false");
        continue;
      }
      if (s == "online" || s == "at_risk" || s == "offline") continue;  // computed, read-only
      return Status::Unprocessable("status must be active or inactive, got '" + std::string(s) +
                                   "'");
    }
    if (key == "enabled") {
      bool b;
      if (value.get_bool().get(b)) return Status::Unprocessable("enabled must be a boolean");
      extras.emplace_back("enabled", b ? "true" : "false");
      continue;
    }
    if (listed(key, kKnownFields)) continue;
    extras.emplace_back(std::string(key), simdjson::minify(value));
  }
  return extras;
}

// `base` (a JSON object's text) with the `extras` set on it.
std::string merge_metadata(std::string_view base, const MetadataExtras& extras) {
  simdjson::dom::parser parser;  // not the thread's: the request body's DOM stays valid
  simdjson::dom::object obj;
  JsonWriter w;
  w.begin_object();
  if (!parser.parse(base.data(), base.size()).get_object().get(obj))
    for (auto [key, value] : obj) {
      bool replaced = false;
      for (const auto& e : extras) replaced = replaced || e.first == key;
      if (!replaced) w.key(key).raw(simdjson::minify(value));
    }
  for (const auto& [key, json] : extras) w.key(key).raw(json);
  w.end_object();
  return w.take();
}

// The entries of a JSON object's text, as MetadataExtras.
MetadataExtras object_entries(std::string_view json) {
  simdjson::dom::parser parser;
  simdjson::dom::object obj;
  MetadataExtras out;
  if (!parser.parse(json.data(), json.size()).get_object().get(obj))
    for (auto [key, value] : obj) out.emplace_back(std::string(key), simdjson::minify(value));
  return out;
}

// Reads the updatable fields of a device body, also as the stacks fleetpulse replaces spell
// them (`device_name`, `device_type`). kMalformed / kUnprocessable on bad input.
Status read_device_fields(simdjson::dom::object obj, Device* create, DeviceUpdate* update) {
  std::optional<std::string> name, type, location, metadata, config;
  FP_ASSIGN_OR_RETURN(name, optional_string(obj, "name"));
  FP_ASSIGN_OR_RETURN(type, optional_string(obj, "type"));
  if (!name) {
    FP_ASSIGN_OR_RETURN(name, optional_string(obj, "device_name"));
  }
  if (!type) {
    FP_ASSIGN_OR_RETURN(type, optional_string(obj, "device_type"));
  }
  FP_ASSIGN_OR_RETURN(location, optional_string(obj, "location"));
  FP_ASSIGN_OR_RETURN(metadata, optional_object_text(obj, "metadata"));
  FP_ASSIGN_OR_RETURN(config, optional_object_text(obj, "config"));
  for (auto [field, value] :
       {std::pair{"name", &name}, std::pair{"type", &type}, std::pair{"location", &location}})
    if (*value) {
      if (auto e = validate_device_text(field, **value); !e.empty())
        return Status::Unprocessable(e);
    }
  for (auto [field, value] : {std::pair{"metadata", &metadata}, std::pair{"config", &config}})
    if (*value) {
      if (auto e = validate_device_json_size(field, **value); !e.empty())
        return Status::Unprocessable(e);
    }
  if (create) {
    create->name = name.value_or("");
    create->type = type.value_or("");
    create->location = location.value_or("");
    create->metadata_json = metadata.value_or("{}");
    create->config_json = config.value_or("{}");
  }
  if (update) {
    update->name = name;
    update->type = type;
    update->location = location;
    update->metadata_json = metadata;
    update->config_json = config;
  }
  return Status::Ok();
}

Result<simdjson::dom::object> body_object(const Request& req) {
  auto parsed = parse_json(req.body);
  if (!parsed.ok()) return parsed.status();
  simdjson::dom::object obj;
  if (parsed->get_object().get(obj)) return Status::Unprocessable("the body must be a JSON object");
  return obj;
}

std::optional<DeviceConnectionState> connection_of(const ApiContext& ctx, const std::string& id) {
  return ctx.connections ? ctx.connections->get(id) : std::nullopt;
}

Response device_response(ApiContext& ctx, int status, const Device& d) {
  JsonWriter w;
  write_device(w, d, ctx.tracker.get(d.device_id), connection_of(ctx, d.device_id));
  return Response::json(status, w.take());
}

void create_device(ApiContext& ctx, RequestContext& rc, const Responder& respond) {
  auto obj = body_object(rc.request);
  if (!obj.ok()) return respond(error_response(obj.status()));
  std::optional<std::string> id;
  auto id_r = optional_string(*obj, "device_id");
  if (!id_r.ok()) return respond(error_response(id_r.status()));
  id = *id_r;
  if (!id) return respond(error_response(Status::Unprocessable("device_id is required")));
  if (auto e = validate_device_id(*id); !e.empty())
    return respond(error_response(Status::Unprocessable(e)));
  Device d;
  d.device_id = *id;
  if (Status s = read_device_fields(*obj, &d, nullptr); !s.ok()) return respond(error_response(s));
  auto extras = metadata_extras(*obj);
  if (!extras.ok()) return respond(error_response(extras.status()));
  if (!extras->empty()) d.metadata_json = merge_metadata(d.metadata_json, *extras);
  if (auto e = validate_device_json_size("metadata", d.metadata_json); !e.empty())
    return respond(error_response(Status::Unprocessable(e)));
  auto conflict = [&ctx, id = d.device_id] {
    return error_response(409, "conflict", "device '" + id + "' already exists");
  };
  // In a cluster this node is the device's owner (cluster/read_forwarder.h sends it here).
  creates_in_flight().run(d.device_id, [&ctx, d, conflict, respond] {
    auto done = [id = d.device_id, respond](Response r) {
      respond(std::move(r));
      creates_in_flight().finish(id);
    };
    if (ctx.catalog.get_device(d.device_id).ok()) return done(conflict());
    DeviceChange change;
    change.kind = DeviceChange::Kind::kCreate;
    change.device_id = d.device_id;
    change.fields = {d.name, d.type, d.location, d.metadata_json, d.config_json, false};
    change.at_ms = ctx.clock.now_ms();
    ctx.writes.submit_device_change(std::move(change), [&ctx, d, conflict, done](Status s) {
      if (s.code() == StatusCode::kAlreadyExists) return done(conflict());
      if (!s.ok()) return done(error_response(s));
      auto stored = ctx.catalog.get_device(d.device_id);
      done(device_response(ctx, 201, stored.ok() ? *stored : d));
    });
  });
}

void update_device(ApiContext& ctx, RequestContext& rc, const Responder& respond, bool merge) {
  const std::string& id = rc.params.get("id");
  auto obj = body_object(rc.request);
  if (!obj.ok()) return respond(error_response(obj.status()));
  auto body_id = optional_string(*obj, "device_id");
  if (!body_id.ok()) return respond(error_response(body_id.status()));
  if (*body_id && **body_id != id)
    return respond(error_response(Status::Unprocessable("device_id cannot be changed")));
  DeviceUpdate u;
  u.merge_objects = merge;
  if (Status s = read_device_fields(*obj, nullptr, &u); !s.ok()) return respond(error_response(s));
  auto extras = metadata_extras(*obj);
  if (!extras.ok()) return respond(error_response(extras.status()));
  if (!extras->empty()) {
    // Extras join the metadata the device keeps (PUT's `metadata` replaces it, PATCH's merges).
    auto current = ctx.catalog.get_device(id);
    if (!current.ok()) {
      if (current.status().code() == StatusCode::kNotFound)
        return respond(error_response(404, "not_found", "no device '" + id + "'"));
      return respond(error_response(current.status()));
    }
    std::string base = current->metadata_json;
    if (u.metadata_json)
      base = merge ? merge_metadata(base, object_entries(*u.metadata_json)) : *u.metadata_json;
    u.metadata_json = merge_metadata(base, *extras);
  }
  if (merge && (u.metadata_json || u.config_json)) {
    // PATCH merges into what the device has: the result must stay within the limit too.
    auto current = ctx.catalog.get_device(id);
    if (current.ok()) {
      for (auto [field, base, patch] :
           {std::tuple{"metadata", &current->metadata_json, &u.metadata_json},
            std::tuple{"config", &current->config_json, &u.config_json}}) {
        if (!*patch) continue;
        if (auto e =
                validate_device_json_size(field, merge_metadata(*base, object_entries(**patch)));
            !e.empty())
          return respond(error_response(Status::Unprocessable(e)));
      }
    }
  }
  if (u.metadata_json) {
    if (auto e = validate_device_json_size("metadata", *u.metadata_json); !e.empty())
      return respond(error_response(Status::Unprocessable(e)));
  }
  auto not_found = [id] { return error_response(404, "not_found", "no device '" + id + "'"); };
  // In a cluster this node is the device's owner (cluster/read_forwarder.h sends it here).
  if (auto current = ctx.catalog.get_device(id); !current.ok()) {
    if (current.status().code() == StatusCode::kNotFound) return respond(not_found());
    return respond(error_response(current.status()));
  }
  DeviceChange change;
  change.kind = merge ? DeviceChange::Kind::kPatch : DeviceChange::Kind::kReplace;
  change.device_id = id;
  const bool config_changed = u.config_json.has_value();
  change.fields = std::move(u);
  change.at_ms = ctx.clock.now_ms();
  ctx.writes.submit_device_change(std::move(change),
                                  [&ctx, id, config_changed, not_found, respond](Status s) {
                                    if (s.code() == StatusCode::kNotFound)
                                      return respond(not_found());
                                    if (!s.ok()) return respond(error_response(s));
                                    auto updated = ctx.catalog.get_device(id);
                                    if (!updated.ok()) {
                                      if (updated.status().code() == StatusCode::kNotFound)
                                        return respond(not_found());
                                      return respond(error_response(updated.status()));
                                    }
                                    if (config_changed && ctx.on_config_changed)
                                      ctx.on_config_changed(id, updated->config_json);
                                    respond(device_response(ctx, 200, *updated));
                                  });
}

void list_devices(ApiContext& ctx, RequestContext& rc, const Responder& respond) {
  const Request& req = rc.request;
  auto f = device_filter_param(req);
  if (!f.ok()) return respond(error_response(f.status()));
  auto limit = limit_param(req, 100, 1000);
  if (!limit.ok()) return respond(error_response(limit.status()));
  auto page = ctx.catalog.list_devices(*f, std::string(req.param("cursor").value_or("")), *limit);
  if (!page.ok()) return respond(error_response(page.status()));
  JsonWriter w;
  w.begin_object().key("devices").begin_array();
  for (const Device& d : page->devices)
    write_device(w, d, ctx.tracker.get(d.device_id), connection_of(ctx, d.device_id));
  w.end_array();
  w.field("next_cursor", page->next_cursor);
  w.end_object();
  respond(Response::json(200, w.take()));
}

void status_history(ApiContext& ctx, RequestContext& rc, const Responder& respond) {
  const std::string& id = rc.params.get("id");
  const int64_t now = ctx.clock.now_ms();
  auto since = time_param(rc.request, "since", 0, now);
  if (!since.ok()) return respond(error_response(since.status()));
  auto until = time_param(rc.request, "until", INT64_MAX, now);
  if (!until.ok()) return respond(error_response(until.status()));
  auto limit = limit_param(rc.request, 1000, 10000);
  if (!limit.ok()) return respond(error_response(limit.status()));
  if (!ctx.tracker.contains(id) && !ctx.catalog.get_device(id).ok())
    return respond(error_response(404, "not_found", "no device '" + id + "'"));
  auto rows = ctx.catalog.status_history(id, *since, *until, *limit);
  if (!rows.ok()) return respond(error_response(rows.status()));
  JsonWriter w;
  w.begin_object().field("device_id", id).key("transitions").begin_array();
  for (const auto& t : *rows) {
    w.begin_object()
        .field("from", to_string(t.from))
        .field("to", to_string(t.to))
        .field("reason", t.reason)
        .field("ts", format_rfc3339(t.at_ms))
        .end_object();
  }
  w.end_array().end_object();
  respond(Response::json(200, w.take()));
}

}  // namespace

void add_device_routes(Router& r, ApiContext& ctx) {
  r.add(Method::kGet, "/api/v1/devices", Access::kRead,
        [&ctx](RequestContext& rc, Responder respond) { list_devices(ctx, rc, respond); });
  r.add(Method::kPost, "/api/v1/devices", Access::kWrite,
        [&ctx](RequestContext& rc, Responder respond) { create_device(ctx, rc, respond); });
  r.add(Method::kGet, "/api/v1/devices/{id}", Access::kRead,
        [&ctx](RequestContext& rc, Responder respond) {
          auto d = ctx.catalog.get_device(rc.params.get("id"));
          if (!d.ok()) {
            if (d.status().code() == StatusCode::kNotFound)
              return respond(
                  error_response(404, "not_found", "no device '" + rc.params.get("id") + "'"));
            return respond(error_response(d.status()));
          }
          respond(device_response(ctx, 200, *d));
        });
  r.add(Method::kPut, "/api/v1/devices/{id}", Access::kWrite,
        [&ctx](RequestContext& rc, Responder respond) { update_device(ctx, rc, respond, false); });
  r.add(Method::kPatch, "/api/v1/devices/{id}", Access::kWrite,
        [&ctx](RequestContext& rc, Responder respond) { update_device(ctx, rc, respond, true); });
  r.add(Method::kDelete, "/api/v1/devices/{id}", Access::kWrite,
        [&ctx](RequestContext& rc, Responder respond) {
          const std::string& id = rc.params.get("id");
          auto purge = bool_param(rc.request, "purge", false);
          if (!purge.ok()) return respond(error_response(purge.status()));
          Status s = begin_device_delete(ctx, id, *purge);  // crash-safe order: device_delete.h
          if (!s.ok()) {
            if (s.code() == StatusCode::kNotFound)
              return respond(error_response(404, "not_found", "no device '" + id + "'"));
            return respond(error_response(s));
          }
          ctx.tracker.remove(id);
          if (ctx.alerts) ctx.alerts->forget_device(id);
          if (ctx.activity) ctx.activity->forget(id);
          // A removed device's credentials die with it.
          if (ctx.device_tokens) (void)ctx.device_tokens->revoke_all(id);
          if (ctx.connections) ctx.connections->forget(id);
          ctx.writes.submit_removal(
              id, *purge, [&ctx, id, respond = std::move(respond)](Status st) {
                if (st.ok()) st = end_device_delete(ctx, id);
                respond(st.ok() ? Response::no_content() : error_response(st));
              });
        });
  r.add(Method::kGet, "/api/v1/devices/{id}/status-history", Access::kRead,
        [&ctx](RequestContext& rc, Responder respond) { status_history(ctx, rc, respond); });
}

}  // namespace fp::http
