//! DirectoryService: users and API tokens.

use tonic::{Request, Response, Status};
use tracing::instrument;

use super::convert::{
    etag, mask_paths, parse_etag, parse_optional_user, parse_token_name, parse_user_name,
    role_from, role_to, timestamp,
};
use super::request_limits::USER_UPDATABLE;
use super::{Paging, authenticate, created, idempotency_key, invalid};
use crate::app::App;
use crate::app::directory::UserMask;
use crate::app::names::{token_name, user_name};
use crate::app::ports::{Store, UserFilter};
use crate::app::roles::require_directory_admin;
use crate::domain::Violations;
use crate::domain::directory::{ApiToken, User, UserDraft};
use crate::proto::{self as pb, directory_service_server::DirectoryService};

/// The DirectoryService adapter.
#[derive(Debug, Clone)]
pub struct DirectoryApi<S> {
    app: App<S>,
}

impl<S> DirectoryApi<S> {
    /// The adapter over `app`.
    pub fn new(app: App<S>) -> Self {
        Self { app }
    }
}

/// A user on the wire.
pub fn user_to_wire(user: &User) -> pb::User {
    pb::User {
        name: user_name(user.id),
        display_name: user.profile.display_name.as_str().to_string(),
        email: user.profile.email.clone(),
        role: role_to(user.profile.role).into(),
        manager: user.profile.manager_id.map(user_name).unwrap_or_default(),
        active: Some(user.profile.active),
        create_time: Some(timestamp(user.created_at)),
        update_time: Some(timestamp(user.updated_at)),
        etag: etag(user.version),
    }
}

fn token_to_wire(token: &ApiToken) -> pb::ApiToken {
    pb::ApiToken {
        name: token_name(token.user_id, token.id),
        display_name: token.display_name.clone(),
        create_time: Some(timestamp(token.created_at)),
        revoke_time: token.revoked_at.map(timestamp),
    }
}

/// A user draft from the wire, with the violations of its references. An unset `active` means
/// active on create (`active_by_default`) and inactive in an update that masks it.
fn draft_from(user: &pb::User, active_by_default: bool) -> Result<UserDraft, Violations> {
    Ok(UserDraft {
        display_name: user.display_name.clone(),
        email: user.email.clone(),
        role: role_from(user.role),
        manager_id: parse_optional_user("user.manager", &user.manager)?,
        active: user.active.unwrap_or(active_by_default),
    })
}

#[tonic::async_trait]
impl<S: Store> DirectoryService for DirectoryApi<S> {
    #[instrument(skip_all)]
    async fn create_user(
        &self,
        request: Request<pb::CreateUserRequest>,
    ) -> Result<Response<pb::User>, Status> {
        let principal = authenticate(&self.app, &request).await?;
        require_directory_admin(&principal)?;
        let req = request.into_inner();
        let user = req
            .user
            .as_ref()
            .ok_or_else(|| invalid(Violations::one("user", "is required")))?;
        let draft = draft_from(user, true).map_err(invalid)?;
        let key = idempotency_key(Some(principal.user.id), "CreateUser", &req.request_id, &req)?;
        let result = self
            .app
            .create_user(&principal, draft, key, |u| {
                prost::Message::encode_to_vec(&user_to_wire(u))
            })
            .await?;
        Ok(Response::new(created(result, user_to_wire)?))
    }

    #[instrument(skip_all)]
    async fn get_user(
        &self,
        request: Request<pb::GetUserRequest>,
    ) -> Result<Response<pb::User>, Status> {
        let principal = authenticate(&self.app, &request).await?;
        let id = parse_user_name("name", &request.get_ref().name).map_err(invalid)?;
        let user = self.app.get_user(&principal, id).await?;
        Ok(Response::new(user_to_wire(&user)))
    }

    #[instrument(skip_all)]
    async fn get_current_user(
        &self,
        request: Request<pb::GetCurrentUserRequest>,
    ) -> Result<Response<pb::User>, Status> {
        let principal = authenticate(&self.app, &request).await?;
        Ok(Response::new(user_to_wire(&principal.user)))
    }

