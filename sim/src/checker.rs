//! Per-key linearizability: does some order of the operations, consistent with
//! real time, explain every result as a single register would?
//!
//! The search is Wing & Gong's, with Lowe's memoization ("Testing for
//! linearizability", 2017) as in Porcupine: the history is a doubly linked list
//! of call and return entries in real-time order. Walking it, a call whose
//! operation is legal in the current state is linearized (lifted out of the
//! list) unless the pair (set of linearized operations, state) was seen before;
//! reaching a return whose operation is not linearized backtracks. An `info`
//! operation (unknown outcome) returns at +∞: it may take effect at any time
//! after its call, or never, so the search succeeds as soon as every
//! operation with a known outcome is linearized.

use crate::fxhash::FxHashSet;
use crate::history::Values;

/// An interned value; `ABSENT` stands for "no value" (never written, or deleted).
pub type Val = u32;
/// The absent value.
pub const ABSENT: Val = 0;

/// What an operation did, as far as its client knows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OpKind {
    /// A read that returned this value.
    Read(Val),
    /// A write of this value.
    Write(Val),
    /// A delete; `Some(existed)` if the client was told whether the key existed.
    Delete(Option<bool>),
    /// A compare-and-swap; `swapped`: `Some(true)` swapped, `Some(false)` the
    /// comparison failed (a read of a value ≠ expected), `None` unknown.
    Cas {
        expected: Val,
        new: Val,
        swapped: Option<bool>,
    },
    /// INCRBY `delta`: the new integer if known. A value that is not an
    /// integer makes it fail without a change (`IncrFailed`).
    Incr { delta: i64, result: Option<i64> },
    /// INCRBY refused: the value was present and not an integer (a read).
    IncrFailed,
    /// APPEND `suffix`: the new length if known.
    Append { suffix: Val, len: Option<u64> },
    /// GETDEL: the old value if known (`ABSENT` for nil), then absent.
    GetDel(Option<Val>),
    /// SET NX: whether it applied, if known.
    SetNx { value: Val, applied: Option<bool> },
    /// A transaction on the key (MULTI GET SET EXEC): read `read` (if known)
    /// and wrote `write`, atomically: one read-modify-write.
    Txn { read: Option<Val>, write: Val },
    /// A transaction on the key whose GET answered WRONGTYPE (the key held
    /// a value of another type) and whose SET then wrote `write`: applied.
    TxnOverType { write: Val },
    /// Observed the key present (true) or absent (false), without a change:
    /// EXPIRE's and TTL's answers, and what a listing says of each key
    /// (listed: present at some point during it; left out: absent at some
    /// point during it).
    Present(bool),
    /// A command of a data type or a bit command (typed.rs): a
    /// read-modify-write of the register, whose value is a model of the
    /// type; `args` and `result` are the interned JSON texts of its
    /// arguments and reply (`None`: unknown).
    Typed {
        f: crate::typed::TypedF,
        args: Val,
        result: Option<Val>,
    },
    /// Answered WRONGTYPE: the value was present and not of this type (no change).
    WrongType(crate::typed::Ty),
}

/// One operation on one key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Op {
    /// The client process that ran it.
    pub process: u64,
    /// When it was invoked (any totally ordered clock: line index, ns).
    pub call: u64,
    /// When it returned; `u64::MAX` for an unknown outcome (`info`).
    pub ret: u64,
    pub kind: OpKind,
}

impl Op {
    /// True if the outcome is unknown: it may never take effect.
    pub fn is_info(&self) -> bool {
        self.ret == u64::MAX
    }
}

/// The integer a value holds, as INCR reads it (absent is 0).
fn integer(values: &Values, state: Val) -> Option<i64> {
    if state == ABSENT {
        return Some(0);
    }
    std::str::from_utf8(values.bytes(state)).ok()?.parse().ok()
}

