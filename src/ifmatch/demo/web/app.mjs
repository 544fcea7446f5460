// The demo page: edit a document, save with If-Match, poll with If-None-Match, merge after 412.
//
// The page keeps the ETag of the version it loaded (`doc.etag`) and the text of that version
// (`doc.base`). Save sends `If-Match: doc.etag`. Meanwhile a poll asks the server for the
// document with `If-None-Match`; a 304 means nobody saved, a 200 means someone did, and the page
// says so at once. A save based on an old version is refused with 412, whose problem body
// carries the current document: the page merges base / yours / theirs (diff3.mjs) and the
// user saves the result conditionally on the new ETag.

import { changedLines, findConflicts, mergeTexts, resolveConflict, splitLines } from "./diff3.mjs";
import { currentRepresentation, parseBody } from "./problem.mjs";

const params = new URLSearchParams(location.search);
const POLL_MS = Number(params.get("poll")) || 1000;
const WIRE_ROWS = 14;
const $ = (id) => document.getElementById(id);

const state = {
  user: "",
  doc: null, // {id, url, etag, version, savedBy, base: {title, text}}
  remote: null, // the newest version polling has seen, when it differs from doc
  listEtag: null,
  busy: false, // a save is in flight: polls wait
};

// --- HTTP, with every exchange shown in the wire panel ---------------------------------------

const wire = [];

async function api(method, url, { body, ifMatch, ifNoneMatch } = {}) {
  const headers = { Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (ifMatch) headers["If-Match"] = ifMatch;
  if (ifNoneMatch) headers["If-None-Match"] = ifNoneMatch;
  if (state.user) headers["X-User"] = state.user;
  const response = await fetch(url, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    cache: "no-store", // our own conditional headers decide; the browser cache stays out of it
  });
  const text = response.status === 304 ? "" : await response.text();
  const result = {
    status: response.status,
    statusText: response.statusText,
    etag: response.headers.get("ETag"),
    location: response.headers.get("Location"),
    contentType: response.headers.get("Content-Type"),
    body: parseBody(text),
  };
  record(method, url, headers, result);
  return result;
}

function record(method, url, headers, result) {
  const sent = ["If-Match", "If-None-Match"].filter((name) => headers[name]);
  const entry = {
    method,
    path: new URL(url, location.href).pathname,
    sent: sent.map((name) => `${name}: ${headers[name]}`),
    status: result.status,
    statusText: result.statusText,
    etag: result.etag,
    time: new Date(),
    count: 1,
  };
  // Polls repeat the same safe request and get the same answer: keep one row for them, moved
  // to the top with a count, so the writes stay visible.
  const key = (e) => [e.method, e.path, e.status, e.etag, ...e.sent].join(" ");
  const repeat = method === "GET" ? wire.findIndex((old) => key(old) === key(entry)) : -1;
  if (repeat >= 0) entry.count += wire.splice(repeat, 1)[0].count;
  wire.unshift(entry);
  wire.length = Math.min(wire.length, WIRE_ROWS);
  renderWire();
}

function renderWire() {
  $("wire").replaceChildren(
    ...wire.map((entry) => {
      const row = el("li", { class: `wire-row status-${entry.status} status-${String(entry.status)[0]}xx` });
      const head = el("div", { class: "wire-head" });
      head.append(
        el("span", { class: "method" }, entry.method),
        el("span", { class: "path" }, entry.path),
        el("span", { class: "code" }, `${entry.status} ${entry.statusText}`),
      );
      row.append(head);
      const details = el("div", { class: "wire-headers" });
      for (const line of entry.sent) details.append(el("code", { class: "sent" }, `→ ${line}`));
      if (entry.etag) details.append(el("code", { class: "received" }, `← ETag: ${entry.etag}`));
      row.append(details);
      const when = clock(entry.time);
      row.append(el("div", { class: "wire-time" }, entry.count > 1 ? `${when} · ×${entry.count}` : when));
      return row;
    }),
  );
}

function clock(date) {
  return date.toLocaleTimeString([], { hourCycle: "h23" });
}

function el(tag, attributes = {}, text) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, value);
  if (text !== undefined) node.textContent = text;
  return node;
}

