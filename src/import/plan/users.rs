//! The User file's users (Salesforce): each is found here (mapping, an earlier import, e-mail),
//! skipped when not a seller, or created with its reporting tree; an existing user's manager
//! and role are compared with the source's and changed only with `update_users`.
//!
//! Managers: the file's ManagerId, else (with a UserRole file) one derived from the role
//! hierarchy ([`crate::import::roles`]). Roles from the tree's shape: a user someone reports to
//! is LEADER at the top of the tree (no manager) or when their reports have reports, MANAGER
//! otherwise; a user nobody reports to is REP.

use std::collections::{HashMap, HashSet};

use super::owners::{Owners, Unresolved};
use super::{ImportPlan, PlanContext, line};
use crate::domain::directory::{Role, User, UserDraft, UserId, UserProfile};
use crate::import::report::why;
use crate::import::roles::derive_managers;
use crate::import::values::loose;
use crate::import::{Location, RowError, SourceBook, SourceUser};

/// A field of an existing user that the source sets otherwise: applied with `update_users`,
/// else only reported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserChange {
    pub user: UserId,
    /// Their e-mail, for people reading the report.
    pub email: String,
    /// `manager` or `role`.
    pub field: &'static str,
    /// The value here now (a manager's e-mail, a role; empty: none).
    pub now: String,
    /// The value the source gives.
    pub source: String,
    /// Whether the import changes it (`update_users`).
    pub applied: bool,
}

/// Words in a user's name or profile that mark Salesforce's integration and automated users.
const NOT_SELLER_WORDS: &[&str] = &[
    "integration",
    "automated process",
    "autoproc",
    "security user",
    "chatter",
    "api only",
];

/// Why a User file row is not a seller, if it is not: a UserType other than Standard, an
/// integration or automated user, or an inactive user owning no deal.
pub fn not_a_seller(user: &SourceUser, owns_deals: bool) -> Option<String> {
    if !user.user_type.is_empty() && loose(&user.user_type) != "standard" {
        return Some(format!("UserType {}", user.user_type));
    }
    let words = format!("{} {}", user.name, user.profile).to_lowercase();
    if NOT_SELLER_WORDS.iter().any(|w| words.contains(w)) {
        return Some("integration or automated user".into());
    }
    if !user.active && !owns_deals {
        return Some("inactive, owns no deal".into());
    }
    None
}

/// Each kept user's manager (source id; empty: none) and role from the tree's shape.
struct Tree<'b> {
    managers: HashMap<&'b str, String>,
    reports: HashMap<String, Vec<&'b str>>,
}

impl Tree<'_> {
    fn manager(&self, id: &str) -> &str {
        self.managers.get(id).map_or("", String::as_str)
    }

    fn role(&self, id: &str) -> Role {
        let Some(below) = self.reports.get(id) else {
            return Role::Rep;
        };
        if self.manager(id).is_empty() || below.iter().any(|r| self.reports.contains_key(*r)) {
            Role::Leader
        } else {
            Role::Manager
        }
    }
}

/// The User file's rows that stay (first of each Id, sellers only); the others are reported
/// (a repeated Id) or counted (not a seller) and remembered by `owners`.
fn keep_sellers<'b>(
    book: &'b SourceBook,
    owners: &mut Owners<'_>,
    out: &mut ImportPlan,
    errors: &mut Vec<RowError>,
) -> Vec<&'b SourceUser> {
    let owned: HashSet<&str> = book.deals.iter().map(|d| d.owner.as_str()).collect();
    let mut seen: HashMap<&str, &Location> = HashMap::new();
    let mut kept = Vec::new();
    for u in &book.users {
        if let Some(first) = seen.get(u.external_id.as_str()) {
            errors.push(RowError::new(
                &u.at,
                "Id",
                format!(
                    "{:?} repeats the user of line {}",
                    u.external_id,
                    line(first)
                ),
            ));
            owners.rejected.insert(u.external_id.clone());
            continue;
        }
        seen.insert(&u.external_id, &u.at);
        match not_a_seller(u, owned.contains(u.external_id.as_str())) {
            Some(reason) => {
                out.dropped.add(why::USER_NOT_A_SELLER, &reason);
                owners.skipped.insert(u.external_id.clone(), reason);
            }
            None => kept.push(u),
        }
    }
    kept
}

