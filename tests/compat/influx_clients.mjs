// Drives the real InfluxDB client libraries against a fleetpulse server and prints what they
// saw as one JSON object (read by tests/integration/test_compat_influx.py).
//   node influx_clients.mjs v2 URL TOKEN DEVICE   @influxdata/influxdb-client, gzip always;
//                                                 ping and health by -apis' PingAPI, HealthAPI
//   node influx_clients.mjs v1 URL USER PASS DEVICE   `influx` (node-influx), Basic auth
import { InfluxDB as InfluxV2, Point, HttpError } from "@influxdata/influxdb-client";
import { HealthAPI, PingAPI } from "@influxdata/influxdb-client-apis";
import Influx from "influx";

const [mode, url, ...args] = process.argv.slice(2);
const out = {};

async function v2(token, device) {
  const client = new InfluxV2({ url, token, timeout: 10000 });
  await new PingAPI(client).getPing();  // GET /ping: resolves on 204, throws otherwise
  out.ping = "ok";
  const health = await new HealthAPI(client).getHealth();
  out.health = { status: health.status, version: health.version };
  const write = client.getWriteApi("fleet-org", "fleet-bucket", "ms", {
    gzipThreshold: 0,  // every body gzip-compressed, as Telegraf's content_encoding = "gzip"
    maxRetries: 0,
    batchSize: 1000,
  });
  const t0 = Date.UTC(2026, 0, 1);
  for (let i = 0; i < 3; i++)
    write.writePoint(new Point("env").tag("device_id", device).tag("site", "roof")
      .floatField("temperature", 20 + i).intField("count", i).timestamp(t0 + i * 1000));
  await write.close();
  out.written = 3;
  // A bad line: the client surfaces InfluxDB's error body.
  const bad = client.getWriteApi("fleet-org", "fleet-bucket", "ms", { maxRetries: 0 });
  bad.writeRecords([`env,device_id=${device} temperature=30 ${t0 + 10000}`, "env,device_id=x"]);
  try {
    await bad.close();
    out.bad = { ok: true };
  } catch (e) {
    out.bad = e instanceof HttpError
      ? { status: e.statusCode, code: e.code, message: e.message, body: e.body }
      : { error: String(e) };
  }
}

async function v1(user, pass, device) {
  const u = new URL(url);
  const influx = new Influx.InfluxDB({
    host: u.hostname, port: Number(u.port), protocol: u.protocol.replace(":", ""),
    database: "telegraf", username: user, password: pass,
  });
  const hosts = await influx.ping(5000);
  out.ping = hosts.map(h => ({ online: h.online, version: h.version }));
  const t0 = new Date(Date.UTC(2026, 0, 1));
  await influx.writePoints([
    { measurement: "cpu", tags: { host: device }, fields: { usage: 12.5 }, timestamp: t0 },
    { measurement: "cpu", tags: { host: device }, fields: { usage: 13.5 },
      timestamp: new Date(t0.getTime() + 60000) },
  ], { precision: "s" });
  out.written = 2;
  // A batch with a bad point (no fields): the good one is stored, the error names the bad one.
  try {
    await influx.writePoints([
      { measurement: "cpu", tags: { host: device }, fields: { usage: 14.5 },
        timestamp: new Date(t0.getTime() + 120000) },
      { measurement: "cpu", tags: { host: device }, fields: {} },
    ], { precision: "s" });
    out.bad = { ok: true };
  } catch (e) {
    out.bad = { status: e.res?.statusCode, message: String(e.message ?? e) };
  }
}

try {
  if (mode === "v2") await v2(...args);
  else if (mode === "v1") await v1(...args);
  else throw new Error(`unknown mode ${mode}`);
} catch (e) {
  out.failed = String(e?.stack ?? e);
  if (e?.statusCode) out.status = e.statusCode;
}
console.log(JSON.stringify(out));