// --- documents ------------------------------------------------------------------------------

async function loadList() {
  const result = await api("GET", "/api/documents/", { ifNoneMatch: state.listEtag });
  if (result.status !== 200) return; // 304: the list has not changed
  state.listEtag = result.etag;
  $("documents").replaceChildren(
    ...result.body.map((item) => {
      const link = el("a", { href: `#doc=${item.id}`, "data-id": item.id }, item.title || "Untitled");
      const li = el("li", state.doc && state.doc.id === item.id ? { class: "current" } : {});
      li.append(link, el("span", { class: "badge" }, item.etag));
      return li;
    }),
  );
  if (state.doc) return;
  if (result.body.length) openDocument(result.body[0]._links.self.href);
  else $("doc-state").textContent = "No documents yet: create one.";
}

async function openDocument(url) {
  const result = await api("GET", url);
  if (result.status !== 200) return say(`Could not open: ${result.status}`, "error");
  showDocument(result.body, result.etag);
  hideMerge();
  hideNotice();
  history.replaceState(null, "", `${location.search}#doc=${result.body.id}`);
  loadList();
}

function showDocument(body, etag) {
  state.doc = {
    id: body.id,
    url: body._links.self.href,
    historyUrl: body._links.history.href,
    etag, // exactly what the ETag header said: this is what Save sends back
    version: body.version,
    savedBy: body.saved_by,
    base: { title: body.title, text: body.text },
  };
  state.remote = null;
  $("title").value = body.title;
  $("text").value = body.text;
  renderDocState();
  loadHistory();
}

function renderDocState() {
  const doc = state.doc;
  if (!doc) return;
  $("doc-state").textContent =
    `Editing version ${doc.version}` + (doc.savedBy ? ` (saved by ${doc.savedBy})` : "") +
    ` · ETag ${doc.etag}`;
  $("save").textContent = `Save  (If-Match: ${doc.etag})`;
  $("dirty").hidden = !isDirty();
  for (const li of $("documents").children) {
    li.classList.toggle("current", li.firstChild.dataset.id === String(doc.id));
  }
}

function isDirty() {
  const doc = state.doc;
  const content = editorContent();
  return !!doc && (content.title !== doc.base.title || content.text !== doc.base.text);
}

async function loadHistory() {
  const doc = state.doc;
  const result = await api("GET", doc.historyUrl);
  if (result.status !== 200 || doc !== state.doc) return;
  $("history").replaceChildren(
    ...result.body.map((revision) => {
      const li = el("li", revision.version === doc.version ? { class: "current" } : {});
      li.append(
        el("span", { class: "badge" }, `v${revision.version}`),
        el("span", { class: "author" }, revision.author || "someone"),
        el("span", { class: "time" }, clock(new Date(revision.saved_at))),
      );
      return li;
    }),
  );
}

// --- saving ---------------------------------------------------------------------------------

async function save(title, text) {
  const doc = state.doc;
  state.busy = true;
  say("Saving…");
  try {
    const result = await api("PUT", doc.url, { body: { title, text }, ifMatch: doc.etag });
    if (result.status === 200) {
      showDocument(result.body, result.etag);
      hideMerge();
      hideNotice();
      say(`Saved version ${result.body.version}. New ETag ${result.etag}.`, "ok");
      loadList();
    } else if (result.status === 412) {
      say("");
      await refused(result, { title, text });
    } else if (result.status === 404) {
      notice("Deleted by someone else", "This document no longer exists on the server.");
    } else {
      say(`${result.status}: ${result.body?.detail ?? result.statusText}`, "error");
    }
  } finally {
    state.busy = false;
  }
}

/** A 412: merge with the current version, from the problem body when it carries one (or
 * read afresh: an error body that is not the document is never merged). */
async function refused(result, mine) {
  const carried = currentRepresentation(result);
  if (carried) return startMerge(carried.current, carried.etag, mine);
  const fresh = await api("GET", state.doc.url);
  if (fresh.status !== 200) return say(`Could not read the current version: ${fresh.status}`, "error");
  startMerge(fresh.body, fresh.etag, mine);
}

