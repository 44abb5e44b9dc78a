"""metrics/summaries.html: every test dialogue with its references and each model's summary side by side.

One static file, CSS and JavaScript inline, the data as JSON inside it: it opens from disk in any browser,
offline, no server. Rows sort by any model's per-dialogue ROUGE or by the gap between two models, and filter
by text or by "a model wrote nothing". The state lives in the address (`#sort=gap&order=desc&filter=empty`),
so a view can be shared as a link and a test can open it directly.
"""
import html
import json
import re

import numpy as np

from ..data.dialogsum import names
from ..scoring.baselines import NAMES as BASELINES
from ..scoring.rouge import KEYS

SHOWN = ("rouge1", "rouge2", "rougeL")  # per dialogue; ROUGE-Lsum is within a hair of ROUGE-L on one-liners
DIGITS = 3
PLACEHOLDER = re.compile(r"\{(title|run|note|meta|data)\}")


def rows(references: list[dict], groups: list[list[int]], texts: dict[str, list[str]],
         per_dialogue: dict[str, np.ndarray]) -> list[dict]:
    """One compact record per dialogue: id, dialogue, references, and per model its summary and scores."""
    columns = [KEYS.index(key) for key in SHOWN]
    named = names([row["id"] for row in references], groups)
    out = []
    for number, group in enumerate(groups):
        out.append({
            "n": number,
            "id": named[number],
            "d": references[group[0]]["dialogue"],
            "r": [references[i]["summary"] for i in group],
            "s": {model: texts[model][group[0]] for model in texts},
            "x": {model: [round(float(v), DIGITS) for v in values[number, columns]]
                  for model, values in per_dialogue.items()},
        })
    return out


