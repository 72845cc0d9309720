// An agent's seat page: state, pause and resume, the screen pop, callback tickets (loads after live.js).
"use strict";

(function () {
  const root = document.getElementById("agent");
  const csrf = root.dataset.csrf;
  let refresh = () => {};

  function render(data) {
    const seat = data.seat || {};
    text("seat-state", seat.state);
    text("seat-since", seat.since);
    text("seat-reason", seat.reason);
    document.getElementById("pause-form").hidden = data.on_break;
    document.getElementById("resume-form").hidden = !data.on_break;
    const pop = document.getElementById("pop");
    const call = data.call;
    pop.hidden = !call;
    document.getElementById("no-call").hidden = !!call;
    if (call) {
      pop.dataset.call = call.id;
      text("pop-caller", call.caller);
      text("pop-intent", call.intent);
      text("pop-heard", call.heard);
      text("pop-path", call.path);
      text("pop-wait", call.wait);
      const list = document.getElementById("pop-earlier");
      const earlier = call.earlier.map((e) => e.started + " " + e.outcome + " " + e.path);
      list.replaceChildren(...(earlier.length ? earlier : [root.dataset.none]).map((line) => {
        const li = document.createElement("li");
        li.textContent = line;
        return li;
      }));
    }
    fill("callbacks", data.callbacks, (tr, t) => {
      tr.dataset.ticket = t.id;
      cell(tr, t.number, "caller"); cell(tr, t.created); cell(tr, t.reason); cell(tr, t.attempts);
      const td = document.createElement("td");
      for (const [result, label] of [["called-back", root.dataset.calledBack], ["no-answer", root.dataset.noAnswer]]) {
        const button = document.createElement("button");
        button.type = "button";
        button.textContent = label;
        button.addEventListener("click", async () => {
          await postForm("/callbacks/" + encodeURIComponent(t.id) + "/" + result, { csrf });
          refresh();
        });
        td.appendChild(button);
      }
      tr.appendChild(td);
    });
  }

  for (const id of ["pause-form", "resume-form"]) {
    const form = document.getElementById(id);
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const response = await postForm(form.action, Object.fromEntries(new FormData(form)));
      const problem = response.ok ? {} : await response.json().catch(() => ({}));
      text("pause-error", problem.error || "");
      refresh();
    });
  }

  async function load() {
    const response = await fetch(root.dataset.source, { credentials: "same-origin", cache: "no-store" });
    if (response.ok) render(await response.json());
  }
  refresh = load;
  poll(root.dataset.source, render, 500);
})();
