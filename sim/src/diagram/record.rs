//! What the world records for pictures: steps, messages, operations, acceptor
//! states and fault spans, in the order they happened. Filled only when a
//! picture or the stepper asks for it (`Options::record`); the core's paths
//! are untouched, the world reads the acceptor state the way the invariants do.

use serde::Serialize;
use std::collections::BTreeMap;
use synod::core::{Ballot, Envelope, Slot};

/// Still in flight (or open) when the run ended.
pub const OPEN: usize = usize::MAX;

/// One thing that happened: a node handled an input, a fault, an operation event.
#[derive(Clone, Debug, Serialize)]
pub struct Step {
    pub t_us: u64,
    /// The node it happened at (0: none).
    pub node: u32,
    /// The key it concerns (-1: none or several).
    pub key: i32,
    /// "start", "recv", "request", "tick", "fault" or "op".
    pub kind: &'static str,
    pub text: String,
}

/// One message: sent at step `s1`, received or lost at step `s2`.
#[derive(Clone, Debug, Serialize)]
pub struct Msg {
    pub from: u32,
    pub to: u32,
    pub kind: &'static str,
    pub key: i32,
    pub ballot: String,
    pub detail: String,
    pub s1: usize,
    pub s2: usize,
    /// "ok" (delivered), "dup" (a duplicate, delivered), "lost" (dropped on
    /// the way: `why` says why), "held" (held back; sent again at the release).
    pub fate: &'static str,
    pub why: String,
}

/// One client operation, from invoke (`s1`) to its end (`s2`).
#[derive(Clone, Debug, Serialize)]
pub struct OpBar {
    /// Index into `Recording::lanes`.
    pub lane: usize,
    pub process: u64,
    pub key: u32,
    /// The coordinator it was sent to (0 for system operations).
    pub node: u32,
    pub text: String,
    pub s1: usize,
    pub s2: usize,
    /// "ok", "fail", "info" (unknown) or "open".
    pub outcome: &'static str,
    /// The result or the reason, once ended.
    pub result: String,
}

/// One acceptor's state for one key after step `s` (recorded when it changes).
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct State {
    pub s: usize,
    pub node: u32,
    pub key: u32,
    /// max(promised, floor).
    pub promised: String,
    /// Accepted ballot, "" if none.
    pub accepted: String,
    pub value: String,
    pub confirmed: bool,
    pub floor: String,
    /// false while the node is down or still catching up.
    pub voting: bool,
    pub down: bool,
}

/// A fault that lasts: "down", "recovering", "paused", "partition", "hold".
#[derive(Clone, Debug, Serialize)]
pub struct Span {
    pub kind: &'static str,
    pub nodes: Vec<u32>,
    pub s1: usize,
    pub s2: usize,
    pub text: String,
}

/// What a failing run's verdict points at.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Culprit {
    /// The step where an invariant broke, if one did.
    pub step: Option<usize>,
    pub key: Option<u32>,
    /// Operations to highlight (indices into `ops`).
    pub ops: Vec<usize>,
    /// The counterexample explained in words.
    pub explanation: String,
}

/// A run, as the pictures see it.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Recording {
    pub title: String,
    pub command: String,
    pub nodes: u32,
    pub keys: Vec<String>,
    pub replicas: Vec<Vec<u32>>,
    /// Client lanes: "c0".."c{n-1}", then "script", "probe", "system" if used.
    pub lanes: Vec<String>,
    pub steps: Vec<Step>,
    pub msgs: Vec<Msg>,
    pub ops: Vec<OpBar>,
    pub states: Vec<State>,
    pub spans: Vec<Span>,
    pub verdict: String,
    pub passed: bool,
    pub culprit: Culprit,
    #[serde(skip)]
    rec: Transient,
}

