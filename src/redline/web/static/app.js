// Shared helpers of the redline web app. Loaded from the app's own origin (no inline scripts).
"use strict";

/** The CSRF token of this page, required by every state-changing request. */
function redlineCsrfToken() {
  const meta = document.querySelector('meta[name="csrf-token"]');
  return meta ? meta.getAttribute("content") : "";
}

/** POST ``body`` as JSON with the CSRF header; resolves to {response, text, data}. */
async function redlinePostRaw(url, body) {
  const response = await fetch(url, {
    method: "POST",
    credentials: "same-origin",
    headers: { "Content-Type": "application/json", "X-CSRF-Token": redlineCsrfToken() },
    body: JSON.stringify(body),
  });
  const text = await response.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch (e) { data = null; }
  return { response, text, data };
}

/** The error a failed reply carries: its JSON ``error``, else its text or status. */
function redlineError(reply) {
  return new Error((reply.data && reply.data.error) || reply.text || reply.response.statusText);
}

/** POST ``body`` as JSON with the CSRF header; resolves to the parsed JSON reply or throws. */
async function redlinePost(url, body) {
  const reply = await redlinePostRaw(url, body);
  if (!reply.response.ok) throw redlineError(reply);
  return reply.data;
}

// Selects marked data-autosubmit submit their form on change (no inline handlers).
document.addEventListener("change", (event) => {
  const target = event.target;
  if (target instanceof HTMLSelectElement && target.dataset.autosubmit !== undefined && target.form) {
    target.form.submit();
  }
});
