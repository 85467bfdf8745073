//! Pictures of runs: the SVG is well-formed XML with nothing from outside the
//! file, the HTML page is one offline file whose controls work (in headless
//! Chromium when it is installed), the stepper prints states, a failing run
//! explains its counterexample, and exercise pages come from the code.

use std::process::Command;
use synod::core::DeliberateBug;
use synod_sim::diagram::{self, Filter};
use synod_sim::{world, Options, Scenario};

mod common;

fn sim(args: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_synod-sim"))
        .args(args)
        .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
        .output()
        .expect("run synod-sim");
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.code().unwrap_or(-1), text)
}

fn tmp(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("synod-diagram-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

/// A small XML well-formedness check: balanced tags, quoted attributes,
/// known entities, one root. Returns the root element's name.
fn check_xml(text: &str) -> Result<String, String> {
    let b = text.as_bytes();
    let mut i = 0;
    let mut stack: Vec<String> = Vec::new();
    let mut root = None;
    let at = |i: usize| format!("byte {i}: {:?}", &text[i..(i + 60).min(text.len())]);
    while i < b.len() {
        if b[i] == b'<' {
            if text[i..].starts_with("<?") {
                i = i + text[i..].find("?>").ok_or_else(|| at(i))? + 2;
                continue;
            }
            if text[i..].starts_with("<!--") {
                i = i + text[i..].find("-->").ok_or_else(|| at(i))? + 3;
                continue;
            }
            let end = i + text[i..].find('>').ok_or_else(|| at(i))?;
            let tag = &text[i + 1..end];
            if let Some(name) = tag.strip_prefix('/') {
                let open = stack
                    .pop()
                    .ok_or_else(|| format!("stray </{name}> at {}", at(i)))?;
                if open != name.trim() {
                    return Err(format!("<{open}> closed by </{name}> at {}", at(i)));
                }
            } else {
                let self_closing = tag.ends_with('/');
                let body = tag.trim_end_matches('/');
                let name: String = body.chars().take_while(|c| !c.is_whitespace()).collect();
                if name.is_empty()
                    || !name
                        .chars()
                        .all(|c| c.is_alphanumeric() || "-_:".contains(c))
                {
                    return Err(format!("bad tag name at {}", at(i)));
                }
                // Attributes: name="value" pairs, values without '<'.
                let mut rest = body[name.len()..].trim();
                while !rest.is_empty() {
                    let eq = rest
                        .find('=')
                        .ok_or_else(|| format!("attribute without value at {}", at(i)))?;
                    let q = rest[eq + 1..].chars().next().ok_or_else(|| at(i))?;
                    if q != '"' && q != '\'' {
                        return Err(format!("unquoted attribute at {}", at(i)));
                    }
                    let close = rest[eq + 2..].find(q).ok_or_else(|| at(i))?;
                    if rest[eq + 2..eq + 2 + close].contains('<') {
                        return Err(format!("'<' in an attribute at {}", at(i)));
                    }
                    rest = rest[eq + 3 + close..].trim();
                }
                if stack.is_empty() {
                    if root.is_some() {
                        return Err(format!("second root element at {}", at(i)));
                    }
                    root = Some(name.clone());
                }
                if !self_closing {
                    stack.push(name);
                }
            }
            i = end + 1;
        } else if b[i] == b'&' {
            let end = i + text[i..].find(';').ok_or_else(|| at(i))?;
            let ent = &text[i + 1..end];
            let ok = matches!(ent, "amp" | "lt" | "gt" | "quot" | "apos")
                || (ent.starts_with('#') && ent[1..].chars().all(|c| c.is_ascii_digit()));
            if !ok {
                return Err(format!("unknown entity &{ent}; at {}", at(i)));
            }
            i = end + 1;
        } else {
            i += 1;
        }
    }
    if let Some(open) = stack.pop() {
        return Err(format!("<{open}> never closed"));
    }
    root.ok_or_else(|| "no root element".into())
}

#[test]
fn the_xml_check_rejects_broken_documents() {
    assert_eq!(check_xml("<a x=\"1\"><b/>t &amp; u</a>"), Ok("a".into()));
    for bad in ["<a><b></a>", "<a x=1/>", "<a>&nbsp;</a>", "<a/><b/>", "<a>"] {
        assert!(check_xml(bad).is_err(), "{bad} passed");
    }
}

fn recorded(scenario: &str, seed: u64, bug: Option<DeliberateBug>) -> diagram::Recording {
    let r = world::run_recorded(&Options {
        seed,
        scenario: common::scenario(scenario),
        bug,
        trace: false,
        timeline: false,
    })
    .unwrap();
    *r.recording.expect("run_recorded records")
}

#[test]
fn svg_of_a_run_with_crashes_and_drops_is_well_formed_and_self_contained() {
    let rec = recorded("crash-mid-accept", 1, None);
    assert!(
        rec.spans.iter().any(|s| s.kind == "down"),
        "a crash is drawn"
    );
    for filter in [
        Filter::default(),
        Filter {
            key: Some("k0".into()),
            nodes: vec![1],
            window_us: Some((40_000, 50_000)),
        },
    ] {
        let svg = diagram::svg::render(&rec, &filter, &diagram::svg::SvgOptions::standalone());
        assert_eq!(check_xml(&svg), Ok("svg".into()));
        // Nothing from outside the file: the only URL is the SVG namespace.
        assert_eq!(
            svg.matches("http").count(),
            1,
            "external reference in the SVG"
        );
        assert!(!svg.contains("<script"), "no scripts in the SVG");
    }
    let narrow = diagram::svg::render(
        &rec,
        &Filter {
            window_us: Some((43_000, 45_000)),
            ..Filter::default()
        },
        &Default::default(),
    );
    let full = diagram::svg::render(&rec, &Filter::default(), &Default::default());
    assert!(
        narrow.len() * 5 < full.len(),
        "a time window keeps the picture small"
    );
}

#[test]
fn diagrams_say_their_order_and_each_receipt_names_the_step_that_sent_it() {
    let rec = recorded("crash-mid-accept", 1, None);
    let svg = diagram::svg::render(&rec, &Filter::default(), &Default::default());
    assert!(
        svg.contains(&diagram::esc(diagram::svg::WHAT_HAPPENED)),
        "the diagram does not say which order its rows are in"
    );
    let mut out_of_order = 0;
    for (i, st) in rec
        .steps
        .iter()
        .enumerate()
        .filter(|(_, s)| s.kind == "recv")
    {
        let sent: usize = st
            .text
            .split("sent at step ")
            .nth(1)
            .and_then(|t| t.split(',').next())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("step {i} does not name its send step: {}", st.text));
        assert!(
            sent < i,
            "step {i} received a message sent later: {}",
            st.text
        );
        let m = rec
            .msgs
            .iter()
            .find(|m| m.s2 == i)
            .expect("the message received");
        assert_eq!(m.s1, sent, "step {i}: {}", st.text);
        // A message sent before another but received after it.
        out_of_order += rec
            .msgs
            .iter()
            .filter(|o| o.s1 < m.s1 && o.s2 != diagram::record::OPEN && o.s2 > i)
            .count()
            .min(1);
    }
    assert!(
        out_of_order > 0,
        "send and delivery order never differ in this run"
    );
}

#[test]
fn a_failing_run_explains_its_counterexample_and_highlights_it() {
    // An invariant: minority quorums lose a chosen write on swarm seed 0.
    let r = world::run_recorded(&Options {
        seed: 0,
        scenario: Scenario::swarm_default(),
        bug: Some(DeliberateBug::MinorityQuorum),
        trace: false,
        timeline: false,
    })
    .unwrap();
    assert!(!r.verdict.passed());
    let rec = r.recording.unwrap();
    assert!(rec.culprit.step.is_some(), "the violating step is known");
    assert!(
        rec.culprit.explanation.contains("chain_invariant"),
        "{}",
        rec.culprit.explanation
    );
    let svg = diagram::svg::render(
        &rec,
        &Filter::default(),
        &diagram::svg::SvgOptions {
            explain: true,
            ..Default::default()
        },
    );
    assert!(svg.contains("fbd5d5"), "the violating row is shaded");
    assert_eq!(check_xml(&svg), Ok("svg".into()));
}

#[test]
fn html_page_is_one_offline_file() {
    let page = tmp("one.html");
    let (code, out) = sim(&[
        "run",
        "--seed",
        "1",
        "--scenario",
        "sim/scenarios/one-set.toml",
        "--html",
        page.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{out}");
    let html = std::fs::read_to_string(&page).unwrap();
    for external in ["<script src", "<link", "@import", "url(http", "https://"] {
        assert!(
            !html.contains(external),
            "page refers outside itself: {external}"
        );
    }
    assert!(html.contains("id=\"next\"") && html.contains("id=\"states\""));
    chromium_selftest(&page);
}

/// Runs the page's own #selftest in headless Chromium, if installed.
fn chromium_selftest(page: &std::path::Path) {
    let Some(browser) = ["chromium", "chromium-browser", "google-chrome"]
        .into_iter()
        .find(|b| {
            Command::new(b)
                .arg("--version")
                .output()
                .is_ok_and(|o| o.status.success())
        })
    else {
        eprintln!("SKIP: chromium not installed; the HTML page's controls were not exercised (apt-get install chromium)");
        return;
    };
    let out = Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--dump-dom",
            &format!("file://{}#selftest", page.display()),
        ])
        .output()
        .expect("run chromium");
    let dom = String::from_utf8_lossy(&out.stdout);
    let report = dom
        .split("id=\"selftest\"")
        .nth(1)
        .and_then(|s| s.split("</pre>").next())
        .unwrap_or("");
    assert!(
        report.contains("selftest: ok"),
        "the page's self-test in {browser}:\n{report}"
    );
}

#[test]
fn step_all_prints_each_nodes_state_per_step() {
    let (code, out) = sim(&[
        "step",
        "sim/scenarios/one-set.toml",
        "--seed",
        "1",
        "--all",
        "--window",
        "0..3",
    ]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("n2 receives Prepare k0"), "{out}");
    assert!(
        out.contains("promised") && out.contains("in flight:"),
        "{out}"
    );
    assert!(
        out.contains("2.1@1            1.1@1"),
        "an accepted ballot shows, under the promise of the Prepare that rode on the Accept:\n{out}"
    );
    // Interactive: Enter twice, then q.
    let mut child = Command::new(env!("CARGO_BIN_EXE_synod-sim"))
        .args(["step", "sim/scenarios/one-set.toml", "--seed", "1"])
        .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child.stdin.take().unwrap().write_all(b"\n\nq\n").unwrap();
    let out = child.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("── step 2 ") && !text.contains("── step 5 "),
        "{text}"
    );
}