/// Managers (ManagerId, else the role hierarchy) and the reports of each.
fn tree<'b>(
    book: &'b SourceBook,
    kept: &[&'b SourceUser],
    ctx: &PlanContext<'_>,
    owners: &Owners<'_>,
    out: &mut ImportPlan,
    errors: &mut Vec<RowError>,
) -> Tree<'b> {
    let mut managers: HashMap<&str, String> = HashMap::new();
    let mut orphans: HashSet<&str> = HashSet::new();
    for u in kept {
        if owners.skipped.contains_key(&u.manager) {
            out.dropped.add(why::MANAGER_SKIPPED, &u.manager);
        } else if !u.manager.is_empty() {
            managers.insert(&u.external_id, u.manager.clone());
            continue;
        }
        orphans.insert(&u.external_id);
    }
    if book.roles.is_empty() && !ctx.mapping.role_managers.is_empty() {
        errors.push(RowError::new(
            &Location::file(&ctx.mapping.name),
            "role_managers",
            "names managers of roles, but no UserRole file was sent",
        ));
    }
    if !book.roles.is_empty() {
        let derived = derive_managers(
            &book.roles,
            kept,
            &orphans,
            ctx.mapping,
            errors,
            &mut out.dropped,
        );
        for u in kept {
            if let Some(manager) = derived.managers.get(&u.external_id) {
                managers.insert(&u.external_id, manager.clone());
            }
        }
        out.manager_choices = derived.choices;
    }
    let mut reports: HashMap<String, Vec<&str>> = HashMap::new();
    for u in kept {
        if let Some(manager) = managers.get(u.external_id.as_str()) {
            reports
                .entry(manager.clone())
                .or_default()
                .push(&u.external_id);
        }
    }
    Tree { managers, reports }
}

/// Resolves the User file's users and, with `create_users`, creates the missing ones with
/// their manager and role (see the module doc); compares the existing ones with the source.
pub(super) fn plan_users(
    book: &SourceBook,
    ctx: &PlanContext<'_>,
    owners: &mut Owners<'_>,
    out: &mut ImportPlan,
    errors: &mut Vec<RowError>,
) {
    let kept = keep_sellers(book, owners, out, errors);
    let tree = tree(book, &kept, ctx, owners, out, errors);
    let mut to_create = Vec::new();
    let mut known_users = Vec::new();
    for u in kept {
        let email = u.email.trim().to_lowercase();
        let known = match ctx
            .mapping
            .owner(&u.external_id)
            .or_else(|| ctx.mapping.owner(&email))
        {
            Some(user) => match owners.mapped(&u.external_id, user) {
                Ok(id) => Some(id),
                Err(why) => {
                    errors.push(RowError::new(&u.at, "Id", why));
                    owners.rejected.insert(u.external_id.clone());
                    continue;
                }
            },
            None => ctx
                .user_links
                .get(&u.external_id)
                .or_else(|| owners.by_email.get(&email))
                .copied(),
        };
        match known {
            Some(id) => {
                owners.file_users.insert(u.external_id.clone(), id);
                if !ctx.user_links.contains_key(&u.external_id) {
                    out.user_links.push((u.external_id.clone(), id));
                }
                known_users.push((u, id));
            }
            None if ctx.mapping.create_users => to_create.push(u),
            None => {}
        }
    }
    if !to_create.is_empty() {
        create_users(&to_create, &tree, ctx, owners, out, errors);
    }
    compare_users(&known_users, &tree, ctx, owners, out, errors);
}

/// Creates `to_create`, each after its manager; a loop or a refused manager refuses the user.
fn create_users(
    to_create: &[&SourceUser],
    tree: &Tree<'_>,
    ctx: &PlanContext<'_>,
    owners: &mut Owners<'_>,
    out: &mut ImportPlan,
    errors: &mut Vec<RowError>,
) {
    let drafts = profiles(to_create, tree, owners, errors);
    let ids: HashMap<&str, UserId> = drafts
        .iter()
        .map(|(u, _)| (u.external_id.as_str(), UserId::generate()))
        .collect();
    let mut created = under_managers(&drafts, &ids, tree, owners, errors);
    refuse_under_refused(&mut created, tree, owners, errors);
    created.sort_by_key(|(depth, u, _)| (*depth, u.at.line));
    for (_, u, profile) in created {
        let id = ids[u.external_id.as_str()];
        owners.by_email.insert(profile.email.clone(), id);
        owners.by_id.insert(id);
        owners.file_users.insert(u.external_id.clone(), id);
        out.user_links.push((u.external_id.clone(), id));
        out.new_users.push(User {
            id,
            profile,
            created_at: ctx.now,
            updated_at: ctx.now,
            version: 1,
        });
    }
}

