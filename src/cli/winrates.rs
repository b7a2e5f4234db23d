//! `dealdesk winrates`: learn a pipeline's win rates from its history (ComputeWinRates) and
//! show a snapshot (GetWinRateSnapshot, or the newest of ListWinRateSnapshots).

use std::io::Write;

use super::table::{self, Align, Table};
use super::{ClientArgs, ClientError, Connection, Format, json, parse};
use crate::proto as pb;
use crate::proto::google::r#type::Date;

/// Options of `winrates`.
#[derive(Debug, clap::Args)]
pub struct WinRatesArgs {
    /// Server, token and output format.
    #[command(flatten)]
    pub client: ClientArgs,
    /// What to do.
    #[command(subcommand)]
    pub command: WinRatesCommand,
}

/// The `winrates` commands.
#[derive(Debug, clap::Subcommand)]
pub enum WinRatesCommand {
    /// Learns a pipeline's stage and period win rates from the deals closed in a window and
    /// makes them its current snapshot (admins and leaders).
    Compute {
        /// The pipeline (`pipelines/{id}`).
        pipeline: String,
        /// First day of the window (deals closed on or after it). Default: a year before its
        /// end.
        #[arg(long, value_name = "YYYY-MM-DD", value_parser = parse::date)]
        from: Option<Date>,
        /// Last day of the window. Default: today.
        #[arg(long, value_name = "YYYY-MM-DD", value_parser = parse::date)]
        to: Option<Date>,
        /// Weight of each stage's prior in pseudo-deals (0 to 1000). Default: 10.
        #[arg(long)]
        prior_weight: Option<i32>,
        /// Also learn rates per lead source.
        #[arg(long)]
        by_lead_source: bool,
        /// Also learn rates per team (the owner's manager).
        #[arg(long)]
        by_team: bool,
        /// Idempotency key: a retry with the same key computes once.
        #[arg(long)]
        request_id: Option<String>,
    },
    /// Shows a snapshot: a pipeline's newest (`pipelines/{id}`) or one version
    /// (`pipelines/{id}/winRateSnapshots/{version}`).
    Show {
        /// The pipeline or the snapshot.
        name: String,
    },
}

/// Runs one `winrates` command.
pub async fn run(
    connection: &Connection,
    command: &WinRatesCommand,
    format: Format,
    out: &mut dyn Write,
) -> Result<(), ClientError> {
    let mut forecasts = connection.forecasts();
    let snapshot = match command {
        WinRatesCommand::Compute {
            pipeline,
            from,
            to,
            prior_weight,
            by_lead_source,
            by_team,
            request_id,
        } => {
            let request = pb::ComputeWinRatesRequest {
                pipeline: pipeline.clone(),
                window_start_date: *from,
                window_end_date: *to,
                prior_weight: *prior_weight,
                segment_by_lead_source: *by_lead_source,
                segment_by_team: *by_team,
                request_id: request_id.clone().unwrap_or_default(),
            };
            forecasts.compute_win_rates(request).await?.into_inner()
        }
        WinRatesCommand::Show { name } if name.contains("/winRateSnapshots/") => {
            let request = pb::GetWinRateSnapshotRequest { name: name.clone() };
            forecasts.get_win_rate_snapshot(request).await?.into_inner()
        }
        WinRatesCommand::Show { name } => {
            let request = pb::ListWinRateSnapshotsRequest {
                parent: name.clone(),
                page_size: 1,
                page_token: String::new(),
            };
            let newest = forecasts.list_win_rate_snapshots(request).await?;
            newest
                .into_inner()
                .snapshots
                .into_iter()
                .next()
                .ok_or_else(|| {
                    ClientError::usage(
                        name,
                        format!(
                            "has no win-rate snapshot yet (`dealdesk winrates compute {name}`)"
                        ),
                    )
                })?
        }
    };
    match format {
        Format::Json => json::write_message(out, "dealdesk.v1.WinRateSnapshot", &snapshot),
        Format::Table => show(connection, &snapshot, out).await,
    }
}

async fn show(
    connection: &Connection,
    snapshot: &pb::WinRateSnapshot,
    out: &mut dyn Write,
) -> Result<(), ClientError> {
    let period_rates: Vec<String> = snapshot
        .period_rates
        .iter()
        .map(|table| {
            let kind = pb::period_rate_table::Kind::try_from(table.kind).map_or_else(
                |_| String::new(),
                |k| table::label(k.as_str_name(), "KIND_"),
            );
            format!("{kind}s ({} cells)", table.cells.len())
        })
        .collect();
    table::write_fields(
        out,
        &[
            ("Snapshot", snapshot.name.clone()),
            ("Pipeline", snapshot.pipeline.clone()),
            ("Current", table::yes_no(snapshot.current)),
            (
                "Window",
                format!(
                    "{} to {}",
                    table::date(snapshot.window_start_date.as_ref()),
                    table::date(snapshot.window_end_date.as_ref())
                ),
            ),
            ("Prior weight", snapshot.prior_weight.to_string()),
            ("Period rates", period_rates.join(", ")),
            (
                "Computed by",
                connection.display_name(&snapshot.creator).await,
            ),
            ("Computed", table::instant(snapshot.create_time.as_ref())),
        ],
    )?;
    writeln!(out)?;
    let mut rows = rate_table("STAGE");
    for stage in &snapshot.stages {
        rows.row(rate_row(stage.stage_id.clone(), stage));
    }
    rows.write(out)?;
    if snapshot.segments.is_empty() {
        return Ok(());
    }
    writeln!(out)?;
    let mut rows = rate_table("SEGMENT / STAGE");
    for segment in &snapshot.segments {
        let rate = segment.rate.clone().unwrap_or_default();
        let value = match pb::segment_win_rate::Kind::try_from(segment.kind) {
            Ok(pb::segment_win_rate::Kind::Team) if segment.value.is_empty() => {
                "no manager".to_string()
            }
            Ok(pb::segment_win_rate::Kind::Team) => {
                format!("team {}", connection.display_name(&segment.value).await)
            }
            _ => segment.value.to_lowercase(),
        };
        rows.row(rate_row(format!("{value} / {}", rate.stage_id), &rate));
    }
    Ok(rows.write(out)?)
}

fn rate_table(first: &'static str) -> Table {
    Table::new(&[
        (first, Align::Left),
        ("DEALS", Align::Right),
        ("WINS", Align::Right),
        ("RAW", Align::Right),
        ("SMOOTHED", Align::Right),
        ("95% INTERVAL", Align::Right),
        ("PRIOR", Align::Right),
    ])
}

fn rate_row(first: String, rate: &pb::StageWinRate) -> Vec<String> {
    vec![
        first,
        table::count(rate.n),
        table::count(rate.wins),
        rate.raw_rate.map_or_else(|| "-".into(), table::percent),
        table::percent(rate.smoothed_rate),
        format!(
            "{} - {}",
            table::percent(rate.wilson_low),
            table::percent(rate.wilson_high)
        ),
        table::percent(rate.prior),
    ]
}
