//! `dealdesk approvals`: the caller's queue (ListApprovalRequests), the route a request would
//! take (PreviewApprovalRoute), submitting one (SubmitApprovalRequest) and deciding a step
//! (ApproveApprovalStep, RejectApprovalStep).

use std::io::Write;

use super::table::{self, Align, Table};
use super::{ClientArgs, ClientError, Connection, Format, json, parse};
use crate::proto as pb;

/// Options of `approvals`.
#[derive(Debug, clap::Args)]
pub struct ApprovalsArgs {
    /// Server, token and output format.
    #[command(flatten)]
    pub client: ClientArgs,
    /// What to do.
    #[command(subcommand)]
    pub command: ApprovalsCommand,
}

/// The `approvals` commands.
#[derive(Debug, clap::Subcommand)]
pub enum ApprovalsCommand {
    /// Your queue: pending requests whose current step you may decide (yours, your role's,
    /// delegated to you or escalated to you), newest first.
    Queue {
        /// Requests on the page (default 50, at most 500).
        #[arg(long)]
        page_size: Option<i32>,
        /// The page after the one that printed this token.
        #[arg(long)]
        page_token: Option<String>,
    },
    /// The route a request on a deal would take, with the reason for every step; writes
    /// nothing.
    Preview {
        /// The deal (`deals/{id}`).
        deal: String,
        /// The terms asked for.
        #[command(flatten)]
        terms: Terms,
    },
    /// Submits a discount and terms request on a deal, routed by its segment's policy.
    Submit {
        /// The deal (`deals/{id}`).
        deal: String,
        /// The terms asked for.
        #[command(flatten)]
        terms: Terms,
        /// An earlier request on the deal this one replaces (`approvalRequests/{id}`); steps
        /// whose approval still covers the new terms are kept.
        #[arg(long)]
        resubmits: Option<String>,
        /// Idempotency key: a retry with the same key submits once.
        #[arg(long)]
        request_id: Option<String>,
    },
    /// Approves a request's current step as one of its approvers.
    Approve {
        /// The step (`approvalRequests/{id}/steps/{n}`), or the request
        /// (`approvalRequests/{id}`) for its current step.
        step: String,
        /// A comment.
        #[arg(long)]
        comment: Option<String>,
        /// Idempotency key.
        #[arg(long)]
        request_id: Option<String>,
    },
    /// Rejects a request's current step, which rejects the request.
    Reject {
        /// The step (`approvalRequests/{id}/steps/{n}`), or the request
        /// (`approvalRequests/{id}`) for its current step.
        step: String,
        /// Why (required).
        #[arg(long)]
        comment: String,
        /// Idempotency key.
        #[arg(long)]
        request_id: Option<String>,
    },
}

/// The terms of a request or preview.
#[derive(Debug, Clone, clap::Args)]
pub struct Terms {
    /// Discount off list price in percent (`22`, `22.5`).
    #[arg(long, value_name = "PERCENT", value_parser = parse::percent_bps, default_value = "0")]
    pub discount: i32,
    /// A clause code asked for (`UNCAPPED_LIABILITY`); repeat for several.
    #[arg(long = "clause", value_name = "CODE")]
    pub clauses: Vec<String>,
    /// Free-text non-standard terms.
    #[arg(long = "terms", value_name = "TEXT")]
    pub non_standard_terms: Option<String>,
    /// Payment terms in days.
    #[arg(long, default_value_t = 0)]
    pub payment_days: i32,
}