/// The register model's step: the state after `op`, if `op` is legal in
/// `state`. Changes that compute a new value (INCR, APPEND) intern it.
pub fn step(state: Val, op: &OpKind, values: &mut Values) -> Option<Val> {
    use crate::typed::{ty_of, Ty};
    let bytes = |values: &Values, v: Val| (v != ABSENT).then(|| values.bytes(v).to_vec());
    let ty = match state {
        ABSENT => None,
        // A written value no read returned (canonical_kinds, or a unit
        // test's value never interned): a string.
        s => Some(
            values
                .get(s)
                .map_or(Ty::Str, |b| ty_of(Some(b)).unwrap_or(Ty::Str)),
        ),
    };
    // A string command on a collection answered WRONGTYPE and changed
    // nothing: with a known answer of its own it cannot have run there.
    let string_only = matches!(
        op,
        OpKind::Read(_)
            | OpKind::Cas { .. }
            | OpKind::Incr { .. }
            | OpKind::IncrFailed
            | OpKind::Append { .. }
            | OpKind::GetDel(_)
    );
    if string_only && ty.is_some_and(|t| t != Ty::Str) {
        let unknown = matches!(
            op,
            OpKind::Incr { result: None, .. }
                | OpKind::Append { len: None, .. }
                | OpKind::GetDel(None)
        );
        return unknown.then_some(state);
    }
    match *op {
        OpKind::WrongType(want) => ty.is_some_and(|t| t != want).then_some(state),
        OpKind::Typed { f, args, result } => {
            let cur = crate::typed::Model::decode(bytes(values, state).as_deref());
            let args = crate::typed::args_of(values.bytes(args));
            let Some((next, reply)) = crate::typed::apply(f, &args, &cur) else {
                // WRONGTYPE: only an unknown outcome may have met it.
                return result.is_none().then_some(state);
            };
            if result.is_some_and(|r| values.bytes(r) != reply.to_string().as_bytes()) {
                return None;
            }
            Some(match next.encode() {
                Some(b) => values.intern(&b),
                None => ABSENT,
            })
        }
        OpKind::Incr { delta, result } => match integer(values, state) {
            Some(n) => {
                let new = n.checked_add(delta)?;
                if result.is_some_and(|r| r != new) {
                    return None;
                }
                Some(values.intern(new.to_string().as_bytes()))
            }
            // An unknown INCR of a non-integer failed: no change.
            None => result.is_none().then_some(state),
        },
        OpKind::IncrFailed => integer(values, state).is_none().then_some(state),
        OpKind::Append { suffix, len } => {
            let mut v = if state == ABSENT {
                Vec::new()
            } else {
                values.bytes(state).to_vec()
            };
            v.extend_from_slice(values.bytes(suffix));
            if len.is_some_and(|l| l != v.len() as u64) {
                return None;
            }
            Some(values.intern(&v))
        }
        OpKind::GetDel(old) => old.is_none_or(|o| o == state).then_some(ABSENT),
        OpKind::SetNx { value, applied } => match applied {
            Some(true) => (state == ABSENT).then_some(value),
            Some(false) => (state != ABSENT).then_some(state),
            None => Some(if state == ABSENT { value } else { state }),
        },
        OpKind::Present(p) => ((state != ABSENT) == p).then_some(state),
        OpKind::Txn { read, write } => read.is_none_or(|r| r == state).then_some(write),
        OpKind::TxnOverType { write } => ty.is_some_and(|t| t != Ty::Str).then_some(write),
        _ => step_register(state, op),
    }
}

/// The plain register's step (read, write, delete, cas).
fn step_register(state: Val, op: &OpKind) -> Option<Val> {
    match *op {
        OpKind::Read(v) => (state == v).then_some(state),
        OpKind::Write(v) => Some(v),
        OpKind::Delete(None) => Some(ABSENT),
        OpKind::Delete(Some(existed)) => ((state != ABSENT) == existed).then_some(ABSENT),
        OpKind::Cas {
            expected,
            new,
            swapped,
        } => match swapped {
            Some(true) | None => (state == expected).then_some(new),
            Some(false) => (state != expected).then_some(state),
        },
        _ => unreachable!("derived changes are stepped by `step`"),
    }
}

/// The checker's answer for one key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// A linearization exists.
    Linearizable,
    /// None exists; the diagnosis names where the longest attempt got stuck.
    Violation(Stuck),
    /// The search spent its step budget without an answer.
    GaveUp { steps: u64 },
}

/// Where the deepest linearization attempt got stuck.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stuck {
    /// Operations linearized in the deepest attempt.
    pub linearized: usize,
    /// The register's value there.
    pub state: Val,
    /// The operation whose return came before it could be placed (index into the ops).
    pub op: usize,
}

const NIL: usize = usize::MAX;
/// Stands for every unobserved written value.
const UNOBSERVED: Val = Val::MAX;

