//! What README's walkthroughs need from the seeded demo, found once and written as
//! `dealdesk-demo.env` (shell `export` lines) so that `source dealdesk-demo.env` replaces every
//! "take an id from the output" step. The same seed writes the same file.

use std::collections::HashSet;

use super::DemoLogin;
use crate::app::names::user_name;
use crate::app::ports::Store;
use crate::app::{App, AppResult, Principal};
use crate::domain::deal::{Deal, DealStatus};
use crate::domain::directory::{Role, User};
use crate::domain::ids::{DealId, PipelineId};
use crate::domain::money::Currency;
use crate::domain::period::Period;
use crate::domain::pipeline::{Pipeline, Segment, StageKind};

/// Above this many US dollars (in cents) an enterprise deal meets the demo policy's finance
/// step ([`super::demo_policies`]).
const ENTERPRISE_FINANCE_ABOVE: i64 = 1_000_000 * 100;

/// The walkthrough's deals and people.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Walkthrough {
    /// The demo's seed.
    pub seed: u64,
    /// The current fiscal quarter and the one before it (ended).
    pub quarter: Period,
    pub last_quarter: Period,
    /// Every person with their demo token, in the order seeded.
    pub logins: Vec<(User, String)>,
    /// The walkthrough's rep (the owner of [`Walkthrough::big_deal`] when there is one) and
    /// their manager.
    pub rep: usize,
    pub manager: Option<usize>,
    /// The pipelines by segment.
    pub pipelines: Vec<(Segment, PipelineId)>,
    /// An open deal of the rep whose next stage has unmet exit criteria: (deal, pipeline,
    /// stage, next stage).
    pub gated_deal: Option<(DealId, PipelineId, String, String)>,
    /// An open enterprise deal of the rep in USD over the finance threshold, without discount
    /// or request.
    pub big_deal: Option<DealId>,
}

/// Finds the walkthrough's rep, deals and periods in the seeded demo. `used` are the deals the
/// demo's requests were made on (left out).
pub async fn find<S: Store>(
    app: &App<S>,
    seed: u64,
    logins: &[DemoLogin],
    pipelines: &[Pipeline],
    deals: &[Deal],
    used: &HashSet<DealId>,
) -> AppResult<Walkthrough> {
    let segment_of = |deal: &Deal| {
        pipelines
            .iter()
            .find(|p| p.id == deal.pipeline_id)
            .map(|p| p.spec.segment)
    };
    let is_rep = |deal: &Deal| {
        logins
            .iter()
            .any(|l| l.user.id == deal.fields.owner_id && l.user.profile.role == Role::Rep)
    };
    let open = |deal: &&Deal| {
        deal.status == DealStatus::Open
            && deal.fields.discount_bps == 0
            && !used.contains(&deal.id)
            && is_rep(deal)
    };
    let big_deal = deals.iter().filter(open).find(|d| {
        segment_of(d) == Some(Segment::Enterprise)
            && d.fields
                .amount
                .is_some_and(|a| a.currency == Currency::USD && a.minor > ENTERPRISE_FINANCE_ABOVE)
    });
    let first_rep = logins.iter().position(|l| l.user.profile.role == Role::Rep);
    let rep = big_deal
        .and_then(|d| logins.iter().position(|l| l.user.id == d.fields.owner_id))
        .or(first_rep)
        .unwrap_or(0);
    let rep_user = &logins[rep].user;
    let manager = logins
        .iter()
        .position(|l| Some(l.user.id) == rep_user.profile.manager_id);
    let principal = Principal {
        user: rep_user.clone(),
    };
    let mut gated_deal = None;
    for deal in deals.iter().filter(open) {
        if deal.fields.owner_id != rep_user.id || Some(deal) == big_deal {
            continue;
        }
        let Some(pipeline) = pipelines.iter().find(|p| p.id == deal.pipeline_id) else {
            continue;
        };
        let Some(next) = next_stage(pipeline, &deal.stage_id) else {
            continue;
        };
        let preview = app.preview_stage(&principal, deal.id, &next).await?;
        if !preview.plan.allowed() {
            gated_deal = Some((deal.id, pipeline.id, deal.stage_id.clone(), next));
            break;
        }
    }
    let quarter = app.calendar.quarter_of(app.today());
    let last_quarter = crate::domain::new_pipeline::previous(quarter);
    Ok(Walkthrough {
        seed,
        quarter,
        last_quarter,
        logins: logins
            .iter()
            .map(|l| (l.user.clone(), l.secret.clone()))
            .collect(),
        rep,
        manager,
        pipelines: pipelines.iter().map(|p| (p.spec.segment, p.id)).collect(),
        gated_deal,
        big_deal: big_deal.map(|d| d.id),
    })
}

