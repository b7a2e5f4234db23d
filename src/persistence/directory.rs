//! Users and API tokens on SQL.

use crate::domain::Problem;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, sea_query::Expr,
};

use super::changes::notify_in;
use super::codec::{decode_role, encode_role};
use super::codec::{stored_text, uuid};
use super::entities::{api_token, user};
use super::{SqlStore, find_idempotent, is_unique_violation, record_audit, storage};
use crate::app::names::{token_name, user_name};
use crate::app::ports::{
    AuditEntry, Created, DirectoryStore, IdempotencyKey, IdempotentWrite, TokenOwner, Topic,
    UserFilter,
};
use crate::app::{AppError, AppResult};
use crate::domain::Violations;
use crate::domain::directory::{
    ApiToken, ReportingTree, User, UserId, UserProfile, creates_reporting_cycle,
};
use crate::domain::ids::ApiTokenId;

/// Deepest reporting chain walked when checking for cycles; a deeper tree is refused.
const MAX_TREE_DEPTH: usize = 64;

fn user_from_row(row: user::Model) -> Result<User, DbErr> {
    Ok(User {
        id: UserId(uuid(&row.id)?),
        profile: UserProfile {
            display_name: stored_text("user display name", row.display_name)?,
            email: row.email,
            role: decode_role(&row.role)?,
            manager_id: row.manager_id.as_deref().map(uuid).transpose()?.map(UserId),
            active: row.active,
        },
        created_at: row.created_at,
        updated_at: row.updated_at,
        version: row.version,
    })
}

/// The row of a new user.
pub(super) fn user_row(new: &User) -> user::ActiveModel {
    let p = &new.profile;
    user::ActiveModel {
        id: Set(new.id.0.to_string()),
        display_name: Set(p.display_name.as_str().to_string()),
        email: Set(p.email.clone()),
        role: Set(encode_role(p.role).to_string()),
        manager_id: Set(p.manager_id.map(|m| m.0.to_string())),
        active: Set(p.active),
        created_at: Set(new.created_at),
        updated_at: Set(new.updated_at),
        version: Set(new.version),
    }
}

fn token_from_row(row: api_token::Model) -> Result<ApiToken, DbErr> {
    Ok(ApiToken {
        id: uuid(&row.id)?,
        user_id: UserId(uuid(&row.user_id)?),
        display_name: row.display_name,
        secret_hash: row.secret_hash,
        created_at: row.created_at,
        revoked_at: row.revoked_at,
    })
}

fn email_taken(email: &str) -> AppError {
    AppError::AlreadyExists {
        kind: "user",
        field: "email",
        value: email.to_string(),
    }
}

impl SqlStore {
    /// Every user with their manager: cached (cleared by every change to users), read in one
    /// query of two columns.
    pub(super) async fn tree(&self) -> AppResult<Arc<ReportingTree>> {
        self.caches
            .tree
            .get_or_load((), async {
                let rows: Vec<(String, Option<String>)> = user::Entity::find()
                    .select_only()
                    .columns([user::Column::Id, user::Column::ManagerId])
                    // Reports are listed in this order (forecasts' byReport).
                    .order_by_asc(user::Column::DisplayName)
                    .order_by_asc(user::Column::Id)
                    .into_tuple()
                    .all(&self.db)
                    .await
                    .map_err(storage)?;
                let pairs = rows
                    .into_iter()
                    .map(|(id, manager)| {
                        Ok((
                            UserId(uuid(&id)?),
                            manager.as_deref().map(uuid).transpose()?.map(UserId),
                        ))
                    })
                    .collect::<Result<Vec<_>, DbErr>>()
                    .map_err(storage)?;
                Ok(Arc::new(ReportingTree::new(pairs)))
            })
            .await
    }
}

fn no_such_manager() -> AppError {
    AppError::invalid(Violations::one_as(
        Problem::UnknownReference,
        "user.manager",
        "no such user",
    ))
}

/// The manager's own chain upwards; `None` if the manager does not exist.
async fn chain_above<C: ConnectionTrait>(
    conn: &C,
    manager: UserId,
) -> Result<Option<Vec<UserId>>, AppError> {
    let mut chain = Vec::new();
    let mut next = Some(manager);
    let mut first = true;
    while let Some(id) = next {
        let row = user::Entity::find_by_id(id.0.to_string())
            .one(conn)
            .await
            .map_err(storage)?;
        let Some(row) = row else {
            return Ok(if first { None } else { Some(chain) });
        };
        if !first {
            chain.push(id);
        }
        if chain.len() > MAX_TREE_DEPTH {
            return Err(AppError::invalid(Violations::one_as(
                Problem::BadShape,
                "user.manager",
                format!("the reporting chain above this manager is deeper than {MAX_TREE_DEPTH}"),
            )));
        }
        first = false;
        next = row
            .manager_id
            .as_deref()
            .map(uuid)
            .transpose()
            .map_err(storage)?
            .map(UserId);
    }
    Ok(Some(chain))
}

