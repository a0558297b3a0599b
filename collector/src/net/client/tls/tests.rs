//! `client_config` against an in-memory rustls server whose certificate (`localhost`,
//! 127.0.0.1) is signed by a test CA (`testdata/ca.pem`; its key was discarded).

use std::sync::Arc;

use rustls::{Connection, ServerConfig};

use super::*;

const CA: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/src/net/client/testdata/ca.pem"
);
const SERVER_CERT: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/src/net/client/testdata/server.pem"
);
const SERVER_KEY: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/src/net/client/testdata/server.key"
);

fn server(versions: &[&'static rustls::SupportedProtocolVersion]) -> ServerConfig {
    let certs = rustls_pemfile::certs(&mut std::fs::read(SERVER_CERT).unwrap().as_slice())
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    let key = rustls_pemfile::private_key(&mut std::fs::read(SERVER_KEY).unwrap().as_slice())
        .unwrap()
        .unwrap();
    ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_protocol_versions(versions)
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .unwrap()
}

/// Moves everything `from` has to send into `to` (also for the server side's tests).
pub(crate) fn pump(from: &mut Connection, to: &mut Connection) -> Result<(), rustls::Error> {
    let mut wire = Vec::new();
    while from.wants_write() {
        from.write_tls(&mut wire).unwrap();
    }
    let mut rest = wire.as_slice();
    while !rest.is_empty() {
        to.read_tls(&mut rest).unwrap();
        to.process_new_packets()?;
    }
    Ok(())
}

/// A full handshake of `tls` against the test server, connecting to `name`.
fn handshake_with(
    tls: &ClientTlsConfig,
    name: &str,
    server_config: ServerConfig,
) -> Result<(), rustls::Error> {
    let config = client_config(tls, &[]).unwrap();
    let name = ServerName::try_from(name.to_owned()).unwrap();
    let mut client = Connection::Client(rustls::ClientConnection::new(Arc::new(config), name)?);
    let mut server = Connection::Server(rustls::ServerConnection::new(Arc::new(server_config))?);
    for _ in 0..10 {
        pump(&mut client, &mut server)?;
        pump(&mut server, &mut client)?;
        if !client.is_handshaking() && !server.is_handshaking() {
            return Ok(());
        }
    }
    panic!("the handshake did not finish");
}

fn handshake(tls: &ClientTlsConfig) -> Result<(), rustls::Error> {
    handshake_with(tls, "localhost", server(rustls::DEFAULT_VERSIONS))
}

fn with_ca() -> ClientTlsConfig {
    ClientTlsConfig {
        ca_file: Some(CA.into()),
        ..Default::default()
    }
}

fn unknown_issuer(result: Result<(), rustls::Error>) -> bool {
    matches!(
        result,
        Err(rustls::Error::InvalidCertificate(
            rustls::CertificateError::UnknownIssuer
        ))
    )
}

#[test]
fn ca_file_verifies_a_certificate_it_signed() {
    handshake(&with_ca()).unwrap();
}

#[test]
fn the_system_pool_alone_does_not_trust_the_test_ca() {
    assert!(unknown_issuer(handshake(&ClientTlsConfig::default())));
}

#[test]
fn ca_file_replaces_the_system_pool_unless_asked_to_include_it() {
    let roots = |tls: &ClientTlsConfig| root_store(tls).unwrap().len();
    let system = webpki_roots::TLS_SERVER_ROOTS.len();
    assert!(system > 50);
    assert_eq!(roots(&ClientTlsConfig::default()), system);
    assert_eq!(roots(&with_ca()), 1, "ca_file replaces the system roots");
    let both = ClientTlsConfig {
        include_system_ca_certs_pool: true,
        ..with_ca()
    };
    assert_eq!(roots(&both), system + 1);
    handshake(&both).unwrap();
    // Without a CA of its own, the flag changes nothing.
    let flag_only = ClientTlsConfig {
        include_system_ca_certs_pool: true,
        ..Default::default()
    };
    assert_eq!(roots(&flag_only), system);
}

#[test]
fn ca_pem_is_ca_file_inline() {
    let inline = ClientTlsConfig {
        ca_pem: Some(std::fs::read_to_string(CA).unwrap()),
        ..Default::default()
    };
    assert_eq!(root_store(&inline).unwrap().len(), 1);
    handshake(&inline).unwrap();
}

#[test]
fn insecure_skip_verify_accepts_an_unknown_issuer() {
    handshake(&ClientTlsConfig {
        insecure_skip_verify: true,
        ..Default::default()
    })
    .unwrap();
}

#[test]
fn server_name_override_is_the_name_verified() {
    let server = || server(rustls::DEFAULT_VERSIONS);
    let wrong = handshake_with(&with_ca(), "collector.example", server());
    assert!(
        matches!(
            wrong,
            Err(rustls::Error::InvalidCertificate(
                rustls::CertificateError::NotValidForName
                    | rustls::CertificateError::NotValidForNameContext { .. }
            ))
        ),
        "{wrong:?}"
    );
    let overridden = ClientTlsConfig {
        server_name_override: Some("localhost".into()),
        ..with_ca()
    };
    handshake_with(&overridden, "collector.example", server()).unwrap();
    let bad = ClientTlsConfig {
        server_name_override: Some("not a name".into()),
        ..with_ca()
    };
    assert!(matches!(
        client_config(&bad, &[]),
        Err(TlsError::ServerName(_))
    ));
}

#[test]
fn min_version_1_3_refuses_a_1_2_server() {
    let tls13 = ClientTlsConfig {
        min_version: Some(TlsVersion::Tls13),
        ..with_ca()
    };
    let tls12_server = || server(&[&rustls::version::TLS12]);
    handshake_with(&with_ca(), "localhost", tls12_server()).unwrap();
    assert!(handshake_with(&tls13, "localhost", tls12_server()).is_err());
    handshake(&tls13).unwrap();
    let parsed: ClientTlsConfig = serde_yaml_ng::from_str("min_version: \"1.3\"").unwrap();
    assert_eq!(parsed.min_version, Some(TlsVersion::Tls13));
    assert!(serde_yaml_ng::from_str::<ClientTlsConfig>("min_version: \"1.1\"").is_err());
}

#[test]
fn bad_pem_is_an_error_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let garbled = dir.path().join("garbled.pem");
    std::fs::write(
        &garbled,
        "-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n",
    )
    .unwrap();
    let empty = dir.path().join("empty.pem");
    std::fs::write(&empty, "not a certificate\n").unwrap();
    let missing = dir.path().join("missing.pem");
    for (path, reason) in [
        (&garbled, "bad PEM"),
        (&empty, "no PEM certificate"),
        (&missing, "No such file"),
    ] {
        let tls = ClientTlsConfig {
            ca_file: Some(path.clone()),
            ..Default::default()
        };
        let err = client_config(&tls, &[]).unwrap_err().to_string();
        assert!(
            err.starts_with(&format!("tls.ca_file {}: ", path.display())),
            "{err}"
        );
        assert!(err.contains(reason), "{err}");
    }
    let tls = ClientTlsConfig {
        ca_pem: Some("garbage".into()),
        ..Default::default()
    };
    let err = client_config(&tls, &[]).unwrap_err().to_string();
    assert!(err.starts_with("tls.ca_pem: no PEM certificate"), "{err}");
}

