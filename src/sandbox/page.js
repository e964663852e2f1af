// The sandbox page: renders the workspace tocsin posts to, and turns what a
// person does into sandbox actions, which the server signs and hands to
// tocsin's Slack endpoints. No build step, no library.
"use strict";

const S = { users: [], channels: {}, messages: [], views: {}, services: [], bot: "", current: null, viewer: null };
const $ = (id) => document.getElementById(id);

const EMOJI = {
  rotating_light: "🚨", white_check_mark: "✅", warning: "⚠️", pushpin: "📌", x: "❌", repeat: "🔁",
  raising_hand: "🙋", pager: "📟", arrows_counterclockwise: "🔄", zzz: "💤", telephone_receiver: "📞",
  tada: "🎉", speech_balloon: "💬", mega: "📣", hourglass: "⌛", file_cabinet: "🗄️", crescent_moon: "🌙",
  construction: "🚧", bust_in_silhouette: "👤", busts_in_silhouette: "👥", bell: "🔔", bar_chart: "📊",
  arrow_down_small: "🔽", arrow_double_up: "⏫", alarm_clock: "⏰", fire: "🔥", eyes: "👀",
  large_green_circle: "🟢", red_circle: "🔴", memo: "📝", clock: "🕐",
};

function esc(s) {
  return String(s).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
}
function unescapeSlack(s) {
  return s.replace(/&lt;/g, "<").replace(/&gt;/g, ">").replace(/&amp;/g, "&");
}
function userName(id) {
  const u = S.users.find((x) => x.id === id);
  return u ? u.name : id === S.bot ? "tocsin" : id;
}
function viewerZone() {
  const u = S.users.find((x) => x.id === S.viewer);
  return u ? u.time_zone : undefined;
}
function when(seconds, style) {
  const opts = style === "time" ? { timeStyle: "short" } : { dateStyle: "medium", timeStyle: "short" };
  try {
    return new Intl.DateTimeFormat("en-GB", { ...opts, timeZone: viewerZone() }).format(new Date(seconds * 1000));
  } catch (_) {
    return new Date(seconds * 1000).toISOString();
  }
}

// Slack's `<…>` tokens: mentions, channels, dates, links.
function token(inner) {
  const [target, label] = inner.split("|", 2);
  if (target.startsWith("@")) return `<span class="mention">@${esc(userName(target.slice(1)))}</span>`;
  if (target.startsWith("#")) {
    const c = S.channels[target.slice(1)];
    return `<span class="mention">#${esc(c ? c.name : label || target.slice(1))}</span>`;
  }
  if (target.startsWith("!date^")) {
    const secs = Number(target.split("^")[1]);
    return Number.isFinite(secs) ? `<time datetime="${new Date(secs * 1000).toISOString()}">${esc(when(secs))}</time>` : esc(label || "");
  }
  if (target.startsWith("!")) return `<strong>@${esc(target.slice(1).split("^")[0])}</strong>`;
  const url = unescapeSlack(target);
  if (/^(https?:|mailto:)/.test(url)) return `<a href="${esc(url)}" rel="noopener noreferrer">${esc(unescapeSlack(label || url))}</a>`;
  return esc(unescapeSlack(inner));
}

function inline(escaped) {
  return escaped
    .replace(/`([^`\n]+)`/g, "<code>$1</code>")
    .replace(/(^|[\s(])\*([^*\n]+)\*(?=$|[\s).,:;!?])/g, "$1<strong>$2</strong>")
    .replace(/(^|[\s(])_([^_\n]+)_(?=$|[\s).,:;!?])/g, "$1<em>$2</em>")
    .replace(/(^|[\s(])~([^~\n]+)~(?=$|[\s).,:;!?])/g, "$1<del>$2</del>")
    .replace(/:([a-z0-9_+-]+):/g, (m, name) => EMOJI[name] ? `<span role="img" aria-label="${name}">${EMOJI[name]}</span>` : m);
}

function mrkdwn(text) {
  let out = "";
  const parts = String(text || "").split(/```/);
  parts.forEach((part, i) => {
    if (i % 2 === 1) { out += `<pre>${esc(unescapeSlack(part))}</pre>`; return; }
    const lines = part.split("\n").map((line) => {
      const quote = line.startsWith("&gt; ") || line.startsWith("> ");
      if (quote) line = line.replace(/^(&gt;|>) /, "");
      // Tokens become placeholders first, so *bold* and _italic_ may span them.
      const tokens = [];
      const marked = line.replace(/<([^<>]+)>/g, (m, inner) => {
        tokens.push(token(inner));
        return `\u0000${tokens.length - 1}\u0000`;
      });
      const html = inline(esc(unescapeSlack(marked))).replace(/\u0000(\d+)\u0000/g, (m, i) => tokens[Number(i)]);
      return quote ? `<blockquote>${html}</blockquote>` : html;
    });
    out += lines.join("<br>");
  });
  return out;
}

