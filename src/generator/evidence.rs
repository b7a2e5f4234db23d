//! What a generated deal carries besides its journey: account and product names, loss
//! reasons, and the evidence (contacts, qualification, BANT) its stages' gates asked for.

use chrono::{DateTime, Duration, Utc};

use crate::domain::deal::{Contact, DealFields, QualificationItem};
use crate::domain::pipeline::{BuyingRole, DealField, ExitCriterion};
use crate::domain::random::Rng;

pub(super) const ACCOUNTS: [&str; 24] = [
    "Acme",
    "Globex",
    "Initech",
    "Umbrella",
    "Stark",
    "Wayne",
    "Wonka",
    "Hooli",
    "Vandelay",
    "Soylent",
    "Tyrell",
    "Cyberdyne",
    "Aperture",
    "Massive Dynamic",
    "Oscorp",
    "Gringotts",
    "Monarch",
    "Pied Piper",
    "Dunder Mifflin",
    "Sterling Cooper",
    "Bluth",
    "Prestige",
    "Nakatomi",
    "Virtucon",
];
pub(super) const SUFFIXES: [&str; 8] = [
    "Corp",
    "Labs",
    "Industries",
    "Health",
    "Logistics",
    "Bank",
    "Foods",
    "Systems",
];
pub(super) const PRODUCTS: [&str; 5] = [
    "Platform",
    "Analytics add-on",
    "Seat expansion",
    "Multi-year renewal",
    "Enterprise tier",
];
const DEPARTMENTS: [&str; 6] = [
    "Finance",
    "IT",
    "Operations",
    "Sales",
    "Legal",
    "Procurement",
];
pub(super) const LOSS_REASONS: [&str; 5] = [
    "Chose a competitor",
    "No decision",
    "Budget cut",
    "Timing: revisit next year",
    "Built in-house",
];
/// Makes `criterion` hold for `fields` (as a deal that met the gate would look).
pub(super) fn satisfy(
    criterion: &ExitCriterion,
    f: &mut DealFields,
    rng: &mut Rng,
    at: DateTime<Utc>,
) {
    let contact = |role: BuyingRole, department: &str, rng: &mut Rng| Contact {
        display_name: format!(
            "{} {}",
            ["Alex", "Sam", "Jordan", "Casey", "Taylor", "Riley"][rng.below(6)],
            ["Kim", "Patel", "Garcia", "Müller", "Okafor", "Smith"][rng.below(6)]
        ),
        email: String::new(),
        title: String::new(),
        buying_role: role,
        department: department.to_string(),
    };
    match *criterion {
        ExitCriterion::FieldSet(field) => match field {
            DealField::Amount => {}
            DealField::CloseDate => {}
            DealField::NextStep => f.next_step = "Follow-up call".into(),
            DealField::NextStepDate => f.next_step_date = Some(at.date_naive() + Duration::days(7)),
            DealField::BantBudget => f.bant.budget = "Budget line identified".into(),
            DealField::BantAuthority => f.bant.authority = "VP signs".into(),
            DealField::BantNeed => f.bant.need = "Replace spreadsheets".into(),
            DealField::BantTimeline => f.bant.timeline = "This quarter".into(),
            DealField::ConfirmedBudget => f.confirmed_budget = f.amount,
            DealField::LeadSource => {}
        },
        ExitCriterion::CloseDateInFuture | ExitCriterion::AmountPositive => {}
        ExitCriterion::ContactWithRole(role) => {
            if !f.contacts.iter().any(|c| c.buying_role == role) {
                let department = DEPARTMENTS[rng.below(DEPARTMENTS.len())];
                f.contacts.push(contact(role, department, rng));
            }
        }
        ExitCriterion::DepartmentsEngaged(n) => {
            for department in DEPARTMENTS.iter().take(usize::from(n)) {
                if !f.contacts.iter().any(|c| c.department == *department) {
                    f.contacts
                        .push(contact(BuyingRole::Influencer, department, rng));
                }
            }
        }
        ExitCriterion::QualificationAtLeast {
            element,
            min_status,
        } => {
            if f.qualification_status(element) < min_status {
                f.qualification.retain(|q| q.element != element);
                f.qualification.push(QualificationItem {
                    element,
                    status: min_status,
                    set_by: None,
                    set_at: at,
                });
            }
        }
        ExitCriterion::NoPendingApproval | ExitCriterion::DiscountCovered => {}
    }
}
