//! Deal fields as a write receives them (drafts and the mask of what a write sets), validated
//! and merged over the stored fields.

use chrono::{DateTime, NaiveDate, Utc};

use super::{Bant, Contact, DealFields, ForecastCategory, LeadSource, QualificationItem};
use crate::domain::directory::UserId;
use crate::domain::money::{Money, parse_positive};
use crate::domain::pipeline::{BuyingRole, QualificationElement, QualificationStatus};
use crate::domain::text::{AccountName, DisplayName, Note};
use crate::domain::wording::{MAX_DISCOUNT_BPS, discount_out_of_range};
use crate::domain::{Problem, Violations, check_text, within_limit};

/// A contact as received (`buying_role` is `None` when unset or unknown).
#[derive(Debug, Clone, Default)]
pub struct ContactDraft {
    /// Name.
    pub display_name: String,
    /// E-mail.
    pub email: String,
    pub title: String,
    pub buying_role: Option<BuyingRole>,
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
    pub account: String,
    /// Owner.
    pub owner_id: UserId,
    /// Amount as (minor units, currency code).
    pub amount: Option<(i64, String)>,
    pub close_date: Option<NaiveDate>,
    pub lead_source: Option<LeadSource>,
    pub next_step: String,
    pub next_step_date: Option<NaiveDate>,
    pub bant: Bant,
    /// Confirmed budget as (minor units, currency code).
    pub confirmed_budget: Option<(i64, String)>,
    /// Discount off list price, basis points, as received.
    pub discount_bps: i32,
    /// Forecast category (`None`: unset).
    pub forecast_category: Option<ForecastCategory>,
    pub contacts: Vec<ContactDraft>,
    pub qualification: Vec<QualificationDraft>,
}

/// Which fields of a deal a write sets (create sets all): each is true when the write sets the
/// field of [`DealFields`] of the same name (`owner`: `owner_id`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DealMask {
    pub display_name: bool,
    pub account: bool,
    pub owner: bool,
    pub amount: bool,
    pub close_date: bool,
    pub lead_source: bool,
    pub next_step: bool,
    pub next_step_date: bool,
    pub bant: bool,
    pub confirmed_budget: bool,
    pub discount_bps: bool,
    pub forecast_category: bool,
    pub contacts: bool,
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
    mut draft: DealDraft,
    mask: DealMask,
    today: NaiveDate,
    actor: Option<UserId>,
    now: DateTime<Utc>,
) -> Result<DealFields, Violations> {
    let mut v = Violations::new();
    // A create sets every field.
    let mask = if current.is_none() {
        DealMask::all()
    } else {
        mask
    };
    let names = parse_names(&draft, mask, &mut v);
    check_texts(&draft, mask, &mut v);
    let amount = match (&draft.amount, mask.amount) {
        (Some((minor, code)), true) => parse_positive("amount", *minor, code)
            .map_err(|e| v.extend(e))
            .ok(),
        _ => None,
    };
    let confirmed = match (&draft.confirmed_budget, mask.confirmed_budget) {
        (Some((minor, code)), true) => parse_positive("confirmed_budget", *minor, code)
            .map_err(|e| v.extend(e))
            .ok(),
        _ => None,
    };
    let discount_bps = if mask.discount_bps {
        u32::try_from(draft.discount_bps)
            .ok()
            .filter(|bps| *bps <= MAX_DISCOUNT_BPS)
            .unwrap_or_else(|| {
                v.add_as(
                    Problem::NumberOutOfRange,
                    "discount_bps",
                    discount_out_of_range(MAX_DISCOUNT_BPS, draft.discount_bps.into()),
                );
                0
            })
    } else {
        0
    };
    check_close_date_and_category(&draft, mask, today, &mut v);
    let contacts = if mask.contacts {
        parse_contacts(std::mem::take(&mut draft.contacts), &mut v)
    } else {
        Vec::new()
    };
    let qualification = if mask.qualification {
        parse_qualification(&draft.qualification, current, actor, now, &mut v)
    } else {
        Vec::new()
    };
    // The money the merged deal will hold: what the write sets, else what it had.
    let merged_amount = if mask.amount {
        amount
    } else {
        current.and_then(|c| c.amount)
    };
    let merged_budget = if mask.confirmed_budget {
        confirmed
    } else {
        current.and_then(|c| c.confirmed_budget)
    };
    if let (Some(amount), Some(budget)) = (merged_amount, merged_budget)
        && amount.currency != budget.currency
    {
        v.add_as(
            Problem::BadMoney,
            "confirmed_budget.currency_code",
            format!("must be the deal's currency, {}", amount.currency),
        );
    }
    let parsed = Parsed {
        names,
        amount,
        confirmed,
        discount_bps,
        contacts,
        qualification,
    };
    match merge_over(current, draft, mask, parsed) {
        Some(merged) => v.into_result(merged),
        // A create without a valid name or account: its violation is in `v`.
        None => Err(v),
    }
}

