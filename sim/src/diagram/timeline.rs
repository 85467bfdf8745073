//! A Jepsen-style timeline page for any JSON Lines history (the simulator's,
//! or a live cluster's from `synod load` / scripts/nemesis.sh): one chart per
//! key, one row per client process, one bar per operation from invocation to
//! reply (green ok, red failed, amber unknown, running to the end of the
//! window), labelled with what it wrote or read; faults shaded across every
//! chart, labelled above it. Self-contained HTML (inline SVG, no scripts, no
//! network), so a failure in a real cluster can be looked at like a simulated
//! one.

use super::LabelBox;
use crate::history::{show_value, Event, HVal, Type, Values, F};
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// A fault from a fault log (scripts/nemesis.sh writes one JSON line per
/// fault start and end: `{"time": ns, "node": i, "fault": "kill" | "pause" |
/// "partition" | "recovered" | "resume" | "heal", "what": "..."}`, and with
/// `--membership` a change's spans: "join" to "joined", "leave" to "left").
#[derive(Clone, Debug, PartialEq)]
pub struct Fault {
    pub from_ns: u64,
    /// None: still on when the log ends.
    pub to_ns: Option<u64>,
    pub node: u32,
    pub label: String,
}

/// Pairs a fault log's start and end lines into spans.
pub fn faults_from_jsonl(text: &str) -> Result<Vec<Fault>, String> {
    let mut open: BTreeMap<u32, Fault> = BTreeMap::new();
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let v: serde_json::Value =
            serde_json::from_str(line).map_err(|e| format!("fault log line {}: {e}", i + 1))?;
        let time = v["time"]
            .as_u64()
            .ok_or(format!("fault log line {}: no time", i + 1))?;
        let node = v["node"].as_u64().unwrap_or(0) as u32;
        let kind = v["fault"].as_str().unwrap_or("");
        let label = match kind {
            "kill" => format!("n{node} killed"),
            "pause" => format!("n{node} paused"),
            "partition" => format!("n{node} cut off"),
            // A membership change (scripts/nemesis.sh --membership).
            "join" => format!("n{node} joining"),
            "leave" => format!("n{node} leaving"),
            "recovered" | "resume" | "heal" | "joined" | "left" => {
                if let Some(mut f) = open.remove(&node) {
                    f.to_ns = Some(time);
                    out.push(f);
                }
                continue;
            }
            _ => continue,
        };
        if let Some(mut f) = open.remove(&node) {
            f.to_ns = Some(time);
            out.push(f);
        }
        open.insert(
            node,
            Fault {
                from_ns: time,
                to_ns: None,
                node,
                label,
            },
        );
    }
    out.extend(open.into_values());
    out.sort_by_key(|f| (f.from_ns, f.node));
    Ok(out)
}

/// One operation: invocation to completion.
#[derive(Clone, Debug)]
struct Bar {
    process: u64,
    f: F,
    from_ns: u64,
    /// When the client was answered (for info: told "unknown"; the write
    /// may still take effect later). None: still running when the history ends.
    to_ns: Option<u64>,
    ty: Type,
    invoke: HVal,
    reply: HVal,
}

fn bars(events: &[Event]) -> BTreeMap<u32, Vec<Bar>> {
    let mut open: BTreeMap<u64, Bar> = BTreeMap::new();
    let mut by_key: BTreeMap<u32, Vec<Bar>> = BTreeMap::new();
    let mut keys: BTreeMap<u64, u32> = BTreeMap::new();
    for e in events {
        match e.ty {
            Type::Invoke => {
                keys.insert(e.process, e.key);
                open.insert(
                    e.process,
                    Bar {
                        process: e.process,
                        f: e.f,
                        from_ns: e.time_ns,
                        to_ns: None,
                        ty: Type::Info,
                        invoke: e.value,
                        reply: e.value,
                    },
                );
            }
            ty => {
                if let Some(mut b) = open.remove(&e.process) {
                    b.ty = ty;
                    b.reply = e.value;
                    b.to_ns = Some(e.time_ns);
                    by_key.entry(keys[&e.process]).or_default().push(b);
                }
            }
        }
    }
    for (p, b) in open {
        by_key.entry(keys[&p]).or_default().push(b);
    }
    by_key
}

/// What a bar says: the operation and the value written or read.
fn label(b: &Bar, values: &Values) -> String {
    let v = |h: HVal| match h {
        HVal::V(id) => short(&values.show(id)),
        HVal::Pair(a, c) => format!("{}→{}", short(&values.show(a)), short(&values.show(c))),
        h => short(&show_value(values, h)),
    };
    match (b.f, b.ty) {
        (F::Read, Type::Ok) => format!("r {}", v(b.reply)),
        (F::Read, _) => "r".into(),
        (F::Write, _) => format!("w {}", v(b.invoke)),
        (F::Cas, _) => format!("cas {}", v(b.invoke)),
        (F::Delete, _) => "del".into(),
        (f, Type::Ok) => format!("{} {}", f.name(), v(b.reply)),
        (f, _) => f.name().to_string(),
    }
}

