// The overview's cluster card (API.md "Cluster", docs/cluster.md): from GET /api/v1/cluster,
// this node's view of the cluster — its nodes and the partitions each owns, every partition's
// owner and stream sequence, the apply lag of the partitions this node serves (the others'
// lag is known to their owners only), the NATS connections — and a one-line health verdict.
// Single-node mode answers {"mode":"single"}: then there is no card at all.

import { api } from "../api";
import { clear, fmtNumber, h } from "../dom";

interface ClusterNodeView {
  id: string;
  advertise: string;
  alive: boolean;
  partitions: number[];
}

interface ClusterPartition {
  id: number;
  owner: string | null;
  last_seq: number;
  applied_seq: number | null;
  lag: number | null;
}

interface ClusterView {
  mode: string;
  node_id: string;
  partitions_total: number;
  replicas?: number;
  nodes: ClusterNodeView[];
  partitions: ClusterPartition[];
  nats: { url: string; connected: boolean }[];
}

// The problems an operator must see first; empty when the cluster is healthy from here.
function problems(c: ClusterView): string[] {
  const out: string[] = [];
  const orphans = c.partitions.filter((p) => !p.owner).map((p) => p.id);
  if (orphans.length) out.push(`partition${orphans.length > 1 ? "s" : ""} ${orphans.join(", ")} without an owner`);
  const dead = c.nodes.filter((n) => !n.alive).map((n) => n.id);
  if (dead.length) out.push(`node${dead.length > 1 ? "s" : ""} ${dead.join(", ")} not answering`);
  if (!c.nats.some((n) => n.connected)) out.push("this node is not connected to NATS");
  return out;
}

function render(card: HTMLElement, c: ClusterView): void {
  clear(card);
  const lagHere = c.partitions.reduce((sum, p) => sum + (p.lag ?? 0), 0);
  const bad = problems(c);
  card.dataset.nodes = String(c.nodes.length);
  card.dataset.partitions = String(c.partitions_total);
  card.dataset.health = bad.length ? "degraded" : "ok";
  const health = h("p", { id: "cluster-health", class: bad.length ? "s-offline" : "s-online", role: "status" },
    bad.length ? "Degraded: " + bad.join("; ") + "." : `Healthy: every partition has an owner; ${fmtNumber(lagHere, 0)} messages waiting to be applied on ${c.node_id}.`);
  const summary = h("p", { class: "muted", id: "cluster-summary" },
    `Seen from node ${c.node_id}: ${c.nodes.length} node${c.nodes.length === 1 ? "" : "s"}, ${c.partitions_total} partitions` +
    (c.replicas ? `, ${c.replicas} JetStream replica${c.replicas === 1 ? "" : "s"}` : "") + ".");

  const nodes = h("table", { class: "grid", id: "cluster-nodes" },
    h("caption", { class: "muted small" }, "Nodes"),
    h("thead", {}, h("tr", {}, ...["Node", "Address", "State", "Partitions"].map((t) => h("th", { scope: "col" }, t)))),
    h("tbody", {}, ...c.nodes.map((n) => h("tr", { "data-node": n.id },
      h("td", {}, n.id, n.id === c.node_id ? h("span", { class: "muted small" }, " (this node)") : null),
      h("td", {}, n.advertise),
      h("td", {}, h("span", { class: "badge s-" + (n.alive ? "online" : "offline") }, n.alive ? "alive" : "not answering")),
      h("td", { "data-owned": n.partitions.join(",") }, `${n.partitions.length}: ${n.partitions.join(", ") || "none"}`)))));

  const parts = h("table", { class: "grid", id: "cluster-partitions" },
    h("caption", { class: "muted small" }, "Partitions (lag: stream messages not yet applied by the owner; known on the owner)"),
    h("thead", {}, h("tr", {}, ...["Partition", "Owner", "Stream seq", "Applied seq", "Lag"].map((t) => h("th", { scope: "col" }, t)))),
    h("tbody", {}, ...c.partitions.map((p) => h("tr", { "data-partition": p.id, "data-owner": p.owner ?? "" },
      h("td", {}, String(p.id)),
      h("td", {}, p.owner ?? h("span", { class: "s-offline" }, "none")),
      h("td", {}, fmtNumber(p.last_seq, 0)),
      h("td", {}, p.applied_seq == null ? h("span", { class: "muted", title: "applied on its owner" }, "on owner") : fmtNumber(p.applied_seq, 0)),
      h("td", { "data-lag": p.lag ?? "" }, p.lag == null ? h("span", { class: "muted", title: "reported by its owner" }, "–") : fmtNumber(p.lag, 0))))));

  const nats = h("p", { class: "muted small", id: "cluster-nats" }, "NATS: ",
    ...c.nats.flatMap((n, i) => [i ? ", " : "", n.url, n.connected ? " (connected)" : ""]));
  card.append(h("h2", {}, "Cluster"), health, summary,
    h("div", { class: "table-wrap" }, nodes), h("div", { class: "table-wrap" }, parts), nats);
}

// Loads the cluster view into `card` (put on the page by `place` the first time); in
// single-node mode removes the card and returns false (no need to ask again). Request errors
// propagate to the caller.
export async function loadClusterCard(card: HTMLElement, place: (card: HTMLElement) => void): Promise<boolean> {
  const c = await api<ClusterView>("/api/v1/cluster");
  if (c?.mode !== "cluster" || !Array.isArray(c.partitions) || !Array.isArray(c.nodes)) {
    card.remove();
    return false;
  }
  render(card, c);
  if (!card.isConnected) place(card);
  return true;
}
