// Zoufang client pages: form submission as JSON, live verdict, member cards, photos, signatures.
// Every rule lives on the device's server; this script only collects, sends and shows.
"use strict";

/** Every named input of a form as {name: text}; sets as comma-joined codes. */
function collect(form) {
  const data = {};
  for (const el of form.querySelectorAll("input[name], select[name], textarea[name]")) {
    if (el.type === "file") continue;
    if (el.type === "checkbox") data[el.name] = el.checked ? "true" : "false";
    else if (el.type === "radio") { if (el.checked) data[el.name] = el.value; }
    else data[el.name] = el.value;
  }
  for (const set of form.querySelectorAll("[data-set]")) {
    data[set.dataset.set] = [...set.querySelectorAll("input:checked")].map((i) => i.value).join(",");
  }
  return data;
}

function showErrors(form, body, quiet) {
  for (const p of form.querySelectorAll("[data-err-for]")) p.textContent = "";
  for (const f of form.querySelectorAll(".field.invalid")) f.classList.remove("invalid");
  if (!body) return;
  const fields = body.fields || {};
  let first = null;
  for (const [name, message] of Object.entries(fields)) {
    const p = form.querySelector(`[data-err-for="${CSS.escape(name)}"]`) || form.querySelector('[data-err-for="form"]');
    p.textContent = message;
    const wrap = p.closest(".field");
    if (wrap) wrap.classList.add("invalid");
    first = first || p;
  }
  const top = form.querySelector('[data-err-for="form"]');
  if (top && body.error) {
    top.textContent = body.error + (body.details && body.details.length ? ":" : "");
    const list = form.querySelector(".failures");
    if (list) {
      list.textContent = "";
      for (const d of body.details || []) {
        const li = document.createElement("li");
        li.textContent = d;
        list.appendChild(li);
      }
    }
    first = first || top;
  }
  markStepErrors(form);
  if (first && !quiet) {
    const step = first.closest("section.step");
    if (step && step.hidden && form.goToStep) form.goToStep(step.dataset.step);
    first.scrollIntoView({ block: "center" });
  }
}

/** Marks the step tabs whose step holds an error message. */
function markStepErrors(form) {
  for (const tab of form.querySelectorAll(".step-tab")) {
    const step = form.querySelector(`section.step[data-step="${tab.dataset.goto}"]`);
    const bad = step && [...step.querySelectorAll(".err")].some((p) => p.textContent !== "");
    tab.classList.toggle("has-err", !!bad);
  }
}

async function send(url, method, body, headers) {
  const res = await fetch(url, { method, body, headers, credentials: "same-origin" });
  let json = null;
  try { json = await res.json(); } catch (_) { /* empty body */ }
  return { ok: res.ok, status: res.status, json };
}

async function sendJson(url, method, data) {
  return send(url, method, JSON.stringify(data), { "Content-Type": "application/json" });
}

// ---- Generic JSON forms ----------------------------------------------------------------------

/** The unlock page, coming back to this page (whose draft then comes back too). */
function unlockAndReturn() {
  location.href = "/unlock?next=" + encodeURIComponent(location.pathname + location.search);
}

/** A save that met the lock: the draft keeps the form for after the unlock, which returns here. */
async function keepForUnlock(form) {
  await saveDraftNow(form);
  unlockAndReturn();
}

function wireForm(form, extra) {
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    if (form.dataset.confirm && !window.confirm(form.dataset.confirm)) return;
    const button = (ev.submitter && ev.submitter.type === "submit") ? ev.submitter : form.querySelector("button[type=submit]");
    button.disabled = true;
    try {
      const data = collect(form);
      if (extra) Object.assign(data, await extra(form));
      const res = await sendJson(form.dataset.api, form.dataset.method || "POST", data);
      if (res.ok) {
        await draftSaved(form);
        let next = (res.json && res.json.redirect) || form.dataset.back || "/";
        if (button.dataset.then) next += "/" + button.dataset.then;
        location.href = next;
        return;
      }
      if (res.status === 423) {
        await keepForUnlock(form);
        return;
      }
      showErrors(form, res.json || { error: "保存失败(" + res.status + ")" });
    } catch (e) {
      // A signature stored on saving met the lock.
      if (e instanceof Locked) {
        await keepForUnlock(form);
        return;
      }
      showErrors(form, { error: "保存失败:" + e.message });
    } finally {
      button.disabled = false;
    }
  });
}