fn short(s: &str) -> String {
    let s = s.trim_matches('"');
    if s.chars().count() > 10 {
        format!("{}…", s.chars().take(9).collect::<String>())
    } else {
        s.to_string()
    }
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Width of `s` at `px` (the estimate the overlap check uses).
fn text_width(s: &str, px: f64) -> f64 {
    LabelBox::of_text(0.0, 0.0, px, "start", s).x1
}

/// The page, and every label box drawn (per chart), for tests.
pub struct Page {
    pub html: String,
    pub label_boxes: Vec<Vec<LabelBox>>,
}

/// What part of the history to draw.
#[derive(Clone, Debug, Default)]
pub struct View {
    /// Only this window, in ns since the history's first event: (from, to).
    pub window_ns: Option<(u64, u64)>,
    /// Only these keys (by name); empty: every key.
    pub keys: Vec<String>,
}

const WIDTH: f64 = 1100.0;
const LEFT: f64 = 60.0;
const ROW: f64 = 16.0;
const FONT: f64 = 10.0;

/// Draws the page.
pub fn render(
    title: &str,
    events: &[Event],
    keys: &[String],
    values: &Values,
    faults: &[Fault],
    view: &View,
) -> Page {
    let t0 = events.first().map_or(0, |e| e.time_ns);
    let t_end = events.iter().map(|e| e.time_ns).max().unwrap_or(t0);
    let (w0, w1) = match view.window_ns {
        Some((a, b)) => {
            let a = t0.saturating_add(a).min(t_end);
            (a, t0.saturating_add(b).min(t_end).max(a + 1))
        }
        None => (t0, t_end.max(t0 + 1)),
    };
    let span = (w1 - w0).max(1) as f64;
    let x = |t: u64| LEFT + (t.clamp(w0, w1) - w0) as f64 / span * (WIDTH - LEFT - 10.0);
    let ms = |t: u64| (t.saturating_sub(t0)) as f64 / 1e6;
    let by_key = bars(events);
    let mut html = String::new();
    let _ = write!(
        html,
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>{t}</title>\n<style>\n\
         body {{ font: 13px sans-serif; margin: 16px; color: #222; }}\n\
         h2 {{ font-size: 15px; margin: 18px 0 4px; }}\n\
         .legend span {{ display: inline-block; padding: 1px 6px; margin-right: 8px; border-radius: 2px; }}\n\
         svg text {{ font: {FONT}px monospace; }}\n\
         </style></head><body>\n<h1 style=\"font-size:18px\">{t}</h1>\n\
         <p>One chart per key; one row per client process; time runs right, from {a:.1} to {b:.1} ms \
         after the history's first event. A bar is one operation from invocation to reply, labelled \
         with the value written (w), read (r) or swapped in (cas). Shaded bands are faults, labelled \
         above each chart (from the fault log, aligned to the history's clock).</p>\n\
         <p class=\"legend\"><span style=\"background:#b7e1b0\">ok</span>\
         <span style=\"background:#f2a7a7\">failed (not applied)</span>\
         <span style=\"background:#f7d58b\">unknown (may or may not have applied, even after the bar ends)</span>\
         <span style=\"background:#e4e4ee\">fault</span></p>\n",
        t = esc(title),
        a = ms(w0),
        b = ms(w1),
    );
    let mut all_boxes = Vec::new();
    for (&k, ops) in &by_key {
        let name = keys
            .get(k as usize)
            .map_or("(listings: KEYS, SCAN, DBSIZE, FLUSHALL)", String::as_str);
        if !view.keys.is_empty() && !view.keys.iter().any(|k| k == name) {
            continue;
        }
        let shown: Vec<&Bar> = ops
            .iter()
            .filter(|b| b.from_ns <= w1 && b.to_ns.is_none_or(|t| t >= w0))
            .collect();
        if shown.is_empty() {
            continue;
        }
        let mut procs: Vec<u64> = shown.iter().map(|b| b.process).collect();
        procs.sort_unstable();
        procs.dedup();
        let row_of: BTreeMap<u64, usize> = procs.iter().enumerate().map(|(i, &p)| (p, i)).collect();
        // Fault labels in lanes above the chart, so none overlaps another.
        let visible: Vec<&Fault> = faults
            .iter()
            .filter(|f| f.from_ns <= w1 && f.to_ns.is_none_or(|t| t >= w0))
            .collect();
        let mut lanes: Vec<f64> = Vec::new();
        let mut fault_lane = Vec::new();
        for f in &visible {
            let lx = x(f.from_ns);
            let end = lx + text_width(&f.label, FONT) + 4.0;
            let lane = match lanes.iter().position(|&e| e <= lx) {
                Some(i) => i,
                None => {
                    lanes.push(0.0);
                    lanes.len() - 1
                }
            };
            lanes[lane] = end;
            fault_lane.push(lane);
        }
        let top = 16.0 + lanes.len() as f64 * 12.0 + 4.0;
        let height = top + procs.len() as f64 * ROW + 22.0;
        let _ = writeln!(
            html,
            "<h2>key {} ({} operations shown)</h2>\n<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{WIDTH}\" height=\"{height:.0}\">",
            esc(name),
            shown.len()
        );
        let mut boxes = Vec::new();
        let mut bands = Vec::new();
        for (f, lane) in visible.iter().zip(&fault_lane) {
            let (a, b) = (x(f.from_ns), x(f.to_ns.unwrap_or(w1)));
            let ly = 14.0 + *lane as f64 * 12.0;
            bands.push((a, b));
            let _ = writeln!(
                html,
                "\
                 <line x1=\"{a:.1}\" y1=\"{:.1}\" x2=\"{a:.1}\" y2=\"{:.1}\" stroke=\"#9a9ab8\"/>\
                 <text x=\"{:.1}\" y=\"{ly:.1}\" fill=\"#55557a\">{}</text>",
                ly - 9.0,
                top + procs.len() as f64 * ROW,
                a + 2.0,
                esc(&f.label)
            );
            boxes.push(LabelBox {
                x0: a + 2.0,
                y0: ly - FONT,
                x1: a + 2.0 + text_width(&f.label, FONT),
                y1: ly + 2.0,
            });
        }
        for (i, p) in procs.iter().enumerate() {
            let y = top + i as f64 * ROW;
            let _ = writeln!(
                html,
                "<text x=\"4\" y=\"{:.1}\" fill=\"#666\">p{p}</text>",
                y + ROW - 4.0
            );
            boxes.push(LabelBox {
                x0: 4.0,
                y0: y + ROW - 4.0 - FONT,
                x1: 4.0 + text_width(&format!("p{p}"), FONT),
                y1: y + ROW - 2.0,
            });
        }
        for b in &shown {
            let y = top + row_of[&b.process] as f64 * ROW + 2.0;
            let (a, e) = (x(b.from_ns), x(b.to_ns.unwrap_or(w1)));
            let w = (e - a).max(1.5);
            let fill = match b.ty {
                Type::Ok => "#b7e1b0",
                Type::Fail => "#f2a7a7",
                _ => "#f7d58b",
            };
            let text = label(b, values);
            let end = b
                .to_ns
                .map_or("no reply".to_string(), |t| format!("{:.3} ms", ms(t)));
            let _ = write!(
                html,
                "<rect x=\"{a:.1}\" y=\"{y:.1}\" width=\"{w:.1}\" height=\"{:.1}\" fill=\"{fill}\" stroke=\"#777\" stroke-width=\"0.4\"><title>p{} {} {:.3} ms → {end}: {}</title></rect>",
                ROW - 4.0,
                b.process,
                b.f.name(),
                ms(b.from_ns),
                esc(&text),
            );
            // A label only where the bar has room for it: never over another.
            let tw = text_width(&text, FONT);
            if tw + 4.0 <= w {
                let _ = write!(
                    html,
                    "<text x=\"{:.1}\" y=\"{:.1}\">{}</text>",
                    a + 2.0,
                    y + ROW - 7.0,
                    esc(&text)
                );
                boxes.push(LabelBox {
                    x0: a + 2.0,
                    y0: y + ROW - 7.0 - FONT,
                    x1: a + 2.0 + tw,
                    y1: y + ROW - 5.0,
                });
            }
            html.push('\n');
        }
        for (a, b) in bands {
            let _ = write!(
                html,
                "<rect x=\"{a:.1}\" y=\"{top:.1}\" width=\"{:.1}\" height=\"{:.1}\" fill=\"#55557a\" fill-opacity=\"0.18\"/>",
                (b - a).max(1.0),
                procs.len() as f64 * ROW
            );
        }
        // The time axis.
        let ay = top + procs.len() as f64 * ROW + 14.0;
        let mut last_end = f64::MIN;
        for i in 0..=10 {
            let t = w0 + (w1 - w0) * i / 10;
            let tx = x(t);
            let s = format!("{:.1} ms", ms(t));
            let start = (tx - text_width(&s, FONT) / 2.0)
                .min(WIDTH - text_width(&s, FONT) - 2.0)
                .max(0.0);
            if start > last_end + 4.0 {
                let _ = write!(
                    html,
                    "<text x=\"{start:.1}\" y=\"{ay:.1}\" fill=\"#666\">{s}</text>"
                );
                boxes.push(LabelBox {
                    x0: start,
                    y0: ay - FONT,
                    x1: start + text_width(&s, FONT),
                    y1: ay + 2.0,
                });
                last_end = start + text_width(&s, FONT);
            }
        }
        html.push_str("\n</svg>\n");
        all_boxes.push(boxes);
    }
    html.push_str("</body></html>\n");
    Page {
        html,
        label_boxes: all_boxes,
    }
}
