/* precode review — the browser side. Plain JS, no dependencies, nothing loaded from elsewhere.
   Every text from the project goes into the page through textContent, never as HTML. */
"use strict";

const $ = (id) => document.getElementById(id);
const SCORE_WORD = { similarity: "similarity", relative: "score among codes", confidence: "confidence", manual: "score" };
const OUTCOME_WORD = { accepted: "Accepted", rejected: "Rejected", changed: "Code changed" };

const S = {
  info: null,
  view: "review",
  filter: { transcript: "", code: "", status: "pending", reviewer: "", min_score: "", max_score: "", grounding: "", order: "position" },
  current: null,       // QueueView of the item on screen
  span: null,          // {start, end} while adjusting the quote span (transcript offsets)
  dialog: null,
  picker: null,        // {mode: 'change'|'missed', items, active, span}
  rejectReason: null,
  bulk: null,
  proposals: [],
  proposalIndex: 0,
  pending: 0,          // actions queued or running (see enqueue)
  csrf: "",            // the anti-CSRF token sent with every state-changing request
  reviewCurrent: null, // the Suggestions view's QueueView while another view borrows S.current
  passages: { view: null, active: 0 },  // the Passages view: PassageQueueView and the chosen suggestion
};

// -- small helpers -------------------------------------------------------------------------------
function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (key === "class") node.className = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value);
  }
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}
function setText(id, text) { $(id).textContent = text == null ? "" : String(text); }
function fmt(x, digits = 2) { return x == null ? "–" : Number(x).toFixed(digits); }
function pct(x) { return x == null ? "–" : Math.round(x * 100) + "%"; }
function clock(iso) { return new Date(iso).toLocaleTimeString(undefined, { hour: "2-digit", minute: "2-digit" }); }
function when(iso) { return new Date(iso).toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" }); }
function pathText(path) { return path.split(" > ").join(" › "); }
/* The server counts text offsets in code points (Python strings); JavaScript strings index UTF-16
   units, so every emoji or other character beyond U+FFFF would shift a slice by one. */
function unitIndex(text, points) {  // code-point offset -> UTF-16 index
  if (points <= 0) return 0;
  let units = 0, n = 0;
  for (const ch of text) { if (n >= points) break; units += ch.length; n++; }
  return units;
}
function pointIndex(text, units) { return Array.from(text.slice(0, units)).length; }  // UTF-16 index -> code points
function pointLength(text) { return Array.from(text).length; }
function pointSlice(text, a, b) { return text.slice(unitIndex(text, a), unitIndex(text, b)); }
function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== "" && v !== null && v !== undefined && v !== false) q.set(k, v);
  return q.toString();
}

let toastTimer = null;
function toast(message, isError = false) {
  const t = $("toast");
  t.textContent = message;
  t.classList.toggle("error", isError);
  t.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => { t.hidden = true; }, isError ? 6000 : 2600);
}

class ApiError extends Error {
  constructor(message, status) { super(message); this.status = status; }
}

async function api(method, path, body) {
  const options = { method, credentials: "same-origin", headers: {} };
  if (method !== "GET") options.headers["X-Precode-CSRF"] = S.csrf;  // proves the request comes from this page
  if (body !== undefined) {
    options.headers["Content-Type"] = "application/json";
    options.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(path, options);
  } catch (e) {
    throw new ApiError("The review server does not answer. Is 'precode review' still running? Your decisions so far are saved.", 0);
  }
  if (response.status === 401 || response.status === 403) {
    $("locked").hidden = false;
    throw new ApiError("access token missing or wrong", response.status);
  }
  const data = await response.json().catch(() => null);
  if (!response.ok) {
    let message = response.statusText;
    if (data && data.error) message = data.error;
    else if (data && Array.isArray(data.detail)) message = data.detail.map((d) => `${(d.loc || []).slice(1).join(".")}: ${d.msg}`).join("; ");
    throw new ApiError(message, response.status);
  }
  return data;
}

/* Every action (key or click) runs in order, one at a time: a key pressed while the previous
   decision is still on its way waits for it and then applies to the item then on screen —
   never dropped, never applied to the wrong item. Actions themselves never enqueue. */
let chain = Promise.resolve();
function enqueue(work) {
  S.pending++;
  chain = chain.then(work).catch((e) => toast(e.message || String(e), true)).finally(() => { S.pending--; });
  return chain;
}

// -- code lookups --------------------------------------------------------------------------------
const codeById = new Map();
function pathNodes(path) {
  const parts = path.split(" > ");
  const frag = document.createDocumentFragment();
  parts.forEach((part, i) => {
    if (i) frag.append(el("span", { class: "sep" }, "›"));
    frag.append(part);
  });
  return frag;
}

// -- start ---------------------------------------------------------------------------------------
async function start() {
  readHash();
  S.csrf = (await api("GET", "/api/csrf")).token;
  S.info = await api("GET", "/api/session");
  const info = S.info;
  info.codes.forEach((c) => codeById.set(c.id, c));
  const run = info.run;
  setText("runinfo", `Run ${run.id} · ${run.coder}${run.model ? " (" + run.model + ")" : ""} · ${info.run.codebook_name.split(" — ")[0]} ${run.codebook_version}${run.level ? " · " + run.level + " level" : ""}`);
  $("runinfo").title = `Run ${run.id}: ${run.suggestions} suggestions by ${run.coder}${run.model ? " / " + run.model : ""}, codebook ${info.run.codebook_name} ${run.codebook_version}`;
  setText("reviewer", info.reviewer);
  setText("proposals-count", info.proposals_open);
  setText("score-label", { similarity: "Similarity", relative: "Score" }[info.score_kind] || "Confidence");
  fillFilters();
  bindControls();
  if (info.learn && info.learn.enabled) {
    $("f-order-learned").hidden = false;
    $("learn-box").hidden = false;
    showLearn(info.learn);
    if (!location.hash.includes("order=")) { S.filter.order = "learned"; syncFilterInputs(); }
  } else if (S.filter.order === "learned") {  // a place saved by a learning session; this one does not learn
    S.filter.order = "position"; syncFilterInputs();
  }
  if (S.view !== "review") switchView(S.view);
  const wanted = S.pendingId;
  S.pendingId = null;
  await enqueue(async () => {
    if (wanted) show(await api("GET", `/api/queue/locate/${encodeURIComponent(wanted)}?${query(S.filter)}`));
    else await go(null);
  });
  refreshProgress();
  refreshClaims();
  refreshFlags();
  setInterval(() => { if (!document.hidden) { refreshProgress(); refreshClaims(); } }, 15000);
}

function fillFilters() {
  const info = S.info;
  const t = $("f-transcript");
  for (const tr of info.transcripts) t.append(el("option", { value: tr.id }, tr.version > 1 ? `${tr.name} (v${tr.version})` : tr.name));
  const c = $("f-code");
  for (const code of info.codes) {
    c.append(el("option", { value: code.id }, "\u00a0\u00a0\u00a0".repeat(code.depth - 1) + code.label));
  }
  for (const id of ["f-reviewer", "q-reviewer"]) {
    const r = $(id);
    r.append(el("option", { value: "" }, `Me (${info.reviewer})`));
    r.append(el("option", { value: "*" }, "Anyone (latest decision)"));
    for (const name of info.reviewers) if (name !== info.reviewer) r.append(el("option", { value: name }, name));
  }
  const reason = $("bulk-reason");
  for (const [key, text] of Object.entries(info.reasons)) reason.append(el("option", { value: key }, text));
  syncFilterInputs();
}

function syncFilterInputs() {
  const f = S.filter;
  $("f-transcript").value = f.transcript; $("f-code").value = f.code; $("f-status").value = f.status;
  $("f-reviewer").value = f.reviewer; $("f-min").value = f.min_score; $("f-max").value = f.max_score;
  $("f-grounding").value = f.grounding; $("f-order").value = f.order;
  $("q-reviewer").value = f.reviewer;
}

function readHash() {
  const params = new URLSearchParams(location.hash.slice(1));
  for (const key of Object.keys(S.filter)) if (params.has(key)) S.filter[key] = params.get(key);
  if (params.has("view")) S.view = params.get("view");
  S.pendingId = params.get("item");
}

function writeHash() {
  const item = S.current && S.current.item;
  const params = query({ ...S.filter, status: S.filter.status === "pending" ? "" : S.filter.status, order: S.filter.order === "position" ? "" : S.filter.order, view: S.view === "review" ? "" : S.view, item: item ? item.id : "" });
  history.replaceState(null, "", params ? "#" + params : location.pathname);
  clearTimeout(placeTimer);  // remembered by the server too: the URL it prints after a restart comes back here
  placeTimer = setTimeout(() => api("PUT", "/api/place", { place: params }).catch(() => {}), 400);
}
let placeTimer = null;

// -- the queue -----------------------------------------------------------------------------------
async function go(after, backwards = false) {
  const view = await api("GET", `/api/queue?${query({ ...S.filter, after: after || "", backwards })}`);
  show(view);
  if (view.wrapped) toast(backwards ? "Back at the end of the queue" : "Back at the start of the queue");
}

