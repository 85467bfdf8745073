//! TLS for the client port and the peer link (rustls through futures-rustls,
//! which speaks the futures-io traits async-std's sockets implement).
//!
//! Optional, off by default. With `tls-clients yes` the client port speaks
//! TLS only; with `tls-cluster yes` (Redis's name for its cluster bus) every
//! peer link is mutual TLS: both ends present a certificate and verify the
//! other's against `tls-ca-cert-file`. Either way the connection code is the
//! same generic code as on plain TCP (client_conn.rs, peer.rs): only the
//! stream type differs, so the plain path compiles to what it was.
//!
//! A peer link under TLS still runs the secret handshake (when a secret is
//! set: node ids, incarnations and both nonces under HMAC), but its frames
//! carry no HMAC tag: TLS's AEAD already authenticates every record, so a
//! second MAC would only cost a SHA-256 pass per frame.
//!
//! `synod gen-certs` ([`generate`]) makes a CA and a certificate for local
//! clusters and tests (`scripts/cluster.sh start --tls`).

use async_std::io::WriteExt;
use async_std::net::TcpStream;
use futures_rustls::pki_types::pem::PemObject;
use futures_rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use futures_rustls::rustls::crypto::ring::default_provider;
use futures_rustls::rustls::crypto::CryptoProvider;
use futures_rustls::rustls::server::WebPkiClientVerifier;
use futures_rustls::rustls::{ClientConfig, RootCertStore, ServerConfig};
use futures_rustls::{TlsAcceptor, TlsConnector};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// The first byte of every TLS connection (a handshake record). A plain
/// Redis client starts with `*` or a letter, a plain peer with a length.
const TLS_HANDSHAKE_RECORD: u8 = 0x16;

/// Whether TLS clients must present a certificate (Redis's `tls-auth-clients`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum AuthClients {
    /// No client certificate asked for (synod's default: clients prove who
    /// they are with AUTH; TLS keeps the password and the data secret).
    #[default]
    No,
    /// Asked for; a client without one is let in, one with a bad one is not.
    Optional,
    /// Required (Redis's default).
    Yes,
}

impl AuthClients {
    pub fn parse(v: &str) -> Result<AuthClients, String> {
        match v.trim().to_ascii_lowercase().as_str() {
            "no" | "false" => Ok(AuthClients::No),
            "optional" => Ok(AuthClients::Optional),
            "yes" | "true" => Ok(AuthClients::Yes),
            _ => Err(format!("'{v}' is not yes, no or optional")),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            AuthClients::No => "no",
            AuthClients::Optional => "optional",
            AuthClients::Yes => "yes",
        }
    }
}

/// The TLS settings (src/settings.rs names each).
#[derive(Clone, Debug, Default)]
pub struct TlsOptions {
    /// This node's certificate chain, PEM (`tls-cert-file`).
    pub cert_file: String,
    /// Its private key, PEM (`tls-key-file`).
    pub key_file: String,
    /// The CA that signs peers' (and, if asked for, clients') certificates
    /// (`tls-ca-cert-file`).
    pub ca_cert_file: String,
    /// The client port speaks TLS only (`tls-clients`).
    pub clients: bool,
    /// Client certificates (`tls-auth-clients`).
    pub auth_clients: AuthClients,
    /// Peer links are mutual TLS (`tls-cluster`).
    pub cluster: bool,
}

/// The loaded configurations: what accepts clients, what accepts and dials peers.
pub(crate) struct Tls {
    pub clients: Option<TlsAcceptor>,
    pub peer_accept: Option<TlsAcceptor>,
    pub peer_dial: Option<TlsConnector>,
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(default_provider())
}

fn read_certs(path: &str, what: &str) -> Result<Vec<CertificateDer<'static>>, String> {
    if path.is_empty() {
        return Err(format!("{what} is needed (a PEM file)"));
    }
    let certs = CertificateDer::pem_file_iter(path)
        .and_then(|i| i.collect::<Result<Vec<_>, _>>())
        .map_err(|e| format!("{what} {path}: {e}"))?;
    if certs.is_empty() {
        return Err(format!("{what} {path}: no certificate in it"));
    }
    Ok(certs)
}

