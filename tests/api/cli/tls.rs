//! The client over TLS: `https://` with `--ca-cert` naming the authority to trust. TLS sits
//! below the API, so this runs on SQLite only.

use dealdesk::startup::TlsFiles;
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair, KeyUsagePurpose};

use super::cli_at;
use crate::helpers::{Backend, spawn_app_with};

/// A CA and a server certificate for 127.0.0.1 it signed, written to a fresh directory.
fn certificates() -> (std::path::PathBuf, TlsFiles) {
    let dir = std::env::temp_dir().join(format!("dealdesk-cli-tls-{}", uuid::Uuid::now_v7()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign];
    let ca = CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap();
    let key = KeyPair::generate().unwrap();
    let server = CertificateParams::new(vec!["127.0.0.1".to_string()])
        .unwrap()
        .signed_by(&key, &ca)
        .unwrap();
    std::fs::write(dir.join("ca.pem"), ca.as_ref().pem()).unwrap();
    std::fs::write(dir.join("server.pem"), server.pem()).unwrap();
    std::fs::write(dir.join("server.key"), key.serialize_pem()).unwrap();
    let files = TlsFiles {
        cert: dir.join("server.pem"),
        key: dir.join("server.key"),
        client_ca: None,
        client_auth_optional: false,
    };
    (dir, files)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_https_address_is_spoken_over_tls_trusting_the_ca_cert() {
    let (dir, files) = certificates();
    let app = spawn_app_with(Backend::Sqlite, move |application| {
        application
            .with_tls(Some(&files))
            .expect("usable TLS files")
    })
    .await
    .unwrap();
    let https = format!("https://{}", app.addr);
    let ca = dir.join("ca.pem").display().to_string();

    let args = ["pipelines", "list", "--ca-cert", &ca];
    let out = cli_at(&https, &app.admin_token, &args).await.unwrap();
    assert_eq!(out, "PIPELINE  NAME  SEGMENT  STAGES  CREATED\n");

    let without = cli_at(&https, &app.admin_token, &["pipelines", "list"]).await;
    assert_eq!(
        without.unwrap_err().to_string(),
        "--addr is https:// but no --ca-cert (DEALDESK_CA_CERT) names the authority to trust"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