function show(view) {
  S.current = S.reviewCurrent = view;
  S.span = null;
  hideSelectionTools();
  renderItem();
  writeHash();
}

async function reloadCurrent() {
  if (S.view === "passages") return reloadPassage(false);
  const item = S.current && S.current.item;
  if (!item) return go(null);
  show(await api("GET", `/api/queue/locate/${encodeURIComponent(item.id)}?${query(S.filter)}`));
}

function renderItem() {
  const view = S.current;
  const item = view && view.item;
  $("p-empty").hidden = !!item;
  $("codecard").classList.toggle("is-empty", !item);
  for (const id of ["a-accept", "a-reject", "a-change", "a-span", "a-missed"]) $(id).disabled = !item;
  setText("match-count", view ? `${view.total} ${view.total === 1 ? "suggestion matches" : "suggestions match"}` : "");
  $("bulk-accept").disabled = $("bulk-reject").disabled = !view || !view.total;
  if (!item) {
    for (const id of ["p-transcript", "p-meta", "p-place", "p-speaker", "p-text", "c-label", "c-path", "c-definition", "c-level", "e-rationale", "e-provenance", "e-score", "e-grounding"]) setText(id, "");
    for (const id of ["c-include", "c-exclude", "c-examples", "p-others"]) $(id).replaceChildren();
    $("p-context").hidden = true; $("p-notice").hidden = true; $("c-changed").hidden = true;
    const pending = S.filter.status === "pending";
    setText("p-empty-title", pending ? "All done here" : "Nothing to review here");
    setText("p-empty-text", pending
      ? `Every suggestion that matches these filters has ${S.filter.reviewer === "*" ? "a decision" : S.filter.reviewer ? `a decision by ${S.filter.reviewer}` : "your decision"}.`
      : "No suggestion matches these filters.");
    setText("decision-status", "");
    $("e-score-fill").style.width = "0";
    return;
  }
  renderPassage(item);
  renderCode(item);
  renderStatus(item);
}

function renderPassage(item) {
  const t = item.transcript;
  setText("p-transcript", t.version > 1 ? `${t.name} (v${t.version})` : t.name);
  setText("p-meta", [t.participant, t.group, t.site].filter(Boolean).join(" · "));
  const index = S.current.index;
  const place = index ? `${index} of ${S.current.total}` : item.mine ? "reviewed" : "outside this filter";
  setText("p-place", `${place} · passage ${item.segment.index + 1}`);
  const ctx = item.context;
  $("p-context").hidden = !ctx;
  if (ctx) { setText("p-context-speaker", ctx.speaker); setText("p-context-text", ctx.text); }
  setText("p-speaker", item.segment.speaker);
  const ranges = [];
  const grounded = item.grounding !== "ungrounded" && item.quote_start != null;
  const edited = item.effective_start != null && (item.effective_start !== item.quote_start || item.effective_end !== item.quote_end);
  if (S.span) ranges.push({ start: S.span.start, end: S.span.end, cls: "hl-preview" });
  else if (edited) {
    ranges.push({ start: item.effective_start, end: item.effective_end, cls: "hl-edited" });
    if (grounded) ranges.push({ start: item.quote_start, end: item.quote_end, cls: "hl-orig" });
  } else if (grounded) ranges.push({ start: item.quote_start, end: item.quote_end, cls: "hl-quote" });
  paintText($("p-text"), item.segment.text, item.segment.start, ranges);
  renderNotice($("p-notice"), item, grounded, edited);
  renderOthers(item);
  const mark = $("p-text").querySelector(".hl-preview, .hl-edited, .hl-quote");
  const scroller = $("p-scroll");
  if (mark) {
    const top = mark.offsetTop - scroller.offsetTop;
    if (top < scroller.scrollTop || top > scroller.scrollTop + scroller.clientHeight - 80) {
      scroller.scrollTo({ top: Math.max(0, top - scroller.clientHeight / 3), behavior: "instant" });
    }
  } else if (!S.span) scroller.scrollTo({ top: 0, behavior: "instant" });
}

/* Split `text` at every range boundary and wrap each piece in a span carrying the classes of the
   ranges covering it; the element's textContent stays exactly `text`, so selections map to offsets. */
function paintText(node, text, base, ranges) {
  const cuts = new Set([0, text.length]);
  const length = pointLength(text);
  const unit = (offset) => unitIndex(text, Math.max(0, Math.min(length, offset - base)));
  const rel = ranges.map((r) => ({ start: unit(r.start), end: unit(r.end), cls: r.cls }));
  for (const r of rel) { cuts.add(r.start); cuts.add(r.end); }
  const points = [...cuts].sort((a, b) => a - b);
  const frag = document.createDocumentFragment();
  for (let i = 0; i < points.length - 1; i++) {
    const [a, b] = [points[i], points[i + 1]];
    if (a === b) continue;
    const classes = rel.filter((r) => r.start <= a && b <= r.end).map((r) => r.cls);
    const piece = text.slice(a, b);
    frag.append(classes.length ? el("span", { class: classes.join(" ") }, piece) : document.createTextNode(piece));
  }
  node.replaceChildren(frag);
}

function renderNotice(node, item, grounded, edited) {
  node.replaceChildren();
  node.hidden = true;
  if (item.grounding === "ungrounded") {
    node.append(el("strong", {}, item.evidence ? `Quote is no evidence (${item.evidence})` : "Quote not found in the transcript"), " — nothing is highlighted. The model quoted: ", el("q", {}, item.quote), ". Select the words that support the code and press s to give it a real span.");
    node.hidden = false;
  } else if ((item.grounding === "fuzzy" || item.grounding === "normalized") && !edited && !S.span) {
    const located = pointSlice(item.segment.text, item.quote_start - item.segment.start, item.quote_end - item.segment.start);
    node.append(el("strong", {}, item.grounding === "fuzzy" ? "Located by a fuzzy match. " : "Located after normalising spacing and quotes. "));
    if (located !== item.quote) node.append("The model quoted: ", el("q", {}, item.quote), ".");
    else node.append("The highlighted text is what the model quoted.");
    node.hidden = false;
  }
}

function renderOthers(item) {
  const box = $("p-others");
  box.replaceChildren();
  if (S.span) {  // the hint takes this fixed-height bar, so the passage above does not move
    box.append(el("span", { class: "span-hint" }, el("strong", {}, "Adjusting the quote: "), "→ ← move its end a word, Shift + → ← its start · Enter saves · Esc cancels"));
    return;
  }
  if (!item.others_on_segment.length) box.append(el("span", {}, "No other code on this passage."));
  else box.append(el("span", {}, "Also on this passage:"));
  for (const other of item.others_on_segment) {
    const chip = el("span", { class: `chip ${other.outcome || ""} ${other.added_by_reviewer ? "mine" : ""}`, title: other.added_by_reviewer ? "You added this code" : `Suggested by the machine${other.outcome ? " — " + OUTCOME_WORD[other.outcome] : ""}` },
      other.added_by_reviewer ? "+ " : "", other.label);
    if (other.added_by_reviewer) {
      chip.append(el("button", { title: "Remove the code you added (undo)", "aria-label": `Remove ${other.label}`, onclick: () => enqueue(() => removeAdded(other)) }, "×"));
    } else {
      chip.style.cursor = "pointer";
      chip.addEventListener("click", () => enqueue(async () => show(await api("GET", `/api/queue/locate/${encodeURIComponent(other.suggestion_id)}?${query(S.filter)}`))));
    }
    box.append(chip);
  }
  const edited = item.effective_start != null && (item.effective_start !== item.quote_start || item.effective_end !== item.quote_end);
  if (edited) {
    box.append(el("span", { class: "legend" }, el("span", { class: "hl-edited" }, "your span"),
      item.quote_start != null ? el("span", { class: "hl-orig" }, "the machine's quote") : null));
  }
}