/// The open stage after `stage` in position order, or the won stage after the last open one.
fn next_stage(pipeline: &Pipeline, stage: &str) -> Option<String> {
    let mut stages: Vec<_> = pipeline
        .spec
        .stages
        .iter()
        .filter(|s| s.kind != StageKind::Lost)
        .collect();
    stages.sort_by_key(|s| s.position);
    let at = stages.iter().position(|s| s.stage_id == stage)?;
    stages.get(at + 1).map(|s| s.stage_id.clone())
}

/// A person's shell name: the first word of their display name, upper case (`RILEY`).
fn key(user: &User) -> String {
    user.profile
        .display_name
        .as_str()
        .split_whitespace()
        .next()
        .unwrap_or("USER")
        .to_uppercase()
}

fn role_key(role: Role) -> Option<&'static str> {
    Some(match role {
        Role::Admin => "ADMIN",
        Role::Leader => "LEADER",
        Role::DealDesk => "DESK",
        Role::Finance => "FINANCE",
        Role::Legal => "LEGAL",
        _ => return None,
    })
}

fn segment_key(segment: Segment) -> &'static str {
    match segment {
        Segment::Smb => "SMB",
        Segment::MidMarket => "MID_MARKET",
        Segment::Enterprise => "ENTERPRISE",
    }
}

impl Walkthrough {
    /// The env file: `export` lines for a POSIX shell, `addr` (`host:port`) being where the
    /// demo serves.
    pub fn env_file(&self, addr: &str) -> String {
        let mut out = format!(
            "# dealdesk demo, seed {}: `source` this file, then follow README's walkthroughs.\n\
             # DEMO ONLY: these tokens are derived from the seed, so anyone who knows the seed\n\
             # knows them. They are the same at every start with the same seed. Never use the\n\
             # demo (or its seed) for real data: a real server's tokens are random.\n",
            self.seed
        );
        let mut export = |name: &str, value: &str, note: &str| {
            let note = if note.is_empty() {
                String::new()
            } else {
                format!("  # {note}")
            };
            out.push_str(&format!("export {name}='{value}'{note}\n"));
        };
        let url = format!("http://{addr}");
        export(
            "DEALDESK_ADDR",
            &url,
            "where the demo serves (the client's --addr)",
        );
        let (rep, rep_token) = &self.logins[self.rep];
        export("DEALDESK_TOKEN", rep_token, "the walkthrough rep's token");
        export(
            "QUARTER",
            &self.quarter.to_string(),
            "the current fiscal quarter",
        );
        export("LAST_QUARTER", &self.last_quarter.to_string(), "ended");
        for (user, token) in &self.logins {
            let name = user.profile.display_name.as_str();
            export(&format!("{}_TOKEN", key(user)), token, name);
            export(&key(user), &user_name(user.id), name);
        }
        for role in [
            Role::Admin,
            Role::Leader,
            Role::DealDesk,
            Role::Finance,
            Role::Legal,
        ] {
            let first = self.logins.iter().find(|(u, _)| u.profile.role == role);
            if let (Some(key), Some((user, token))) = (role_key(role), first) {
                let name = user.profile.display_name.as_str();
                export(&format!("{key}_TOKEN"), token, name);
                export(key, &format!("users/{}", user.id.0), name);
            }
        }
        let rep_name = rep.profile.display_name.as_str();
        export(
            "REP_TOKEN",
            rep_token,
            &format!("the walkthrough rep, {rep_name}"),
        );
        export(
            "TOKEN",
            rep_token,
            &format!("the walkthrough rep, {rep_name}"),
        );
        export("REP", &format!("users/{}", rep.id.0), rep_name);
        if let Some((manager, token)) = self.manager.map(|m| &self.logins[m]) {
            let name = format!(
                "{}, the rep's manager",
                manager.profile.display_name.as_str()
            );
            export("MANAGER_TOKEN", token, &name);
            export("MANAGER", &format!("users/{}", manager.id.0), &name);
        }
        for (segment, id) in &self.pipelines {
            let name = format!("PIPELINE_{}", segment_key(*segment));
            export(&name, &format!("pipelines/{id}"), "");
        }
        if let Some((deal, pipeline, stage, next)) = &self.gated_deal {
            let note = "the rep's deal whose next stage has unmet exit criteria";
            export("DEAL", &format!("deals/{deal}"), note);
            export(
                "PIPELINE",
                &format!("pipelines/{pipeline}"),
                "the deal's pipeline",
            );
            export("STAGE", stage, "the deal's stage");
            export("NEXT_STAGE", next, "the stage after it");
        }
        if let Some(deal) = self.big_deal {
            let note = "the rep's enterprise deal over the finance threshold, no request yet";
            export("BIG_DEAL", &format!("deals/{deal}"), note);
        }
        out
    }
}
