//! `dealdesk calls`: submit your own forecast call (SubmitForecastCall) and adjust the call of
//! someone below you (AdjustForecastCall).

use std::io::Write;

use super::table;
use super::{ClientArgs, ClientError, Connection, Format, json, parse};
use crate::proto as pb;

/// Options of `calls`.
#[derive(Debug, clap::Args)]
pub struct CallsArgs {
    /// Server, token and output format.
    #[command(flatten)]
    pub client: ClientArgs,
    /// What to do.
    #[command(subcommand)]
    pub command: CallsCommand,
}

/// The `calls` commands.
#[derive(Debug, clap::Subcommand)]
pub enum CallsCommand {
    /// Submits your call for a period: what you commit to closing and your best case (reps,
    /// managers and leaders; the latest submission counts).
    Submit {
        /// The amounts and the note.
        #[command(flatten)]
        call: Call,
    },
    /// Adjusts the call of someone below you; in your view and above it replaces theirs,
    /// they still see their own (managers and leaders).
    Adjust {
        /// Whose call (`users/{id}`).
        #[arg(long)]
        user: String,
        /// The amounts and the note.
        #[command(flatten)]
        call: Call,
    },
}

/// A call's period, amounts and note.
#[derive(Debug, Clone, clap::Args)]
pub struct Call {
    /// The period: a month (`2026-11`) or a fiscal quarter (`2026-Q4`).
    #[arg(long)]
    pub period: String,
    /// The commit, in major units of the currency (`1250000` or `1,250,000.00`).
    #[arg(long)]
    pub commit: String,
    /// The best case, in the same currency, at least the commit.
    #[arg(long)]
    pub best_case: String,
    /// ISO 4217 currency of both amounts.
    #[arg(long, default_value = "USD")]
    pub currency: String,
    /// Why.
    #[arg(long)]
    pub note: Option<String>,
}

/// Runs one `calls` command.
pub async fn run(
    connection: &Connection,
    command: &CallsCommand,
    format: Format,
    out: &mut dyn Write,
) -> Result<(), ClientError> {
    let mut forecasts = connection.forecasts();
    let event = match command {
        CallsCommand::Submit { call } => {
            let request = pb::SubmitForecastCallRequest {
                period: call.period.clone(),
                commit: Some(parse::money("--commit", &call.commit, &call.currency)?),
                best_case: Some(parse::money(
                    "--best-case",
                    &call.best_case,
                    &call.currency,
                )?),
                note: call.note.clone().unwrap_or_default(),
            };
            forecasts.submit_forecast_call(request).await?.into_inner()
        }
        CallsCommand::Adjust { user, call } => {
            let request = pb::AdjustForecastCallRequest {
                period: call.period.clone(),
                user: user.clone(),
                commit: Some(parse::money("--commit", &call.commit, &call.currency)?),
                best_case: Some(parse::money(
                    "--best-case",
                    &call.best_case,
                    &call.currency,
                )?),
                note: call.note.clone().unwrap_or_default(),
            };
            forecasts.adjust_forecast_call(request).await?.into_inner()
        }
    };
    if format == Format::Json {
        return json::write_message(out, "dealdesk.v1.ForecastCallEvent", &event);
    }
    let kind = pb::forecast_call_event::Kind::try_from(event.kind).map_or_else(
        |_| String::new(),
        |k| table::label(k.as_str_name(), "KIND_"),
    );
    let user = connection.display_name(&event.user).await;
    let author = connection.display_name(&event.author).await;
    table::write_fields(
        out,
        &[
            ("Event", format!("{kind} #{}", event.sequence)),
            ("Period", event.period.clone()),
            ("Call of", format!("{user} ({})", event.user)),
            ("By", format!("{author} ({})", event.author)),
            ("Commit", table::money(event.commit.as_ref())),
            ("Best case", table::money(event.best_case.as_ref())),
            ("Note", event.note.clone()),
            ("Recorded", table::instant(event.create_time.as_ref())),
        ],
    )?;
    Ok(())
}
