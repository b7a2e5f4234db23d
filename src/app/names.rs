//! The API's resource names (`users/{id}`, `deals/{id}`, ...), written in one place: the app
//! names resources in its errors, audit rows and event descriptions as the API does, and the
//! gRPC layer formats its name fields with the same functions.

use uuid::Uuid;

use crate::domain::ids::{
    ApiTokenId, ApprovalRequestId, DealId, DelegationId, ForecastSnapshotId, PipelineId, UserId,
};
use crate::domain::pipeline::Segment;

/// An id whose resource is named `{COLLECTION}/{id}` at the top of the API.
pub trait ResourceId: Copy + From<Uuid> {
    /// The collection's segment (`deals`).
    const COLLECTION: &'static str;
}

impl ResourceId for UserId {
    const COLLECTION: &'static str = "users";
}

impl ResourceId for PipelineId {
    const COLLECTION: &'static str = "pipelines";
}

impl ResourceId for DealId {
    const COLLECTION: &'static str = "deals";
}

impl ResourceId for ApprovalRequestId {
    const COLLECTION: &'static str = "approvalRequests";
}

impl ResourceId for DelegationId {
    const COLLECTION: &'static str = "delegations";
}

/// The id in `{collection}/{uuid}` of `I`'s collection: exactly a canonical hyphenated uuid
/// after the slash, and not the nil uuid. `None` for anything else.
pub fn parse_id<I: ResourceId>(name: &str) -> Option<I> {
    name.strip_prefix(I::COLLECTION)
        .and_then(|rest| rest.strip_prefix('/'))
        .and_then(|id| Uuid::parse_str(id).ok())
        .filter(|id| name.len() == I::COLLECTION.len() + 1 + 36 && !id.is_nil())
        .map(I::from)
}

/// `users/{id}`.
pub fn user_name(id: UserId) -> String {
    format!("users/{}", id.0)
}

/// `users/{id}` of a user id kept as text (a win-rate segment's value).
pub fn user_name_of(id: &str) -> String {
    format!("users/{id}")
}

/// `users/{user}/apiTokens/{token}`.
pub fn token_name(user: UserId, token: ApiTokenId) -> String {
    format!("{}/apiTokens/{token}", user_name(user))
}

/// `users/{subject}/forecastCalls/{period}`.
pub fn call_name(subject: UserId, period: &str) -> String {
    format!("{}/forecastCalls/{period}", user_name(subject))
}

/// `deals/{id}`.
pub fn deal_name(id: DealId) -> String {
    format!("deals/{id}")
}

/// `pipelines/{id}`.
pub fn pipeline_name(id: PipelineId) -> String {
    format!("pipelines/{id}")
}

/// `pipelines/{pipeline}/stages/{stage}` (the pipeline's id as a value or as stored text).
pub fn stage_name(pipeline: impl std::fmt::Display, stage: &str) -> String {
    format!("pipelines/{pipeline}/stages/{stage}")
}

/// `pipelines/{pipeline}/winRateSnapshots/{version}`.
pub fn snapshot_name(pipeline: PipelineId, version: i64) -> String {
    format!("pipelines/{pipeline}/winRateSnapshots/{version}")
}

/// `forecastSnapshots/{id}`.
pub fn forecast_snapshot_name(id: ForecastSnapshotId) -> String {
    format!("forecastSnapshots/{id}")
}

/// `approvalRequests/{id}`.
pub fn request_name(id: ApprovalRequestId) -> String {
    format!("approvalRequests/{id}")
}

/// `approvalRequests/{id}/steps/{n}` for the 0-based step `index`.
pub fn step_name(id: ApprovalRequestId, index: usize) -> String {
    format!("approvalRequests/{id}/steps/{}", index + 1)
}

/// `delegations/{id}`.
pub fn delegation_name(id: DelegationId) -> String {
    format!("delegations/{id}")
}

/// A segment as resource names spell it: `smb`, `mid-market`, `enterprise`.
pub fn segment_slug(segment: Segment) -> &'static str {
    match segment {
        Segment::Smb => "smb",
        Segment::MidMarket => "mid-market",
        Segment::Enterprise => "enterprise",
    }
}

/// `approvalPolicies/{segment}/versions/{version}`.
pub fn policy_name(segment: Segment, version: i64) -> String {
    format!(
        "approvalPolicies/{}/versions/{version}",
        segment_slug(segment)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "0190a5b2-7c3d-7e4f-8a1b-2c3d4e5f6a7b";

    fn uuid() -> Uuid {
        Uuid::parse_str(ID).unwrap()
    }

    #[test]
    fn a_name_parses_to_the_id_of_its_collection_and_formats_back() {
        let deal: DealId = parse_id(&format!("deals/{ID}")).unwrap();
        assert_eq!(deal, DealId(uuid()));
        assert_eq!(deal_name(deal), format!("deals/{ID}"));
        let pipeline: PipelineId = parse_id(&pipeline_name(PipelineId(uuid()))).unwrap();
        assert_eq!(pipeline, PipelineId(uuid()));
        let request: ApprovalRequestId =
            parse_id(&request_name(ApprovalRequestId(uuid()))).unwrap();
        assert_eq!(request, ApprovalRequestId(uuid()));
        let delegation: DelegationId = parse_id(&delegation_name(DelegationId(uuid()))).unwrap();
        assert_eq!(delegation, DelegationId(uuid()));
        assert_eq!(
            parse_id::<UserId>(&user_name(UserId(uuid()))),
            Some(UserId(uuid()))
        );
    }

    #[test]
    fn a_name_of_another_collection_is_not_an_id_of_this_one() {
        assert_eq!(parse_id::<DealId>(&format!("pipelines/{ID}")), None);
        assert_eq!(parse_id::<PipelineId>(&format!("deals/{ID}")), None);
        assert_eq!(parse_id::<UserId>(&format!("usersx/{ID}")), None);
    }

    #[test]
    fn a_bad_nil_or_non_canonical_uuid_is_refused() {
        for name in [
            "deals/".to_string(),
            "deals/not-a-uuid".to_string(),
            format!("deals/{}", Uuid::nil()),
            format!("deals/{}", uuid().simple()),
            format!("deals/{ID}/stages/x"),
            format!("deals//{ID}"),
            format!("deals{ID}"),
        ] {
            assert_eq!(parse_id::<DealId>(&name), None, "{name}");
        }
    }
}