fn roots(opts: &TlsOptions) -> Result<Arc<RootCertStore>, String> {
    let mut roots = RootCertStore::empty();
    for c in read_certs(&opts.ca_cert_file, "tls-ca-cert-file")? {
        roots
            .add(c)
            .map_err(|e| format!("tls-ca-cert-file {}: {e}", opts.ca_cert_file))?;
    }
    Ok(Arc::new(roots))
}

fn identity(
    opts: &TlsOptions,
) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), String> {
    let certs = read_certs(&opts.cert_file, "tls-cert-file")?;
    if opts.key_file.is_empty() {
        return Err("tls-key-file is needed (a PEM file)".into());
    }
    let key = PrivateKeyDer::from_pem_file(&opts.key_file)
        .map_err(|e| format!("tls-key-file {}: {e}", opts.key_file))?;
    Ok((certs, key))
}

fn server(
    opts: &TlsOptions,
    verify: Option<(Arc<RootCertStore>, bool)>,
) -> Result<TlsAcceptor, String> {
    let (certs, key) = identity(opts)?;
    let builder = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?;
    let builder = match verify {
        None => builder.with_no_client_auth(),
        Some((roots, required)) => {
            let v = WebPkiClientVerifier::builder_with_provider(roots, provider());
            let v = if required {
                v
            } else {
                v.allow_unauthenticated()
            };
            builder.with_client_cert_verifier(v.build().map_err(|e| e.to_string())?)
        }
    };
    let cfg = builder
        .with_single_cert(certs, key)
        .map_err(|e| format!("tls-cert-file / tls-key-file: {e}"))?;
    Ok(TlsAcceptor::from(Arc::new(cfg)))
}

impl Tls {
    /// Reads the files the options name; the error says which and why.
    pub fn load(opts: &TlsOptions) -> Result<Tls, String> {
        let clients = if opts.clients {
            let verify = match opts.auth_clients {
                AuthClients::No => None,
                AuthClients::Optional => Some((roots(opts)?, false)),
                AuthClients::Yes => Some((roots(opts)?, true)),
            };
            Some(server(opts, verify)?)
        } else {
            None
        };
        let (peer_accept, peer_dial) = if opts.cluster {
            let roots = roots(opts)?;
            let accept = server(opts, Some((roots.clone(), true)))?;
            let (certs, key) = identity(opts)?;
            let dial = ClientConfig::builder_with_provider(provider())
                .with_safe_default_protocol_versions()
                .map_err(|e| e.to_string())?
                .with_root_certificates(roots)
                .with_client_auth_cert(certs, key)
                .map_err(|e| format!("tls-cert-file / tls-key-file: {e}"))?;
            (Some(accept), Some(TlsConnector::from(Arc::new(dial))))
        } else {
            (None, None)
        };
        Ok(Tls {
            clients,
            peer_accept,
            peer_dial,
        })
    }
}

/// The name a peer's certificate must carry: the host of its `HOST:PORT`.
pub(crate) fn server_name(addr: &str) -> Result<ServerName<'static>, String> {
    let host = addr.rsplit_once(':').map_or(addr, |(h, _)| h);
    let host = host.trim_start_matches('[').trim_end_matches(']');
    ServerName::try_from(host.to_string())
        .map_err(|e| format!("'{host}' cannot be checked against a certificate: {e}"))
}

/// Waits (up to `limit`) for the first byte and says whether it opens a TLS
/// handshake; a connection that sends nothing is an error.
pub(crate) async fn starts_with_tls(stream: &TcpStream, limit: Duration) -> Result<bool, String> {
    let mut first = [0u8; 1];
    match async_std::future::timeout(limit, stream.peek(&mut first)).await {
        Ok(Ok(1)) => Ok(first[0] == TLS_HANDSHAKE_RECORD),
        Ok(Ok(_)) => Err("closed before a TLS handshake".into()),
        Ok(Err(e)) => Err(format!("read error before the TLS handshake: {e}")),
        Err(_) => Err(format!("no TLS handshake within {} ms", limit.as_millis())),
    }
}

