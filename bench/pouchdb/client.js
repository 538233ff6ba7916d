#!/usr/bin/env node
'use strict';
// The PouchDB client of the bench: a device with an in-memory PouchDB that
// replicates with a CouchDB-protocol server (server.js), the way a county app
// built on PouchDB would, with default replication options.
//
//   node client.js w1|w2 DB_URL LINK_ORIGIN
//
// DB_URL is the server's database (http://127.0.0.1:PORT/survey); the remote
// database is always opened under that URL, so PouchDB's replication id and
// checkpoints are the same in every phase. LINK_ORIGIN (http://127.0.0.1:PORT)
// is the measuring link: the measured replication's requests are sent there
// instead of to the server; unmeasured work goes to the server directly.
//
// Standard input, one JSON value a line:
//   {"set": "initial" | "edited" | "docs", "doc": {"_id": ..., ...}}   the documents, then
//   "end"                                                              after the last document,
//   "go"                                                               to start the measured phase.
//
// Standard output, one line each:
//   ready {...}   the unmeasured part is done; waiting for "go"
//   done {...}    the measured replication is done: JSON with its figures
// Errors go to standard error and end the process with a non-zero status.
//
// w1 (evening sync): put the initial documents in a fresh local database,
// replicate them to the server, then write the edited documents over them
// (get the current _rev, put the new content), print `ready`, wait for "go",
// and replicate local -> server again. Only that second replication is measured.
//
// w2 (first download): bulk-load the documents into the server (not measured),
// print `ready`, wait for "go", then a fresh local database replicates
// server -> local.
//
// ZOUFANG_POUCH_TRACE=1 lists the measured requests on standard error.
const readline = require('readline');
const PouchDB = require('./pouch');

function fail(msg) {
  process.stderr.write(`client.js: ${msg}\n`);
  process.exit(1);
}

const [mode, dbUrl, linkOrigin] = process.argv.slice(2);
if ((mode !== 'w1' && mode !== 'w2') || !dbUrl || !linkOrigin) {
  fail('usage: client.js w1|w2 DB_URL LINK_ORIGIN');
}
const dbOrigin = new URL(dbUrl).origin;
const via = new URL(linkOrigin).origin;

// HTTP requests of the measured replication, counted where PouchDB fetches.
let requests = 0;
const trace = !!process.env.ZOUFANG_POUCH_TRACE;
const measuredFetch = async (url, opts) => {
  if (!url.startsWith(dbOrigin)) fail(`unexpected request to ${url}`);
  requests += 1;
  const n = requests;
  const res = await PouchDB.fetch(via + url.slice(dbOrigin.length), opts);
  if (trace) {
    const method = (opts && opts.method) || 'GET';
    const sent = opts && typeof opts.body === 'string' ? opts.body.length : 0;
    process.stderr.write(`fetch ${n}: ${method} ${url.slice(dbOrigin.length)} -> ${res.status} (body ${sent} chars)\n`);
  }
  return res;
};
// The server database as the app would open it (`new PouchDB(url)`); measured or not.
const remote = (measured) => new PouchDB(dbUrl, measured ? { fetch: measuredFetch } : {});

// Standard input as an async queue of parsed lines.
const lines = readline.createInterface({ input: process.stdin, crlfDelay: Infinity })[Symbol.asyncIterator]();
async function nextLine() {
  for (;;) {
    const { value, done } = await lines.next();
    if (done) fail('standard input closed early');
    if (value.trim() === '') continue;
    try {
      return JSON.parse(value);
    } catch (e) {
      fail(`bad input line: ${e.message}`);
    }
  }
}

async function readDocs() {
  const sets = { initial: [], edited: [], docs: [] };
  for (;;) {
    const v = await nextLine();
    if (v === 'end') return sets;
    if (!v || typeof v !== 'object' || !(v.set in sets) || !v.doc || typeof v.doc._id !== 'string') {
      fail('expected {"set": "initial"|"edited"|"docs", "doc": {"_id": ...}} or "end"');
    }
    sets[v.set].push(v.doc);
  }
}

async function waitGo() {
  const v = await nextLine();
  if (v !== 'go') fail(`expected "go", got ${JSON.stringify(v)}`);
}

function checkBulk(results, what) {
  const bad = results.filter((r) => r.error);
  if (bad.length) fail(`${what}: ${bad.length} documents refused, first: ${JSON.stringify(bad[0])}`);
}

function summary(res, extra) {
  return {
    requests,
    ok: res.ok,
    docs_read: res.docs_read,
    docs_written: res.docs_written,
    doc_write_failures: res.doc_write_failures,
    errors: (res.errors || []).length,
    ...extra,
  };
}

async function w1(sets) {
  const local = new PouchDB('client-w1', { adapter: 'memory' });
  checkBulk(await local.bulkDocs(sets.initial), 'local initial load');

  // Morning: the first replication to the server. Not measured.
  const t0 = process.hrtime.bigint();
  const first = await PouchDB.replicate(local, remote(false));
  if (!first.ok || first.doc_write_failures) fail(`first replication: ${JSON.stringify(first)}`);
  const firstMs = Number(process.hrtime.bigint() - t0) / 1e6;

  // The day's edits, one document at a time, as a form saves them.
  const t1 = process.hrtime.bigint();
  for (const doc of sets.edited) {
    const cur = await local.get(doc._id).catch(() => null);
    await local.put(cur ? { ...doc, _rev: cur._rev } : doc);
  }
  const editMs = Number(process.hrtime.bigint() - t1) / 1e6;

  process.stdout.write(`ready ${JSON.stringify({ first_ms: firstMs, edit_ms: editMs, first_docs_written: first.docs_written })}\n`);
  await waitGo();

  // Evening: the app opens the server again and replicates. Measured.
  requests = 0;
  const t2 = process.hrtime.bigint();
  const res = await PouchDB.replicate(local, remote(true));
  const ms = Number(process.hrtime.bigint() - t2) / 1e6;
  if (!res.ok || res.doc_write_failures) fail(`evening replication: ${JSON.stringify(res)}`);
  return summary(res, { ms });
}

async function w2(sets) {
  // Fill the server directly, in bulk requests.
  const t0 = process.hrtime.bigint();
  const loader = remote(false);
  const chunk = 500;
  for (let i = 0; i < sets.docs.length; i += chunk) {
    checkBulk(await loader.bulkDocs(sets.docs.slice(i, i + chunk)), 'server load');
  }
  const info = await loader.info();
  if (info.doc_count !== sets.docs.length) fail(`server holds ${info.doc_count} documents, expected ${sets.docs.length}`);
  const loadMs = Number(process.hrtime.bigint() - t0) / 1e6;

  process.stdout.write(`ready ${JSON.stringify({ load_ms: loadMs })}\n`);
  await waitGo();

  // A new device downloads everything. Measured.
  requests = 0;
  const local = new PouchDB('client-w2', { adapter: 'memory' });
  const t1 = process.hrtime.bigint();
  const res = await PouchDB.replicate(remote(true), local);
  const ms = Number(process.hrtime.bigint() - t1) / 1e6;
  if (!res.ok || res.doc_write_failures) fail(`download: ${JSON.stringify(res)}`);
  const localInfo = await local.info();
  return summary(res, { ms, local_doc_count: localInfo.doc_count });
}

(async () => {
  const sets = await readDocs();
  const out = mode === 'w1' ? await w1(sets) : await w2(sets);
  process.stdout.write(`done ${JSON.stringify(out)}\n`, () => process.exit(0));
})().catch((e) => fail(e && e.stack ? e.stack : String(e)));
