//! Conversions between wire messages and domain values. Wire input is parsed into domain types
//! here; every problem becomes a field violation named by its path in the request.

use chrono::{DateTime, Utc};
use prost::Message;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::app::names::{ResourceId, parse_id};
use crate::domain::directory::{ApiTokenId, Role, UserId};
use crate::domain::pipeline::{
    BuyingRole, DealField, ExitCriterion, QualificationElement, QualificationStatus, Segment,
    StageKind,
};
use crate::domain::{Violations, within_limit};
use crate::proto as pb;

/// A timestamp on the wire.
pub fn timestamp(t: DateTime<Utc>) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: t.timestamp(),
        nanos: t.timestamp_subsec_nanos() as i32,
    }
}

/// The etag of a version.
pub fn etag(version: i64) -> String {
    format!("\"{version}\"")
}

/// Parses an etag sent back by a caller; empty means "no check".
pub fn parse_etag(field: &str, etag: &str) -> Result<Option<i64>, Violations> {
    if etag.is_empty() {
        return Ok(None);
    }
    etag.strip_prefix('"')
        .and_then(|e| e.strip_suffix('"'))
        .and_then(|e| e.parse::<i64>().ok())
        .map(Some)
        .ok_or_else(|| Violations::one(field, "is not an etag this server issued"))
}

/// Parses `{collection}/{uuid}` into the id of `I`'s collection.
pub fn parse_name<I: ResourceId>(field: &str, name: &str) -> Result<I, Violations> {
    parse_id(name).ok_or_else(|| {
        Violations::one(
            field,
            format!("must be a resource name like {}/<uuid>", I::COLLECTION),
        )
    })
}

/// Parses `users/{uuid}`.
pub fn parse_user_name(field: &str, name: &str) -> Result<UserId, Violations> {
    parse_name(field, name)
}

/// Parses `users/{uuid}/apiTokens/{uuid}`.
pub fn parse_token_name(field: &str, name: &str) -> Result<(UserId, ApiTokenId), Violations> {
    let bad = || {
        Violations::one(
            field,
            "must be a resource name like users/<uuid>/apiTokens/<uuid>",
        )
    };
    let (user, token) = name.split_once("/apiTokens/").ok_or_else(bad)?;
    let user = parse_user_name(field, user).map_err(|_| bad())?;
    let token = Uuid::parse_str(token)
        .ok()
        .filter(|_| token.len() == 36)
        .map(ApiTokenId)
        .ok_or_else(bad)?;
    Ok((user, token))
}

/// An optional user reference: empty means none.
pub fn parse_optional_user(field: &str, name: &str) -> Result<Option<UserId>, Violations> {
    if name.is_empty() {
        Ok(None)
    } else {
        parse_user_name(field, name).map(Some)
    }
}

/// The fingerprint of a request, to tell a retry from a different request with the same id.
pub fn fingerprint(request: &impl Message) -> String {
    let digest = Sha256::digest(request.encode_to_vec());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// Checks an update mask against the fields an RPC may change.
pub fn mask_paths<'a>(
    mask: Option<&'a prost_types::FieldMask>,
    allowed: &[&str],
) -> Result<Vec<&'a str>, Violations> {
    let mut violations = Violations::new();
    // Each path at most once: a longer mask is refused before its paths are read.
    let paths: Vec<&str> = mask
        .map(|m| {
            within_limit(
                &mut violations,
                "update_mask.paths",
                &m.paths,
                allowed.len(),
                "paths",
            )
        })
        .unwrap_or_default()
        .iter()
        .map(String::as_str)
        .collect();
    if !violations.is_empty() {
        return Err(violations);
    }
    if paths.is_empty() {
        return Err(Violations::one(
            "update_mask",
            format!(
                "must name the fields to change: any of {}",
                allowed.join(", ")
            ),
        ));
    }
    for (i, path) in paths.iter().enumerate() {
        if !allowed.contains(path) {
            violations.add(
                format!("update_mask.paths[{i}]"),
                format!(
                    "{path:?} cannot be updated; allowed: {}",
                    allowed.join(", ")
                ),
            );
        }
    }
    violations.into_result(paths)
}

