//! Issue 14: transactions in the simulator's workload. MULTI/EXEC on one key
//! is one read-modify-write (`txn` in the history, checked for
//! linearizability with everything else), WATCH makes EXEC answer nil when
//! the key changed, and EXEC over two keys is refused with nothing applied.

mod common;

use synod_sim::history::{HVal, Type, F};

#[test]
fn transactions_are_linearizable_and_cross_key_ones_apply_nothing() {
    let sc = common::scenario("transactions");
    let (mut applied, mut nil, mut refused, mut watched) = (0, 0, 0, 0);
    for seed in 0..30 {
        let r = common::run_passing("transactions", &sc, seed);
        for e in &r.history {
            match (e.f, e.ty, e.value) {
                (F::Txn, Type::Ok, HVal::Pair(..)) => applied += 1,
                (F::Txn, Type::Ok, HVal::Null) => nil += 1,
                (F::Txn, Type::Fail, _) => refused += 1,
                (F::Watch, Type::Ok, _) => watched += 1,
                _ => {}
            }
        }
    }
    // Each kind of answer happened, so the checks above saw each of them.
    assert!(applied > 0, "no transaction applied");
    assert!(watched > 0, "no WATCH answered");
    assert!(
        nil > 0,
        "no EXEC answered nil after its watched key changed"
    );
    assert!(refused > 0, "no transaction over two keys was refused");
}

#[test]
fn a_history_with_transactions_reads_back_from_jsonl() {
    let sc = common::scenario("transactions");
    let r = common::run_passing("transactions", &sc, 7);
    let text = r.history_jsonl();
    assert!(text.contains("\"f\":\"txn\""), "no txn line");
    let (events, _, values) = synod_sim::history::from_jsonl(&text).expect("parses");
    assert_eq!(events.len(), r.history.len());
    let ops = synod_sim::history::ops_by_key(&events, &values).expect("ops");
    assert!(!ops.is_empty());
}
