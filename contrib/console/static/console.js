// llmspell console: live timeline and run-tree bars. Plain JavaScript, no build step.
// Every value from the server is written with textContent, never as HTML.
"use strict";

function cell(row, text, className) {
  const td = document.createElement("td");
  if (className) td.className = className;
  td.textContent = text == null ? "" : String(text);
  row.appendChild(td);
  return td;
}

function eventRow(e) {
  const tr = document.createElement("tr");
  tr.dataset.seq = String(e.seq);
  tr.className = "fresh";
  cell(tr, e.seq, "num");
  cell(tr, e.time, "nowrap");
  cell(tr, e.type, "type");
  cell(tr, e.source, "");
  const what = cell(tr, "", "");
  const details = document.createElement("details");
  const summary = document.createElement("summary");
  summary.textContent = e.summary;
  const pre = document.createElement("pre");
  pre.textContent = e.payload;
  details.appendChild(summary);
  details.appendChild(pre);
  what.appendChild(details);
  return tr;
}

function startLive() {
  const badge = document.getElementById("live");
  const body = document.querySelector("#timeline tbody");
  if (!badge || !body || !window.EventSource) return;
  const count = document.getElementById("event-count");
  const source = new EventSource(badge.dataset.url);
  source.onopen = () => { badge.className = "live on"; badge.textContent = "live"; };
  source.onerror = () => { badge.className = "live off"; badge.textContent = "reconnecting"; };
  source.addEventListener("llmspell", (message) => {
    const e = JSON.parse(message.data);
    if (body.querySelector(`tr[data-seq="${Number(e.seq)}"]`)) return;
    body.insertBefore(eventRow(e), body.firstChild);
    if (count) count.textContent = String(Math.max(Number(count.textContent) || 0, Number(e.seq) || 0));
    const none = document.getElementById("no-events");
    if (none) none.remove();
  });
}

function placeBars() {
  for (const bar of document.querySelectorAll(".bar-fill")) {
    bar.style.left = `${Number(bar.dataset.left) || 0}%`;
    bar.style.width = `${Math.max(Number(bar.dataset.width) || 0, 0.5)}%`;
  }
}

document.addEventListener("DOMContentLoaded", () => { startLive(); placeBars(); });
