//! Pictures of real runs: a spacetime (Lamport) diagram as SVG, the same
//! diagram in a self-contained HTML page that steps through the run, and a
//! text stepper for the terminal.
//!
//! The world fills a [`Recording`] (see [`record`]) while it runs: steps (a
//! message handled, a timer, a fault, a client operation starting or ending),
//! messages with the step that sent them and the step that received or lost
//! them, client operations, the acceptor state of each touched key after each
//! step, and the spans of faults. The renderers only read that recording, so
//! every picture is drawn from what the real core did.

pub mod html;
pub mod record;
pub mod step;
pub mod svg;
pub mod timeline;

pub use record::{Culprit, Msg, OpBar, Recording, Span, State, Step};

/// What part of a run to draw.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Filter {
    /// Only this key's messages and operations (faults are always shown).
    pub key: Option<String>,
    /// Only messages to or from these nodes and steps at them.
    pub nodes: Vec<u32>,
    /// Only steps in this window of virtual time, in µs (from, to).
    pub window_us: Option<(u64, u64)>,
}

impl Filter {
    /// Parses a time window "A..B" in ms (fractions allowed), e.g. "40..90.5".
    pub fn parse_window_ms(s: &str) -> Result<(u64, u64), String> {
        let (a, b) = s
            .split_once("..")
            .ok_or_else(|| format!("time window {s:?}: expected A..B in ms, e.g. 40..90"))?;
        let ms = |x: &str| -> Result<u64, String> {
            if x.is_empty() {
                return Ok(0);
            }
            x.parse::<f64>()
                .map(|v| (v * 1_000.0) as u64)
                .map_err(|_| format!("time window {s:?}: {x:?} is not a number of ms"))
        };
        let (a, b) = (ms(a)?, if b.is_empty() { u64::MAX } else { ms(b)? });
        if b < a {
            return Err(format!("time window {s:?}: the end is before the start"));
        }
        Ok((a, b))
    }

    /// True if nothing is filtered out.
    pub fn is_empty(&self) -> bool {
        *self == Filter::default()
    }
}

/// Which steps, messages and operations a filter keeps.
pub struct Visible {
    pub steps: Vec<bool>,
    pub msgs: Vec<bool>,
    pub ops: Vec<bool>,
}

impl Recording {
    /// Index of a key name, if the run has it.
    pub fn key_index(&self, name: &str) -> Option<i32> {
        self.keys.iter().position(|k| k == name).map(|i| i as i32)
    }

    /// What `f` keeps. A step is kept if it is a fault or touches what is kept;
    /// a message or operation if it passes the filter and its steps are in the window.
    pub fn visible(&self, f: &Filter) -> Visible {
        let key = f.key.as_deref().map(|k| self.key_index(k).unwrap_or(-2));
        let in_window = |s: usize| match f.window_us {
            None => true,
            Some((a, b)) => self
                .steps
                .get(s)
                .is_some_and(|st| st.t_us >= a && st.t_us <= b),
        };
        // A message or operation is kept if its span [s1, s2] overlaps the
        // window: one that started before and ends after it is drawn across.
        let last = self.steps.len().saturating_sub(1);
        let overlaps = |s1: usize, s2: usize| match f.window_us {
            None => true,
            Some((a, b)) => {
                let t = |s: usize| self.steps.get(s.min(last)).map_or(0, |st| st.t_us);
                t(s1) <= b && t(s2) >= a
            }
        };
        let node_ok = |n: u32| f.nodes.is_empty() || f.nodes.contains(&n);
        let mut steps = vec![false; self.steps.len()];
        let msgs: Vec<bool> = self
            .msgs
            .iter()
            .map(|m| {
                key.is_none_or(|k| m.key == k)
                    && (node_ok(m.from) || node_ok(m.to))
                    && overlaps(m.s1, m.s2)
            })
            .collect();
        let ops: Vec<bool> = self
            .ops
            .iter()
            .map(|o| {
                key.is_none_or(|k| o.key as i32 == k)
                    && (f.nodes.is_empty() || f.nodes.contains(&o.node))
                    && overlaps(o.s1, o.s2)
            })
            .collect();
        for (i, st) in self.steps.iter().enumerate() {
            steps[i] = in_window(i)
                && (st.kind == "fault"
                    || (key.is_none_or(|k| st.key == k) && (st.node == 0 || node_ok(st.node))));
        }
        for (m, &v) in self.msgs.iter().zip(&msgs) {
            if v {
                for s in [m.s1, m.s2] {
                    if s < steps.len() && in_window(s) {
                        steps[s] = true;
                    }
                }
            }
        }
        for (o, &v) in self.ops.iter().zip(&ops) {
            if v {
                for s in [o.s1, o.s2] {
                    if s < steps.len() && in_window(s) {
                        steps[s] = true;
                    }
                }
            }
        }
        Visible { steps, msgs, ops }
    }
}

/// Escapes text for XML and HTML.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c if (c as u32) < 0x20 && c != '\n' && c != '\t' => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// The box a text label covers, estimated from its font size (the diagrams
/// use a monospace font: a character is about 0.6 em wide).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LabelBox {
    pub x0: f64,
    pub y0: f64,
    pub x1: f64,
    pub y1: f64,
}

impl LabelBox {
    /// The box of `text` drawn at (x, y) (its baseline) in `size` px with
    /// SVG's `text-anchor` (start, middle or end).
    pub fn of_text(x: f64, y: f64, size: f64, anchor: &str, text: &str) -> LabelBox {
        let w = text.chars().count() as f64 * size * 0.6;
        let x0 = match anchor {
            "end" => x - w,
            "middle" => x - w / 2.0,
            _ => x,
        };
        LabelBox {
            x0,
            y0: y - size * 0.75,
            x1: x0 + w,
            y1: y + size * 0.2,
        }
    }

    /// True if the two boxes share any area.
    pub fn overlaps(&self, o: &LabelBox) -> bool {
        self.x0 < o.x1 && o.x0 < self.x1 && self.y0 < o.y1 && o.y0 < self.y1
    }
}

/// Places labels so that none overlaps another: each takes the first of its
/// candidate positions that is free, or is left out (its tooltip stays).
#[derive(Clone, Debug, Default)]
pub struct Placer {
    pub placed: Vec<LabelBox>,
}

impl Placer {
    /// Marks a box as taken, whatever it overlaps (fixed text).
    pub fn reserve(&mut self, b: LabelBox) {
        self.placed.push(b);
    }

    /// The first free candidate (x, y) for `text`, now taken; None if every
    /// candidate overlaps a placed label.
    pub fn place(
        &mut self,
        candidates: &[(f64, f64)],
        size: f64,
        anchor: &str,
        text: &str,
    ) -> Option<(f64, f64)> {
        for &(x, y) in candidates {
            let b = LabelBox::of_text(x, y, size, anchor, text);
            if !self.placed.iter().any(|p| p.overlaps(&b)) {
                self.placed.push(b);
                return Some((x, y));
            }
        }
        None
    }
}
