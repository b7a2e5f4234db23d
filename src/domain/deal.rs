//! Deals: the fields a rep keeps, validated on every write that sets them, and who may see and
//! change what (rep versus leader).

use chrono::{DateTime, NaiveDate, Utc};
use uuid::Uuid;

use super::directory::{Role, UserId};
use super::money::{Currency, Money, parse_positive};
use super::pipeline::{BuyingRole, QualificationElement, QualificationStatus};
use super::{Violations, check_text, within_limit};

/// Where a deal came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LeadSource {
    /// The buyer came to us.
    Inbound,
    /// We reached out.
    Outbound,
    /// Referred.
    Referral,
    /// Through a partner.
    Partner,
    /// From an event.
    Event,
    /// An existing customer buying more.
    Expansion,
}

impl LeadSource {
    /// Every source.
    pub const ALL: [LeadSource; 6] = [
        LeadSource::Inbound,
        LeadSource::Outbound,
        LeadSource::Referral,
        LeadSource::Partner,
        LeadSource::Event,
        LeadSource::Expansion,
    ];
}

/// A deal's forecast category.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ForecastCategory {
    /// Open and possible.
    Pipeline,
    /// Upside.
    BestCase,
    /// Committed (leader-owned).
    Commit,
    /// Left out.
    Omitted,
    /// Closed: set by the system.
    Closed,
}

/// Open or closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DealStatus {
    /// In an open stage.
    Open,
    /// Closed won.
    Won,
    /// Closed lost.
    Lost,
}

/// A buyer-side contact.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Contact {
    /// Name.
    pub display_name: String,
    /// E-mail (may be empty).
    pub email: String,
    /// Title (may be empty).
    pub title: String,
    /// Buying role.
    pub buying_role: BuyingRole,
    /// Department.
    pub department: String,
}

/// The status of one MEDDPICC element, with who set it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QualificationItem {
    /// The element.
    pub element: QualificationElement,
    /// Its status.
    pub status: QualificationStatus,
    /// Who set it (`None` for imported or generated data).
    pub set_by: Option<UserId>,
    /// When.
    pub set_at: DateTime<Utc>,
}

/// BANT notes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Bant {
    /// Budget.
    pub budget: String,
    /// Authority.
    pub authority: String,
    /// Need.
    pub need: String,
    /// Timeline.
    pub timeline: String,
}

/// The fields of a deal its owner and managers keep, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DealFields {
    /// Name.
    pub display_name: String,
    /// Account.
    pub account: String,
    /// Owning rep.
    pub owner_id: UserId,
    /// Value, if known.
    pub amount: Option<Money>,
    /// Expected close date.
    pub close_date: Option<NaiveDate>,
    /// Lead source.
    pub lead_source: Option<LeadSource>,
    /// Next step.
    pub next_step: String,
    /// Next step date.
    pub next_step_date: Option<NaiveDate>,
    /// BANT notes.
    pub bant: Bant,
    /// Confirmed budget, in the deal's currency.
    pub confirmed_budget: Option<Money>,
    /// Discount off list price, basis points (0 to 10000).
    pub discount_bps: u32,
    /// Forecast category.
    pub forecast_category: ForecastCategory,
    /// Contacts.
    pub contacts: Vec<Contact>,
    /// Qualification items, at most one per element, in element order.
    pub qualification: Vec<QualificationItem>,
}

impl DealFields {
    /// The deal's currency: of its amount, else of its confirmed budget.
    pub fn currency(&self) -> Option<Currency> {
        self.amount
            .or(self.confirmed_budget)
            .map(|money| money.currency)
    }

    /// The status of one qualification element (unknown when absent).
    pub fn qualification_status(&self, element: QualificationElement) -> QualificationStatus {
        self.qualification
            .iter()
            .find(|item| item.element == element)
            .map(|item| item.status)
            .unwrap_or(QualificationStatus::Unknown)
    }
}