// ---- Household form: member cards and the live verdict --------------------------------------

let newMembers = 0;
/** A new member's card (under `key`, when a draft names it), the only one open: one member on
 * the screen at a time. */
function addMemberCard(key, focus) {
  const tpl = document.getElementById("member-template");
  if (!key) {
    do { newMembers += 1; key = "new" + newMembers; } while (document.querySelector(`[data-member="${key}"]`));
  }
  const html = tpl.innerHTML.replaceAll("__KEY__", key);
  const holder = document.createElement("div");
  holder.innerHTML = html;
  const card = holder.firstElementChild;
  for (const open of document.querySelectorAll("#member-cards details[open]")) open.open = false;
  document.getElementById("member-cards").appendChild(card);
  card.querySelector(".remove-member").addEventListener("click", () => {
    card.remove();
    schedulePreview();
    scheduleDraft(card.closest("form") || document.getElementById("household-form"));
  });
  wireMemberCard(card);
  if (focus) card.querySelector("select, input").focus();
  return card;
}

/** The ID number gives sex and age: sex is filled in when empty, age drives the skips. */
function wireMemberCard(card) {
  const id = card.querySelector('[name$=".id_number"]');
  const sex = card.querySelector('[name$=".sex"]');
  const name = card.querySelector('[name$=".name"]');
  const relation = card.querySelector('[name$=".relation"]');
  if (id && sex) {
    id.addEventListener("input", () => {
      const v = id.value.trim();
      if (/^\d{17}[\dXx]$/.test(v) && !sex.value) sex.value = Number(v[16]) % 2 ? "male" : "female";
    });
  }
  const title = () => {
    card.querySelector(".member-name").textContent = (name && name.value.trim()) || "新成员";
    const opt = relation && relation.selectedOptions[0];
    card.querySelector(".member-relation").textContent = relation && relation.value ? opt.textContent : "";
  };
  if (name) name.addEventListener("input", title);
  if (relation) relation.addEventListener("change", title);
}

/** Age in whole years from an 18-digit ID number, or null. */
function ageFromId(text) {
  const v = (text || "").trim();
  if (!/^\d{17}[\dXx]$/.test(v)) return null;
  const born = new Date(Number(v.slice(6, 10)), Number(v.slice(10, 12)) - 1, Number(v.slice(12, 14)));
  const now = new Date();
  let age = now.getFullYear() - born.getFullYear();
  if (now < new Date(now.getFullYear(), born.getMonth(), born.getDate())) age -= 1;
  return age;
}

/** Skip logic: each field with `data-show-if` shows only when the answer it depends on says so
 * (see `show_if` in pages.rs). Hidden fields keep their values. */
function applySkips(form) {
  for (const field of form.querySelectorAll(".field[data-show-if]")) {
    const scope = field.closest("details.member") || form;
    let rule = field.dataset.showIf;
    let show = true;
    if (rule.startsWith("age:")) {
      const [from, to] = rule.slice(4).split("-").map(Number);
      const id = scope.querySelector('[name$=".id_number"]');
      const age = ageFromId(id && id.value);
      show = age === null || (age >= from && age <= to);
    } else {
      const negate = rule.startsWith("!");
      if (negate) rule = rule.slice(1);
      const [key, values] = rule.split("=");
      const el = scope.querySelector(`[name$=".${key}"]`);
      const value = el ? el.value : "";
      const hit = values === "*" ? value !== "" : values.split("|").includes(value);
      show = negate ? !hit : hit;
    }
    field.hidden = !show;
  }
}

/** Required inputs say so as soon as they are left empty. */
function wireRequired(form) {
  form.addEventListener("focusout", (ev) => {
    const field = ev.target.closest && ev.target.closest(".field[data-required]");
    if (!field || !ev.target.name) return;
    const p = field.querySelector("[data-err-for]");
    const label = field.querySelector("label");
    const name = label ? label.textContent.replace("*", "").trim() : "此项";
    const empty = ev.target.value.trim() === "";
    if (empty) {
      p.textContent = `「${name}」为必填项`;
      field.classList.add("invalid");
    } else if (p.textContent.endsWith("为必填项")) {
      p.textContent = "";
      field.classList.remove("invalid");
    }
    markStepErrors(form);
  });
}