function renderCode(item) {
  const code = item.effective_code || item.code;
  const changed = $("c-changed");
  changed.hidden = !item.effective_code;
  changed.replaceChildren();
  if (item.effective_code) changed.append("You changed the code from ", el("s", {}, item.code.label), " to the code below.");
  setText("c-level", code.level ? `${code.level}${item.effective_code ? " · your code" : " · suggested code"}` : "code");
  setText("c-label", code.label);
  $("c-path").replaceChildren(pathNodes(code.path));
  $("c-definition").replaceChildren(withCodeRefs(code.definition));
  fillList($("c-include"), code.include);
  fillList($("c-exclude"), code.exclude);
  fillList($("c-examples"), code.examples);
  const kind = item.score_kind;
  setText("e-score-label", SCORE_WORD[kind]);
  setText("e-score", fmt(item.score));
  $("e-score-fill").style.width = `${Math.max(0, Math.min(1, item.score)) * 100}%`;
  const grounding = $("e-grounding");
  grounding.className = `badge ${item.grounding}`;
  grounding.textContent = { exact: "quote found exactly", normalized: "quote found after normalising", fuzzy: "quote found by fuzzy match", ungrounded: "quote not found" }[item.grounding];
  const proposed = $("e-proposed");
  proposed.hidden = !item.proposed_by;
  proposed.textContent = item.proposed_by
    ? `Proposed by the learned model (the run's coder did not suggest it): probability ${fmt(item.proposed_by.probability)}, trained on ${item.proposed_by.training_segments} human-coded segments`
    : "";
  const rationale = $("e-rationale");
  if (item.rationale) {
    rationale.className = "rationale";
    rationale.textContent = item.rationale;
  } else {
    rationale.className = "rationale none";
    rationale.textContent = kind === "similarity"
      ? "No rationale: the similarity coder found this sentence close in wording to the code's description (a cosine similarity, not a probability)."
      : kind === "relative"
      ? "No rationale: the similarity coder found this sentence closer in wording to this code's description than to the other codes'. The score is the code's share among the codes, calibrated on the codebook's own texts: it ranks codes, it is not the chance the code is right."
      : kind === "manual" ? "Added by a reviewer." : "The coder gave no rationale.";
  }
  setText("e-provenance", `coder ${item.coder}${item.model ? " · " + item.model : ""} · run ${item.run_id} · code id ${code.id}${item.evidence ? " · evidence: " + item.evidence : ""}`);
}