impl DirectoryStore for SqlStore {
    async fn find_token_owner(&self, secret_hash: &str) -> AppResult<Option<TokenOwner>> {
        let cache = &self.caches.tokens;
        let key = secret_hash.to_string();
        if let Some(owner) = cache.get(&key) {
            return Ok(Some(owner));
        }
        let _lead = cache.lead(&key).await;
        if let Some(owner) = cache.get(&key) {
            return Ok(Some(owner));
        }
        let ticket = cache.ticket();
        let Some(token) = api_token::Entity::find()
            .filter(api_token::Column::SecretHash.eq(secret_hash))
            .one(&self.db)
            .await
            .map_err(storage)?
        else {
            return Ok(None);
        };
        let token = token_from_row(token).map_err(storage)?;
        let owner = self
            .get_user(token.user_id)
            .await?
            .map(|user| TokenOwner { token, user });
        if let Some(owner) = &owner {
            cache.put(key, owner.clone(), ticket);
        }
        Ok(owner)
    }

    async fn find_idempotent(&self, key: &IdempotencyKey) -> AppResult<Option<Vec<u8>>> {
        find_idempotent(&self.db, key).await
    }

    async fn insert_user(
        &self,
        new: &User,
        audit: AuditEntry,
        idempotency: Option<IdempotentWrite>,
    ) -> AppResult<Created<()>> {
        self.write_once(vec![audit], idempotency, async |txn| {
            if let Some(manager) = new.profile.manager_id {
                let found = user::Entity::find_by_id(manager.0.to_string())
                    .one(txn)
                    .await
                    .map_err(storage)?;
                if found.is_none() {
                    return Err(no_such_manager());
                }
            }
            let p = &new.profile;
            user::Entity::insert(user_row(new))
                .exec_without_returning(txn)
                .await
                .map_err(|e| {
                    if is_unique_violation(&e, "email") {
                        email_taken(&p.email)
                    } else {
                        storage(e)
                    }
                })?;
            Ok(())
        })
        .await
        .inspect(|_| self.caches.directory_changed())
    }

    async fn get_user(&self, id: UserId) -> AppResult<Option<User>> {
        let row = user::Entity::find_by_id(id.0.to_string())
            .one(&self.db)
            .await
            .map_err(storage)?;
        row.map(user_from_row).transpose().map_err(storage)
    }

    async fn find_user_by_email(&self, email: &str) -> AppResult<Option<User>> {
        let row = user::Entity::find()
            .filter(user::Column::Email.eq(email.trim().to_lowercase()))
            .one(&self.db)
            .await
            .map_err(storage)?;
        row.map(user_from_row).transpose().map_err(storage)
    }

    async fn list_users(
        &self,
        filter: UserFilter,
        after: Option<UserId>,
        limit: u64,
    ) -> AppResult<Vec<User>> {
        let mut query = user::Entity::find()
            .order_by_asc(user::Column::Id)
            .limit(limit);
        if let Some(manager) = filter.manager {
            query = query.filter(user::Column::ManagerId.eq(manager.0.to_string()));
        }
        if let Some(role) = filter.role {
            query = query.filter(user::Column::Role.eq(encode_role(role)));
        }
        if let Some(after) = after {
            query = query.filter(user::Column::Id.gt(after.0.to_string()));
        }
        let rows = query.all(&self.db).await.map_err(storage)?;
        rows.into_iter()
            .map(user_from_row)
            .collect::<Result<_, _>>()
            .map_err(storage)
    }

