//! `dealdesk deals`: list (ListDeals), show with the gate checklist of the next stage
//! (GetDeal, GetPipeline, PreviewDealStage), advance (AdvanceDealStage) and close (CloseDeal).

use std::collections::HashMap;
use std::io::Write;

use serde::Serialize;

use super::table::{self, Align, Table};
use super::{ClientArgs, ClientError, Connection, Format, json, parse};
use crate::proto as pb;
use crate::proto::google::r#type::Date;

/// Options of `deals`.
#[derive(Debug, clap::Args)]
pub struct DealsArgs {
    /// Server, token and output format.
    #[command(flatten)]
    pub client: ClientArgs,
    /// What to do.
    #[command(subcommand)]
    pub command: DealsCommand,
}

/// The `deals` commands.
#[derive(Debug, clap::Subcommand)]
pub enum DealsCommand {
    /// Lists one page of the deals you may see, filtered and ordered (ListDeals).
    List(ListArgs),
    /// Shows a deal and the checklist of the exit criteria its next stage is gated by: each
    /// met or unmet, and whether the move would pass (GetDeal, PreviewDealStage).
    Show {
        /// The deal (`deals/{id}`).
        deal: String,
        /// Preview the move to this stage (`stage_id`) instead of the next one; the won
        /// stage previews closing won.
        #[arg(long, value_name = "STAGE")]
        gate_to: Option<String>,
    },
    /// Moves an open deal to another open stage; a forward move is refused with every unmet
    /// exit criterion listed (AdvanceDealStage).
    Advance {
        /// The deal (`deals/{id}`).
        deal: String,
        /// The open stage to move to (its `stage_id`, as `deals show` lists).
        #[arg(long, value_name = "STAGE")]
        to: String,
        /// Force a gated forward move past unmet criteria, with this justification (managers
        /// and leaders above the owner only; recorded in the history).
        #[arg(long = "override", value_name = "JUSTIFICATION")]
        override_justification: Option<String>,
        /// Refuse the move (ABORTED) when the deal changed since this etag was read.
        #[arg(long)]
        etag: Option<String>,
        /// Idempotency key: a retry with the same key moves once.
        #[arg(long)]
        request_id: Option<String>,
    },
    /// Closes an open deal won (gated like a move to the won stage) or lost (CloseDeal).
    Close {
        /// The deal (`deals/{id}`).
        deal: String,
        /// How it closes.
        #[arg(value_enum)]
        outcome: Outcome,
        /// Why it was lost (required for `lost`, refused for `won`).
        #[arg(long)]
        reason: Option<String>,
        /// The day the contract was signed (won) or the deal was lost, YYYY-MM-DD: the
        /// revenue is booked on it. Default: today in the org's time zone.
        #[arg(long, value_name = "YYYY-MM-DD", value_parser = parse::date)]
        close_date: Option<Date>,
        /// Force a gated close won past unmet criteria, with this justification (managers and
        /// leaders above the owner only).
        #[arg(long = "override", value_name = "JUSTIFICATION")]
        override_justification: Option<String>,
        /// Refuse the close (ABORTED) when the deal changed since this etag was read.
        #[arg(long)]
        etag: Option<String>,
        /// Idempotency key: a retry with the same key closes once.
        #[arg(long)]
        request_id: Option<String>,
    },
}

/// Filters of `deals list`; they combine with AND.
#[derive(Debug, clap::Args)]
pub struct ListArgs {
    /// Only deals of this status.
    #[arg(long, value_enum)]
    pub status: Option<Status>,
    /// Only deals owned by this user (`users/{id}`).
    #[arg(long)]
    pub owner: Option<String>,
    /// Only deals of this pipeline (`pipelines/{id}`).
    #[arg(long)]
    pub pipeline: Option<String>,
    /// Only deals in this stage (`stage_id`); needs `--pipeline`.
    #[arg(long)]
    pub stage: Option<String>,
    /// Only deals of this forecast category.
    #[arg(long, value_enum)]
    pub category: Option<Category>,
    /// Only deals closing on or after this day.
    #[arg(long, value_name = "YYYY-MM-DD", value_parser = parse::date)]
    pub closing_from: Option<Date>,
    /// Only deals closing on or before this day.
    #[arg(long, value_name = "YYYY-MM-DD", value_parser = parse::date)]
    pub closing_to: Option<Date>,
    /// Only deals whose name or account contains this text (case-insensitive).
    #[arg(long)]
    pub query: Option<String>,
    /// Order: `create_time` (default), `update_time`, `close_date` or `amount`, optionally
    /// followed by ` desc`.
    #[arg(long)]
    pub order_by: Option<String>,
    /// Deals on the page (default 50, at most 500).
    #[arg(long)]
    pub page_size: Option<i32>,
    /// The page after the one that printed this token.
    #[arg(long)]
    pub page_token: Option<String>,
}