/* Codebook rules name other codes as `code.id`; show their labels (the id stays in the tooltip). */
function withCodeRefs(text) {
  const frag = document.createDocumentFragment();
  text.split(/`([^`]+)`/).forEach((part, i) => {
    if (i % 2 === 0) { frag.append(part); return; }
    const code = codeById.get(part);
    frag.append(code ? el("span", { class: "coderef", title: `${code.path} (${code.id})` }, code.label) : el("code", {}, part));
  });
  return frag;
}
function fillList(node, entries) {
  node.replaceChildren(...entries.map((text) => el("li", {}, withCodeRefs(text))));
}

function describeDecision(d) {
  if (!d) return null;
  if (d.outcome === "rejected") return `Rejected${d.reason ? " — " + (S.info.reasons[d.reason] || d.reason) : ""}`;
  if (d.outcome === "changed") return `Code changed to ${(codeById.get(d.code_id) || { label: d.code_id }).label}`;
  if (d.action === "edit") return "Accepted with a corrected quote";
  return "Accepted";
}

function renderStatus(item) {
  const box = $("decision-status");
  box.replaceChildren();
  const d = item.mine, theirs = S.current.theirs;
  const titles = [d, theirs].filter(Boolean).map((x) => `${describeDecision(x)} by ${x.reviewer}, ${when(x.at)}${x.note ? " — " + x.note : ""}`);
  box.title = titles.join("\n");
  const line = (x, who) => el("span", { class: "line" }, `${who}: `, el("strong", { class: x.outcome }, describeDecision(x)),
    ` · ${clock(x.at)}`, x.note ? ` · “${x.note}”` : "");
  box.append(d ? line(d, "You") : el("span", { class: "line" }, "Not yet reviewed by you"));
  for (const f of S.flags.get(item.id) || []) {
    box.append(el("span", { class: "line flag" }, `⚑ Flagged by ${f.reviewer === S.info.reviewer ? "you" : f.reviewer}${f.comment ? ": “" + f.comment + "”" : ""}`));
  }
  if (S.filter.reviewer && S.filter.reviewer !== S.info.reviewer) {  // adjudicating: the other side, below
    const who = S.filter.reviewer === "*" ? "Anyone" : S.filter.reviewer;
    box.append(theirs ? line(theirs, theirs.reviewer) : el("span", { class: "line" }, `${who}: no decision`));
  }
}

// -- decisions -----------------------------------------------------------------------------------
async function decide(body, advance) {
  const item = S.current.item;
  let updated;
  try {  // `seen`: refused if another tab or reviewer decided this item since it was shown here
    updated = await api("POST", `/api/items/${encodeURIComponent(item.id)}/decisions`, { ...body, seen: item.version ?? null });
  } catch (e) {
    if (e.status !== 409) throw e;
    refreshProgress();
    await reloadCurrent();  // show what stands now; the reviewer decides again knowingly
    toast(`Not saved: ${e.message}`, true);
    return;
  }
  refreshProgress();
  if (S.view === "passages") await reloadPassage(advance);
  else if (advance) await go(item.id);
  else await reloadCurrent();
  const what = updated.mine.outcome === "changed" ? describeDecision(updated.mine) : `${describeDecision(updated.mine)}: ${updated.code.label}`;
  toast(`${what}  ·  u to undo`);
}

function accept() { return decide({ action: "accept" }, true); }

async function undo() {
  const item = S.current && S.current.item;
  const result = item && item.mine
    ? await api("POST", `/api/items/${encodeURIComponent(item.id)}/undo`)
    : await api("POST", "/api/undo");
  refreshProgress();
  if (S.view === "passages") await reloadPassage(false);
  else if (result.in_queue) show(await api("GET", `/api/queue/locate/${encodeURIComponent(result.suggestion_id)}?${query(S.filter)}`));
  else await reloadCurrent();
  toast(`Undone: ${describeDecision(result.undone)}`);
}

async function removeAdded(other) {
  await api("POST", `/api/items/${encodeURIComponent(other.suggestion_id)}/undo`);
  refreshProgress();
  await reloadCurrent();
  toast(`Removed your code ${other.label}`);
}

// -- passage by passage: every suggestion on one passage, and passages without any ------------------
async function loadPassage(after, backwards = false) {
  const view = await api("GET", `/api/passages?${query({ transcript: S.filter.transcript, only: $("ps-only").value, after: after || "", backwards })}`);
  const items = view.passage ? view.passage.items : [];
  S.passages = { view, active: Math.max(0, items.findIndex((it) => !it.mine)) };
  renderPassageView();
  if (view.wrapped) toast(backwards ? "Back at the last passage" : "Back at the first passage");
}
async function reloadPassage(advance) {
  const pv = S.passages.view;
  if (!pv || !pv.passage) return loadPassage(null);
  const fresh = await api("GET", `/api/passages/${encodeURIComponent(pv.passage.segment.id)}`);
  S.passages.view = { ...pv, passage: fresh };
  const items = fresh.items;
  if (advance) {  // on to the next suggestion here without my decision (or stay on the last)
    const next = items.findIndex((it, i) => i > S.passages.active && !it.mine);
    if (next >= 0) S.passages.active = next;
  }
  S.passages.active = Math.min(S.passages.active, Math.max(0, items.length - 1));
  renderPassageView();
}
function renderPassageView() {
  const pv = S.passages.view;
  const p = pv && pv.passage;
  $("ps-empty").hidden = !!p;
  const items = p ? p.items : [];
  const active = items[S.passages.active];
  // the actions (accept, reject, change, missed) work on the chosen suggestion, or on the passage
  S.current = p ? { item: active || { id: null, pseudo: true, segment: p.segment, transcript: p.transcript, code: { id: "", label: "" }, effective_code: null, mine: null }, index: null, total: 0, theirs: null } : null;
  for (const id of ["a-accept", "a-reject", "a-change", "a-span", "a-undo"]) $(id).disabled = !active;
  $("a-missed").disabled = !p;
  if (!p) {
    for (const id of ["ps-transcript", "ps-meta", "ps-place", "ps-speaker", "decision-status"]) setText(id, "");
    for (const id of ["ps-text", "ps-items", "ps-added"]) $(id).replaceChildren();
    $("ps-context").hidden = true; $("ps-none").hidden = true;
    return;
  }
  const t = p.transcript;
  setText("ps-transcript", t.version > 1 ? `${t.name} (v${t.version})` : t.name);
  setText("ps-meta", [t.participant, t.group, t.site].filter(Boolean).join(" · "));
  setText("ps-place", `${pv.index ? `${pv.index} of ${pv.total} · ` : ""}passage ${p.segment.index + 1}${p.claimed_by ? " · claimed by " + p.claimed_by : ""}`);
  $("ps-context").hidden = !p.context;
  if (p.context) { setText("ps-context-speaker", p.context.speaker); setText("ps-context-text", p.context.text); }
  setText("ps-speaker", p.segment.speaker);
  const ranges = [];
  items.forEach((it, i) => {
    const start = it.effective_start ?? (it.grounding === "ungrounded" ? null : it.quote_start);
    const end = it.effective_end ?? it.quote_end;
    if (start != null && end != null) ranges.push({ start, end, cls: i === S.passages.active ? "hl-quote" : "hl-other" });
  });
  paintText($("ps-text"), p.segment.text, p.segment.start, ranges);
  $("ps-items").replaceChildren(...items.map((it, i) => el("li", {
    class: i === S.passages.active ? "active" : "",
    onclick: () => { S.passages.active = i; renderPassageView(); },
  },
  el("div", { class: "l" }, (it.effective_code || it.code).label),
  el("div", { class: "q" }, it.grounding === "ungrounded" && it.effective_start == null ? `“${it.quote}” (not found in the transcript)` : `“${it.quote}”`),
  el("div", { class: "s" }, it.mine ? el("strong", { class: it.mine.outcome || "" }, describeDecision(it.mine)) : "Not yet reviewed by you",
    ` · ${SCORE_WORD[it.score_kind]} ${fmt(it.score)}`))));
  $("ps-none").hidden = items.length > 0;
  $("ps-added").replaceChildren(...p.added.map((a) => el("span", { class: "chip mine", title: "You added this code" }, "+ ", a.label)));
  if (active) renderStatus(active);
  else setText("decision-status", "No suggestion on this passage");
  const mark = $("ps-text").querySelector(".hl-quote");
  if (mark) mark.scrollIntoView({ block: "nearest" });
}

// -- adjudication: two reviewers' decisions side by side, a third settles ---------------------------
S.adj = { items: [], active: 0 };
function fillAdjudicators() {
  const others = S.info.reviewers.filter((name) => name !== S.info.reviewer);
  for (const [id, pick] of [["adj-first", 0], ["adj-second", 1]]) {
    const select = $(id);
    if (select.options.length) continue;
    for (const name of others) select.append(el("option", { value: name }, name));
    select.value = others[pick] || "";
  }
}
async function loadDisagreements() {
  fillAdjudicators();
  const first = $("adj-first").value, second = $("adj-second").value;
  S.adj.items = first && second && first !== second ? await api("GET", `/api/disagreements?${query({ first, second })}`) : [];
  S.adj.active = Math.min(S.adj.active, Math.max(0, S.adj.items.length - 1));
  renderDisagreements();
}
function sideView(d, who, take) {
  return el("div", { class: "side" }, el("div", { class: "who" }, who),
    d ? el("strong", { class: d.outcome || "" }, describeDecision(d)) : "—",
    d && d.note ? el("div", { class: "where" }, `“${d.note}”`) : null,
    take ? el("button", { class: "btn small ghost", onclick: (e) => { e.stopPropagation(); enqueue(take); } }, "Take this") : null);
}
function renderDisagreements() {
  const first = $("adj-first").value, second = $("adj-second").value;
  setText("adj-count", S.adj.items.length ? `${S.adj.items.length} ${S.adj.items.length === 1 ? "disagreement" : "disagreements"}` : "");
  $("adj-empty").hidden = S.adj.items.length > 0;
  $("adj-list").replaceChildren(...S.adj.items.map((d, i) => el("li", { class: i === S.adj.active ? "active" : "", onclick: () => { S.adj.active = i; renderDisagreements(); } },
    el("div", {}, el("div", { class: "code" }, d.item.code.label),
      el("div", { class: "where" }, `${d.item.transcript.name} · passage ${d.item.segment.index + 1}`),
      el("div", { class: "q" }, `“${d.item.quote}”`)),
    sideView(d.first, first, () => settle(i, asDecision(d.first))),
    sideView(d.second, second, () => settle(i, asDecision(d.second))),
    sideView(d.adjudication, d.adjudicated_by ? `settled by ${d.adjudicated_by}` : "settled", null))));
  const current = $("adj-list").children[S.adj.active];
  if (current) current.scrollIntoView({ block: "nearest" });
  setText("decision-status", S.adj.items.length ? `Disagreement ${S.adj.active + 1} of ${S.adj.items.length}` : "");
}
function asDecision(d) {
  if (d.action === "reject") return { action: "reject", reason: d.reason, note: d.note };
  if (d.action === "edit") return { action: "edit", code_id: d.code_id, quote_start: d.quote_start, quote_end: d.quote_end };
  return { action: "accept" };
}
async function settle(i, decision) {
  const d = S.adj.items[i];
  if (!d) return;
  const done = await api("POST", `/api/items/${encodeURIComponent(d.item.id)}/adjudicate`,
    { first: $("adj-first").value, second: $("adj-second").value, decision: { ...decision, seen: d.item.version ?? null } });
  S.adj.items[i] = done;
  if (i === S.adj.active && i + 1 < S.adj.items.length) S.adj.active = i + 1;
  renderDisagreements();
  refreshProgress();
  toast(`Settled: ${describeDecision(done.adjudication)} · ${d.item.code.label}`);
}
function adjudicateKey(key) {
  const n = S.adj.items.length;
  if (!n) return;
  if (key === "ArrowDown" || key === "j") S.adj.active = (S.adj.active + 1) % n;
  else if (key === "ArrowUp" || key === "k") S.adj.active = (S.adj.active + n - 1) % n;
  else if (key === "a") return settle(S.adj.active, { action: "accept" });
  else if (key === "r") return settle(S.adj.active, { action: "reject" });
  else return;
  renderDisagreements();
}

// -- flags: a mark and a comment to come back to ---------------------------------------------------
S.flags = new Map();   // suggestion id -> [Flag], everyone's
S.flagList = { items: [], active: 0 };
async function refreshFlags() {
  try {
    S.flagList.items = await api("GET", "/api/flags");
    S.flags = new Map();
    for (const { flag } of S.flagList.items) S.flags.set(flag.suggestion_id, [...(S.flags.get(flag.suggestion_id) || []), flag]);
  } catch (e) { /* shown by the next action */ }
}
function openFlag() {
  const item = S.current.item;
  const mine = (S.flags.get(item.id) || []).find((f) => f.reviewer === S.info.reviewer);
  $("flag-comment").value = mine ? mine.comment : "";
  $("flag-remove").hidden = !mine;
  openDialog("flag");
  $("flag-comment").focus();
}
async function saveFlag() {
  const item = S.current.item;
  const comment = $("flag-comment").value.trim();
  closeDialog();
  await api("PUT", `/api/items/${encodeURIComponent(item.id)}/flag`, { comment });
  await refreshFlags();
  renderStatus(item);
  toast(`Flagged${comment ? ": " + comment : ""}  ·  F lists the flags`);
}
async function removeFlag() {
  const item = S.current.item;
  closeDialog();
  await api("DELETE", `/api/items/${encodeURIComponent(item.id)}/flag`);
  await refreshFlags();
  renderStatus(item);
  toast("Flag removed");
}
async function openFlags() {
  await refreshFlags();
  S.flagList.active = 0;
  renderFlags();
  openDialog("flags");
}
function renderFlags() {
  const { items, active } = S.flagList;
  $("flags-list").replaceChildren(...items.map(({ flag, item }, i) => el("li", {
    class: i === active ? "active" : "", onclick: () => enqueue(() => showFlagged(i)),
  },
  el("span", { class: "when" }, clock(flag.at)),
  el("strong", { class: "what" }, `⚑ ${flag.reviewer === S.info.reviewer ? "you" : flag.reviewer}`),
  el("span", { class: "code" }, `${item.code.label}${flag.comment ? " — " + flag.comment : ""}`),
  el("span", { class: "where" }, `${item.transcript.name} · passage ${item.segment.index + 1}`))));
  $("flags-empty").hidden = items.length > 0;
  const current = $("flags-list").children[active];
  if (current) current.scrollIntoView({ block: "nearest" });
}
async function showFlagged(i) {
  const entry = S.flagList.items[i];
  if (!entry) return;
  closeDialog();
  if (S.view !== "review") switchView("review");
  show(await api("GET", `/api/queue/locate/${encodeURIComponent(entry.item.id)}?${query(S.filter)}`));
}
function flagsKey(event) {
  const n = S.flagList.items.length;
  if (!n) return event.key === "Enter" ? closeDialog() : undefined;
  if (event.key === "ArrowDown" || event.key === "j") S.flagList.active = (S.flagList.active + 1) % n;
  else if (event.key === "ArrowUp" || event.key === "k") S.flagList.active = (S.flagList.active + n - 1) % n;
  else if (event.key === "Enter") return showFlagged(S.flagList.active);
  else return;
  renderFlags();
}

// -- claims: who works on which transcript --------------------------------------------------------
async function refreshClaims() {
  try {
    const claims = await api("GET", "/api/claims");
    $("claims-list").replaceChildren(...claims.map((c) => el("li", { class: c.mine ? "mine" : "" },
      el("span", { class: "t", title: `claimed ${when(c.claimed_at)}` }, `${c.transcript.name} · ${c.mine ? "you" : c.reviewer}`),
      c.mine ? el("button", { class: "btn small ghost", onclick: () => enqueue(() => releaseClaim(c)) }, "Release") : null)));
    if (!claims.length) $("claims-list").append(el("li", { class: "hint" }, "Nobody has claimed a transcript."));
  } catch (e) { /* shown by the next action */ }
}
async function claimNext() {
  const claim = await api("POST", "/api/claims", { transcript_id: null });
  await refreshClaims();
  $("f-transcript").value = claim.transcript.id;  // and work through it
  onFilterChange(null);
  toast(`You claimed ${claim.transcript.name}: the others' queues skip it until you release it`);
}
async function releaseClaim(claim) {
  await api("POST", `/api/claims/${encodeURIComponent(claim.transcript.id)}/release`);
  await refreshClaims();
  toast(`Released ${claim.transcript.name}`);
}

