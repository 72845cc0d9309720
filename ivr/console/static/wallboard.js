// The shift leader's wallboard (loads after live.js).
"use strict";

(function () {
  const root = document.getElementById("wallboard");
  const csrf = root.dataset.csrf;

  function assignCell(tr, ticket, seatIds) {
    const td = document.createElement("td");
    const select = document.createElement("select");
    select.setAttribute("aria-label", root.dataset.assign);
    const none = document.createElement("option");
    none.value = "";
    none.textContent = root.dataset.unassigned;
    select.appendChild(none);
    for (const id of seatIds) {
      const option = document.createElement("option");
      option.value = id;
      option.textContent = id;
      if (id === ticket.seat) option.selected = true;
      select.appendChild(option);
    }
    select.addEventListener("change", () => {
      postForm("/callbacks/" + encodeURIComponent(ticket.id) + "/assign", { csrf, seat: select.value });
    });
    td.appendChild(select);
    tr.appendChild(td);
  }

  let focused = false;  // do not rebuild the tickets while a select is open
  root.addEventListener("focusin", () => { focused = true; });
  root.addEventListener("focusout", () => { focused = false; });

  function render(data) {
    text("now", data.now);
    const f = data.figures;
    for (const key of ["calls", "service_level", "third_ring", "abandoned", "mean_wait"]) text("fig-" + key, f[key]);
    fill("per-seat", f.seats, (tr, s) => { cell(tr, s.id); cell(tr, s.handled); cell(tr, s.no_answer); cell(tr, s.mean_talk); });
    fill("waiting", data.waiting, (tr, c) => {
      cell(tr, c.position); cell(tr, c.caller, "caller"); cell(tr, c.wait); cell(tr, c.intent); cell(tr, c.seat);
    });
    fill("calls", data.calls, (tr, c) => {
      tr.dataset.state = c.state_id;
      cell(tr, c.caller, "caller"); cell(tr, c.state); cell(tr, c.step); cell(tr, c.intent); cell(tr, c.seat); cell(tr, c.time);
    });
    fill("seats", data.seats, (tr, s) => {
      tr.dataset.seat = s.id;
      tr.dataset.state = s.state_id;
      if (s.late) tr.className = "late";
      cell(tr, s.id); cell(tr, s.name); cell(tr, s.state); cell(tr, s.since); cell(tr, s.reason);
    });
    if (!focused) {
      fill("callbacks", data.callbacks, (tr, t) => {
        tr.dataset.ticket = t.id;
        cell(tr, t.number, "caller"); cell(tr, t.created); cell(tr, t.reason); cell(tr, t.attempts);
        assignCell(tr, t, data.seat_ids);
      });
    }
  }

  poll(root.dataset.source, render, 500);
})();