function textObject(t) {
  if (!t) return "";
  return t.type === "mrkdwn" ? mrkdwn(t.text) : inline(esc(t.text || ""));
}

function buttonHtml(el, block, m) {
  if (el.type !== "button") return "";
  const style = el.style === "primary" ? "primary" : el.style === "danger" ? "danger" : "";
  const label = (el.text && el.text.text) || el.action_id;
  if (el.url) return `<a class="button" href="${esc(el.url)}" rel="noopener noreferrer">${esc(label)}</a>`;
  return `<button type="button" class="${style}" data-click="1" data-channel="${esc(m.channel)}" data-ts="${esc(m.ts)}"
    data-action="${esc(el.action_id || "")}" data-block="${esc(block.block_id || "")}" data-value="${esc(el.value || "")}">${esc(label)}</button>`;
}

function imageHtml(b) {
  const src = b.image_url || (b.slack_file && b.slack_file.id ? `/sandbox/files/${encodeURIComponent(b.slack_file.id)}` : "");
  return src ? `<img src="${esc(src)}" alt="${esc(b.alt_text || "")}">` : "";
}

function blockHtml(b, m) {
  switch (b.type) {
    case "header": return `<h3>${esc((b.text && b.text.text) || "")}</h3>`;
    case "divider": return "<hr>";
    case "section": {
      let h = b.text ? `<div>${textObject(b.text)}</div>` : "";
      if (b.fields) h += `<div class="fields">${b.fields.map((f) => `<div>${textObject(f)}</div>`).join("")}</div>`;
      if (b.accessory) h += b.accessory.type === "image" ? imageHtml(b.accessory) : `<div class="actions">${buttonHtml(b.accessory, b, m)}</div>`;
      return h;
    }
    case "context": return `<div class="context">${(b.elements || []).map((e) => e.type === "image" ? imageHtml(e) : textObject(e)).join(" ")}</div>`;
    case "actions": return `<div class="actions">${(b.elements || []).map((e) => buttonHtml(e, b, m)).join("")}</div>`;
    case "image": return `${b.title ? `<div>${esc(b.title.text)}</div>` : ""}${imageHtml(b)}`;
    default: return b.text ? `<div>${textObject(b.text)}</div>` : "";
  }
}

function visible(m) {
  return !m.only_for || m.only_for === S.viewer;
}

function messageHtml(m) {
  const blocks = Array.isArray(m.blocks) && m.blocks.length ? m.blocks.map((b) => `<div class="block">${blockHtml(b, m)}</div>`).join("") : `<div>${mrkdwn(m.text)}</div>`;
  const secs = Number(m.ts.split(".")[0]);
  let tags = "";
  if (m.only_for) tags += `<span class="tag">Only visible to you</span>`;
  if (m.edited) tags += `<span class="tag">edited</span>`;
  if (m.pinned) tags += `<span class="tag">📌 pinned</span>`;
  let file = "";
  if (m.file) {
    const url = `/sandbox/files/${encodeURIComponent(m.file.id)}`;
    file = `<div class="file">📎 <a href="${esc(url)}">${esc(m.file.title || m.file.name)}</a> <span class="muted">${esc(m.file.name)}, ${m.file.size} bytes</span>${m.file.png ? `<img src="${esc(url)}" alt="${esc(m.file.title)}">` : ""}</div>`;
  }
  const reactions = Object.entries(m.reactions || {}).map(([name, who]) =>
    `<span class="reaction" title="${esc(who.map(userName).join(", "))}">${EMOJI[name] || ":" + esc(name) + ":"} ${who.length}</span>`).join("");
  const react = m.only_for ? "" : `<button type="button" class="react" data-react="pushpin" data-channel="${esc(m.channel)}" data-ts="${esc(m.ts)}" aria-label="Add a :pushpin: reaction">📌 React</button>`;
  const cls = ["msg", m.only_for ? "ephemeral" : "", m.pinned ? "pinned" : ""].join(" ");
  return `<li class="${cls}" data-ts="${esc(m.ts)}" data-seq="${m.seq}">
    <div><span class="who">${esc(userName(m.user))}</span><span class="when">${esc(when(secs, "time"))}</span>${tags}</div>
    ${blocks}${file}<div class="reactions">${reactions}${react}</div></li>`;
}

