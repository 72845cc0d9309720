// The console's live pages: fetch the page's data twice a second and place it as text (never as HTML).
"use strict";

function cell(row, text, className) {
  const td = document.createElement("td");
  td.textContent = text === undefined || text === null ? "" : String(text);
  if (className) td.className = className;
  row.appendChild(td);
  return td;
}

function fill(id, items, makeRow) {
  const body = document.getElementById(id);
  if (!body) return;
  const rows = items.map((item) => {
    const tr = document.createElement("tr");
    makeRow(tr, item);
    return tr;
  });
  body.replaceChildren(...rows);
}

function text(id, value) {
  const el = document.getElementById(id);
  if (el) el.textContent = value === undefined || value === null ? "" : String(value);
}

function postForm(url, fields) {
  const body = new URLSearchParams(fields);
  return fetch(url, {
    method: "POST",
    body,
    credentials: "same-origin",
    headers: { "X-Requested-With": "fetch" },
  });
}

function poll(source, render, periodMs) {
  let busy = false;
  async function once() {
    if (busy) return;
    busy = true;
    try {
      const response = await fetch(source, { credentials: "same-origin", cache: "no-store" });
      if (response.status === 401) {
        window.location.href = "/sign-in";
        return;
      }
      if (response.ok) {
        render(await response.json());
        document.body.dataset.updated = String(Date.now());
      }
    } finally {
      busy = false;
    }
  }
  once();
  setInterval(once, periodMs);
}
