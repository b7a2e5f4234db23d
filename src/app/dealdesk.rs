//! Deal-desk use cases: versioned approval policies and route previews.

use std::sync::Arc;

use super::deals::not_found;
use super::ports::{AuditEntry, Store};
use super::roles::require_policy_editor;
use super::{App, AppError, AppResult, Principal};
use crate::domain::approval::{Policy, PolicyVersion, Route, Terms, check_policy};
use crate::domain::approval_request::resolve_route;
use crate::domain::deal::Access;
use crate::domain::ids::DealId;
use crate::domain::pipeline::Segment;

impl<S: Store> App<S> {
    /// Stores the next version of a segment's policy. Admins and deal desk only.
    pub async fn create_policy(
        &self,
        principal: &Principal,
        policy: Policy,
    ) -> AppResult<PolicyVersion> {
        require_policy_editor(principal)?;
        check_policy(&policy).map_err(|v| AppError::invalid(v.prefixed("policy")))?;
        let latest = self
            .store
            .get_policy(policy.segment, None)
            .await?
            .map(|p| p.version)
            .unwrap_or(0);
        let version = PolicyVersion {
            version: latest + 1,
            policy,
            creator: Some(principal.user.id),
            created_at: self.now(),
        };
        let audit = AuditEntry {
            actor: Some(principal.user.id),
            action: "CreateApprovalPolicy",
            resource: crate::app::names::policy_name(version.policy.segment, version.version),
            detail: String::new(),
            change: None,
        };
        self.store.insert_policy(&version, audit).await?;
        Ok(version)
    }

    /// One version (or the newest) of a segment's policy; everyone may read policies.
    pub async fn get_policy(
        &self,
        _principal: &Principal,
        segment: Segment,
        version: Option<i64>,
    ) -> AppResult<Arc<PolicyVersion>> {
        self.store
            .get_policy(segment, version)
            .await?
            .ok_or_else(|| AppError::NotFound {
                kind: "approval policy",
                name: format!(
                    "{segment:?} version {}",
                    version
                        .map(|v| v.to_string())
                        .unwrap_or_else(|| "latest".into())
                ),
            })
    }

    /// The route a request on a visible deal would take under its segment's newest policy.
    pub async fn preview_route(
        &self,
        principal: &Principal,
        deal: DealId,
        terms: Terms,
    ) -> AppResult<(Arc<PolicyVersion>, Route)> {
        // Only the owner, pipeline and amount: the preview needs neither the deal's contacts nor
        // its qualification. Cached, and forgotten by every write of the deal through the store
        // (a write through another replica is seen within the cache's TTL, as a policy's is);
        // a submission routes on the whole deal read from the database.
        let routing = self
            .store
            .get_deal_routing(deal)
            .await?
            .ok_or_else(|| not_found(deal))?;
        if self.access_to(principal, routing.owner_id).await? == Access::None {
            return Err(not_found(deal));
        }
        let (policy, mut route) = self
            .route_for(principal, routing.pipeline_id, routing.amount, &terms)
            .await?;
        if !route.steps.is_empty() {
            // Only for the reasons of steps that skip the caller: a step nobody can approve
            // shows as the policy routes it, and the submission says NO_APPROVER.
            let chain = self.approver_chain(routing.owner_id).await?;
            resolve_route(&chain, principal.user.id, &mut route);
        }
        Ok((policy, route))
    }
}