let previewTimer = null;
function schedulePreview() {
  clearTimeout(previewTimer);
  previewTimer = setTimeout(runPreview, 250);
}

// Answers may come back out of order: only the latest request's is shown.
let previewSeq = 0;
async function runPreview() {
  const form = document.getElementById("household-form");
  if (!form) return;
  const seq = ++previewSeq;
  const res = await sendJson(form.dataset.preview, "POST", collect(form));
  if (seq !== previewSeq || !res.ok || !res.json) return;
  const p = res.json;
  document.getElementById("per-capita-live").textContent = p.per_capita || "—";
  const box = document.getElementById("verdict");
  box.classList.toggle("ok", p.passed);
  box.textContent = "";
  const head = document.createElement("p");
  head.className = "headline";
  head.textContent = p.passed ? "✓ 符合两不愁三保障及收入标准" : "✗ 未达标";
  box.appendChild(head);
  if (p.per_capita) {
    const pc = document.createElement("p");
    pc.id = "per-capita";
    pc.textContent = `人均纯收入:${p.per_capita} 元(${p.size} 人)`;
    box.appendChild(pc);
  }
  if (p.standard) {
    const st = document.createElement("p");
    st.className = "muted";
    st.id = "standard";
    st.textContent = "标准:" + p.standard;
    box.appendChild(st);
  }
  if (p.notice) {
    const n = document.createElement("p");
    n.className = "notice";
    n.id = "standard-notice";
    n.textContent = p.notice;
    box.appendChild(n);
  }
  const ul = document.createElement("ul");
  ul.className = "failures";
  for (const f of p.failures) {
    const li = document.createElement("li");
    const b = document.createElement("strong");
    b.textContent = f.criterion;
    li.append(b, ":" + f.message);
    ul.appendChild(li);
  }
  box.appendChild(ul);
  showErrors(form, Object.keys(p.fields).length ? { fields: p.fields } : null, true);
}

// ---- Photos: downscale on the device before they are stored for sync ------------------------

const MAX_PIXELS = 1600;

function loadImage(file) {
  return new Promise((resolve, reject) => {
    const url = URL.createObjectURL(file);
    const img = new Image();
    img.onload = () => resolve({ img, url });
    img.onerror = () => { URL.revokeObjectURL(url); reject(new Error("无法读取图片")); };
    img.src = url;
  });
}

async function downscale(file) {
  const { img, url } = await loadImage(file);
  const scale = Math.min(1, MAX_PIXELS / Math.max(img.naturalWidth, img.naturalHeight));
  const canvas = document.createElement("canvas");
  canvas.width = Math.max(1, Math.round(img.naturalWidth * scale));
  canvas.height = Math.max(1, Math.round(img.naturalHeight * scale));
  canvas.getContext("2d").drawImage(img, 0, 0, canvas.width, canvas.height);
  URL.revokeObjectURL(url);
  return new Promise((resolve) => canvas.toBlob(resolve, "image/jpeg", 0.85));
}

/** The UI locked itself while a photo or signature was being stored. */
class Locked extends Error {}

async function uploadBlob(blob, type) {
  const res = await send("/api/attachments", "POST", blob, { "Content-Type": type });
  if (res.status === 423) throw new Locked((res.json && res.json.error) || "已锁定");
  if (!res.ok) throw new Error((res.json && res.json.error) || "上传失败");
  return res.json.hash;
}

const photoHashes = [];
let pendingPhotos = 0;
function addPhoto(hash) {
  if (photoHashes.includes(hash)) return;
  photoHashes.push(hash);
  const img = document.createElement("img");
  img.src = "/a/" + hash;
  img.alt = "照片";
  document.getElementById("photo-thumbs").appendChild(img);
}
function wirePhotos(input) {
  const form = input.form;
  input.addEventListener("change", async () => {
    const errP = form.querySelector('[data-err-for="photos"]');
    errP.textContent = "";
    for (const file of input.files) {
      pendingPhotos += 1;
      try {
        const small = await downscale(file);
        const hash = await uploadBlob(small, "image/jpeg");
        // The original stays on this device for a later look; failure here loses nothing synced.
        if (file.type === "image/jpeg" || file.type === "image/png") {
          await send(`/api/attachments/${hash}/original`, "POST", file, { "Content-Type": file.type });
        }
        addPhoto(hash);
        scheduleDraft(form);
      } catch (e) {
        errP.textContent = "照片保存失败:" + e.message;
      } finally {
        pendingPhotos -= 1;
      }
    }
    input.value = "";
  });
}

