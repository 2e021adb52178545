// Shared helpers of the redline web app. Loaded from the app's own origin (no inline scripts).
"use strict";

/** The CSRF token of this page, required by every state-changing request. */
function redlineCsrfToken() {
  const meta = document.querySelector('meta[name="csrf-token"]');
  return meta ? meta.getAttribute("content") : "";
}

/** POST ``body`` as JSON with the CSRF header; resolves to the parsed JSON reply or throws. */
async function redlinePost(url, body) {
  const response = await fetch(url, {
    method: "POST",
    credentials: "same-origin",
    headers: { "Content-Type": "application/json", "X-CSRF-Token": redlineCsrfToken() },
    body: JSON.stringify(body),
  });
  const text = await response.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch (e) { data = null; }
  if (!response.ok) {
    const message = (data && data.error) || text || response.statusText;
    throw new Error(message);
  }
  return data;
}

// Selects marked data-autosubmit submit their form on change (no inline handlers).
document.addEventListener("change", (event) => {
  const target = event.target;
  if (target instanceof HTMLSelectElement && target.dataset.autosubmit !== undefined && target.form) {
    target.form.submit();
  }
});
