// The race page: one document session on the server; "First answer" answers it afresh, then
// every edit races a fresh answer against a redraft of the last one (POST /race/{session},
// see sessions_api.py). Model output reaches the page through textContent only.
"use strict";

const PAUSE_MS = 800;
const KEY_STORAGE = "redraft.apiKey";

const $ = (id) => document.getElementById(id);

class HttpError extends Error {
  constructor(status, message, code) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

// ---- the server -------------------------------------------------------------------------

function requestHeaders() {
  const headers = { "Content-Type": "application/json" };
  const key = sessionStorage.getItem(KEY_STORAGE);
  if (key) headers.Authorization = `Bearer ${key}`;
  return headers;
}

async function call(method, path, body, signal) {
  const response = await fetch(path, {
    method,
    headers: requestHeaders(),
    body: body === undefined ? undefined : JSON.stringify(body),
    signal,
  });
  if (response.ok) return response;
  let message = `${response.status} ${response.statusText}`;
  let code = null;
  try {
    const error = (await response.json()).error;
    message = error.message || message;
    code = error.code;
  } catch (_) { /* not JSON: keep the status line */ }
  if (response.status === 401) askForKey(sessionStorage.getItem(KEY_STORAGE) !== null);
  throw new HttpError(response.status, message, code);
}

// Server-sent events from a fetch response (EventSource cannot POST or send a key).
async function* serverEvents(response) {
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += decoder.decode(value, { stream: true });
    let end;
    while ((end = buffer.search(/\r?\n\r?\n/)) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end).replace(/^\r?\n\r?\n/, "");
      let name = "message";
      const data = [];
      for (const line of block.split(/\r?\n/)) {
        if (line.startsWith("event:")) name = line.slice(6).trim();
        else if (line.startsWith("data:")) data.push(line.slice(5).trimStart());
      }
      if (data.length) yield { name, data: JSON.parse(data.join("\n")) };
    }
  }
}

// ---- formatting -------------------------------------------------------------------------

const seconds = (s) => `${s.toFixed(2)} s`;
const heldShare = (done) => `${Math.round((100 * done.held) / Math.max(1, done.tokens))}%`;

function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

function appendPiece(container, text, kind) {
  const last = container.lastElementChild;
  if (last && last.dataset.kind === kind) {
    last.textContent += text;
    return;
  }
  const span = document.createElement("span");
  span.dataset.kind = kind;
  if (kind) span.className = kind;
  span.textContent = text;
  container.append(span);
}

function placeholder(container, text) {
  const p = document.createElement("span");
  p.className = "placeholder";
  p.textContent = text;
  container.replaceChildren(p);
}

// ---- one race panel ---------------------------------------------------------------------

class Panel {
  constructor(element, highlight) {
    this.element = element;
    this.highlight = highlight; // redraft: held and rewritten text in their colours
    this.clock = element.querySelector(".clock");
    this.text = element.querySelector(".panel-text");
    this.badge = element.querySelector(".badge");
    this.fields = {
      first: element.querySelector(".first"),
      total: element.querySelector(".total"),
      tokens: element.querySelector(".tokens"),
      held: element.querySelector(".held-share"), // the redraft panel's only
    };
    this.startedAt = null;
    placeholder(this.text, "Waiting for an edit.");
  }

  queue() {
    this.startedAt = null;
    this.element.classList.remove("running", "done", "stopped", "winner");
    this.element.classList.add("waiting");
    this.clock.textContent = "waiting for its turn";
    this.badge.hidden = true;
    for (const field of Object.values(this.fields)) if (field) field.textContent = "–";
    placeholder(this.text, "The engine decodes one answer at a time: this one runs next.");
  }

  start() {
    this.startedAt = performance.now();
    this.element.classList.remove("waiting");
    this.element.classList.add("running");
    this.text.replaceChildren();
    this.tick();
  }

  tick() {
    if (this.startedAt !== null) {
      this.clock.textContent = seconds((performance.now() - this.startedAt) / 1000);
    }
  }

  append(text, kind) {
    if (this.fields.first.textContent === "–" && this.startedAt !== null) {
      this.fields.first.textContent = seconds((performance.now() - this.startedAt) / 1000);
    }
    appendPiece(this.text, text, this.highlight ? kind : "");
  }

