//! `ServerTls` against the client side of [`crate::net::client`], handshaking in memory with
//! certificates made for each test.

use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};
use rustls::pki_types::ServerName;
use rustls::{ClientConnection, Connection, ServerConnection};

use super::*;
use crate::net::client::tls::tests::pump;
use crate::net::client::{ClientTlsConfig, client_config};

/// A CA that signs certificates for `localhost`.
struct Ca(CertifiedIssuer<'static, KeyPair>);

impl Ca {
    fn new(name: &str) -> Ca {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.distinguished_name.push(DnType::CommonName, name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        Ca(CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap())
    }

    /// (certificate PEM, key PEM) for `localhost`, valid until `not_after_year`.
    fn leaf(&self, not_after_year: i32) -> (String, String) {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(vec!["localhost".to_owned()]).unwrap();
        params.not_before = rcgen::date_time_ymd(2000, 1, 1);
        params.not_after = rcgen::date_time_ymd(not_after_year, 1, 1);
        let cert = params.signed_by(&key, &self.0).unwrap();
        (cert.pem(), key.serialize_pem())
    }
}

/// Files in a temp dir: the server's certificate and key, its CA, and a client CA.
struct Files {
    dir: tempfile::TempDir,
}

impl Files {
    fn new() -> Files {
        Files {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.dir.path().join(name);
        // Replaced by rename, as certificate managers do.
        let tmp = self.dir.path().join(format!("{name}.tmp"));
        std::fs::write(&tmp, text).unwrap();
        std::fs::rename(&tmp, &path).unwrap();
        path
    }
}

fn server_config(files: &Files, ca: &Ca) -> ServerTlsConfig {
    let (cert, key) = ca.leaf(4000);
    ServerTlsConfig {
        cert_file: files.write("server.pem", &cert),
        key_file: files.write("server.key", &key),
        client_ca_file: None,
        min_version: None,
        max_version: None,
        reload_interval: None,
    }
}

fn client(files: &Files, ca: &Ca, identity: Option<(String, String)>) -> ClientTlsConfig {
    let mut tls = ClientTlsConfig {
        ca_file: Some(files.write("client-trusts.pem", &ca.0.pem())),
        ..Default::default()
    };
    if let Some((cert, key)) = identity {
        tls.cert_file = Some(files.write("client.pem", &cert));
        tls.key_file = Some(files.write("client.key", &key));
    }
    tls
}

/// A full handshake; `Ok` with the certificate the server presented.
fn handshake(server: &ServerTls, client_tls: &ClientTlsConfig) -> Result<Vec<u8>, rustls::Error> {
    let config = client_config(client_tls, &[]).unwrap();
    let name = ServerName::try_from("localhost").unwrap();
    let mut client = Connection::Client(ClientConnection::new(Arc::new(config), name)?);
    let mut server = Connection::Server(ServerConnection::new(server.current())?);
    for _ in 0..10 {
        pump(&mut client, &mut server)?;
        pump(&mut server, &mut client)?;
        if !client.is_handshaking() && !server.is_handshaking() {
            let Connection::Client(client) = client else {
                unreachable!()
            };
            let presented = client.peer_certificates().unwrap();
            return Ok(presented[0].to_vec());
        }
    }
    panic!("the handshake did not finish");
}

#[test]
fn serves_its_certificate() {
    let (files, ca) = (Files::new(), Ca::new("server CA"));
    let server = ServerTls::new(&server_config(&files, &ca), &[]).unwrap();
    handshake(&server, &client(&files, &ca, None)).unwrap();
}

#[test]
fn mutual_tls_wants_a_certificate_from_the_client_ca() {
    let (files, ca, client_ca) = (Files::new(), Ca::new("server CA"), Ca::new("client CA"));
    let mut config = server_config(&files, &ca);
    config.client_ca_file = Some(files.write("clients.pem", &client_ca.0.pem()));
    let server = ServerTls::new(&config, &[]).unwrap();

    handshake(&server, &client(&files, &ca, Some(client_ca.leaf(4000)))).unwrap();
    let none = handshake(&server, &client(&files, &ca, None)).unwrap_err();
    assert!(
        none.to_string().contains("peer sent no certificates"),
        "{none}"
    );
    let other_ca = Ca::new("another CA");
    let wrong = handshake(&server, &client(&files, &ca, Some(other_ca.leaf(4000)))).unwrap_err();
    assert!(wrong.to_string().contains("UnknownIssuer"), "{wrong}");
    let expired = handshake(&server, &client(&files, &ca, Some(client_ca.leaf(2001)))).unwrap_err();
    assert!(
        expired.to_string().contains("certificate expired"),
        "{expired}"
    );
}

#[test]
fn versions_are_bounded() {
    let (files, ca) = (Files::new(), Ca::new("server CA"));
    let mut config = server_config(&files, &ca);
    config.max_version = Some(TlsVersion::Tls12);
    let server = ServerTls::new(&config, &[]).unwrap();
    let mut only13 = client(&files, &ca, None);
    only13.min_version = Some(TlsVersion::Tls13);
    assert!(handshake(&server, &only13).is_err());
    handshake(&server, &client(&files, &ca, None)).unwrap();

    config.min_version = Some(TlsVersion::Tls13);
    let err = config.check().unwrap_err().to_string();
    assert!(err.contains("min_version is above"), "{err}");
}

#[test]
fn unusable_files_are_named() {
    let (files, ca) = (Files::new(), Ca::new("server CA"));
    let mut config = server_config(&files, &ca);
    config.key_file = files.dir.path().join("missing.key");
    let err = config.check().unwrap_err().to_string();
    assert!(
        err.starts_with("tls.key_file ") && err.contains("missing.key"),
        "{err}"
    );

    let mut config = server_config(&files, &ca);
    let (_, other_key) = ca.leaf(4000);
    config.key_file = files.write("other.key", &other_key);
    let err = config.check().unwrap_err().to_string();
    assert!(
        err.contains("tls.cert_file") && err.contains("tls.key_file"),
        "{err}"
    );
}

#[test]
fn reloads_changed_files_and_keeps_the_old_ones_when_new_ones_are_bad() {
    let (files, ca) = (Files::new(), Ca::new("server CA"));
    let mut config = server_config(&files, &ca);
    config.reload_interval = Some(Duration::ZERO);
    let server = ServerTls::new(&config, &[]).unwrap();
    let client = client(&files, &ca, None);
    let first = handshake(&server, &client).unwrap();
    assert_eq!(
        handshake(&server, &client).unwrap(),
        first,
        "unchanged files"
    );

    let (cert, key) = ca.leaf(4001);
    files.write("server.pem", &cert);
    files.write("server.key", &key);
    let second = handshake(&server, &client).unwrap();
    assert_ne!(second, first, "the new certificate is served");

    files.write("server.key", "not a key");
    assert_eq!(handshake(&server, &client).unwrap(), second);
}

#[test]
fn without_reload_interval_files_are_read_once() {
    let (files, ca) = (Files::new(), Ca::new("server CA"));
    let server = ServerTls::new(&server_config(&files, &ca), &[]).unwrap();
    let client = client(&files, &ca, None);
    let first = handshake(&server, &client).unwrap();
    let (cert, key) = ca.leaf(4001);
    files.write("server.pem", &cert);
    files.write("server.key", &key);
    assert_eq!(handshake(&server, &client).unwrap(), first);
}
