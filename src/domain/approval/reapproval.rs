//! Smart re-approval: which steps of a resubmitted request's route an earlier approval still
//! covers.

use super::{Cause, Route, RouteStep, Terms, percent};
use crate::domain::money::Money;

/// What an approved step approved: the request and amount it saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Approved {
    /// The step's name.
    pub name: String,
    /// The terms approved.
    pub terms: Terms,
    /// The amount approved.
    pub amount: Option<Money>,
}

/// Whether a step of the new route is kept from an earlier approval or asked again, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reapproval {
    pub step: RouteStep,
    /// Kept approved.
    pub kept: bool,
    /// Why, in words.
    pub why: String,
}

/// Smart re-approval: each step of `new_route` stays approved when an earlier approval of the
/// same step still covers what the step is there for (discount no higher, no new clauses or
/// free text, amount no larger, payment no longer); otherwise it is asked again, saying what got
/// riskier.
pub fn reapprove(new_route: &Route, terms: &Terms, approved: &[Approved]) -> Vec<Reapproval> {
    new_route
        .steps
        .iter()
        .map(|step| {
            let Some(before) = approved.iter().find(|a| a.name == step.step.name) else {
                return Reapproval {
                    step: step.clone(),
                    kept: false,
                    why: "not approved before".into(),
                };
            };
            let mut riskier = Vec::new();
            for cause in &step.causes {
                match cause {
                    Cause::Discount { bps, .. } if *bps > before.terms.discount_bps => riskier
                        .push(format!(
                            "discount rose from {} to {}",
                            percent(before.terms.discount_bps),
                            percent(*bps)
                        )),
                    Cause::Size { amount: now, .. } => match before.amount {
                        Some(was) if was.currency == now.currency && now.minor <= was.minor => {}
                        Some(was) => riskier.push(format!("amount rose from {} to {}", was, now)),
                        None => riskier.push("the amount was not set when approved".into()),
                    },
                    Cause::Legal { clauses, free_text } => {
                        let new: Vec<&String> = clauses
                            .iter()
                            .filter(|c| !before.terms.clauses.contains(c))
                            .collect();
                        if !new.is_empty() {
                            riskier.push(format!(
                                "new clauses {}",
                                new.iter()
                                    .map(|c| c.as_str())
                                    .collect::<Vec<_>>()
                                    .join(", ")
                            ));
                        }
                        if *free_text
                            && terms.non_standard.trim() != before.terms.non_standard.trim()
                        {
                            riskier.push("the non-standard terms changed".into());
                        }
                    }
                    Cause::Payment { days, .. } if *days > before.terms.payment_days => riskier
                        .push(format!(
                            "payment terms rose from {} to {} days",
                            before.terms.payment_days, days
                        )),
                    _ => {}
                }
            }
            if riskier.is_empty() {
                Reapproval {
                    step: step.clone(),
                    kept: true,
                    why: "kept: the earlier approval still covers this request".into(),
                }
            } else {
                Reapproval {
                    step: step.clone(),
                    kept: false,
                    why: format!("asked again: {}", riskier.join("; ")),
                }
            }
        })
        .collect()
}