/// Unknown-outcome writes whose value some completed op saw are known to have
/// taken effect, before the first such witness returned: give them that return.
///
/// Values are unique per write, so an ok read of v, or a cas that swapped
/// expecting v, is a witness that the write of v happened; it happened before
/// every witness's linearization point, hence before the earliest witness
/// return. The search then no longer treats the write as optional and open-ended,
/// which is what makes histories with many unknown outcomes expensive.
fn resolve_witnessed(ops: &[Op]) -> Vec<Op> {
    let mut first_witness: crate::fxhash::FxHashMap<Val, u64> = Default::default();
    for op in ops.iter().filter(|o| !o.is_info()) {
        let v = match op.kind {
            OpKind::Read(v) => v,
            OpKind::Cas {
                expected,
                swapped: Some(true),
                ..
            } => expected,
            OpKind::GetDel(Some(v)) => v,
            OpKind::Txn { read: Some(v), .. } => v,
            _ => continue,
        };
        if v != ABSENT {
            let r = first_witness.entry(v).or_insert(op.ret);
            *r = (*r).min(op.ret);
        }
    }
    ops.iter()
        .map(|op| {
            let mut op = *op;
            if op.is_info() {
                let new = match op.kind {
                    OpKind::Write(v) => Some(v),
                    OpKind::Cas { new, .. } => Some(new),
                    OpKind::Txn { write, .. } | OpKind::TxnOverType { write } => Some(write),
                    _ => None,
                };
                if let Some(&ret) = new.and_then(|v| first_witness.get(&v)) {
                    op.ret = ret;
                    if let OpKind::Cas { swapped, .. } = &mut op.kind {
                        *swapped = Some(true);
                    }
                }
            }
            op
        })
        .collect()
}

/// The ops' kinds with unobserved written values replaced by `UNOBSERVED`
/// (unchanged where a change computes on the value's bytes: INCR, APPEND).
fn canonical_kinds(ops: &[Op]) -> Vec<OpKind> {
    let derived = ops.iter().any(|o| {
        matches!(
            o.kind,
            OpKind::Incr { .. }
                | OpKind::IncrFailed
                | OpKind::Append { .. }
                | OpKind::Typed { .. }
                | OpKind::WrongType(_)
                | OpKind::TxnOverType { .. }
        )
    });
    if derived {
        return ops.iter().map(|o| o.kind).collect();
    }
    let mut observed = FxHashSet::default();
    for op in ops {
        match op.kind {
            OpKind::Read(v) | OpKind::GetDel(Some(v)) | OpKind::Txn { read: Some(v), .. } => {
                observed.insert(v);
            }
            OpKind::Cas { expected, .. } => {
                observed.insert(expected);
            }
            _ => {}
        }
    }
    let canon = |v: Val| if observed.contains(&v) { v } else { UNOBSERVED };
    ops.iter()
        .map(|op| match op.kind {
            OpKind::Write(v) => OpKind::Write(canon(v)),
            OpKind::Cas {
                expected,
                new,
                swapped,
            } => OpKind::Cas {
                expected,
                new: canon(new),
                swapped,
            },
            OpKind::Txn { read, write } => OpKind::Txn {
                read,
                write: canon(write),
            },
            k => k,
        })
        .collect()
}

/// For each op: its group of interchangeable unknown-outcome ops (or NIL), and
/// its rank in the group by call time.
fn info_groups(ops: &[Op]) -> (Vec<usize>, Vec<u32>) {
    let kinds = canonical_kinds(ops);
    let mut groups: Vec<OpKind> = Vec::new();
    let mut sizes: Vec<u32> = Vec::new();
    let mut group = vec![NIL; ops.len()];
    let mut rank = vec![0u32; ops.len()];
    let mut order: Vec<usize> = (0..ops.len()).collect();
    order.sort_by_key(|&i| ops[i].call);
    for i in order {
        let k = kinds[i];
        let shared = match k {
            OpKind::Write(v) | OpKind::Cas { new: v, .. } => v == UNOBSERVED,
            OpKind::Delete(None) => true,
            _ => false,
        };
        if !ops[i].is_info() || !shared {
            continue;
        }
        let g = match groups.iter().position(|x| *x == k) {
            Some(g) => g,
            None => {
                groups.push(k);
                sizes.push(0);
                groups.len() - 1
            }
        };
        group[i] = g;
        rank[i] = sizes[g];
        sizes[g] += 1;
    }
    (group, rank)
}

#[derive(Clone, Copy)]
struct Entry {
    op: usize,
    is_call: bool,
    /// For a call: the index of its return entry.
    ret: usize,
    prev: usize,
    next: usize,
}

/// Checks one key's operations from the initial state `ABSENT`, in at most
/// `steps_max` search steps. `values` holds the bytes of every value named
/// (INCR and APPEND compute new ones, interned there).
pub fn check(ops: &[Op], steps_max: u64, values: &mut Values) -> Verdict {
    check_from(ops, ABSENT, steps_max, values)
}

