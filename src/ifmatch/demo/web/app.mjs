// The demo page: edit a document, save with If-Match, poll with If-None-Match, merge after 412.
//
// The page keeps the ETag of the version it loaded (`doc.etag`) and the text of that version
// (`doc.base`). Save sends `If-Match: doc.etag`. Meanwhile a poll asks the server for the
// document with `If-None-Match`; a 304 means nobody saved, a 200 means someone did, and the page
// says so at once. A save based on an old version is refused with 412, whose problem body
// carries the current document: the page merges base / yours / theirs (diff3.mjs) and the
// user saves the result conditionally on the new ETag.
//
// The workspace shows one of three views: the editor, the merge view, or "deleted" (the server
// answered 404: the page stops polling and offers to recreate the document or open another).
// When a view change hides the element that had keyboard focus, focus moves to the new view;
// what changes elsewhere is announced through one live region (#announcer).

import { changedLines, findConflicts, mergeTexts, mergeValue, resolveConflict, splitLines } from "./diff3.mjs";
import { currentRepresentation, parseBody } from "./problem.mjs";

const params = new URLSearchParams(location.search);
const POLL_MS = Number(params.get("poll")) || 1000;
const WIRE_ROWS = 14;
const $ = (id) => document.getElementById(id);

const state = {
  user: "",
  doc: null, // {id, url, historyUrl, etag, version, savedBy, base: {title, text}, deleted}
  remote: null, // the newest version polling has seen, when it differs from doc
  list: [], // the documents, as the list endpoint last gave them
  listEtag: null,
  titleConflict: null, // while merging: {mine, theirs} until the user chooses a title
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

function quoted(title) {
  return `“${title || "Untitled"}”`;
}

// --- views, focus and announcements ---------------------------------------------------------

const VIEWS = ["editor", "merge", "gone"];
const VIEW_FOCUS = { editor: "text", merge: "merge-heading", gone: "gone-heading" };

function currentView() {
  return VIEWS.find((id) => !$(id).hidden);
}

/** Run `change` (which may hide or re-render the focused element); if focus was lost by it,
 * put it on `fallback` (by default the visible view's first stop), never on the page body. */
function keepFocus(change, fallback) {
  const before = document.activeElement;
  change();
  const lost = before && before !== document.body && !(before.isConnected && before.getClientRects().length);
  if (lost) (fallback ? fallback() : $(VIEW_FOCUS[currentView()])).focus();
}

function showView(name) {
  for (const id of VIEWS) $(id).hidden = id !== name;
}

/** Say it to screen readers. The region is always in the page; emptying it first makes a
 * repeated message be read again. */
function announce(message) {
  const region = $("announcer");
  region.textContent = "";
  requestAnimationFrame(() => {
    region.textContent = message;
  });
}

// --- documents ------------------------------------------------------------------------------

async function loadList() {
  const result = await api("GET", "/api/documents/", { ifNoneMatch: state.listEtag });
  if (result.status !== 200) return; // 304: the list has not changed
  state.listEtag = result.etag;
  state.list = result.body;
  keepFocus(renderLists, focusSameLink);
  if (state.doc) return;
  if (result.body.length) openDocument(result.body[0]._links.self.href);
  else $("doc-state").textContent = "No documents yet: create one.";
}

function documentLink(item) {
  return el("a", { href: `#doc=${item.id}`, "data-id": item.id }, item.title || "Untitled");
}

function renderLists() {
  $("documents").replaceChildren(
    ...state.list.map((item) => {
      const li = el("li", state.doc && state.doc.id === item.id ? { class: "current" } : {});
      li.append(documentLink(item), el("span", { class: "badge" }, item.etag));
      return li;
    }),
  );
  const others = state.list.filter((item) => !state.doc || item.id !== state.doc.id);
  $("gone-documents").replaceChildren(
    ...others.map((item) => {
      const li = el("li");
      li.append(documentLink(item));
      return li;
    }),
  );
  $("gone-empty").hidden = others.length > 0;
}

/** After the lists are rebuilt, focus the new link to the document whose link had focus. */
let focusedLink = null; // {id, list}
document.addEventListener("focusin", (event) => {
  const link = event.target.closest?.("a[data-id]");
  focusedLink = link ? { id: link.dataset.id, list: link.closest("ul").id } : null;
});
function focusSameLink() {
  const same = focusedLink && $(focusedLink.list).querySelector(`a[data-id="${focusedLink.id}"]`);
  return same || $(VIEW_FOCUS[currentView()]);
}

async function openDocument(url) {
  const result = await api("GET", url);
  if (result.status === 404 && state.doc?.url === url) return showDeleted({ byMe: false });
  if (result.status !== 200) return say(`Could not open it: ${result.status} ${result.statusText}.`, "error");
  keepFocus(() => {
    showDocument(result.body, result.etag);
    showView("editor");
    hideNotice();
  });
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
    deleted: null, // {byMe, content} once the server says it is gone
  };
  state.remote = null;
  state.titleConflict = null;
  $("title").value = body.title;
  $("text").value = body.text;
  say(""); // a message about another version ("Saved version 2") is stale now
  renderDocState();
  renderLists();
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
  if (doc.deleted) return;
  const result = await api("GET", doc.historyUrl);
  if (doc !== state.doc) return;
  if (result.status === 404) return showDeleted({ byMe: false });
  if (result.status !== 200) return;
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
      keepFocus(() => {
        showDocument(result.body, result.etag);
        showView("editor");
        hideNotice();
      });
      say(`Saved version ${result.body.version}. New ETag ${result.etag}.`, "ok");
      loadList();
    } else if (result.status === 412) {
      say("");
      await refused(result, { title, text });
    } else if (result.status === 404) {
      showDeleted({ byMe: false });
    } else {
      say(failure("Not saved", result), "error");
    }
  } finally {
    state.busy = false;
  }
}