/// A contact as received (`buying_role` is `None` when unset or unknown).
#[derive(Debug, Clone, Default)]
pub struct ContactDraft {
    /// Name.
    pub display_name: String,
    /// E-mail.
    pub email: String,
    /// Title.
    pub title: String,
    /// Buying role.
    pub buying_role: Option<BuyingRole>,
    /// Department.
    pub department: String,
}

/// A qualification item as received.
#[derive(Debug, Clone, Copy)]
pub struct QualificationDraft {
    /// The element, `None` when unset or unknown.
    pub element: Option<QualificationElement>,
    /// The status, `None` when unknown.
    pub status: Option<QualificationStatus>,
}

/// Deal fields as received, before validation. Wire problems (unparseable dates, unknown enum
/// values) are already violations of the conversion; here only what converted.
#[derive(Debug, Clone)]
pub struct DealDraft {
    /// Name.
    pub display_name: String,
    /// Account.
    pub account: String,
    /// Owner.
    pub owner_id: UserId,
    /// Amount as (minor units, currency code).
    pub amount: Option<(i64, String)>,
    /// Close date.
    pub close_date: Option<NaiveDate>,
    /// Lead source.
    pub lead_source: Option<LeadSource>,
    /// Next step.
    pub next_step: String,
    /// Next step date.
    pub next_step_date: Option<NaiveDate>,
    /// BANT.
    pub bant: Bant,
    /// Confirmed budget as (minor units, currency code).
    pub confirmed_budget: Option<(i64, String)>,
    /// Discount off list price, basis points, as received.
    pub discount_bps: i32,
    /// Forecast category (`None`: unset).
    pub forecast_category: Option<ForecastCategory>,
    /// Contacts.
    pub contacts: Vec<ContactDraft>,
    /// Qualification.
    pub qualification: Vec<QualificationDraft>,
}

/// Which fields of a deal a write sets (create sets all).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DealMask {
    /// `display_name`.
    pub display_name: bool,
    /// `account`.
    pub account: bool,
    /// `owner`.
    pub owner: bool,
    /// `amount`.
    pub amount: bool,
    /// `close_date`.
    pub close_date: bool,
    /// `lead_source`.
    pub lead_source: bool,
    /// `next_step`.
    pub next_step: bool,
    /// `next_step_date`.
    pub next_step_date: bool,
    /// `bant`.
    pub bant: bool,
    /// `confirmed_budget`.
    pub confirmed_budget: bool,
    /// `discount_bps`.
    pub discount_bps: bool,
    /// `forecast_category`.
    pub forecast_category: bool,
    /// `contacts`.
    pub contacts: bool,
    /// `qualification`.
    pub qualification: bool,
}

impl DealMask {
    /// Every field (a create).
    pub fn all() -> Self {
        DealMask {
            display_name: true,
            account: true,
            owner: true,
            amount: true,
            close_date: true,
            lead_source: true,
            next_step: true,
            next_step_date: true,
            bant: true,
            confirmed_budget: true,
            discount_bps: true,
            forecast_category: true,
            contacts: true,
            qualification: true,
        }
    }
}

/// Most contacts on a deal.
pub const MAX_CONTACTS: usize = 100;

/// Most qualification items in one request: one per MEDDPICC element.
pub const MAX_QUALIFICATION_ITEMS: usize = 8;