    async fn update_user(
        &self,
        id: UserId,
        expected_version: i64,
        profile: UserProfile,
        at: DateTime<Utc>,
        audit: AuditEntry,
    ) -> AppResult<User> {
        let txn = self.begin_write().await.map_err(storage)?;
        self.lock_reporting_tree(&txn).await.map_err(storage)?;
        if let Some(manager) = profile.manager_id {
            let chain = chain_above(&txn, manager)
                .await?
                .ok_or_else(no_such_manager)?;
            if creates_reporting_cycle(id, manager, &chain) {
                return Err(AppError::invalid(Violations::one_as(
                    Problem::BadShape,
                    "user.manager",
                    "would put the user below themselves: the reporting tree cannot have a cycle",
                )));
            }
        }
        let updated = user::Entity::update_many()
            .col_expr(
                user::Column::DisplayName,
                Expr::value(profile.display_name.as_str()),
            )
            .col_expr(user::Column::Email, Expr::value(profile.email.clone()))
            .col_expr(user::Column::Role, Expr::value(encode_role(profile.role)))
            .col_expr(
                user::Column::ManagerId,
                Expr::value(profile.manager_id.map(|m| m.0.to_string())),
            )
            .col_expr(user::Column::Active, Expr::value(profile.active))
            .col_expr(user::Column::UpdatedAt, Expr::value(at))
            .col_expr(user::Column::Version, Expr::value(expected_version + 1))
            .filter(user::Column::Id.eq(id.0.to_string()))
            .filter(user::Column::Version.eq(expected_version))
            .exec(&txn)
            .await
            .map_err(|e| {
                if is_unique_violation(&e, "email") {
                    email_taken(&profile.email)
                } else {
                    storage(e)
                }
            })?;
        if updated.rows_affected == 0 {
            return Err(AppError::StaleEtag {
                kind: "user",
                name: user_name(id),
            });
        }
        record_audit(&txn, audit).await.map_err(storage)?;
        let row = user::Entity::find_by_id(id.0.to_string())
            .one(&txn)
            .await
            .map_err(storage)?
            .ok_or_else(|| AppError::Storage("updated user vanished".into()))?;
        notify_in(&txn, Topic::Directory).await.map_err(storage)?;
        txn.commit().await.map_err(storage)?;
        // Their tokens now authenticate a changed (perhaps deactivated) user, and their open
        // streams may no longer see what they watch.
        self.caches.directory_changed();
        self.committed(Topic::Directory);
        user_from_row(row).map_err(storage)
    }

    async fn insert_token(&self, token: &ApiToken, audit: AuditEntry) -> AppResult<()> {
        let txn = self.begin_write().await.map_err(storage)?;
        api_token::Entity::insert(api_token::ActiveModel {
            id: Set(token.id.to_string()),
            user_id: Set(token.user_id.0.to_string()),
            display_name: Set(token.display_name.clone()),
            secret_hash: Set(token.secret_hash.clone()),
            created_at: Set(token.created_at),
            revoked_at: Set(token.revoked_at),
        })
        .exec_without_returning(&txn)
        .await
        .map_err(storage)?;
        record_audit(&txn, audit).await.map_err(storage)?;
        txn.commit().await.map_err(storage)
    }

    async fn list_tokens(
        &self,
        user_id: UserId,
        after: Option<ApiTokenId>,
        limit: u64,
    ) -> AppResult<Vec<ApiToken>> {
        let mut query = api_token::Entity::find()
            .filter(api_token::Column::UserId.eq(user_id.0.to_string()))
            .order_by_asc(api_token::Column::Id)
            .limit(limit);
        if let Some(after) = after {
            query = query.filter(api_token::Column::Id.gt(after.to_string()));
        }
        let rows = query.all(&self.db).await.map_err(storage)?;
        rows.into_iter()
            .map(token_from_row)
            .collect::<Result<_, _>>()
            .map_err(storage)
    }

    async fn revoke_token(
        &self,
        user_id: UserId,
        token_id: ApiTokenId,
        at: DateTime<Utc>,
        audit: AuditEntry,
    ) -> AppResult<ApiToken> {
        let name = token_name(user_id, token_id);
        let txn = self.begin_write().await.map_err(storage)?;
        let row = api_token::Entity::find_by_id(token_id.to_string())
            .filter(api_token::Column::UserId.eq(user_id.0.to_string()))
            .one(&txn)
            .await
            .map_err(storage)?
            .ok_or_else(|| AppError::NotFound {
                kind: "API token",
                name: name.clone(),
            })?;
        if row.revoked_at.is_some() {
            return Err(AppError::FailedPrecondition {
                reason: "TOKEN_ALREADY_REVOKED",
                message: format!("{name} is already revoked"),
                violations: vec![crate::app::error::Precondition {
                    kind: "TOKEN_STATE".into(),
                    subject: name,
                    description: "the token is already revoked".into(),
                }],
            });
        }
        api_token::Entity::update_many()
            .col_expr(api_token::Column::RevokedAt, Expr::value(at))
            .filter(api_token::Column::Id.eq(token_id.to_string()))
            .exec(&txn)
            .await
            .map_err(storage)?;
        record_audit(&txn, audit).await.map_err(storage)?;
        notify_in(&txn, Topic::Directory).await.map_err(storage)?;
        txn.commit().await.map_err(storage)?;
        // The token's open streams end at once (see `ChangeNotifier`).
        self.caches.directory_changed();
        self.committed(Topic::Directory);
        let mut token = token_from_row(row).map_err(storage)?;
        token.revoked_at = Some(at);
        Ok(token)
    }
}
