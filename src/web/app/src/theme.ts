// Light and dark themes: the system's `prefers-color-scheme` until the user picks one with the
// toggle, which is then kept in this browser. Views re-render on a change (charts read the
// theme's colours when drawn).

const KEY = "fleetpulse.theme";
type Theme = "light" | "dark";

const media = window.matchMedia("(prefers-color-scheme: light)");

export function currentTheme(): Theme {
  const chosen = localStorage.getItem(KEY);
  if (chosen === "light" || chosen === "dark") return chosen;
  return media.matches ? "light" : "dark";
}

function apply(onChange: () => void): void {
  const t = currentTheme();
  document.documentElement.dataset.theme = t;
  const button = document.getElementById("theme-toggle");
  if (button) {
    const other = t === "dark" ? "light" : "dark";
    button.textContent = t === "dark" ? "☀" : "☾";
    button.setAttribute("aria-label", `Switch to the ${other} theme`);
    button.title = `Switch to the ${other} theme (now ${t}${localStorage.getItem(KEY) ? "" : ", following the system"})`;
  }
  onChange();
}

export function initTheme(onChange: () => void): void {
  apply(() => {});
  document.getElementById("theme-toggle")?.addEventListener("click", () => {
    localStorage.setItem(KEY, currentTheme() === "dark" ? "light" : "dark");
    apply(onChange);
  });
  media.addEventListener("change", () => {
    if (!localStorage.getItem(KEY)) apply(onChange);
  });
}

// A theme colour (a CSS custom property of :root), for canvas drawing.
export function cssVar(name: string): string {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim();
}