/// Runs one `approvals` command.
pub async fn run(
    connection: &Connection,
    command: &ApprovalsCommand,
    format: Format,
    out: &mut dyn Write,
) -> Result<(), ClientError> {
    let mut desk = connection.deal_desk();
    let request = match command {
        ApprovalsCommand::Queue {
            page_size,
            page_token,
        } => {
            let request = pb::ListApprovalRequestsRequest {
                my_queue: true,
                page_size: page_size.unwrap_or_default(),
                page_token: page_token.clone().unwrap_or_default(),
                ..Default::default()
            };
            let page = desk.list_approval_requests(request).await?.into_inner();
            return queue(connection, &page, format, out).await;
        }
        ApprovalsCommand::Preview { deal, terms } => {
            let request = pb::PreviewApprovalRouteRequest {
                deal: deal.clone(),
                discount_bps: terms.discount,
                clauses: terms.clauses.clone(),
                non_standard_terms: terms.non_standard_terms.clone().unwrap_or_default(),
                payment_days: terms.payment_days,
            };
            let route = desk.preview_approval_route(request).await?.into_inner();
            return preview(&route, format, out);
        }
        ApprovalsCommand::Submit {
            deal,
            terms,
            resubmits,
            request_id,
        } => {
            let request = pb::SubmitApprovalRequestRequest {
                deal: deal.clone(),
                discount_bps: terms.discount,
                clauses: terms.clauses.clone(),
                non_standard_terms: terms.non_standard_terms.clone().unwrap_or_default(),
                payment_days: terms.payment_days,
                resubmits: resubmits.clone().unwrap_or_default(),
                request_id: request_id.clone().unwrap_or_default(),
            };
            desk.submit_approval_request(request).await?.into_inner()
        }
        ApprovalsCommand::Approve {
            step,
            comment,
            request_id,
        } => {
            let request = pb::ApproveApprovalStepRequest {
                step: current_step(connection, step).await?,
                comment: comment.clone().unwrap_or_default(),
                request_id: request_id.clone().unwrap_or_default(),
            };
            desk.approve_approval_step(request).await?.into_inner()
        }
        ApprovalsCommand::Reject {
            step,
            comment,
            request_id,
        } => {
            let request = pb::RejectApprovalStepRequest {
                step: current_step(connection, step).await?,
                comment: comment.clone(),
                request_id: request_id.clone().unwrap_or_default(),
            };
            desk.reject_approval_step(request).await?.into_inner()
        }
    };
    match format {
        Format::Json => json::write_message(out, "dealdesk.v1.ApprovalRequest", &request),
        Format::Table => approval_request(connection, &request, out).await,
    }
}

/// A step's name as given, or the current (pending) step of a request named instead.
async fn current_step(connection: &Connection, name: &str) -> Result<String, ClientError> {
    if name.contains("/steps/") {
        return Ok(name.to_string());
    }
    let request = pb::GetApprovalRequestRequest { name: name.into() };
    let found = connection
        .deal_desk()
        .get_approval_request(request)
        .await?
        .into_inner();
    let pending = pb::approval_request_step::State::Pending as i32;
    found
        .steps
        .iter()
        .find(|s| s.state == pending)
        .map(|s| s.name.clone())
        .ok_or_else(|| ClientError::usage(name, "has no pending step: name the step to decide"))
}

async fn queue(
    connection: &Connection,
    page: &pb::ListApprovalRequestsResponse,
    format: Format,
    out: &mut dyn Write,
) -> Result<(), ClientError> {
    if format == Format::Json {
        return json::write_message(out, "dealdesk.v1.ListApprovalRequestsResponse", page);
    }
    let mut rows = Table::new(&[
        ("REQUEST", Align::Left),
        ("DEAL", Align::Left),
        ("REQUESTER", Align::Left),
        ("DISCOUNT", Align::Right),
        ("AMOUNT", Align::Right),
        ("WAITING ON", Align::Left),
        ("DUE", Align::Left),
    ]);
    let pending = pb::approval_request_step::State::Pending as i32;
    for request in &page.approval_requests {
        let step = request.steps.iter().find(|s| s.state == pending);
        rows.row(vec![
            request.name.clone(),
            request.deal.clone(),
            connection.display_name(&request.requester).await,
            table::bps(request.discount_bps),
            table::money(request.amount.as_ref()),
            step.map_or_else(String::new, step_title),
            step.map_or_else(String::new, |s| table::instant(s.due_time.as_ref())),
        ]);
    }
    rows.write(out)?;
    if !page.next_page_token.is_empty() {
        writeln!(out, "\nnext page: --page-token {}", page.next_page_token)?;
    }
    Ok(())
}

/// `2 Finance`: the step's number and its name in the policy.
fn step_title(step: &pb::ApprovalRequestStep) -> String {
    let number = step.name.rsplit('/').next().unwrap_or_default();
    let name = step.step.as_ref().map_or("", |s| s.name.as_str());
    format!("{number} {name}")
}

fn preview(
    route: &pb::PreviewApprovalRouteResponse,
    format: Format,
    out: &mut dyn Write,
) -> Result<(), ClientError> {
    if format == Format::Json {
        return json::write_message(out, "dealdesk.v1.PreviewApprovalRouteResponse", route);
    }
    table::write_fields(
        out,
        &[
            ("Policy", route.policy.clone()),
            ("Auto-approved", table::yes_no(route.auto_approved)),
        ],
    )?;
    if !route.steps.is_empty() {
        writeln!(out, "\nRoute")?;
    }
    for (i, step) in route.steps.iter().enumerate() {
        let policy_step = step.step.clone().unwrap_or_default();
        writeln!(out, "{}. {}", i + 1, policy_step_line(&policy_step))?;
        for reason in &step.reasons {
            writeln!(out, "   - {reason}")?;
        }
    }
    Ok(())
}