#[derive(Clone, Debug, Default)]
struct Transient {
    /// A step described but not yet recorded (a timer that may do nothing).
    lazy: Option<Step>,
    /// Open operations by request id (or system process id | 1 << 63).
    open_ops: BTreeMap<u64, usize>,
    last_state: BTreeMap<(u32, u32), State>,
    open_spans: BTreeMap<(&'static str, u64), usize>,
    held: Vec<usize>,
    /// Pauses end at a time, not at a step: (span, until µs).
    pauses: Vec<(usize, u64)>,
}

/// The lane of system operations (expiry, eviction).
const SYSTEM_BIT: u64 = 1 << 63;

fn key_of(env: &Envelope) -> i32 {
    let k = env.msg.key();
    if k.len() >= 2 && k[0] == b'k' && k[1..].iter().all(u8::is_ascii_digit) {
        std::str::from_utf8(&k[1..])
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(-1)
    } else {
        -1
    }
}

impl Recording {
    /// An empty recording of a cluster of `nodes` with these keys and client lanes.
    pub fn new(nodes: u32, keys: Vec<String>, replicas: Vec<Vec<u32>>, clients: usize) -> Self {
        let mut lanes: Vec<String> = (0..clients).map(|c| format!("c{c}")).collect();
        lanes.extend(["script", "probe", "system"].map(String::from));
        let mut r = Recording {
            nodes,
            keys,
            replicas,
            lanes,
            ..Recording::default()
        };
        r.step(
            0,
            0,
            -1,
            "start",
            "the cluster starts: every node is up and voting".into(),
        );
        r
    }

    fn cur(&mut self) -> usize {
        if let Some(s) = self.rec.lazy.take() {
            self.steps.push(s);
        }
        self.steps.len() - 1
    }

    /// A step happens now.
    pub fn step(&mut self, t_us: u64, node: u32, key: i32, kind: &'static str, text: String) {
        self.rec.lazy = None;
        self.steps.push(Step {
            t_us,
            node,
            key,
            kind,
            text,
        });
    }

    /// A step that is recorded only if it sends a message or changes state.
    pub fn lazy_step(&mut self, t_us: u64, node: u32, text: String) {
        self.rec.lazy = Some(Step {
            t_us,
            node,
            key: -1,
            kind: "tick",
            text,
        });
    }

    /// The end of a handler: a lazy step that did nothing is forgotten.
    pub fn end_handler(&mut self) {
        self.rec.lazy = None;
    }

    /// A node receives a message (message `id`).
    pub fn recv(&mut self, t_us: u64, id: usize, env: &Envelope, dup: bool) {
        let text = format!(
            "n{} receives {} from n{} ({}sent at {})",
            env.to,
            describe(env),
            env.from,
            if dup { "a duplicate, " } else { "" },
            self.sent_at(id)
        );
        self.step(t_us, env.to, key_of(env), "recv", text);
        if let Some(m) = self.msgs.get_mut(id) {
            m.s2 = self.steps.len() - 1;
        }
    }

    /// "step 12, 1.250 ms": where message `id` was sent, for the texts of
    /// steps that receive or lose it (rows are in time order; this gives the
    /// send order too).
    fn sent_at(&self, id: usize) -> String {
        match self
            .msgs
            .get(id)
            .and_then(|m| self.steps.get(m.s1).map(|s| (m.s1, s)))
        {
            Some((s1, st)) => format!("step {s1}, {:.3} ms", st.t_us as f64 / 1_000.0),
            None => "an earlier step".into(),
        }
    }

    /// A node sends a message; returns its id.
    pub fn sent(&mut self, env: &Envelope, detail: String, dup: bool) -> usize {
        let s1 = self.cur();
        self.msgs.push(Msg {
            from: env.from,
            to: env.to,
            kind: env.msg.kind(),
            key: key_of(env),
            ballot: env.msg.ballot().to_string(),
            detail,
            s1,
            s2: OPEN,
            fate: if dup { "dup" } else { "ok" },
            why: String::new(),
        });
        self.msgs.len() - 1
    }

