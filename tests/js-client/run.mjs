// The reference client's scripted scenario, run by tests/tests/js_client.rs against a real server:
//
//   node run.mjs edit  --server URL --username U --household ID --state DIR [--phone 139…]
//   node run.mjs check --server URL --username U --household ID --state DIR
//
// The password comes from ZOUFANG_PASSWORD (never the command line: `ps` shows it); every flag
// may also come from the environment (ZOUFANG_SERVER, ZOUFANG_USERNAME, ZOUFANG_HOUSEHOLD,
// ZOUFANG_PHONE, ZOUFANG_JS_STATE). The first run enrolls a device; its token, cursor and
// documents stay in the state directory for the next. `edit` pulls, sets a phone and a distance,
// records a visit with a photo, pushes both changes and uploads the photo; `check` pulls and
// shows the household. Each prints one JSON object on stdout.

import { createHash, randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { crc32, deflateSync } from "node:zlib";
import * as Automerge from "@automerge/automerge";
import { authored, enroll, newId, plain, str, sync, uploadAttachment } from "./client.mjs";

const { values: flags, positionals } = parseArgs({
  allowPositionals: true,
  options: Object.fromEntries(
    ["server", "username", "household", "phone", "state"].map((f) => [f, { type: "string" }]),
  ),
});
const arg = (name, env, fallback) => {
  const value = flags[name] ?? process.env[env] ?? fallback;
  if (value === undefined) throw new Error(`missing --${name} (or ${env})`);
  return value;
};
const step = positionals[0];
if (step !== "edit" && step !== "check") throw new Error("usage: node run.mjs edit|check …");
const server = arg("server", "ZOUFANG_SERVER").replace(/\/+$/, "");
const household = arg("household", "ZOUFANG_HOUSEHOLD");
const dir = arg("state", "ZOUFANG_JS_STATE");

// The device's state: session.json (token, actor, cursor, scope) and each household's document,
// in plain files here; a real device keeps them encrypted (see the README's Device protection).
mkdirSync(dir, { recursive: true });
const sessionFile = join(dir, "session.json");
const session = existsSync(sessionFile)
  ? JSON.parse(readFileSync(sessionFile, "utf8"))
  : await enroll(
      server,
      arg("username", "ZOUFANG_USERNAME"),
      arg("password", "ZOUFANG_PASSWORD"),
      "JS reference client",
    );
const docs = new Map();
for (const file of readdirSync(dir).filter((f) => f.endsWith(".automerge"))) {
  const id = decodeURIComponent(file.slice(0, -".automerge".length));
  docs.set(id, Automerge.load(readFileSync(join(dir, file)), { actor: session.actor }));
}
const save = () => {
  writeFileSync(sessionFile, JSON.stringify(session, null, 2));
  for (const [id, doc] of docs) {
    writeFileSync(join(dir, `${encodeURIComponent(id)}.automerge`), Automerge.save(doc));
  }
};

const first = await sync(session, docs);
if (!docs.has(household)) throw new Error(`${household} was not pulled (not in the user's areas?)`);
const out = { step, device: session.device, user: session.user, pulled_changes: first.pulled };

if (step === "edit") {
  const before = docs.get(household);
  // One change: a string field and an integer one (metres; money would be integer fen).
  let doc = Automerge.change(before, authored(session), (d) => {
    d.info.phone = str(arg("phone", "ZOUFANG_PHONE", "13912345678"));
    d.living.distance_to_road_m = 1200;
  });
  // Another: a visit, keyed by a fresh id, with a photo. The photo's metadata is keyed by its
  // SHA-256 in `attachments`; the visit's `attachments` is a set, {hash: true}. Codes, not labels.
  const photo = png(300, 300);
  const hash = createHash("sha256").update(photo).digest("hex");
  const visit = newId();
  const now = new Date();
  doc = Automerge.change(doc, authored(session), (d) => {
    d.visits[visit] = {
      date: str(now.toISOString().slice(0, 10)),
      visitor: str(session.name),
      visitor_user: str(session.user),
      mode: str("in_person"),
      household_present: true,
      notes: str("JS 参考客户端走访"),
      attachments: { [hash]: true },
    };
    d.attachments[hash] = {
      kind: str("photo"),
      mime: str("image/png"),
      bytes: photo.length,
      width: 300,
      height: 300,
      captured_at: str(now.toISOString()),
      captured_by: str(session.user),
      visit: str(visit),
    };
  });
  docs.set(household, doc);
  // The push: this device's new changes, in causal order (the second depends on the first, so
  // it travels with a back reference instead of the first one's hash).
  const changes = Automerge.getChanges(before, doc);
  out.changes = changes.map((c) => {
    const { hash, time, message, deps } = Automerge.decodeChange(c);
    return { hash, time, message, deps, bytes: c.length };
  });
  const pushed = await sync(session, docs, [{ household, changes }]);
  out.outcome = pushed.outcomes[household];
  out.pulled_changes += pushed.pulled;
  out.visit = visit;
  // The photo after the sync that references it, as the Rust client does (either order works).
  out.photo = await uploadAttachment(session, photo, "image/png");
}

save();
out.household = plain(docs.get(household));
console.log(JSON.stringify(out));

/// A PNG of random RGB pixels: it does not compress, so it takes two upload chunks.
function png(width, height) {
  const chunk = (type, data) => {
    const body = Buffer.concat([Buffer.from(type, "ascii"), data]);
    const frame = Buffer.alloc(12 + data.length); // length, type, data, CRC-32 of type and data
    frame.writeUInt32BE(data.length, 0);
    body.copy(frame, 4);
    frame.writeUInt32BE(crc32(body), 4 + body.length);
    return frame;
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr.set([8, 2, 0, 0, 0], 8); // 8-bit RGB, no interlace
  const rows = [];
  for (let y = 0; y < height; y++) rows.push(Buffer.from([0]), randomBytes(width * 3));
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk("IHDR", ihdr),
    chunk("IDAT", deflateSync(Buffer.concat(rows))),
    chunk("IEND", Buffer.alloc(0)),
  ]);
}
