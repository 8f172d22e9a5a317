// Alerts: filter by state and severity, acknowledge (with an optional note) and resolve.

import { api, Features, post, qs } from "../api";
import { clear, fmtAgo, fmtTime, h, message, throttle } from "../dom";
import { fmtDuration, fmtMetric } from "../format";
import { subscribe } from "../live";

export function alertRow(a: any, features: Features, reload: () => void, withDevice = true): HTMLElement {
  const actions = h("td", { class: "actions" });
  if (features.alerts && a.state === "firing")
    actions.append(h("button", { class: "ack", onclick: async () => {
      const note = prompt("Acknowledge — note (optional):") ?? undefined;
      if (note === undefined) return;
      await post(`/api/v1/alerts/${encodeURIComponent(a.id)}/acknowledge`, { by: "dashboard", note });
      reload();
    } }, "Acknowledge"));
  if (features.alerts && a.state !== "resolved")
    actions.append(h("button", { class: "resolve", onclick: async () => {
      await post(`/api/v1/alerts/${encodeURIComponent(a.id)}/resolve`, {});
      reload();
    } }, "Resolve"));
  // When the condition happened (the reading's time) leads; when it was raised is the detail.
  const happened = a.condition_at ?? a.started_at;
  const lag = a.condition_at && a.started_at ? (Date.parse(a.started_at) - Date.parse(a.condition_at)) / 1000 : 0;
  const when = h("td", { class: "when", "data-condition-at": happened ?? "", title: `condition at ${fmtTime(happened)}; raised at ${fmtTime(a.started_at)}` },
    h("time", { datetime: happened ?? "" }, fmtAgo(happened)),
    lag >= 60 ? h("div", { class: "muted small raised" }, `raised ${fmtDuration(lag)} later`) : null);
  return h("tr", { "data-alert": a.id, "data-state": a.state },
    h("td", {}, h("span", { class: "badge sev-" + a.severity }, a.severity)),
    h("td", {}, h("span", { class: "badge a-" + a.state }, a.state)),
    withDevice ? h("td", {}, h("a", { href: "#/devices/" + encodeURIComponent(a.device_id) }, a.device_id)) : null,
    h("td", {}, a.message ?? "", a.value != null ? h("span", { class: "muted value" }, ` (${fmtMetric(a.metric ?? "", a.value)})`) : null),
    when,
    actions,
  );
}

export function alertsView(root: HTMLElement, features: Features, params: URLSearchParams): () => void {
  if (!features.alerts) {
    root.append(h("h1", {}, "Alerts"), message("This server has no alerting API."));
    return () => {};
  }
  const state = h("select", { id: "alert-state", "aria-label": "state" }, ...["", "firing", "acknowledged", "resolved"].map((s) => h("option", { value: s, selected: s === (params.get("state") ?? "firing") }, s || "any state")));
  const severity = h("select", { id: "alert-severity", "aria-label": "severity" }, ...["", "critical", "warning", "info"].map((s) => h("option", { value: s }, s || "any severity")));
  const body = h("tbody");
  root.append(h("h1", {}, "Alerts"), h("div", { class: "filters" }, state, severity),
    h("div", { class: "table-wrap" }, h("table", { class: "grid", id: "alert-table" },
      h("thead", {}, h("tr", {}, ...["Severity", "State", "Device", "Message", "When", ""].map((c) => h("th", {}, c)))), body)));

  async function load(): Promise<void> {
    const res = await api("/api/v1/alerts" + qs({ state: state.value, severity: severity.value, limit: 200 }));
    clear(body);
    for (const a of res.alerts ?? []) body.append(alertRow(a, features, () => load()));
    if (!(res.alerts ?? []).length) body.append(h("tr", {}, h("td", { colspan: 6, class: "muted" }, "No alerts match.")));
  }
  state.addEventListener("change", () => load());
  severity.addEventListener("change", () => load());
  load().catch((e) => root.append(message(e.message, "error")));
  const refresh = throttle(() => load().catch(() => {}), 1000);
  return subscribe((e) => {
    if (e.kind === "alert" || e.kind === "tick") refresh();
  });
}
