// A reference client of the Zoufang sync protocol (4) in JavaScript, on @automerge/automerge 3.x.
//
// Written from the Rust sources as a guide for vendors: everything a device needs besides its
// user interface — enrolment, the sync body (postcard + DEFLATE), packed changes, the household
// document's rules for values and change metadata, and the resumable photo upload. Each part
// names the Rust it mirrors. run.mjs drives it; tests/tests/js_client.rs runs that against a real
// server.

import { createHash, randomBytes, randomUUID } from "node:crypto";
import { deflateRawSync, inflateRawSync } from "node:zlib";
import * as Automerge from "@automerge/automerge";

export const PROTOCOL = 4; // shared/src/wire.rs PROTOCOL_VERSION
export const SYNC_TYPE = "application/x-zoufang-sync";
const MAX_PULL_BYTES = 8 * 1024 * 1024; // what the Rust client asks for per round
const UPLOAD_CHUNK = 256 * 1024; // client/src/sync.rs UPLOAD_CHUNK (the server takes ≤ 1 MiB)

// ---- postcard (https://postcard.jamesmunns.com/wire-format): the serde fields in declaration
// order, no names, no tags. Unsigned integers and lengths are LEB128 varints; i64 is zigzag, then
// varint; bool one byte; String and Vec<u8> a varint length then the bytes; Vec<T> a varint count
// then the items; an enum a varint variant index then its fields; [u8; 32] 32 bare bytes.
// Numbers stay below 2^53 here, so plain JS numbers suffice (no bit operators: they are 32-bit).

class Writer {
  parts = [];
  varint(n) {
    const out = [];
    do {
      const low = n % 128;
      n = Math.floor(n / 128);
      out.push(n > 0 ? low | 0x80 : low);
    } while (n > 0);
    this.parts.push(Buffer.from(out));
  }
  zigzag(n) { this.varint(n >= 0 ? 2 * n : -2 * n - 1); }
  bytes(b) { this.varint(b.length); this.parts.push(Buffer.from(b)); }
  string(s) { this.bytes(Buffer.from(s, "utf8")); }
  finish() { return Buffer.concat(this.parts); }
}

class Reader {
  constructor(buf) { this.buf = buf; this.at = 0; }
  byte() {
    if (this.at >= this.buf.length) throw new Error("postcard: truncated");
    return this.buf[this.at++];
  }
  varint() {
    let value = 0;
    for (let scale = 1; ; scale *= 128) {
      const b = this.byte();
      value += (b & 0x7f) * scale;
      if (b < 0x80) return value;
    }
  }
  zigzag() { const v = this.varint(); return v % 2 === 0 ? v / 2 : -(v + 1) / 2; }
  bool() { return this.byte() === 1; }
  take(n) {
    if (this.at + n > this.buf.length) throw new Error("postcard: truncated");
    return this.buf.subarray(this.at, (this.at += n));
  }
  bytes() { return this.take(this.varint()); }
  string() { return this.bytes().toString("utf8"); }
  list(item) { return Array.from({ length: this.varint() }, () => item(this)); }
}

/// SyncRequest { protocol: u32, cursor: i64, scope: String, pushes: Vec<Push { household:
/// String, changes: Vec<Vec<u8>> }>, want_full: Vec<String>, max_pull_bytes: u32 }, then raw
/// DEFLATE (RFC 1951: no zlib or gzip header; flate2's DeflateEncoder), sent as the whole body.
export function encodeSyncRequest(req) {
  const w = new Writer();
  w.varint(req.protocol);
  w.zigzag(req.cursor);
  w.string(req.scope);
  w.varint(req.pushes.length);
  for (const push of req.pushes) {
    w.string(push.household);
    w.varint(push.changes.length);
    for (const change of push.changes) w.bytes(change);
  }
  w.varint(req.want_full.length);
  for (const id of req.want_full) w.string(id);
  w.varint(req.max_pull_bytes);
  return deflateRawSync(w.finish());
}

