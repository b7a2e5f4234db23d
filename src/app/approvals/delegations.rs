//! Delegations: an approver hands their approvals to another active user for a date range.

use crate::domain::Problem;
use chrono::{DateTime, NaiveDate, Utc};

use crate::app::names::{delegation_name, user_name};
use crate::app::ports::{AuditEntry, Created, IdempotencyKey, Store};
use crate::app::{App, AppError, AppResult, Principal, idempotent_write};
use crate::domain::approval_request::{Delegation, check_delegation};
use crate::domain::directory::{Role, User, UserId};
use crate::domain::ids::DelegationId;

/// A delegation as asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NewDelegation {
    /// Whose approvals are delegated (`None`: the caller's).
    pub delegator: Option<UserId>,
    /// Who approves for them.
    pub delegate: UserId,
    /// First day delegated, in the org's calendar.
    pub start: NaiveDate,
    /// Last day delegated.
    pub end: NaiveDate,
}

impl<S: Store> App<S> {
    /// Delegates the approvals of `delegation.delegator` (the caller, or anyone for an admin)
    /// to another active user for a date range, refusing ranges that would close a cycle.
    pub async fn create_delegation(
        &self,
        principal: &Principal,
        asked: NewDelegation,
        key: Option<IdempotencyKey>,
        respond: impl FnOnce(&Delegation) -> Vec<u8>,
    ) -> AppResult<Created<Delegation>> {
        let NewDelegation {
            delegator,
            delegate,
            start,
            end,
        } = asked;
        if let Some(saved) = self.replay(key.as_ref()).await? {
            return Ok(Created::Replayed(saved));
        }
        let delegator = delegator.unwrap_or(principal.user.id);
        if delegator != principal.user.id && principal.role() != Role::Admin {
            return Err(AppError::denied(
                "OWN_DELEGATIONS_ONLY",
                "only an admin delegates someone else's approvals",
            ));
        }
        let active = |u: Option<User>| u.is_some_and(|u| u.profile.active);
        if !active(self.store.get_user(delegator).await?) {
            return Err(AppError::invalid_field(
                Problem::UnknownReference,
                "delegation.delegator",
                "must be an active user",
            ));
        }
        if !active(self.store.get_user(delegate).await?) {
            return Err(AppError::invalid_field(
                Problem::UnknownReference,
                "delegation.delegate",
                "must be an active user",
            ));
        }
        let delegation = Delegation {
            id: DelegationId(self.ids.id()),
            delegator,
            delegate,
            start,
            end,
            creator: principal.user.id,
            created_at: self.now(),
        };
        check_delegation(&delegation, &[]).map_err(AppError::invalid)?;
        let audit = AuditEntry {
            actor: Some(principal.user.id),
            action: "CreateDelegation",
            resource: delegation_name(delegation.id),
            detail: format!(
                "{} to {} from {} to {}",
                user_name(delegator),
                user_name(delegate),
                start,
                end
            ),
            change: None,
        };
        let write = idempotent_write(key, || respond(&delegation));
        let check = |existing: &[Delegation]| {
            check_delegation(&delegation, existing).map_err(AppError::invalid)
        };
        Ok(
            match self
                .store
                .insert_delegation(&delegation, check, audit, write)
                .await?
            {
                Created::New(()) => Created::New(delegation),
                Created::Replayed(saved) => Created::Replayed(saved),
            },
        )
    }

    /// Delegations given by or to the caller; deal desk and admins see every one.
    pub async fn list_delegations(
        &self,
        principal: &Principal,
        after: Option<(DateTime<Utc>, DelegationId)>,
        limit: u64,
    ) -> AppResult<Vec<Delegation>> {
        let user = match principal.role() {
            Role::Admin | Role::DealDesk => None,
            _ => Some(principal.user.id),
        };
        self.store.list_delegations(user, after, limit).await
    }
}
