//! The rights that depend on the caller's role alone, one check per use case. The gRPC adapters
//! run them right after authenticating, before reading the request's body: a REP's malformed
//! policy is PERMISSION_DENIED, not a list of the policy's problems. The use cases run them
//! again, so a caller other than the adapters cannot skip them. Rights that depend on the target
//! (the deal's owner, the step's approver) stay in the use cases.

use super::{AppError, AppResult, Principal};
use crate::domain::directory::Role;

/// Users and API tokens are managed by admins.
pub fn require_directory_admin(principal: &Principal) -> AppResult<()> {
    if principal.role().may_manage_directory() {
        Ok(())
    } else {
        Err(AppError::denied(
            "ADMIN_ONLY",
            "only admins manage users and tokens",
        ))
    }
}

/// Pipelines, stages and exit criteria are changed by admins (RevOps).
pub fn require_pipeline_editor(principal: &Principal) -> AppResult<()> {
    if principal.role().may_edit_pipelines() {
        Ok(())
    } else {
        Err(AppError::denied(
            "ADMIN_ONLY",
            "only admins change pipelines and stages",
        ))
    }
}

/// Deal desk, finance and legal read every deal but never change one.
pub fn require_deal_writer(principal: &Principal) -> AppResult<()> {
    match principal.role() {
        Role::DealDesk | Role::Finance | Role::Legal => Err(AppError::denied(
            "READ_ONLY_ROLE",
            format!(
                "a {} reads deals but does not change them",
                principal.role().as_str()
            ),
        )),
        _ => Ok(()),
    }
}

/// Win rates are computed by admins and leaders.
pub fn require_rate_setter(principal: &Principal) -> AppResult<()> {
    match principal.role() {
        Role::Admin | Role::Leader => Ok(()),
        role => Err(AppError::denied(
            "WIN_RATES_REQUIRE_LEADER",
            format!(
                "a {} cannot compute win rates; admins and leaders can",
                role.as_str()
            ),
        )),
    }
}

/// Exchange rates are set by admins.
pub fn require_exchange_rate_setter(principal: &Principal) -> AppResult<()> {
    if principal.role() == Role::Admin {
        Ok(())
    } else {
        Err(AppError::denied(
            "ADMIN_ONLY",
            "only admins set exchange rates",
        ))
    }
}

/// Whether a role sells: reps, managers and leaders make forecast calls.
pub fn is_seller(role: Role) -> bool {
    matches!(role, Role::Rep | Role::Manager | Role::Leader)
}

/// One's own forecast call is submitted by sellers.
pub fn require_seller(principal: &Principal) -> AppResult<()> {
    if is_seller(principal.role()) {
        Ok(())
    } else {
        Err(AppError::denied(
            "CALLS_ARE_FOR_SELLERS",
            "reps, managers and leaders submit forecast calls",
        ))
    }
}

/// Calls are adjusted by managers and leaders (above the person, checked by the use case).
pub fn require_call_adjuster(principal: &Principal) -> AppResult<()> {
    if matches!(principal.role(), Role::Manager | Role::Leader) {
        Ok(())
    } else {
        Err(AppError::denied(
            "ADJUST_REQUIRES_MANAGER",
            "only a manager or leader above a person adjusts their call",
        ))
    }
}

/// Deals are judged in or out of a call by managers and leaders.
pub fn require_deal_judge(principal: &Principal) -> AppResult<()> {
    if matches!(principal.role(), Role::Manager | Role::Leader) {
        Ok(())
    } else {
        Err(AppError::denied(
            "JUDGE_REQUIRES_MANAGER",
            "managers and leaders judge deals in or out of their call",
        ))
    }
}

/// Approval policies are edited by admins and deal desk.
pub fn require_policy_editor(principal: &Principal) -> AppResult<()> {
    if matches!(principal.role(), Role::Admin | Role::DealDesk) {
        Ok(())
    } else {
        Err(AppError::denied(
            "POLICY_EDITORS_ONLY",
            "only admins and deal desk edit approval policies",
        ))
    }
}

/// Finance and legal approve requests but never submit one (who writes the deal, and deal
/// desk, do: checked by the use case).
pub fn require_requester_role(principal: &Principal) -> AppResult<()> {
    match principal.role() {
        Role::Finance | Role::Legal => Err(AppError::denied(
            "REQUESTER_ROLE",
            format!(
                "a {} does not submit deal-desk requests",
                principal.role().as_str()
            ),
        )),
        _ => Ok(()),
    }
}

/// The whole desk's requests (not one deal's, not one's queue) are listed by deal desk, finance,
/// legal and admins: the roles that read every deal.
pub fn require_desk_reader(principal: &Principal) -> AppResult<()> {
    if matches!(
        principal.role(),
        Role::DealDesk | Role::Finance | Role::Legal | Role::Admin
    ) {
        Ok(())
    } else {
        Err(AppError::denied(
            "DESK_READERS_ONLY",
            "the whole desk's requests are listed by deal desk, finance, legal and admins; \
             list a deal's requests (deal) or your queue (my_queue)",
        ))
    }
}

/// Approval metrics are read by deal desk, finance, legal, leaders and admins.
pub fn require_metrics_reader(principal: &Principal) -> AppResult<()> {
    if matches!(
        principal.role(),
        Role::DealDesk | Role::Finance | Role::Legal | Role::Leader | Role::Admin
    ) {
        Ok(())
    } else {
        Err(AppError::denied(
            "METRICS_READERS_ONLY",
            "approval metrics are for deal desk, finance, legal, leaders and admins",
        ))
    }
}