// -- recent decisions: any of them can be undone -------------------------------------------------
const RECENT = 40;
async function openRecent() {
  S.recent = { items: await api("GET", `/api/recent?limit=${RECENT}`), active: 0 };
  renderRecent();
  openDialog("recent");
}
function renderRecent() {
  const { items, active } = S.recent;
  const list = $("recent-list");
  list.replaceChildren(...items.map((it, i) => el("li", {
    class: i === active ? "active" : "", title: it.mine.note ? `Note: ${it.mine.note}` : "",
    onclick: () => enqueue(() => showRecent(i)),
  },
  el("span", { class: "when" }, clock(it.mine.at)),
  el("strong", { class: `what ${it.mine.outcome || ""}` }, describeDecision(it.mine)),
  el("span", { class: "code" }, it.code.label),
  el("span", { class: "where" }, `${it.transcript.name} · passage ${it.segment.index + 1}`),
  el("button", { class: "btn small ghost", title: "Undo this decision", onclick: (e) => { e.stopPropagation(); enqueue(() => undoRecent(i)); } }, "Undo"))));
  $("recent-empty").hidden = items.length > 0;
  const current = list.children[active];
  if (current) current.scrollIntoView({ block: "nearest" });
}
async function showRecent(i) {
  const it = S.recent.items[i];
  if (!it) return;
  closeDialog();
  if (S.view !== "review") switchView("review");
  show(await api("GET", `/api/queue/locate/${encodeURIComponent(it.id)}?${query(S.filter)}`));
}
async function undoRecent(i) {
  const it = S.recent.items[i];
  if (!it) return;
  const result = await api("POST", `/api/items/${encodeURIComponent(it.id)}/undo`);
  refreshProgress();
  S.recent.items = await api("GET", `/api/recent?limit=${RECENT}`);
  S.recent.active = Math.min(S.recent.active, Math.max(0, S.recent.items.length - 1));
  renderRecent();
  if (S.current && S.current.item) await reloadCurrent();
  toast(`Undone: ${describeDecision(result.undone)} · ${it.code.label}`);
}
function recentKey(event) {
  const n = S.recent.items.length;
  if (!n) return event.key === "Enter" ? closeDialog() : undefined;
  if (event.key === "ArrowDown" || event.key === "j") S.recent.active = (S.recent.active + 1) % n;
  else if (event.key === "ArrowUp" || event.key === "k") S.recent.active = (S.recent.active + n - 1) % n;
  else if (event.key === "Enter") return showRecent(S.recent.active);
  else if (event.key === "u") return undoRecent(S.recent.active);
  else return;
  renderRecent();
}

// -- quote span ----------------------------------------------------------------------------------
function selectionSpan() {
  const sel = window.getSelection();
  const container = S.view === "passages" ? $("ps-text") : $("p-text");
  if (!sel || sel.rangeCount === 0 || sel.isCollapsed) return null;
  const range = sel.getRangeAt(0);
  if (!container.contains(range.startContainer) || !container.contains(range.endContainer)) return null;
  const offset = (node, off) => {
    const r = document.createRange();
    r.setStart(container, 0);
    r.setEnd(node, off);
    return r.toString().length;
  };
  let start = offset(range.startContainer, range.startOffset);
  let end = offset(range.endContainer, range.endOffset);
  const text = S.current.item.segment.text;
  while (start < end && /\s/.test(text[start])) start++;
  while (end > start && /\s/.test(text[end - 1])) end--;
  if (end <= start) return null;
  const base = S.current.item.segment.start;
  return { start: base + pointIndex(text, start), end: base + pointIndex(text, end) };
}

function spanKey() {
  const item = S.current && S.current.item;
  if (!item) return;
  const chosen = selectionSpan();
  if (chosen) {
    window.getSelection().removeAllRanges();
    hideSelectionTools();
    return decide({ action: "edit", quote_start: chosen.start, quote_end: chosen.end }, false);
  }
  const start = item.effective_start ?? item.quote_start ?? item.segment.start;
  const end = item.effective_end ?? item.quote_end ?? Math.min(item.segment.end, item.segment.start + pointLength((item.segment.text.match(/^\S+/) || [""])[0]));
  S.span = { start, end };
  renderPassage(item);
}

function wordEdges(text) {
  const starts = [], ends = [];
  for (const m of text.matchAll(/\S+/g)) { starts.push(pointIndex(text, m.index)); ends.push(pointIndex(text, m.index + m[0].length)); }
  return { starts, ends };
}

function moveSpan(key, shift) {
  const item = S.current.item;
  const base = item.segment.start;
  const { starts, ends } = wordEdges(item.segment.text);
  let s = S.span.start - base, e = S.span.end - base;
  // the nearest word edge in the wanted direction, or stay put when there is none
  const nearest = (edges, keep, fallback, pick) => { const c = edges.filter(keep); return c.length ? pick(...c) : fallback; };
  if (shift && key === "ArrowLeft") s = nearest(starts, (x) => x < s, s, Math.max);
  else if (shift) s = nearest(starts, (x) => x > s && x < e, s, Math.min);
  else if (key === "ArrowRight") e = nearest(ends, (x) => x > e, e, Math.min);
  else e = nearest(ends, (x) => x < e && x > s, e, Math.max);
  S.span = { start: base + s, end: base + e };
  renderPassage(item);
}

function spanModeKey(event) {
  if (event.key === "Escape") { S.span = null; renderPassage(S.current.item); return true; }
  if (event.key === "Enter") {
    const span = S.span;
    S.span = null;
    return decide({ action: "edit", quote_start: span.start, quote_end: span.end }, false);
  }
  if (event.key === "ArrowLeft" || event.key === "ArrowRight") { moveSpan(event.key, event.shiftKey); return true; }
  return false;
}

function showSelectionTools() {
  const tools = $("selection-tools");
  const sel = window.getSelection();
  if (!selectionSpan()) { hideSelectionTools(); return; }
  const rect = sel.getRangeAt(0).getBoundingClientRect();
  const panel = tools.parentElement.getBoundingClientRect();
  tools.hidden = false;
  const left = Math.min(Math.max(8, rect.left - panel.left), panel.width - tools.offsetWidth - 8);
  const above = rect.top - panel.top - tools.offsetHeight - 8;
  tools.style.left = `${left}px`;
  tools.style.top = `${above > 50 ? above : rect.bottom - panel.top + 8}px`;
}
function hideSelectionTools() { $("selection-tools").hidden = true; }

// -- dialogs -------------------------------------------------------------------------------------
function openDialog(name) {
  S.dialog = name;
  $("overlay").hidden = false;
  for (const d of document.querySelectorAll(".dialog")) d.hidden = d.id !== `dlg-${name}`;
}
function closeDialog() {
  // a hidden field would keep the focus (and swallow the next keys) if it were not let go
  if ($("overlay").contains(document.activeElement)) document.activeElement.blur();
  S.dialog = null;
  $("overlay").hidden = true;
  for (const d of document.querySelectorAll(".dialog")) d.hidden = true;
}

function openReject() {
  if (!S.current || !S.current.item) return;
  S.rejectReason = null;
  const box = $("reject-reasons");
  box.replaceChildren();
  Object.entries(S.info.reasons).forEach(([key, text], i) => {
    box.append(el("div", { class: "reason", role: "radio", "aria-checked": "false", "data-key": key, onclick: () => pickReason(key) }, el("kbd", {}, String(i + 1)), text));
  });
  $("reject-note").value = "";
  openDialog("reject");
  $("reject-confirm").focus();
}
function pickReason(key) {
  S.rejectReason = S.rejectReason === key ? null : key;
  for (const node of $("reject-reasons").children) {
    const on = node.dataset.key === S.rejectReason;
    node.classList.toggle("selected", on);
    node.setAttribute("aria-checked", String(on));
  }
}
function confirmReject() {
  const body = { action: "reject", reason: S.rejectReason, note: $("reject-note").value.trim() || null };
  closeDialog();
  return decide(body, true);
}
function rejectKey(event, typing) {
  if (event.key === "Enter" && !event.shiftKey) return confirmReject();
  if (typing) return "native";
  if (/^[1-9]$/.test(event.key)) {
    const key = Object.keys(S.info.reasons)[Number(event.key) - 1];
    if (key) pickReason(key);
  } else if (event.key === "n") $("reject-note").focus();
}

