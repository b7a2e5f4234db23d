//! `dealdesk forecast`: a period's forecast for a scope, with its P10/P50/P90 range, by stage,
//! by category and by direct report (GetForecast).

use std::collections::HashMap;
use std::io::Write;

use super::table::{self, Align, Table};
use super::{ClientArgs, ClientError, Connection, Format, json};
use crate::proto as pb;

/// Options of `forecast`.
#[derive(Debug, clap::Args)]
pub struct ForecastArgs {
    /// Server, token and output format.
    #[command(flatten)]
    pub client: ClientArgs,
    /// The period: a month (`2026-11`) or a fiscal quarter (`2026-Q4`).
    #[arg(long)]
    pub period: String,
    /// Whose forecast: `users/{id}` (that user and everyone below them) or `org` (everyone).
    /// Default: yourself (the token's user) and everyone below you.
    #[arg(long)]
    pub scope: Option<String>,
    /// ISO 4217 currency of the figures. Default: the server's (USD).
    #[arg(long)]
    pub currency: Option<String>,
    /// A win-rate snapshot to use instead of its pipeline's current one
    /// (`pipelines/{p}/winRateSnapshots/{v}`); repeat for several pipelines.
    #[arg(long = "snapshot", value_name = "SNAPSHOT")]
    pub snapshots: Vec<String>,
}

/// Asks for the forecast and prints it.
pub async fn run(
    connection: &Connection,
    args: &ForecastArgs,
    format: Format,
    out: &mut dyn Write,
) -> Result<(), ClientError> {
    let scope = match &args.scope {
        Some(scope) => scope.clone(),
        None => {
            let me = pb::GetCurrentUserRequest {};
            connection
                .directory()
                .get_current_user(me)
                .await?
                .into_inner()
                .name
        }
    };
    let request = pb::GetForecastRequest {
        period: args.period.clone(),
        scope,
        snapshots: args.snapshots.clone(),
        currency_code: args.currency.clone().unwrap_or_default(),
    };
    let forecast = connection
        .forecasts()
        .get_forecast(request)
        .await?
        .into_inner();
    match format {
        Format::Json => json::write_message(out, "dealdesk.v1.Forecast", &forecast),
        Format::Table => print(connection, &forecast, out).await,
    }
}

async fn print(
    connection: &Connection,
    forecast: &pb::Forecast,
    out: &mut dyn Write,
) -> Result<(), ClientError> {
    let scope = if forecast.scope.starts_with("users/") {
        let name = connection.display_name(&forecast.scope).await;
        format!("{name} ({})", forecast.scope)
    } else {
        forecast.scope.clone()
    };
    let method = pb::ForecastMethod::try_from(forecast.method).map_or_else(
        |_| String::new(),
        |m| table::label(m.as_str_name(), "FORECAST_METHOD_"),
    );
    let mut fields = vec![
        (
            "Period",
            format!(
                "{} ({} to {})",
                forecast.period,
                table::date(forecast.period_start_date.as_ref()),
                table::date(forecast.period_end_date.as_ref())
            ),
        ),
        ("Scope", scope),
        (
            "Method",
            format!(
                "{method}, {} days to the period's end",
                forecast.horizon_days
            ),
        ),
    ];
    let currency = forecast.currency_code.as_str();
    let totals = forecast.totals.unwrap_or_default();
    fields.extend(figure_fields(currency, &totals));
    if let Some(range) = &forecast.range {
        fields.extend(range_fields(currency, range));
    }
    table::write_fields(out, &fields)?;
    if !forecast.by_report.is_empty() {
        writeln!(out, "\nBy report")?;
        by_report(connection, forecast, out).await?;
    }
    if !forecast.by_stage.is_empty() {
        writeln!(out, "\nBy stage")?;
        by_stage(connection, forecast, out).await?;
    }
    if !forecast.by_category.is_empty() {
        writeln!(out, "\nBy category")?;
        by_category(forecast, out)?;
    }
    Ok(())
}

fn figure_fields(currency: &str, totals: &pb::ForecastFigures) -> Vec<(&'static str, String)> {
    let money = |minor| table::amount(currency, minor);
    vec![
        ("Expected", money(totals.expected)),
        ("  closed won", money(totals.closed_won)),
        ("  period forecast", money(totals.period_forecast)),
        ("  pulled in", money(totals.pulled_in)),
        ("  overdue", money(totals.overdue)),
        ("  not yet created", money(totals.not_yet_created)),
        ("Classic expected", money(totals.classic_expected)),
        ("  weighted pipeline", money(totals.weighted_pipeline)),
        ("Commit forecast", money(totals.commit_forecast)),
        ("Best case forecast", money(totals.best_case_forecast)),
        ("Open pipeline", money(totals.open_pipeline)),
        ("  commit", money(totals.commit)),
        ("  best case", money(totals.best_case)),
        ("  pipeline", money(totals.pipeline)),
        ("Omitted", money(totals.omitted)),
        ("Open deals", table::count(totals.open_deals)),
    ]
}