  finish(done) {
    this.startedAt = null;
    this.element.classList.remove("running", "waiting");
    this.element.classList.add("done");
    this.clock.textContent = seconds(done.wall_s);
    this.fields.first.textContent = seconds(done.first_token_s);
    this.fields.total.textContent = seconds(done.wall_s);
    this.fields.tokens.textContent = String(done.tokens);
    if (this.fields.held) this.fields.held.textContent = heldShare(done);
  }

  stop(reason) {
    const classes = this.element.classList;
    if (classes.contains("waiting")) placeholder(this.text, "It did not run.");
    if (classes.contains("running") || classes.contains("waiting")) {
      this.clock.textContent = reason;
      classes.add("stopped");
    }
    this.startedAt = null;
    classes.remove("running", "waiting");
  }

  win(factor) {
    this.element.classList.add("winner");
    this.badge.textContent = `${factor.toFixed(factor < 2 ? 2 : 1)}× faster`;
    this.badge.hidden = false;
  }
}

// ---- the page ---------------------------------------------------------------------------

class RacePage {
  constructor() {
    this.session = `race-${Array.from(crypto.getRandomValues(new Uint8Array(8)),
      (b) => b.toString(16).padStart(2, "0")).join("")}`;
    this.doc = $("document");
    this.task = $("task");
    this.question = $("question");
    this.panels = {
      regenerate: new Panel($("panel-regenerate"), false),
      redraft: new Panel($("panel-redraft"), true),
    };
    this.answeredDocument = null; // the document the current answer answers
    this.running = null; // AbortController of the request in flight
    this.generation = 0; // bumped by every new request: older streams stop updating
    this.pauseTimer = null;
    this.races = []; // {regenerate, redraft} wall seconds of each finished race

    $("first").addEventListener("click", () => this.firstAnswer());
    $("race").addEventListener("click", () => this.race());
    this.doc.addEventListener("input", () => this.edited());
    this.task.addEventListener("change", () => this.taskChanged());
    this.question.addEventListener("input", () => this.taskChanged());
    $("key-form").addEventListener("submit", (event) => {
      event.preventDefault();
      const key = $("key").value.trim();
      if (key) sessionStorage.setItem(KEY_STORAGE, key);
      else sessionStorage.removeItem(KEY_STORAGE);
      $("key").value = "";
      this.loadOptions();
    });
    this.showTask();
    this.loadOptions();
    const frame = () => {
      for (const panel of Object.values(this.panels)) panel.tick();
      requestAnimationFrame(frame);
    };
    requestAnimationFrame(frame);
  }

  async loadOptions() {
    try {
      const options = await (await call("GET", "/race/options")).json();
      $("key-form").hidden = true;
      $("model").textContent = `${options.model} · ${options.rule} rule · ` +
        `up to ${options.max_tokens} tokens`;
    } catch (error) {
      if (error.status !== 401) this.say(error.message, true);
    }
  }

  say(text, isError = false) {
    const message = $("message");
    message.textContent = text;
    message.classList.toggle("error", isError);
  }

  state(text, kind = "") {
    const pill = $("doc-state");
    pill.textContent = text;
    pill.className = `pill ${kind}`;
  }

  showTask() {
    $("question-label").hidden = this.task.value !== "answer";
  }

  taskChanged() {
    this.showTask();
    if (this.answeredDocument === null) return;
    this.cancel();
    for (const panel of Object.values(this.panels)) panel.stop("cancelled");
    this.answeredDocument = null;
    $("race").disabled = true;
    this.state("task changed");
    this.say("The task changed: click First answer to answer with the new one.");
  }

  edited() {
    clearTimeout(this.pauseTimer);
    if (this.answeredDocument === null) return;
    const changed = this.doc.value !== this.answeredDocument;
    this.state(changed ? "edited" : "answered", changed ? "" : "ready");
    if (changed && $("auto").checked) this.pauseTimer = setTimeout(() => this.race(), PAUSE_MS);
  }

  // Stop the request in flight (the server cancels its work) and any race still pending.
  cancel() {
    clearTimeout(this.pauseTimer);
    if (this.running) this.running.abort();
    this.running = null;
    this.generation += 1;
  }

  begin() {
    this.cancel();
    this.running = new AbortController();
    return this.generation;
  }

