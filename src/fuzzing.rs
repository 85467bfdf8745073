//! The fuzz targets' bodies (`tests/fuzz`, run by `scripts/fuzz.sh` with
//! cargo-fuzz; their corpus is replayed by `tests/fuzz_corpus.rs` in every
//! test run). Each takes arbitrary bytes and must neither panic nor break an
//! invariant; an invariant broken is a panic, which the fuzzer reports.

use crate::auth::{ClusterSecret, Role};
use crate::codec::{
    decode_payload, encode_frame, validate_hello, validate_peer_identity, Frame, FrameDecoder,
    Hello, MAGIC, PROTOCOL_VERSION,
};
use crate::core::{Config, Envelope, Input, Message, Node, Now, Placement};
use crate::resp::{parse_reply, RequestParser, RespLimits};

/// Small bounds, so the fuzzer reaches them.
fn limits() -> RespLimits {
    RespLimits {
        bulk_len_max_bytes: 4096,
        array_len_max: 64,
        inline_len_max_bytes: 1024,
        command_size_max_bytes: 16 * 1024,
        ..RespLimits::default()
    }
}

/// The RESP request parser and the reply parser, fed in two chunks.
pub fn resp(data: &[u8]) {
    let l = limits();
    let cut = data.first().map_or(0, |&b| b as usize % (data.len() + 1));
    let mut p = RequestParser::new(l.clone());
    for chunk in [&data[..cut], &data[cut..]] {
        p.feed(chunk);
        loop {
            match p.next_command() {
                Ok(Some(args)) => {
                    assert!(!args.is_empty(), "a command has a name");
                    let size: usize = args.iter().map(Vec::len).sum();
                    assert!(size <= l.command_size_max_bytes, "a command past the bound");
                    assert!(args.iter().all(|a| a.len() <= l.bulk_len_max_bytes));
                }
                Ok(None) => break,
                Err(_) => return,
            }
        }
        assert!(p.buffered_bytes() <= data.len());
    }
    let _ = parse_reply(data, &l);
}

/// The peer frame decoder, plain and with frame tags, fed byte runs.
pub fn frames(data: &[u8]) {
    for tagged in [false, true] {
        let mut d = FrameDecoder::new(64 * 1024);
        if tagged {
            let secret = ClusterSecret::new(b"fuzzing-secret-0123").expect("valid secret");
            d.set_mac(secret.session(b"transcript"));
        }
        for chunk in data.chunks(97) {
            d.feed(chunk);
            loop {
                match d.next_frame() {
                    Ok(Some(f)) => {
                        // What decodes re-encodes, and decodes the same.
                        let mut out = Vec::new();
                        encode_frame(&f, &mut out).expect("a decoded frame encodes");
                        assert_eq!(decode_payload(&out[4..]).as_ref(), Ok(&f));
                    }
                    Ok(None) => break,
                    Err(_) => return,
                }
            }
        }
    }
}

fn our_hello() -> Hello {
    Hello {
        magic: MAGIC,
        protocol_version: PROTOCOL_VERSION,
        cluster_id: "fuzz".into(),
        membership_hash: Placement::replication_fingerprint(3),
        membership_epoch: 0,
        node_id: 1,
        incarnation: 1_000,
        known_peer_incarnation: 0,
        authenticated: true,
        nonce: [7; 32],
    }
}

/// The acceptor's handshake checks on an arbitrary first frame and proof:
/// nothing without the secret's proof is accepted.
pub fn handshake(data: &[u8]) {
    let (first, rest) = data.split_at(data.len().min(data.first().map_or(0, |&b| b as usize)));
    let Ok(Frame::Hello(theirs)) = decode_payload(first) else {
        return;
    };
    let ours = our_hello();
    let ok = validate_hello(&ours, &theirs)
        .and_then(|()| validate_peer_identity(&ours, &theirs, None, true));
    if ok.is_err() {
        return;
    }
    assert!(theirs.node_id == 2 || theirs.node_id == 3);
    let secret = ClusterSecret::new(b"fuzzing-secret-0123").expect("valid secret");
    let mut t = Vec::new();
    let _ = encode_frame(&Frame::Hello(theirs), &mut t);
    let _ = encode_frame(&Frame::Hello(ours), &mut t);
    if let Ok(Frame::Proof(p)) = decode_payload(rest) {
        // A proof the fuzzer made up never verifies (it would have to find
        // an HMAC-SHA256 output); if it ever does, something is very wrong.
        assert!(
            !secret.verify(Role::Dialer, &t, &p),
            "a forged proof verified"
        );
    }
}