/// A deal's status, as a filter.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum Status {
    /// In an open stage.
    Open,
    /// Closed won.
    Won,
    /// Closed lost.
    Lost,
}

/// A forecast category, as a filter.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum Category {
    /// Open and possible.
    Pipeline,
    /// Upside.
    BestCase,
    /// Committed.
    Commit,
    /// Left out of the forecast.
    Omitted,
    /// Closed.
    Closed,
}

/// How a deal closes.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum Outcome {
    /// Won.
    Won,
    /// Lost (needs `--reason`).
    Lost,
}

/// Runs one `deals` command.
pub async fn run(
    connection: &Connection,
    command: &DealsCommand,
    format: Format,
    out: &mut dyn Write,
) -> Result<(), ClientError> {
    match command {
        DealsCommand::List(args) => list(connection, args, format, out).await,
        DealsCommand::Show { deal, gate_to } => {
            let request = pb::GetDealRequest { name: deal.clone() };
            let deal = connection.deals().get_deal(request).await?.into_inner();
            show(connection, deal, gate_to.as_deref(), format, out).await
        }
        DealsCommand::Advance {
            deal,
            to,
            override_justification,
            etag,
            request_id,
        } => {
            let request = pb::AdvanceDealStageRequest {
                name: deal.clone(),
                target_stage: to.clone(),
                etag: etag.clone().unwrap_or_default(),
                override_justification: override_justification.clone().unwrap_or_default(),
                request_id: request_id.clone().unwrap_or_default(),
            };
            let deal = connection.deals().advance_deal_stage(request).await?;
            print_deal(connection, &deal.into_inner(), format, out).await
        }
        DealsCommand::Close {
            deal,
            outcome,
            reason,
            close_date,
            override_justification,
            etag,
            request_id,
        } => {
            let outcome = match outcome {
                Outcome::Won => pb::close_deal_request::Outcome::Won,
                Outcome::Lost => pb::close_deal_request::Outcome::Lost,
            };
            let request = pb::CloseDealRequest {
                name: deal.clone(),
                outcome: outcome as i32,
                loss_reason: reason.clone().unwrap_or_default(),
                etag: etag.clone().unwrap_or_default(),
                override_justification: override_justification.clone().unwrap_or_default(),
                request_id: request_id.clone().unwrap_or_default(),
                close_date: *close_date,
            };
            let deal = connection.deals().close_deal(request).await?;
            print_deal(connection, &deal.into_inner(), format, out).await
        }
    }
}

