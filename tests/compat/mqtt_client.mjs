// Publishes with MQTT.js (the `mqtt` npm package) and prints what it saw as one JSON object
// (read by tests/integration/test_compat_stacks.py).
//   node mqtt_client.mjs URL PROTOCOL_VERSION TOPIC PAYLOAD [USERNAME PASSWORD]
// PROTOCOL_VERSION is 4 (3.1.1) or 5. The message goes with QoS 1: publishAsync resolves once
// the server's PUBACK arrives; a v5 PUBACK with an error reason rejects (`code`: the reason).
import mqtt from "mqtt";

const [url, version, topic, payload, username, password] = process.argv.slice(2);
const out = {};
let client;
try {
  client = await mqtt.connectAsync(url, {
    protocolVersion: Number(version),
    clientId: `mqttjs-${process.pid}`,
    username,
    password,
    reconnectPeriod: 0,
    connectTimeout: 10000,
  });
  out.connected = true;
  await client.publishAsync(topic, payload, { qos: 1 });
  out.published = true;
} catch (e) {
  out.failed = String(e?.message ?? e);
  if (e?.code !== undefined) out.code = e.code;
} finally {
  if (client) await client.endAsync();
}
console.log(JSON.stringify(out));
