//! The binary's commands end with their error said once: `create-admin` for an e-mail that is
//! taken prints one `error:` line, not the line and a log record of the same error.

use std::process::Command;

#[test]
fn create_admin_for_a_taken_email_prints_its_error_once() {
    let dir = std::env::temp_dir().join(format!("dealdesk-cli-{}", uuid::Uuid::now_v7()));
    std::fs::create_dir_all(&dir).unwrap();
    let url = format!("sqlite://{}?mode=rwc", dir.join("dealdesk.db").display());
    let create_admin = || {
        Command::new(env!("CARGO_BIN_EXE_dealdesk"))
            .env_remove("DEALDESK_LOG_FORMAT")
            .env_remove("RUST_LOG")
            .args([
                "--database-url",
                &url,
                "create-admin",
                "--email",
                "ops@test.example",
            ])
            .output()
            .unwrap()
    };
    assert!(create_admin().status.success());
    let again = create_admin();
    assert!(!again.status.success());
    let stderr = String::from_utf8(again.stderr).unwrap();
    let errors: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("error: "))
        .collect();
    assert_eq!(errors.len(), 1, "{stderr}");
    let message = &errors[0]["error: ".len()..];
    assert!(message.contains("ops@test.example"), "{stderr}");
    assert_eq!(stderr.matches(message).count(), 1, "{stderr}");
    std::fs::remove_dir_all(&dir).ok();
}