/// Validates the fields `mask` sets and merges them over `current` (for a create, `current` is
/// `None` and everything is set). `today` is the caller's date: an open deal's close date may
/// not be in the past when it is set. Qualification items whose status changes are stamped
/// `(actor, now)`; `actor` is `None` for the CLI and generators.
pub fn merge_fields(
    current: Option<&DealFields>,
    draft: DealDraft,
    mask: DealMask,
    today: NaiveDate,
    actor: Option<UserId>,
    now: DateTime<Utc>,
) -> Result<DealFields, Violations> {
    let mut v = Violations::new();
    let set = |on: bool| on || current.is_none();
    if set(mask.display_name) {
        check_text(&mut v, "display_name", &draft.display_name, 200, true);
    }
    if set(mask.account) {
        check_text(&mut v, "account", &draft.account, 200, true);
    }
    if set(mask.next_step) {
        check_text(&mut v, "next_step", &draft.next_step, 500, false);
    }
    if set(mask.bant) {
        for (field, text) in [
            ("bant.budget", &draft.bant.budget),
            ("bant.authority", &draft.bant.authority),
            ("bant.need", &draft.bant.need),
            ("bant.timeline", &draft.bant.timeline),
        ] {
            check_text(&mut v, field, text, 2000, false);
        }
    }
    let amount = match (&draft.amount, set(mask.amount)) {
        (Some((minor, code)), true) => parse_positive("amount", *minor, code)
            .map_err(|e| v.extend(e))
            .ok(),
        _ => None,
    };
    let confirmed = match (&draft.confirmed_budget, set(mask.confirmed_budget)) {
        (Some((minor, code)), true) => parse_positive("confirmed_budget", *minor, code)
            .map_err(|e| v.extend(e))
            .ok(),
        _ => None,
    };
    let discount_bps = if set(mask.discount_bps) {
        u32::try_from(draft.discount_bps)
            .ok()
            .filter(|bps| *bps <= 10_000)
            .unwrap_or_else(|| {
                v.add("discount_bps", "must be between 0 and 10000 basis points");
                0
            })
    } else {
        0
    };
    if set(mask.close_date)
        && let Some(date) = draft.close_date
        && date < today
    {
        v.add("close_date", "must be today or later for an open deal");
    }
    if set(mask.forecast_category) && draft.forecast_category == Some(ForecastCategory::Closed) {
        v.add(
            "forecast_category",
            "CLOSED is set by closing the deal, not by an update",
        );
    }
    let contacts = if set(mask.contacts) {
        parse_contacts(draft.contacts, &mut v)
    } else {
        Vec::new()
    };
    let qualification = if set(mask.qualification) {
        parse_qualification(&draft.qualification, current, actor, now, &mut v)
    } else {
        Vec::new()
    };

    let pick = |on: bool| on || current.is_none();
    let mut merged = match current {
        Some(current) => current.clone(),
        None => DealFields {
            display_name: String::new(),
            account: String::new(),
            owner_id: draft.owner_id,
            amount: None,
            close_date: None,
            lead_source: None,
            next_step: String::new(),
            next_step_date: None,
            bant: Bant::default(),
            confirmed_budget: None,
            discount_bps: 0,
            forecast_category: ForecastCategory::Pipeline,
            contacts: Vec::new(),
            qualification: Vec::new(),
        },
    };
    if pick(mask.display_name) {
        merged.display_name = draft.display_name.trim().to_string();
    }
    if pick(mask.account) {
        merged.account = draft.account.trim().to_string();
    }
    if pick(mask.owner) {
        merged.owner_id = draft.owner_id;
    }
    if pick(mask.amount) {
        merged.amount = amount;
    }
    if pick(mask.close_date) {
        merged.close_date = draft.close_date;
    }
    if pick(mask.lead_source) {
        merged.lead_source = draft.lead_source;
    }
    if pick(mask.next_step) {
        merged.next_step = draft.next_step.trim().to_string();
    }
    if pick(mask.next_step_date) {
        merged.next_step_date = draft.next_step_date;
    }
    if pick(mask.bant) {
        merged.bant = draft.bant;
    }
    if pick(mask.confirmed_budget) {
        merged.confirmed_budget = confirmed;
    }
    if pick(mask.discount_bps) {
        merged.discount_bps = discount_bps;
    }
    if pick(mask.forecast_category) {
        merged.forecast_category = draft
            .forecast_category
            .unwrap_or(ForecastCategory::Pipeline);
    }
    if pick(mask.contacts) {
        merged.contacts = contacts;
    }
    if pick(mask.qualification) {
        merged.qualification = qualification;
    }
    if let (Some(amount), Some(budget)) = (merged.amount, merged.confirmed_budget)
        && amount.currency != budget.currency
    {
        v.add(
            "confirmed_budget.currency_code",
            format!("must be the deal's currency, {}", amount.currency),
        );
    }
    v.into_result(merged)
}

