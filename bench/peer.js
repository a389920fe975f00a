// bench/peer.js — the peer: json-rules-engine (the version bench/package.json
// pins) evaluating the rules of bench/rules.lua over figures precomputed by
// build/bench-export, one engine.run per pupil, as a rules service would.
//
//   node bench/peer.js FIGURES.jsonl FIRED
//
// Reading and parsing the file is not timed; the loop of engine.run calls is.
// Writes "upn kind" per fired event to FIRED, sorted like bench-evaluate's,
// and prints one line: pupils, events, seconds.
'use strict';
const fs = require('fs');
const { Engine } = require('json-rules-engine');

const rule = (kind, conditions) => ({ conditions: { all: conditions }, event: { type: kind } });
const fact = (name, operator, value) => ({ fact: name, operator, value });
const rules = [
  rule('low_attendance', [fact('possible6', 'greaterThanInclusive', 20), fact('rate6', 'lessThan', 0.9)]),
  rule('penalty_threshold', [fact('unauthorised10', 'greaterThanInclusive', 10)]),
  rule('persistent_absence', [fact('year_possible', 'greaterThanInclusive', 20),
    fact('year_absence_rate', 'greaterThanInclusive', 0.1)]),
  rule('severe_absence', [fact('year_possible', 'greaterThanInclusive', 20),
    fact('year_absence_rate', 'greaterThanInclusive', 0.5)]),
  rule('continuous_absence', [fact('consecutive_unauthorised_days', 'greaterThanInclusive', 10)]),
];

async function main() {
  const [input, firedPath] = process.argv.slice(2);
  const pupils = fs.readFileSync(input, 'utf8').split('\n').filter(Boolean).map(JSON.parse);
  const engine = new Engine(rules);
  const fired = [];
  const t0 = process.hrtime.bigint();
  for (const p of pupils) {
    const { events } = await engine.run(p);
    for (const e of events) fired.push(p.upn + ' ' + e.type);
  }
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  // byte order, as SQLite's ORDER BY upn, kind
  fired.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  fs.writeFileSync(firedPath, fired.map((l) => l + '\n').join(''));
  console.log(`peer: ${pupils.length} pupils ${fired.length} actions ${seconds.toFixed(6)} eval_s`);
}

main().catch((e) => { console.error(e); process.exit(1); });