/// SyncResponse { results: Vec<PushResult { household, outcome: PushOutcome }>, pulled:
/// Vec<PulledChange { household, change }>, cursor: i64, more: bool, scope: String }, where
/// PushOutcome is 0 Accepted { heads: Vec<[u8; 32]> }, 1 NeedAll, 2 Rejected { code, message }.
export function decodeSyncResponse(body) {
  const r = new Reader(inflateRawSync(body));
  const outcome = (r) => {
    const tag = r.varint();
    // Over HTTP `heads` is always empty (bundle files carry them).
    if (tag === 0) return { kind: "accepted", heads: r.list((r) => r.take(32).toString("hex")) };
    if (tag === 1) return { kind: "need_all" };
    if (tag === 2) return { kind: "rejected", code: r.string(), message: r.string() };
    throw new Error(`unknown PushOutcome ${tag}`);
  };
  const res = {
    results: r.list((r) => ({ household: r.string(), outcome: outcome(r) })),
    pulled: r.list((r) => ({ household: r.string(), change: r.bytes() })),
    cursor: r.zigzag(),
    more: r.bool(),
    scope: r.string(),
  };
  if (r.at !== r.buf.length) throw new Error("postcard: trailing bytes");
  return res;
}

// ---- packed changes (shared/src/doc/packed.rs). A change chunk is magic(4) checksum(4)
// type(1) uleb(len) data; data opens with uleb(#deps) and the 32-byte dependency hashes. A
// packed entry is 0x01, uleb(#deps), per dependency uleb(0) + the hash or uleb(k ≥ 1) = the hash
// of the entry k places earlier in the same sequence (one push; or the whole response), then the
// rest of data. The receiver rebuilds the chunk byte for byte: checksum = first 4 bytes of the
// change hash = SHA-256(type, uleb(len), data). Anything else travels in full.

const MAGIC = Buffer.from([0x85, 0x6f, 0x4a, 0x83]);

function uleb(n) { const w = new Writer(); w.varint(n); return w.finish(); }

/// Reads a minimal LEB128 (a non-minimal one could not be rebuilt byte for byte).
function readUleb(buf, at) {
  const r = new Reader(buf);
  r.at = at;
  const value = r.varint();
  if (r.at - at > 1 && buf[r.at - 1] === 0) throw new Error("non-minimal uleb");
  return [value, r.at];
}

const changeHash = (data) =>
  createHash("sha256").update(Buffer.from([1])).update(uleb(data.length)).update(data).digest();

/// The data and hash of an uncompressed change chunk with automerge's own header, else null.
function parseChunk(chunk) {
  try {
    if (chunk.length < 10 || !MAGIC.equals(chunk.subarray(0, 4)) || chunk[8] !== 1) return null;
    const [len, start] = readUleb(chunk, 9);
    const data = chunk.subarray(start);
    const hash = changeHash(data);
    if (len !== data.length || !hash.subarray(0, 4).equals(chunk.subarray(4, 8))) return null;
    return { data, hash };
  } catch {
    return null;
  }
}

const MAX_PACKED_DEPS = 64; // more dependencies than this travel in full

export function packChanges(chunks) {
  const hashes = []; // the hash of every entry so far (null when unknown), as unpacking counts
  return chunks.map((chunk) => {
    chunk = Buffer.from(chunk);
    const parsed = parseChunk(chunk);
    const [count, start] = parsed ? readUleb(parsed.data, 0) : [0, 0];
    if (!parsed || count > MAX_PACKED_DEPS) {
      hashes.push(parsed?.hash ?? null);
      return chunk;
    }
    const out = [Buffer.from([1]), uleb(count)];
    let at = start;
    for (let i = 0; i < count; i++, at += 32) {
      const dep = parsed.data.subarray(at, at + 32);
      const earlier = hashes.findLastIndex((h) => h?.equals(dep));
      out.push(earlier >= 0 ? uleb(hashes.length - earlier) : Buffer.concat([uleb(0), dep]));
    }
    out.push(parsed.data.subarray(at));
    hashes.push(parsed.hash);
    return Buffer.concat(out);
  });
}