    /// A message is lost: at its sending step if `at_send`, else at a new step.
    pub fn lost(&mut self, t_us: u64, id: usize, env: &Envelope, why: &str, at_send: bool) {
        if !at_send {
            let text = format!(
                "{} from n{} to n{} is lost ({why}; sent at {})",
                describe(env),
                env.from,
                env.to,
                self.sent_at(id)
            );
            self.step(t_us, env.to, key_of(env), "lost", text);
        }
        let s = self.steps.len() - 1;
        if let Some(m) = self.msgs.get_mut(id) {
            m.s2 = s;
            m.fate = "lost";
            m.why = why.into();
        }
    }

    /// A message is held back (it leaves again at the release, as a new message).
    pub fn held(&mut self, id: usize) {
        if let Some(m) = self.msgs.get_mut(id) {
            m.fate = "held";
            self.rec.held.push(id);
        }
    }

    /// Held messages leave: the held copies end at this step.
    pub fn released(&mut self) {
        let s = self.cur();
        for id in std::mem::take(&mut self.rec.held) {
            self.msgs[id].s2 = s;
        }
    }

    /// A client operation starts (the invoke step was just recorded).
    #[allow(clippy::too_many_arguments)]
    pub fn op_start(
        &mut self,
        id: u64,
        lane: usize,
        process: u64,
        node: u32,
        key: u32,
        text: String,
    ) {
        let s1 = self.cur();
        let lane = lane.min(self.lanes.len() - 1);
        self.ops.push(OpBar {
            lane,
            process,
            key,
            node,
            text,
            s1,
            s2: OPEN,
            outcome: "open",
            result: String::new(),
        });
        self.rec.open_ops.insert(id, self.ops.len() - 1);
    }

    /// A system operation (expiry, eviction) starts.
    pub fn system_op_start(&mut self, process: u64, key: u32, text: String) {
        let lane = self.lanes.len() - 1;
        self.op_start(process | SYSTEM_BIT, lane, process, 0, key, text);
    }

    /// An operation ends (its completion step was just recorded).
    pub fn op_end(&mut self, id: u64, outcome: &'static str, result: String) {
        let s = self.cur();
        if let Some(i) = self.rec.open_ops.remove(&id) {
            let o = &mut self.ops[i];
            o.s2 = s;
            o.outcome = outcome;
            o.result = result;
        }
    }

    /// A system operation ends.
    pub fn system_op_end(&mut self, process: u64, outcome: &'static str) {
        self.op_end(process | SYSTEM_BIT, outcome, String::new());
    }

    /// The acceptor state of `key` at `node` after the current step.
    pub fn state(&mut self, node: u32, key: u32, floor: Ballot, slot: Option<&Slot>, voting: bool) {
        let (promised, accepted, value, confirmed) = match slot {
            Some(s) => (
                s.promised.max(floor),
                s.accepted
                    .as_ref()
                    .map(|(b, _)| b.to_string())
                    .unwrap_or_default(),
                s.accepted
                    .as_ref()
                    .map(|(_, v)| crate::world::show_value(v))
                    .unwrap_or_default(),
                s.confirmed,
            ),
            None => (floor, String::new(), String::new(), false),
        };
        let st = State {
            s: 0,
            node,
            key,
            promised: promised.to_string(),
            accepted,
            value,
            confirmed,
            floor: floor.to_string(),
            voting,
            down: false,
        };
        self.push_state(st);
    }

    fn push_state(&mut self, mut st: State) {
        let k = (st.node, st.key);
        if let Some(last) = self.rec.last_state.get(&k) {
            let mut same = last.clone();
            same.s = 0;
            if same == st {
                return;
            }
        }
        self.rec.last_state.insert(k, st.clone());
        st.s = self.cur();
        self.states.push(st);
    }

    /// A node crashed: every key it held is forgotten.
    pub fn crashed(&mut self, node: u32, text: String, t_us: u64) {
        self.step(t_us, node, -1, "fault", text);
        let keys: Vec<u32> = (0..self.keys.len() as u32).collect();
        for k in keys {
            if self.rec.last_state.contains_key(&(node, k)) {
                let st = State {
                    s: 0,
                    node,
                    key: k,
                    promised: String::new(),
                    accepted: String::new(),
                    value: String::new(),
                    confirmed: false,
                    floor: String::new(),
                    voting: false,
                    down: true,
                };
                self.push_state(st);
            }
        }
        self.span_start("down", node.into(), vec![node], "down (memory lost)".into());
    }

