//! The command-line client (`dealdesk forecast|deals|approvals|pipelines|winrates|calls`),
//! end to end: its arguments parsed as the binary parses them, run in process against a server
//! on port 0 with the answer captured, tables asserted line by line and `--json` parsed; and
//! the real binary for its exit code and environment variables.

mod approvals;
mod binary;
mod calls;
mod deals;
mod forecast;
mod pipelines;
mod tls;
mod winrates;

use clap::Parser;
use dealdesk::cli::ClientError;
use dealdesk::config::{Cli, Command};
use dealdesk::proto as pb;

use crate::fixtures::{create_pipeline, stage};
use crate::helpers::TestApp;

/// Runs `dealdesk <args> --addr <app> --token <token>` in process: what it printed, or its
/// error.
pub async fn cli(app: &TestApp, token: &str, args: &[&str]) -> Result<String, ClientError> {
    cli_at(&format!("http://{}", app.addr), token, args).await
}

/// As [`cli`], against the server at `addr`.
pub async fn cli_at(addr: &str, token: &str, args: &[&str]) -> Result<String, ClientError> {
    let argv = std::iter::once("dealdesk")
        .chain(args.iter().copied())
        .chain(["--addr", addr, "--token", token]);
    let parsed = Cli::try_parse_from(argv).expect("the arguments parse");
    let Command::Client(command) = parsed.command else {
        panic!("{args:?} is not a client command");
    };
    let mut out = Vec::new();
    dealdesk::cli::execute(&command, &mut out).await?;
    Ok(String::from_utf8(out).expect("UTF-8 output"))
}

/// As [`cli`], which must succeed.
pub async fn table(app: &TestApp, token: &str, args: &[&str]) -> String {
    match cli(app, token, args).await {
        Ok(out) => out,
        Err(err) => panic!("dealdesk {args:?} failed: {err}"),
    }
}

/// As [`cli`] with `--json`, which must succeed: the answer parsed.
pub async fn json(app: &TestApp, token: &str, args: &[&str]) -> serde_json::Value {
    let args: Vec<&str> = args.iter().copied().chain(["--json"]).collect();
    let out = table(app, token, &args).await;
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("not JSON ({e}): {out}"))
}

/// As [`cli`], which must fail: the error as the person reads it.
pub async fn error(app: &TestApp, token: &str, args: &[&str]) -> String {
    match cli(app, token, args).await {
        Ok(out) => panic!("dealdesk {args:?} succeeded: {out}"),
        Err(err) => err.to_string(),
    }
}

/// A small pipeline: `qualify` (its exit needs an amount and a next step; rate 25%),
/// `propose` (no criteria; 50%), then won and lost.
pub async fn gated_pipeline(app: &TestApp) -> pb::Pipeline {
    use pb::exit_criterion::{AmountPositive, FieldSet, Rule};
    use pb::stage::Kind;
    let qualify = stage(
        "qualify",
        1,
        Kind::Open,
        vec![
            Rule::AmountPositive(AmountPositive {}),
            Rule::FieldSet(FieldSet {
                field: pb::DealField::NextStep as i32,
            }),
        ],
    );
    let propose = stage("propose", 2, Kind::Open, vec![]);
    create_pipeline(
        app,
        pb::Pipeline {
            display_name: "Direct".into(),
            segment: pb::Segment::MidMarket as i32,
            stages: vec![
                pb::Stage {
                    default_probability_bps: 2500,
                    ..qualify
                },
                pb::Stage {
                    default_probability_bps: 5000,
                    ..propose
                },
                stage("won", 3, Kind::Won, vec![]),
                stage("lost", 4, Kind::Lost, vec![]),
            ],
            ..Default::default()
        },
    )
    .await
}

/// The value of the `label  value` line of `out` (`Stage` in `Stage     propose`).
#[track_caller]
pub fn field<'a>(out: &'a str, label: &str) -> &'a str {
    out.lines()
        .find_map(|l| {
            l.strip_prefix(label)
                .filter(|rest| rest.starts_with("  "))
                .map(str::trim)
        })
        .unwrap_or_else(|| panic!("no field {label:?} in:\n{out}"))
}