// ---- Signature pads ---------------------------------------------------------------------------

function wirePad(wrap) {
  const canvas = wrap.querySelector("canvas");
  const ctx = canvas.getContext("2d");
  ctx.lineWidth = 4;
  ctx.lineCap = "round";
  ctx.strokeStyle = "#111";
  let drawing = false;
  wrap.dataset.signed = "";
  const at = (ev) => {
    const r = canvas.getBoundingClientRect();
    return [(ev.clientX - r.left) * (canvas.width / r.width), (ev.clientY - r.top) * (canvas.height / r.height)];
  };
  canvas.addEventListener("pointerdown", (ev) => {
    drawing = true;
    canvas.setPointerCapture(ev.pointerId);
    ctx.beginPath();
    ctx.moveTo(...at(ev));
  });
  canvas.addEventListener("pointermove", (ev) => {
    if (!drawing) return;
    ctx.lineTo(...at(ev));
    ctx.stroke();
    wrap.dataset.signed = "1";
  });
  const end = () => {
    if (drawing && wrap.dataset.signed) scheduleDraft(wrap.closest("form"));
    drawing = false;
  };
  canvas.addEventListener("pointerup", end);
  canvas.addEventListener("pointercancel", end);
  wrap.querySelector(".clear-pad").addEventListener("click", () => {
    ctx.clearRect(0, 0, canvas.width, canvas.height);
    wrap.dataset.signed = "";
    scheduleDraft(wrap.closest("form"));
  });
}

async function signatures(form) {
  const out = [];
  for (const wrap of form.querySelectorAll(".signature")) {
    if (!wrap.dataset.signed) continue;
    const blob = await new Promise((r) => wrap.querySelector("canvas").toBlob(r, "image/png"));
    out.push({ role: wrap.dataset.role, hash: await uploadBlob(blob, "image/png") });
  }
  return out;
}

// ---- Drafts: what is typed is kept on the device as it is typed --------------------------------

// Per form: the debounce timer, whether typing is not yet kept, and whether the form holds
// anything not saved (kept as a draft or not).
const drafts = new Map();
function draftOf(form) {
  if (!drafts.has(form)) drafts.set(form, { timer: null, pending: false, dirty: false, done: false, edits: 0 });
  return drafts.get(form);
}

function draftUrl(form) {
  return "/api/drafts?form=" + encodeURIComponent(form.dataset.draft);
}

/** The form's state as its draft keeps it: the inputs, and on the visit form the photos taken
 * and the signatures drawn (as images). */
function draftData(form) {
  const data = collect(form);
  if (form.id === "visit-form") {
    data._photos = photoHashes.slice();
    data._signatures = {};
    for (const wrap of form.querySelectorAll(".signature")) {
      if (wrap.dataset.signed) data._signatures[wrap.dataset.role] = wrap.querySelector("canvas").toDataURL("image/png");
    }
  }
  return data;
}

function scheduleDraft(form) {
  if (!form || !form.dataset.draft) return;
  const d = draftOf(form);
  if (d.done) return;
  d.pending = true;
  d.dirty = true;
  d.edits += 1;
  document.documentElement.dataset.draft = "pending";
  clearTimeout(d.timer);
  d.timer = setTimeout(() => saveDraftNow(form), 500);
}

/** Keeps the form's state as its draft now. Saves run one after another, so an older state
 * never lands after a newer one. */
function saveDraftNow(form) {
  if (!form || !form.dataset.draft) return Promise.resolve();
  const d = draftOf(form);
  clearTimeout(d.timer);
  d.chain = (d.chain || Promise.resolve()).then(() => putDraft(form, d));
  return d.chain;
}

async function putDraft(form, d) {
  if (d.done || !d.dirty) return;
  const edits = d.edits;
  try {
    const res = await sendJson(draftUrl(form), "PUT", draftData(form));
    // Typing that came in while this was on its way is not kept yet: its own save follows.
    if (res.ok && d.edits === edits) {
      d.pending = false;
      const held = res.json && res.json.held;
      // For whoever checks that typing is kept (the browser tests): "saved" or "held".
      document.documentElement.dataset.draft = held ? "held" : "saved";
      draftNote(form, held ? "已自动锁定:刚填写的内容已暂存,解锁后回到本页继续。" : "", held);
    }
  } catch (_) { /* the next keystroke tries again */ }
}