/** "Not saved: 400 Bad Request (title: This field may not be blank.)" */
function failure(what, result) {
  const body = result.body;
  let detail = body?.detail;
  if (!detail && body && typeof body === "object") {
    detail = Object.entries(body).map(([field, errors]) => `${field}: ${[errors].flat().join(" ")}`).join("; ");
  }
  return `${what}: ${result.status} ${result.statusText}` + (detail ? ` (${detail})` : ".");
}

/** A 412: merge with the current version, from the problem body when it carries one (or
 * read afresh: an error body that is not the document is never merged). A 412 because the
 * document no longer exists (If-Match names a representation, but there is none) shows the
 * deleted view. */
async function refused(result, mine) {
  const carried = currentRepresentation(result);
  if (carried) return startMerge(carried.current, carried.etag, mine, { refused: true });
  const fresh = await api("GET", state.doc.url);
  if (fresh.status === 200) return startMerge(fresh.body, fresh.etag, mine, { refused: true });
  if (fresh.status === 404) return showDeleted({ byMe: false });
  say(failure("Not saved, and the current version could not be read", fresh), "error");
}

// --- deleting and recreating ----------------------------------------------------------------

function confirmDelete() {
  const doc = state.doc;
  $("confirm-heading").textContent = `Delete ${quoted(doc.base.title)}?`;
  $("confirm-detail").textContent =
    `Version ${doc.version} will be deleted for everyone who has it open. ` +
    (isDirty() ? "Your unsaved changes will be lost too. " : "") +
    `The page sends DELETE with If-Match: ${doc.etag}, so if someone saved a newer version ` +
    "meanwhile, the server refuses it (412).";
  $("confirm-delete").returnValue = "";
  $("confirm-delete").showModal();
}

async function remove() {
  const doc = state.doc;
  state.busy = true; // no poll while the DELETE is in flight: its answer would be a stale 404
  let result;
  try {
    result = await api("DELETE", doc.url, { ifMatch: doc.etag });
  } finally {
    state.busy = false;
  }
  if (doc !== state.doc) return;
  if (result.status === 204) return showDeleted({ byMe: true });
  if (result.status === 404) return showDeleted({ byMe: false });
  if (result.status !== 412) return say(failure("Not deleted", result), "error");
  const carried = currentRepresentation(result);
  const current = carried ? { body: carried.current, etag: carried.etag } : await api("GET", doc.url);
  if (current.status === 404) return showDeleted({ byMe: false });
  if (!current.body || current.status >= 300) return say(failure("Not deleted", result), "error");
  state.remote = { ...current.body, etag: current.etag };
  announceRemoteChange();
  say(
    `Not deleted: ${current.body.saved_by || "someone"} saved version ${current.body.version} ` +
      "meanwhile (412 Precondition Failed). Review it first.",
    "error",
  );
}

