//! The spacetime (Lamport) diagram as SVG: time runs down, one lane per
//! client (left) and per node, one row per step, an arrow per message from
//! the step that sent it to the step that received it.
//!
//! Hand-written SVG 1.1 with no fonts, scripts or links outside the file, so
//! it renders in a browser, in a README and in an image viewer alike. Every
//! row-positioned element carries `data-s1` / `data-s2` (its steps), so the
//! HTML page can filter and re-lay it out without drawing it again.

use super::record::OPEN;
use super::{esc, Filter, LabelBox, Placer, Recording};
use std::fmt::Write as _;

/// Height of one step row, px.
pub const ROW: u32 = 20;
/// Left gutter with step numbers and times, px.
pub const GUTTER: u32 = 92;
/// Width of a node lane, px.
pub const NODE_W: u32 = 170;
/// Width of a client lane, px.
pub const CLIENT_W: u32 = 120;
/// Width of the step-text column, px.
pub const TEXT_W: u32 = 700;

/// The step column's title: which order the rows and arrows show.
pub const WHAT_HAPPENED: &str =
    "what happened, in time order (an arrow runs from the step that sent it to the step that got it)";

/// How to draw.
#[derive(Clone, Debug, Default)]
pub struct SvgOptions {
    /// Draw every element (the HTML page filters itself); else drop what the filter hides.
    pub all_elements: bool,
    /// Put the verdict and the counterexample in words at the top.
    pub explain: bool,
    /// Draw acceptor states beside the node lanes.
    pub states: bool,
}

impl SvgOptions {
    /// A diagram that stands on its own (`run --svg`, exercise pages): only
    /// what the filter keeps, the verdict in words, acceptor states.
    pub fn standalone() -> SvgOptions {
        SvgOptions {
            all_elements: false,
            explain: true,
            states: true,
        }
    }
}

/// The colour of a message kind.
pub fn kind_colour(kind: &str) -> &'static str {
    match kind {
        "Prepare" => "#1f5fa8",
        "Promise" => "#4f9bd9",
        "Accept" => "#1e8a2e",
        "Accepted" => "#63b86f",
        "Confirm" => "#8a8a8a",
        "Reject" => "#c8202a",
        "Nack" => "#e0600f",
        "Read" | "ReadReply" => "#7b4fb0",
        _ => "#8c6d31",
    }
}

const KIND_CLASSES: [&str; 9] = [
    "Prepare", "Promise", "Accept", "Accepted", "Confirm", "Reject", "Nack", "Read", "Other",
];

fn kind_class(kind: &str) -> &'static str {
    match kind {
        "Prepare" | "Promise" | "Accept" | "Accepted" | "Confirm" | "Reject" | "Nack" => {
            KIND_CLASSES
                .iter()
                .find(|k| **k == kind)
                .copied()
                .unwrap_or("Other")
        }
        "Read" | "ReadReply" => "Read",
        _ => "Other",
    }
}

/// Colour of an operation outcome.
pub fn outcome_colour(outcome: &str) -> &'static str {
    match outcome {
        "ok" => "#3a9d4a",
        "fail" => "#c8202a",
        "info" => "#e3a21a",
        _ => "#9a9a9a",
    }
}

/// Where things go: lane x positions and row y positions.
pub struct Layout {
    pub lane_x: Vec<(String, u32)>,
    /// x of node n's lane at index n (index 0 unused).
    pub node_x: Vec<u32>,
    /// x of client lane i, if drawn.
    pub client_x: Vec<Option<u32>>,
    pub text_x: u32,
    pub top: u32,
    /// Visible steps before step s, for every s (and one past the end).
    pub pos: Vec<u32>,
    pub width: u32,
    pub height: u32,
}

impl Layout {
    /// The y of the middle of step `s`'s row (OPEN: the bottom).
    pub fn y(&self, s: usize) -> u32 {
        let p = if s == OPEN {
            *self.pos.last().unwrap_or(&0)
        } else {
            self.pos[s.min(self.pos.len() - 1)]
        };
        self.top + p * ROW + ROW / 2
    }
}