function channelLabel(c) {
  if (c.kind === "dm") return "tocsin (your DM)";
  return "#" + c.name;
}

function renderSidebar() {
  const lists = { channels: [], rooms: [], dms: [] };
  Object.values(S.channels).sort((a, b) => a.created - b.created || a.name.localeCompare(b.name)).forEach((c) => {
    if (c.kind === "dm" && c.user !== S.viewer) return;
    const where = c.kind === "incident" ? "rooms" : c.kind === "dm" ? "dms" : "channels";
    const current = c.id === S.current ? ' aria-current="true"' : "";
    const note = c.archived ? " (archived)" : "";
    lists[where].push(`<li><button type="button" data-channel-id="${esc(c.id)}"${current} class="${c.archived ? "archived" : ""}">${esc(channelLabel(c))}${note}</button></li>`);
  });
  for (const [id, items] of Object.entries(lists)) setHtml($(id), items.join("") || '<li class="muted" style="padding:0 1rem">none yet</li>');
}

// Replaces an element's content only when it changed, so a live update
// elsewhere does not take the keyboard focus away from what you are on.
function setHtml(el, html) {
  if (el.dataset.html !== html) { el.innerHTML = html; el.dataset.html = html; }
}

function fromHtml(html) {
  const t = document.createElement("template");
  t.innerHTML = html.trim();
  return t.content.firstElementChild;
}

// The open channel's messages, kept by sequence: a new message is added,
// a changed one replaced, the rest left as they are.
let shown = { key: null, items: new Map() };

function renderChannel() {
  const c = S.channels[S.current];
  if (!c) return;
  $("channel-name").textContent = channelLabel(c);
  $("channel-note").textContent = (c.archived ? "archived · " : "") + (c.kind === "incident" ? "an incident's own channel" : c.kind === "stakeholders" ? "stakeholder channel" : c.kind === "alerts" ? "alert channel" : "");
  const here = S.messages.filter((m) => m.channel === c.id && visible(m)).sort((a, b) => a.seq - b.seq);
  const list = $("messages");
  const atEnd = list.scrollHeight - list.scrollTop - list.clientHeight < 80;
  const key = `${c.id} ${S.viewer}`;
  if (shown.key !== key || shown.items.size === 0) { list.innerHTML = ""; shown = { key, items: new Map() }; }
  if (!here.length) list.innerHTML = '<li class="muted">No messages yet.</li>';
  const keep = new Set();
  for (const m of here) {
    keep.add(m.seq);
    const html = messageHtml(m);
    const had = shown.items.get(m.seq);
    if (had && had.html === html) continue;
    const el = fromHtml(html);
    if (had) had.el.replaceWith(el); else list.appendChild(el);
    shown.items.set(m.seq, { html, el });
  }
  for (const [seq, had] of shown.items) if (!keep.has(seq)) { had.el.remove(); shown.items.delete(seq); }
  if (atEnd) list.scrollTop = list.scrollHeight;
  const pins = here.filter((m) => m.pinned);
  $("pins").hidden = pins.length === 0;
  setHtml($("pins"), pins.length ? `<h3>Pinned</h3>${pins.map((m) => `<div>${mrkdwn(m.text)}</div>`).join("")}` : "");
  $("composer-who").textContent = userName(S.viewer);
}

function render() {
  renderSidebar();
  renderChannel();
  renderModal();
}

