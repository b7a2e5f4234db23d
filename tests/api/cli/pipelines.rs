//! `dealdesk pipelines list|show|create`.

use super::{error, field, json, table};
use crate::contract_test;
use crate::helpers::Person;
use dealdesk::domain::directory::Role;

contract_test!(pipelines_create_from_a_template_and_list_them, |app| {
    let admin = app.admin_person();

    let out = table(
        &app,
        &admin.token,
        &[
            "pipelines",
            "create",
            "--template",
            "smb",
            "--name",
            "SMB East",
        ],
    )
    .await;

    assert_eq!(field(&out, "Name"), "SMB East");
    assert_eq!(field(&out, "Segment"), "smb");
    let name = field(&out, "Pipeline").to_string();
    let stages = out.split("\n\n").nth(1).unwrap();
    let lines: Vec<&str> = stages.lines().collect();
    assert_eq!(
        lines[0],
        "POS  STAGE               NAME                KIND  PROBABILITY  EXIT CRITERIA"
    );
    assert_eq!(
        lines[lines.len() - 2..],
        [
            "100  closed-won          Closed Won          won        100.0%",
            "110  closed-lost         Closed Lost         lost         0.0%",
        ]
    );

    let listed = json(
        &app,
        &admin.token,
        &["pipelines", "list", "--segment", "smb"],
    )
    .await;
    let pipelines = listed["pipelines"].as_array().unwrap();
    assert_eq!(pipelines.len(), 1);
    assert_eq!(pipelines[0]["name"], name.as_str());
    assert_eq!(pipelines[0]["displayName"], "SMB East");
    assert_eq!(pipelines[0]["segment"], "SEGMENT_SMB");
    assert_eq!(pipelines[0]["stages"][0]["stageId"], "problem-recognized");
    assert_eq!(pipelines[0]["stages"][0]["kind"], "KIND_OPEN");
    let created = pipelines[0]["createTime"].as_str().unwrap();

    let rep = crate::helpers::person(&app, Role::Rep, None).await;
    let out = table(&app, &rep.token, &["pipelines", "list"]).await;
    let minute = format!("{} {} UTC", &created[..10], &created[11..16]);
    assert_eq!(
        out,
        format!(
            "{:<46}  NAME      SEGMENT  STAGES  CREATED\n{name}  SMB East  smb           5  {minute}\n",
            "PIPELINE"
        )
    );
    let none = json(
        &app,
        &rep.token,
        &["pipelines", "list", "--segment", "enterprise"],
    )
    .await;
    assert_eq!(none, serde_json::json!({}));
});

contract_test!(pipelines_create_is_for_admins, |app| {
    let rep: Person = crate::helpers::person(&app, Role::Rep, None).await;

    let refused = error(
        &app,
        &rep.token,
        &["pipelines", "create", "--template", "enterprise"],
    )
    .await;

    assert!(refused.starts_with("PERMISSION_DENIED: "), "{refused}");
    assert!(refused.contains("\n  reason: "), "{refused}");
});