    /// A span of a lasting fault starts at the current step.
    pub fn span_start(&mut self, kind: &'static str, id: u64, nodes: Vec<u32>, text: String) {
        let s1 = self.cur();
        self.spans.push(Span {
            kind,
            nodes,
            s1,
            s2: OPEN,
            text,
        });
        self.rec.open_spans.insert((kind, id), self.spans.len() - 1);
    }

    /// A span ends at the current step.
    pub fn span_end(&mut self, kind: &'static str, id: u64) {
        let s = self.cur();
        if let Some(i) = self.rec.open_spans.remove(&(kind, id)) {
            self.spans[i].s2 = s;
        }
    }

    /// A pause of `node` until global time `until_us`.
    pub fn paused(&mut self, node: u32, until_us: u64, text: String) {
        let s1 = self.cur();
        self.spans.push(Span {
            kind: "paused",
            nodes: vec![node],
            s1,
            s2: OPEN,
            text,
        });
        self.rec.pauses.push((self.spans.len() - 1, until_us));
    }

    /// The run ended with `verdict`; pauses get their end steps.
    pub fn finish(&mut self, verdict: String, passed: bool) {
        self.rec.lazy = None;
        for (i, until) in std::mem::take(&mut self.rec.pauses) {
            let s = self.steps.partition_point(|st| st.t_us < until);
            self.spans[i].s2 = if s >= self.steps.len() { OPEN } else { s };
        }
        self.verdict = verdict;
        self.passed = passed;
    }

    /// Pictures' end for an open step index.
    pub fn end_of(&self, s: usize) -> usize {
        if s == OPEN {
            self.steps.len().saturating_sub(1)
        } else {
            s
        }
    }
}

/// "Prepare k0 b=3.1" and so on, for step texts.
pub fn describe(env: &Envelope) -> String {
    let key = String::from_utf8_lossy(env.msg.key()).into_owned();
    let b = env.msg.ballot();
    if key.is_empty() {
        format!("{} b={b}", env.msg.kind())
    } else {
        format!("{} {key} b={b}", env.msg.kind())
    }
}

/// What an invariant means, for a person reading a counterexample.
pub fn invariant_meaning(invariant: &str) -> &'static str {
    match invariant {
        "one_value_per_ballot" => {
            "Two different values were proposed or accepted at the same ballot. A ballot names \
             exactly one proposal; if two coordinators can use one ballot, acceptors cannot tell \
             their proposals apart and two different values can both be chosen."
        }
        "effective_promised_never_decreases" => {
            "An acceptor's promise went down within one life: it promised a ballot and later \
             behaved as if it had promised only a lower one. A coordinator that gathered a quorum \
             of promises relies on each of them being kept."
        }
        "floor_never_decreases" => {
            "A node-wide floor (the promise that stands for every key without state) went down, \
             so a forgotten key accepted a ballot its earlier promise had ruled out."
        }
        "accepted_at_most_promised" => {
            "An acceptor accepted a value at a ballot below its promise. Phase 2b must refuse an \
             Accept below the promise, or a value chosen at a higher ballot can be overwritten."
        }
        "chain_invariant" => {
            "A value was chosen at a ballot b without being built on the highest value chosen \
             below b: a chosen (acknowledged) write was lost or bypassed. Phase 1 must see every \
             value that may have been chosen and Phase 2 must build on it; the quorums that decide \
             must intersect."
        }
        "confirmed_only_if_chosen" => {
            "An acceptor marked a value confirmed (known chosen) although no quorum accepted it. \
             Fast reads and clean-up trust that mark, so they would act on a value that was never \
             chosen."
        }
        _ => "An invariant of the protocol broke; the detail says which state was wrong.",
    }
}

