//! The real `dealdesk` binary: address and token from the environment, the answer on stdout,
//! an error on stderr with a non-zero exit code.

use std::process::Output;

use super::{cli, error};
use crate::contract_test;
use crate::helpers::TestApp;

/// Runs the binary with `args`, `DEALDESK_ADDR` pointing at `app` and `DEALDESK_TOKEN` set to
/// `token`, and nothing else from this process's environment.
async fn run_binary(app: &TestApp, token: &str, args: &[&str]) -> Output {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_dealdesk"));
    command
        .args(args)
        .env_clear()
        .env("DEALDESK_ADDR", format!("http://{}", app.addr))
        .env("DEALDESK_TOKEN", token);
    tokio::task::spawn_blocking(move || command.output().expect("run dealdesk"))
        .await
        .unwrap()
}

contract_test!(
    the_binary_takes_the_address_and_token_from_the_environment,
    |app| {
        let out = run_binary(&app, &app.admin_token, &["pipelines", "list"]).await;

        assert_eq!(out.status.code(), Some(0), "{out:?}");
        assert!(out.stderr.is_empty(), "{out:?}");
        assert_eq!(
            String::from_utf8(out.stdout).unwrap(),
            "PIPELINE  NAME  SEGMENT  STAGES  CREATED\n"
        );
    }
);

contract_test!(
    a_bad_token_is_unauthenticated_with_a_non_zero_exit_code,
    |app| {
        let out = run_binary(&app, "ddk_not-a-token", &["deals", "list", "--json"]).await;

        assert_eq!(out.status.code(), Some(1), "{out:?}");
        assert!(out.stdout.is_empty(), "{out:?}");
        let stderr = String::from_utf8(out.stderr).unwrap();
        assert!(stderr.starts_with("error: UNAUTHENTICATED: "), "{stderr}");
        assert!(stderr.contains("\n  reason: "), "{stderr}");

        let in_process = error(
            &app,
            "ddk_not-a-token",
            &["forecast", "--period", "2026-Q4"],
        )
        .await;
        assert!(in_process.starts_with("UNAUTHENTICATED: "), "{in_process}");
        let code = cli(&app, "", &["pipelines", "list"])
            .await
            .unwrap_err()
            .code();
        assert_eq!(code, Some(tonic::Code::Unauthenticated));
    }
);

contract_test!(no_server_is_a_connection_error, |app| {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_dealdesk"));
    command
        .args([
            "pipelines",
            "list",
            "--addr",
            "http://127.0.0.1:1",
            "--token",
            &app.admin_token,
        ])
        .env_clear();
    let out = tokio::task::spawn_blocking(move || command.output().unwrap())
        .await
        .unwrap();

    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(
        stderr.starts_with("error: cannot connect to http://127.0.0.1:1: transport error"),
        "{stderr}"
    );
});
