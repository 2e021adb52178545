// The playground page. The conversation lives here and is sent whole with every request.
// Everything a model (or a person) wrote is inserted with textContent, never as markup.
"use strict";

(function () {
  const $ = (id) => document.getElementById(id);
  const conversationBox = $("pg-conversation");
  if (!conversationBox) return; // read-only: the page says the playground is off

  const draft = $("pg-draft");
  const attackSelect = $("pg-attack");
  const optionsBox = $("pg-options");
  const statusLine = $("pg-status");

  /** Turns: {role, content, fabricated?, call?: {...}, verdicts?: [...], error?} */
  let turns = [];
  let calls = []; // every target request made for this conversation (saved with it)
  let lastError = null; // the failure of the last send, while the conversation ends there
  let undoStack = [];

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  function say(text, kind) {
    statusLine.textContent = text;
    statusLine.className = "pg-status" + (kind ? " " + kind : "");
  }

  function exchange() {
    const body = {
      messages: turns.map((t) => ({ role: t.role, content: t.content })),
      goal: $("pg-goal").value,
      benign: $("pg-benign").checked,
      category: $("pg-category").value || null,
    };
    body.system = $("pg-system").value; // empty: no system prompt
    return body;
  }

  // --- verdicts and messages -----------------------------------------------------------

  function verdictRow(v) {
    const row = el("li", "pg-verdict outcome-" + v.outcome);
    row.appendChild(el("span", "pg-judge", v.judge));
    row.appendChild(el("span", "pg-outcome " + v.outcome, v.outcome));
    let refusal = "refusal: not read";
    if (v.refused === true) refusal = v.partial ? "refused (partly)" : "refused";
    else if (v.refused === false) refusal = "not refused";
    row.appendChild(el("span", "pg-refusal", refusal));
    if (v.score !== null && v.score !== undefined) {
      row.appendChild(el("span", "pg-score", "score " + Number(v.score).toFixed(2)));
    }
    if (v.rationale) row.appendChild(el("div", "pg-rationale", v.rationale));
    return row;
  }

  function renderVerdicts(list) {
    const box = el("ul", "pg-verdicts");
    for (const v of list) box.appendChild(verdictRow(v));
    return box;
  }

  function render() {
    conversationBox.replaceChildren();
    if (!turns.length && !lastError) {
      conversationBox.appendChild(
        el("p", "note pg-empty", "No messages yet. Write a prompt below, transform it if you like, and send it.")
      );
    }
    turns.forEach((turn) => {
      const box = el("div", "pg-msg pg-" + turn.role + (turn.fabricated ? " pg-fabricated" : ""));
      const head = el("div", "pg-role", turn.role + (turn.fabricated ? " (fabricated turn)" : ""));
      box.appendChild(head);
      box.appendChild(el("div", "text pg-content", turn.content));
      if (turn.call) {
        const c = turn.call;
        const tokens = c.usage ? `${c.usage.prompt_tokens} in / ${c.usage.completion_tokens} out tokens` : "";
        const parts = [`${Number(c.latency_s).toFixed(2)} s`, tokens];
        if (c.requests > 1) parts.push(`${c.requests} requests (retries)`);
        if (c.truncated) parts.push("reply cut at max_reply_chars");
        box.appendChild(el("div", "note pg-meta", parts.filter(Boolean).join(" · ")));
      }
      if (turn.verdicts) box.appendChild(renderVerdicts(turn.verdicts));
      conversationBox.appendChild(box);
    });
    if (lastError) {
      const box = el("div", "pg-msg pg-failed");
      box.appendChild(el("div", "pg-role error", "error"));
      box.appendChild(el("div", "pg-error", lastError.message));
      if (lastError.verdicts) box.appendChild(renderVerdicts(lastError.verdicts));
      conversationBox.appendChild(box);
    }
  }

  // --- the transform options -------------------------------------------------------------

  function selectedEntry() {
    const option = attackSelect.selectedOptions[0];
    if (!option) return null;
    return {
      attack: option.dataset.attack,
      fixed: JSON.parse(option.dataset.fixed || "{}"),
      fields: JSON.parse(option.dataset.fields || "[]"),
    };
  }

  function renderOptions() {
    optionsBox.replaceChildren();
    const entry = selectedEntry();
    if (!entry) return;
    for (const f of entry.fields) {
      const label = el("label", "pg-option", f.name + " ");
      if (f.description) label.title = f.description;
      let input;
      if (f.kind === "choice") {
        input = el("select");
        for (const choice of f.choices) {
          const opt = el("option", null, choice);
          opt.value = String(choice);
          if (choice === f.default) opt.selected = true;
          input.appendChild(opt);
        }
      } else if (f.kind === "bool") {
        input = el("input");
        input.type = "checkbox";
        input.checked = Boolean(f.default);
      } else {
        input = el("input");
        input.type = f.kind === "int" || f.kind === "float" ? "number" : "text";
        if (f.kind === "float") input.step = "any";
        input.value = f.default === null || f.default === undefined ? "" : String(f.default);
        input.size = 8;
      }
      input.dataset.option = f.name;
      input.dataset.kind = f.kind;
      label.appendChild(input);
      optionsBox.appendChild(label);
    }
  }

  function optionValues() {
    const values = {};
    for (const input of optionsBox.querySelectorAll("[data-option]")) {
      const kind = input.dataset.kind;
      if (kind === "bool") values[input.dataset.option] = input.checked;
      else if (input.value === "") continue;
      else if (kind === "int") values[input.dataset.option] = parseInt(input.value, 10);
      else if (kind === "float") values[input.dataset.option] = parseFloat(input.value);
      else values[input.dataset.option] = input.value;
    }
    return values;
  }

  // --- actions ---------------------------------------------------------------------------

  async function apply() {
    const entry = selectedEntry();
    if (!entry) return;
    if (!draft.value.trim()) {
      say("Write a prompt first: a transform rewrites the draft.", "error");
      return;
    }
    try {
      const result = await redlinePost("/api/playground/transform", {
        attack: entry.attack,
        options: Object.assign({}, optionValues(), entry.fixed),
        text: draft.value,
      });
      undoStack.push({ draft: draft.value, turns: turns.slice() });
      $("pg-undo").disabled = false;
      if (result.messages && result.messages.length) {
        turns = turns.concat(result.messages.map((m) => ({ role: m.role, content: m.content, fabricated: true })));
        render();
      }
      draft.value = result.text;
      say(`Applied ${attackSelect.selectedOptions[0].textContent}. Edit the draft as you like, then send it.`);
    } catch (err) {
      say(err.message, "error");
    }
  }

  function undo() {
    const last = undoStack.pop();
    if (!last) return;
    draft.value = last.draft;
    turns = last.turns;
    render();
    $("pg-undo").disabled = !undoStack.length;
  }

  function busy(on) {
    for (const id of ["pg-send", "pg-apply", "pg-save-attempt", "pg-save-behavior", "pg-reset"]) {
      $(id).disabled = on;
    }
    $("pg-busy").hidden = !on;
  }

  async function send() {
    const text = draft.value;
    if (!text.trim()) {
      say("Nothing to send: write a prompt.", "error");
      return;
    }
    if (lastError) turns.pop(); // the failed prompt is replaced by this one
    lastError = null;
    turns.push({ role: "user", content: text });
    render();
    busy(true);
    say("");
    try {
      const result = await redlinePostKeeping("/api/playground/send", exchange());
      calls = calls.concat(result.calls || []);
      if (result.error) {
        lastError = { message: result.error, verdicts: result.verdicts };
        say(result.error, "error");
      } else {
        turns.push({
          role: "assistant",
          content: result.reply,
          verdicts: result.verdicts,
          call: {
            latency_s: result.latency_s,
            usage: result.usage,
            requests: (result.calls || []).length,
            truncated: result.truncated,
          },
        });
        draft.value = "";
        undoStack = [];
        $("pg-undo").disabled = true;
      }
    } catch (err) {
      turns.pop();
      draft.value = text;
      say(err.message, "error");
    } finally {
      busy(false);
      render();
    }
  }

  /** Like redlinePost, but a 502 with a JSON body (the target failed) is an answer to show. */
  async function redlinePostKeeping(url, body) {
    const reply = await redlinePostRaw(url, body);
    const data = reply.data;
    if (reply.response.status === 502 && data && data.error && data.verdicts) return data;
    if (!reply.response.ok) throw redlineError(reply);
    return data;
  }

  async function saveAttempt() {
    if (!turns.length) {
      say("Nothing to save yet: send a prompt first.", "error");
      return;
    }
    const body = exchange();
    body.calls = calls;
    if (lastError) body.error = lastError.message;
    busy(true);
    try {
      const result = await redlinePost("/api/playground/save-attempt", body);
      statusLine.replaceChildren();
      statusLine.className = "pg-status saved";
      statusLine.appendChild(document.createTextNode(`Saved as attempt ${result.index + 1} of run `));
      const link = el("a", null, result.run_id);
      link.href = result.url;
      statusLine.appendChild(link);
      const outcomes = result.verdicts.map((v) => `${v.judge}: ${v.outcome}`).join(", ");
      statusLine.appendChild(document.createTextNode(` (${outcomes}).`));
    } catch (err) {
      say(err.message, "error");
    } finally {
      busy(false);
    }
  }

  async function saveBehavior() {
    const firstUser = turns.find((t) => t.role === "user" && !t.fabricated);
    const goal = $("pg-goal").value.trim() || (firstUser ? firstUser.content : draft.value).trim();
    if (!goal) {
      say("Nothing to save: write a goal or a prompt.", "error");
      return;
    }
    busy(true);
    try {
      const result = await redlinePost("/api/playground/save-behavior", {
        goal: goal,
        category: $("pg-category").value,
        benign: $("pg-benign").checked,
      });
      say(`Saved behaviour ${result.id} to ${result.file} (${result.behaviors} in the file).`, "saved");
    } catch (err) {
      say(err.message, "error");
    } finally {
      busy(false);
    }
  }

  function reset() {
    turns = [];
    calls = [];
    lastError = null;
    undoStack = [];
    $("pg-undo").disabled = true;
    draft.value = "";
    say("");
    render();
  }

  attackSelect.addEventListener("change", renderOptions);
  $("pg-apply").addEventListener("click", apply);
  $("pg-undo").addEventListener("click", undo);
  $("pg-send").addEventListener("click", send);
  $("pg-save-attempt").addEventListener("click", saveAttempt);
  $("pg-save-behavior").addEventListener("click", saveBehavior);
  $("pg-reset").addEventListener("click", reset);
  draft.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
      event.preventDefault();
      send();
    }
  });
  renderOptions();
  render();
})();