def embed(value) -> str:
    """JSON safe inside <script>: with every '<' escaped, no '</script>' or '<!--' in a dialogue can end or
    change the element."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).replace("<", "\\u003c")


def opening(setup: dict) -> str:
    """Where the run comes from, then what to know before reading any score (stages/reporting/verdicts.py), as
    escaped HTML."""
    run = "<br>".join(html.escape(line) for line in setup.get("run", []))
    notes = "".join(f"<li>{html.escape(note)}</li>" for note in setup.get("notes", []))
    return (f'<div id="run">{run}</div>' if run else "") + (f'<ul id="notes">{notes}</ul>' if notes else "")


def render(references: list[dict], groups: list[list[int]], texts: dict[str, list[str]],
           per_dialogue: dict[str, np.ndarray], setup: dict) -> str:
    models = list(texts)
    meta = {"models": models, "metrics": list(SHOWN), "pair": ["full", "lora"] if {"full", "lora"} <= set(models)
            else models[:2], "baselines": [name for name in models if name in BASELINES]}
    title = f"Summaries of the {setup['split']} split: {len(groups)} dialogues"
    values = {"title": html.escape(title), "run": opening(setup), "note": html.escape(setup.get("note", "")),
              "meta": embed(meta), "data": embed(rows(references, groups, texts, per_dialogue))}
    # one pass: a placeholder inside a filled-in value (a param's text holding "{data}") stays text
    return PLACEHOLDER.sub(lambda found: values[found.group(1)], PAGE)


PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>
body{font:14px/1.4 system-ui,sans-serif;margin:0;color:#222}
header{position:sticky;top:0;background:#f6f6f6;border-bottom:1px solid #ccc;padding:8px 12px;z-index:1}
h1{font-size:17px;margin:0 0 6px}
label{margin-right:12px}
input[type=search]{width:18em}
table{border-collapse:collapse;width:100%;table-layout:fixed}
th,td{border-bottom:1px solid #e2e2e2;padding:6px 8px;vertical-align:top;text-align:left;overflow-wrap:anywhere}
th{background:#fafafa;position:sticky;top:var(--head,80px);cursor:pointer;user-select:none}
th.sorted::after{content:attr(data-arrow)}
td.id{width:7em;font-family:monospace}
details summary{cursor:pointer;color:#555}
.dialogue{white-space:pre-wrap;font-size:13px;color:#333}
ol{margin:0;padding-left:1.3em}
.score{display:block;font-size:12px;color:#666;font-family:monospace}
.empty{color:#b00;font-style:italic}
.gap{font-family:monospace}
#count{color:#555}
#opening{padding:8px 12px;color:#333}
#opening ul{margin:6px 0 0;padding-left:1.3em}
#notes li{color:#8a1c00}
</style>
</head>
<body>
<section id="opening">{run}</section>
<header>
<h1>{title}</h1>
<div>
<label>search <input type="search" id="q" placeholder="words in dialogue or summaries"></label>
<label>show <select id="filter"></select></label>
<label>sort by <select id="sort"></select></label>
<label><select id="order"><option value="desc">high first</option><option value="asc">low first</option></select></label>
<span id="count"></span>
</div>
<div id="note">Per-dialogue ROUGE F-measures (R1/R2/RL), mean over the dialogue's references;
&Delta; under the id: <span id="pair"></span> ROUGE-L. Click a model's column title to sort by it. {note}</div>
</header>
<table>
<thead><tr id="head"></tr></thead>
<tbody id="rows"></tbody>
</table>
<script type="application/json" id="meta">{meta}</script>
<script type="application/json" id="data">{data}</script>
<script>
"use strict";
const meta = JSON.parse(document.getElementById("meta").textContent);
const data = JSON.parse(document.getElementById("data").textContent);
const M = meta.models, RL = meta.metrics.indexOf("rougeL"), [A, B] = meta.pair;
const esc = s => s.replace(/[&<>"]/g, c => ({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;"})[c]);
const blank = s => s.trim() === "";
const gap = d => d.x[A][RL] - d.x[B][RL];
document.getElementById("pair").textContent = A + " \u2212 " + B;
const sorts = {"test order": d => d.n};
M.forEach(m => sorts[m + " ROUGE-L"] = d => d.x[m][RL]);
M.forEach(m => sorts[m + " ROUGE-1"] = d => d.x[m][0]);
sorts[A + " \\u2212 " + B + " ROUGE-L"] = gap;
sorts["|" + A + " \\u2212 " + B + "| ROUGE-L (disagree most)"] = d => Math.abs(gap(d));
const trained = M.filter(m => !(meta.baselines || []).includes(m));  // the mean is the models', not the baselines'
sorts["mean ROUGE-L of the models"] = d => trained.reduce((t, m) => t + d.x[m][RL], 0) / trained.length;
const filters = {"all dialogues": () => true, "a model wrote nothing": d => M.some(m => blank(d.s[m]))};
M.forEach(m => filters[m + " wrote nothing"] = d => blank(d.s[m]));
filters[A + " ahead of " + B + " (ROUGE-L)"] = d => gap(d) > 0;
filters[B + " ahead of " + A + " (ROUGE-L)"] = d => gap(d) < 0;
const ids = {sort: Object.keys(sorts), filter: Object.keys(filters)};
const slug = s => s.toLowerCase().replace(/[^a-z0-9]+/g, "-").replace(/^-|-$/g, "");
for (const kind of ["sort", "filter"]) {
  document.getElementById(kind).innerHTML = ids[kind].map(k => `<option value="${slug(k)}">${esc(k)}</option>`).join("");
}
const bySlug = (table, s) => Object.keys(table).find(k => slug(k) === s);

const head = ["dialogue", "references", ...M.map(m => m)];
document.getElementById("head").innerHTML = `<th data-sort="test-order" style="width:7em">id</th>` +
  head.map(h => {
    const key = M.includes(h) ? slug(h + " ROUGE-L") : "";
    return `<th${key ? ` data-sort="${key}" title="sort by ${esc(h)} ROUGE-L"` : ""}>${esc(h)}</th>`;
  }).join("");

function cell(d, m) {
  const text = d.s[m], x = d.x[m];
  const body = blank(text) ? '<span class="empty">(empty)</span>' : esc(text);
  return `<td data-model="${esc(m)}">${body}<span class="score">R1 ${x[0].toFixed(3)} R2 ${x[1].toFixed(3)} RL ${x[2].toFixed(3)}</span></td>`;
}
function row(d) {
  return `<tr data-n="${d.n}"><td class="id">${esc(d.id)}<span class="score gap" title="${esc(A)} \\u2212 ${esc(B)} ROUGE-L">` +
    `\\u0394 ${gap(d) >= 0 ? "+" : ""}${gap(d).toFixed(3)}</span></td>` +
    `<td><details><summary>${esc(d.d.slice(0, 80))}\\u2026</summary><div class="dialogue">${esc(d.d)}</div></details></td>` +
    `<td><ol>${d.r.map(r => `<li>${esc(r)}</li>`).join("")}</ol></td>` + M.map(m => cell(d, m)).join("") + "</tr>";
}

function state() {
  const h = new URLSearchParams(location.hash.slice(1));
  return {sort: bySlug(sorts, h.get("sort")) ? h.get("sort") : "test-order",
          order: h.get("order") === "asc" ? "asc" : (h.get("order") === "desc" ? "desc" : null),
          filter: bySlug(filters, h.get("filter")) ? h.get("filter") : "all-dialogues", q: h.get("q") || ""};
}
function show() {
  const s = state();
  const order = s.order || (s.sort === "test-order" ? "asc" : "desc");
  document.getElementById("sort").value = s.sort;
  document.getElementById("order").value = order;
  document.getElementById("filter").value = s.filter;
  if (document.activeElement !== document.getElementById("q")) document.getElementById("q").value = s.q;
  const key = sorts[bySlug(sorts, s.sort)], keep = filters[bySlug(filters, s.filter)], q = s.q.toLowerCase();
  const match = d => !q || [d.d, ...d.r, ...M.map(m => d.s[m])].some(t => t.toLowerCase().includes(q));
  const sign = order === "asc" ? 1 : -1;
  const shown = data.filter(d => keep(d) && match(d)).sort((a, b) => sign * (key(a) - key(b)) || a.n - b.n);
  document.getElementById("rows").innerHTML = shown.map(row).join("");
  document.getElementById("count").textContent = `showing ${shown.length} of ${data.length} dialogues`;
  document.querySelectorAll("th").forEach(th => {
    const on = th.dataset.sort === s.sort;
    th.classList.toggle("sorted", on);
    th.dataset.arrow = on ? (order === "asc" ? " \\u25b2" : " \\u25bc") : "";
  });
  document.body.dataset.ready = "1";
}
function set(change) {
  const s = Object.assign(state(), change);
  const h = new URLSearchParams();
  for (const k of ["sort", "order", "filter", "q"]) if (s[k]) h.set(k, s[k]);
  history.replaceState(null, "", "#" + h.toString());
  show();
}
document.getElementById("sort").onchange = e => set({sort: e.target.value, order: null});
document.getElementById("order").onchange = e => set({order: e.target.value});
document.getElementById("filter").onchange = e => set({filter: e.target.value});
document.getElementById("q").oninput = e => set({q: e.target.value});
document.getElementById("head").onclick = e => {
  const th = e.target.closest("th");
  if (!th || !th.dataset.sort) return;
  const s = state();
  const flip = s.sort === th.dataset.sort ? ((s.order || "desc") === "desc" ? "asc" : "desc") : null;
  set({sort: th.dataset.sort, order: flip});
};
window.addEventListener("hashchange", show);
const header = document.querySelector("header");
document.documentElement.style.setProperty("--head", header.offsetHeight + "px");
show();
</script>
</body>
</html>
"""
