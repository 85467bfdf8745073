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