#[test]
fn exercise_pages_cover_every_deliberate_bug_name_and_carry_the_minimal_run() {
    let dir = tmp("exercises");
    let (code, out) = sim(&[
        "exercises",
        "--out",
        dir.to_str().unwrap(),
        "--bug",
        "minority-quorum",
        "--seeds",
        "20",
    ]);
    assert_eq!(code, 0, "{out}");
    let page = std::fs::read_to_string(dir.join("minority-quorum.md")).unwrap();
    assert!(page.contains("## The minimal counterexample"), "{page}");
    assert!(
        page.contains("src/core/proposer.rs"),
        "the code site is quoted"
    );
    let svg = std::fs::read_to_string(dir.join("minority-quorum.svg")).unwrap();
    assert_eq!(check_xml(&svg), Ok("svg".into()));
    let toml = std::fs::read_to_string(dir.join("minority-quorum.min.toml")).unwrap();
    assert!(Scenario::from_toml(&toml).is_ok());
    // Every variant has a page in the committed docs (regenerate with scripts/figures.sh).
    let docs = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/exercises");
    for b in DeliberateBug::ALL {
        let p = format!("{docs}/{}.md", b.name());
        assert!(
            std::path::Path::new(&p).exists(),
            "{p} is missing: run scripts/figures.sh to generate the page for the new bug"
        );
    }
}

