//! Managers from Salesforce's role hierarchy (`UserRole`: Id, Name, ParentRoleId,
//! ForecastUserId), for the User file's sellers whose ManagerId is empty: many orgs roll their
//! forecasts up by role and never fill ManagerId.
//!
//! A user's manager is, in this order: the forecast manager (`ForecastUserId`) of the user's own
//! role, unless that is the user; else, walking up from the parent role, the first role that
//! gives one: the user the mapping's `role_managers` names for it, its forecast manager, or an
//! active seller holding it (several: the earliest created, then the lowest Id, and the report
//! says which was chosen). A user whose walk finds nobody is at the top.

use std::collections::{BTreeMap, HashMap, HashSet};

use super::mapping::Mapping;
use super::report::Tally;
use super::{Location, RowError, SourceRole, SourceUser};

/// A manager picked among several holders of a role, for the report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManagerChoice {
    /// The role's name.
    pub role: String,
    /// The holder chosen (e-mail as the source has it).
    pub chosen: String,
    /// Every holder, the chosen one first.
    pub candidates: Vec<String>,
}

/// Why a ForecastUserId is passed over, for the report.
const FORECAST_USER_NOT_A_SELLER: &str =
    "ForecastUserId names no active seller of the User file (ignored)";

/// The roles, checked: ids unique, parents known, no loops.
struct Hierarchy<'a> {
    by_id: HashMap<&'a str, &'a SourceRole>,
}

impl<'a> Hierarchy<'a> {
    fn check(roles: &'a [SourceRole], errors: &mut Vec<RowError>) -> Self {
        let mut by_id: HashMap<&str, &SourceRole> = HashMap::new();
        for role in roles {
            if let Some(first) = by_id.get(role.external_id.as_str()) {
                errors.push(RowError::new(
                    &role.at,
                    "Id",
                    format!(
                        "{:?} repeats the role of line {}",
                        role.external_id,
                        line(&first.at)
                    ),
                ));
            } else {
                by_id.insert(&role.external_id, role);
            }
        }
        for role in by_id.values() {
            if !role.parent.is_empty() && !by_id.contains_key(role.parent.as_str()) {
                errors.push(RowError::new(
                    &role.at,
                    "ParentRoleId",
                    format!("{:?} is not a role of the UserRole file", role.parent),
                ));
            }
        }
        let tree = Hierarchy { by_id };
        let mut looped: Vec<&SourceRole> = tree
            .by_id
            .values()
            .copied()
            .filter(|r| tree.ancestors(r).is_none())
            .collect();
        looped.sort_by_key(|r| r.at.line);
        for role in looped {
            errors.push(RowError::new(
                &role.at,
                "ParentRoleId",
                "closes a loop in the role hierarchy",
            ));
        }
        tree
    }

    /// The role's ancestors, nearest first; `None` when the walk loops.
    fn ancestors(&self, role: &'a SourceRole) -> Option<Vec<&'a SourceRole>> {
        let mut out = Vec::new();
        let mut seen = HashSet::from([role.external_id.as_str()]);
        let mut at = role;
        while let Some(parent) = self.by_id.get(at.parent.as_str()) {
            if !seen.insert(&parent.external_id) {
                return None;
            }
            out.push(*parent);
            at = parent;
        }
        Some(out)
    }

    /// A role by id, or by name (ignoring case) when no id matches.
    fn find(&self, key: &str) -> Option<&'a SourceRole> {
        self.by_id.get(key).copied().or_else(|| {
            let mut named: Vec<&SourceRole> = self
                .by_id
                .values()
                .copied()
                .filter(|r| r.name.eq_ignore_ascii_case(key.trim()))
                .collect();
            named.sort_by_key(|r| r.at.line);
            named.first().copied()
        })
    }
}

fn line(at: &Location) -> String {
    at.line.map_or_else(|| "?".to_string(), |l| l.to_string())
}