function openPicker(mode) {
  const item = S.current && S.current.item;
  if (!item) return;
  const span = mode === "missed" ? selectionSpan() : null;
  S.picker = { mode, items: [], active: 0, span };
  setText("dlg-picker-title", mode === "change" ? "Change the code" : "Add a code the machine missed");
  setText("picker-sub", mode === "change"
    ? `Suggested: ${item.code.label}. The quote stays as it is; your change is recorded as an edit.`
    : span ? `On the selected words: “${pointSlice(item.segment.text, span.start - item.segment.start, span.end - item.segment.start).slice(0, 120)}”`
      : "On the whole passage (select words first to code only those).");
  setText("picker-confirm", mode === "change" ? "Use this code" : "Add this code");
  $("picker-search").value = "";
  openDialog("picker");
  filterPicker();
  $("picker-search").focus();
}
function filterPicker() {
  const words = $("picker-search").value.toLowerCase().split(/\s+/).filter(Boolean);
  const item = S.current.item;
  const currentCode = (item.effective_code || item.code).id;
  // every word must occur somewhere; codes whose label holds the words come first, then path, then id
  const rank = (c) => {
    const label = c.label.toLowerCase(), path = c.path.toLowerCase(), id = c.id.toLowerCase();
    const hay = `${label} ${path} ${id} ${c.definition.toLowerCase()}`;
    if (!words.every((w) => hay.includes(w))) return -1;
    if (words.every((w) => label.includes(w))) return label.startsWith(words[0] || "") ? 0 : 1;
    if (words.every((w) => path.includes(w))) return 2;
    return words.every((w) => id.includes(w)) ? 3 : 4;
  };
  const matches = S.info.codes.map((c, order) => ({ c, order, r: words.length ? rank(c) : 0 }))
    .filter((m) => m.r >= 0).sort((a, b) => a.r - b.r || a.order - b.order).map((m) => m.c);
  S.picker.items = matches;
  S.picker.active = Math.max(0, matches.findIndex((c) => c.id === currentCode && S.picker.mode === "change" && !words.length));
  if (S.picker.active < 0) S.picker.active = 0;
  const list = $("picker-list");
  list.replaceChildren(...matches.map((c, i) => el("li", {
    class: `${c.id === currentCode && S.picker.mode === "change" ? "current" : ""}`, role: "option",
    onclick: () => { S.picker.active = i; confirmPicker(); },
    onmousemove: () => { if (S.picker.active !== i) { S.picker.active = i; paintPicker(); } },
  }, el("span", { class: "lv" }, c.level), el("div", { class: "l" }, c.label), el("div", { class: "p" }, pathText(c.path)))));
  if (!matches.length) list.append(el("li", {}, el("div", { class: "p" }, "No code matches these words.")));
  paintPicker();
}
function paintPicker() {
  const list = $("picker-list");
  [...list.children].forEach((li, i) => li.classList.toggle("active", i === S.picker.active));
  const active = list.children[S.picker.active];
  if (active && S.picker.items.length) active.scrollIntoView({ block: "nearest" });
  const code = S.picker.items[S.picker.active];
  setText("picker-detail", code ? code.definition : "");
}
function pickerKey(event, typing) {
  if (event.key === "ArrowDown" || event.key === "ArrowUp") {
    const n = S.picker.items.length;
    if (!n) return;
    S.picker.active = (S.picker.active + (event.key === "ArrowDown" ? 1 : n - 1)) % n;
    paintPicker();
  } else if (event.key === "Enter") return confirmPicker();
  else if (typing) return "native";
  else if (event.key.length === 1) {  // typed before the picker had the focus: it belongs in the search
    $("picker-search").value += event.key;
    filterPicker();
  }
}
function confirmPicker() {
  const code = S.picker.items[S.picker.active];
  if (!code) return;
  const { mode, span } = S.picker;
  const item = S.current.item;
  closeDialog();
  if (mode === "change") return decide({ action: "edit", code_id: code.id }, false);
  return (async () => {
    const added = await api("POST", "/api/missed", { segment_id: item.segment.id, code_id: code.id, quote_start: span ? span.start : null, quote_end: span ? span.end : null });
    window.getSelection().removeAllRanges();
    hideSelectionTools();
    refreshProgress();
    await reloadCurrent();
    toast(`Added ${added.label}${span ? " on the selected words" : " on the whole passage"}  ·  u to undo`);
  })();
}

function describeFilter() {
  const f = S.filter, info = S.info, out = [];
  const status = $("f-status").selectedOptions[0].textContent;
  out.push(`Status: ${status}${f.reviewer ? ` (decisions by ${f.reviewer === "*" ? "anyone" : f.reviewer})` : ""}`);
  if (f.transcript) out.push(`Transcript: ${(info.transcripts.find((t) => t.id === f.transcript) || {}).name}`);
  if (f.code) out.push(`Code: ${pathText(codeById.get(f.code).path)} (and codes below it)`);
  if (f.min_score !== "" || f.max_score !== "") out.push(`${$("score-label").textContent}: ${f.min_score || "…"} to ${f.max_score || "…"}`);
  if (f.grounding) out.push(`Quote found: ${$("f-grounding").selectedOptions[0].textContent}`);
  return out;
}

async function openBulk(action) {
  const preview = await api("GET", `/api/bulk?${query(S.filter)}`);
  S.bulk = { action, count: preview.count };
  const verb = action === "accept" ? "Accept" : "Reject";
  setText("dlg-bulk-title", `${verb} ${preview.count} ${preview.count === 1 ? "suggestion" : "suggestions"}?`);
  setText("bulk-count", `This records ${preview.count} ${action} ${preview.count === 1 ? "decision" : "decisions"} as ${S.info.reviewer}, one for every suggestion the current filter matches:`);
  $("bulk-filter").replaceChildren(...describeFilter().map((line) => el("li", {}, line)));
  setText("bulk-already", preview.already_decided
    ? `${preview.already_decided} of them already have a decision of yours; it will be replaced by this one (the earlier one stays in the record).`
    : "Each one can still be undone on its own afterwards.");
  $("bulk-reason-wrap").hidden = action !== "reject";
  $("bulk-reason").value = "";
  const confirm = $("bulk-confirm");
  confirm.className = `btn ${action === "accept" ? "accept" : "reject"}`;
  confirm.textContent = `${verb} ${preview.count}`;
  confirm.disabled = preview.count === 0;
  openDialog("bulk");
  confirm.focus();
}
async function confirmBulk() {
  const body = { filter: S.filter, action: S.bulk.action, expected: S.bulk.count, reason: S.bulk.action === "reject" ? ($("bulk-reason").value || null) : null };
  for (const key of ["transcript", "code", "min_score", "max_score", "grounding", "reviewer"]) if (body.filter[key] === "") body.filter = { ...body.filter, [key]: null };
  closeDialog();
  const result = await api("POST", "/api/bulk", body);
  refreshProgress();
  await go(null);
  toast(`Recorded ${result.recorded} ${body.action} decisions`);
}

// -- progress and precision ----------------------------------------------------------------------
/* Review learns (review --learn): what the learned model was last trained on. */
function showLearn(l) {
  const when = l.trained_at ? new Date(l.trained_at).toLocaleTimeString() : "never";
  setText("learn-status", `Trained ${when} on ${l.training_segments} human-coded segments · ${l.proposals_total} codes proposed in this run · `
    + (l.every ? `retrains every ${l.every} decisions (${l.decisions_since} since)` : `${l.decisions_since} decisions since`));
}

async function retrainNow() {
  const button = $("learn-retrain");
  button.disabled = true;
  setText("learn-status", "Retraining…");
  try {
    const l = await api("POST", "/api/learn/retrain");
    showLearn(l);
    toast(`Retrained in ${l.seconds.toFixed(1)} s: ${l.proposed} new codes proposed; queue re-ranked`);
    if (S.filter.order === "learned") await go(null);
  } finally { button.disabled = false; }
}

async function refreshProgress() {
  if (S.info && S.info.learn && S.info.learn.enabled) api("GET", "/api/learn").then(showLearn).catch(() => {});
  try {
    const p = await api("GET", `/api/progress?${query({ reviewer: S.filter.reviewer })}`);
    $("progress-fill").style.width = p.total ? `${(100 * p.reviewed) / p.total}%` : "0";
    setText("progress-text", `${p.reviewed} / ${p.total} reviewed · ${p.remaining} left`);
    if (S.view === "quality") renderQuality(p);
  } catch (e) { /* shown by the next action */ }
}