/** After a save: the draft is done with. */
async function draftSaved(form) {
  if (!form.dataset.draft) return;
  const d = draftOf(form);
  clearTimeout(d.timer);
  d.done = true;
  d.pending = false;
  d.dirty = false;
  // A save still on its way would bring the draft back after the delete.
  await (d.chain || Promise.resolve());
  try { await send(draftUrl(form), "DELETE"); } catch (_) { /* kept: offered again next time */ }
}

function draftNote(form, text, unlockLink) {
  const note = form.querySelector(".draft-note");
  if (!note) return;
  note.textContent = text;
  note.hidden = !text;
  if (unlockLink) {
    const a = document.createElement("a");
    a.href = "#";
    a.textContent = " 解锁";
    a.addEventListener("click", (ev) => { ev.preventDefault(); unlockAndReturn(); });
    note.appendChild(a);
  }
}

/** Puts `data` (a draft) back into the form: member cards it names are made first. */
function applyDraft(form, data) {
  for (const name of Object.keys(data)) {
    const m = /^m\.([^.]+)\./.exec(name);
    if (m && !form.querySelector(`[data-member="${CSS.escape(m[1])}"]`)) addMemberCard(m[1], false);
  }
  for (const [name, value] of Object.entries(data)) {
    if (name.startsWith("_")) continue;
    const set = form.querySelector(`[data-set="${CSS.escape(name)}"]`);
    if (set) {
      const codes = String(value).split(",");
      for (const box of set.querySelectorAll("input")) box.checked = codes.includes(box.value);
      continue;
    }
    const els = form.querySelectorAll(`[name="${CSS.escape(name)}"]`);
    for (const el of els) {
      if (el.type === "checkbox") el.checked = value === "true";
      else if (el.type === "radio") el.checked = el.value === value;
      else el.value = value;
    }
  }
  for (const hash of data._photos || []) addPhoto(hash);
  for (const [role, url] of Object.entries(data._signatures || {})) {
    const wrap = form.querySelector(`.signature[data-role="${CSS.escape(role)}"]`);
    if (!wrap) continue;
    const canvas = wrap.querySelector("canvas");
    const img = new Image();
    img.onload = () => canvas.getContext("2d").drawImage(img, 0, 0);
    img.src = url;
    wrap.dataset.signed = "1";
  }
  for (const card of form.querySelectorAll("details.member")) {
    for (const el of card.querySelectorAll("[name]")) el.dispatchEvent(new Event("input"));
  }
}

/** Offers the form's draft back: restored at once, with a way to throw it away. */
async function restoreDraft(form) {
  if (!form.dataset.draft) return;
  let res;
  try { res = await send(draftUrl(form), "GET"); } catch (_) { return; }
  if (res.status === 423) { unlockAndReturn(); return; }
  const data = res.json && res.json.draft;
  if (!data) return;
  applyDraft(form, data);
  const d = draftOf(form);
  d.dirty = true;
  draftNote(form, "已恢复上次未保存的填写内容(尚未保存)。");
  const note = form.querySelector(".draft-note");
  if (note) {
    const drop = document.createElement("button");
    drop.type = "button";
    drop.className = "link";
    drop.textContent = "放弃草稿";
    drop.addEventListener("click", async () => {
      await draftSaved(form);
      location.reload();
    });
    note.append(" ", drop);
  }
}

/** Leaving a form with unsaved changes asks first. In-app links ask in words (the draft is
 * kept either way); closing the tab asks only while typing is not yet kept. */
function guardLeaving(form) {
  document.addEventListener("click", (ev) => {
    const a = ev.target.closest && ev.target.closest("a[href]");
    if (!a || a.closest("form") === form || !draftOf(form).dirty || draftOf(form).done) return;
    if (!window.confirm("本页填写的内容尚未保存(草稿已保留在本机,回到本页可继续)。确定离开?")) ev.preventDefault();
  });
  window.addEventListener("beforeunload", (ev) => {
    const d = draftOf(form);
    if (d.pending && !d.done) {
      saveDraftNow(form);
      ev.preventDefault();
      ev.returnValue = "";
    }
  });
}

function wireDrafts(form) {
  if (!form || !form.dataset.draft) return Promise.resolve();
  form.addEventListener("input", () => scheduleDraft(form));
  form.addEventListener("change", () => scheduleDraft(form));
  guardLeaving(form);
  return restoreDraft(form);
}