/// What a plain-TCP client on a TLS client port is told before it is closed.
pub(crate) const PLAIN_CLIENT_ON_TLS_PORT: &str = "-ERR this port speaks TLS only \
(tls-clients yes): connect with TLS (redis-cli --tls --cacert CA.crt, redis-py ssl=True)\r\n";

/// Accepts a TLS client on `stream`: refuses (telling it in plain text) a
/// client that did not start a TLS handshake, then handshakes within `limit`.
pub(crate) async fn accept_client(
    acceptor: &TlsAcceptor,
    stream: &TcpStream,
    limit: Duration,
) -> Result<futures_rustls::server::TlsStream<TcpStream>, String> {
    if !starts_with_tls(stream, limit).await? {
        let _ = (&*stream)
            .write_all(PLAIN_CLIENT_ON_TLS_PORT.as_bytes())
            .await;
        return Err(
            "a plain-TCP client on the TLS-only client port (tls-clients yes); \
                    told it to use TLS"
                .into(),
        );
    }
    match async_std::future::timeout(limit, acceptor.accept(stream.clone())).await {
        Ok(Ok(s)) => Ok(s),
        Ok(Err(e)) => Err(format!("TLS handshake failed: {e}")),
        Err(_) => Err(format!("no TLS handshake within {} ms", limit.as_millis())),
    }
}

/// A CA and one certificate signed by it, as `synod gen-certs` writes them.
pub struct GeneratedCerts {
    pub ca_cert_pem: String,
    pub ca_key_pem: String,
    pub cert_pem: String,
    pub key_pem: String,
}

/// Makes a CA and a certificate it signs for `hosts` (IP addresses or DNS
/// names, each a subjectAltName), usable by a server and a client: one
/// certificate serves every node of a local cluster, and clients with
/// `tls-auth-clients yes`.
pub fn generate(hosts: &[String]) -> Result<GeneratedCerts, String> {
    use rcgen::{
        BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer,
        KeyPair, KeyUsagePurpose,
    };
    let err = |e: rcgen::Error| e.to_string();
    let mut ca = CertificateParams::new(Vec::<String>::new()).map_err(err)?;
    ca.distinguished_name
        .push(DnType::CommonName, "synod cluster CA");
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca_key = KeyPair::generate().map_err(err)?;
    let ca_cert = ca.self_signed(&ca_key).map_err(err)?;
    let mut leaf = CertificateParams::new(hosts.to_vec()).map_err(err)?;
    leaf.distinguished_name
        .push(DnType::CommonName, "synod node");
    leaf.extended_key_usages = vec![
        ExtendedKeyUsagePurpose::ServerAuth,
        ExtendedKeyUsagePurpose::ClientAuth,
    ];
    let key = KeyPair::generate().map_err(err)?;
    let issuer = Issuer::new(ca, &ca_key);
    let cert = leaf.signed_by(&key, &issuer).map_err(err)?;
    Ok(GeneratedCerts {
        ca_cert_pem: ca_cert.pem(),
        ca_key_pem: ca_key.serialize_pem(),
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
    })
}

/// Writes [`generate`]'s files into `dir`: ca.crt, ca.key, node.crt,
/// node.key (the keys mode 600).
pub fn write_certs(dir: &Path, hosts: &[String]) -> Result<(), String> {
    let g = generate(hosts)?;
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    for (name, text, secret) in [
        ("ca.crt", &g.ca_cert_pem, false),
        ("ca.key", &g.ca_key_pem, true),
        ("node.crt", &g.cert_pem, false),
        ("node.key", &g.key_pem, true),
    ] {
        let path = dir.join(name);
        std::fs::write(&path, text).map_err(|e| format!("{}: {e}", path.display()))?;
        #[cfg(unix)]
        if secret {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))
                .map_err(|e| format!("{}: {e}", path.display()))?;
        }
    }
    Ok(())
}