/// A role from the wire; `None` when unset or unknown.
pub fn role_from(value: i32) -> Option<Role> {
    Some(match pb::Role::try_from(value).ok()? {
        pb::Role::Unspecified => return None,
        pb::Role::Rep => Role::Rep,
        pb::Role::Manager => Role::Manager,
        pb::Role::Leader => Role::Leader,
        pb::Role::DealDesk => Role::DealDesk,
        pb::Role::Finance => Role::Finance,
        pb::Role::Legal => Role::Legal,
        pb::Role::Admin => Role::Admin,
    })
}

/// A role on the wire.
pub fn role_to(role: Role) -> pb::Role {
    match role {
        Role::Rep => pb::Role::Rep,
        Role::Manager => pb::Role::Manager,
        Role::Leader => pb::Role::Leader,
        Role::DealDesk => pb::Role::DealDesk,
        Role::Finance => pb::Role::Finance,
        Role::Legal => pb::Role::Legal,
        Role::Admin => pb::Role::Admin,
    }
}

/// A segment from the wire; `None` when unset or unknown.
pub fn segment_from(value: i32) -> Option<Segment> {
    match pb::Segment::try_from(value).ok()? {
        pb::Segment::Unspecified => None,
        pb::Segment::Smb => Some(Segment::Smb),
        pb::Segment::MidMarket => Some(Segment::MidMarket),
        pb::Segment::Enterprise => Some(Segment::Enterprise),
    }
}

/// A segment on the wire.
pub fn segment_to(segment: Segment) -> pb::Segment {
    match segment {
        Segment::Smb => pb::Segment::Smb,
        Segment::MidMarket => pb::Segment::MidMarket,
        Segment::Enterprise => pb::Segment::Enterprise,
    }
}

/// A stage kind from the wire.
pub fn stage_kind_from(value: i32) -> Option<StageKind> {
    match pb::stage::Kind::try_from(value).ok()? {
        pb::stage::Kind::Unspecified => None,
        pb::stage::Kind::Open => Some(StageKind::Open),
        pb::stage::Kind::Won => Some(StageKind::Won),
        pb::stage::Kind::Lost => Some(StageKind::Lost),
    }
}

/// A stage kind on the wire.
pub fn stage_kind_to(kind: StageKind) -> pb::stage::Kind {
    match kind {
        StageKind::Open => pb::stage::Kind::Open,
        StageKind::Won => pb::stage::Kind::Won,
        StageKind::Lost => pb::stage::Kind::Lost,
    }
}

macro_rules! wire_enum {
    ($from:ident, $to:ident, $domain:ty, $wire:ty, { $($d:path => $w:path),* $(,)? }) => {
        /// From the wire; `None` when unset or unknown.
        pub fn $from(value: i32) -> Option<$domain> {
            #[allow(unreachable_patterns)] // `Unspecified` is a real value for some enums
            match <$wire>::try_from(value).ok()? {
                $($w => Some($d),)*
                _ => None,
            }
        }

        /// To the wire.
        pub fn $to(value: $domain) -> $wire {
            match value { $($d => $w),* }
        }
    };
}

wire_enum!(deal_field_from, deal_field_to, DealField, pb::DealField, {
    DealField::Amount => pb::DealField::Amount,
    DealField::CloseDate => pb::DealField::CloseDate,
    DealField::NextStep => pb::DealField::NextStep,
    DealField::NextStepDate => pb::DealField::NextStepDate,
    DealField::BantBudget => pb::DealField::BantBudget,
    DealField::BantAuthority => pb::DealField::BantAuthority,
    DealField::BantNeed => pb::DealField::BantNeed,
    DealField::BantTimeline => pb::DealField::BantTimeline,
    DealField::ConfirmedBudget => pb::DealField::ConfirmedBudget,
    DealField::LeadSource => pb::DealField::LeadSource,
});