// ---- The household form in steps ----------------------------------------------------------------

function labelOf(form, name) {
  const field = form.querySelector(`.field[data-field="${CSS.escape(name)}"]`);
  const label = field && (field.querySelector("label[for]") || field.querySelector("label"));
  return label ? label.textContent.replace("*", "").trim() : name;
}

function shownValue(form, name, value) {
  const el = form.querySelector(`[name="${CSS.escape(name)}"]`);
  if (el && el.tagName === "SELECT") {
    const opt = [...el.options].find((o) => o.value === value);
    return opt ? opt.textContent : value;
  }
  if (el && el.type === "checkbox") return value === "true" ? "是" : "否";
  const set = form.querySelector(`[data-set="${CSS.escape(name)}"]`);
  if (set) return [...set.querySelectorAll("input:checked")].map((i) => i.parentElement.textContent.trim()).join("、");
  return value;
}

/** The review step: every answer that differs from the form as it was opened. */
function buildSummary(form, initial) {
  const list = document.getElementById("summary");
  if (!list) return;
  list.textContent = "";
  const now = collect(form);
  let n = 0;
  for (const [name, value] of Object.entries(now)) {
    if (name.startsWith("_") || (initial[name] ?? (value === "false" ? "false" : "")) === value) continue;
    const li = document.createElement("li");
    let label = labelOf(form, name);
    const m = /^m\.([^.]+)\./.exec(name);
    if (m) {
      const card = form.querySelector(`[data-member="${CSS.escape(m[1])}"] .member-name`);
      label = "成员 " + (card ? card.textContent : "") + " · " + label;
    }
    li.textContent = `${label}:${shownValue(form, name, value) || "(清空)"}`;
    list.appendChild(li);
    n += 1;
  }
  if (n === 0) {
    const li = document.createElement("li");
    li.className = "muted";
    li.textContent = "尚未修改任何内容。";
    list.appendChild(li);
  }
}

function wireSteps(form) {
  const steps = [...form.querySelectorAll("section.step")];
  if (!steps.length) return;
  const tabs = [...form.querySelectorAll(".step-tab")];
  const prev = document.getElementById("step-prev");
  const next = document.getElementById("step-next");
  const bar = document.getElementById("step-bar");
  const initial = collect(form);
  let current = 0;
  const show = (i) => {
    current = Math.max(0, Math.min(steps.length - 1, i));
    steps.forEach((s, j) => { s.hidden = j !== current; });
    tabs.forEach((t, j) => { t.classList.toggle("current", j === current); t.classList.toggle("done", j < current); });
    bar.style.width = `${Math.round(((current + 1) / steps.length) * 100)}%`;
    prev.disabled = current === 0;
    next.hidden = current === steps.length - 1;
    if (steps[current].dataset.step === "review") buildSummary(form, initial);
    const strip = tabs[current].parentElement;
    strip.scrollLeft = tabs[current].offsetLeft - strip.offsetLeft - 12;
    window.scrollTo(0, 0);
  };
  form.goToStep = (key) => show(steps.findIndex((s) => s.dataset.step === key));
  tabs.forEach((t) => t.addEventListener("click", () => form.goToStep(t.dataset.goto)));
  prev.addEventListener("click", () => show(current - 1));
  next.addEventListener("click", () => show(current + 1));
  form.classList.add("js");
  show(0);
}

// ---- Sync: start it, then show its progress until it ends ---------------------------------