function renderQuality(p) {
  const who = p.scope === "*" ? "anyone's latest decisions" : `${p.scope}'s decisions`;
  const o = p.overall;
  $("q-summary").replaceChildren(
    el("div", { class: "stat" }, el("div", { class: "v" }, `${p.reviewed} / ${p.total}`), el("div", { class: "l" }, `reviewed (${who})`)),
    el("div", { class: "stat" }, el("div", { class: "v" }, o.precision == null ? "–" : pct(o.precision)), el("div", { class: "l" }, o.precision == null ? "overall precision" : `overall precision, 95% CI ${pct(o.ci_low)}–${pct(o.ci_high)}`)),
    el("div", { class: "stat" }, el("div", { class: "v" }, `${o.accepted} / ${o.changed} / ${o.rejected}`), el("div", { class: "l" }, "accepted / code changed / rejected")),
    el("div", { class: "stat" }, el("div", { class: "v" }, String(o.added)), el("div", { class: "l" }, "codes added by reviewers")),
  );
  const row = (c, total) => el("tr", { class: c.precision == null ? "na" : "" },
    el("td", { class: "code-col" }, c.label, c.path ? el("span", { class: "p" }, pathText(c.path)) : null),
    el("td", {}, c.suggested), el("td", {}, c.reviewed), el("td", {}, c.accepted), el("td", {}, c.changed),
    el("td", {}, c.rejected), el("td", {}, c.added),
    el("td", { class: "prec-col" }, precisionBar(c), c.precision == null ? "–" : `${pct(c.precision)}  (${pct(c.ci_low)}–${pct(c.ci_high)})`));
  $("q-rows").replaceChildren(...p.per_code.map((c) => row(c, false)));
  $("q-total").replaceChildren(row(o, true));
  setText("decision-status", `Updated ${new Date().toLocaleTimeString()} · refreshes every 15 s and after every decision`);
}
function precisionBar(c) {
  const bar = el("span", { class: "precbar" });
  if (c.precision != null) {
    const ci = el("span", { class: "ci" });
    ci.style.left = `${c.ci_low * 100}%`;
    ci.style.width = `${(c.ci_high - c.ci_low) * 100}%`;
    const pt = el("span", { class: "pt" });
    pt.style.left = `calc(${c.precision * 100}% - 1px)`;
    bar.append(ci, pt);
  }
  return bar;
}

// -- proposals -----------------------------------------------------------------------------------
async function loadProposals() {
  const state = $("pr-state").value;
  S.proposals = await api("GET", `/api/proposals?${query({ state })}`);
  S.proposalIndex = Math.min(S.proposalIndex, Math.max(0, S.proposals.length - 1));
  renderProposals();
}
function renderProposals() {
  const list = $("pr-list");
  list.replaceChildren(...S.proposals.map((p, i) => el("li", { class: i === S.proposalIndex ? "current" : "", onclick: () => { S.proposalIndex = i; renderProposals(); } },
    el("span", { class: "t" }, p.label), el("span", { class: "m" }, `${p.transcript.name} · ${p.state}`))));
  $("pr-empty").hidden = S.proposals.length > 0;
  const p = S.proposals[S.proposalIndex];
  $("pa-adopt").disabled = $("pa-dismiss").disabled = !p || p.state === "adopted";
  for (const id of ["pp-transcript", "pp-meta", "pp-place", "pp-speaker", "pp-label", "pp-parent", "pp-definition", "pp-rationale", "pp-decided", "pp-state"]) setText(id, "");
  $("pp-text").replaceChildren();
  $("pp-context").hidden = true;
  $("pp-notice").hidden = true;
  setText("decision-status", p ? `Proposal ${S.proposalIndex + 1} of ${S.proposals.length}` : "");
  if (!p) return;
  setText("pp-transcript", p.transcript.name);
  setText("pp-meta", [p.transcript.participant, p.transcript.group, p.transcript.site].filter(Boolean).join(" · "));
  setText("pp-place", `passage ${p.segment.index + 1}`);
  $("pp-context").hidden = !p.context;
  if (p.context) { setText("pp-context-speaker", p.context.speaker); setText("pp-context-text", p.context.text); }
  setText("pp-speaker", p.segment.speaker);
  const grounded = p.grounding !== "ungrounded" && p.quote_start != null;
  paintText($("pp-text"), p.segment.text, p.segment.start, grounded ? [{ start: p.quote_start, end: p.quote_end, cls: "hl-quote" }] : []);
  if (!grounded) {
    $("pp-notice").replaceChildren(el("strong", {}, "Quote not found in the transcript"), " — the model quoted: ", el("q", {}, p.quote));
    $("pp-notice").hidden = false;
  }
  setText("pp-state", p.state);
  setText("pp-label", p.label);
  setText("pp-parent", p.parent_path ? `under ${pathText(p.parent_path)}` : "top level (no parent given)");
  setText("pp-definition", p.definition);
  setText("pp-rationale", p.rationale || "No rationale given.");
  setText("pp-decided", p.decided_by ? `${p.state} by ${p.decided_by}${p.new_code_id ? " as " + p.new_code_id : ""}${p.note ? " — " + p.note : ""}` : "");
}
function openAdopt() {
  const p = S.proposals[S.proposalIndex];
  if (!p || p.state === "adopted") return;
  const parent = $("ad-parent");
  if (parent.options.length === 1) for (const c of S.info.codes) parent.append(el("option", { value: c.id }, "\u00a0\u00a0\u00a0".repeat(c.depth - 1) + c.label));
  $("ad-label").value = p.label;
  $("ad-id").value = p.suggested_code_id;
  parent.value = p.parent_code_id && codeById.has(p.parent_code_id) ? p.parent_code_id : "";
  $("ad-definition").value = p.definition;
  $("ad-include").value = "";
  $("ad-exclude").value = "";
  $("ad-examples").value = p.quote;
  setText("adopt-sub", "Writes a new version of the codebook with this code added (the run's own codebook is not changed). Every code needs at least one inclusion rule, exclusion rule and example.");
  $("adopt-error").hidden = true;
  openDialog("adopt");
  $("ad-label").focus();
}
async function confirmAdopt() {
  const p = S.proposals[S.proposalIndex];
  const lines = (id) => $(id).value.split("\n").map((x) => x.trim()).filter(Boolean);
  const form = { code_id: $("ad-id").value.trim(), label: $("ad-label").value.trim(), parent: $("ad-parent").value || null, definition: $("ad-definition").value.trim(), include: lines("ad-include"), exclude: lines("ad-exclude"), examples: lines("ad-examples") };
  try {
    const result = await api("POST", `/api/proposals/${encodeURIComponent(p.id)}/adopt`, form);
    closeDialog();
    toast(`Adopted as ${result.code_id}: codebook version ${result.codebook_version} written to ${result.path}`);
    await refreshProposalCount();
    await loadProposals();
  } catch (e) {
    setText("adopt-error", e.message);
    $("adopt-error").hidden = false;
  }
}
async function dismissProposal() {
  const p = S.proposals[S.proposalIndex];
  if (!p || p.state === "adopted") return;
  await api("POST", `/api/proposals/${encodeURIComponent(p.id)}/dismiss`, {});
  toast(`Dismissed “${p.label}”`);
  await refreshProposalCount();
  await loadProposals();
}
async function refreshProposalCount() {
  setText("proposals-count", (await api("GET", "/api/proposals?state=open")).length);
}

// -- views and keys ------------------------------------------------------------------------------
function switchView(view) {
  S.view = view;
  document.body.dataset.view = view;
  for (const tab of document.querySelectorAll(".tab")) tab.setAttribute("aria-selected", String(tab.dataset.view === view));
  for (const name of ["review", "passages", "adjudicate", "proposals", "quality"]) $(`view-${name}`).hidden = name !== view;
  $("review-actions").hidden = view !== "review" && view !== "passages";
  $("proposal-actions").hidden = view !== "proposals";
  $("actionbar").querySelector(".nav").style.visibility = view === "quality" ? "hidden" : "visible";
  if (view === "review") { S.current = S.reviewCurrent; renderItem(); }
  if (view === "adjudicate") enqueue(loadDisagreements);
  if (view === "passages") enqueue(() => (S.passages.view ? reloadPassage(false) : loadPassage(null)));
  if (view === "proposals") enqueue(loadProposals);
  if (view === "quality") { setText("decision-status", ""); refreshProgress(); }
  writeHash();
}

function onFilterChange(event) {
  const f = S.filter;
  f.transcript = $("f-transcript").value; f.code = $("f-code").value; f.status = $("f-status").value;
  f.reviewer = $("f-reviewer").value; f.min_score = $("f-min").value; f.max_score = $("f-max").value;
  f.grounding = $("f-grounding").value; f.order = $("f-order").value;
  $("q-reviewer").value = f.reviewer;
  if (event && event.target && event.target.tagName === "SELECT") S.justFiltered = event.target;
  enqueue(() => go(null));
  refreshProgress();
}

