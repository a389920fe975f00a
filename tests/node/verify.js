// verify.js — what a receiver in Node.js would check of each delivery
// build/receiver saved (--save DIR: one JSON file per request, its webhook
// headers and body as received), with the official libraries, not
// rollcall's code: the signature by the `standardwebhooks` package, the body
// against the event's JSON Schema in docs/schemas/ by Ajv.
//
//   node verify.js --schemas DIR [--accept whsec_...]... [--refuse whsec_...]...
//                  [--signatures N] [--ids N] FILE|DIR...
//
// --accept S: each delivery verifies with S alone (a receiver that knows only
// S accepts it); --refuse S: none does; --signatures N: each carries exactly
// N signatures; --ids N: they are N webhook-ids, and every request of one id
// carried the same body, byte for byte (retries send what was first sent).
// Every body must be valid against docs/schemas/<type>.json.
// Prints "verified N deliveries: TYPE=COUNT ..." and exits 0, or one line per
// failure and exits 1.
"use strict";
const fs = require("fs");
const path = require("path");
const { Webhook } = require("standardwebhooks");
const Ajv2020 = require("ajv/dist/2020");
const addFormats = require("ajv-formats");

const args = process.argv.slice(2);
let schemas = null, signatures = null, ids = null;
const accept = [], refuse = [], files = [];
for (let i = 0; i < args.length; i++) {
  const a = args[i];
  if (a === "--schemas") schemas = args[++i];
  else if (a === "--accept") accept.push(args[++i]);
  else if (a === "--refuse") refuse.push(args[++i]);
  else if (a === "--signatures") signatures = Number(args[++i]);
  else if (a === "--ids") ids = Number(args[++i]);
  else if (fs.statSync(a).isDirectory())
    // a directory: every request saved in it, in the order received
    files.push(...fs.readdirSync(a).filter((f) => f.endsWith(".json"))
      .sort().map((f) => path.join(a, f)));
  else files.push(a);
}
if (!schemas) {
  console.error("usage: node verify.js --schemas DIR [--accept S]... [--refuse S]... [--signatures N] FILE...");
  process.exit(2);
}

const ajv = new Ajv2020({ allErrors: true, strict: true, allowUnionTypes: true });
addFormats(ajv);
const validators = {};
for (const f of fs.readdirSync(schemas).filter((f) => f === "common.json" || /^attendance\..*\.json$/.test(f))) {
  const schema = JSON.parse(fs.readFileSync(path.join(schemas, f), "utf8"));
  ajv.addSchema(schema, f);
}
function validator(type) {
  if (!(type in validators)) validators[type] = ajv.getSchema(type + ".json") || null;
  return validators[type];
}

const failures = [], types = {}, bodies = new Map();
for (const file of files) {
  const r = JSON.parse(fs.readFileSync(file, "utf8"));
  const headers = {
    "webhook-id": r["webhook-id"],
    "webhook-timestamp": r["webhook-timestamp"],
    "webhook-signature": r["webhook-signature"],
  };
  const where = `${path.basename(file)} (${r["webhook-id"]})`;
  for (const s of accept) {
    try {
      new Webhook(s).verify(r.body, headers);
    } catch (e) {
      failures.push(`${where}: does not verify with ${s.slice(0, 12)}...: ${e.message}`);
    }
  }
  for (const s of refuse) {
    let verified = true;
    try {
      new Webhook(s).verify(r.body, headers);
    } catch (e) {
      verified = false;
    }
    if (verified) failures.push(`${where}: verifies with ${s.slice(0, 12)}..., which it must not`);
  }
  if (bodies.has(r["webhook-id"]) && bodies.get(r["webhook-id"]) !== r.body)
    failures.push(`${where}: not the body first sent with this webhook-id`);
  bodies.set(r["webhook-id"], r.body);
  const n = (r["webhook-signature"] || "").split(" ").filter((x) => x).length;
  if (signatures !== null && n !== signatures)
    failures.push(`${where}: ${n} signatures, not ${signatures}`);
  let body;
  try {
    body = JSON.parse(r.body);
  } catch (e) {
    failures.push(`${where}: the body is not JSON: ${e.message}`);
    continue;
  }
  const validate = validator(body.type);
  if (!validate) {
    failures.push(`${where}: no schema docs/schemas/${body.type}.json for type ${JSON.stringify(body.type)}`);
    continue;
  }
  if (!validate(body))
    failures.push(`${where}: ${body.type}: ${ajv.errorsText(validate.errors, { separator: "; " })}`);
  types[body.type] = (types[body.type] || 0) + 1;
}
if (ids !== null && bodies.size !== ids)
  failures.push(`${bodies.size} webhook-ids, not ${ids}`);
for (const f of failures) console.log(f);
if (failures.length) process.exit(1);
console.log(
  `verified ${files.length} requests of ${bodies.size} webhook-ids: ` +
    Object.keys(types).sort().map((t) => `${t}=${types[t]}`).join(" ")
);