/// Node 1 of 3 fed arbitrary peer envelopes (decoded from the bytes, then
/// addressed to it so most pass the first checks), with client writes in
/// between. Invariants: no panic; every slot's promised ballot is at least
/// its accepted one; the round clock stays within the raise budget above
/// the highest round both peers named (a round every peer vouches for is
/// the cluster's, `Node::vouched_round`: the fuzzer plays both peers, more
/// liars than a 3-node cluster tolerates, so only that bound holds).
pub fn node(data: &[u8]) {
    let cfg = Config::new(1, vec![1, 2, 3]);
    let (max, rate) = (cfg.round_jump_max, cfg.round_raise_per_sec);
    let Ok(mut n) = Node::new(cfg, 5, true) else {
        return;
    };
    let mut out = crate::core::Effects::default();
    let mut now = Now {
        mono_us: 1,
        wall_ms: 1_700_000_000_000,
    };
    for (node, inc) in [(2, 5), (3, 5)] {
        n.handle(
            now,
            Input::PeerUp {
                node,
                incarnation: inc,
            },
            &mut out,
        );
    }
    let mut own_rounds = 0u64;
    // The highest round each peer named in anything we fed the node.
    let mut claims = [0u64; 4];
    let mut calls = 0u64;
    let mut rest = data;
    while rest.len() > 2 {
        let len = (usize::from(rest[0]) << 8 | usize::from(rest[1])).min(rest.len() - 2);
        let (chunk, tail) = rest[2..].split_at(len);
        rest = tail;
        now.mono_us += 1_000;
        out.clear();
        match decode_payload(chunk) {
            Ok(Frame::Batch(envs)) => {
                for mut env in envs.into_iter().take(64) {
                    if env.to_incarnation % 2 == 0 {
                        // Mostly well addressed, sometimes not.
                        env.to = 1;
                        env.to_incarnation = 5;
                    }
                    if let Some(c) = claims.get_mut(env.from as usize) {
                        *c = (*c).max(env.msg.max_round());
                    }
                    n.handle(now, Input::Peer(env), &mut out);
                    calls += 1;
                }
            }
            _ => {
                own_rounds += 1;
                let key = chunk.iter().take(4).copied().collect::<Vec<u8>>();
                let command = crate::core::Command::Set(chunk.into());
                n.handle(
                    now,
                    Input::Request {
                        id: own_rounds,
                        key,
                        command,
                    },
                    &mut out,
                );
            }
        }
        n.handle(now, Input::Tick, &mut out);
        calls += 2;
        for (_, slot) in n.acceptor().slots() {
            if let Some((b, _)) = &slot.accepted {
                assert!(slot.promised >= *b, "promised below accepted");
            }
        }
        let vouched = claims[2].min(claims[3]);
        let bound = max
            .saturating_add(vouched)
            .saturating_add(rate.saturating_mul(now.mono_us / 1_000_000 + 1))
            .saturating_add(calls * 64 + 1_000);
        assert!(
            n.round_clock() <= bound,
            "round clock {} past {bound}",
            n.round_clock()
        );
    }
}

/// An envelope for seeds: a Prepare from node 2.
pub fn seed_batch(msg: Message) -> Vec<u8> {
    let env = Envelope {
        from: 2,
        from_incarnation: 5,
        to: 1,
        to_incarnation: 5,
        epoch: 0,
        msg,
    };
    let mut out = Vec::new();
    let _ = encode_frame(&Frame::Batch(vec![env]), &mut out);
    out[4..].to_vec()
}
