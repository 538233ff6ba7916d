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

function showErrors(form, body) {
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
  if (first) first.scrollIntoView({ block: "center" });
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

function wireForm(form, extra) {
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    if (form.dataset.confirm && !window.confirm(form.dataset.confirm)) return;
    const button = form.querySelector("button[type=submit]");
    button.disabled = true;
    try {
      const data = collect(form);
      if (extra) Object.assign(data, await extra(form));
      const res = await sendJson(form.dataset.api, form.dataset.method || "POST", data);
      if (res.ok) {
        location.href = (res.json && res.json.redirect) || form.dataset.back || "/";
        return;
      }
      showErrors(form, res.json || { error: "保存失败(" + res.status + ")" });
    } catch (e) {
      showErrors(form, { error: "保存失败:" + e.message });
    } finally {
      button.disabled = false;
    }
  });
}

// ---- Household form: member cards and the live verdict --------------------------------------

let newMembers = 0;
function addMemberCard() {
  const tpl = document.getElementById("member-template");
  newMembers += 1;
  const key = "new" + newMembers;
  const html = tpl.innerHTML.replaceAll("__KEY__", key);
  const holder = document.createElement("div");
  holder.innerHTML = html;
  const card = holder.firstElementChild;
  document.getElementById("member-cards").appendChild(card);
  card.querySelector(".remove-member").addEventListener("click", () => { card.remove(); schedulePreview(); });
  card.querySelector("input").focus();
}

let previewTimer = null;
function schedulePreview() {
  clearTimeout(previewTimer);
  previewTimer = setTimeout(runPreview, 250);
}

async function runPreview() {
  const form = document.getElementById("household-form");
  if (!form) return;
  const res = await sendJson(form.dataset.preview, "POST", collect(form));
  if (!res.ok || !res.json) return;
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
  showErrors(form, Object.keys(p.fields).length ? { fields: p.fields } : null);
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

async function uploadBlob(blob, type) {
  const res = await send("/api/attachments", "POST", blob, { "Content-Type": type });
  if (!res.ok) throw new Error((res.json && res.json.error) || "上传失败");
  return res.json.hash;
}

const photoHashes = [];
let pendingPhotos = 0;
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
        photoHashes.push(hash);
        const img = document.createElement("img");
        img.src = "/a/" + hash;
        img.alt = "照片";
        document.getElementById("photo-thumbs").appendChild(img);
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
  const end = () => { drawing = false; };
  canvas.addEventListener("pointerup", end);
  canvas.addEventListener("pointercancel", end);
  wrap.querySelector(".clear-pad").addEventListener("click", () => {
    ctx.clearRect(0, 0, canvas.width, canvas.height);
    wrap.dataset.signed = "";
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

// ---- Sync: start it, then show its progress until it ends ---------------------------------

function describeSync(s) {
  const r = s.report;
  const lines = [];
  if (s.running) lines.push("正在同步……");
  if (r) {
    lines.push(`往返 ${r.rounds} 次:上传 ${r.accepted} 户,下载 ${r.pulled_changes} 项变更,更新本机 ${r.households_updated} 户`);
    lines.push(`照片与签名上传 ${r.attachments_uploaded} 个;上行 ${r.bytes_up} 字节,下行 ${r.bytes_down} 字节`);
    if (r.households_removed) lines.push(`${r.households_removed} 户已调出您的负责区域,已从本设备移除`);
    if (r.removed_unsent) lines.push(`其中 ${r.removed_unsent} 户有尚未上传的修改,已随之舍弃(调出后服务器不再接受本设备对其的修改)`);
    for (const x of r.rejected || []) lines.push(`未被接受:${x.household} —— ${x.message}`);
  }
  if (!s.running && s.error) lines.push("同步未完成:" + s.error + "(已完成的部分不会丢失,可再次同步)");
  else if (!s.running && s.finished_at) lines.push("同步完成:" + s.finished_at);
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

document.addEventListener("DOMContentLoaded", () => {
  for (const f of document.querySelectorAll('form[action="/lock"]')) wireLock(f);
  const hf = document.getElementById("household-form");
  if (hf) {
    wireForm(hf);
    document.getElementById("add-member").addEventListener("click", () => { addMemberCard(); schedulePreview(); });
    hf.addEventListener("input", schedulePreview);
    hf.addEventListener("change", schedulePreview);
    runPreview();
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
});
