//! The directory's port: users, their API tokens, and the saved answers of retried creates.

use std::future::Future;

use chrono::{DateTime, Utc};

use super::{AuditEntry, Created, IdempotencyKey, IdempotentWrite};
use crate::app::AppResult;
use crate::domain::directory::{ApiToken, Role, User, UserId, UserProfile};
use crate::domain::ids::ApiTokenId;

/// A token with the user it authenticates as.
#[derive(Debug, Clone)]
pub struct TokenOwner {
    /// The token, revoked or not (the caller decides).
    pub token: ApiToken,
    /// The user it authenticates as, active or not.
    pub user: User,
}

/// Filters of a user listing.
#[derive(Debug, Clone, Copy, Default)]
pub struct UserFilter {
    /// Only direct reports of this manager.
    pub manager: Option<UserId>,
    /// Only this role.
    pub role: Option<Role>,
}

/// Storage of principals and tokens.
pub trait DirectoryStore: Send + Sync + 'static {
    /// The token with this secret hash and its user, if any (revoked or not).
    fn find_token_owner(
        &self,
        secret_hash: &str,
    ) -> impl Future<Output = AppResult<Option<TokenOwner>>> + Send;

    /// The saved answer for this key, if a create with it was done. A key reused for a different
    /// request is INVALID_ARGUMENT.
    fn find_idempotent(
        &self,
        key: &IdempotencyKey,
    ) -> impl Future<Output = AppResult<Option<Vec<u8>>>> + Send;

    /// Inserts a user (email taken -> ALREADY_EXISTS; manager missing -> INVALID_ARGUMENT).
    fn insert_user(
        &self,
        user: &User,
        audit: AuditEntry,
        idempotency: Option<IdempotentWrite>,
    ) -> impl Future<Output = AppResult<Created<()>>> + Send;

    /// One user.
    fn get_user(&self, id: UserId) -> impl Future<Output = AppResult<Option<User>>> + Send;

    /// The user with this (lower-case) e-mail.
    fn find_user_by_email(
        &self,
        email: &str,
    ) -> impl Future<Output = AppResult<Option<User>>> + Send;

    /// Users in id order after `after`, at most `limit`.
    fn list_users(
        &self,
        filter: UserFilter,
        after: Option<UserId>,
        limit: u64,
    ) -> impl Future<Output = AppResult<Vec<User>>> + Send;

    /// Replaces a user's profile if its version is still `expected_version`, refusing a manager
    /// that would close a cycle in the reporting tree. Returns the stored user.
    fn update_user(
        &self,
        id: UserId,
        expected_version: i64,
        profile: UserProfile,
        at: DateTime<Utc>,
        audit: AuditEntry,
    ) -> impl Future<Output = AppResult<User>> + Send;

    /// Inserts a token.
    fn insert_token(
        &self,
        token: &ApiToken,
        audit: AuditEntry,
    ) -> impl Future<Output = AppResult<()>> + Send;

    /// A user's tokens in id order after `after`, at most `limit`.
    fn list_tokens(
        &self,
        user: UserId,
        after: Option<ApiTokenId>,
        limit: u64,
    ) -> impl Future<Output = AppResult<Vec<ApiToken>>> + Send;

    /// Marks a token revoked at `at`, if it is not already (then FAILED_PRECONDITION).
    fn revoke_token(
        &self,
        user: UserId,
        token: ApiTokenId,
        at: DateTime<Utc>,
        audit: AuditEntry,
    ) -> impl Future<Output = AppResult<ApiToken>> + Send;
}