function unpackOne(entry, hashes) {
  let [count, at] = readUleb(entry, 1);
  if (count > MAX_PACKED_DEPS) throw new Error("too many dependencies");
  const data = [uleb(count)];
  for (let i = 0; i < count; i++) {
    let back;
    [back, at] = readUleb(entry, at);
    const dep = back === 0 ? entry.subarray(at, (at += 32)) : hashes[hashes.length - back];
    if (dep?.length !== 32) throw new Error("unresolvable dependency");
    data.push(dep);
  }
  data.push(entry.subarray(at));
  const body = Buffer.concat(data);
  const hash = changeHash(body);
  const header = [MAGIC, hash.subarray(0, 4), Buffer.from([1]), uleb(body.length)];
  return [Buffer.concat([...header, body]), hash];
}

export function unpackChanges(entries) {
  const hashes = [];
  return entries.map((entry) => {
    let [full, hash] = [entry, null];
    if (entry[0] === 1) {
      try {
        [full, hash] = unpackOne(entry, hashes);
      } catch {
        // Left as it came, for automerge to refuse.
      }
    } else {
      hash = parseChunk(entry)?.hash ?? null;
    }
    hashes.push(hash);
    return new Uint8Array(full);
  });
}

// ---- HTTP: the device API of server/src/http.rs. Errors are JSON {code, error}.

async function call(url, init, alsoOk = []) {
  const res = await fetch(url, init);
  if (!res.ok && !alsoOk.includes(res.status)) {
    const body = await res.text();
    throw new Error(`${init.method} ${url}: HTTP ${res.status} ${body}`);
  }
  return res;
}

/// POST /api/enroll: the device chooses its id (^[A-Za-z0-9-]{1,64}$) and Automerge actor (32 hex
/// digits, unique per device: every change it writes must carry it) and gets a bearer token.
export async function enroll(server, username, password, deviceName) {
  const device = `js-${randomUUID()}`;
  const actor = randomBytes(16).toString("hex");
  const res = await call(`${server}/api/enroll`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ username, password, device_id: device, device_name: deviceName, actor }),
  });
  const { token, user_id: user, user_name: name } = await res.json();
  // cursor 0 and an empty scope: the first pull starts from the beginning.
  return { server, device, actor, user, name, token, cursor: 0, scope: "" };
}

/// One round of POST /api/sync: pushes (household → full change chunks) go up packed, the pulled
/// changes come back unpacked. The caller keeps `cursor` and `scope` from the answer.
export async function syncRound(session, pushes = [], wantFull = []) {
  const body = encodeSyncRequest({
    protocol: PROTOCOL,
    cursor: session.cursor,
    scope: session.scope,
    pushes: pushes.map((p) => ({ household: p.household, changes: packChanges(p.changes) })),
    want_full: wantFull,
    max_pull_bytes: MAX_PULL_BYTES,
  });
  const res = await call(`${session.server}/api/sync`, {
    method: "POST",
    headers: { authorization: `Bearer ${session.token}`, "content-type": SYNC_TYPE },
    body,
  });
  const answer = decodeSyncResponse(Buffer.from(await res.arrayBuffer()));
  // Back references span the whole response, across households.
  const full = unpackChanges(answer.pulled.map((p) => p.change));
  answer.pulled.forEach((p, i) => (p.change = full[i]));
  return answer;
}

