//! TLS on the client port and the peer link (docs/security.md, TLS), against
//! real `synod node` processes whose CA and certificate each test makes with
//! rcgen (`synod::runtime::tls::generate`, what `synod gen-certs` writes).

mod common;

use common::Cluster;
use futures_rustls::pki_types::pem::PemObject;
use futures_rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use futures_rustls::rustls::{ClientConfig, ClientConnection, RootCertStore, StreamOwned};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// A fresh CA and node certificate for 127.0.0.1 in a folder of their own.
fn certs(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("synod-tls-{}-{name}", std::process::id()));
    synod::runtime::tls::write_certs(&dir, &["127.0.0.1".into(), "localhost".into()]).unwrap();
    dir
}

fn file(dir: &std::path::Path, name: &str) -> String {
    dir.join(name).to_string_lossy().into_owned()
}

/// A 3-node cluster with a TLS-only client port and mutual-TLS peer links.
fn tls_cluster(dir: &std::path::Path) -> Cluster {
    let (cert, key, ca) = (
        file(dir, "node.crt"),
        file(dir, "node.key"),
        file(dir, "ca.crt"),
    );
    Cluster::start_tls(
        3,
        3,
        &[
            "--tls-clients",
            "yes",
            "--tls-cluster",
            "yes",
            "--tls-cert-file",
            &cert,
            "--tls-key-file",
            &key,
            "--tls-ca-cert-file",
            &ca,
        ],
        &ca,
    )
}

fn info_u64(c: &Cluster, id: u32, field: &str) -> u64 {
    let info = c.client(id).info(None).unwrap();
    info.lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")))
        .unwrap_or_else(|| panic!("no {field} in INFO:\n{info}"))
        .trim()
        .parse()
        .unwrap()
}

/// A well-formed Hello claiming to be node 2: a node that took the
/// connection would answer it with its own Hello and proof.
fn hello_frame() -> Vec<u8> {
    use synod::codec::{encode_frame, Frame, Hello, MAGIC, PROTOCOL_VERSION};
    let hello = Hello {
        magic: MAGIC,
        protocol_version: PROTOCOL_VERSION,
        cluster_id: common::CLUSTER_ID.into(),
        membership_hash: synod::core::Placement::replication_fingerprint(3),
        membership_epoch: 0,
        node_id: 2,
        incarnation: 7,
        known_peer_incarnation: 0,
        authenticated: true,
        nonce: synod::auth::nonce(),
    };
    let mut out = Vec::new();
    encode_frame(&Frame::Hello(hello), &mut out).unwrap();
    out
}

/// Reads what the node sends until it closes the connection.
fn read_to_close(s: &mut impl Read) -> Vec<u8> {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => return got,
            Ok(n) => got.extend_from_slice(&buf[..n]),
        }
    }
}

#[test]
fn a_tls_cluster_agrees_on_writes_and_plain_clients_are_told_to_use_tls() {
    let dir = certs("cluster");
    let c = tls_cluster(&dir);
    // Writes through every node over TLS, each read back from every node:
    // the rounds ran over the mutual-TLS peer links.
    for i in 0..12u32 {
        let key = format!("k{i}");
        c.client(i % 3 + 1)
            .set(key.as_bytes(), format!("v{i}").as_bytes())
            .unwrap();
    }
    for i in 0..12u32 {
        for id in 1..=3 {
            assert_eq!(
                c.client(id).get(format!("k{i}").as_bytes()).unwrap(),
                Some(format!("v{i}").into_bytes()),
                "node {id}, key k{i}"
            );
        }
    }
    for id in 1..=3 {
        assert_eq!(info_u64(&c, id, "peers_up"), 2, "node {id}'s TLS links");
        assert_eq!(info_u64(&c, id, "peer_auth_refused"), 0);
    }
    // A plain-TCP client on the TLS port gets a clear error, then EOF.
    let mut plain = TcpStream::connect(c.addr(1)).unwrap();
    plain
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    plain.write_all(b"*1\r\n$4\r\nPING\r\n").unwrap();
    let got = String::from_utf8_lossy(&read_to_close(&mut plain)).into_owned();
    assert!(
        got.starts_with("-ERR this port speaks TLS only (tls-clients yes)"),
        "{got:?}"
    );
    assert_eq!(info_u64(&c, 1, "bad_client_connections"), 1);
    // redis-cli --tls, checking the node's certificate against the CA.
    let Ok(out) = std::process::Command::new("redis-cli")
        .args(["--tls", "--cacert", &file(&dir, "ca.crt")])
        .args(["-p", &c.addr(2).port().to_string(), "GET", "k5"])
        .output()
    else {
        eprintln!("redis-cli not installed: its part of this test is skipped");
        return;
    };
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "v5", "{out:?}");
}

