//! Bad input on either port closes that connection only; the node keeps serving.

mod common;

use common::{Cluster, CLUSTER_ID};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;
use synod::codec::{encode_frame, Frame, Hello, MAGIC, PROTOCOL_VERSION};
use synod::core::Placement;

/// Sends `bytes`, then reads until the node closes the connection; returns what it said.
fn send_and_read_until_closed(addr: std::net::SocketAddr, bytes: &[u8]) -> Vec<u8> {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let _ = s.write_all(bytes);
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return got,
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return got,
            Err(e) => panic!("node did not close the connection: {e}"),
        }
    }
}

fn still_serves(c: &Cluster, tag: &str) {
    for id in 1..=3 {
        let mut client = c.client(id);
        client.set(b"alive", tag.as_bytes()).unwrap();
        assert_eq!(client.get(b"alive").unwrap(), Some(tag.as_bytes().to_vec()));
    }
}

#[test]
fn garbage_on_the_peer_port_closes_only_that_connection() {
    let c = Cluster::start(3, 3);
    send_and_read_until_closed(
        c.peer_addr(1),
        b"\x00\x00\x00\x05hello garbage that is not bincode",
    );
    still_serves(&c, "after-garbage");
}

#[test]
fn an_oversized_frame_on_the_peer_port_is_refused_before_allocation() {
    let c = Cluster::start(3, 3);
    // Declares a 4 GiB frame and sends nothing more: the node must not wait for it.
    send_and_read_until_closed(c.peer_addr(2), &[0xff, 0xff, 0xff, 0xff]);
    still_serves(&c, "after-oversized");
}

#[test]
fn a_handshake_with_the_wrong_cluster_id_is_refused() {
    let c = Cluster::start(3, 3);
    let hello = |cluster_id: &str| Hello {
        magic: MAGIC,
        protocol_version: PROTOCOL_VERSION,
        cluster_id: cluster_id.to_string(),
        membership_hash: Placement::replication_fingerprint(3),
        membership_epoch: 0,
        node_id: 2,
        incarnation: 1,
        known_peer_incarnation: 0,
        authenticated: false,
        nonce: [0; 32],
    };
    let mut frame = Vec::new();
    encode_frame(&Frame::Hello(hello("some-other-cluster")), &mut frame).unwrap();
    send_and_read_until_closed(c.peer_addr(1), &frame);
    // The same handshake with the right cluster id but a wrong membership view.
    let mut wrong_view = hello(CLUSTER_ID);
    wrong_view.membership_hash ^= 1;
    frame.clear();
    encode_frame(&Frame::Hello(wrong_view), &mut frame).unwrap();
    send_and_read_until_closed(c.peer_addr(1), &frame);
    still_serves(&c, "after-bad-handshakes");
}

#[test]
fn garbage_on_the_client_port_gets_an_error_and_a_close() {
    let c = Cluster::start(3, 3);
    let said = send_and_read_until_closed(c.addr(1), b"*2\r\n$3\r\nGET\r\n$x\r\n");
    let said = String::from_utf8_lossy(&said);
    assert!(said.starts_with("-ERR Protocol error"), "{said}");
    // A bulk length over the bound is refused from its header alone.
    let said = send_and_read_until_closed(c.addr(2), b"*2\r\n$3\r\nSET\r\n$99999999999\r\n");
    assert!(String::from_utf8_lossy(&said).starts_with("-ERR Protocol error"));
    still_serves(&c, "after-client-garbage");
}

#[test]
fn an_unknown_command_is_an_error_and_the_connection_stays_usable() {
    let c = Cluster::start(3, 3);
    let mut client = c.client(1);
    let err = client.command(&[b"FOO", b"x"]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "ERR unknown command 'FOO', with args beginning with: 'x' "
    );
    client.set(b"k", b"v").unwrap();
    assert_eq!(client.get(b"k").unwrap(), Some(b"v".to_vec()));
}