async fn list(
    connection: &Connection,
    args: &ListArgs,
    format: Format,
    out: &mut dyn Write,
) -> Result<(), ClientError> {
    let status = args
        .status
        .map_or(pb::deal::Status::Unspecified, |s| match s {
            Status::Open => pb::deal::Status::Open,
            Status::Won => pb::deal::Status::Won,
            Status::Lost => pb::deal::Status::Lost,
        });
    let category = args
        .category
        .map_or(pb::ForecastCategory::Unspecified, |c| match c {
            Category::Pipeline => pb::ForecastCategory::Pipeline,
            Category::BestCase => pb::ForecastCategory::BestCase,
            Category::Commit => pb::ForecastCategory::Commit,
            Category::Omitted => pb::ForecastCategory::Omitted,
            Category::Closed => pb::ForecastCategory::Closed,
        });
    let request = pb::ListDealsRequest {
        page_size: args.page_size.unwrap_or_default(),
        page_token: args.page_token.clone().unwrap_or_default(),
        owner: args.owner.clone().unwrap_or_default(),
        pipeline: args.pipeline.clone().unwrap_or_default(),
        stage: args.stage.clone().unwrap_or_default(),
        forecast_category: category as i32,
        status: status as i32,
        min_close_date: args.closing_from,
        max_close_date: args.closing_to,
        query: args.query.clone().unwrap_or_default(),
        order_by: args.order_by.clone().unwrap_or_default(),
    };
    let page = connection.deals().list_deals(request).await?.into_inner();
    if format == Format::Json {
        return json::write_message(out, "dealdesk.v1.ListDealsResponse", &page);
    }
    let mut owners: HashMap<String, String> = HashMap::new();
    let mut rows = Table::new(&[
        ("DEAL", Align::Left),
        ("NAME", Align::Left),
        ("ACCOUNT", Align::Left),
        ("OWNER", Align::Left),
        ("STAGE", Align::Left),
        ("STATUS", Align::Left),
        ("CATEGORY", Align::Left),
        ("AMOUNT", Align::Right),
        ("CLOSE DATE", Align::Left),
    ]);
    for deal in &page.deals {
        if !owners.contains_key(&deal.owner) {
            let name = connection.display_name(&deal.owner).await;
            owners.insert(deal.owner.clone(), name);
        }
        rows.row(vec![
            deal.name.clone(),
            deal.display_name.clone(),
            deal.account.clone(),
            owners[&deal.owner].clone(),
            deal.stage.clone(),
            status_label(deal.status),
            category_label(deal.forecast_category),
            table::money(deal.amount.as_ref()),
            table::date(deal.close_date.as_ref()),
        ]);
    }
    rows.write(out)?;
    if !page.next_page_token.is_empty() {
        writeln!(out, "\nnext page: --page-token {}", page.next_page_token)?;
    }
    Ok(())
}

/// `deals show` as JSON: the deal, the stage its gate was previewed for and the preview.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ShownDeal {
    deal: prost_reflect::DynamicMessage,
    #[serde(skip_serializing_if = "Option::is_none")]
    gate_stage: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    gate: Option<prost_reflect::DynamicMessage>,
}

async fn show(
    connection: &Connection,
    deal: pb::Deal,
    gate_to: Option<&str>,
    format: Format,
    out: &mut dyn Write,
) -> Result<(), ClientError> {
    let pipeline = connection
        .pipelines()
        .get_pipeline(pb::GetPipelineRequest {
            name: deal.pipeline.clone(),
        })
        .await?
        .into_inner();
    let target = match gate_to {
        Some(stage) => Some(stage.to_string()),
        None => next_stage(&deal, &pipeline),
    };
    let gate = match &target {
        Some(stage) => {
            let request = pb::PreviewDealStageRequest {
                name: deal.name.clone(),
                target_stage: stage.clone(),
            };
            Some(
                connection
                    .deals()
                    .preview_deal_stage(request)
                    .await?
                    .into_inner(),
            )
        }
        None => None,
    };
    if format == Format::Json {
        let shown = ShownDeal {
            deal: json::message("dealdesk.v1.Deal", &deal)?,
            gate_stage: target,
            gate: gate
                .as_ref()
                .map(|g| json::message("dealdesk.v1.PreviewDealStageResponse", g))
                .transpose()?,
        };
        return json::write(out, &shown);
    }
    deal_fields(connection, &deal, Some(&pipeline), out).await?;
    if let (Some(target), Some(gate)) = (target, gate) {
        writeln!(out)?;
        checklist(&pipeline, &target, &gate, out)?;
    }
    Ok(())
}

/// The deal an advance or close answered: as JSON, or its fields.
async fn print_deal(
    connection: &Connection,
    deal: &pb::Deal,
    format: Format,
    out: &mut dyn Write,
) -> Result<(), ClientError> {
    match format {
        Format::Json => json::write_message(out, "dealdesk.v1.Deal", deal),
        Format::Table => deal_fields(connection, deal, None, out).await,
    }
}

/// The stage a deal moves to next: the next open stage by position, else the won stage.
fn next_stage(deal: &pb::Deal, pipeline: &pb::Pipeline) -> Option<String> {
    if deal.status != pb::deal::Status::Open as i32 {
        return None;
    }
    let mut stages: Vec<&pb::Stage> = pipeline.stages.iter().collect();
    stages.sort_by_key(|s| s.position);
    let current = stages.iter().find(|s| s.stage_id == deal.stage)?.position;
    let open = pb::stage::Kind::Open as i32;
    let won = pb::stage::Kind::Won as i32;
    stages
        .iter()
        .find(|s| s.kind == open && s.position > current)
        .or_else(|| stages.iter().find(|s| s.kind == won))
        .map(|s| s.stage_id.clone())
}

