//! The API's resource names (`users/{id}`, `deals/{id}`, ...), written in one place: the app
//! names resources in its errors, audit rows and event descriptions as the API does, and the
//! gRPC layer formats its name fields with the same functions.

use uuid::Uuid;

use crate::domain::directory::UserId;
use crate::domain::pipeline::Segment;

/// `users/{id}`.
pub fn user_name(id: UserId) -> String {
    format!("users/{}", id.0)
}

/// `users/{id}` of a user id kept as text (a win-rate segment's value).
pub fn user_name_of(id: &str) -> String {
    format!("users/{id}")
}

/// `users/{user}/apiTokens/{token}`.
pub fn token_name(user: UserId, token: Uuid) -> String {
    format!("{}/apiTokens/{token}", user_name(user))
}

/// `users/{subject}/forecastCalls/{period}`.
pub fn call_name(subject: UserId, period: &str) -> String {
    format!("{}/forecastCalls/{period}", user_name(subject))
}

/// `deals/{id}`.
pub fn deal_name(id: Uuid) -> String {
    format!("deals/{id}")
}

/// `pipelines/{id}`.
pub fn pipeline_name(id: Uuid) -> String {
    format!("pipelines/{id}")
}

/// `pipelines/{pipeline}/stages/{stage}` (the pipeline's id as a value or as stored text).
pub fn stage_name(pipeline: impl std::fmt::Display, stage: &str) -> String {
    format!("pipelines/{pipeline}/stages/{stage}")
}

/// `pipelines/{pipeline}/winRateSnapshots/{version}`.
pub fn snapshot_name(pipeline: Uuid, version: i64) -> String {
    format!("pipelines/{pipeline}/winRateSnapshots/{version}")
}

/// `approvalRequests/{id}`.
pub fn request_name(id: Uuid) -> String {
    format!("approvalRequests/{id}")
}

/// `approvalRequests/{id}/steps/{n}` for the 0-based step `index`.
pub fn step_name(id: Uuid, index: usize) -> String {
    format!("approvalRequests/{id}/steps/{}", index + 1)
}

/// `delegations/{id}`.
pub fn delegation_name(id: Uuid) -> String {
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