function upsertMessage(m) {
  const i = S.messages.findIndex((x) => x.seq === m.seq);
  if (i >= 0) S.messages[i] = m; else S.messages.push(m);
}

async function load() {
  const r = await fetch("/sandbox/state", { cache: "no-store" });
  const st = await r.json();
  S.users = st.users; S.bot = st.bot; S.services = st.services;
  S.channels = {}; st.channels.forEach((c) => { S.channels[c.id] = c; });
  S.messages = st.messages;
  S.views = {}; st.views.forEach((v) => { S.views[v.id] = v; });
  if (!S.viewer || !S.users.some((u) => u.id === S.viewer)) S.viewer = (S.users[0] || {}).id || null;
  $("viewer").innerHTML = S.users.map((u) => `<option value="${esc(u.id)}">${esc(u.name)} (${esc(u.handle)}, ${esc(u.time_zone)})</option>`).join("");
  $("viewer").value = S.viewer || "";
  $("alert-service").innerHTML = S.services.map((s) => `<option value="${esc(s.key)}">${esc(s.name)}</option>`).join("");
  if (!S.current || !S.channels[S.current]) {
    const first = Object.values(S.channels).find((c) => c.kind === "alerts") || Object.values(S.channels)[0];
    S.current = first ? first.id : null;
  }
  updateCurl();
  render();
  if (!S.users.length) {
    shown = { key: null, items: new Map() };
    $("messages").innerHTML = '<li class="muted">No people or channels are configured yet: copy <code>tocsin.example.toml</code> to <code>tocsin.toml</code> (or set <code>TOCSIN_CONFIG</code>) and restart tocsin.</li>';
  }
}

function apply(ev) {
  if (ev.kind === "message") upsertMessage(ev.message);
  else if (ev.kind === "channel") S.channels[ev.channel.id] = ev.channel;
  else if (ev.kind === "view") S.views[ev.view.id] = ev.view;
  else if (ev.kind === "view_closed") delete S.views[ev.id];
  render();
}

function live() {
  const es = new EventSource("/sandbox/live");
  let dropped = false;
  es.onopen = () => { $("status").textContent = "live"; if (dropped) load(); dropped = false; };
  es.onerror = () => { $("status").textContent = "reconnecting…"; dropped = true; };
  es.onmessage = (e) => { try { apply(JSON.parse(e.data)); } catch (err) { console.error(err); } };
  es.addEventListener("reload", () => load());
}

async function act(what, body) {
  const r = await fetch(`/sandbox/act/${what}`, {
    method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ user: S.viewer, ...body }),
  });
  return r.json();
}

// Modals: the one open for the viewer, if any.
let shownView = null;
function renderModal() {
  const dlg = $("modal");
  const v = Object.values(S.views).find((x) => x.user === S.viewer);
  if (!v) { if (dlg.open) dlg.close(); shownView = null; return; }
  if (shownView === v.id && dlg.open) return;
  shownView = v.id;
  const view = v.view;
  $("modal-title").textContent = (view.title && view.title.text) || "tocsin";
  $("modal-submit").textContent = (view.submit && view.submit.text) || "Submit";
  $("modal-close").textContent = (view.close && view.close.text) || "Cancel";
  $("modal-error").textContent = "";
  $("modal-body").innerHTML = (view.blocks || []).map((b) => {
    if (b.type !== "input") return `<div class="block">${blockHtml(b, { channel: "", ts: "" })}</div>`;
    const el = b.element || {};
    const id = `f-${b.block_id}`;
    const label = `${esc((b.label && b.label.text) || b.block_id)}${b.optional ? ' <span class="muted">(optional)</span>' : ""}`;
    const common = `id="${esc(id)}" name="${esc(b.block_id)}" data-block="${esc(b.block_id)}" data-action="${esc(el.action_id || "value")}" data-type="${esc(el.type)}" aria-describedby="${esc(id)}-error"`;
    let control;
    if (el.type === "static_select") {
      const ph = el.placeholder ? el.placeholder.text : "Choose…";
      control = `<select ${common}><option value="">${esc(ph)}</option>${(el.options || []).map((o) => `<option value="${esc(o.value)}">${esc(o.text.text)}</option>`).join("")}</select>`;
    } else if (el.multiline) {
      control = `<textarea ${common} rows="3">${esc(el.initial_value || "")}</textarea>`;
    } else {
      control = `<input ${common} value="${esc(el.initial_value || "")}">`;
    }
    return `<label for="${esc(id)}">${label}</label>${control}<p class="field-error" id="${esc(id)}-error"></p>`;
  }).join("");
  if (!dlg.open) dlg.showModal();
  const first = dlg.querySelector("input, select, textarea");
  if (first) first.focus();
}