fn stage_title(pipeline: Option<&pb::Pipeline>, stage_id: &str) -> String {
    pipeline
        .and_then(|p| p.stages.iter().find(|s| s.stage_id == stage_id))
        .map_or_else(
            || stage_id.to_string(),
            |s| format!("{} ({stage_id})", s.display_name),
        )
}

async fn deal_fields(
    connection: &Connection,
    deal: &pb::Deal,
    pipeline: Option<&pb::Pipeline>,
    out: &mut dyn Write,
) -> Result<(), ClientError> {
    let owner = format!(
        "{} ({})",
        connection.display_name(&deal.owner).await,
        deal.owner
    );
    let pipeline_name = pipeline.map_or_else(
        || deal.pipeline.clone(),
        |p| format!("{} ({})", p.display_name, p.name),
    );
    let next_step = match (&deal.next_step, table::date(deal.next_step_date.as_ref())) {
        (step, day) if day.is_empty() => step.clone(),
        (step, day) => format!("{step} ({day})"),
    };
    let lead_source = pb::LeadSource::try_from(deal.lead_source)
        .ok()
        .filter(|s| *s != pb::LeadSource::Unspecified)
        .map_or_else(String::new, |s| {
            table::label(s.as_str_name(), "LEAD_SOURCE_")
        });
    let fields = [
        ("Deal", deal.name.clone()),
        ("Name", deal.display_name.clone()),
        ("Account", deal.account.clone()),
        ("Owner", owner),
        ("Pipeline", pipeline_name),
        ("Stage", stage_title(pipeline, &deal.stage)),
        ("Status", status_label(deal.status)),
        ("Loss reason", deal.loss_reason.clone()),
        ("Category", category_label(deal.forecast_category)),
        ("Amount", table::money(deal.amount.as_ref())),
        ("Close date", table::date(deal.close_date.as_ref())),
        ("Discount", table::bps(deal.discount_bps)),
        ("Lead source", lead_source),
        ("Next step", next_step),
        ("Contacts", table::count(deal.contacts.len() as i64)),
        ("Etag", deal.etag.clone()),
    ];
    Ok(table::write_fields(out, &fields)?)
}

/// `Gate to <stage>: passes` or `blocked, N of M unmet`, then `[x]`/`[ ]` per criterion.
fn checklist(
    pipeline: &pb::Pipeline,
    target: &str,
    gate: &pb::PreviewDealStageResponse,
    out: &mut dyn Write,
) -> Result<(), ClientError> {
    let title = stage_title(Some(pipeline), target);
    let direction = pb::preview_deal_stage_response::Direction::try_from(gate.direction)
        .unwrap_or(pb::preview_deal_stage_response::Direction::Unspecified);
    let unmet = gate.checks.iter().filter(|c| !c.met).count();
    let verdict = match direction {
        pb::preview_deal_stage_response::Direction::Backward => {
            "a backward move, not gated".to_string()
        }
        pb::preview_deal_stage_response::Direction::None => "already there".to_string(),
        _ if gate.allowed => format!("passes, all {} criteria met", gate.checks.len()),
        _ => format!("blocked, {unmet} of {} criteria unmet", gate.checks.len()),
    };
    writeln!(out, "Gate to {title}: {verdict}")?;
    for check in &gate.checks {
        let mark = if check.met { "[x]" } else { "[ ]" };
        let text = check
            .criterion
            .as_ref()
            .map_or("", |c| c.description.as_str());
        let stage = check.stage.rsplit('/').next().unwrap_or_default();
        writeln!(out, "  {mark} {text} ({stage})")?;
    }
    Ok(())
}

/// A deal status as a word (`open`, `won`, `lost`).
pub(super) fn status_label(status: i32) -> String {
    pb::deal::Status::try_from(status).map_or_else(
        |_| String::new(),
        |s| table::label(s.as_str_name(), "STATUS_"),
    )
}

/// A forecast category as words (`best case`).
pub(super) fn category_label(category: i32) -> String {
    pb::ForecastCategory::try_from(category).map_or_else(
        |_| String::new(),
        |c| table::label(c.as_str_name(), "FORECAST_CATEGORY_"),
    )
}