/// The profiles of `to_create`; a bad row, or an e-mail an earlier row has, is refused.
fn profiles<'b>(
    to_create: &[&'b SourceUser],
    tree: &Tree<'_>,
    owners: &mut Owners<'_>,
    errors: &mut Vec<RowError>,
) -> Vec<(&'b SourceUser, UserProfile)> {
    let mut drafts = Vec::new();
    let mut emails: HashMap<String, &Location> = HashMap::new();
    for u in to_create {
        let profile = UserProfile::parse(UserDraft {
            display_name: u.name.clone(),
            email: u.email.clone(),
            role: Some(tree.role(&u.external_id)),
            manager_id: None,
            active: u.active,
        });
        match profile {
            Ok(profile) => {
                if let Some(first) = emails.insert(profile.email.clone(), &u.at) {
                    errors.push(RowError::new(
                        &u.at,
                        "Email",
                        format!(
                            "{} is also the e-mail of line {}",
                            profile.email,
                            line(first)
                        ),
                    ));
                    owners.rejected.insert(u.external_id.clone());
                } else {
                    drafts.push((*u, profile));
                }
            }
            Err(violations) => {
                for v in violations.0 {
                    let column = match v.field.as_str() {
                        "email" => "Email",
                        _ => "Name",
                    };
                    errors.push(RowError::new(&u.at, column, v.description));
                }
                owners.rejected.insert(u.external_id.clone());
            }
        }
    }
    drafts
}