/// The deal's name and account, when `mask` sets them and they are valid (trimmed); why not is
/// recorded in `v`.
fn parse_names(draft: &DealDraft, mask: DealMask, v: &mut Violations) -> Names {
    Names {
        display_name: if mask.display_name {
            v.text::<DisplayName>("display_name", &draft.display_name)
                .map(DisplayName::trimmed)
        } else {
            None
        },
        account: if mask.account {
            v.text::<AccountName>("account", &draft.account)
                .map(AccountName::trimmed)
        } else {
            None
        },
    }
}

/// The other texts `mask` sets, each within its limit.
fn check_texts(draft: &DealDraft, mask: DealMask, v: &mut Violations) {
    if mask.next_step {
        check_text(v, "next_step", &draft.next_step, 500, false);
    }
    if mask.bant {
        for (field, text) in [
            ("bant.budget", &draft.bant.budget),
            ("bant.authority", &draft.bant.authority),
            ("bant.need", &draft.bant.need),
            ("bant.timeline", &draft.bant.timeline),
        ] {
            v.text::<Note>(field, text);
        }
    }
}

/// An open deal's close date, when set, is today or later; CLOSED is set only by closing.
fn check_close_date_and_category(
    draft: &DealDraft,
    mask: DealMask,
    today: NaiveDate,
    v: &mut Violations,
) {
    if mask.close_date
        && let Some(date) = draft.close_date
        && date < today
    {
        v.add_as(
            Problem::BadDate,
            "close_date",
            "must be today or later for an open deal",
        );
    }
    if mask.forecast_category && draft.forecast_category == Some(ForecastCategory::Closed) {
        v.add_as(
            Problem::UnknownValue,
            "forecast_category",
            "CLOSED is set by closing the deal, not by an update",
        );
    }
}

/// A deal's name and account as parsed (`None`: not set by the write, or not valid).
struct Names {
    display_name: Option<DisplayName>,
    account: Option<AccountName>,
}

/// The values of a draft that parsing changed: name and account, money, discount, contacts and
/// qualification.
struct Parsed {
    names: Names,
    amount: Option<Money>,
    confirmed: Option<Money>,
    discount_bps: u32,
    contacts: Vec<Contact>,
    qualification: Vec<QualificationItem>,
}

/// The fields `mask` sets, from `draft` and `parsed`, over `current` (a create's defaults when
/// there is none); none for a create whose name or account is not valid.
fn merge_over(
    current: Option<&DealFields>,
    draft: DealDraft,
    mask: DealMask,
    parsed: Parsed,
) -> Option<DealFields> {
    let Parsed {
        names,
        amount,
        confirmed,
        discount_bps,
        contacts,
        qualification,
    } = parsed;
    let mut merged = match (current, names.display_name.clone(), names.account.clone()) {
        (Some(current), _, _) => current.clone(),
        (None, Some(display_name), Some(account)) => DealFields {
            display_name,
            account,
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
        (None, _, _) => return None,
    };
    if let Some(display_name) = names.display_name {
        merged.display_name = display_name;
    }
    if let Some(account) = names.account {
        merged.account = account;
    }
    if mask.owner {
        merged.owner_id = draft.owner_id;
    }
    if mask.amount {
        merged.amount = amount;
    }
    if mask.close_date {
        merged.close_date = draft.close_date;
    }
    if mask.lead_source {
        merged.lead_source = draft.lead_source;
    }
    if mask.next_step {
        merged.next_step = draft.next_step.trim().to_string();
    }
    if mask.next_step_date {
        merged.next_step_date = draft.next_step_date;
    }
    if mask.bant {
        merged.bant = draft.bant;
    }
    if mask.confirmed_budget {
        merged.confirmed_budget = confirmed;
    }
    if mask.discount_bps {
        merged.discount_bps = discount_bps;
    }
    if mask.forecast_category {
        merged.forecast_category = draft
            .forecast_category
            .unwrap_or(ForecastCategory::Pipeline);
    }
    if mask.contacts {
        merged.contacts = contacts;
    }
    if mask.qualification {
        merged.qualification = qualification;
    }
    Some(merged)
}

fn parse_contacts(drafts: Vec<ContactDraft>, v: &mut Violations) -> Vec<Contact> {
    if within_limit(v, "contacts", &drafts, MAX_CONTACTS, "contacts").is_empty() {
        return Vec::new();
    }
    let mut contacts = Vec::with_capacity(drafts.len());
    for (i, c) in drafts.into_iter().enumerate() {
        let before = v.count();
        v.text::<DisplayName>(&format!("contacts[{i}].display_name"), &c.display_name);
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
            v.add_as(
                Problem::UnknownValue,
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
                v.add_as(
                    Problem::UnknownValue,
                    format!("qualification[{i}].element"),
                    "must be one of the MEDDPICC elements",
                );
            }
            if d.status.is_none() {
                v.add_as(
                    Problem::UnknownValue,
                    format!("qualification[{i}].status"),
                    "must be a known status",
                );
            }
            continue;
        };
        if items.iter().any(|item| item.element == element) {
            v.add_as(
                Problem::DuplicateValue,
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