wire_enum!(buying_role_from, buying_role_to, BuyingRole, pb::BuyingRole, {
    BuyingRole::EconomicBuyer => pb::BuyingRole::EconomicBuyer,
    BuyingRole::Champion => pb::BuyingRole::Champion,
    BuyingRole::DecisionMaker => pb::BuyingRole::DecisionMaker,
    BuyingRole::Influencer => pb::BuyingRole::Influencer,
    BuyingRole::Technical => pb::BuyingRole::Technical,
    BuyingRole::Legal => pb::BuyingRole::Legal,
    BuyingRole::Procurement => pb::BuyingRole::Procurement,
});

wire_enum!(element_from, element_to, QualificationElement, pb::QualificationElement, {
    QualificationElement::Metrics => pb::QualificationElement::Metrics,
    QualificationElement::EconomicBuyer => pb::QualificationElement::EconomicBuyer,
    QualificationElement::DecisionCriteria => pb::QualificationElement::DecisionCriteria,
    QualificationElement::DecisionProcess => pb::QualificationElement::DecisionProcess,
    QualificationElement::PaperProcess => pb::QualificationElement::PaperProcess,
    QualificationElement::IdentifiedPain => pb::QualificationElement::IdentifiedPain,
    QualificationElement::Champion => pb::QualificationElement::Champion,
    QualificationElement::Competition => pb::QualificationElement::Competition,
});

wire_enum!(status_from, status_to, QualificationStatus, pb::QualificationStatus, {
    QualificationStatus::Unknown => pb::QualificationStatus::Unspecified,
    QualificationStatus::Red => pb::QualificationStatus::Red,
    QualificationStatus::Yellow => pb::QualificationStatus::Yellow,
    QualificationStatus::Green => pb::QualificationStatus::Green,
});

/// An exit criterion from the wire, or the violations of its `field` path.
pub fn criterion_from(field: &str, wire: &pb::ExitCriterion) -> Result<ExitCriterion, Violations> {
    use pb::exit_criterion::Rule;
    let unknown = |sub: &str, what: &str| {
        Violations::one(
            format!("{field}.{sub}"),
            format!("must be one of the known {what}"),
        )
    };
    match &wire.rule {
        None => Err(Violations::one(
            field,
            "must set exactly one rule (field_set, close_date_in_future, amount_positive, contact_with_role, departments_engaged, qualification_at_least, no_pending_approval, discount_covered)",
        )),
        Some(Rule::FieldSet(r)) => deal_field_from(r.field)
            .map(ExitCriterion::FieldSet)
            .ok_or_else(|| unknown("field_set.field", "deal fields")),
        Some(Rule::CloseDateInFuture(_)) => Ok(ExitCriterion::CloseDateInFuture),
        Some(Rule::AmountPositive(_)) => Ok(ExitCriterion::AmountPositive),
        Some(Rule::ContactWithRole(r)) => buying_role_from(r.role)
            .map(ExitCriterion::ContactWithRole)
            .ok_or_else(|| unknown("contact_with_role.role", "buying roles")),
        Some(Rule::DepartmentsEngaged(r)) => u8::try_from(r.min_departments)
            .map(ExitCriterion::DepartmentsEngaged)
            .map_err(|_| {
                Violations::one(
                    format!("{field}.departments_engaged.min_departments"),
                    format!(
                        "must be between 1 and {}",
                        crate::domain::pipeline::MAX_DEPARTMENTS
                    ),
                )
            }),
        Some(Rule::QualificationAtLeast(r)) => {
            let mut violations = Violations::new();
            let element = element_from(r.element);
            if element.is_none() {
                violations.extend(unknown(
                    "qualification_at_least.element",
                    "qualification elements",
                ));
            }
            let status = status_from(r.min_status).filter(|s| *s != QualificationStatus::Unknown);
            if status.is_none() {
                violations.add(
                    format!("{field}.qualification_at_least.min_status"),
                    "must be YELLOW or GREEN",
                );
            }
            match (element, status) {
                (Some(element), Some(min_status)) => Ok(ExitCriterion::QualificationAtLeast {
                    element,
                    min_status,
                }),
                _ => Err(violations),
            }
        }
        Some(Rule::NoPendingApproval(_)) => Ok(ExitCriterion::NoPendingApproval),
        Some(Rule::DiscountCovered(_)) => Ok(ExitCriterion::DiscountCovered),
    }
}

