// Alert rules: the list, and a form to create or edit one (every kind of API.md).

import { api, Features, post } from "../api";
import { clear, h, message } from "../dom";

const KINDS = ["threshold", "range", "rate", "absence", "offline", "low_battery", "anomaly", "stuck"];

export function rulesView(root: HTMLElement, features: Features): () => void {
  if (!features.rules) {
    root.append(h("h1", {}, "Rules"), message("This server has no alert rules API."));
    return () => {};
  }
  const body = h("tbody");
  // Shown only while a rule is being created or edited (an empty panel is noise).
  const formBox = h("section", { class: "panel", id: "rule-form-box", hidden: true });
  const closeForm = () => { clear(formBox); formBox.hidden = true; };
  const newButton = h("button", { id: "new-rule", onclick: () => edit(null) }, "New rule");
  root.append(h("h1", {}, "Alert rules"),
    h("p", {}, newButton),
    formBox,
    h("div", { class: "table-wrap" }, h("table", { class: "grid", id: "rule-table" },
      h("thead", {}, h("tr", {}, ...["Name", "Kind", "Condition", "Severity", "Scope", "Enabled", ""].map((c) => h("th", {}, c)))), body)));

  function condition(r: any): string {
    switch (r.kind) {
      case "threshold": return `${r.metric} ${r.op} ${r.threshold}` + (r.for && r.for !== "0s" ? ` for ${r.for}` : "");
      case "range": return `${r.metric} outside ${r.min}..${r.max}`;
      case "rate": return `${r.metric} changes > ${r.threshold} per ${r.window}`;
      case "absence": return `no ${r.metric ?? "data"} for ${r.for}`;
      default: return [r.kind, r.metric, r.for].filter(Boolean).join(" ");
    }
  }

  async function load(): Promise<void> {
    const res = await api("/api/v1/rules");
    clear(body);
    for (const r of res.rules ?? []) {
      const scope = r.scope ?? {};
      body.append(h("tr", { "data-rule": r.id },
        h("td", {}, r.name), h("td", {}, r.kind), h("td", {}, condition(r)),
        h("td", {}, h("span", { class: "badge sev-" + r.severity }, r.severity)),
        h("td", {}, scope.type ? `type ${scope.type}` : scope.location ? `location ${scope.location}` : scope.devices ? `${scope.devices.length} devices` : "all devices"),
        h("td", {}, r.enabled === false ? "no" : "yes"),
        h("td", { class: "actions" },
          h("button", { onclick: () => edit(r) }, "Edit"),
          h("button", { class: "danger", onclick: async () => {
            if (!confirm(`Delete rule ${r.name}?`)) return;
            await api(`/api/v1/rules/${encodeURIComponent(r.id)}`, { method: "DELETE" });
            load();
          } }, "Delete"))));
    }
    if (!(res.rules ?? []).length) body.append(h("tr", {}, h("td", { colspan: 7, class: "muted" }, "No rules yet.")));
  }

  function edit(rule: any | null): void {
    clear(formBox);
    const r = rule ?? { kind: "threshold", op: ">", severity: "warning", for: "0s", enabled: true };
    const field = (name: string, label: string, input: HTMLElement) => h("label", { "data-field": name }, h("span", {}, label), input);
    const inp = (name: string, value: unknown, type = "text") => h("input", { name, type, value: value ?? "", step: type === "number" ? "any" : undefined });
    const sel = (name: string, options: string[], value: string) => h("select", { name }, ...options.map((o) => h("option", { value: o, selected: o === value }, o)));
    const form = h("form", { class: "rule-form", id: "rule-form" },
      field("name", "Name", inp("name", r.name)),
      field("kind", "Kind", sel("kind", KINDS, r.kind)),
      field("metric", "Metric", inp("metric", r.metric)),
      field("op", "Operator", sel("op", [">", ">=", "<", "<=", "==", "!="], r.op ?? ">")),
      field("threshold", "Threshold", inp("threshold", r.threshold, "number")),
      field("min", "Min", inp("min", r.min, "number")),
      field("max", "Max", inp("max", r.max, "number")),
      field("window", "Window", inp("window", r.window)),
      field("for", "For", inp("for", r.for)),
      field("severity", "Severity", sel("severity", ["info", "warning", "critical"], r.severity)),
      field("scope_type", "Scope: type", inp("scope_type", r.scope?.type)),
      field("scope_location", "Scope: location", inp("scope_location", r.scope?.location)),
      field("scope_devices", "Scope: devices (comma-separated)", inp("scope_devices", (r.scope?.devices ?? []).join(","))),
      field("webhook", "Webhook URL", inp("webhook", r.notify?.[0]?.webhook)),
      h("label", { class: "check" }, h("input", { name: "enabled", type: "checkbox", checked: r.enabled !== false }), " enabled"),
      h("p", { class: "error", id: "rule-error", role: "alert", hidden: true }),
      h("div", {}, h("button", { type: "submit" }, rule ? "Save" : "Create"), " ", h("button", { type: "button", onclick: () => { closeForm(); newButton.focus(); } }, "Cancel")),
    );
    const showFields = () => {
      const kind = (form.elements.namedItem("kind") as HTMLSelectElement).value;
      const used: Record<string, string[]> = {
        threshold: ["metric", "op", "threshold", "for"], range: ["metric", "min", "max", "for"],
        rate: ["metric", "threshold", "window"], absence: ["metric", "for"], offline: ["for"],
        low_battery: ["threshold"], anomaly: ["metric", "window"], stuck: ["metric", "for"],
      };
      for (const name of ["metric", "op", "threshold", "min", "max", "window", "for"]) {
        const el = form.querySelector<HTMLElement>(`[data-field="${name}"]`);
        if (el) el.hidden = !used[kind]?.includes(name);
      }
    };
    (form.elements.namedItem("kind") as HTMLSelectElement).addEventListener("change", showFields);
    showFields();
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      const v = (n: string) => (form.elements.namedItem(n) as HTMLInputElement).value.trim();
      const num = (n: string) => (v(n) === "" ? undefined : Number(v(n)));
      const kind = v("kind");
      const out: any = { name: v("name"), kind, severity: v("severity"), enabled: (form.elements.namedItem("enabled") as HTMLInputElement).checked };
      for (const n of ["metric", "op", "window", "for"]) {
        const el = form.querySelector<HTMLElement>(`[data-field="${n}"]`);
        if (!el?.hidden && v(n)) out[n] = v(n);
      }
      for (const n of ["threshold", "min", "max"]) {
        const el = form.querySelector<HTMLElement>(`[data-field="${n}"]`);
        if (!el?.hidden && num(n) !== undefined) out[n] = num(n);
      }
      const scope: any = {};
      if (v("scope_type")) scope.type = v("scope_type");
      if (v("scope_location")) scope.location = v("scope_location");
      if (v("scope_devices")) scope.devices = v("scope_devices").split(",").map((s) => s.trim()).filter(Boolean);
      out.scope = scope;
      if (v("webhook")) out.notify = [{ webhook: v("webhook") }];
      try {
        if (rule) await api(`/api/v1/rules/${encodeURIComponent(rule.id)}`, { method: "PUT", body: JSON.stringify(out) });
        else await post("/api/v1/rules", out);
        closeForm();
        load();
      } catch (err: any) {
        const box = form.querySelector("#rule-error") as HTMLElement;
        box.textContent = err.message;
        box.hidden = false;
      }
    });
    formBox.append(h("h2", {}, rule ? `Edit ${rule.name}` : "New rule"), form);
    formBox.hidden = false;
    (form.elements.namedItem("name") as HTMLInputElement).focus();
  }

  load().catch((e) => root.append(message(e.message, "error")));
  return () => {};
}