/** The sync in the surveyor's words: households sent and received, photos n of m. */
function describeSync(s) {
  const r = s.report;
  const lines = [];
  if (s.running) {
    lines.push("正在同步,请保持网络连接……");
    if (r) {
      lines.push(`已发送 ${r.pushed_households} 户,已接收 ${r.households_updated} 户`);
      if (r.attachments_to_upload) lines.push(`照片与签名:${r.attachments_uploaded} / ${r.attachments_to_upload}`);
      if (r.retry_in) lines.push(`服务器繁忙,${r.retry_in} 秒后重试……`);
    }
  } else if (s.error) {
    lines.push(s.error);
    lines.push("已同步的部分不会丢失,可再次同步。");
  } else if (r && s.finished_at) {
    lines.push(`同步完成:上传 ${r.accepted} 户,接收 ${r.households_updated} 户的更新`);
    if (r.attachments_uploaded) lines.push(`照片与签名上传 ${r.attachments_uploaded} 个`);
    lines.push(s.new_conflicts ? `新出现冲突 ${s.new_conflicts} 户,请在农户页面核对` : "没有新的冲突");
    if (r.decisions_received) lines.push(`收到审核决定 ${r.decisions_received} 项`);
    if (r.households_removed) lines.push(`${r.households_removed} 户已调出您的负责区域,已从本设备移除`);
    if (r.removed_unsent) lines.push(`其中 ${r.removed_unsent} 户有尚未上传的修改,已随之舍弃(调出后服务器不再接受本设备对其的修改)`);
    for (const x of r.rejected || []) lines.push(`未被接受:${x.household} —— ${x.message}`);
    lines.push("完成时间:" + s.finished_at);
  }
  return lines;
}

function wireSync(button) {
  const box = document.getElementById("sync-progress");
  const show = (s) => {
    box.hidden = false;
    box.classList.toggle("ok", !s.error);
    box.textContent = "";
    for (const line of describeSync(s)) {
      const p = document.createElement("p");
      p.textContent = line;
      box.appendChild(p);
    }
    button.disabled = s.running;
  };
  const poll = async () => {
    const res = await send("/api/sync", "GET");
    if (res.json) show(res.json);
    if (res.json && res.json.running) setTimeout(poll, 500);
  };
  button.addEventListener("click", async () => {
    button.disabled = true;
    const res = await send("/api/sync", "POST");
    if (res.json) show(res.json);
    setTimeout(poll, 300);
  });
  poll();
}

// ---- Lock button --------------------------------------------------------------------------------

// The lock form must post this process's anti-forgery token (web/lock.rs). The page does not
// carry it, so it is read from the UI when the button is pressed, just before posting.
function wireLock(form) {
  form.addEventListener("submit", async (ev) => {
    if (form.querySelector('input[name="csrf"]')) return;
    ev.preventDefault();
    let token = "";
    try {
      const res = await fetch("/api/csrf", { credentials: "same-origin" });
      if (res.status === 423) { location.href = "/unlock"; return; } // already locked
      if (res.ok) token = (await res.json()).csrf || "";
    } catch (_) { /* posted without a token: the UI says the page has expired */ }
    const input = document.createElement("input");
    input.type = "hidden";
    input.name = "csrf";
    input.value = token;
    form.appendChild(input);
    form.submit();
  });
}

// ---- Wiring ------------------------------------------------------------------------------------

document.addEventListener("DOMContentLoaded", async () => {
  for (const f of document.querySelectorAll('form[action="/lock"]')) wireLock(f);
  const hf = document.getElementById("household-form");
  if (hf) {
    wireSteps(hf);
    wireForm(hf);
    wireRequired(hf);
    for (const card of hf.querySelectorAll("details.member")) wireMemberCard(card);
    document.getElementById("add-member").addEventListener("click", () => { addMemberCard(null, true); applySkips(hf); schedulePreview(); });
    hf.addEventListener("input", () => { applySkips(hf); schedulePreview(); });
    hf.addEventListener("change", () => { applySkips(hf); schedulePreview(); });
    applySkips(hf);
  }
  const vf = document.getElementById("visit-form");
  if (vf) {
    wirePhotos(document.getElementById("v-photo"));
    for (const pad of vf.querySelectorAll(".signature")) wirePad(pad);
    wireForm(vf, async (form) => {
      if (pendingPhotos > 0) throw new Error("照片仍在保存,请稍候");
      const data = collect(form);
      return {
        household_present: data.household_present,
        photos: photoHashes.slice(),
        signatures: await signatures(form),
      };
    });
  }
  const syncButton = document.getElementById("sync-start");
  if (syncButton) wireSync(syncButton);
  for (const id of ["case-form", "step-form"]) {
    const f = document.getElementById(id);
    if (f) wireForm(f);
  }
  for (const f of document.querySelectorAll("form.reset-form")) wireForm(f);
  // The first screen answers taps from here on; the draft, if any, follows.
  document.documentElement.dataset.ready = String(Math.round(performance.now()));
  for (const f of document.querySelectorAll("form[data-draft]")) await wireDrafts(f);
  if (hf) { applySkips(hf); runPreview(); }
  document.documentElement.dataset.restored = "1";
});