/** The server says the document is gone (or this page deleted it): stop asking for it, say
 * so, and offer to recreate it or to open another document. */
function showDeleted({ byMe }) {
  const doc = state.doc;
  if (!doc || doc.deleted) return;
  doc.deleted = { byMe, content: editorContent(), dirty: isDirty() };
  state.remote = null;
  state.titleConflict = null;
  const name = quoted(doc.base.title);
  const heading = byMe ? `You deleted ${name}.` : `${name} was deleted.`;
  const detail = byMe
    ? `Version ${doc.version} is gone from the server (DELETE answered 204 No Content). ` +
      "Recreate it to undo, or open another document."
    : `Someone deleted it while you had version ${doc.version} open: the server answers ` +
      "404 Not Found for it now, and this page stopped asking for it. " +
      (doc.deleted.dirty
        ? "Your unsaved changes are kept: recreate it to save them, or open another document."
        : "Recreate it from the version you had, or open another document.");
  $("gone-heading").textContent = heading;
  $("gone-detail").textContent = detail;
  $("recreate").textContent = `Recreate it  (PUT with If-None-Match: *)`;
  $("history").replaceChildren(el("li", { class: "gone-history" }, "Deleted with the document."));
  say("");
  keepFocus(() => {
    showView("gone");
    hideNotice();
  });
  announce(`${heading} ${detail}`);
  state.listEtag = null; // the list changed: fetch it whole
  loadList();
}

/** PUT with If-None-Match: * creates the document again at its address, unless someone
 * recreated it first (412). */
async function recreate() {
  const doc = state.doc;
  const content = doc.deleted.content;
  say("Recreating…");
  const result = await api("PUT", doc.url, { body: content, ifNoneMatch: "*" });
  if (doc !== state.doc) return;
  if (result.status === 201) {
    keepFocus(() => {
      showDocument(result.body, result.etag);
      showView("editor");
    });
    say(`Recreated as version ${result.body.version}. New ETag ${result.etag}.`, "ok");
    state.listEtag = null;
    loadList();
  } else if (result.status === 412) {
    await openDocument(doc.url);
    say("Someone recreated it first (412): this is their version.", "error");
  } else {
    say(failure("Not recreated", result), "error");
  }
}

async function create() {
  const result = await api("POST", "/api/documents/", { body: { title: "Untitled", text: "" } });
  if (result.status === 201) openDocument(result.body._links.self.href);
  else say(failure("Not created", result), "error");
}

// --- noticing other people's saves: conditional polling ------------------------------------

async function poll() {
  const doc = state.doc;
  if (doc && !doc.deleted && !state.busy && document.visibilityState === "visible") {
    const known = state.remote ? state.remote.etag : doc.etag;
    const result = await api("GET", doc.url, { ifNoneMatch: known }).catch(() => null);
    // Ignored when the page changed meanwhile or a write is in flight (its answer decides).
    if (result && doc === state.doc && !doc.deleted && !state.busy) {
      if (result.status === 200 && result.etag !== doc.etag) {
        state.remote = { ...result.body, etag: result.etag };
        announceRemoteChange();
        loadHistory();
        loadList();
      } else if (result.status === 404) {
        showDeleted({ byMe: false });
      }
    }
  }
  setTimeout(poll, POLL_MS);
}

/** Someone saved a newer version: a notice above the editor, or, while merging, a line in the
 * merge view's own banner (one banner, never two). */