fn explanation_lines(rec: &Recording) -> Vec<String> {
    let mut lines = vec![if rec.passed {
        "PASS: every invariant held after every step and the history is linearizable".to_string()
    } else {
        rec.verdict.clone()
    }];
    if !rec.culprit.explanation.is_empty() {
        lines.push(String::new());
        lines.push(rec.culprit.explanation.clone());
    }
    let mut out = Vec::new();
    for l in lines {
        out.extend(wrap(&l, 150));
    }
    out
}

/// Wraps text at `width` characters on spaces.
pub fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut out = Vec::new();
    let mut line = String::new();
    for w in text.split(' ') {
        if !line.is_empty() && line.chars().count() + 1 + w.chars().count() > width {
            out.push(std::mem::take(&mut line));
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(w);
    }
    out.push(line);
    out
}

/// Lays out `rec` with the steps `visible` keeps.
pub fn layout(rec: &Recording, visible_steps: &[bool], lanes_used: &[bool], header: u32) -> Layout {
    let mut x = GUTTER;
    let mut lane_x = Vec::new();
    let mut client_x = vec![None; rec.lanes.len()];
    for (i, name) in rec.lanes.iter().enumerate() {
        if lanes_used[i] {
            client_x[i] = Some(x + CLIENT_W / 2);
            lane_x.push((name.clone(), x + CLIENT_W / 2));
            x += CLIENT_W;
        }
    }
    let mut node_x = vec![0; rec.nodes as usize + 1];
    for n in 1..=rec.nodes {
        node_x[n as usize] = x + NODE_W / 2;
        lane_x.push((format!("n{n}"), x + NODE_W / 2));
        x += NODE_W;
    }
    let text_x = x + 70;
    let mut pos = Vec::with_capacity(visible_steps.len() + 1);
    let mut p = 0;
    for &v in visible_steps {
        pos.push(p);
        p += u32::from(v);
    }
    pos.push(p);
    let top = header + 40;
    Layout {
        lane_x,
        node_x,
        client_x,
        text_x,
        top,
        // One row more than the steps: arrows still in flight end there,
        // above the legend.
        height: top + p * ROW + 2 * ROW,
        width: text_x + TEXT_W,
        pos,
    }
}