async function remove() {
  const doc = state.doc;
  const result = await api("DELETE", doc.url, { ifMatch: doc.etag });
  if (result.status === 204) {
    state.doc = null;
    state.listEtag = null;
    hideNotice();
    loadList();
  } else if (result.status === 412) {
    say("Not deleted: someone saved a newer version (412). Review it first.", "error");
  }
}

async function create() {
  const result = await api("POST", "/api/documents/", { body: { title: "Untitled", text: "" } });
  if (result.status === 201) openDocument(result.body._links.self.href);
}

// --- noticing other people's saves: conditional polling ------------------------------------

async function poll() {
  const doc = state.doc;
  if (doc && !state.busy && document.visibilityState === "visible") {
    const known = state.remote ? state.remote.etag : doc.etag;
    const result = await api("GET", doc.url, { ifNoneMatch: known }).catch(() => null);
    if (result && doc === state.doc) {
      if (result.status === 200 && result.etag !== doc.etag) {
        state.remote = { ...result.body, etag: result.etag };
        announceRemoteChange();
        loadHistory();
        loadList();
      } else if (result.status === 404) {
        notice("Deleted by someone else", "This document no longer exists on the server.");
      }
    }
  }
  setTimeout(poll, POLL_MS);
}

function announceRemoteChange() {
  const doc = state.doc;
  const remote = state.remote;
  const who = remote.saved_by || "someone else";
  const detail =
    `${who} saved version ${remote.version} while you were on version ${doc.version}. ` +
    (isDirty()
      ? "If you save now, the server will refuse it (412) and you will merge."
      : "You have no unsaved changes.");
  const actions = isDirty()
    ? [["Merge now", () => startMerge(remote, remote.etag, editorContent())],
       ["Discard my edits and load it", () => openDocument(doc.url)]]
    : [[`Load version ${remote.version}`, () => openDocument(doc.url)]];
  notice("Changed by someone else", detail, actions);
}

async function pollList() {
  await loadList().catch(() => null);
  setTimeout(pollList, POLL_MS * 3);
}

// --- merging after a 412 --------------------------------------------------------------------

/** What the user is working on: the editor, or the merged result while merging. */
function editorContent() {
  if (!$("merge").hidden) return { title: $("merge-title").value, text: $("merge-text").value };
  return { title: $("title").value, text: $("text").value };
}

function startMerge(theirs, etag, mine) {
  const doc = state.doc;
  const base = doc.base;
  const who = theirs.saved_by || "someone else";
  const labels = {
    mine: `yours (${state.user || "you"})`,
    base: `base (version ${doc.version})`,
    theirs: `server (version ${theirs.version}, ${who})`,
  };
  const text = mergeTexts(base.text, mine.text, theirs.text, labels);
  const title = mergeTexts(base.title, mine.title, theirs.title);
  $("merge-reason").textContent =
    `${who} saved version ${theirs.version} after you loaded version ${doc.version}. ` +
    "Their changes and yours are merged below; resolve the marked conflicts and save again.";
  $("caption-base").textContent = `Common base · version ${doc.version}`;
  $("caption-mine").textContent = `Yours · ${state.user || "you"}`;
  $("caption-theirs").textContent = `Server now · version ${theirs.version} by ${who}`;
  renderPane("merge-base", base.text, null);
  renderPane("merge-mine", mine.text, base.text);
  renderPane("merge-theirs", theirs.text, base.text);
  $("merge-title").value = title.conflicts ? mine.title : title.text;
  $("title-conflict").hidden = !title.conflicts;
  $("title-conflict").textContent = title.conflicts
    ? `Both changed the title. The server has “${theirs.title}”; yours is kept above.`
    : "";
  $("merge-text").value = text.text;
  $("merge-text").dataset.merged = String(text.merged);
  // Rebase: from now on the page is based on the server's version, so "Save merged" sends
  // If-Match with the new ETag, and a further concurrent save would be merged against it.
  Object.assign(doc, {
    etag,
    version: theirs.version,
    savedBy: theirs.saved_by,
    base: { title: theirs.title, text: theirs.text },
  });
  state.remote = null;
  hideNotice();
  renderDocState();
  renderConflicts();
  $("editor").hidden = true;
  $("merge").hidden = false;
  loadHistory();
  loadList();
}