/// Checks one key's operations from the initial state `init`.
pub fn check_from(ops: &[Op], init: Val, steps_max: u64, values: &mut Values) -> Verdict {
    let v = search(ops, init, steps_max / 2, values);
    if !matches!(v, Verdict::GaveUp { .. }) {
        return v;
    }
    // A non-linearizable history can be expensive to refute whole, while its
    // first violation usually sits in a short prefix. A prefix (ops invoked
    // before a cut, those still running at the cut as unknown outcomes) of a
    // linearizable history is linearizable, so a refuted prefix refutes all.
    let mut by_call: Vec<usize> = (0..ops.len()).collect();
    by_call.sort_by_key(|&i| ops[i].call);
    let mut len = 32;
    let mut spent = steps_max / 2;
    while len < ops.len() && spent < steps_max {
        let cut = ops[by_call[len]].call;
        let mut index = Vec::new();
        let prefix: Vec<Op> = by_call[..len]
            .iter()
            .filter_map(|&i| {
                let mut op = ops[i];
                if op.ret > cut {
                    op.kind = match op.kind {
                        // Observations without a change: not yet made.
                        OpKind::Read(_)
                        | OpKind::IncrFailed
                        | OpKind::Present(_)
                        | OpKind::WrongType(_) => return None,
                        k => unknown_outcome(k),
                    };
                    op.ret = u64::MAX;
                }
                index.push(i);
                Some(op)
            })
            .collect();
        let budget = (steps_max - spent).min(steps_max / 8);
        spent += budget;
        match search(&prefix, init, budget, values) {
            Verdict::Violation(mut stuck) => {
                stuck.op = index[stuck.op];
                return Verdict::Violation(stuck);
            }
            Verdict::GaveUp { .. } => break,
            Verdict::Linearizable => len *= 2,
        }
    }
    v
}

/// Checks one key's operations when an operator declared lost a majority
/// of replicas at `declared` (an `Op::call`-clock time; `None`: never).
/// The ops invoked before it are checked as usual; those invoked after it
/// from the value the survivors held, which may be any value the key had
/// before (values held only by the lost replicas are gone) or absent, but
/// nothing invented: the first state is absent, a value some earlier op
/// wrote or read, or (if earlier ops computed values: INCR, APPEND) a
/// value a later op observes. Operation indices in a violation are into `ops`.
/// A data type's value (typed.rs) that survives is found only when a later
/// op reads it whole: the majority-restart world draws no data types.
pub fn check_with_loss(
    ops: &[Op],
    declared: Option<u64>,
    steps_max: u64,
    values: &mut Values,
) -> Verdict {
    let Some(d) = declared else {
        return check(ops, steps_max, values);
    };
    // Before: every op invoked before it, those still running then as
    // unknown outcomes (a read not yet made is left out). After: every op
    // still running at it or invoked later (a change running across it
    // may take effect on either side), from its call or from `d`.
    let mut pre_i = Vec::new();
    let mut pre = Vec::new();
    let mut post_i = Vec::new();
    let mut post = Vec::new();
    for (i, op) in ops.iter().enumerate() {
        if op.call < d {
            let mut o = *op;
            let keep = op.ret < d
                || !matches!(
                    o.kind,
                    OpKind::Read(_) | OpKind::IncrFailed | OpKind::Present(_)
                );
            if op.ret > d {
                o.kind = unknown_outcome(o.kind);
                o.ret = u64::MAX;
            }
            if keep {
                pre_i.push(i);
                pre.push(o);
            }
        }
        if op.ret > d {
            let mut o = *op;
            o.call = o.call.max(d);
            post_i.push(i);
            post.push(o);
        }
    }
    let map = |v: Verdict, index: &[usize]| match v {
        Verdict::Violation(mut s) => {
            s.op = index[s.op];
            Verdict::Violation(s)
        }
        v => v,
    };
    let v = check(&pre, steps_max, values);
    if !matches!(v, Verdict::Linearizable) || post.is_empty() {
        return map(v, &pre_i);
    }
    let mut earlier = FxHashSet::default();
    let mut derived = false;
    for op in &pre {
        match op.kind {
            OpKind::Write(v) | OpKind::Read(v) | OpKind::GetDel(Some(v)) => {
                earlier.insert(v);
            }
            OpKind::Cas { expected, new, .. } => {
                earlier.insert(expected);
                earlier.insert(new);
            }
            OpKind::SetNx { value, .. } | OpKind::TxnOverType { write: value } => {
                earlier.insert(value);
            }
            OpKind::Txn { read, write } => {
                earlier.extend(read);
                earlier.insert(write);
            }
            OpKind::Incr { .. } | OpKind::Append { .. } | OpKind::Typed { .. } => derived = true,
            _ => {}
        }
    }
    let mut seen = Vec::new();
    for op in &post {
        match op.kind {
            OpKind::Read(v) | OpKind::GetDel(Some(v)) | OpKind::Txn { read: Some(v), .. } => {
                seen.push(v)
            }
            // A cas may have been what changed the survivor's value.
            OpKind::Cas { expected, .. } => seen.push(expected),
            OpKind::Incr {
                delta,
                result: Some(r),
            } => {
                if let Some(old) = r.checked_sub(delta) {
                    seen.push(values.intern(old.to_string().as_bytes()));
                }
            }
            _ => {}
        }
    }
    let mut candidates = vec![ABSENT];
    for v in seen {
        if v != ABSENT && (derived || earlier.contains(&v)) && !candidates.contains(&v) {
            candidates.push(v);
        }
    }
    // A survivor no later op reads stands for every such value.
    let mut unread: Vec<Val> = earlier
        .iter()
        .copied()
        .filter(|v| *v != ABSENT && !candidates.contains(v))
        .collect();
    unread.sort_unstable();
    candidates.extend(unread.first());
    let budget = steps_max / candidates.len() as u64;
    let mut first = None;
    for init in candidates {
        match check_from(&post, init, budget.max(1), values) {
            Verdict::Linearizable => return Verdict::Linearizable,
            v => {
                first.get_or_insert(v);
            }
        }
    }
    map(first.unwrap_or(Verdict::Linearizable), &post_i)
}

