//! Who may see and change a deal (rep, manager above the owner, leader), and the leader-owned
//! parts of a change.

use super::{DealFields, ForecastCategory};
use crate::domain::directory::{Role, UserId};
use crate::domain::pipeline::QualificationStatus;

/// How a principal stands towards one deal's owner.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// May not see the deal (it is NOT_FOUND to them).
    None,
    /// May read it (deal desk, finance, legal).
    Read,
    /// May change it; `leader` when the principal is a manager or leader above the owner, who
    /// alone set leader-owned fields.
    Write {
        /// Above the owner in the reporting tree.
        leader: bool,
    },
}

/// What `principal` (with `role`) may do with a deal of `owner`, whose chain of managers upward
/// is `owner_chain`.
pub fn access(principal: UserId, role: Role, owner: UserId, owner_chain: &[UserId]) -> Access {
    match role {
        Role::Rep if principal == owner => Access::Write { leader: false },
        Role::Rep => Access::None,
        Role::Manager | Role::Leader if owner_chain.contains(&principal) => {
            Access::Write { leader: true }
        }
        Role::Manager | Role::Leader if principal == owner => Access::Write { leader: false },
        Role::Manager | Role::Leader => Access::None,
        Role::DealDesk | Role::Finance | Role::Legal => Access::Read,
        Role::Admin => Access::Write { leader: false },
    }
}

/// Why a change of a leader-owned field was refused (the ErrorInfo reason and the message).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// UPPER_SNAKE reason.
    pub reason: &'static str,
    pub message: String,
}

/// Checks the leader-owned parts of a change from `before` (`None` on create) to `after`:
/// moving into or out of COMMIT, and setting (or changing) a GREEN qualification status.
pub fn check_leader_owned(
    before: Option<&DealFields>,
    after: &DealFields,
    leader: bool,
) -> Result<(), Refusal> {
    if leader {
        return Ok(());
    }
    let category_before = before.map(|b| b.forecast_category);
    let commit_touched = (after.forecast_category == ForecastCategory::Commit
        || category_before == Some(ForecastCategory::Commit))
        && category_before != Some(after.forecast_category);
    if commit_touched {
        return Err(Refusal {
            reason: "COMMIT_REQUIRES_MANAGER",
            message: "only a manager or leader above the owner moves a deal into or out of COMMIT"
                .into(),
        });
    }
    for item in &after.qualification {
        let was = before
            .map(|b| b.qualification_status(item.element))
            .unwrap_or(QualificationStatus::Unknown);
        let green_touched = (item.status == QualificationStatus::Green
            || was == QualificationStatus::Green)
            && was != item.status;
        if green_touched {
            return Err(Refusal {
                reason: "GREEN_REQUIRES_MANAGER",
                message: format!(
                    "only a manager or leader above the owner sets {} green (or changes a green one)",
                    item.element.label()
                ),
            });
        }
    }
    if let Some(before) = before {
        for item in &before.qualification {
            let removed = !after
                .qualification
                .iter()
                .any(|a| a.element == item.element);
            if removed && item.status == QualificationStatus::Green {
                return Err(Refusal {
                    reason: "GREEN_REQUIRES_MANAGER",
                    message: format!(
                        "only a manager or leader above the owner clears a green {}",
                        item.element.label()
                    ),
                });
            }
        }
    }
    Ok(())
}