function bindControls() {
  for (const id of ["f-transcript", "f-code", "f-status", "f-reviewer", "f-grounding", "f-order", "f-min", "f-max"]) $(id).addEventListener("change", onFilterChange);
  $("q-reviewer").addEventListener("change", () => { $("f-reviewer").value = $("q-reviewer").value; onFilterChange(null); });
  for (const tab of document.querySelectorAll(".tab")) tab.addEventListener("click", () => switchView(tab.dataset.view));
  for (const link of document.querySelectorAll("[data-goto]")) link.addEventListener("click", (e) => { e.preventDefault(); switchView(link.dataset.goto); });
  $("a-accept").addEventListener("click", () => enqueue(accept));
  $("a-reject").addEventListener("click", () => enqueue(openReject));
  $("a-change").addEventListener("click", () => enqueue(() => openPicker("change")));
  $("a-span").addEventListener("click", () => enqueue(spanKey));
  $("a-missed").addEventListener("click", () => enqueue(() => openPicker("missed")));
  $("a-undo").addEventListener("click", () => enqueue(undo));
  $("n-next").addEventListener("click", () => enqueue(() => navigate(false)));
  $("n-prev").addEventListener("click", () => enqueue(() => navigate(true)));
  $("sel-span").addEventListener("mousedown", (e) => e.preventDefault());
  $("sel-missed").addEventListener("mousedown", (e) => e.preventDefault());
  $("sel-span").addEventListener("click", () => enqueue(spanKey));
  $("sel-missed").addEventListener("click", () => enqueue(() => openPicker("missed")));
  $("p-text").addEventListener("mouseup", () => setTimeout(showSelectionTools, 0));
  document.addEventListener("selectionchange", () => { if (!selectionSpan()) hideSelectionTools(); });
  $("reject-confirm").addEventListener("click", () => enqueue(confirmReject));
  $("picker-search").addEventListener("input", filterPicker);
  $("picker-confirm").addEventListener("click", () => enqueue(confirmPicker));
  $("bulk-accept").addEventListener("click", () => enqueue(() => openBulk("accept")));
  $("bulk-reject").addEventListener("click", () => enqueue(() => openBulk("reject")));
  $("bulk-confirm").addEventListener("click", () => enqueue(confirmBulk));
  $("adopt-confirm").addEventListener("click", () => enqueue(confirmAdopt));
  $("pa-adopt").addEventListener("click", () => enqueue(openAdopt));
  $("pa-dismiss").addEventListener("click", () => enqueue(dismissProposal));
  $("pr-state").addEventListener("change", () => { S.proposalIndex = 0; enqueue(loadProposals); });
  $("help-btn").addEventListener("click", () => openDialog("help"));
  $("recent-btn").addEventListener("click", () => enqueue(openRecent));
  $("claim-next").addEventListener("click", () => enqueue(claimNext));
  $("learn-retrain").addEventListener("click", () => enqueue(retrainNow));
  $("flag-save").addEventListener("click", () => enqueue(saveFlag));
  $("flag-remove").addEventListener("click", () => enqueue(removeFlag));
  for (const id of ["adj-first", "adj-second"]) $(id).addEventListener("change", (e) => { S.justFiltered = e.target; enqueue(loadDisagreements); });
  $("ps-only").addEventListener("change", (e) => { S.justFiltered = e.target; enqueue(() => loadPassage(null)); });
  $("filters-btn").addEventListener("click", () => document.body.classList.toggle("show-filters"));
  document.addEventListener("mousedown", (e) => {  // a click outside the filter drawer closes it
    if (!e.target.closest(".filters") && !e.target.closest("#filters-btn")) document.body.classList.remove("show-filters");
  });
  for (const button of document.querySelectorAll("[data-close]")) button.addEventListener("click", closeDialog);
  $("overlay").addEventListener("mousedown", (e) => { if (e.target === $("overlay")) closeDialog(); });
  document.addEventListener("keydown", onKey);
}

function navigate(backwards) {
  if (S.view === "proposals") {
    const n = S.proposals.length;
    if (n) { S.proposalIndex = (S.proposalIndex + (backwards ? n - 1 : 1)) % n; renderProposals(); }
    return;
  }
  if (S.view === "passages") {
    const p = S.passages.view && S.passages.view.passage;
    return loadPassage(p ? p.segment.id : null, backwards);
  }
  if (S.view !== "review") return;
  const item = S.current && S.current.item;
  return go(item ? item.id : null, backwards);
}

const OUR_KEYS = new Set([..."arcsmujkfdnh?!F123456789", "Enter", "Escape", "ArrowLeft", "ArrowRight", "ArrowUp", "ArrowDown", " ", "PageDown", "PageUp"]);
const ACTION_KEYS = new Set([..."arcsmujkfdnh?!F12345"]);  // taken back from a filter that has just been changed

function onKey(event) {
  if (event.ctrlKey || event.metaKey || event.altKey) return;
  if (!S.dialog && S.justFiltered === event.target && ACTION_KEYS.has(event.key)) {
    event.target.blur();  // the filter is set: the next letter is a review key, not a jump in the list
  } else if (!S.dialog && !S.span && ["Enter", " "].includes(event.key) && ["BUTTON", "A", "SUMMARY"].includes(event.target.tagName)) {
    return;  // a focused button (or link) does what Enter or Space on it always does
  }
  S.justFiltered = null;
  const typing = ["INPUT", "SELECT", "TEXTAREA"].includes(event.target.tagName) && document.activeElement === event.target;
  if (typing) {  // a form field keeps its keys; a dialog still hears Enter, Esc and the arrows
    if (S.dialog && dialogHears(event)) {
      event.preventDefault();
      const key = { key: event.key, shiftKey: event.shiftKey, target: event.target };
      enqueue(() => dialogKey(key, true));
    } else if (!S.dialog && event.key === "Escape") { event.target.blur(); document.body.classList.remove("show-filters"); }
    return;
  }
  // while earlier actions are still running, every plain key waits its turn (it may be meant for
  // the search field of a picker that is about to open)
  if (!OUR_KEYS.has(event.key) && !(S.pending && event.key.length === 1)) return;
  event.preventDefault();
  const key = { key: event.key, shiftKey: event.shiftKey, target: event.target };
  enqueue(() => (S.dialog ? dialogKey(key, false) : mainKey(key)));
}

/* Which keys a dialog takes from its form fields (the rest type into them). */
function dialogHears(event) {
  if (event.key === "Escape") return true;
  if (S.dialog === "picker") return ["Enter", "ArrowUp", "ArrowDown"].includes(event.key);
  if (S.dialog === "reject" || S.dialog === "flag") return event.key === "Enter" && !event.shiftKey;
  return event.key === "Enter" && event.target.tagName === "INPUT";
}

/* A key for the open dialog (run in the action queue); "native" means it is not the dialog's. */
function dialogKey(event, typing) {
  if (!S.dialog) return;
  if (event.key === "Escape") { closeDialog(); return; }
  if (S.dialog === "reject") return rejectKey(event, typing);
  if (S.dialog === "picker") return pickerKey(event, typing);
  if (S.dialog === "bulk" && event.key === "Enter") return confirmBulk();
  if (S.dialog === "adopt" && event.key === "Enter" && event.target.tagName !== "TEXTAREA") return confirmAdopt();
  if (S.dialog === "help" && event.key === "Enter") { closeDialog(); return; }
  if (S.dialog === "recent") return recentKey(event);
  if (S.dialog === "flags") return flagsKey(event);
  if (S.dialog === "flag" && event.key === "Enter" && !event.shiftKey) return saveFlag();
  return "native";
}

function mainKey(event) {
  if (S.view === "review" && S.span) {
    const handled = spanModeKey(event);
    if (handled) return handled;
  }
  const key = event.key;
  const views = { 1: "review", 2: "proposals", 3: "quality", 4: "passages", 5: "adjudicate" };
  if (views[key]) return switchView(views[key]);
  if (key === "?") return openDialog("help");
  if (key === "h") return openRecent();
  if (key === "F") return openFlags();
  if (key === "!" && S.current && S.current.item && !S.current.item.pseudo && (S.view === "review" || S.view === "passages")) return openFlag();
  if (key === "j") return navigate(false);
  if (key === "k") return navigate(true);
  if (key === "f") { switchView("review"); document.body.classList.add("show-filters"); $("f-status").focus(); return; }
  if (key === " " || key === "PageDown" || key === "PageUp") {  // scroll a long passage (Shift+Space: back)
    const scroller = S.view === "proposals" ? $("pp-scroll") : $("p-scroll");
    const down = key === "PageDown" || (key === " " && !event.shiftKey);
    scroller.scrollBy({ top: (down ? 1 : -1) * Math.max(40, scroller.clientHeight - 60), behavior: "instant" });
    return;
  }
  if (S.view === "proposals") {
    if (key === "a") return openAdopt();
    if (key === "d") return dismissProposal();
    return;
  }
  if (S.view === "adjudicate") return adjudicateKey(key);
  if (S.view === "passages") {
    const items = S.passages.view && S.passages.view.passage ? S.passages.view.passage.items : [];
    if ((key === "ArrowDown" || key === "ArrowUp") && items.length) {
      S.passages.active = (S.passages.active + (key === "ArrowDown" ? 1 : items.length - 1)) % items.length;
      renderPassageView();
      return;
    }
    if (key === "m") return openPicker("missed");
    if (!items.length) {
      if ("arcsu".includes(key)) toast("No suggestion on this passage: m adds a code the machine missed");
      return;
    }
  } else if (S.view !== "review") return;
  const actions = { a: accept, r: openReject, c: () => openPicker("change"), s: spanKey, m: () => openPicker("missed"), u: undo };
  if (actions[key]) return actions[key]();
}

start().catch((e) => toast(e.message || String(e), true));
