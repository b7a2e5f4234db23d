//! Directory use cases: users, their place in the reporting tree, and API tokens.

use super::names::{token_name, user_name};
use super::ports::{AuditEntry, Created, IdempotencyKey, Store, UserFilter};
use super::roles::require_directory_admin;
use super::{App, AppError, AppResult, Principal, idempotent_write};
use crate::domain::directory::{
    ApiToken, User, UserDraft, UserId, UserProfile, hash_token_secret, parse_token_display_name,
    token_secret_from,
};
use crate::domain::ids::ApiTokenId;

/// Which fields of a user an update changes (from the update mask).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UserMask {
    /// `display_name`.
    pub display_name: bool,
    /// `email`.
    pub email: bool,
    /// `role`.
    pub role: bool,
    /// `manager`.
    pub manager: bool,
    /// `active`.
    pub active: bool,
}

/// A newly issued token and its secret (shown once).
#[derive(Debug, Clone)]
pub struct IssuedToken {
    /// The stored token.
    pub token: ApiToken,
    /// The bearer secret.
    pub secret: String,
}

impl<S: Store> App<S> {
    /// Creates a user. Admin only; idempotent on the key.
    pub async fn create_user(
        &self,
        principal: &Principal,
        draft: UserDraft,
        key: Option<IdempotencyKey>,
        respond: impl FnOnce(&User) -> Vec<u8>,
    ) -> AppResult<Created<User>> {
        require_directory_admin(principal)?;
        self.create_user_as(Some(principal.user.id), draft, key, respond)
            .await
    }

    /// Creates a user on behalf of `actor` (`None`: the operator's CLI, which needs no token).
    pub async fn create_user_as(
        &self,
        actor: Option<UserId>,
        draft: UserDraft,
        key: Option<IdempotencyKey>,
        respond: impl FnOnce(&User) -> Vec<u8>,
    ) -> AppResult<Created<User>> {
        let profile =
            UserProfile::parse(draft).map_err(|v| AppError::invalid(v.prefixed("user")))?;
        if let Some(saved) = self.replay(key.as_ref()).await? {
            return Ok(Created::Replayed(saved));
        }
        let now = self.now();
        let user = User {
            id: UserId(self.ids.id()),
            profile,
            created_at: now,
            updated_at: now,
            version: 1,
        };
        let audit = AuditEntry {
            actor,
            action: "CreateUser",
            resource: user_name(user.id),
            detail: format!("role {}", user.profile.role.as_str()),
            change: None,
        };
        let write = idempotent_write(key, || respond(&user));
        Ok(match self.store.insert_user(&user, audit, write).await? {
            Created::New(()) => Created::New(user),
            Created::Replayed(saved) => Created::Replayed(saved),
        })
    }

    /// One user; everyone may read the directory.
    pub async fn get_user(&self, _principal: &Principal, id: UserId) -> AppResult<User> {
        self.store
            .get_user(id)
            .await?
            .ok_or_else(|| AppError::NotFound {
                kind: "user",
                name: user_name(id),
            })
    }

    /// A page of users.
    pub async fn list_users(
        &self,
        _principal: &Principal,
        filter: UserFilter,
        after: Option<UserId>,
        limit: u64,
    ) -> AppResult<Vec<User>> {
        self.store.list_users(filter, after, limit).await
    }

    /// Changes the masked fields of a user. Admin only; `etag` is the caller's expected version.
    pub async fn update_user(
        &self,
        principal: &Principal,
        id: UserId,
        changes: UserDraft,
        mask: UserMask,
        etag: Option<i64>,
    ) -> AppResult<User> {
        require_directory_admin(principal)?;
        let current = self.get_user(principal, id).await?;
        if etag.is_some_and(|v| v != current.version) {
            return Err(AppError::StaleEtag {
                kind: "user",
                name: user_name(id),
            });
        }
        let was = &current.profile;
        let merged = UserDraft {
            display_name: if mask.display_name {
                changes.display_name
            } else {
                was.display_name.as_str().to_string()
            },
            email: if mask.email {
                changes.email
            } else {
                was.email.clone()
            },
            role: if mask.role {
                changes.role
            } else {
                Some(was.role)
            },
            manager_id: if mask.manager {
                changes.manager_id
            } else {
                was.manager_id
            },
            active: if mask.active {
                changes.active
            } else {
                was.active
            },
        };
        let profile =
            UserProfile::parse(merged).map_err(|v| AppError::invalid(v.prefixed("user")))?;
        let audit = AuditEntry {
            actor: Some(principal.user.id),
            action: "UpdateUser",
            resource: user_name(id),
            detail: describe_mask(mask),
            change: None,
        };
        self.store
            .update_user(id, current.version, profile, self.now(), audit)
            .await
    }

    /// Issues a token for `user`. Admin only.
    pub async fn create_token(
        &self,
        principal: &Principal,
        user: UserId,
        display_name: &str,
    ) -> AppResult<IssuedToken> {
        require_directory_admin(principal)?;
        self.get_user(principal, user).await?;
        self.issue_token_as(Some(principal.user.id), user, display_name)
            .await
    }

    /// Issues a token on behalf of `actor` (`None`: the operator's CLI).
    pub async fn issue_token_as(
        &self,
        actor: Option<UserId>,
        user: UserId,
        display_name: &str,
    ) -> AppResult<IssuedToken> {
        let display_name = parse_token_display_name(display_name)
            .map_err(|v| AppError::invalid(v.prefixed("api_token")))?;
        let random = self
            .ids
            .secret()
            .map_err(|e| AppError::Storage(format!("no randomness for a token: {e}")))?;
        let secret = token_secret_from(random);
        let token = ApiToken {
            id: ApiTokenId(self.ids.id()),
            user_id: user,
            display_name,
            secret_hash: hash_token_secret(&secret),
            created_at: self.now(),
            revoked_at: None,
        };
        let audit = AuditEntry {
            actor,
            action: "CreateApiToken",
            resource: token_name(user, token.id),
            detail: String::new(),
            change: None,
        };
        self.store.insert_token(&token, audit).await?;
        Ok(IssuedToken { token, secret })
    }

    /// A page of a user's tokens. Admin only.
    pub async fn list_tokens(
        &self,
        principal: &Principal,
        user: UserId,
        after: Option<ApiTokenId>,
        limit: u64,
    ) -> AppResult<Vec<ApiToken>> {
        require_directory_admin(principal)?;
        self.get_user(principal, user).await?;
        self.store.list_tokens(user, after, limit).await
    }

    /// Revokes a token. Admin only.
    pub async fn revoke_token(
        &self,
        principal: &Principal,
        user: UserId,
        token: ApiTokenId,
    ) -> AppResult<ApiToken> {
        require_directory_admin(principal)?;
        let audit = AuditEntry {
            actor: Some(principal.user.id),
            action: "RevokeApiToken",
            resource: token_name(user, token),
            detail: String::new(),
            change: None,
        };
        self.store
            .revoke_token(user, token, self.now(), audit)
            .await
    }
}

fn describe_mask(mask: UserMask) -> String {
    let fields = [
        (mask.display_name, "display_name"),
        (mask.email, "email"),
        (mask.role, "role"),
        (mask.manager, "manager"),
        (mask.active, "active"),
    ];
    let changed: Vec<&str> = fields
        .iter()
        .filter(|(on, _)| *on)
        .map(|(_, f)| *f)
        .collect();
    changed.join(",")
}