#[test]
fn an_operation_running_across_the_whole_window_is_drawn() {
    // In this run process 1's cas is invoked at 89.4 ms and succeeds at 96.8
    // ms: both ends fall outside the 89.95..92.2 window of the restart figure.
    let svg = tmp("across.svg");
    let (code, out) = sim(&[
        "run",
        "--seed",
        "14",
        "--scenario",
        "sim/scenarios/crash-mid-accept.toml",
        "--window",
        "89.95..92.2",
        "--svg",
        svg.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{out}");
    let text = std::fs::read_to_string(&svg).unwrap();
    assert!(
        text.contains("<title>process 1: cas k0"),
        "the running cas has no bar"
    );
    // And an operation wholly before the window is not drawn.
    assert!(
        !text.contains("<title>process 1: write k0 &quot;v73&quot;"),
        "an operation that ended before the window is drawn"
    );
}

/// Every visible text label of an SVG the simulator drew, with its box:
/// (box, text). Follows `translate(0,Y)` of enclosing groups; skips labels
/// drawn `visibility="hidden"` (left out because there was no room).
fn label_boxes(svg: &str) -> Vec<(diagram::LabelBox, String)> {
    let attr = |tag: &str, name: &str| -> Option<String> {
        let at = tag.find(&format!(" {name}=\""))? + name.len() + 3;
        Some(tag[at..at + tag[at..].find('"')?].to_string())
    };
    let root_size: f64 = svg
        .find("<svg")
        .and_then(|i| attr(&svg[i..i + svg[i..].find('>').unwrap_or(0)], "font-size"))
        .and_then(|v| v.parse().ok())
        .unwrap_or(11.0);
    let mut out = Vec::new();
    let mut offsets: Vec<f64> = Vec::new();
    let mut rest = svg;
    while let Some(i) = rest.find('<') {
        rest = &rest[i..];
        let end = rest.find('>').unwrap_or(rest.len() - 1);
        let tag = &rest[..=end];
        if tag.starts_with("<g") && !tag.ends_with("/>") {
            let dy = attr(tag, "transform")
                .and_then(|t| {
                    let inner = t.strip_prefix("translate(0,")?.strip_suffix(')')?;
                    inner.parse::<f64>().ok()
                })
                .unwrap_or(0.0);
            offsets.push(dy);
        } else if tag.starts_with("</g") {
            offsets.pop();
        } else if tag.starts_with("<text") && !tag.contains("visibility=\"hidden\"") {
            let body = &rest[end + 1..];
            let text = &body[..body.find('<').unwrap_or(body.len())];
            let text = text
                .replace("&lt;", "<")
                .replace("&gt;", ">")
                .replace("&quot;", "\"")
                .replace("&amp;", "&");
            if !text.trim().is_empty() {
                let num = |n: &str, d: f64| attr(tag, n).and_then(|v| v.parse().ok()).unwrap_or(d);
                let y = num("y", 0.0) + offsets.iter().sum::<f64>();
                let anchor = attr(tag, "text-anchor").unwrap_or_else(|| "start".into());
                let b = diagram::LabelBox::of_text(
                    num("x", 0.0),
                    y,
                    num("font-size", root_size),
                    &anchor,
                    &text,
                );
                out.push((b, text));
            }
        }
        rest = &rest[end + 1..];
    }
    out
}

/// Pairs of labels that overlap, for a readable assertion message.
fn overlaps(svg: &str) -> Vec<String> {
    let boxes = label_boxes(svg);
    let mut bad = Vec::new();
    for (i, (a, ta)) in boxes.iter().enumerate() {
        for (b, tb) in &boxes[i + 1..] {
            if a.overlaps(b) {
                bad.push(format!("{ta:?} at {a:?} overlaps {tb:?} at {b:?}"));
            }
        }
    }
    bad
}

#[test]
fn the_overlap_check_finds_overlapping_labels() {
    let svg = r#"<svg font-size="11"><text x="10" y="10">hello world</text><g transform="translate(0,5)"><text x="20" y="5">overlap</text></g><text x="10" y="40">apart</text></svg>"#;
    assert_eq!(overlaps(svg).len(), 1, "{:?}", label_boxes(svg));
}

#[test]
fn no_label_overlaps_another_in_any_committed_figure_or_a_fresh_drawing() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut checked = 0;
    for dir in ["docs/course/figures", "docs/exercises"] {
        let mut files: Vec<_> = std::fs::read_dir(root.join(dir))
            .unwrap()
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "svg"))
            .collect();
        files.sort();
        for f in files {
            let svg = std::fs::read_to_string(&f).unwrap();
            let bad = overlaps(&svg);
            assert!(
                bad.is_empty(),
                "{}: {} overlapping label pair(s), e.g. {}; regenerate with scripts/figures.sh",
                f.display(),
                bad.len(),
                bad[0]
            );
            checked += 1;
        }
    }
    assert!(checked >= 20, "only {checked} committed figures found");
    // Drawn now, from runs with crashes, duplicates and a failure.
    for (scenario, seed, bug) in [
        ("crash-mid-accept", 11, None),
        (
            "dueling-proposers",
            1,
            Some(DeliberateBug::NoBallotTieBreak),
        ),
        (
            "lost-confirm",
            0,
            Some(DeliberateBug::ConfirmWithoutMatchingBallot),
        ),
    ] {
        let rec = recorded(scenario, seed, bug);
        let filter = synod_sim::exercises::focus(&rec);
        let svg = diagram::svg::render(&rec, &filter, &diagram::svg::SvgOptions::standalone());
        let bad = overlaps(&svg);
        assert!(bad.is_empty(), "{scenario} seed {seed}: {}", bad.join("\n"));
    }
}

