//! Forecast calls: what each person commits to for a period, what the managers above them make
//! of it, and the deals a manager judges in or out. Every submission, adjustment and judgment is
//! an append-only event; the latest counts, and replaying the events up to a time gives the
//! state as of then.

use chrono::{DateTime, Utc};

use super::directory::UserId;
use super::ids::DealId;
use super::money::{Currency, MAX_AMOUNT_MINOR, Money};
use super::wording::not_a_currency;
use super::{Problem, Violations};

/// What a call event does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CallEventKind {
    /// A person submits their own call.
    Submit,
    /// A manager above adjusts it.
    Adjust,
    /// A manager judges a deal in or out of their own call.
    Judge,
}

/// One append-only event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallEvent {
    /// Increasing sequence (0 until stored).
    pub sequence: i64,
    /// What it does.
    pub kind: CallEventKind,
    /// The period, as written (`2026-Q4`).
    pub period: String,
    /// Whose call.
    pub subject: UserId,
    /// Who did it.
    pub author: UserId,
    /// Commit (submit, adjust).
    pub commit: Option<Money>,
    /// Best case (submit, adjust).
    pub best_case: Option<Money>,
    /// The judged deal (judge).
    pub deal: Option<DealId>,
    /// In or out (judge).
    pub include: bool,
    /// Why.
    pub note: String,
    /// When.
    pub at: DateTime<Utc>,
}

/// A call's value at one level of the chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Level {
    /// The person at this level.
    pub user: UserId,
    /// Commit as this level sees it.
    pub commit: Option<Money>,
    /// Best case as this level sees it.
    pub best_case: Option<Money>,
    /// Whether this level adjusted.
    pub adjusted: bool,
    /// Commit minus the level below's.
    pub commit_delta: i64,
    /// Best case minus the level below's.
    pub best_case_delta: i64,
}

/// Parses a call's amounts: one known currency, commit at least zero, best case at least commit.
pub fn parse_amounts(
    commit: Option<(i64, &str)>,
    best_case: Option<(i64, &str)>,
) -> Result<(Money, Money), Violations> {
    let mut v = Violations::new();
    let mut one = |field: &str, value: Option<(i64, &str)>| -> Option<Money> {
        let Some((minor, code)) = value else {
            v.add_as(Problem::MissingField, field, "is required");
            return None;
        };
        let currency = Currency::parse(code);
        if currency.is_none() {
            v.add_as(
                Problem::BadCurrency,
                format!("{field}.currency_code"),
                not_a_currency(code),
            );
        }
        if !(0..=MAX_AMOUNT_MINOR).contains(&minor) {
            v.add_as(
                Problem::BadMoney,
                format!("{field}.amount_minor"),
                format!("must be between 0 and {MAX_AMOUNT_MINOR}, got {minor}"),
            );
            return None;
        }
        currency.map(|currency| Money { minor, currency })
    };
    let commit = one("commit", commit);
    let best = one("best_case", best_case);
    if let (Some(c), Some(b)) = (commit, best) {
        if c.currency != b.currency {
            v.add_as(
                Problem::BadMoney,
                "best_case.currency_code",
                "must be the commit's currency",
            );
        } else if b.minor < c.minor {
            v.add_as(
                Problem::BadMoney,
                "best_case.amount_minor",
                "must be at least the commit",
            );
        }
    }
    match (commit, best) {
        (Some(c), Some(b)) if v.is_empty() => Ok((c, b)),
        _ => Err(v),
    }
}

/// The latest submission of the subject in `events`.
pub fn own_call(events: &[CallEvent]) -> Option<(Money, Money)> {
    events
        .iter()
        .filter(|e| e.kind == CallEventKind::Submit && e.author == e.subject)
        .max_by_key(|e| e.sequence)
        .and_then(|e| e.commit.zip(e.best_case))
}

/// The lineage of `subject`'s call: the subject, then each manager in `chain_above` (nearest
/// first). A level that adjusted shows its latest adjustment, else the value of the level below.
pub fn lineage(subject: UserId, chain_above: &[UserId], events: &[CallEvent]) -> Vec<Level> {
    let mut levels = Vec::with_capacity(chain_above.len() + 1);
    let own = own_call(events);
    levels.push(Level {
        user: subject,
        commit: own.map(|o| o.0),
        best_case: own.map(|o| o.1),
        adjusted: false,
        commit_delta: 0,
        best_case_delta: 0,
    });
    for manager in chain_above {
        let below = levels.last().cloned().unwrap_or_else(|| levels[0].clone());
        let adjustment = events
            .iter()
            .filter(|e| e.kind == CallEventKind::Adjust && e.author == *manager)
            .max_by_key(|e| e.sequence)
            .and_then(|e| e.commit.zip(e.best_case));
        let level = match adjustment {
            Some((commit, best)) => Level {
                user: *manager,
                commit: Some(commit),
                best_case: Some(best),
                adjusted: true,
                commit_delta: delta(below.commit, commit),
                best_case_delta: delta(below.best_case, best),
            },
            None => Level {
                user: *manager,
                adjusted: false,
                commit_delta: 0,
                best_case_delta: 0,
                ..below
            },
        };
        levels.push(level);
    }
    levels
}