    #[instrument(skip_all)]
    async fn list_users(
        &self,
        request: Request<pb::ListUsersRequest>,
    ) -> Result<Response<pb::ListUsersResponse>, Status> {
        let principal = authenticate(&self.app, &request).await?;
        let req = request.into_inner();
        let role = match req.role {
            0 => None,
            value => Some(role_from(value).ok_or_else(|| {
                invalid(Violations::one("role", "must be one of the known roles"))
            })?),
        };
        let manager = parse_optional_user("manager", &req.manager).map_err(invalid)?;
        let role_filter = req.role.to_string();
        let paging = Paging::parse(
            req.page_size,
            &req.page_token,
            &["ListUsers", &req.manager, &role_filter],
        )?;
        let after = paging.after_uuid()?.map(crate::domain::directory::UserId);
        let users = self
            .app
            .list_users(
                &principal,
                UserFilter { manager, role },
                after,
                paging.limit,
            )
            .await?;
        let next_page_token =
            paging.next_token(users.len(), users.last().map(|u| u.id.0.to_string()));
        Ok(Response::new(pb::ListUsersResponse {
            users: users.iter().map(user_to_wire).collect(),
            next_page_token,
        }))
    }

    #[instrument(skip_all)]
    async fn update_user(
        &self,
        request: Request<pb::UpdateUserRequest>,
    ) -> Result<Response<pb::User>, Status> {
        let principal = authenticate(&self.app, &request).await?;
        require_directory_admin(&principal)?;
        let req = request.into_inner();
        let user = req
            .user
            .as_ref()
            .ok_or_else(|| invalid(Violations::one("user", "is required")))?;
        let mut violations = Violations::new();
        let id = parse_user_name("user.name", &user.name)
            .map_err(|v| violations.extend(v))
            .ok();
        let etag = parse_etag("user.etag", &user.etag)
            .map_err(|v| violations.extend(v))
            .ok()
            .flatten();
        let paths = mask_paths(req.update_mask.as_ref(), &USER_UPDATABLE)
            .map_err(|v| violations.extend(v))
            .unwrap_or_default();
        let draft = draft_from(user, false)
            .map_err(|v| violations.extend(v))
            .ok();
        let (Some(id), Some(draft)) = (id, draft) else {
            return Err(invalid(violations));
        };
        if !violations.is_empty() {
            return Err(invalid(violations));
        }
        let mask = UserMask {
            display_name: paths.contains(&"display_name"),
            email: paths.contains(&"email"),
            role: paths.contains(&"role"),
            manager: paths.contains(&"manager"),
            active: paths.contains(&"active"),
        };
        let updated = self
            .app
            .update_user(&principal, id, draft, mask, etag)
            .await?;
        Ok(Response::new(user_to_wire(&updated)))
    }

    #[instrument(skip_all)]
    async fn create_api_token(
        &self,
        request: Request<pb::CreateApiTokenRequest>,
    ) -> Result<Response<pb::CreateApiTokenResponse>, Status> {
        let principal = authenticate(&self.app, &request).await?;
        require_directory_admin(&principal)?;
        let req = request.into_inner();
        let user = parse_user_name("parent", &req.parent).map_err(invalid)?;
        let token = req
            .api_token
            .ok_or_else(|| invalid(Violations::one("api_token", "is required")))?;
        let issued = self
            .app
            .create_token(&principal, user, &token.display_name)
            .await?;
        Ok(Response::new(pb::CreateApiTokenResponse {
            api_token: Some(token_to_wire(&issued.token)),
            secret: issued.secret,
        }))
    }

    #[instrument(skip_all)]
    async fn list_api_tokens(
        &self,
        request: Request<pb::ListApiTokensRequest>,
    ) -> Result<Response<pb::ListApiTokensResponse>, Status> {
        let principal = authenticate(&self.app, &request).await?;
        require_directory_admin(&principal)?;
        let req = request.into_inner();
        let user = parse_user_name("parent", &req.parent).map_err(invalid)?;
        let paging = Paging::parse(
            req.page_size,
            &req.page_token,
            &["ListApiTokens", &req.parent],
        )?;
        let tokens = self
            .app
            .list_tokens(&principal, user, paging.after_uuid()?, paging.limit)
            .await?;
        let next_page_token =
            paging.next_token(tokens.len(), tokens.last().map(|t| t.id.to_string()));
        Ok(Response::new(pb::ListApiTokensResponse {
            api_tokens: tokens.iter().map(token_to_wire).collect(),
            next_page_token,
        }))
    }

    #[instrument(skip_all)]
    async fn revoke_api_token(
        &self,
        request: Request<pb::RevokeApiTokenRequest>,
    ) -> Result<Response<pb::ApiToken>, Status> {
        let principal = authenticate(&self.app, &request).await?;
        require_directory_admin(&principal)?;
        let (user, token) = parse_token_name("name", &request.get_ref().name).map_err(invalid)?;
        let revoked = self.app.revoke_token(&principal, user, token).await?;
        Ok(Response::new(token_to_wire(&revoked)))
    }
}