#[test]
fn the_lecture_deck_is_one_offline_file() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let deck = std::fs::read_to_string(root.join("docs/course/lecture.html"))
        .expect("docs/course/lecture.html (scripts/lecture.sh builds it)");
    assert!(
        deck.matches("class=\"slide\"").count() >= 15,
        "a 90-minute deck"
    );
    assert!(
        !deck.contains("@@FIG") && !deck.contains("@@TXT"),
        "unfilled placeholder"
    );
    for (i, _) in deck.match_indices("<img") {
        assert!(
            deck[i..].starts_with("<img alt=")
                && deck[i..i + 400].contains("src=\"data:image/svg+xml;base64,"),
            "an image that is not inlined: {}",
            &deck[i..i + 120]
        );
    }
    for bad in ["src=\"http", "href=\"http", "@import", "url(http"] {
        assert!(
            !deck.contains(bad),
            "the deck loads something from the network: {bad}"
        );
    }
}

#[test]
fn a_history_timeline_page_draws_every_key_with_faults_and_no_overlapping_labels() {
    let r = world::run(&Options {
        seed: 3,
        scenario: Scenario::swarm_default(),
        bug: None,
        trace: false,
        timeline: false,
    })
    .unwrap();
    let (events, keys, values) = synod_sim::history::from_jsonl(&r.history_jsonl()).unwrap();
    let t0 = events[0].time_ns;
    let faults = format!(
        "{{\"time\":{},\"node\":2,\"fault\":\"kill\",\"what\":\"kill -9\"}}\n\
         {{\"time\":{},\"node\":3,\"fault\":\"pause\",\"what\":\"SIGSTOP\"}}\n\
         {{\"time\":{},\"node\":2,\"fault\":\"recovered\",\"what\":\"role:voter\"}}\n\
         {{\"time\":{},\"node\":4,\"fault\":\"join\",\"what\":\"cluster.sh add\"}}\n\
         {{\"time\":{},\"node\":4,\"fault\":\"joined\",\"what\":\"member, epoch 2\"}}\n",
        t0 + 1_000_000,
        t0 + 1_100_000,
        t0 + 5_000_000,
        t0 + 1_200_000,
        t0 + 2_000_000
    );
    let faults = diagram::timeline::faults_from_jsonl(&faults).unwrap();
    assert_eq!(faults.len(), 3);
    assert_eq!(
        (faults[2].label.as_str(), faults[2].to_ns),
        ("n4 joining", Some(t0 + 2_000_000)),
        "a membership change's span: join paired with joined"
    );
    assert_eq!(
        faults[0].to_ns,
        Some(t0 + 5_000_000),
        "kill paired with recovered"
    );
    assert_eq!(
        faults[1].to_ns, None,
        "a pause without its end runs to the end"
    );
    let page = diagram::timeline::render(
        "test",
        &events,
        &keys,
        &values,
        &faults,
        &Default::default(),
    );
    let drawn: std::collections::BTreeSet<u32> = events.iter().map(|e| e.key).collect();
    assert_eq!(page.label_boxes.len(), drawn.len(), "one chart per key");
    assert!(page.html.contains("n2 killed") && page.html.contains("n3 paused"));
    assert_eq!(check_xml_fragments(&page.html), 0);
    for boxes in &page.label_boxes {
        for (i, a) in boxes.iter().enumerate() {
            for b in &boxes[i + 1..] {
                assert!(!a.overlaps(b), "{a:?} overlaps {b:?}");
            }
        }
    }
    assert!(
        !page.html.contains("http") || page.html.matches("http").count() == page.label_boxes.len()
    );
}

/// Each inline SVG of a page parses as XML; returns how many do not.
fn check_xml_fragments(html: &str) -> usize {
    html.match_indices("<svg")
        .filter(|(i, _)| {
            let end = html[*i..]
                .find("</svg>")
                .map(|e| i + e + 6)
                .unwrap_or(html.len());
            check_xml(&html[*i..end]).is_err()
        })
        .count()
}