/// `Sales manager (owner's manager; all of them; 24 h)`.
fn policy_step_line(step: &pb::ApprovalStep) -> String {
    let approvers: Vec<String> = step.approvers.iter().map(approver_label).collect();
    let mode = if step.mode == pb::approval_step::Mode::Any as i32 {
        "any one"
    } else {
        "all"
    };
    format!(
        "{} ({}; {mode}; SLA {} h)",
        step.name,
        approvers.join(", "),
        step.sla_hours
    )
}

fn approver_label(approver: &pb::Approver) -> String {
    use pb::approver::{Approver, Relation};
    match &approver.approver {
        Some(Approver::Relation(r)) => match Relation::try_from(*r) {
            Ok(Relation::OwnersManager) => "the owner's manager".into(),
            Ok(Relation::LeaderAboveOwner) => "the leader above the owner".into(),
            _ => "?".into(),
        },
        Some(Approver::RoleQueue(role)) => role_queue(*role),
        None => "?".into(),
    }
}

fn role_queue(role: i32) -> String {
    pb::Role::try_from(role).map_or_else(
        |_| "?".into(),
        |r| format!("{} queue", table::label(r.as_str_name(), "ROLE_")),
    )
}

async fn approval_request(
    connection: &Connection,
    request: &pb::ApprovalRequest,
    out: &mut dyn Write,
) -> Result<(), ClientError> {
    let state = pb::approval_request::State::try_from(request.state).map_or_else(
        |_| String::new(),
        |s| table::label(s.as_str_name(), "STATE_"),
    );
    let payment = if request.payment_days > 0 {
        format!("{} days", request.payment_days)
    } else {
        String::new()
    };
    table::write_fields(
        out,
        &[
            ("Request", request.name.clone()),
            ("Deal", request.deal.clone()),
            (
                "Requester",
                connection.display_name(&request.requester).await,
            ),
            ("Policy", request.policy.clone()),
            ("State", state),
            ("Auto-approved", table::yes_no(request.auto_approved)),
            ("Discount", table::bps(request.discount_bps)),
            ("Amount", table::money(request.amount.as_ref())),
            ("Clauses", request.clauses.join(", ")),
            ("Terms", request.non_standard_terms.clone()),
            ("Payment", payment),
            ("Resubmits", request.resubmits.clone()),
            ("Submitted", table::instant(request.create_time.as_ref())),
            ("Closed", table::instant(request.close_time.as_ref())),
        ],
    )?;
    if !request.steps.is_empty() {
        writeln!(out, "\nSteps")?;
    }
    for step in &request.steps {
        let state = pb::approval_request_step::State::try_from(step.state).map_or_else(
            |_| String::new(),
            |s| table::label(s.as_str_name(), "STATE_"),
        );
        let due = table::instant(step.due_time.as_ref());
        let due =
            if due.is_empty() || step.state != pb::approval_request_step::State::Pending as i32 {
                String::new()
            } else {
                format!(", due {due}")
            };
        writeln!(out, "{} [{state}{due}]", step_title(step))?;
        for seat in &step.seats {
            writeln!(out, "   {}", seat_line(connection, seat).await)?;
        }
        for reason in &step.reasons {
            writeln!(out, "   - {reason}")?;
        }
        if !step.reapproval.is_empty() {
            writeln!(out, "   {}", step.reapproval)?;
        }
    }
    Ok(())
}

/// `Mia Manager: approved by Mia Manager: OK` or `finance queue: undecided`.
async fn seat_line(connection: &Connection, seat: &pb::ApprovalSeat) -> String {
    let who = if seat.user.is_empty() {
        role_queue(seat.role)
    } else {
        connection.display_name(&seat.user).await
    };
    match &seat.decision {
        None => format!("{who}: undecided"),
        Some(decision) => {
            let verdict = if decision.approved {
                "approved"
            } else {
                "rejected"
            };
            let by = connection.display_name(&decision.decided_by).await;
            let comment = if decision.comment.is_empty() {
                String::new()
            } else {
                format!(": {}", decision.comment)
            };
            format!("{who}: {verdict} by {by}{comment}")
        }
    }
}
