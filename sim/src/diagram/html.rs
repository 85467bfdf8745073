//! A self-contained HTML page of one run: the spacetime diagram, filters by
//! key, node and time window, and next / previous / play over the steps with,
//! for the selected key, each node's promised ballot, accepted (ballot, value)
//! and confirmed mark, the messages in flight and the operations running.
//!
//! One file, inline CSS and JavaScript, no fonts or scripts from anywhere
//! else: it opens offline from a file:// URL. The diagram is the SVG of
//! [`super::svg`] with every element; the page hides and re-lays it out
//! itself (the same rules as [`super::Recording::visible`]), using the
//! recording embedded as JSON. Open it with `#selftest` appended to the URL
//! to have it exercise its own controls and report in `<pre id="selftest">`
//! (the headless browser test does).

use super::svg::{self, SvgOptions};
use super::{esc, Filter, Recording};
use std::fmt::Write as _;

/// Renders the page; `filter` is the initial filter (the page can change it).
pub fn render(rec: &Recording, filter: &Filter) -> String {
    let diagram = svg::render(
        rec,
        &Filter::default(),
        &SvgOptions {
            all_elements: true,
            explain: false,
            states: true,
        },
    );
    let json = serde_json::to_string(rec)
        .unwrap_or_else(|_| "{}".into())
        .replace('<', "\\u003c");
    let init = serde_json::json!({
        "key": filter.key,
        "nodes": filter.nodes,
        "from_ms": filter.window_us.map(|(a, _)| a as f64 / 1e3),
        "to_ms": filter.window_us.and_then(|(_, b)| (b != u64::MAX).then_some(b as f64 / 1e3)),
    })
    .to_string()
    .replace('<', "\\u003c");
    let mut key_options = String::from(r#"<option value="">all keys</option>"#);
    for k in &rec.keys {
        let _ = write!(key_options, r#"<option value="{0}">{0}</option>"#, esc(k));
    }
    let mut state_keys = String::new();
    for k in &rec.keys {
        let _ = write!(state_keys, r#"<option value="{0}">{0}</option>"#, esc(k));
    }
    let mut node_boxes = String::new();
    for n in 1..=rec.nodes {
        let _ = write!(
            node_boxes,
            r#"<label><input type="checkbox" class="nodebox" value="{n}"> n{n}</label> "#
        );
    }
    let verdict_class = if rec.passed { "pass" } else { "fail" };
    let explanation = if rec.culprit.explanation.is_empty() {
        String::new()
    } else {
        format!(
            r#"<p class="why"><b>The counterexample, in words.</b> {}</p>"#,
            esc(&rec.culprit.explanation)
        )
    };
    let mut page = String::with_capacity(diagram.len() + json.len() + 16 * 1024);
    let _ = write!(
        page,
        r##"<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{title}</title>
<style>
body{{font:14px/1.4 system-ui,-apple-system,"Segoe UI",sans-serif;margin:0;color:#222}}
header{{padding:10px 16px;border-bottom:1px solid #ddd;background:#fafafa}}
h1{{font-size:17px;margin:0 0 4px}}
code{{background:#eee;padding:1px 4px;border-radius:3px}}
.pass{{color:#1e6b2a;font-weight:bold}} .fail{{color:#a0151d;font-weight:bold}}
.why{{background:#fdecec;border-left:4px solid #c8202a;padding:6px 10px;max-width:1100px}}
#controls{{position:sticky;top:0;z-index:2;background:#fff;border-bottom:1px solid #ddd;padding:6px 16px;display:flex;flex-wrap:wrap;gap:14px;align-items:center}}
#controls button{{font-size:14px;min-width:34px}}
#main{{display:flex;align-items:flex-start}}
#panel{{position:sticky;top:48px;width:430px;flex:none;max-height:calc(100vh - 60px);overflow:auto;padding:8px 12px;border-right:1px solid #ddd;font-size:13px;background:#fcfcfc}}
#panel table{{border-collapse:collapse;width:100%}}
#panel td,#panel th{{border-bottom:1px solid #e4e4e4;padding:2px 4px;text-align:left;font-family:monospace;font-size:12px}}
#panel h3{{font-size:13px;margin:10px 0 4px}}
#steptext{{font-family:monospace;background:#f1f5fb;padding:4px 6px;border-radius:3px;min-height:2.6em}}
#wrap{{overflow:auto;flex:1}}
.down td{{color:#999}} .notvoting td{{color:#8a6d00}}
ul.flight{{margin:0;padding-left:16px;font-family:monospace;font-size:12px}}
.hidden{{display:none}}
#diagram .row,#diagram .msg,#diagram .op{{cursor:pointer}}
</style>
</head>
<body>
<header>
<h1>{title}</h1>
<div>Verdict: <span class="{verdict_class}">{verdict}</span></div>
{explanation}
<div>Replay: <code>{command}</code> · {nsteps} steps, {nmsgs} messages, {nops} operations. Keys: ← → step, space plays.</div>
</header>
<div id="controls">
<span><button id="first" title="first step">first</button> <button id="prev" title="previous step (←)">◀ prev</button> <button id="play" title="play / pause (space)">play</button> <button id="next" title="next step (→)">next ▶</button> <button id="last" title="last step">last</button></span>
<span>step <input id="slider" type="range" min="0" max="{maxstep}" value="0" style="width:220px"> <span id="stepno">0</span></span>
<span>key <select id="fkey">{key_options}</select></span>
<span>nodes {node_boxes}</span>
<span>time (ms) <input id="from" size="6" placeholder="from"> .. <input id="to" size="6" placeholder="to"> <button id="apply">apply</button></span>
<span>speed <select id="speed"><option value="800">slow</option><option value="300" selected>normal</option><option value="60">fast</option></select></span>
</div>
<div id="main">
<div id="panel">
<div id="steptext"></div>
<h3>Acceptor state of <select id="skey">{state_keys}</select> after this step</h3>
<table id="states"><thead><tr><th>node</th><th>promised</th><th>accepted</th><th>value</th><th>✓</th></tr></thead><tbody></tbody></table>
<div id="replicas"></div>
<h3>Messages in flight (this key)</h3>
<ul class="flight" id="flight"></ul>
<h3>Operations running (this key)</h3>
<ul class="flight" id="running"></ul>
<h3>Faults in force</h3>
<ul class="flight" id="faults"></ul>
</div>
<div id="wrap">
{diagram}
</div>
</div>
<pre id="selftest" class="hidden"></pre>
<script type="application/json" id="data">{json}</script>
<script type="application/json" id="init">{init}</script>
<script>
{script}
</script>
</body>
</html>
"##,
        title = esc(&rec.title),
        verdict = esc(&rec.verdict),
        command = esc(&rec.command),
        nsteps = rec.steps.len(),
        nmsgs = rec.msgs.len(),
        nops = rec.ops.len(),
        maxstep = rec.steps.len().saturating_sub(1),
        script = SCRIPT,
    );
    page
}

/// The page's behaviour: filtering and re-layout, stepping, the state panel, a self-test.
const SCRIPT: &str = r#"
"use strict";
const R = JSON.parse(document.getElementById('data').textContent);
const INIT = JSON.parse(document.getElementById('init').textContent);
const svg = document.getElementById('diagram');
const TOP = +svg.dataset.top, ROW = +svg.dataset.row;
const N = R.steps.length;
const OPEN = (s) => s >= N;
let cur = 0, timer = null, pos = [], vis = null;
let filter = {key: INIT.key || '', nodes: INIT.nodes || [], from: INIT.from_ms, to: INIT.to_ms};

function keyIndex(name) { return name === '' ? null : R.keys.indexOf(name); }

// The same rules as Recording::visible in sim/src/diagram/mod.rs.
function visible(f) {
  const key = keyIndex(f.key);
  const inWin = (s) => { if (s >= N) s = N - 1; const t = R.steps[s].t_us / 1000;
    return (f.from == null || t >= f.from) && (f.to == null || t <= f.to); };
  const tOf = (s) => R.steps[Math.min(s, N - 1)].t_us / 1000;
  const overlaps = (s1, s2) => (f.to == null || tOf(s1) <= f.to) && (f.from == null || tOf(s2) >= f.from);
  const nodeOk = (n) => f.nodes.length === 0 || f.nodes.includes(n);
  const steps = R.steps.map((st, i) => inWin(i) && (st.kind === 'fault' ||
      ((key === null || st.key === key) && (st.node === 0 || nodeOk(st.node)))));
  const msgs = R.msgs.map(m => (key === null || m.key === key) && (nodeOk(m.from) || nodeOk(m.to))
      && overlaps(m.s1, m.s2));
  const ops = R.ops.map(o => (key === null || o.key === key) && (f.nodes.length === 0 || f.nodes.includes(o.node))
      && overlaps(o.s1, o.s2));
  const mark = (s) => { if (s < N && inWin(s)) steps[s] = true; };
  R.msgs.forEach((m, i) => { if (msgs[i]) { mark(m.s1); mark(m.s2); } });
  R.ops.forEach((o, i) => { if (ops[i]) { mark(o.s1); mark(o.s2); } });
  return {steps, msgs, ops};
}

function y(s) { const p = OPEN(s) ? pos[N] : pos[s]; return TOP + p * ROW + ROW / 2; }

function layout() {
  vis = visible(filter);
  pos = []; let p = 0;
  for (let i = 0; i < N; i++) { pos.push(p); if (vis.steps[i]) p++; }
  pos.push(p);
  const height = TOP + p * ROW + 2 * ROW;
  const width = +svg.getAttribute('width');
  svg.setAttribute('height', height);
  svg.setAttribute('viewBox', `0 0 ${width} ${height}`);
  const key = keyIndex(filter.key);
  for (const g of svg.querySelectorAll('.row')) {
    const s = +g.dataset.s1;
    g.style.display = vis.steps[s] ? '' : 'none';
    g.setAttribute('transform', `translate(0,${y(s)})`);
  }
  for (const g of svg.querySelectorAll('.state')) {
    const s = +g.dataset.s1;
    const show = vis.steps[s] && (key === null || +g.dataset.key === key) &&
      (filter.nodes.length === 0 || filter.nodes.includes(+g.dataset.node));
    g.style.display = show ? '' : 'none';
    g.setAttribute('transform', `translate(0,${y(s)})`);
  }
  for (const g of svg.querySelectorAll('.msg')) {
    const i = +g.dataset.m, m = R.msgs[i];
    g.style.display = vis.msgs[i] ? '' : 'none';
    if (!vis.msgs[i]) continue;
    const line = g.querySelector('line'), label = g.querySelector('text');
    const y1 = y(m.s1);
    const atSend = m.fate === 'lost' && m.s2 === m.s1;
    const y2 = atSend ? y1 + Math.floor(ROW * 2 / 3) : y(m.s2);
    line.setAttribute('y1', y1); line.setAttribute('y2', y2);
    label.setAttribute('y', (atSend ? y1 + 1 : y2 + 1) - 4);
    const x = g.querySelector('path');
    if (x) { const x2 = +line.getAttribute('x2'); x.setAttribute('d', `M${x2 - 4},${y2 - 4}l8,8m0,-8l-8,8`); }
  }
  for (const g of svg.querySelectorAll('.op')) {
    const i = +g.dataset.op, o = R.ops[i];
    g.style.display = vis.ops[i] ? '' : 'none';
    if (!vis.ops[i]) continue;
    const y1 = y(o.s1), y2 = y(o.s2);
    const bar = g.querySelector('rect');
    bar.setAttribute('y', y1 - 4); bar.setAttribute('height', Math.max(0, y2 + 8 - y1));
    g.querySelector('text').setAttribute('y', y1 - 6);
    const req = g.querySelector('.req'); if (req) { req.setAttribute('y1', y1); req.setAttribute('y2', y1); }
    const rep = g.querySelector('.rep'); if (rep) { rep.setAttribute('y1', y2); rep.setAttribute('y2', y2); }
  }
  for (const g of svg.querySelectorAll('.span')) {
    const s1 = +g.dataset.s1, s2 = +g.dataset.s2;
    const r = g.querySelector('rect');
    const y1 = y(s1) - ROW / 2, y2 = y(Math.min(s2, N)) + ROW / 2;
    r.setAttribute('y', y1); r.setAttribute('height', Math.max(0, y2 - y1));
  }
  for (const l of svg.querySelectorAll('.laneline')) l.setAttribute('y2', height - 4);
  const legend = svg.lastElementChild; if (legend && legend.tagName === 'text') legend.setAttribute('y', height - 6);
  cursor.setAttribute('width', width);
  show(cur, false);
}

const NS = 'http://www.w3.org/2000/svg';
const cursor = document.createElementNS(NS, 'rect');
cursor.setAttribute('x', 0); cursor.setAttribute('height', ROW);
cursor.setAttribute('fill', '#ffe16b'); cursor.setAttribute('opacity', '0.45');
cursor.setAttribute('pointer-events', 'none');
svg.insertBefore(cursor, svg.querySelector('.lane'));

function esc(s) { return String(s).replace(/[&<>"]/g, c => ({'&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;'}[c])); }
function ms(s) { return (R.steps[Math.min(s, N - 1)].t_us / 1000).toFixed(3); }

function stateTable(k) {
  const rows = [];
  for (let n = 1; n <= R.nodes; n++) {
    let st = null;
    for (const x of R.states) { if (x.s > cur) break; if (x.node === n && x.key === k) st = x; }
    const replica = R.replicas[k].includes(n);
    if (!replica) { rows.push(`<tr class="down"><td>n${n}</td><td colspan="4">not a replica of ${esc(R.keys[k])}</td></tr>`); continue; }
    if (!st) { rows.push(`<tr><td>n${n}</td><td colspan="4">no state yet (promised = floor)</td></tr>`); continue; }
    if (st.down) { rows.push(`<tr class="down"><td>n${n}</td><td colspan="4">down: memory lost</td></tr>`); continue; }
    rows.push(`<tr class="${st.voting ? '' : 'notvoting'}"><td>n${n}${st.voting ? '' : ' (not voting)'}</td><td>${esc(st.promised)}</td>` +
      `<td>${esc(st.accepted || '—')}</td><td>${esc(st.value || '—')}</td><td>${st.confirmed ? '✓' : ''}</td></tr>`);
  }
  return rows.join('');
}

function show(s, scroll) {
  cur = Math.max(0, Math.min(N - 1, s));
  const st = R.steps[cur];
  document.getElementById('slider').value = cur;
  document.getElementById('stepno').textContent = `${cur} / ${N - 1}`;
  document.getElementById('steptext').innerHTML =
    `<b>step ${cur}</b> at ${ms(cur)} ms${vis && !vis.steps[cur] ? ' (hidden by the filter)' : ''}<br>${esc(st.text)}` +
    (R.culprit.step === cur ? `<br><b style="color:#a0151d">an invariant broke here</b>` : '');
  const skey = document.getElementById('skey');
  if (st.key >= 0 && filter.key === '' && !skey.dataset.pinned) skey.value = R.keys[st.key];
  const k = R.keys.indexOf(skey.value);
  if (k >= 0) {
    document.getElementById('states').tBodies[0].innerHTML = stateTable(k);
    document.getElementById('replicas').textContent = `replicas of ${R.keys[k]}: ` + R.replicas[k].map(n => 'n' + n).join(', ');
    const flight = R.msgs.filter(m => m.key === k && m.s1 <= cur && cur < m.s2 && !(m.fate === 'lost' && m.s2 === m.s1))
      .map(m => `<li>n${m.from} → n${m.to} ${esc(m.kind)} b=${esc(m.ballot)} ${esc(m.detail)}${m.fate === 'lost' ? ' (will be lost: ' + esc(m.why) + ')' : ''}${m.fate === 'dup' ? ' (duplicate)' : ''}</li>`);
    document.getElementById('flight').innerHTML = flight.join('') || '<li>none</li>';
    const running = R.ops.filter(o => o.key === k && o.s1 <= cur && cur < o.s2)
      .map(o => `<li>${esc(R.lanes[o.lane])} (process ${o.process}): ${esc(o.text)} via n${o.node}</li>`);
    document.getElementById('running').innerHTML = running.join('') || '<li>none</li>';
  }
  const faults = R.spans.filter(f => f.s1 <= cur && cur < f.s2).map(f => `<li>${f.nodes.map(n => 'n' + n).join(',')}: ${esc(f.text)}</li>`);
  document.getElementById('faults').innerHTML = faults.join('') || '<li>none</li>';
  cursor.setAttribute('y', y(cur) - ROW / 2);
  if (scroll) {
    const wrap = document.getElementById('wrap');
    const r = svg.getBoundingClientRect(), top = r.top + window.scrollY + y(cur) - window.innerHeight / 2;
    window.scrollTo({top: Math.max(0, top)});
    void wrap;
  }
}

function nextVisible(from, dir) {
  for (let s = from + dir; s >= 0 && s < N; s += dir) if (vis.steps[s]) return s;
  return from;
}
function step(dir) { show(nextVisible(cur, dir), true); }
function play() {
  const b = document.getElementById('play');
  if (timer) { clearInterval(timer); timer = null; b.textContent = 'play'; return; }
  b.textContent = 'pause';
  timer = setInterval(() => { const n = nextVisible(cur, 1); if (n === cur) play(); else show(n, true); },
    +document.getElementById('speed').value);
}

function readFilter() {
  const num = (id) => { const v = document.getElementById(id).value.trim(); return v === '' ? null : +v; };
  filter = {
    key: document.getElementById('fkey').value,
    nodes: [...document.querySelectorAll('.nodebox')].filter(b => b.checked).map(b => +b.value),
    from: num('from'), to: num('to'),
  };
  if (filter.key) document.getElementById('skey').value = filter.key;
  layout();
}

document.getElementById('fkey').value = filter.key;
for (const b of document.querySelectorAll('.nodebox')) b.checked = filter.nodes.includes(+b.value);
if (filter.from != null) document.getElementById('from').value = filter.from;
if (filter.to != null) document.getElementById('to').value = filter.to;
document.getElementById('first').onclick = () => show(nextVisible(-1, 1), true);
document.getElementById('last').onclick = () => show(nextVisible(N, -1), true);
document.getElementById('prev').onclick = () => step(-1);
document.getElementById('next').onclick = () => step(1);
document.getElementById('play').onclick = play;
document.getElementById('slider').oninput = (e) => show(+e.target.value, true);
document.getElementById('apply').onclick = readFilter;
document.getElementById('fkey').onchange = readFilter;
for (const b of document.querySelectorAll('.nodebox')) b.onchange = readFilter;
document.getElementById('skey').onchange = (e) => { e.target.dataset.pinned = '1'; show(cur, false); };
document.addEventListener('keydown', (e) => {
  if (e.target.tagName === 'INPUT' && e.target.type !== 'range') return;
  if (e.key === 'ArrowRight') { step(1); e.preventDefault(); }
  else if (e.key === 'ArrowLeft') { step(-1); e.preventDefault(); }
  else if (e.key === ' ') { play(); e.preventDefault(); }
});
svg.addEventListener('click', (e) => {
  const g = e.target.closest('.row,.msg,.op');
  if (!g) return;
  if (g.classList.contains('msg')) show(Math.min(+R.msgs[+g.dataset.m].s2, N - 1), false);
  else show(+g.dataset.s1, false);
});
layout();
show(R.culprit.step != null ? R.culprit.step : 0, false);

// #selftest: drive the controls and report what the page shows.
if (location.hash === '#selftest') {
  const out = [];
  const ok = (c, what) => out.push((c ? 'ok   ' : 'FAIL ') + what);
  const before = svg.querySelectorAll('.row:not([style*="none"])').length;
  show(0, false); step(1); step(1);
  ok(cur > 0, 'next moves to a later step');
  let rows = document.querySelectorAll('#states tbody tr').length;
  ok(rows === R.nodes, `state table has one row per node (${rows})`);
  show(N - 1, false); step(-1);
  ok(cur < N - 1, 'previous moves back');
  document.getElementById('fkey').value = R.keys[0]; readFilter();
  const after = svg.querySelectorAll('.row:not([style*="none"])').length;
  ok(after <= before && after > 0, `key filter keeps ${after} of ${before} rows`);
  document.getElementById('fkey').value = ''; readFilter();
  ok(+svg.getAttribute('height') > 0, 'layout has a height');
  const first = R.msgs.findIndex(m => m.fate === 'ok');
  if (first >= 0) { show(R.msgs[first].s1, false); ok(document.getElementById('flight').textContent.length > 0, 'in-flight list filled'); }
  const fails = out.filter(l => l.startsWith('FAIL')).length;
  out.push(fails === 0 ? 'selftest: ok' : `selftest: ${fails} failed`);
  const pre = document.getElementById('selftest');
  pre.textContent = out.join('\n'); pre.classList.remove('hidden');
}
"#;