  async firstAnswer() {
    const generation = this.begin();
    const signal = this.running.signal;
    const text = this.doc.value;
    const spec = { task: this.task.value, document: text };
    if (this.task.value === "answer") spec.question = this.question.value;
    this.answeredDocument = null;
    $("race").disabled = true;
    this.state("answering…", "busy");
    this.say("");
    const answer = $("answer");
    answer.replaceChildren();
    $("answer-hint").hidden = true;
    $("answer-meta").textContent = "fresh answer…";
    try {
      await call("PUT", `/v1/sessions/${this.session}`, spec, signal);
      const response = await call("POST", `/v1/sessions/${this.session}/refresh`,
        { document: text }, signal);
      for await (const event of serverEvents(response)) {
        if (generation !== this.generation) return;
        if (event.name === "delta") appendPiece(answer, event.data.text, "");
        else if (event.name === "done") this.answered(text, event.data, "fresh");
        else if (event.name === "error") throw new Error(event.data.message);
      }
    } catch (error) {
      if (generation === this.generation) this.failed(error);
    }
  }

  answered(text, done, how) {
    this.answeredDocument = text;
    $("answer").textContent = done.text;
    $("answer-meta").textContent =
      `revision ${done.revision} · ${how} · ${seconds(done.wall_s)}`;
    $("race").disabled = false;
    this.edited();
    if (this.doc.value === text) {
      this.say(how === "fresh"
        ? "Now edit the document: each pause in typing starts a race."
        : "Edit again to race again.");
    }
  }

  async race() {
    if (this.answeredDocument === null) return;
    const text = this.doc.value;
    if (text === this.answeredDocument) {
      this.say("The document has not changed since the current answer.");
      return;
    }
    const generation = this.begin();
    const signal = this.running.signal;
    this.state("racing…", "busy");
    this.say("");
    for (const panel of Object.values(this.panels)) panel.queue();
    const walls = {};
    try {
      const response = await call("POST", `/race/${this.session}`, { document: text }, signal);
      for await (const event of serverEvents(response)) {
        if (generation !== this.generation) return;
        const { name, data } = event;
        if (name === "start") this.panels[data.arm].start();
        else if (name === "delta") this.panels[data.arm].append(data.text, data.kind);
        else if (name === "done") {
          this.panels[data.arm].finish(data);
          walls[data.arm] = data.wall_s;
          if (data.arm === "redraft") {
            this.tally(walls, data);
            this.answered(text, data, "redrafted");
          }
        } else if (name === "cancelled") {
          for (const panel of Object.values(this.panels)) panel.stop("cancelled");
        } else if (name === "error") throw new Error(data.message);
      }
    } catch (error) {
      if (generation !== this.generation) return;
      for (const panel of Object.values(this.panels)) panel.stop("stopped");
      this.failed(error);
    }
  }

  tally(walls, redraft) {
    this.races.push(walls);
    this.record(walls, redraft);
    const speedups = this.races.map((r) => r.regenerate / r.redraft);
    const saved = this.races.reduce((sum, r) => sum + r.regenerate - r.redraft, 0);
    $("tally-edits").textContent = String(this.races.length);
    $("tally-speedup").textContent = `${median(speedups).toFixed(2)}×`;
    $("tally-saved").textContent = `${(Math.abs(saved) < 0.05 ? 0 : saved).toFixed(1)} s`;
    const factor = walls.regenerate / walls.redraft;
    if (factor >= 1) this.panels.redraft.win(factor);
    else this.panels.regenerate.win(1 / factor);
  }

  record(walls, redraft) {
    const row = document.createElement("tr");
    const cells = [String(this.races.length), seconds(walls.regenerate), seconds(walls.redraft),
      heldShare(redraft), `${(walls.regenerate / walls.redraft).toFixed(2)}×`];
    for (const text of cells) {
      const cell = document.createElement("td");
      cell.textContent = text;
      row.append(cell);
    }
    $("history-rows").prepend(row);
    $("history").hidden = false;
  }

  failed(error) {
    if (error.name === "AbortError") return;
    if (error.status === 404) {
      this.answeredDocument = null;
      $("race").disabled = true;
      this.state("no answer yet");
      this.say("The server no longer holds this document's session (it restarted, or made " +
        "room for others): click First answer.", true);
      return;
    }
    this.state(this.answeredDocument === null ? "no answer yet" : "edited");
    this.say(error.status === 401 ? `${error.message}.` : error.message, true);
  }
}

function askForKey(rejected) {
  $("key-form").hidden = false;
  $("key").placeholder = rejected ? "that key was refused" : "API key";
  $("key").focus();
}

new RacePage();