/// Each profile with its manager (created here or found) and its depth below the created
/// roots, to insert managers first; a loop or a manager nobody can be is refused.
fn under_managers<'b>(
    drafts: &[(&'b SourceUser, UserProfile)],
    ids: &HashMap<&str, UserId>,
    tree: &Tree<'_>,
    owners: &mut Owners<'_>,
    errors: &mut Vec<RowError>,
) -> Vec<(usize, &'b SourceUser, UserProfile)> {
    // Depth below the created roots, to insert managers first; a cycle is refused.
    let depth = |start: &str| -> Option<usize> {
        let mut seen = HashSet::new();
        let mut at = start;
        let mut depth = 0;
        loop {
            let manager = tree.manager(at);
            if manager.is_empty() || !ids.contains_key(manager) {
                return Some(depth);
            }
            if !seen.insert(at) {
                return None;
            }
            at = manager;
            depth += 1;
        }
    };
    let mut created = Vec::new();
    for (u, mut profile) in drafts.iter().cloned() {
        let manager_ref = tree.manager(&u.external_id);
        let manager = if manager_ref.is_empty() {
            Ok(None)
        } else if let Some(id) = ids.get(manager_ref) {
            Ok(Some(*id))
        } else {
            match owners.resolve(manager_ref) {
                Ok(id) => Ok(Some(id)),
                Err(Unresolved::Reported) => Err(None),
                Err(Unresolved::Because(_)) => Err(Some(format!(
                    "{manager_ref:?} is neither in the User file nor mapped to a user"
                ))),
            }
        };
        match (manager, depth(&u.external_id)) {
            (Ok(manager), Some(depth)) => {
                profile.manager_id = manager;
                created.push((depth, u, profile));
            }
            (Err(why), _) => {
                if let Some(why) = why {
                    errors.push(RowError::new(&u.at, "ManagerId", why));
                }
                owners.rejected.insert(u.external_id.clone());
            }
            (_, None) => {
                errors.push(RowError::new(
                    &u.at,
                    "ManagerId",
                    "closes a loop in the reporting tree",
                ));
                owners.rejected.insert(u.external_id.clone());
            }
        }
    }
    created
}

/// A user whose manager is refused is refused too, up the tree.
fn refuse_under_refused(
    created: &mut Vec<(usize, &SourceUser, UserProfile)>,
    tree: &Tree<'_>,
    owners: &mut Owners<'_>,
    errors: &mut Vec<RowError>,
) {
    loop {
        let (kept, refused): (Vec<_>, Vec<_>) = std::mem::take(created)
            .into_iter()
            .partition(|(_, u, _)| !owners.rejected.contains(tree.manager(&u.external_id)));
        *created = kept;
        if refused.is_empty() {
            break;
        }
        for (_, u, _) in refused {
            errors.push(RowError::new(
                &u.at,
                "ManagerId",
                format!(
                    "{:?} cannot be imported (see its row)",
                    tree.manager(&u.external_id)
                ),
            ));
            owners.rejected.insert(u.external_id.clone());
        }
    }
}

/// Compares each existing user of the file with the source's manager and role (a role only
/// when theirs here is a seller's: an admin stays one): differences are listed, and applied
/// with `update_users`.
fn compare_users(
    known: &[(&SourceUser, UserId)],
    tree: &Tree<'_>,
    ctx: &PlanContext<'_>,
    owners: &Owners<'_>,
    out: &mut ImportPlan,
    errors: &mut Vec<RowError>,
) {
    let stored: HashMap<UserId, &User> = ctx.users.iter().map(|u| (u.id, u)).collect();
    let email_of = |id: Option<UserId>| -> String {
        id.and_then(|id| {
            stored
                .get(&id)
                .map(|u| u.profile.email.clone())
                .or_else(|| {
                    out.new_users
                        .iter()
                        .find(|u| u.id == id)
                        .map(|u| u.profile.email.clone())
                })
        })
        .unwrap_or_default()
    };
    let mut changes = Vec::new();
    let mut updated = Vec::new();
    for (u, id) in known {
        let Some(user) = stored.get(id) else {
            continue;
        };
        let manager_ref = tree.manager(&u.external_id);
        let manager = if manager_ref.is_empty() {
            Some(None)
        } else {
            owners.resolve(manager_ref).ok().map(Some)
        };
        let mut profile = user.profile.clone();
        if let Some(manager) = manager
            && manager != profile.manager_id
        {
            changes.push(UserChange {
                user: *id,
                email: profile.email.clone(),
                field: "manager",
                now: email_of(profile.manager_id),
                source: email_of(manager),
                applied: false,
            });
            profile.manager_id = manager;
        }
        let role = tree.role(&u.external_id);
        if matches!(profile.role, Role::Rep | Role::Manager | Role::Leader) && role != profile.role
        {
            changes.push(UserChange {
                user: *id,
                email: profile.email.clone(),
                field: "role",
                now: profile.role.as_str().to_string(),
                source: role.as_str().to_string(),
                applied: false,
            });
            profile.role = role;
        }
        if profile != user.profile {
            updated.push((
                *u,
                User {
                    profile,
                    updated_at: ctx.now,
                    version: user.version + 1,
                    ..(*user).clone()
                },
                user.version,
            ));
        }
    }
    out.user_changes = changes;
    if ctx.mapping.update_users {
        apply_unless_looping(updated, ctx, out, errors);
    }
}

/// Plans the updates (`update_users`), refusing any that would close a loop in the reporting
/// tree as it would be: the stored managers, the new users', then the updates.
fn apply_unless_looping(
    updated: Vec<(&SourceUser, User, i64)>,
    ctx: &PlanContext<'_>,
    out: &mut ImportPlan,
    errors: &mut Vec<RowError>,
) {
    let mut manager_of: HashMap<UserId, Option<UserId>> = ctx
        .users
        .iter()
        .map(|u| (u.id, u.profile.manager_id))
        .chain(out.new_users.iter().map(|u| (u.id, u.profile.manager_id)))
        .collect();
    for (_, user, _) in &updated {
        manager_of.insert(user.id, user.profile.manager_id);
    }
    for (u, user, version) in updated {
        let mut at = user.profile.manager_id;
        let mut steps = 0;
        while let Some(manager) = at
            && manager != user.id
            && steps <= manager_of.len()
        {
            at = manager_of.get(&manager).copied().flatten();
            steps += 1;
        }
        if at == Some(user.id) {
            errors.push(RowError::new(
                &u.at,
                "ManagerId",
                "would close a loop in the reporting tree with the users here",
            ));
        } else {
            for change in out.user_changes.iter_mut().filter(|c| c.user == user.id) {
                change.applied = true;
            }
            out.changed_users.push((user, version));
        }
    }
}

#[cfg(test)]
mod tests;