/// An exit criterion on the wire, with its description.
pub fn criterion_to(criterion: &ExitCriterion) -> pb::ExitCriterion {
    use pb::exit_criterion::{self as ec, Rule};
    let rule = match *criterion {
        ExitCriterion::FieldSet(f) => Rule::FieldSet(ec::FieldSet {
            field: deal_field_to(f).into(),
        }),
        ExitCriterion::CloseDateInFuture => Rule::CloseDateInFuture(ec::CloseDateInFuture {}),
        ExitCriterion::AmountPositive => Rule::AmountPositive(ec::AmountPositive {}),
        ExitCriterion::ContactWithRole(r) => Rule::ContactWithRole(ec::ContactWithRole {
            role: buying_role_to(r).into(),
        }),
        ExitCriterion::DepartmentsEngaged(n) => Rule::DepartmentsEngaged(ec::DepartmentsEngaged {
            min_departments: n.into(),
        }),
        ExitCriterion::QualificationAtLeast {
            element,
            min_status,
        } => Rule::QualificationAtLeast(ec::QualificationAtLeast {
            element: element_to(element).into(),
            min_status: status_to(min_status).into(),
        }),
        ExitCriterion::NoPendingApproval => Rule::NoPendingApproval(ec::NoPendingApproval {}),
        ExitCriterion::DiscountCovered => Rule::DiscountCovered(ec::DiscountCovered {}),
    };
    pb::ExitCriterion {
        rule: Some(rule),
        description: criterion.description(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::ids::{ApprovalRequestId, DealId, PipelineId};

    #[test]
    fn a_name_with_a_bad_uuid_is_refused_naming_the_field_and_the_collection() {
        assert_eq!(
            parse_name::<DealId>("deal", "deals/not-a-uuid"),
            Err(Violations::one(
                "deal",
                "must be a resource name like deals/<uuid>"
            ))
        );
        assert_eq!(
            parse_name::<PipelineId>("pipeline", "deals/0190a5b2-7c3d-7e4f-8a1b-2c3d4e5f6a7b"),
            Err(Violations::one(
                "pipeline",
                "must be a resource name like pipelines/<uuid>"
            ))
        );
        assert_eq!(
            parse_name::<ApprovalRequestId>("name", ""),
            Err(Violations::one(
                "name",
                "must be a resource name like approvalRequests/<uuid>"
            ))
        );
        assert_eq!(
            parse_user_name("owner", "users/00000000-0000-0000-0000-000000000000"),
            Err(Violations::one(
                "owner",
                "must be a resource name like users/<uuid>"
            ))
        );
    }

    #[test]
    fn a_good_name_gives_the_id_of_its_type() {
        let uuid = Uuid::parse_str("0190a5b2-7c3d-7e4f-8a1b-2c3d4e5f6a7b").unwrap();
        assert_eq!(
            parse_name::<DealId>("deal", &format!("deals/{uuid}")),
            Ok(DealId(uuid))
        );
        assert_eq!(
            parse_token_name("name", &format!("users/{uuid}/apiTokens/{uuid}")),
            Ok((UserId(uuid), ApiTokenId(uuid)))
        );
    }
}
