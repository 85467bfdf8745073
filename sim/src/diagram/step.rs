//! `synod-sim step`: the HTML page's step-through, in a terminal. Each step
//! prints what happened, then, for the step's key, each node's promised
//! ballot, accepted (ballot, value) and confirmed mark, and the messages in
//! flight. Enter moves on; `q` quits; `--all` prints every step at once.

use super::{Filter, Recording};
use std::io::{self, BufRead, Write};

/// Prints step `s` (as the filter sees it) with the state of `key`.
pub fn print_step(
    rec: &Recording,
    s: usize,
    key: Option<u32>,
    out: &mut impl Write,
) -> io::Result<()> {
    let st = &rec.steps[s];
    let mark = if rec.culprit.step == Some(s) {
        "   <-- an invariant broke here"
    } else {
        ""
    };
    writeln!(
        out,
        "── step {s} at {:.3} ms ──{mark}\n   {}",
        st.t_us as f64 / 1_000.0,
        st.text
    )?;
    let sent: Vec<String> = rec
        .msgs
        .iter()
        .filter(|m| m.s1 == s)
        .map(|m| {
            let fate = match m.fate {
                "lost" => format!(" (lost: {})", m.why),
                "dup" => " (a duplicate)".into(),
                "held" => " (held back)".into(),
                _ => String::new(),
            };
            format!(
                "n{}→n{} {} b={} {}{fate}",
                m.from, m.to, m.kind, m.ballot, m.detail
            )
            .replace("  ", " ")
            .trim_end()
            .to_string()
        })
        .collect();
    if !sent.is_empty() {
        writeln!(out, "   sends: {}", sent.join("; "))?;
    }
    let Some(k) = key.or((st.key >= 0).then_some(st.key as u32)) else {
        return Ok(());
    };
    writeln!(
        out,
        "   {:<5} {:<16} {:<16} {:<14} confirmed",
        rec.keys[k as usize], "promised", "accepted", "value"
    )?;
    for n in 1..=rec.nodes {
        let state = rec
            .states
            .iter()
            .take_while(|x| x.s <= s)
            .filter(|x| x.node == n && x.key == k)
            .last();
        let line = if !rec.replicas[k as usize].contains(&n) {
            "not a replica".to_string()
        } else {
            match state {
                None => "no state yet (promised = floor)".into(),
                Some(x) if x.down => "down: memory lost".into(),
                Some(x) => format!(
                    "{:<16} {:<16} {:<14} {}{}",
                    x.promised,
                    if x.accepted.is_empty() {
                        "—"
                    } else {
                        &x.accepted
                    },
                    if x.value.is_empty() { "—" } else { &x.value },
                    if x.confirmed { "✓" } else { "" },
                    if x.voting { "" } else { "  (not voting)" }
                ),
            }
        };
        writeln!(out, "   n{n:<4} {line}")?;
    }
    let flight: Vec<String> = rec
        .msgs
        .iter()
        .filter(|m| {
            m.key == k as i32 && m.s1 <= s && s < m.s2 && !(m.fate == "lost" && m.s2 == m.s1)
        })
        .map(|m| format!("n{}→n{} {} b={}", m.from, m.to, m.kind, m.ballot))
        .collect();
    writeln!(
        out,
        "   in flight: {}",
        if flight.is_empty() {
            "none".into()
        } else {
            flight.join(", ")
        }
    )
}

fn header(rec: &Recording, out: &mut impl Write) -> io::Result<()> {
    writeln!(out, "{}\nreplay: {}\n", rec.title, rec.command)
}

fn footer(rec: &Recording, out: &mut impl Write) -> io::Result<()> {
    writeln!(out, "\nverdict: {}", rec.verdict)?;
    if !rec.culprit.explanation.is_empty() {
        for l in super::svg::wrap(&rec.culprit.explanation, 100) {
            writeln!(out, "  {l}")?;
        }
    }
    Ok(())
}

fn chosen_key(rec: &Recording, f: &Filter) -> Option<u32> {
    f.key
        .as_deref()
        .and_then(|k| rec.key_index(k))
        .map(|k| k as u32)
}

/// Prints every step the filter keeps.
pub fn print_all(rec: &Recording, f: &Filter, out: &mut impl Write) -> io::Result<()> {
    header(rec, out)?;
    let vis = rec.visible(f);
    let key = chosen_key(rec, f);
    for s in 0..rec.steps.len() {
        if vis.steps[s] {
            print_step(rec, s, key, out)?;
        }
    }
    footer(rec, out)
}

/// One step per line read from `input`: Enter (or `n`) next, `p` previous,
/// a number jumps to that step, `q` quits.
pub fn interactive(
    rec: &Recording,
    f: &Filter,
    input: &mut impl BufRead,
    out: &mut impl Write,
) -> io::Result<()> {
    header(rec, out)?;
    writeln!(
        out,
        "Enter: next step · p: previous · a number: go to that step · q: quit\n"
    )?;
    let vis = rec.visible(f);
    let key = chosen_key(rec, f);
    let shown: Vec<usize> = (0..rec.steps.len()).filter(|&s| vis.steps[s]).collect();
    let mut i = 0;
    let mut line = String::new();
    while i < shown.len() {
        print_step(rec, shown[i], key, out)?;
        write!(out, "[{}/{}] > ", shown[i], rec.steps.len() - 1)?;
        out.flush()?;
        line.clear();
        if input.read_line(&mut line)? == 0 {
            break;
        }
        match line.trim() {
            "q" => return footer(rec, out),
            "p" => i = i.saturating_sub(1),
            t => match t.parse::<usize>() {
                Ok(s) => i = shown.partition_point(|&x| x < s).min(shown.len() - 1),
                Err(_) => i += 1,
            },
        }
    }
    footer(rec, out)
}