fn parse_contacts(drafts: Vec<ContactDraft>, v: &mut Violations) -> Vec<Contact> {
    if within_limit(v, "contacts", &drafts, MAX_CONTACTS, "contacts").is_empty() {
        return Vec::new();
    }
    let mut contacts = Vec::with_capacity(drafts.len());
    for (i, c) in drafts.into_iter().enumerate() {
        let before = v.count();
        check_text(
            v,
            &format!("contacts[{i}].display_name"),
            &c.display_name,
            200,
            true,
        );
        check_text(v, &format!("contacts[{i}].email"), &c.email, 254, false);
        check_text(v, &format!("contacts[{i}].title"), &c.title, 200, false);
        check_text(
            v,
            &format!("contacts[{i}].department"),
            &c.department,
            100,
            true,
        );
        if c.buying_role.is_none() {
            v.add(
                format!("contacts[{i}].buying_role"),
                "must be one of the known buying roles",
            );
        }
        if let (Some(buying_role), true) = (c.buying_role, v.count() == before) {
            contacts.push(Contact {
                display_name: c.display_name.trim().to_string(),
                email: c.email.trim().to_string(),
                title: c.title.trim().to_string(),
                buying_role,
                department: c.department.trim().to_string(),
            });
        }
    }
    contacts
}

fn parse_qualification(
    drafts: &[QualificationDraft],
    current: Option<&DealFields>,
    actor: Option<UserId>,
    now: DateTime<Utc>,
    v: &mut Violations,
) -> Vec<QualificationItem> {
    let drafts = within_limit(
        v,
        "qualification",
        drafts,
        MAX_QUALIFICATION_ITEMS,
        "items (one per element)",
    );
    let mut items: Vec<QualificationItem> = Vec::with_capacity(drafts.len());
    for (i, d) in drafts.iter().enumerate() {
        let (Some(element), Some(status)) = (d.element, d.status) else {
            if d.element.is_none() {
                v.add(
                    format!("qualification[{i}].element"),
                    "must be one of the MEDDPICC elements",
                );
            }
            if d.status.is_none() {
                v.add(
                    format!("qualification[{i}].status"),
                    "must be a known status",
                );
            }
            continue;
        };
        if items.iter().any(|item| item.element == element) {
            v.add(
                format!("qualification[{i}].element"),
                "repeats an element listed earlier",
            );
            continue;
        }
        let previous = current.and_then(|c| c.qualification.iter().find(|q| q.element == element));
        items.push(match previous {
            Some(previous) if previous.status == status => previous.clone(),
            _ => QualificationItem {
                element,
                status,
                set_by: actor,
                set_at: now,
            },
        });
    }
    // One canonical order (as MEDDPICC reads), so what a write answers is what a read returns.
    items.sort_by_key(|item| item.element);
    items
}

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
    /// Message.
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

/// A deal as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deal {
    /// Identifier (UUIDv7).
    pub id: Uuid,
    /// Its pipeline.
    pub pipeline_id: Uuid,
    /// Its current stage.
    pub stage_id: String,
    /// Open, won or lost.
    pub status: DealStatus,
    /// Why it was lost.
    pub loss_reason: String,
    /// The kept fields.
    pub fields: DealFields,
    /// When created.
    pub created_at: DateTime<Utc>,
    /// When last changed.
    pub updated_at: DateTime<Utc>,
    /// When it entered its stage.
    pub stage_entered_at: DateTime<Utc>,
    /// When it closed.
    pub closed_at: Option<DateTime<Utc>>,
    /// Incremented on every change.
    pub version: i64,
}

/// What kind of stage change a history row records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HistoryDirection {
    /// The deal was created in `to_stage`.
    Create,
    /// Moved to a later stage.
    Forward,
    /// Moved to an earlier stage.
    Backward,
    /// Closed won or lost.
    Close,
}