#[test]
fn the_peer_port_refuses_plain_peers_and_certificates_of_another_ca() {
    let dir = certs("peers");
    let c = tls_cluster(&dir);
    let refused = |c: &Cluster| info_u64(c, 1, "bad_peer_connections");
    let before = refused(&c);
    // A plain-TCP peer: its Hello is not a TLS handshake.
    let mut plain = TcpStream::connect(c.peer_addr(1)).unwrap();
    plain
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    plain.write_all(&hello_frame()).unwrap();
    assert!(read_to_close(&mut plain).is_empty());
    common::eventually(20, || (refused(&c) > before).then_some(()));
    // A TLS client that trusts the node but shows a certificate from a CA
    // of its own: the node's mutual TLS refuses it before any Hello.
    let other = certs("other-ca");
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(dir.join("ca.crt")).unwrap() {
        roots.add(cert.unwrap()).unwrap();
    }
    let chain: Vec<_> = CertificateDer::pem_file_iter(other.join("node.crt"))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let key = PrivateKeyDer::from_pem_file(other.join("node.key")).unwrap();
    let provider = Arc::new(futures_rustls::rustls::crypto::ring::default_provider());
    let cfg = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_client_auth_cert(chain, key)
        .unwrap();
    let name = ServerName::try_from("127.0.0.1").unwrap();
    let conn = ClientConnection::new(Arc::new(cfg), name).unwrap();
    let tcp = TcpStream::connect(c.peer_addr(1)).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let mut tls = StreamOwned::new(conn, tcp);
    let _ = tls.write_all(&hello_frame()).and_then(|()| tls.flush());
    assert!(read_to_close(&mut tls).is_empty(), "no Hello back");
    let before = before + 1;
    common::eventually(20, || (refused(&c) > before).then_some(()));
    // The members still talk to each other.
    c.client(2).set(b"after", b"yes").unwrap();
    assert_eq!(c.client(3).get(b"after").unwrap(), Some(b"yes".to_vec()));
}

/// The routed client over TLS (`synod::client::Cluster::connect_tls`) fails
/// over as it does on plain TCP: with a key's home killed, the TLS session
/// to it is seen closed before a command is sent on it (not after, when a
/// write's outcome would be unknown), and each key's reads and writes go to
/// its next replica over a TLS connection of their own.
#[test]
fn a_routed_tls_client_fails_over_when_the_home_is_down() {
    let dir = certs("routed");
    let mut c = tls_cluster(&dir);
    let addrs: Vec<String> = (1..=3).map(|id| c.addr(id).to_string()).collect();
    let timeout = Duration::from_millis(synod::client::DEFAULT_TIMEOUT_MS);
    let mut routed =
        synod::client::Cluster::connect_tls(&addrs, timeout, &file(&dir, "ca.crt")).unwrap();
    let placement = synod::core::Placement::new(&[1, 2, 3], 3);
    let keys: Vec<String> = (0..500)
        .map(|i| format!("fo{i}"))
        .filter(|k| placement.replicas_of(k.as_bytes())[0] == 1)
        .take(8)
        .collect();
    assert_eq!(keys.len(), 8);
    for k in &keys {
        routed.set(k.as_bytes(), b"before").unwrap();
    }
    c.kill(1);
    for k in &keys {
        // A write first: it must not be sent on the dead home's session.
        routed.set(k.as_bytes(), b"after").unwrap();
        assert_eq!(
            routed.get(k.as_bytes()).unwrap(),
            Some(b"after".to_vec()),
            "{k}"
        );
        assert!(routed.del(k.as_bytes()).unwrap(), "{k}");
    }
    for k in &keys {
        assert_eq!(c.client(2).get(k.as_bytes()).unwrap(), None, "{k}");
    }
    // Plain TCP is not used on the way: the nodes counted no bad client.
    for id in 2..=3 {
        assert_eq!(info_u64(&c, id, "bad_client_connections"), 0);
    }
}