/// The difference a level made (against nothing below, the whole amount; across currencies, 0).
fn delta(below: Option<Money>, now: Money) -> i64 {
    match below {
        None => now.minor,
        Some(b) if b.currency == now.currency => now.minor - b.minor,
        Some(_) => 0,
    }
}

/// The latest judgment of each deal, in deal order of first judgment.
pub fn judgments(events: &[CallEvent]) -> Vec<CallEvent> {
    let mut latest: Vec<CallEvent> = Vec::new();
    for e in events
        .iter()
        .filter(|e| e.kind == CallEventKind::Judge && e.author == e.subject)
    {
        match latest.iter_mut().find(|l| l.deal == e.deal) {
            Some(existing) if existing.sequence < e.sequence => *existing = e.clone(),
            Some(_) => {}
            None => latest.push(e.clone()),
        }
    }
    latest
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::money::usd;

    fn event(
        sequence: i64,
        kind: CallEventKind,
        subject: UserId,
        author: UserId,
        commit: i64,
        best: i64,
    ) -> CallEvent {
        CallEvent {
            sequence,
            kind,
            period: "2026-Q4".into(),
            subject,
            author,
            commit: Some(usd(commit)),
            best_case: Some(usd(best)),
            deal: None,
            include: false,
            note: String::new(),
            at: Utc::now(),
        }
    }

    #[test]
    fn amounts_need_one_currency_and_best_case_at_least_commit() {
        assert!(parse_amounts(Some((0, "USD")), Some((0, "USD"))).is_ok());
        let err = parse_amounts(Some((10, "USD")), Some((5, "USD"))).unwrap_err();
        assert_eq!(err.0[0].field, "best_case.amount_minor");
        let err = parse_amounts(Some((10, "USD")), Some((50, "EUR"))).unwrap_err();
        assert_eq!(err.0[0].field, "best_case.currency_code");
        let err = parse_amounts(Some((-1, "usd")), None).unwrap_err();
        let fields: Vec<&str> = err.0.iter().map(|v| v.field.as_str()).collect();
        assert_eq!(
            fields,
            ["commit.currency_code", "commit.amount_minor", "best_case"]
        );
    }

    #[test]
    fn the_latest_submission_counts() {
        let rep = UserId::generate();
        let events = [
            event(1, CallEventKind::Submit, rep, rep, 100, 200),
            event(2, CallEventKind::Submit, rep, rep, 150, 250),
        ];
        assert_eq!(own_call(&events), Some((usd(150), usd(250))));
    }

    #[test]
    fn each_level_shows_its_adjustment_or_the_value_below_with_the_delta() {
        let (rep, manager, leader) = (UserId::generate(), UserId::generate(), UserId::generate());
        let events = [
            event(1, CallEventKind::Submit, rep, rep, 100, 200),
            event(2, CallEventKind::Adjust, rep, leader, 80, 150),
        ];
        let levels = lineage(rep, &[manager, leader], &events);
        let seen: Vec<(UserId, i64, bool, i64)> = levels
            .iter()
            .map(|l| (l.user, l.commit.unwrap().minor, l.adjusted, l.commit_delta))
            .collect();
        assert_eq!(
            seen,
            [
                (rep, 100, false, 0),
                (manager, 100, false, 0),
                (leader, 80, true, -20)
            ]
        );
        assert_eq!(levels[2].best_case_delta, -50);
    }

    #[test]
    fn a_manager_may_adjust_a_call_nobody_submitted() {
        let (rep, manager) = (UserId::generate(), UserId::generate());
        let levels = lineage(
            rep,
            &[manager],
            &[event(1, CallEventKind::Adjust, rep, manager, 40, 60)],
        );
        assert_eq!(levels[0].commit, None);
        assert_eq!(
            (levels[1].commit, levels[1].commit_delta),
            (Some(usd(40)), 40)
        );
    }

    #[test]
    fn the_latest_judgment_of_each_deal_counts() {
        let manager = UserId::generate();
        let deal = DealId::generate();
        let judge = |sequence, include| CallEvent {
            kind: CallEventKind::Judge,
            deal: Some(deal),
            include,
            commit: None,
            best_case: None,
            ..event(sequence, CallEventKind::Judge, manager, manager, 0, 0)
        };
        let latest = judgments(&[judge(1, true), judge(2, false)]);
        assert_eq!(latest.len(), 1);
        assert!(!latest[0].include);
    }
}