function announceRemoteChange() {
  const doc = state.doc;
  const remote = state.remote;
  const who = remote.saved_by || "someone else";
  if (currentView() === "merge") {
    $("merge-newer-text").textContent =
      `Meanwhile ${who} saved version ${remote.version}: saving now would be refused (412) ` +
      "and merged again.";
    $("merge-again").textContent = `Merge with version ${remote.version} now`;
    $("merge-newer").hidden = false;
    announce(`${who} saved version ${remote.version} while you were merging.`);
    return;
  }
  const detail =
    `${who} saved version ${remote.version} while you were on version ${doc.version}. ` +
    (isDirty()
      ? "If you save now, the server will refuse it (412) and you will merge."
      : "You have no unsaved changes.");
  const actions = isDirty()
    ? [["Merge now", () => startMerge(remote, remote.etag, editorContent(), { refused: false })],
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
  if (currentView() === "merge") return { title: $("merge-title").value, text: $("merge-text").value };
  return { title: $("title").value, text: $("text").value };
}

function startMerge(theirs, etag, mine, { refused }) {
  const doc = state.doc;
  const base = doc.base;
  const who = theirs.saved_by || "someone else";
  const labels = {
    mine: `yours (${state.user || "you"})`,
    base: `base (version ${doc.version})`,
    theirs: `server (version ${theirs.version}, ${who})`,
  };
  const text = mergeTexts(base.text, mine.text, theirs.text, labels);
  const title = mergeValue(base.title, mine.title, theirs.title);
  const heading = refused
    ? "Your save was refused: 412 Precondition Failed."
    : `Merging your edits with version ${theirs.version}.`;
  $("merge-heading").textContent = heading;
  $("merge-reason").textContent =
    `${who} saved version ${theirs.version} after you loaded version ${doc.version}. ` +
    "Their changes and yours are merged below; " +
    (text.conflicts || title.conflict ? "resolve the conflicts and save again." : "check the result and save it.");
  $("merge-newer").hidden = true;
  $("caption-base").textContent = `Common base · version ${doc.version}`;
  $("caption-mine").textContent = `Yours · ${state.user || "you"}`;
  $("caption-theirs").textContent = `Server now · version ${theirs.version} by ${who}`;
  renderPane("merge-base", base.text, null);
  renderPane("merge-mine", mine.text, base.text);
  renderPane("merge-theirs", theirs.text, base.text);
  state.titleConflict = title.conflict ? { ...title.conflict, who } : null;
  $("merge-title").value = title.conflict ? mine.title : title.value;
  $("merge-text").value = text.text;
  const titleTaken = !title.conflict && title.value !== base.title && mine.title !== theirs.title;
  $("merge-text").dataset.merged = String(text.merged + (titleTaken ? 1 : 0));
  // Rebase: from now on the page is based on the server's version, so "Save merged" sends
  // If-Match with the new ETag, and a further concurrent save would be merged against it.
  Object.assign(doc, {
    etag,
    version: theirs.version,
    savedBy: theirs.saved_by,
    base: { title: theirs.title, text: theirs.text },
  });
  state.remote = null;
  say(""); // about the version the page was on before
  hideNotice();
  renderDocState();
  renderConflicts();
  showView("merge");
  $("merge-heading").focus();
  announce(`${heading} ${$("merge-reason").textContent} ${$("merge-summary").textContent}.`);
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

/** The conflicts left (the title's first, then the text's), each with buttons to choose.
 * After a choice, focus goes to the next conflict's first button, or to "Save merged". */
function renderConflicts({ focusAt = null } = {}) {
  const text = $("merge-text").value;
  const blocks = findConflicts(text);
  const items = [];
  const titleConflict = state.titleConflict;
  if (titleConflict) {
    const choices = [
      ["mine", `Keep yours: ${quoted(titleConflict.mine)}`],
      ["theirs", `Keep theirs: ${quoted(titleConflict.theirs)}`],
    ];
    items.push(
      conflictItem("conflict-title", "Both changed the title:", choices, (choice) => {
        $("merge-title").value = titleConflict[choice];
        state.titleConflict = null;
      }),
    );
  }
  blocks.forEach((block, index) => {
    const choices = [["mine", "Keep yours"], ["theirs", "Keep theirs"], ["both", "Keep both"]];
    items.push(
      conflictItem(`conflict-${index}`, `Conflict at line ${block.start + 1}:`, choices, (choice) => {
        $("merge-text").value = resolveConflict($("merge-text").value, index, choice);
      }),
    );
  });
  const left = items.length;
  const merged = Number($("merge-text").dataset.merged || 0);
  const parts = [`${merged} change${merged === 1 ? "" : "s"} merged automatically`];
  parts.push(left ? `${left} conflict${left === 1 ? "" : "s"} to resolve` : "no conflicts left");
  $("merge-summary").textContent = parts.join(" · ");
  $("merge-summary").classList.toggle("has-conflicts", left > 0);
  $("merge-title").setAttribute("aria-invalid", String(!!titleConflict));
  if (titleConflict) $("merge-title").setAttribute("aria-describedby", "conflict-title-label");
  else $("merge-title").removeAttribute("aria-describedby");
  $("conflicts").replaceChildren(...items);
  $("merge-text").rows = splitLines(text).length + 1; // the whole merge, no inner scrolling
  const save = $("save-merged");
  save.disabled = left > 0;
  save.textContent = `Save merged  (If-Match: ${state.doc.etag})`;
  if (focusAt !== null) {
    const next = $("conflicts").children[Math.min(focusAt, left - 1)];
    (next ? next.querySelector("button") : save).focus();
  }
}

function conflictItem(id, label, choices, choose) {
  const li = el("li", { class: "conflict" });
  li.append(el("span", { id: `${id}-label` }, label));
  for (const [choice, text] of choices) {
    const button = el(
      "button",
      { type: "button", class: "secondary small", "data-choice": choice, "aria-describedby": `${id}-label` },
      text,
    );
    button.addEventListener("click", () => {
      const position = [...$("conflicts").children].indexOf(li);
      choose(choice);
      renderConflicts({ focusAt: position });
    });
    li.append(button);
  }
  return li;
}

// --- notices and status ---------------------------------------------------------------------

function notice(heading, detail, actions = []) {
  const box = $("notice");
  keepFocus(
    () => {
      box.replaceChildren(el("strong", {}, heading), el("span", {}, ` ${detail} `));
      for (const [label, action] of actions) {
        const button = el("button", { type: "button", class: "small" }, label);
        button.addEventListener("click", action);
        box.append(button);
      }
      box.hidden = false;
    },
    () => box.querySelector("button") || $(VIEW_FOCUS[currentView()]),
  );
  announce(`${heading}: ${detail}`);
}

function hideNotice() {
  keepFocus(() => {
    $("notice").hidden = true;
  });
}

/** The status line of every view (only the visible one is seen and read out). */
function say(message, kind = "") {
  for (const status of document.querySelectorAll(".status")) {
    status.textContent = message;
    status.className = `status ${kind}`;
  }
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
  $("skip").addEventListener("click", (event) => {
    event.preventDefault(); // the address keeps #doc=…
    $(VIEW_FOCUS[currentView()]).focus();
  });
  $("delete").addEventListener("click", confirmDelete);
  $("confirm-delete").addEventListener("close", () => {
    if ($("confirm-delete").returnValue === "delete") remove();
  });
  $("new-document").addEventListener("click", create);
  for (const list of ["documents", "gone-documents"]) {
    $(list).addEventListener("click", (event) => {
      const id = event.target.closest("a")?.dataset.id;
      if (!id) return;
      event.preventDefault();
      openDocument(`/api/documents/${id}/`);
    });
  }
  $("merge-text").addEventListener("input", () => renderConflicts());
  $("merge-title").addEventListener("input", () => {
    if (!state.titleConflict) return;
    state.titleConflict = null; // typing a title is a choice too
    renderConflicts();
  });
  $("save-merged").addEventListener("click", () => save($("merge-title").value, $("merge-text").value));
  $("take-theirs").addEventListener("click", () => openDocument(state.doc.url));
  $("merge-again").addEventListener("click", () => {
    const remote = state.remote;
    if (remote) startMerge(remote, remote.etag, editorContent(), { refused: false });
  });
  $("recreate").addEventListener("click", recreate);
  const wanted = /doc=(\d+)/.exec(location.hash);
  if (wanted) await openDocument(`/api/documents/${wanted[1]}/`);
  pollList(); // opens the first document unless one is open
  setTimeout(poll, POLL_MS);
}

start();
