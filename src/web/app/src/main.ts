// The dashboard's entry: finds out what the server offers, starts live updates and routes
// between the views by the URL hash (#/, #/devices?status=..., #/devices/<id>, #/map,
// #/alerts, #/rules). The theme follows the system until the toggle picks one.

import "./style.css";
import { Features, loadFeatures } from "./api";
import { clear } from "./dom";
import { startLive } from "./live";
import { initTheme } from "./theme";
import { alertsView } from "./views/alerts";
import { deviceView } from "./views/device";
import { devicesView } from "./views/devices";
import { mapView } from "./views/map";
import { overviewView } from "./views/overview";
import { rulesView } from "./views/rules";

const view = document.getElementById("view") as HTMLElement;
let leave: () => void = () => {};

function route(features: Features): void {
  leave();
  clear(view);
  const [path, query] = (location.hash.slice(1) || "/").split("?");
  const params = new URLSearchParams(query ?? "");
  const parts = path.split("/").filter(Boolean).map(decodeURIComponent);
  let name = parts[0] ?? "overview";
  if (parts[0] === "devices" && parts[1]) {
    name = "devices";
    leave = deviceView(view, parts.slice(1).join("/"), features);
  } else if (parts[0] === "devices") {
    leave = devicesView(view, params, features);
  } else if (parts[0] === "map") {
    leave = mapView(view);
  } else if (parts[0] === "alerts") {
    leave = alertsView(view, features, params);
  } else if (parts[0] === "rules") {
    leave = rulesView(view, features);
  } else {
    name = "overview";
    leave = overviewView(view, features);
  }
  for (const a of document.querySelectorAll<HTMLAnchorElement>("#nav a[data-view]")) {
    a.classList.toggle("active", a.dataset.view === name);
    if (a.dataset.view === name) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
  const h1 = view.querySelector("h1");
  document.title = (h1?.textContent ? h1.textContent + " · " : "") + "fleetpulse";
  window.scrollTo(0, 0);
}

// "Skip to content" moves focus past the navigation without touching the hash (the router's).
document.querySelector(".skip")?.addEventListener("click", (e) => {
  e.preventDefault();
  view.focus();
});

// The theme first, so a stored choice applies before anything is drawn.
let loaded: Features | null = null;
initTheme(() => {
  if (loaded) route(loaded);
});

async function boot(): Promise<void> {
  const features = await loadFeatures();
  loaded = features;
  for (const a of document.querySelectorAll<HTMLElement>("#nav a[data-feature]"))
    a.hidden = !features[a.dataset.feature as keyof Features];
  document.body.dataset.ready = "false";
  window.addEventListener("hashchange", () => route(features));
  route(features);
  startLive(features.stream);
  document.body.dataset.ready = "true";
}

boot();