#[test]
fn client_certificate_needs_both_files() {
    let pair = ClientTlsConfig {
        cert_file: Some(SERVER_CERT.into()),
        key_file: Some(SERVER_KEY.into()),
        ..with_ca()
    };
    client_config(&pair, &[b"h2"]).unwrap();
    let half = ClientTlsConfig {
        cert_file: Some(SERVER_CERT.into()),
        ..with_ca()
    };
    assert!(matches!(
        client_config(&half, &[]),
        Err(TlsError::HalfKeyPair)
    ));
    let key_is_a_cert = ClientTlsConfig {
        key_file: Some(SERVER_CERT.into()),
        ..pair
    };
    let err = client_config(&key_is_a_cert, &[]).unwrap_err().to_string();
    assert!(
        err.contains("tls.key_file") && err.contains("no PEM private key"),
        "{err}"
    );
}

#[test]
fn alpn_is_the_callers() {
    let config = client_config(&with_ca(), &[b"h2", b"http/1.1"]).unwrap();
    assert_eq!(
        config.alpn_protocols,
        [b"h2".to_vec(), b"http/1.1".to_vec()]
    );
}

#[test]
fn url_clients_refuse_insecure() {
    #[derive(Debug, Deserialize)]
    struct Target {
        #[serde(deserialize_with = "deserialize_for_url")]
        tls: ClientTlsConfig,
    }
    let err = serde_yaml_ng::from_str::<Target>("tls: {insecure: true}").unwrap_err();
    assert!(
        err.to_string().contains("unknown field `insecure`"),
        "{err}"
    );
    let ok: Target =
        serde_yaml_ng::from_str("tls: {ca_file: ca.pem, include_system_ca_certs_pool: true}")
            .unwrap();
    assert!(ok.tls.include_system_ca_certs_pool);
}