/// Draws the diagram.
pub fn render(rec: &Recording, filter: &Filter, opts: &SvgOptions) -> String {
    let vis = if opts.all_elements {
        rec.visible(&Filter::default())
    } else {
        rec.visible(filter)
    };
    let mut lanes_used = vec![false; rec.lanes.len()];
    for (o, &v) in rec.ops.iter().zip(&vis.ops) {
        if v {
            lanes_used[o.lane] = true;
        }
    }
    let expl = if opts.explain {
        explanation_lines(rec)
    } else {
        Vec::new()
    };
    let header = if expl.is_empty() {
        0
    } else {
        expl.len() as u32 * 15 + 16
    };
    let lay = layout(rec, &vis.steps, &lanes_used, header);
    // Labels that would overlap another are moved to a free spot or left
    // out (their tooltip stays). The HTML page draws every element and
    // filters itself, so it keeps every label where it is.
    let placing = !opts.all_elements;
    let mut placer = Placer::default();
    let legend = "synod-sim diagram · arrows: messages (dashed: duplicate; faint dots: still in flight when the run ended; dotted + ✗: lost) · bars: client operations (green ok, red failed, amber unknown) · hatched: down · yellow: recovering · blue: paused · red strip: partitioned";
    if placing {
        for (i, l) in expl.iter().enumerate() {
            placer.reserve(LabelBox::of_text(
                10.0,
                16.0 + i as f64 * 15.0,
                11.0,
                "start",
                l,
            ));
        }
        let hy = f64::from(header + 24);
        placer.reserve(LabelBox::of_text(8.0, hy, 11.0, "start", "step  t (ms)"));
        placer.reserve(LabelBox::of_text(
            f64::from(lay.text_x),
            hy,
            11.0,
            "start",
            WHAT_HAPPENED,
        ));
        for (name, x) in &lay.lane_x {
            placer.reserve(LabelBox::of_text(f64::from(*x), hy, 13.0, "middle", name));
        }
        for (i, st) in rec.steps.iter().enumerate() {
            if vis.steps[i] {
                let y = f64::from(lay.y(i)) + 4.0;
                let num = format!("{i:>4} {:>9.3}", st.t_us as f64 / 1_000.0);
                placer.reserve(LabelBox::of_text(8.0, y, 11.0, "start", &num));
                placer.reserve(LabelBox::of_text(
                    f64::from(lay.text_x),
                    y,
                    11.0,
                    "start",
                    &st.text,
                ));
            }
        }
        placer.reserve(LabelBox::of_text(
            8.0,
            f64::from(lay.height - 6),
            9.0,
            "start",
            legend,
        ));
    }
    let mut s = String::with_capacity(64 * 1024);
    let _ = write!(
        s,
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}" font-family="DejaVu Sans Mono, Menlo, Consolas, monospace" font-size="11" id="diagram" data-top="{top}" data-row="{ROW}">
<title>{title}</title>
<style>
.lbl{{paint-order:stroke;stroke:#fff;stroke-width:3px;stroke-linejoin:round}}
.hl rect.bar{{stroke:#c8202a;stroke-width:3}}
.hl text{{font-weight:bold;fill:#a0151d}}
</style>
<defs>
<pattern id="hatch" width="6" height="6" patternUnits="userSpaceOnUse" patternTransform="rotate(45)"><rect width="6" height="6" fill="#e4e4e4"/><line x1="0" y1="0" x2="0" y2="6" stroke="#b8b8b8" stroke-width="2"/></pattern>
"##,
        w = lay.width,
        h = lay.height,
        top = lay.top,
        title = esc(&rec.title),
    );
    for k in KIND_CLASSES {
        let c = match k {
            "Other" => kind_colour("Recover"),
            "Read" => kind_colour("Read"),
            k => kind_colour(k),
        };
        let _ = writeln!(
            s,
            r##"<marker id="a-{k}" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M0,0L10,5L0,10z" fill="{c}"/></marker>"##
        );
    }
    s.push_str("</defs>\n<rect width=\"100%\" height=\"100%\" fill=\"#fff\"/>\n");
    // Verdict and counterexample in words.
    for (i, l) in expl.iter().enumerate() {
        let colour = if rec.passed { "#1e6b2a" } else { "#a0151d" };
        let weight = if i == 0 { " font-weight=\"bold\"" } else { "" };
        let _ = writeln!(
            s,
            r#"<text x="10" y="{}" fill="{colour}"{weight}>{}</text>"#,
            16 + i as u32 * 15,
            esc(l)
        );
    }
    // Lane titles and lines.
    let hy = header + 24;
    let _ = writeln!(
        s,
        r#"<text x="8" y="{hy}" font-weight="bold">step  t (ms)</text><text x="{}" y="{hy}" font-weight="bold">{}</text>"#,
        lay.text_x,
        esc(WHAT_HAPPENED)
    );
    for (name, x) in &lay.lane_x {
        let node = name.starts_with('n');
        let _ = writeln!(
            s,
            r##"<g class="lane" data-lane="{name}"><text x="{x}" y="{hy}" text-anchor="middle" font-weight="bold" font-size="13" fill="{}">{}</text><line class="laneline" x1="{x}" y1="{}" x2="{x}" y2="{}" stroke="{}" stroke-width="{}"/></g>"##,
            if node { "#222" } else { "#555" },
            esc(name),
            lay.top,
            lay.height - 4,
            if node { "#333" } else { "#bbb" },
            if node { 2 } else { 1 },
        );
    }
    // Fault spans, under everything else.
    for sp in &rec.spans {
        let (fill, opacity) = match sp.kind {
            "down" => ("url(#hatch)", "1"),
            "recovering" => ("#f5e27a", "0.55"),
            "paused" => ("#8fc1e8", "0.5"),
            "partition" => ("#e88f8f", "0.35"),
            _ => ("#f0b060", "0.4"),
        };
        for &n in &sp.nodes {
            let Some(&x) = lay.node_x.get(n as usize) else {
                continue;
            };
            let (y1, y2) = (lay.y(sp.s1) - ROW / 2, lay.y(sp.s2) + ROW / 2);
            let (x0, w) = match sp.kind {
                "partition" => (x + 6, 14),
                "hold" => (x - 20, 14),
                _ => (x - 22, 44),
            };
            let _ = writeln!(
                s,
                r#"<g class="span" data-s1="{}" data-s2="{}" data-kind="{}"><rect x="{x0}" y="{y1}" width="{w}" height="{}" fill="{fill}" opacity="{opacity}"><title>n{n}: {}</title></rect></g>"#,
                sp.s1,
                sp.s2,
                sp.kind,
                y2.saturating_sub(y1),
                esc(&sp.text)
            );
        }
    }
    // Rows: step number, time, text; the violating step in red.
    for (i, st) in rec.steps.iter().enumerate() {
        if !vis.steps[i] && !opts.all_elements {
            continue;
        }
        let y = lay.y(i);
        let bad = rec.culprit.step == Some(i);
        let fill = if bad {
            "#a0151d"
        } else if st.kind == "fault" || st.kind == "lost" {
            "#8a4b00"
        } else if st.kind == "op" {
            "#1d4f7a"
        } else {
            "#333"
        };
        let _ = writeln!(
            s,
            r##"<g class="row" data-s1="{i}" data-key="{}" data-node="{}" transform="translate(0,{y})">{}<text x="8" y="4" fill="#777">{i:>4} {:>9.3}</text><text x="{}" y="4" fill="{fill}">{}</text></g>"##,
            st.key,
            st.node,
            if bad {
                format!(
                    r##"<rect x="0" y="-{h}" width="{}" height="{ROW}" fill="#fbd5d5"/>"##,
                    lay.width,
                    h = ROW / 2
                )
            } else {
                String::new()
            },
            st.t_us as f64 / 1_000.0,
            lay.text_x,
            esc(&st.text)
        );
    }
    // Acceptor states beside node lanes, when they change: drawn under the
    // operations and messages, but placed after them (their labels matter more).
    let states_at = s.len();
    let mut states_svg = String::new();
    let draw_states = |placer: &mut Placer, s: &mut String| {
        if opts.states {
            for st in &rec.states {
                if !vis.steps[st.s] && !opts.all_elements {
                    continue;
                }
                if let Some(k) = filter.key.as_deref() {
                    if !opts.all_elements && rec.keys[st.key as usize] != k {
                        continue;
                    }
                }
                let x = lay.node_x[st.node as usize] + 5;
                let text = state_label(rec, st);
                let base = f64::from(lay.y(st.s));
                let (dy, hidden) = if placing {
                    let at = [9.0, 17.0, 1.0].map(|d| (f64::from(x), base + d));
                    match placer.place(&at, 8.5, "start", &text) {
                        Some((_, y)) => (y - base, ""),
                        None => (9.0, r#" visibility="hidden""#),
                    }
                } else {
                    (9.0, "")
                };
                let _ = writeln!(
                    s,
                    r##"<g class="state" data-s1="{}" data-key="{}" data-node="{}" transform="translate(0,{})"><text class="lbl" x="{x}" y="{dy}" font-size="8.5" fill="#666"{hidden}>{}<title>{}</title></text></g>"##,
                    st.s,
                    st.key,
                    st.node,
                    lay.y(st.s),
                    esc(&text),
                    esc(&text)
                );
            }
        }
    };
    // Client operations: a bar from invoke to end, coloured by outcome.
    for (i, o) in rec.ops.iter().enumerate() {
        if !vis.ops[i] && !opts.all_elements {
            continue;
        }
        let Some(x) = lay.client_x[o.lane].or(if opts.all_elements {
            Some(GUTTER + CLIENT_W / 2)
        } else {
            None
        }) else {
            continue;
        };
        let (y1, y2) = (lay.y(o.s1), lay.y(o.s2));
        let hl = rec.culprit.ops.contains(&i);
        let colour = outcome_colour(o.outcome);
        let label = op_label(o);
        let node_x = lay.node_x.get(o.node as usize).copied().unwrap_or(0);
        let links = if o.node > 0 {
            format!(
                r##"<line class="req" x1="{x}" y1="{y1}" x2="{node_x}" y2="{y1}" stroke="#999" stroke-dasharray="2,3"/>{}"##,
                if o.s2 != OPEN {
                    format!(
                        r##"<line class="rep" x1="{node_x}" y1="{y2}" x2="{x}" y2="{y2}" stroke="{colour}" stroke-dasharray="2,3"/>"##
                    )
                } else {
                    String::new()
                }
            )
        } else {
            String::new()
        };
        // Neighbouring lanes' labels are wider than a lane: alternate their
        // height so bars starting on one row stay readable.
        let op_y = y1 - 6 - 11 * (o.lane as u32 % 2);
        let (op_x, op_y, hidden) = if placing {
            let (left, right) = (f64::from(x) - 54.0, f64::from(x) + 8.0);
            let alt = y1 - 6 - 11 * ((o.lane as u32 + 1) % 2);
            let at = [
                (left, op_y),
                (left, alt),
                (right, y1 + 4),
                (right, y1 + 14),
                (left, y1.saturating_sub(28)),
            ]
            .map(|(x, y)| (x, f64::from(y)));
            match placer.place(&at, 10.0, "start", &label) {
                Some((lx, y)) => (lx, y as u32, ""),
                None => (left, op_y, r#" visibility="hidden""#),
            }
        } else {
            (f64::from(x) - 54.0, op_y, "")
        };
        let _ = writeln!(
            s,
            r##"<g class="op{}" data-op="{i}" data-s1="{}" data-s2="{}" data-key="{}" data-node="{}" data-lane="{}">{links}<rect class="bar" x="{}" y="{}" width="10" height="{}" rx="3" fill="{colour}"><title>process {}: {} ({}) {}</title></rect><text class="lbl" x="{}" y="{}" font-size="10" fill="#222"{hidden}>{}</text></g>"##,
            if hl { " hl" } else { "" },
            o.s1,
            o.s2,
            o.key,
            o.node,
            o.lane,
            x - 5,
            y1 - 4,
            (y2 + 8).saturating_sub(y1),
            o.process,
            esc(&o.text),
            o.outcome,
            esc(&o.result),
            op_x,
            op_y,
            esc(&label)
        );
    }
    // Messages.
    for (i, m) in rec.msgs.iter().enumerate() {
        if !vis.msgs[i] && !opts.all_elements {
            continue;
        }
        let (Some(&x1), Some(&x2)) = (
            lay.node_x.get(m.from as usize),
            lay.node_x.get(m.to as usize),
        ) else {
            continue;
        };
        let y1 = lay.y(m.s1);
        let lost_at_send = m.fate == "lost" && m.s2 == m.s1;
        let (x2, y2) = if lost_at_send {
            (
                (x1 as i64 + (x2 as i64 - x1 as i64) * 2 / 5) as u32,
                y1 + ROW * 2 / 3,
            )
        } else {
            (x2, lay.y(m.s2))
        };
        let class = kind_class(m.kind);
        let colour = kind_colour(m.kind);
        let in_flight = m.s2 == OPEN && m.fate != "lost";
        let dash = match m.fate {
            "dup" if in_flight => r#" stroke-dasharray="6,3" stroke-opacity="0.45""#,
            "dup" => r#" stroke-dasharray="6,3""#,
            "lost" => r#" stroke-dasharray="3,3""#,
            "held" => r#" stroke-dasharray="1,3""#,
            _ if in_flight => r#" stroke-dasharray="1.5,3" stroke-opacity="0.45""#,
            _ => "",
        };
        let end = if m.fate == "lost" {
            format!(
                r##"<path d="M{},{}l8,8m0,-8l-8,8" stroke="#c8202a" stroke-width="2"/>"##,
                x2 - 4,
                y2 - 4
            )
        } else {
            String::new()
        };
        let marker = if m.fate == "lost" || m.fate == "held" {
            String::new()
        } else {
            format!(r#" marker-end="url(#a-{class})""#)
        };
        let key = rec
            .keys
            .get(m.key.max(0) as usize)
            .filter(|_| m.key >= 0)
            .map(String::as_str)
            .unwrap_or("");
        let mut label = format!("{} {key} {}", m.kind, m.ballot);
        match m.fate {
            "dup" => label.push_str(" (dup)"),
            "lost" => {
                let _ = write!(label, " ✗ {}", m.why);
            }
            "held" => label.push_str(" (held)"),
            _ => {}
        }
        if in_flight {
            label.push_str(" (in flight)");
        }
        // The label sits at the receiving end (one receipt per row, so labels
        // never collide), or beside the sender for a message lost on the way.
        let rightward = x2 >= x1;
        let (lx, ly, anchor) = if lost_at_send {
            (
                x1 + if rightward { 8 } else { 0 },
                y1 + 1,
                if rightward { "start" } else { "end" },
            )
        } else if rightward {
            (x2.saturating_sub(10), y2 + 1, "end")
        } else {
            (x2 + 10, y2 + 1, "start")
        };
        let ly = ly.saturating_sub(4);
        let (ly, hidden) = if placing {
            let at = [0.0, -9.0, 9.0, -17.0].map(|d| (f64::from(lx), f64::from(ly) + d));
            match placer.place(&at, 9.5, anchor, &label) {
                Some((_, y)) => (y.max(0.0) as u32, ""),
                None => (ly, r#" visibility="hidden""#),
            }
        } else {
            (ly, "")
        };
        let _ = writeln!(
            s,
            r##"<g class="msg" data-m="{i}" data-s1="{}" data-s2="{}" data-key="{}" data-from="{}" data-to="{}" data-fate="{}"><line x1="{x1}" y1="{y1}" x2="{x2}" y2="{y2}" stroke="{colour}" stroke-width="1.4"{dash}{marker}/>{end}<text class="lbl" x="{lx}" y="{ly}" text-anchor="{anchor}" font-size="9.5" fill="{colour}"{hidden}>{}<title>{} n{} → n{} {} {}</title></text></g>"##,
            m.s1,
            m.s2,
            m.key,
            m.from,
            m.to,
            m.fate,
            esc(&label),
            m.kind,
            m.from,
            m.to,
            esc(&m.detail),
            esc(&m.why)
        );
    }
    draw_states(&mut placer, &mut states_svg);
    s.insert_str(states_at, &states_svg);
    // Legend.
    let ly = lay.height - 6;
    let _ = write!(
        s,
        r##"<text x="8" y="{ly}" font-size="9" fill="#777">{legend}</text>"##
    );
    s.push_str("\n</svg>\n");
    s
}

/// What an operation bar says: the operation, and what it wrote or read.
/// `read k0 → "v1"`, `write k0 "v1" → ok`, `read k0 → unknown`.
pub fn op_label(o: &super::OpBar) -> String {
    let outcome = match o.outcome {
        "ok" => "ok",
        "fail" => "failed",
        "info" => "unknown",
        _ => "open",
    };
    match o
        .text
        .strip_suffix(" nil")
        .filter(|t| t.starts_with("read "))
    {
        Some(read) if o.outcome == "ok" => {
            let value = o.result.split(" — ").next().unwrap_or("");
            format!("{read} → {value}")
        }
        Some(read) => format!("{read} → {outcome}"),
        None => format!("{} → {outcome}", o.text),
    }
}

/// "k0 p=3.1 a=3.1:"v2" ✓" for a state beside a lane.
pub fn state_label(rec: &Recording, st: &super::State) -> String {
    if st.down {
        return format!("{}: (forgotten)", rec.keys[st.key as usize]);
    }
    let mut t = format!("{} p={}", rec.keys[st.key as usize], st.promised);
    if !st.accepted.is_empty() {
        let _ = write!(t, " a={}:{}", st.accepted, st.value);
    }
    if st.confirmed {
        t.push_str(" ✓");
    }
    if !st.voting {
        t.push_str(" (not voting)");
    }
    t
}