impl Recording {
    /// An invariant broke at the current step.
    pub fn violation(&mut self, node: u32, invariant: &str, detail: &str, key: Option<u32>) {
        let s = self.steps.len().saturating_sub(1);
        // The detail names the key ("key k3: ..."); else the key touched, else the step's.
        let named = detail.split_whitespace().find_map(|w| {
            let w = w.trim_end_matches([':', ',', ';']);
            self.keys.iter().position(|k| k == w).map(|i| i as u32)
        });
        let key = named.or(key).or_else(|| {
            self.steps[..=s]
                .iter()
                .rev()
                .find(|st| st.key >= 0 && st.node == node)
                .map(|st| st.key as u32)
        });
        self.culprit.step = Some(s);
        self.culprit.key = key;
        // The operations on that key still running when it broke, and the last few that ended.
        if let Some(k) = key {
            let mut ops: Vec<usize> = (0..self.ops.len())
                .filter(|&i| self.ops[i].key == k && self.ops[i].s1 <= s && self.ops[i].s2 == OPEN)
                .collect();
            let ended: Vec<usize> = (0..self.ops.len())
                .filter(|&i| {
                    let o = &self.ops[i];
                    o.key == k && o.s2 != OPEN && o.s2 <= s && o.outcome == "ok"
                })
                .collect();
            ops.extend(ended.iter().rev().take(2));
            ops.sort_unstable();
            self.culprit.ops = ops;
        }
        self.culprit.explanation = format!(
            "The invariant {invariant} broke at step {s} on n{node}{}: {detail}. {} \
             The run stops at that step; the highlighted operations are those on the key that \
             were running then, and the last ones acknowledged before it.",
            key.map(|k| format!(" for key {}", self.keys[k as usize]))
                .unwrap_or_default(),
            invariant_meaning(invariant)
        );
    }

    /// The history of `key` has no linearization: the search placed `placed`
    /// operations, then could not place process `process`'s operation `op`
    /// with the register holding `state`.
    pub fn nonlinearizable(
        &mut self,
        key: u32,
        process: u64,
        op: &str,
        placed: usize,
        state: &str,
    ) {
        let stuck: Vec<usize> = (0..self.ops.len())
            .filter(|&i| self.ops[i].key == key && self.ops[i].process == process)
            .collect();
        let mut values: Vec<String> = vec![state.to_string()];
        for &i in &stuck {
            let o = &self.ops[i];
            for w in o.text.split_whitespace().chain(o.result.split_whitespace()) {
                if w.starts_with('v') && w[1..].chars().all(|c| c.is_ascii_digit()) && w.len() > 1 {
                    values.push(w.to_string());
                }
            }
        }
        let writers: Vec<usize> = (0..self.ops.len())
            .filter(|&i| {
                let o = &self.ops[i];
                o.key == key
                    && !o.text.starts_with("read")
                    && o.text.split_whitespace().any(|w| {
                        let w = w.trim_matches(|c| c == '[' || c == ']' || c == ',');
                        values.iter().any(|v| v == w)
                    })
            })
            .collect();
        let mut ops = stuck.clone();
        ops.extend(writers);
        ops.sort_unstable();
        ops.dedup();
        self.culprit.key = Some(key);
        self.culprit.ops = ops;
        self.culprit.explanation = format!(
            "Key {k}: the checker looked for one order of all operations on {k} that respects \
             real time (an operation that returned before another was invoked comes first) and \
             in which every read sees the latest write. Its longest attempt placed {placed} \
             operations and then could not place process {process}'s {op}: the register held \
             {state} at that point, and nothing allowed to happen before that operation explains \
             what it saw. Highlighted: that operation and the writes of the values involved ({}). \
             A linearizable store would never show this history to its clients.",
            values.join(", "),
            k = self.keys[key as usize],
        );
    }
}

/// The command that replays a run.
pub fn replay(seed: u64, bug: Option<String>, scenario: Option<&std::path::Path>) -> String {
    let mut c = format!("synod-sim run --seed {seed}");
    if let Some(p) = scenario {
        c.push_str(&format!(" --scenario {}", p.display()));
    }
    if let Some(b) = bug {
        c.push_str(&format!(" --bug {b}"));
    }
    c
}
