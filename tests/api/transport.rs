//! Transport security: TLS and mutual TLS configured from certificate files, on loopback, with
//! certificates made for each test (rcgen): a CA, the server's certificate for `localhost`, a
//! client certificate the CA signed, and a rogue CA with its own client certificate.
//!
//! TLS sits below the API, so these run on SQLite only; the contract suite covers the engines.

use std::path::PathBuf;
use std::time::Duration;

use dealdesk::proto::directory_service_client::DirectoryServiceClient;
use dealdesk::startup::{StartupError, TlsFiles};
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, ExtendedKeyUsagePurpose, IsCa, KeyPair,
    KeyUsagePurpose,
};
use tonic::Code;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Identity};
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};

use crate::helpers::*;

/// A certificate and its key, as PEM.
struct Pem {
    cert: String,
    key: String,
}

/// The certificates of one test, written to a fresh directory.
struct Pki {
    dir: PathBuf,
    ca: Pem,
    server: Pem,
    client: Pem,
    rogue_client: Pem,
}

fn ca(name: &str) -> CertifiedIssuer<'static, KeyPair> {
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, name);
    CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap()
}

fn leaf(
    issuer: &CertifiedIssuer<'static, KeyPair>,
    names: &[&str],
    usage: ExtendedKeyUsagePurpose,
) -> Pem {
    let mut params =
        CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>()).unwrap();
    params.extended_key_usages = vec![usage];
    let key = KeyPair::generate().unwrap();
    let cert = params.signed_by(&key, issuer).unwrap();
    Pem {
        cert: cert.pem(),
        key: key.serialize_pem(),
    }
}

impl Pki {
    fn new() -> Pki {
        let dir = std::env::temp_dir().join(format!("dealdesk-tls-{}", uuid::Uuid::now_v7()));
        std::fs::create_dir_all(&dir).unwrap();
        let authority = ca("dealdesk test CA");
        let rogue = ca("rogue CA");
        let pki = Pki {
            ca: Pem {
                cert: authority.as_ref().pem(),
                key: String::new(),
            },
            server: leaf(
                &authority,
                &["localhost", "127.0.0.1"],
                ExtendedKeyUsagePurpose::ServerAuth,
            ),
            client: leaf(
                &authority,
                &["billing.internal"],
                ExtendedKeyUsagePurpose::ClientAuth,
            ),
            rogue_client: leaf(
                &rogue,
                &["billing.internal"],
                ExtendedKeyUsagePurpose::ClientAuth,
            ),
            dir,
        };
        pki.write("ca.pem", &pki.ca.cert);
        pki.write("server.pem", &pki.server.cert);
        pki.write("server.key", &pki.server.key);
        pki
    }

    fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.dir.join(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// TLS with the server's certificate; mutual TLS when `client_ca` is set.
    fn files(&self, client_ca: bool, client_auth_optional: bool) -> TlsFiles {
        TlsFiles {
            cert: self.path("server.pem"),
            key: self.path("server.key"),
            client_ca: client_ca.then(|| self.path("ca.pem")),
            client_auth_optional,
        }
    }
}

impl Drop for Pki {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// How a test client connects.
enum Client<'a> {
    Plaintext,
    /// TLS trusting `ca`, presenting `identity` if any.
    Tls {
        ca: &'a str,
        identity: Option<&'a Pem>,
    },
}

/// Connects as `client` and asks who the admin is: `Ok(email)` or the failure's code.
async fn whoami(app: &TestApp, client: Client<'_>) -> Result<String, Code> {
    let channel = match client {
        Client::Plaintext => Channel::from_shared(format!("http://{}", app.addr)).unwrap(),
        Client::Tls { ca, identity } => {
            let mut tls = ClientTlsConfig::new()
                .ca_certificate(Certificate::from_pem(ca))
                .domain_name("localhost");
            if let Some(pem) = identity {
                tls = tls.identity(Identity::from_pem(&pem.cert, &pem.key));
            }
            Channel::from_shared(format!("https://{}", app.addr))
                .unwrap()
                .tls_config(tls)
                .unwrap()
        }
    };
    let channel = match channel
        .connect_timeout(Duration::from_secs(5))
        .timeout(Duration::from_secs(5))
        .connect()
        .await
    {
        Ok(channel) => channel,
        // A refused handshake surfaces here or on the first call, depending on timing.
        Err(_) => return Err(Code::Unavailable),
    };
    DirectoryServiceClient::new(channel)
        .get_current_user(authed(
            &app.admin_token,
            dealdesk::proto::GetCurrentUserRequest {},
        ))
        .await
        .map(|r| r.into_inner().email)
        .map_err(|status| status.code())
}

async fn spawn_tls(files: TlsFiles) -> TestApp {
    spawn_app_with(Backend::Sqlite, move |application| {
        application
            .with_tls(Some(&files))
            .expect("usable TLS files")
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_a_certificate_the_api_and_health_are_served_over_tls_only() {
    let pki = Pki::new();
    let app = spawn_tls(pki.files(false, false)).await;
    let admin = app.admin.email.clone();

    let tls = Client::Tls {
        ca: &pki.ca.cert,
        identity: None,
    };
    assert_eq!(whoami(&app, tls).await, Ok(admin));
    // Health answers over TLS too.
    let channel = Channel::from_shared(format!("https://{}", app.addr))
        .unwrap()
        .tls_config(
            ClientTlsConfig::new()
                .ca_certificate(Certificate::from_pem(&pki.ca.cert))
                .domain_name("localhost"),
        )
        .unwrap()
        .connect()
        .await
        .unwrap();
    let health = HealthClient::new(channel)
        .check(HealthCheckRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(health.status(), ServingStatus::Serving);

    // Plaintext is not served, and a client that does not trust the CA does not connect.
    assert!(whoami(&app, Client::Plaintext).await.is_err());
    let rogue_ca = ca("someone else").as_ref().pem();
    let untrusting = Client::Tls {
        ca: &rogue_ca,
        identity: None,
    };
    assert!(whoami(&app, untrusting).await.is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_a_client_ca_callers_must_present_a_certificate_it_signed() {
    let pki = Pki::new();
    let app = spawn_tls(pki.files(true, false)).await;
    let admin = app.admin.email.clone();

    let signed = Client::Tls {
        ca: &pki.ca.cert,
        identity: Some(&pki.client),
    };
    assert_eq!(whoami(&app, signed).await, Ok(admin));

    let anonymous = Client::Tls {
        ca: &pki.ca.cert,
        identity: None,
    };
    assert!(whoami(&app, anonymous).await.is_err());
    let rogue = Client::Tls {
        ca: &pki.ca.cert,
        identity: Some(&pki.rogue_client),
    };
    assert!(whoami(&app, rogue).await.is_err());
    assert!(whoami(&app, Client::Plaintext).await.is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn optional_client_auth_lets_in_callers_without_a_certificate_but_not_a_bad_one() {
    let pki = Pki::new();
    let app = spawn_tls(pki.files(true, true)).await;
    let admin = app.admin.email.clone();

    for identity in [None, Some(&pki.client)] {
        let client = Client::Tls {
            ca: &pki.ca.cert,
            identity,
        };
        assert_eq!(whoami(&app, client).await, Ok(admin.clone()));
    }
    let rogue = Client::Tls {
        ca: &pki.ca.cert,
        identity: Some(&pki.rogue_client),
    };
    assert!(whoami(&app, rogue).await.is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_certificate_does_not_replace_the_bearer_token() {
    let pki = Pki::new();
    let app = spawn_tls(pki.files(true, false)).await;
    let channel = Channel::from_shared(format!("https://{}", app.addr))
        .unwrap()
        .tls_config(
            ClientTlsConfig::new()
                .ca_certificate(Certificate::from_pem(&pki.ca.cert))
                .domain_name("localhost")
                .identity(Identity::from_pem(&pki.client.cert, &pki.client.key)),
        )
        .unwrap()
        .connect()
        .await
        .unwrap();
    let status = DirectoryServiceClient::new(channel)
        .get_current_user(dealdesk::proto::GetCurrentUserRequest {})
        .await
        .unwrap_err();
    assert_error(&status, Code::Unauthenticated, "MISSING_CREDENTIALS");
}

fn load_error(files: &TlsFiles) -> String {
    match files.load() {
        Err(StartupError::Tls(message)) => message,
        Err(other) => panic!("expected a TLS error, got {other}"),
        Ok(_) => panic!("expected {files:?} to be refused"),
    }
}

#[test]
fn unusable_tls_files_are_refused_at_start_up_naming_the_file() {
    let pki = Pki::new();
    let good = pki.files(true, false);

    let missing = TlsFiles {
        cert: pki.path("nowhere.pem"),
        ..good.clone()
    };
    let message = load_error(&missing);
    assert!(
        message.contains("certificate") && message.contains("nowhere.pem"),
        "{message}"
    );

    let not_pem = TlsFiles {
        key: pki.write("garbage.key", "not a key at all"),
        ..good.clone()
    };
    let message = load_error(&not_pem);
    assert!(
        message.contains("private key") && message.contains("garbage.key"),
        "{message}"
    );

    // A well-formed PEM block that is not a key is refused when the server is configured.
    let wrong_block = TlsFiles {
        key: pki.write("cert-as-key.pem", &pki.server.cert),
        ..good.clone()
    };
    assert!(load_error(&wrong_block).contains("server.pem"));

    let missing_ca = TlsFiles {
        client_ca: Some(pki.path("no-ca.pem")),
        ..good.clone()
    };
    assert!(load_error(&missing_ca).contains("client CA"));

    assert!(good.load().is_ok());
}

#[test]
fn the_serve_command_refuses_a_key_without_a_certificate() {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_dealdesk"))
        .args(["serve", "--tls-key", "server.key"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("--tls-cert"), "{stderr}");
}