/// `kind` with its outcome forgotten: what an unknown (`info`) operation knows.
pub fn unknown_outcome(kind: OpKind) -> OpKind {
    match kind {
        OpKind::Cas { expected, new, .. } => OpKind::Cas {
            expected,
            new,
            swapped: None,
        },
        OpKind::Delete(_) => OpKind::Delete(None),
        OpKind::Incr { delta, .. } => OpKind::Incr {
            delta,
            result: None,
        },
        OpKind::Append { suffix, .. } => OpKind::Append { suffix, len: None },
        OpKind::GetDel(_) => OpKind::GetDel(None),
        OpKind::SetNx { value, .. } => OpKind::SetNx {
            value,
            applied: None,
        },
        OpKind::Typed { f, args, .. } => OpKind::Typed {
            f,
            args,
            result: None,
        },
        OpKind::Txn { write, .. } | OpKind::TxnOverType { write } => {
            OpKind::Txn { read: None, write }
        }
        k => k,
    }
}

/// The search itself, over all of `ops`, in at most `steps_max` steps.
fn search(ops: &[Op], init: Val, steps_max: u64, values: &mut Values) -> Verdict {
    if ops.is_empty() {
        return Verdict::Linearizable;
    }
    let witnessed = resolve_witnessed(ops);
    let ops = &witnessed[..];
    // Entries sorted by time; a call before a return at the same time.
    let mut order: Vec<(u64, bool, usize)> = Vec::with_capacity(ops.len() * 2);
    for (i, op) in ops.iter().enumerate() {
        order.push((op.call, false, i));
        order.push((op.ret, true, i));
    }
    order.sort_unstable();
    // Index 0 is the head sentinel.
    let mut e: Vec<Entry> = Vec::with_capacity(order.len() + 1);
    e.push(Entry {
        op: NIL,
        is_call: false,
        ret: NIL,
        prev: NIL,
        next: 1,
    });
    let mut ret_of = vec![0usize; ops.len()];
    for (j, &(_, is_ret, i)) in order.iter().enumerate() {
        let idx = j + 1;
        if is_ret {
            ret_of[i] = idx;
        }
        e.push(Entry {
            op: i,
            is_call: !is_ret,
            ret: NIL,
            prev: idx - 1,
            next: if j + 1 == order.len() { NIL } else { idx + 1 },
        });
    }
    for idx in 1..e.len() {
        if e[idx].is_call {
            e[idx].ret = ret_of[e[idx].op];
        }
    }

    // Symmetry: unknown-outcome ops with the same effect on every state are
    // interchangeable, so only linearize them in call order. A written value
    // no read returned and no cas expected is "unobserved": writing it has the
    // same effect as writing any other unobserved value.
    let (group, rank) = info_groups(ops);
    let kinds = canonical_kinds(ops);
    let mut group_next = vec![0u32; group.iter().filter(|g| **g != NIL).count() + 1];
    let words = ops.len().div_ceil(64);
    let mut linearized = vec![0u64; words];
    let mut cache: FxHashSet<(Box<[u64]>, Val)> = FxHashSet::default();
    let mut stack: Vec<(usize, Val)> = Vec::new();
    let mut state = init;
    let mut entry = e[0].next;
    let mut steps = 0u64;
    let mut deepest = Stuck {
        linearized: 0,
        state: init,
        op: 0,
    };
    let lift = |e: &mut Vec<Entry>, c: usize| {
        let r = e[c].ret;
        let (cp, cn) = (e[c].prev, e[c].next);
        e[cp].next = cn;
        if cn != NIL {
            e[cn].prev = cp;
        }
        let (rp, rn) = (e[r].prev, e[r].next);
        e[rp].next = rn;
        if rn != NIL {
            e[rn].prev = rp;
        }
    };
    let unlift = |e: &mut Vec<Entry>, c: usize| {
        let r = e[c].ret;
        let (rp, rn) = (e[r].prev, e[r].next);
        e[rp].next = r;
        if rn != NIL {
            e[rn].prev = r;
        }
        let (cp, cn) = (e[c].prev, e[c].next);
        e[cp].next = c;
        if cn != NIL {
            e[cn].prev = c;
        }
    };
    while entry != NIL {
        steps += 1;
        if steps > steps_max {
            return Verdict::GaveUp { steps };
        }
        let Entry { op, is_call, .. } = e[entry];
        if is_call {
            let g = group[op];
            let in_turn = g == NIL || group_next[g] == rank[op];
            let next = if in_turn {
                step(state, &kinds[op], values)
            } else {
                None
            };
            if let Some(next_state) = next {
                let (w, bit) = (op / 64, 1u64 << (op % 64));
                linearized[w] |= bit;
                if cache.insert((linearized.clone().into_boxed_slice(), next_state)) {
                    if g != NIL {
                        group_next[g] += 1;
                    }
                    stack.push((entry, state));
                    state = next_state;
                    lift(&mut e, entry);
                    entry = e[0].next;
                    continue;
                }
                linearized[w] &= !bit;
            }
            entry = e[entry].next;
        } else {
            if ops[op].is_info() {
                // Every operation with a known outcome is linearized; the
                // remaining ones may never have taken effect.
                return Verdict::Linearizable;
            }
            if stack.len() >= deepest.linearized {
                deepest = Stuck {
                    linearized: stack.len(),
                    state,
                    op,
                };
            }
            let Some((call, prev_state)) = stack.pop() else {
                return Verdict::Violation(deepest);
            };
            let o = e[call].op;
            linearized[o / 64] &= !(1u64 << (o % 64));
            if group[o] != NIL {
                group_next[group[o]] -= 1;
            }
            state = prev_state;
            unlift(&mut e, call);
            entry = e[call].next;
        }
    }
    Verdict::Linearizable
}

