//! Bearer tokens never reach the logs: the real binary serves at the most verbose level there is
//! (`RUST_LOG=trace`: every crate, every span, sqlx's queries, h2's frames), is called with
//! valid, issued, revoked and garbage tokens, and its whole log is searched for each secret.

use std::process::{Command, Stdio};
use std::time::Duration;

use dealdesk::proto as pb;
use dealdesk::proto::directory_service_client::DirectoryServiceClient;
use tonic::Code;
use tonic::transport::Channel;

use crate::helpers::authed;

fn dealdesk(database_url: &str) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_dealdesk"));
    command
        .env("RUST_LOG", "trace")
        .env_remove("DEALDESK_LOG_FORMAT")
        .arg("--database-url")
        .arg(database_url);
    command
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_token_appears_in_the_logs_even_at_trace_level() {
    let dir = std::env::temp_dir().join(format!("dealdesk-logs-{}", uuid::Uuid::now_v7()));
    std::fs::create_dir_all(&dir).unwrap();
    let url = format!("sqlite://{}?mode=rwc", dir.join("dealdesk.db").display());
    let (admin_token, mut log) = bootstrap_admin(&url);
    let log_path = dir.join("serve.log");
    let (server, mut directory) = serve(&url, &log_path).await;
    let (issued, garbage) = call_with_every_kind_of_token(&mut directory, &admin_token).await;
    stop(server).await;
    log.push_str(&std::fs::read_to_string(&log_path).unwrap());

    // The log is the verbose one asked for: it shows the calls' traffic and queries.
    assert!(log.contains("serving dealdesk"), "no start-up line");
    assert!(
        log.contains("api_tokens"),
        "no query of the token table at trace level"
    );
    assert!(log.len() > 10_000, "a trace log of {} bytes", log.len());
    for (what, secret) in [
        ("the admin's token", admin_token.as_str()),
        ("the issued token", issued.as_str()),
        ("the garbage token", garbage.as_str()),
    ] {
        let body = secret.trim_start_matches("ddk_");
        assert!(
            !log.contains(body),
            "{what} appears in the log ({} bytes at {})",
            log.len(),
            log_path.display()
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// The operator's bootstrap prints the first token once, on stdout; its logs go to stderr.
/// The token and those logs.
fn bootstrap_admin(url: &str) -> (String, String) {
    let bootstrap = dealdesk(url)
        .args(["create-admin", "--email", "ops@test.example"])
        .output()
        .unwrap();
    assert!(bootstrap.status.success());
    let stdout = String::from_utf8(bootstrap.stdout).unwrap();
    let admin_token = stdout
        .lines()
        .find_map(|l| l.strip_prefix("token (shown once): "))
        .expect("the admin's token on stdout")
        .to_string();
    (
        admin_token,
        String::from_utf8_lossy(&bootstrap.stderr).into_owned(),
    )
}

/// The server on a free port, its JSON log in `log_path`, and a directory client once it
/// answers.
async fn serve(
    url: &str,
    log_path: &std::path::Path,
) -> (std::process::Child, DirectoryServiceClient<Channel>) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .unwrap()
        .port();
    let server = dealdesk(url)
        .args(["--log-format", "json", "serve", "--listen"])
        .arg(format!("127.0.0.1:{port}"))
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(log_path).unwrap())
        .spawn()
        .unwrap();
    let endpoint = format!("http://127.0.0.1:{port}");
    let mut channel = None;
    for _ in 0..300 {
        if let Ok(c) = Channel::from_shared(endpoint.clone())
            .unwrap()
            .connect()
            .await
        {
            channel = Some(c);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let directory = DirectoryServiceClient::new(channel.expect("the server starts"));
    (server, directory)
}

/// A valid token; a token issued over the API (its secret in the answer); that token used,
/// then revoked and used again; a token the server never issued; a token sent as a basic
/// credential. The issued token's secret and the never-issued token.
async fn call_with_every_kind_of_token(
    directory: &mut DirectoryServiceClient<Channel>,
    admin_token: &str,
) -> (String, String) {
    let me = directory
        .get_current_user(authed(admin_token, pb::GetCurrentUserRequest {}))
        .await
        .unwrap()
        .into_inner();
    let issued = directory
        .create_api_token(authed(
            admin_token,
            pb::CreateApiTokenRequest {
                parent: me.name.clone(),
                api_token: Some(pb::ApiToken {
                    display_name: "dashboard".into(),
                    ..Default::default()
                }),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    directory
        .get_current_user(authed(&issued.secret, pb::GetCurrentUserRequest {}))
        .await
        .unwrap();
    directory
        .revoke_api_token(authed(
            admin_token,
            pb::RevokeApiTokenRequest {
                name: issued.api_token.unwrap().name,
            },
        ))
        .await
        .unwrap();
    let revoked = directory
        .get_current_user(authed(&issued.secret, pb::GetCurrentUserRequest {}))
        .await
        .unwrap_err();
    assert_eq!(revoked.code(), Code::Unauthenticated);
    let garbage = format!("ddk_{}", "7e".repeat(32));
    let unknown = directory
        .get_current_user(authed(&garbage, pb::GetCurrentUserRequest {}))
        .await
        .unwrap_err();
    assert_eq!(unknown.code(), Code::Unauthenticated);
    // A token sent as a basic credential, where no one expects one.
    let mut request = tonic::Request::new(pb::GetCurrentUserRequest {});
    request.metadata_mut().insert(
        "authorization",
        format!("Basic {admin_token}").parse().unwrap(),
    );
    assert_eq!(
        directory
            .get_current_user(request)
            .await
            .unwrap_err()
            .code(),
        Code::Unauthenticated
    );
    (issued.secret, garbage)
}

/// SIGTERM: the server drains and flushes its last lines, and exits cleanly.
async fn stop(mut server: std::process::Child) {
    // SAFETY: kill only sends a signal to the child we started.
    unsafe { libc::kill(server.id() as i32, libc::SIGTERM) };
    let stopped = tokio::task::spawn_blocking(move || server.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(stopped.success());
}