/// One append-only row of a deal's stage history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StageHistoryEntry {
    /// Increasing sequence over the whole service (0 until stored).
    pub sequence: i64,
    /// The deal.
    pub deal_id: Uuid,
    /// Its pipeline.
    pub pipeline_id: Uuid,
    /// The stage left (`None` on create).
    pub from_stage: Option<String>,
    /// The stage entered.
    pub to_stage: String,
    /// When.
    pub at: DateTime<Utc>,
    /// Who (`None` for imports and generators).
    pub actor: Option<UserId>,
    /// The amount at that moment.
    pub amount: Option<Money>,
    /// The close date at that moment.
    pub close_date: Option<NaiveDate>,
    /// Create, forward, backward or close.
    pub direction: HistoryDirection,
    /// Whether unmet criteria were overridden.
    pub overridden: bool,
    /// The override's justification (empty otherwise).
    pub justification: String,
}

impl StageHistoryEntry {
    /// The row recording `deal` entering its current stage from `from`.
    pub fn of(
        deal: &Deal,
        from: Option<String>,
        direction: HistoryDirection,
        actor: Option<UserId>,
        justification: Option<String>,
    ) -> Self {
        StageHistoryEntry {
            sequence: 0,
            deal_id: deal.id,
            pipeline_id: deal.pipeline_id,
            from_stage: from,
            to_stage: deal.stage_id.clone(),
            at: deal.stage_entered_at,
            actor,
            amount: deal.fields.amount,
            close_date: deal.fields.close_date,
            direction,
            overridden: justification.is_some(),
            justification: justification.unwrap_or_default(),
        }
    }
}

/// The fields that differ between two versions, as (field, old, new) in words, for the audit
/// trail.
pub fn changed_fields(old: &DealFields, new: &DealFields) -> Vec<(&'static str, String, String)> {
    fn money(m: &Option<Money>) -> String {
        m.map(|m| format!("{} {}", m.minor, m.currency))
            .unwrap_or_default()
    }
    fn date(d: &Option<NaiveDate>) -> String {
        d.map(|d| d.to_string()).unwrap_or_default()
    }
    let mut changes = Vec::new();
    let mut diff = |field, a: String, b: String| {
        if a != b {
            changes.push((field, a, b));
        }
    };
    diff(
        "display_name",
        old.display_name.clone(),
        new.display_name.clone(),
    );
    diff("account", old.account.clone(), new.account.clone());
    diff(
        "owner",
        old.owner_id.0.to_string(),
        new.owner_id.0.to_string(),
    );
    diff("amount", money(&old.amount), money(&new.amount));
    diff("close_date", date(&old.close_date), date(&new.close_date));
    diff(
        "lead_source",
        format!("{:?}", old.lead_source),
        format!("{:?}", new.lead_source),
    );
    diff("next_step", old.next_step.clone(), new.next_step.clone());
    diff(
        "next_step_date",
        date(&old.next_step_date),
        date(&new.next_step_date),
    );
    diff("bant", format!("{:?}", old.bant), format!("{:?}", new.bant));
    diff(
        "confirmed_budget",
        money(&old.confirmed_budget),
        money(&new.confirmed_budget),
    );
    diff(
        "discount_bps",
        old.discount_bps.to_string(),
        new.discount_bps.to_string(),
    );
    diff(
        "forecast_category",
        format!("{:?}", old.forecast_category),
        format!("{:?}", new.forecast_category),
    );
    let statuses = |f: &DealFields| {
        f.qualification
            .iter()
            .map(|q| format!("{}={}", q.element.label(), q.status.label()))
            .collect::<Vec<_>>()
            .join(",")
    };
    diff("qualification", statuses(old), statuses(new));
    if old.contacts != new.contacts {
        changes.push((
            "contacts",
            format!("{} contacts", old.contacts.len()),
            format!("{} contacts (changed)", new.contacts.len()),
        ));
    }
    changes
}

#[cfg(test)]
mod tests {
    use super::*;

