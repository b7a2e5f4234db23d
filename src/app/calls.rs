//! Forecast calls: submissions by each seller, adjustments by the managers above them at any
//! depth, deal judgments, and the lineage of a call read as of any time.

use chrono::{DateTime, Utc};

use super::names::{call_name, deal_name, user_name};
use super::ports::{AuditEntry, Store};
use super::roles::{require_call_adjuster, require_deal_judge, require_seller};
use super::{App, AppError, AppResult, Principal};
use crate::domain::Violations;
use crate::domain::call::{CallEvent, CallEventKind, Level, judgments, lineage, own_call};
use crate::domain::deal::Access;
use crate::domain::directory::{Role, UserId};
use crate::domain::ids::DealId;
use crate::domain::money::Money;
use crate::domain::period::Period;
use crate::domain::text::Note;

/// A call as a reader sees it.
#[derive(Debug, Clone)]
pub struct CallView {
    /// What the person submitted.
    pub own: Option<(Money, Money)>,
    /// The person, then each manager above.
    pub lineage: Vec<Level>,
    /// The level the caller sees.
    pub seen: Level,
    /// The person's latest judgment per deal.
    pub judgments: Vec<CallEvent>,
    /// Every event, oldest first.
    pub events: Vec<CallEvent>,
}

fn check_note(note: &str) -> AppResult<String> {
    let mut v = Violations::new();
    v.text::<Note>("note", note);
    v.into_result(note.trim().to_string())
        .map_err(AppError::invalid)
}

impl<S: Store> App<S> {
    async fn record_call(
        &self,
        principal: &Principal,
        event: CallEvent,
        action: &'static str,
    ) -> AppResult<CallEvent> {
        let audit = AuditEntry {
            actor: Some(principal.user.id),
            action,
            resource: call_name(event.subject, &event.period),
            detail: event.note.clone(),
            change: None,
        };
        self.store.append_call_event(&event, audit).await
    }

    /// Submits the caller's own call.
    pub async fn submit_call(
        &self,
        principal: &Principal,
        period: Period,
        amounts: (Money, Money),
        note: &str,
    ) -> AppResult<CallEvent> {
        require_seller(principal)?;
        let note = check_note(note)?;
        let me = principal.user.id;
        let event = CallEvent {
            sequence: 0,
            kind: CallEventKind::Submit,
            period: period.to_string(),
            subject: me,
            author: me,
            commit: Some(amounts.0),
            best_case: Some(amounts.1),
            deal: None,
            include: false,
            note,
            at: self.now(),
        };
        self.record_call(principal, event, "SubmitForecastCall")
            .await
    }

    /// Adjusts the call of someone below the caller.
    pub async fn adjust_call(
        &self,
        principal: &Principal,
        period: Period,
        subject: UserId,
        amounts: (Money, Money),
        note: &str,
    ) -> AppResult<CallEvent> {
        require_call_adjuster(principal)?;
        let note = check_note(note)?;
        if self.store.get_user(subject).await?.is_none() {
            return Err(AppError::NotFound {
                kind: "user",
                name: user_name(subject),
            });
        }
        let above = matches!(principal.role(), Role::Manager | Role::Leader)
            && self
                .store
                .reporting_chain(subject)
                .await?
                .contains(&principal.user.id);
        if !above {
            return Err(AppError::denied(
                "ADJUST_REQUIRES_MANAGER",
                "only a manager or leader above a person adjusts their call",
            ));
        }
        let event = CallEvent {
            sequence: 0,
            kind: CallEventKind::Adjust,
            period: period.to_string(),
            subject,
            author: principal.user.id,
            commit: Some(amounts.0),
            best_case: Some(amounts.1),
            deal: None,
            include: false,
            note,
            at: self.now(),
        };
        self.record_call(principal, event, "AdjustForecastCall")
            .await
    }

    /// Judges a deal of the caller's subtree in or out of their own call.
    pub async fn judge_deal(
        &self,
        principal: &Principal,
        period: Period,
        deal: DealId,
        include: bool,
        note: &str,
    ) -> AppResult<CallEvent> {
        require_deal_judge(principal)?;
        let note = check_note(note)?;
        let found = self
            .store
            .get_deal(deal)
            .await?
            .ok_or_else(|| AppError::NotFound {
                kind: "deal",
                name: deal_name(deal),
            })?;
        let chain = self.store.reporting_chain(found.fields.owner_id).await?;
        let access = crate::domain::deal::access(
            principal.user.id,
            principal.role(),
            found.fields.owner_id,
            &chain,
        );
        if !matches!(access, Access::Write { .. }) {
            return Err(AppError::NotFound {
                kind: "deal",
                name: deal_name(deal),
            });
        }
        let me = principal.user.id;
        let event = CallEvent {
            sequence: 0,
            kind: CallEventKind::Judge,
            period: period.to_string(),
            subject: me,
            author: me,
            commit: None,
            best_case: None,
            deal: Some(deal),
            include,
            note,
            at: self.now(),
        };
        self.record_call(principal, event, "JudgeDeal").await
    }

    /// A person's call as of `as_of` (default now), as the caller may see it.
    pub async fn get_call(
        &self,
        principal: &Principal,
        period: Period,
        subject: UserId,
        as_of: Option<DateTime<Utc>>,
    ) -> AppResult<CallView> {
        if self.store.get_user(subject).await?.is_none() {
            return Err(AppError::NotFound {
                kind: "user",
                name: user_name(subject),
            });
        }
        let chain = self.store.reporting_chain(subject).await?;
        let visible = subject == principal.user.id
            || matches!(
                principal.role(),
                Role::DealDesk | Role::Finance | Role::Legal | Role::Admin
            )
            || (matches!(principal.role(), Role::Manager | Role::Leader)
                && chain.contains(&principal.user.id));
        if !visible {
            return Err(AppError::denied(
                "SCOPE_NOT_VISIBLE",
                "you may read only your own call and those of people below you",
            ));
        }
        let events = self
            .store
            .call_events(
                &period.to_string(),
                Some(&[subject]),
                as_of.unwrap_or_else(Utc::now),
            )
            .await?;
        let levels = lineage(subject, &chain, &events);
        let seen = levels
            .iter()
            .find(|l| l.user == principal.user.id)
            .or(levels.last())
            .cloned()
            .unwrap_or_else(|| levels[0].clone());
        Ok(CallView {
            own: own_call(&events),
            judgments: judgments(&events),
            lineage: levels,
            seen,
            events,
        })
    }
}