function renderPane(id, text, base) {
  const changed = base === null ? new Set() : changedLines(splitLines(base), splitLines(text));
  $(id).replaceChildren(
    ...splitLines(text).map((line, index) =>
      el("span", { class: changed.has(index) ? "line changed" : "line" }, line || " "),
    ),
  );
}

function renderConflicts() {
  const text = $("merge-text").value;
  const blocks = findConflicts(text);
  const merged = Number($("merge-text").dataset.merged || 0);
  const parts = [`${merged} change${merged === 1 ? "" : "s"} merged automatically`];
  parts.push(blocks.length ? `${blocks.length} conflict${blocks.length === 1 ? "" : "s"} to resolve` : "no conflicts left");
  $("merge-summary").textContent = parts.join(" · ");
  $("merge-summary").classList.toggle("has-conflicts", blocks.length > 0);
  $("conflicts").replaceChildren(
    ...blocks.map((block, index) => {
      const li = el("li", { class: "conflict" });
      li.append(el("span", {}, `Conflict at line ${block.start + 1}:`));
      for (const [choice, label] of [["mine", "Keep yours"], ["theirs", "Keep theirs"], ["both", "Keep both"]]) {
        const button = el("button", { type: "button", class: "secondary small", "data-choice": choice }, label);
        button.addEventListener("click", () => {
          $("merge-text").value = resolveConflict($("merge-text").value, index, choice);
          renderConflicts();
        });
        li.append(button);
      }
      return li;
    }),
  );
  $("merge-text").rows = splitLines(text).length + 1; // the whole merge, no inner scrolling
  const save = $("save-merged");
  save.disabled = blocks.length > 0;
  save.textContent = `Save merged  (If-Match: ${state.doc.etag})`;
}

function hideMerge() {
  $("merge").hidden = true;
  $("editor").hidden = false;
}

// --- notices and status ---------------------------------------------------------------------

function notice(heading, detail, actions = []) {
  const box = $("notice");
  box.replaceChildren(el("strong", {}, heading), el("span", {}, ` ${detail} `));
  for (const [label, action] of actions) {
    const button = el("button", { type: "button", class: "small" }, label);
    button.addEventListener("click", action);
    box.append(button);
  }
  box.hidden = false;
}

function hideNotice() {
  $("notice").hidden = true;
}

function say(message, kind = "") {
  $("status").textContent = message;
  $("status").className = `status ${kind}`;
}

// --- wiring ---------------------------------------------------------------------------------

function setUser(name) {
  state.user = name.trim();
  localStorage.setItem("ifmatch-demo-user", state.user);
  document.title = `${state.user ? state.user + " · " : ""}ifmatch demo`;
}

async function start() {
  $("user").value = params.get("user") || localStorage.getItem("ifmatch-demo-user") || "";
  setUser($("user").value);
  $("user").addEventListener("input", (event) => setUser(event.target.value));
  $("editor").addEventListener("submit", (event) => {
    event.preventDefault();
    save($("title").value, $("text").value);
  });
  for (const id of ["title", "text"]) {
    $(id).addEventListener("input", () => {
      renderDocState();
      if (state.remote) announceRemoteChange(); // the offer depends on unsaved edits
    });
  }
  $("delete").addEventListener("click", remove);
  $("new-document").addEventListener("click", create);
  $("documents").addEventListener("click", (event) => {
    const id = event.target.closest("a")?.dataset.id;
    if (!id) return;
    event.preventDefault();
    openDocument(`/api/documents/${id}/`);
  });
  $("merge-text").addEventListener("input", renderConflicts);
  $("save-merged").addEventListener("click", () => save($("merge-title").value, $("merge-text").value));
  $("take-theirs").addEventListener("click", () => openDocument(state.doc.url));
  const wanted = /doc=(\d+)/.exec(location.hash);
  if (wanted) await openDocument(`/api/documents/${wanted[1]}/`);
  pollList(); // opens the first document unless one is open
  setTimeout(poll, POLL_MS);
}

start();
