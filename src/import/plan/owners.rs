//! Owners: finding the user a source reference (id, e-mail or display name) names, through the
//! mapping, earlier imports and the User file, or saying why none can be found.

use std::collections::{HashMap, HashSet};

use super::PlanContext;
use crate::domain::directory::{User, UserId};
use crate::import::SourceFormat;
use crate::import::mapping::UserRef;

/// Why an owner could not be found.
pub(super) enum Unresolved {
    /// Said here.
    Because(String),
    /// Already reported (their User row was bad): say nothing more.
    Reported,
}

/// Finds users for source references.
pub(super) struct Owners<'a> {
    pub(super) ctx: &'a PlanContext<'a>,
    pub(super) by_id: HashSet<UserId>,
    pub(super) by_email: HashMap<String, UserId>,
    /// Users by display name (trimmed, lower case); several when the name is not unique.
    pub(super) by_name: HashMap<String, Vec<&'a User>>,
    /// Users of the User file, resolved or created.
    pub(super) file_users: HashMap<String, UserId>,
    /// User rows that were bad.
    pub(super) rejected: HashSet<String>,
    /// User rows skipped as not sellers, with why.
    pub(super) skipped: HashMap<String, String>,
    pub(super) format: SourceFormat,
}

impl<'a> Owners<'a> {
    /// Indexes the directory's users for `ctx`; the User file's users are added as they are
    /// planned.
    pub(super) fn new(ctx: &'a PlanContext<'a>, format: SourceFormat) -> Self {
        Owners {
            ctx,
            by_id: ctx.users.iter().map(|u| u.id).collect(),
            by_email: ctx
                .users
                .iter()
                .map(|u| (u.profile.email.clone(), u.id))
                .collect(),
            by_name: ctx.users.iter().fold(HashMap::new(), |mut names, u| {
                names
                    .entry(u.profile.display_name.as_str().trim().to_lowercase())
                    .or_insert_with(Vec::new)
                    .push(u);
                names
            }),
            file_users: HashMap::new(),
            rejected: HashSet::new(),
            skipped: HashMap::new(),
            format,
        }
    }

    pub(super) fn mapped(&self, reference: &str, user: &UserRef) -> Result<UserId, String> {
        match user {
            UserRef::Id(id) if self.by_id.contains(id) => Ok(*id),
            UserRef::Id(id) => Err(format!(
                "{reference:?} is mapped to users/{}, who does not exist",
                id.0
            )),
            UserRef::Email(email) => self.by_email.get(email).copied().ok_or_else(|| {
                format!(
                    "{reference:?} is mapped to {email}, who is not a user here (create them first)"
                )
            }),
        }
    }

    pub(super) fn resolve(&self, reference: &str) -> Result<UserId, Unresolved> {
        if let Some(user) = self.ctx.mapping.owner(reference) {
            return self.mapped(reference, user).map_err(Unresolved::Because);
        }
        if let Some(id) = self
            .ctx
            .user_links
            .get(reference)
            .or_else(|| self.file_users.get(reference))
        {
            return Ok(*id);
        }
        if self.rejected.contains(reference) {
            return Err(Unresolved::Reported);
        }
        if let Some(why) = self.skipped.get(reference) {
            return Err(Unresolved::Because(format!(
                "{reference:?} is a User file row skipped as not a seller ({why}): map it to a \
                 user in \"owners\""
            )));
        }
        if let Some(id) = self.by_email.get(&reference.to_lowercase()) {
            return Ok(*id);
        }
        if let Some(named) = self.by_name.get(&reference.trim().to_lowercase()) {
            return match named.as_slice() {
                [user] => Ok(user.id),
                several => Err(Unresolved::Because(format!(
                    "{reference:?} is the display name of {} users ({}): map it to one of them \
                     in \"owners\"",
                    several.len(),
                    several
                        .iter()
                        .map(|u| u.profile.email.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ))),
            };
        }
        if reference.contains('@') {
            return Err(Unresolved::Because(format!(
                "{reference:?} is not the e-mail of a user here: create the user, or map the \
                 e-mail in \"owners\""
            )));
        }
        let hint = if self.format == SourceFormat::Salesforce {
            ", or send the User file (with \"create_users\": true to create missing users)"
        } else {
            ""
        };
        Err(Unresolved::Because(format!(
            "{reference:?} is not mapped to a user: add it to \"owners\" in the mapping{hint}"
        )))
    }
}