#[cfg(test)]
mod tests {
    use super::*;

    fn op(process: u64, call: u64, ret: u64, kind: OpKind) -> Op {
        Op {
            process,
            call,
            ret,
            kind,
        }
    }
    const INF: u64 = u64::MAX;
    const BUDGET: u64 = 10_000_000;
    use OpKind::*;

    fn ok(ops: &[Op]) -> bool {
        matches!(
            check(ops, BUDGET, &mut Values::new()),
            Verdict::Linearizable
        )
    }

    #[test]
    fn sequential_write_then_read_is_linearizable() {
        assert!(ok(&[op(1, 0, 1, Write(1)), op(1, 2, 3, Read(1))]));
        assert!(ok(&[op(1, 0, 1, Read(ABSENT))]));
    }

    #[test]
    fn a_transaction_is_one_read_modify_write() {
        let txn = |read, write| Txn { read, write };
        // nil -> 1 -> (txn: read 1, write 2) -> read 2.
        assert!(ok(&[
            op(1, 0, 1, Write(1)),
            op(2, 2, 3, txn(Some(1), 2)),
            op(3, 4, 5, Read(2)),
        ]));
        // Its read must be the value it replaced: two transactions may not
        // both read 1 (a lost update), however they overlap.
        assert!(!ok(&[
            op(1, 0, 1, Write(1)),
            op(2, 2, 5, txn(Some(1), 2)),
            op(3, 3, 6, txn(Some(1), 3)),
        ]));
        // A value witnessed only by a transaction's read makes an unknown
        // write of it take effect (the write's value is "observed").
        assert!(ok(&[
            op(1, 0, INF, Write(1)),
            op(2, 2, 3, txn(Some(1), 2)),
            op(4, 1, INF, Write(4)),
            op(3, 4, 5, Read(2)),
        ]));
        // An unknown transaction may take effect or not.
        assert!(ok(&[
            op(2, 0, INF, txn(None, 2)),
            op(3, 4, 5, Read(ABSENT))
        ]));
        assert!(ok(&[op(2, 0, INF, txn(None, 2)), op(3, 4, 5, Read(2))]));
    }

    #[test]
    fn a_stale_read_after_a_completed_write_is_not() {
        let v = check(
            &[op(1, 0, 1, Write(1)), op(2, 2, 3, Read(ABSENT))],
            BUDGET,
            &mut Values::new(),
        );
        assert!(matches!(v, Verdict::Violation(_)), "{v:?}");
    }

