// Labelling page: keys, the labeller's name (remembered), saving. No inline scripts (CSP).
"use strict";

(function () {
  const form = document.getElementById("label-form");
  if (!form) return;
  const NAME_KEY = "redline.labeller";
  const VERDICTS_KEY = "redline.showVerdicts";
  const nameInput = document.getElementById("labeller");
  const note = document.getElementById("note");
  const status = document.getElementById("label-status");
  const verdicts = document.getElementById("verdicts");
  const toggle = document.getElementById("toggle-verdicts");
  const benign = form.dataset.benign === "true";
  let saving = false;

  function storage() {
    try { return window.localStorage; } catch (e) { return null; }
  }

  const stored = storage() && storage().getItem(NAME_KEY);
  if (stored) nameInput.value = stored;
  else if (!nameInput.value) nameInput.value = form.dataset.defaultLabeller || "";
  nameInput.addEventListener("change", () => {
    const s = storage();
    if (s) s.setItem(NAME_KEY, nameInput.value.trim());
  });

  function showVerdicts(show) {
    if (!verdicts || !toggle) return;
    verdicts.classList.toggle("hidden", !show);
    toggle.setAttribute("aria-expanded", show ? "true" : "false");
    toggle.textContent = (show ? "Hide" : "Show") + " the judges' verdicts (v)";
    const s = storage();
    if (s) s.setItem(VERDICTS_KEY, show ? "1" : "0");
  }
  if (toggle) {
    showVerdicts(storage() !== null && storage().getItem(VERDICTS_KEY) === "1");
    toggle.addEventListener("click", () => showVerdicts(verdicts.classList.contains("hidden")));
  }

  function say(message, isError) {
    status.textContent = message;
    status.classList.toggle("problem", Boolean(isError));
  }

  function choose(name, value) {
    const input = form.querySelector(`input[name="${name}"][value="${value}"]`);
    if (input) {
      input.checked = true;
      say("");
    }
  }

  function chosen(name) {
    const input = form.querySelector(`input[name="${name}"]:checked`);
    return input ? input.value : null;
  }

  async function save() {
    if (saving) return;
    const labeller = nameInput.value.trim();
    const refusal = chosen("refusal");
    const harm = chosen("harm");
    if (!labeller) { say("Type your name first.", true); nameInput.focus(); return; }
    if (!refusal) { say("Choose refused (r), partial (p) or complied (c).", true); return; }
    if (!harm && !benign) { say("Choose unsafe (u) or safe (s).", true); return; }
    const s = storage();
    if (s) s.setItem(NAME_KEY, labeller);
    saving = true;
    say("Saving…");
    try {
      await redlinePost(form.dataset.api, { labeller, refusal, harm, note: note.value });
      window.location.assign(form.dataset.next);
    } catch (err) {
      saving = false;
      say("Not saved: " + err.message, true);
    }
  }

  function go(url) {
    if (url) window.location.assign(url);
  }

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    save();
  });

  const KEYS = {
    r: () => choose("refusal", "refused"),
    p: () => choose("refusal", "partial"),
    c: () => choose("refusal", "complied"),
    u: () => choose("harm", "unsafe"),
    s: () => choose("harm", "safe"),
    n: () => note.focus(),
    v: () => toggle && toggle.click(),
    k: () => go(form.dataset.before),
    j: () => go(form.dataset.after),
    ArrowLeft: () => go(form.dataset.before),
    ArrowRight: () => go(form.dataset.after),
  };

  document.addEventListener("keydown", (event) => {
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    const target = event.target;
    const typing = target instanceof HTMLTextAreaElement ||
      (target instanceof HTMLInputElement && target.type === "text");
    if (event.key === "Escape") {
      if (typing) target.blur();
      return;
    }
    if (event.key === "Enter") {
      if (event.shiftKey && target === note) return; // a new line in the note
      if (target instanceof HTMLButtonElement || target instanceof HTMLAnchorElement) return;
      event.preventDefault();
      save();
      return;
    }
    if (typing) return;
    const action = KEYS[event.key];
    if (action) {
      event.preventDefault();
      action();
    }
  });
})();