/// Managers derived from the role hierarchy.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Derived {
    /// User source id -> manager source id, for the users given a manager.
    pub managers: HashMap<String, String>,
    /// Roles whose manager was picked among several holders.
    pub choices: Vec<ManagerChoice>,
}

/// What a walk up the hierarchy consults: the roles, the sellers holding each (earliest
/// created first), and the holders `role_managers` names.
struct Walk<'a> {
    tree: Hierarchy<'a>,
    /// Each role's forecast manager, when an active seller of the file.
    forecast: HashMap<&'a str, &'a SourceUser>,
    holders: HashMap<&'a str, Vec<&'a SourceUser>>,
    named: HashMap<&'a str, &'a SourceUser>,
}

impl<'a> Walk<'a> {
    fn new(
        roles: &'a [SourceRole],
        sellers: &[&'a SourceUser],
        mapping: &Mapping,
        errors: &mut Vec<RowError>,
        dropped: &mut Tally,
    ) -> Self {
        let tree = Hierarchy::check(roles, errors);
        let by_id: HashMap<&str, &SourceUser> = sellers
            .iter()
            .map(|u| (u.external_id.as_str(), *u))
            .collect();
        let mut forecast = HashMap::new();
        for role in roles.iter().filter(|r| !r.forecast_user.is_empty()) {
            match by_id.get(role.forecast_user.as_str()).filter(|u| u.active) {
                Some(user) => {
                    forecast.insert(role.external_id.as_str(), *user);
                }
                None => dropped.add(FORECAST_USER_NOT_A_SELLER, &role.forecast_user),
            }
        }
        let mut holders: HashMap<&str, Vec<&SourceUser>> = HashMap::new();
        for u in sellers.iter().filter(|u| u.active && !u.role.is_empty()) {
            holders.entry(u.role.as_str()).or_default().push(u);
        }
        for list in holders.values_mut() {
            list.sort_by(|a, b| {
                (a.created_at.is_none(), a.created_at, &a.external_id).cmp(&(
                    b.created_at.is_none(),
                    b.created_at,
                    &b.external_id,
                ))
            });
        }
        let named = role_managers(&tree, sellers, mapping, errors);
        Walk {
            tree,
            forecast,
            holders,
            named,
        }
    }

    fn forecast_user(&self, role: &SourceRole) -> Option<&'a SourceUser> {
        self.forecast.get(role.external_id.as_str()).copied()
    }

    /// The manager of `user` in `role` (see the module doc); a pick among several holders is
    /// recorded in `choices`, once per role.
    fn manager(
        &self,
        user: &SourceUser,
        role: &'a SourceRole,
        choices: &mut BTreeMap<&'a str, ManagerChoice>,
    ) -> Option<&'a SourceUser> {
        let not_self = |u: &&SourceUser| u.external_id != user.external_id;
        if let Some(manager) = self.forecast_user(role).filter(not_self) {
            return Some(manager);
        }
        for ancestor in self.tree.ancestors(role).unwrap_or_default() {
            let designated = self
                .named
                .get(ancestor.external_id.as_str())
                .copied()
                .filter(not_self)
                .or_else(|| self.forecast_user(ancestor).filter(not_self));
            if designated.is_some() {
                return designated;
            }
            let found: Vec<&SourceUser> = self
                .holders
                .get(ancestor.external_id.as_str())
                .map(|list| list.iter().copied().filter(not_self).collect())
                .unwrap_or_default();
            if found.len() > 1 {
                choices
                    .entry(&ancestor.external_id)
                    .or_insert_with(|| ManagerChoice {
                        role: ancestor.name.clone(),
                        chosen: found[0].email.clone(),
                        candidates: found.iter().map(|u| u.email.clone()).collect(),
                    });
            }
            if let Some(first) = found.first() {
                return Some(first);
            }
        }
        None
    }
}