    #[test]
    fn concurrent_reads_may_see_either_side_of_a_write() {
        // write(1) spans both reads: one sees nil, the later sees 1.
        assert!(ok(&[
            op(1, 0, 10, Write(1)),
            op(2, 1, 2, Read(ABSENT)),
            op(3, 3, 4, Read(1)),
        ]));
        // But not 1 then nil: once a read saw 1, the write took effect.
        assert!(!ok(&[
            op(1, 0, 10, Write(1)),
            op(2, 1, 2, Read(1)),
            op(3, 3, 4, Read(ABSENT)),
        ]));
    }

    #[test]
    fn an_info_write_may_take_effect_late_or_never() {
        // The info write may land after the first read...
        assert!(ok(&[
            op(1, 0, INF, Write(1)),
            op(2, 5, 6, Read(ABSENT)),
            op(2, 7, 8, Read(1)),
        ]));
        // ...or never.
        assert!(ok(&[op(1, 0, INF, Write(1)), op(2, 5, 6, Read(ABSENT))]));
        // But not before it was invoked.
        assert!(!ok(&[op(2, 0, 1, Read(1)), op(1, 2, INF, Write(1))]));
        // And not twice: nil, 1, 2, 1 needs write(1) to happen twice.
        assert!(!ok(&[
            op(1, 0, INF, Write(1)),
            op(3, 1, 2, Read(1)),
            op(4, 3, 4, Write(2)),
            op(3, 5, 6, Read(1)),
        ]));
    }

    #[test]
    fn cas_swaps_only_on_match_and_a_failed_cas_reads_another_value() {
        assert!(ok(&[
            op(1, 0, 1, Write(1)),
            op(
                2,
                2,
                3,
                Cas {
                    expected: 1,
                    new: 2,
                    swapped: Some(true)
                }
            ),
            op(
                3,
                4,
                5,
                Cas {
                    expected: 1,
                    new: 3,
                    swapped: Some(false)
                }
            ),
            op(3, 6, 7, Read(2)),
        ]));
        // A cas that reports failure while the value was what it expected.
        assert!(!ok(&[
            op(1, 0, 1, Write(1)),
            op(
                2,
                2,
                3,
                Cas {
                    expected: 1,
                    new: 2,
                    swapped: Some(false)
                }
            ),
        ]));
        // A cas reported failed, but its new value shows up: applied after all
        // (what "retry re-applies its change" produces).
        assert!(!ok(&[
            op(1, 0, 1, Write(1)),
            op(
                2,
                2,
                3,
                Cas {
                    expected: 1,
                    new: 2,
                    swapped: Some(false)
                }
            ),
            op(3, 4, 5, Read(2)),
        ]));
        // An info cas may take effect.
        assert!(ok(&[
            op(1, 0, 1, Write(1)),
            op(
                2,
                2,
                INF,
                Cas {
                    expected: 1,
                    new: 2,
                    swapped: None
                }
            ),
            op(3, 4, 5, Read(2)),
        ]));
    }

    #[test]
    fn delete_reports_whether_the_key_existed() {
        assert!(ok(&[
            op(1, 0, 1, Delete(Some(false))),
            op(1, 2, 3, Write(4)),
            op(1, 4, 5, Delete(Some(true))),
            op(1, 6, 7, Read(ABSENT)),
        ]));
        assert!(!ok(&[
            op(1, 0, 1, Write(4)),
            op(1, 2, 3, Delete(Some(false)))
        ]));
    }

    #[test]
    fn a_lost_acknowledged_write_is_caught() {
        // Two acknowledged writes, then reads that see the first after the second.
        assert!(!ok(&[
            op(1, 0, 1, Write(1)),
            op(2, 2, 3, Write(2)),
            op(3, 4, 5, Read(1)),
        ]));
    }

    #[test]
    fn ten_thousand_concurrent_ops_check_fast() {
        // 8 processes, overlapping windows; reads see the latest write.
        let mut ops = Vec::new();
        let mut t = 0u64;
        let mut last = ABSENT;
        for i in 0..10_000u64 {
            let kind = match i % 4 {
                0 | 2 => {
                    last = i as Val + 1;
                    Write(last)
                }
                1 => Read(last),
                _ => Cas {
                    expected: last,
                    new: i as Val + 1,
                    swapped: Some(true),
                },
            };
            if let Cas { new, .. } = kind {
                last = new;
            }
            // Each op overlaps its neighbours but takes effect in order.
            ops.push(op(i % 8, t, t + 3, kind));
            t += 2;
        }
        // A sprinkle of unknown outcomes.
        for i in 0..50u64 {
            ops.push(op(100 + i, i * 400, INF, Write(1_000_000 + i as Val)));
        }
        let start = std::time::Instant::now();
        let v = check(&ops, 50_000_000, &mut Values::new());
        assert_eq!(v, Verdict::Linearizable);
        assert!(start.elapsed().as_secs_f64() < 5.0, "{:?}", start.elapsed());
    }