/// Resumable upload (server/src/attachments.rs): ask where the server's copy ends, then PUT
/// chunks at `?offset=&total=` with the image's type; a 409 names the offset to resume at.
export async function uploadAttachment(session, bytes, mime) {
  const hash = createHash("sha256").update(bytes).digest("hex");
  const auth = { authorization: `Bearer ${session.token}` };
  const status = await call(`${session.server}/api/attachments/status`, {
    method: "POST",
    headers: { ...auth, "content-type": "application/json" },
    body: JSON.stringify({ hashes: [hash] }),
  }).then((r) => r.json());
  // Only the hashes the server lacks are listed; a complete one is not.
  const missing = status.missing.find((m) => m.hash === hash);
  let state = missing ?? { offset: bytes.length, complete: true };
  let sent = 0;
  while (!state.complete) {
    const { offset } = state;
    const chunk = bytes.subarray(offset, offset + UPLOAD_CHUNK);
    const url = `${session.server}/api/attachments/${hash}?offset=${offset}&total=${bytes.length}`;
    const headers = { ...auth, "content-type": mime };
    const res = await call(url, { method: "PUT", headers, body: chunk }, [409]);
    if (res.ok) sent += chunk.length;
    state = await res.json(); // UploadState {hash, offset, complete}, on 200 and on 409 alike
  }
  return { hash, bytes: bytes.length, sent, complete: state.complete };
}

// ---- the household document (shared/src/doc/mod.rs, shared/src/model/): maps only, keyed by
// id; enums as their codes; sets as {code: true}; money integer fen; strings immutable scalars.

/// A string value. A plain JS string would become a Text object (collaborative text), which the
/// household layout does not allow: the server refuses the push as `invalid_document`.
export const str = (s) => new Automerge.ImmutableString(s);

/// Options of every change: the message names the signed-in user and the device as the server
/// enrolled it (else `forged_author`), and the time is milliseconds since the Unix epoch.
/// automerge-js defaults to seconds, which Rust readers date in January 1970 and the server
/// refuses as `implausible_time`.
export const authored = (session) => ({
  message: JSON.stringify({ u: session.user, d: session.device }),
  time: Date.now(),
});

/// A document as plain JSON. Read directly, a string value is an ImmutableString object, not a
/// JS string: compare `String(doc.info.phone)`.
export const plain = (doc) => JSON.parse(JSON.stringify(doc));

export const newId = () => randomUUID().replaceAll("-", "");

/// Syncs until nothing is left to push or pull, as client/src/sync.rs does: `pushes` go up in
/// the first round (with the first pull), then page after page comes down. `docs` (household id
/// → Automerge document) takes the pulled changes; `session.cursor` and `.scope` move on. Returns
/// each pushed household's last outcome and the number of changes pulled.
export async function sync(session, docs, pushes = []) {
  const outcomes = {};
  let pulled = 0;
  let wantFull = [];
  for (let round = 1; ; round++) {
    if (round > 20) throw new Error("sync: still more to do after 20 rounds");
    const answer = await syncRound(session, pushes, wantFull);
    for (const r of answer.results) outcomes[r.household] = r.outcome;
    // NeedAll: the server lacks what the changes depend on, so the whole household goes again.
    pushes = answer.results
      .filter((r) => r.outcome.kind === "need_all")
      .map(({ household }) => ({
        household,
        changes: Automerge.getAllChanges(docs.get(household)),
      }));
    const askedFull = wantFull.length > 0;
    const byHousehold = new Map();
    for (const { household, change } of answer.pulled) {
      byHousehold.set(household, [...(byHousehold.get(household) ?? []), change]);
    }
    for (const [id, changes] of byHousehold) {
      const doc = docs.get(id) ?? Automerge.init({ actor: session.actor });
      docs.set(id, Automerge.applyChanges(doc, changes)[0]);
      pulled += changes.length;
    }
    // A household whose pulled changes lack a dependency (it moved into the user's areas, say)
    // is asked for in full next round.
    const incomplete = (id) => Automerge.getMissingDeps(docs.get(id), []).length > 0;
    wantFull = [...byHousehold.keys()].filter(incomplete);
    session.cursor = answer.cursor;
    session.scope = answer.scope;
    const done = wantFull.length === 0 || askedFull; // ask for a household in full only once
    if (!answer.more && pushes.length === 0 && done) break;
  }
  return { outcomes, pulled };
}