document.addEventListener("click", async (e) => {
  const ch = e.target.closest("[data-channel-id]");
  if (ch) { S.current = ch.dataset.channelId; render(); return; }
  const b = e.target.closest("button[data-click]");
  if (b) {
    b.disabled = true;
    const r = await act("click", { channel: b.dataset.channel, ts: b.dataset.ts, action_id: b.dataset.action, block_id: b.dataset.block, value: b.dataset.value, text: b.textContent });
    b.disabled = false;
    if (!r.ok) $("compose-error").textContent = `That click was refused: ${JSON.stringify(r.reply || r.error)}`;
    return;
  }
  const re = e.target.closest("button[data-react]");
  if (re) { await act("react", { channel: re.dataset.channel, ts: re.dataset.ts, name: re.dataset.react }); }
});

$("viewer").addEventListener("change", (e) => { S.viewer = e.target.value; shownView = null; render(); });

$("composer").addEventListener("submit", async (e) => {
  e.preventDefault();
  const input = $("compose");
  $("compose-error").textContent = "";
  const r = await act("command", { channel: S.current, text: input.value });
  if (r.ok) input.value = "";
  else $("compose-error").textContent = r.error || `tocsin answered ${r.status}: ${JSON.stringify(r.reply)}`;
});

$("modal-close").addEventListener("click", async () => {
  const id = shownView;
  $("modal").close();
  if (id) await act("close", { view: id });
});
$("modal").addEventListener("cancel", async () => { if (shownView) await act("close", { view: shownView }); });

$("modal-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  const values = {};
  $("modal-body").querySelectorAll("[data-block]").forEach((el) => {
    values[el.dataset.block] = { action_id: el.dataset.action, type: el.dataset.type, value: el.value };
    el.removeAttribute("aria-invalid");
    const err = $(`${el.id}-error`); if (err) err.textContent = "";
  });
  const r = await act("submit", { view: shownView, values });
  const reply = r.reply || {};
  if (reply.response_action === "errors") {
    for (const [block, msg] of Object.entries(reply.errors || {})) {
      const el = $(`f-${block}`);
      if (el) { el.setAttribute("aria-invalid", "true"); $(`f-${block}-error`).innerHTML = mrkdwn(msg); }
    }
    const bad = $("modal-body").querySelector('[aria-invalid="true"]');
    if (bad) bad.focus();
  } else if (!r.ok) {
    $("modal-error").textContent = r.error || `tocsin answered ${r.status}`;
  }
});

function alertBody() {
  return {
    routing_key: $("alert-service").value,
    event_action: "trigger",
    dedup_key: $("alert-key").value || undefined,
    payload: { summary: $("alert-summary").value, source: "sandbox", severity: $("alert-severity").value },
  };
}
function updateCurl() {
  $("curl").textContent = `curl -X POST ${location.origin}/v2/enqueue \\\n  -H 'content-type: application/json' \\\n  -d '${JSON.stringify(alertBody()).replace(/'/g, "'\\''")}'`;
}
["alert-service", "alert-summary", "alert-severity", "alert-key"].forEach((id) => {
  $(id).addEventListener("input", updateCurl);
  $(id).addEventListener("change", updateCurl);
});
$("alert").addEventListener("submit", async (e) => {
  e.preventDefault();
  const r = await fetch("/v2/enqueue", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(alertBody()) });
  const body = await r.json().catch(() => ({}));
  $("alert-result").textContent = r.status === 202 ? `Accepted (${body.dedup_key || ""}).` : `Refused (${r.status}): ${body.message || JSON.stringify(body)}`;
});

load().then(live);