    fn today() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 11, 22).unwrap()
    }

    fn draft(owner: UserId) -> DealDraft {
        DealDraft {
            display_name: "Acme - 500 seats".into(),
            account: "Acme".into(),
            owner_id: owner,
            amount: Some((5_000_000, "USD".into())),
            close_date: Some(today()),
            lead_source: Some(LeadSource::Inbound),
            next_step: "Demo".into(),
            next_step_date: None,
            bant: Bant::default(),
            confirmed_budget: None,
            discount_bps: 0,
            forecast_category: None,
            contacts: vec![],
            qualification: vec![],
        }
    }

    #[test]
    fn a_discount_is_between_0_and_10000_basis_points() {
        let owner = UserId::generate();
        for (bps, ok) in [(0, true), (10_000, true), (-1, false), (10_001, false)] {
            let mut d = draft(owner);
            d.discount_bps = bps;
            match create(d) {
                Ok(fields) => {
                    assert!(ok, "{bps} accepted");
                    assert_eq!(i64::from(fields.discount_bps), i64::from(bps));
                }
                Err(v) => {
                    assert!(!ok, "{bps} refused");
                    assert_eq!(v.0[0].field, "discount_bps");
                }
            }
        }
    }

    fn create(d: DealDraft) -> Result<DealFields, Violations> {
        merge_fields(None, d, DealMask::all(), today(), None, Utc::now())
    }

    fn fields(v: &Violations) -> Vec<&str> {
        v.0.iter().map(|v| v.field.as_str()).collect()
    }

    #[test]
    fn a_new_deal_defaults_to_the_pipeline_category() {
        let deal = create(draft(UserId::generate())).unwrap();
        assert_eq!(deal.forecast_category, ForecastCategory::Pipeline);
        assert_eq!(deal.currency().unwrap().code(), "USD");
    }

    #[test]
    fn bad_values_are_each_reported() {
        let mut d = draft(UserId::generate());
        d.display_name = String::new();
        d.amount = Some((-1, "usd".into()));
        d.close_date = today().pred_opt();
        d.forecast_category = Some(ForecastCategory::Closed);
        d.contacts = vec![ContactDraft::default()];
        d.qualification = vec![QualificationDraft {
            element: None,
            status: Some(QualificationStatus::Red),
        }];
        let err = create(d).unwrap_err();
        assert_eq!(
            fields(&err),
            [
                "display_name",
                "amount.currency_code",
                "amount.amount_minor",
                "close_date",
                "forecast_category",
                "contacts[0].display_name",
                "contacts[0].department",
                "contacts[0].buying_role",
                "qualification[0].element",
            ]
        );
    }

    #[test]
    fn the_confirmed_budget_must_be_in_the_deals_currency() {
        let mut d = draft(UserId::generate());
        d.confirmed_budget = Some((100, "EUR".into()));
        assert_eq!(
            fields(&create(d).unwrap_err()),
            ["confirmed_budget.currency_code"]
        );
    }

    #[test]
    fn a_past_close_date_is_only_checked_when_it_is_set() {
        let mut current = create(draft(UserId::generate())).unwrap();
        current.close_date = today().pred_opt();
        let mut d = draft(current.owner_id);
        d.next_step = "Send proposal".into();
        let mask = DealMask {
            next_step: true,
            ..Default::default()
        };
        let merged =
            merge_fields(Some(&current), d.clone(), mask, today(), None, Utc::now()).unwrap();
        assert_eq!(merged.next_step, "Send proposal");
        d.close_date = today().pred_opt();
        let mask = DealMask {
            close_date: true,
            ..Default::default()
        };
        assert!(merge_fields(Some(&current), d, mask, today(), None, Utc::now()).is_err());
    }

    #[test]
    fn changed_qualification_items_are_stamped_with_the_actor() {
        let current = create(draft(UserId::generate())).unwrap();
        let actor = UserId::generate();
        let mut d = draft(current.owner_id);
        d.qualification = vec![QualificationDraft {
            element: Some(QualificationElement::Champion),
            status: Some(QualificationStatus::Yellow),
        }];
        let mask = DealMask {
            qualification: true,
            ..Default::default()
        };
        let merged = merge_fields(
            Some(&current),
            d.clone(),
            mask,
            today(),
            Some(actor),
            Utc::now(),
        )
        .unwrap();
        assert_eq!(merged.qualification[0].set_by, Some(actor));
        let again = merge_fields(
            Some(&merged),
            d,
            mask,
            today(),
            Some(UserId::generate()),
            Utc::now(),
        )
        .unwrap();
        assert_eq!(
            again.qualification[0].set_by,
            Some(actor),
            "unchanged items keep their stamp"
        );
    }

    #[test]
    fn reps_see_only_their_own_deals_and_managers_their_subtree() {
        let (rep, other, manager, leader) = (
            UserId::generate(),
            UserId::generate(),
            UserId::generate(),
            UserId::generate(),
        );
        let chain = [manager, leader];
        assert_eq!(
            access(rep, Role::Rep, rep, &chain),
            Access::Write { leader: false }
        );
        assert_eq!(access(other, Role::Rep, rep, &chain), Access::None);
        assert_eq!(
            access(manager, Role::Manager, rep, &chain),
            Access::Write { leader: true }
        );
        assert_eq!(
            access(leader, Role::Leader, rep, &chain),
            Access::Write { leader: true }
        );
        assert_eq!(access(other, Role::Manager, rep, &chain), Access::None);
        assert_eq!(
            access(manager, Role::Manager, manager, &[leader]),
            Access::Write { leader: false }
        );
        for role in [Role::DealDesk, Role::Finance, Role::Legal] {
            assert_eq!(access(other, role, rep, &chain), Access::Read);
        }
        assert_eq!(
            access(other, Role::Admin, rep, &chain),
            Access::Write { leader: false }
        );
    }

    #[test]
    fn commit_is_leader_owned_both_ways() {
        let pipeline = create(draft(UserId::generate())).unwrap();
        let commit = DealFields {
            forecast_category: ForecastCategory::Commit,
            ..pipeline.clone()
        };
        let best = DealFields {
            forecast_category: ForecastCategory::BestCase,
            ..pipeline.clone()
        };
        assert!(check_leader_owned(Some(&pipeline), &best, false).is_ok());
        assert_eq!(
            check_leader_owned(Some(&pipeline), &commit, false)
                .unwrap_err()
                .reason,
            "COMMIT_REQUIRES_MANAGER"
        );
        assert_eq!(
            check_leader_owned(Some(&commit), &best, false)
                .unwrap_err()
                .reason,
            "COMMIT_REQUIRES_MANAGER"
        );
        assert!(
            check_leader_owned(Some(&commit), &commit, false).is_ok(),
            "no change, no refusal"
        );
        assert!(check_leader_owned(Some(&pipeline), &commit, true).is_ok());
        assert!(check_leader_owned(None, &commit, false).is_err());
    }

    #[test]
    fn green_is_leader_owned_both_ways() {
        let base = create(draft(UserId::generate())).unwrap();
        let item = |status| QualificationItem {
            element: QualificationElement::Metrics,
            status,
            set_by: None,
            set_at: Utc::now(),
        };
        let yellow = DealFields {
            qualification: vec![item(QualificationStatus::Yellow)],
            ..base.clone()
        };
        let green = DealFields {
            qualification: vec![item(QualificationStatus::Green)],
            ..base.clone()
        };
        assert!(check_leader_owned(Some(&base), &yellow, false).is_ok());
        assert_eq!(
            check_leader_owned(Some(&yellow), &green, false)
                .unwrap_err()
                .reason,
            "GREEN_REQUIRES_MANAGER"
        );
        assert_eq!(
            check_leader_owned(Some(&green), &yellow, false)
                .unwrap_err()
                .reason,
            "GREEN_REQUIRES_MANAGER"
        );
        assert!(
            check_leader_owned(Some(&green), &base, false).is_err(),
            "clearing green"
        );
        assert!(check_leader_owned(Some(&yellow), &green, true).is_ok());
    }
}