    /// A typed op as the world records it: its arguments and reply as JSON text.
    fn typed(
        values: &mut Values,
        f: crate::typed::TypedF,
        args: &str,
        reply: Option<&str>,
    ) -> OpKind {
        Typed {
            f,
            args: values.intern(args.as_bytes()),
            result: reply.map(|r| values.intern(r.as_bytes())),
        }
    }

    #[test]
    fn typed_commands_are_read_modify_writes_of_the_model() {
        use crate::typed::{Ty, TypedF::*};
        let mut values = Values::new();
        let v = &mut values;
        // Two LPUSHes in parallel, then LRANGE: either order, but both.
        let push1 = typed(v, LPush, r#"["v1"]"#, Some("1"));
        let push2 = typed(v, LPush, r#"["v2"]"#, Some("2"));
        let range = typed(v, LRange, r#"["0","-1"]"#, Some(r#"["v2","v1"]"#));
        let ops = [op(1, 0, 5, push1), op(2, 1, 6, push2), op(3, 7, 8, range)];
        assert_eq!(check(&ops, BUDGET, v), Verdict::Linearizable);
        // A list that lost a completed push is not.
        let lost = typed(v, LRange, r#"["0","-1"]"#, Some(r#"["v2"]"#));
        let ops = [op(1, 0, 5, push1), op(2, 1, 6, push2), op(3, 7, 8, lost)];
        assert!(matches!(check(&ops, BUDGET, v), Verdict::Violation(_)));
        // An HSET applied twice (a retry that re-applies) shows in HSET's reply.
        let hset = typed(v, HSet, r#"["f0","v3"]"#, Some("1"));
        let again = typed(v, HSet, r#"["f0","v4"]"#, Some("1"));
        let ops = [op(1, 0, 1, hset), op(1, 2, 3, again)];
        assert!(matches!(check(&ops, BUDGET, v), Verdict::Violation(_)));
        // WRONGTYPE: a GET of a hash; an SADD of a string.
        let hset_unknown = typed(v, HSet, r#"["f0","v3"]"#, None);
        let ops = [op(1, 0, INF, hset_unknown), op(2, 1, 2, WrongType(Ty::Str))];
        assert_eq!(check(&ops, BUDGET, v), Verdict::Linearizable);
        let ops = [op(1, 0, 1, Write(1)), op(2, 2, 3, WrongType(Ty::Str))];
        assert!(matches!(check(&ops, BUDGET, v), Verdict::Violation(_)));
        let sadd = typed(v, SAdd, r#"["m0"]"#, Some("1"));
        let ops = [op(1, 0, 1, Write(1)), op(2, 2, 3, sadd)];
        assert!(
            matches!(check(&ops, BUDGET, v), Verdict::Violation(_)),
            "an SADD cannot succeed on a string"
        );
        // A GET cannot read nil from a hash (MGET's reads of collections).
        let ops = [op(1, 0, 1, hset), op(2, 2, 3, Read(ABSENT))];
        assert!(matches!(check(&ops, BUDGET, v), Verdict::Violation(_)));
        // An unknown APPEND on a hash changed nothing.
        let app = v.intern(b"+a1");
        let hget = typed(v, HGet, r#"["f0"]"#, Some(r#""v3""#));
        let ops = [
            op(1, 0, 1, hset),
            op(
                2,
                2,
                INF,
                Append {
                    suffix: app,
                    len: None,
                },
            ),
            op(3, 3, 4, hget),
        ];
        assert_eq!(check(&ops, BUDGET, v), Verdict::Linearizable);
        // A transaction whose GET met the hash (WRONGTYPE) and whose SET
        // overwrote it: then a read sees its value; it cannot have met a
        // string, nor an absent key.
        let w = v.intern(b"v9");
        let over = TxnOverType { write: w };
        let ops = [op(1, 0, 1, hset), op(2, 2, 3, over), op(3, 4, 5, Read(w))];
        assert_eq!(check(&ops, BUDGET, v), Verdict::Linearizable);
        let ops = [op(1, 0, 1, Write(1)), op(2, 2, 3, over)];
        assert!(matches!(check(&ops, BUDGET, v), Verdict::Violation(_)));
        assert!(matches!(
            check(&[op(2, 2, 3, over)], BUDGET, v),
            Verdict::Violation(_)
        ));
    }
}