fn range_fields(currency: &str, range: &pb::RevenueRange) -> Vec<(&'static str, String)> {
    let method = pb::revenue_range::Method::try_from(range.method).map_or_else(
        |_| String::new(),
        |m| table::label(m.as_str_name(), "METHOD_"),
    );
    let how = match pb::revenue_range::Method::try_from(range.method) {
        Ok(pb::revenue_range::Method::MonteCarlo) => format!(
            "{method}, {} samples, error bound {}",
            table::count(i64::from(range.samples)),
            table::percent(range.error_bound)
        ),
        Ok(pb::revenue_range::Method::Normal) => {
            format!(
                "{method}, error bound {}",
                table::percent(range.error_bound)
            )
        }
        _ => method,
    };
    vec![
        ("Range P10", table::amount(currency, range.p10)),
        ("Range P50", table::amount(currency, range.p50)),
        ("Range P90", table::amount(currency, range.p90)),
        ("Range method", how),
    ]
}

async fn by_report(
    connection: &Connection,
    forecast: &pb::Forecast,
    out: &mut dyn Write,
) -> Result<(), ClientError> {
    let currency = forecast.currency_code.as_str();
    let mut rows = Table::new(&[
        ("NAME", Align::Left),
        ("USER", Align::Left),
        ("EXPECTED", Align::Right),
        ("CLOSED WON", Align::Right),
        ("COMMIT", Align::Right),
        ("BEST CASE", Align::Right),
        ("PIPELINE", Align::Right),
        ("OPEN DEALS", Align::Right),
    ]);
    for person in &forecast.by_report {
        let figures = person.figures.unwrap_or_default();
        let mut name = connection.display_name(&person.user).await;
        if person.user == forecast.scope {
            name.push_str(" (own deals)");
        }
        rows.row(vec![
            name,
            person.user.clone(),
            table::amount(currency, figures.expected),
            table::amount(currency, figures.closed_won),
            table::amount(currency, figures.commit),
            table::amount(currency, figures.best_case),
            table::amount(currency, figures.pipeline),
            table::count(figures.open_deals),
        ]);
    }
    Ok(rows.write(out)?)
}

async fn by_stage(
    connection: &Connection,
    forecast: &pb::Forecast,
    out: &mut dyn Write,
) -> Result<(), ClientError> {
    let currency = forecast.currency_code.as_str();
    let pipelines = pipeline_names(connection).await;
    let mut rows = Table::new(&[
        ("PIPELINE", Align::Left),
        ("STAGE", Align::Left),
        ("WIN RATE", Align::Right),
        ("OPEN DEALS", Align::Right),
        ("AMOUNT", Align::Right),
        ("WEIGHTED", Align::Right),
        ("PERIOD WEIGHTED", Align::Right),
    ]);
    for stage in &forecast.by_stage {
        let (pipeline, stage_id) = stage
            .stage
            .split_once("/stages/")
            .unwrap_or((stage.stage.as_str(), ""));
        rows.row(vec![
            pipelines
                .get(pipeline)
                .cloned()
                .unwrap_or_else(|| pipeline.to_string()),
            stage_id.to_string(),
            table::percent(stage.win_rate),
            table::count(stage.open_deals),
            table::amount(currency, stage.amount),
            table::amount(currency, stage.weighted),
            table::amount(currency, stage.period_weighted),
        ]);
    }
    Ok(rows.write(out)?)
}

fn by_category(forecast: &pb::Forecast, out: &mut dyn Write) -> Result<(), ClientError> {
    let currency = forecast.currency_code.as_str();
    let mut rows = Table::new(&[
        ("CATEGORY", Align::Left),
        ("OPEN DEALS", Align::Right),
        ("AMOUNT", Align::Right),
        ("WEIGHTED", Align::Right),
        ("PERIOD WEIGHTED", Align::Right),
    ]);
    for category in &forecast.by_category {
        rows.row(vec![
            super::deals::category_label(category.category),
            table::count(category.open_deals),
            table::amount(currency, category.amount),
            table::amount(currency, category.weighted),
            table::amount(currency, category.period_weighted),
        ]);
    }
    Ok(rows.write(out)?)
}

/// Every pipeline's display name by its resource name (empty when they cannot be listed).
pub(super) async fn pipeline_names(connection: &Connection) -> HashMap<String, String> {
    let request = pb::ListPipelinesRequest {
        page_size: 500,
        ..Default::default()
    };
    match connection.pipelines().list_pipelines(request).await {
        Ok(answer) => answer
            .into_inner()
            .pipelines
            .into_iter()
            .map(|p| (p.name, p.display_name))
            .collect(),
        Err(_) => HashMap::new(),
    }
}