/// The mapping's `role_managers`, by role id; entries naming no role or no seller are errors.
fn role_managers<'a>(
    tree: &Hierarchy<'a>,
    sellers: &[&'a SourceUser],
    mapping: &Mapping,
    errors: &mut Vec<RowError>,
) -> HashMap<&'a str, &'a SourceUser> {
    let named = |reference: &str| {
        let email = reference.trim().to_lowercase();
        sellers
            .iter()
            .find(|u| u.external_id == reference)
            .or_else(|| {
                sellers
                    .iter()
                    .find(|u| u.email.trim().to_lowercase() == email)
            })
            .copied()
    };
    let at = Location::file(&mapping.name);
    let mut out = HashMap::new();
    for (key, user) in &mapping.role_managers {
        let column = format!("role_managers.{key:?}");
        match (tree.find(key), named(user)) {
            (None, _) => errors.push(RowError::new(
                &at,
                &column,
                "is not a role of the UserRole file (by Id or Name)",
            )),
            (_, None) => errors.push(RowError::new(
                &at,
                &column,
                format!("{user:?} is not a seller of the User file (by Id or e-mail)"),
            )),
            (Some(role), Some(user)) => {
                out.insert(role.external_id.as_str(), user);
            }
        }
    }
    out
}

/// Derives a manager for each of `orphans` (source ids of `sellers` whose ManagerId is empty)
/// from `roles`; see the module doc for the order. `sellers` are the users kept (not skipped),
/// the only ones who can be managers. Bad roles, unknown UserRoleIds and `role_managers`
/// entries naming no role or no seller are errors.
pub fn derive_managers(
    roles: &[SourceRole],
    sellers: &[&SourceUser],
    orphans: &HashSet<&str>,
    mapping: &Mapping,
    errors: &mut Vec<RowError>,
    dropped: &mut Tally,
) -> Derived {
    let walk = Walk::new(roles, sellers, mapping, errors, dropped);
    let mut ordered: Vec<&&SourceUser> = sellers
        .iter()
        .filter(|u| orphans.contains(u.external_id.as_str()) && !u.role.is_empty())
        .collect();
    ordered.sort_by_key(|u| u.at.line);
    let mut out = Derived::default();
    let mut choices = BTreeMap::new();
    for user in ordered {
        let Some(role) = walk.tree.by_id.get(user.role.as_str()).copied() else {
            errors.push(RowError::new(
                &user.at,
                "UserRoleId",
                format!("{:?} is not a role of the UserRole file", user.role),
            ));
            continue;
        };
        if let Some(manager) = walk.manager(user, role, &mut choices) {
            out.managers
                .insert(user.external_id.clone(), manager.external_id.clone());
        }
    }
    out.choices = choices.into_values().collect();
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::import::plan::tests::person;

    fn role(id: &str, parent: &str, forecast_user: &str, line: u64) -> SourceRole {
        SourceRole {
            at: Location::line("UserRole.csv", line),
            external_id: id.into(),
            name: format!("Role {id}"),
            parent: parent.into(),
            forecast_user: forecast_user.into(),
        }
    }

    /// Derives for every seller, with the mapping `json`.
    fn derive(
        roles: &[SourceRole],
        sellers: &[SourceUser],
        json: &str,
    ) -> (Vec<(String, String)>, Derived, Vec<String>) {
        let mapping = Mapping::parse("mapping.json", json).unwrap();
        let refs: Vec<&SourceUser> = sellers.iter().collect();
        let orphans: HashSet<&str> = sellers.iter().map(|u| u.external_id.as_str()).collect();
        let mut errors = Vec::new();
        let derived = derive_managers(
            roles,
            &refs,
            &orphans,
            &mapping,
            &mut errors,
            &mut Tally::default(),
        );
        let mut pairs: Vec<(String, String)> = derived
            .managers
            .iter()
            .map(|(u, m)| (u.clone(), m.clone()))
            .collect();
        pairs.sort();
        let errors = errors.iter().map(ToString::to_string).collect();
        (pairs, derived, errors)
    }

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    #[test]
    fn the_nearest_ancestor_role_holding_an_active_seller_manages() {
        // vp > director (nobody holds it) > reps.
        let roles = [
            role("R-VP", "", "", 2),
            role("R-DIR", "R-VP", "", 3),
            role("R-REP", "R-DIR", "", 4),
        ];
        let mut idle = person("dir", "R-DIR", 4);
        idle.active = false;
        let (found, derived, errors) = derive(
            &roles,
            &[
                person("vp", "R-VP", 2),
                idle,
                person("rep1", "R-REP", 3),
                person("rep2", "R-REP", 5),
            ],
            "",
        );
        assert_eq!(errors, Vec::<String>::new());
        assert_eq!(
            found,
            pairs(&[("dir", "vp"), ("rep1", "vp"), ("rep2", "vp")]),
            "the inactive director manages nobody; peers in one role do not manage each other"
        );
        assert!(derived.choices.is_empty());
    }

    #[test]
    fn the_roles_forecast_user_manages_its_holders_but_not_themself() {
        let roles = [role("R-VP", "", "", 2), role("R-MGR", "R-VP", "lead", 3)];
        let (found, _, _) = derive(
            &roles,
            &[
                person("vp", "R-VP", 2),
                person("lead", "R-MGR", 3),
                person("peer", "R-MGR", 4),
            ],
            "",
        );
        assert_eq!(found, pairs(&[("lead", "vp"), ("peer", "lead")]));
    }

    #[test]
    fn several_holders_the_earliest_created_is_chosen_and_reported() {
        let roles = [role("R-MGR", "", "", 2), role("R-REP", "R-MGR", "", 3)];
        let mut late = person("m1", "R-MGR", 2);
        late.created_at = Some("2024-05-01T00:00:00Z".parse().unwrap());
        let mut early = person("m2", "R-MGR", 3);
        early.created_at = Some("2021-01-01T00:00:00Z".parse().unwrap());
        let sellers = [late, early, person("rep", "R-REP", 4)];
        let (found, derived, _) = derive(&roles, &sellers, "");
        assert_eq!(found, pairs(&[("rep", "m2")]));
        assert_eq!(
            derived.choices,
            [ManagerChoice {
                role: "Role R-MGR".into(),
                chosen: "m2@example.com".into(),
                candidates: vec!["m2@example.com".into(), "m1@example.com".into()],
            }]
        );
    }

    #[test]
    fn several_holders_the_mapping_names_one_by_role_name_and_email() {
        let roles = [role("R-MGR", "", "", 2), role("R-REP", "R-MGR", "", 3)];
        let sellers = [
            person("m1", "R-MGR", 2),
            person("m2", "R-MGR", 3),
            person("rep", "R-REP", 4),
        ];
        let (found, derived, _) = derive(
            &roles,
            &sellers,
            r#"{"role_managers":{"role r-mgr":"M2@example.com"}}"#,
        );
        assert_eq!(found, pairs(&[("rep", "m2")]));
        assert!(derived.choices.is_empty());
    }

    #[test]
    fn bad_roles_and_role_managers_are_reported() {
        let roles = [
            role("R-A", "R-B", "", 2),
            role("R-B", "R-A", "", 3),
            role("R-C", "R-X", "", 4),
        ];
        let (_, _, errors) = derive(
            &roles,
            &[person("u", "R-Z", 2)],
            r#"{"role_managers":{"R-C":"nobody@example.com","Sales":"u"}}"#,
        );
        assert_eq!(
            errors,
            [
                "UserRole.csv:4: ParentRoleId: \"R-X\" is not a role of the UserRole file",
                "UserRole.csv:2: ParentRoleId: closes a loop in the role hierarchy",
                "UserRole.csv:3: ParentRoleId: closes a loop in the role hierarchy",
                "mapping.json: role_managers.\"R-C\": \"nobody@example.com\" is not a seller of the User file (by Id or e-mail)",
                "mapping.json: role_managers.\"Sales\": is not a role of the UserRole file (by Id or Name)",
                "User.csv:2: UserRoleId: \"R-Z\" is not a role of the UserRole file",
            ]
        );
    }
}
