//! Principals: users with one role and a place in the reporting tree, and their API tokens.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};

use super::Violations;
use super::text::DisplayName;
use crate::domain::Problem;

/// What a principal may do. Every user has exactly one role.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub enum Role {
    /// Owns deals.
    Rep,
    /// First-line manager of reps.
    Manager,
    /// Sales leader above managers.
    Leader,
    /// Deal desk approver.
    DealDesk,
    /// Finance approver.
    Finance,
    /// Legal approver.
    Legal,
    /// Administrator: users, tokens, pipelines.
    Admin,
}

impl Role {
    /// Every role, in the order of the API enum.
    pub const ALL: [Role; 7] = [
        Role::Rep,
        Role::Manager,
        Role::Leader,
        Role::DealDesk,
        Role::Finance,
        Role::Legal,
        Role::Admin,
    ];

    /// The stable name stored in the database and shown in messages.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Rep => "REP",
            Role::Manager => "MANAGER",
            Role::Leader => "LEADER",
            Role::DealDesk => "DEAL_DESK",
            Role::Finance => "FINANCE",
            Role::Legal => "LEGAL",
            Role::Admin => "ADMIN",
        }
    }

    /// Parses [`Role::as_str`].
    pub fn parse(s: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == s)
    }

    /// Managing users and tokens is for admins only.
    pub fn may_manage_directory(self) -> bool {
        self == Role::Admin
    }

    /// Changing pipelines, stages and exit criteria is for admins (RevOps) only.
    pub fn may_edit_pipelines(self) -> bool {
        self == Role::Admin
    }
}

pub use super::ids::{ApiTokenId, UserId};

/// A user as stored: validated fields plus bookkeeping.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub id: UserId,
    /// The user's fields.
    pub profile: UserProfile,
    /// When created.
    pub created_at: DateTime<Utc>,
    /// When last changed.
    pub updated_at: DateTime<Utc>,
    /// Incremented on every change; the etag is derived from it.
    pub version: i64,
}

/// The fields of a user a caller sets, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserProfile {
    /// Name shown to people, trimmed.
    pub display_name: DisplayName,
    /// E-mail, lower-cased; unique among users.
    pub email: String,
    /// What the user may do.
    pub role: Role,
    /// The user's manager, if any.
    pub manager_id: Option<UserId>,
    /// Whether the user may call the service.
    pub active: bool,
}

/// The fields of a user as received, before validation (`role` is `None` when the caller's value
/// was unset or unknown).
#[derive(Debug, Clone, Default)]
pub struct UserDraft {
    /// Display name as sent.
    pub display_name: String,
    /// E-mail as sent.
    pub email: String,
    /// Role, `None` when unset or unknown.
    pub role: Option<Role>,
    /// Manager, if any.
    pub manager_id: Option<UserId>,
    /// Active flag.
    pub active: bool,
}

impl UserProfile {
    /// Validates a draft; every problem is reported.
    pub fn parse(draft: UserDraft) -> Result<UserProfile, Violations> {
        let mut violations = Violations::new();
        let display_name = violations
            .text::<DisplayName>("display_name", &draft.display_name)
            .map(DisplayName::trimmed);
        let email = draft.email.trim().to_lowercase();
        if let Err(why) = check_email(&email) {
            violations.add_as(Problem::BadText, "email", why);
        }
        if draft.role.is_none() {
            violations.add_as(
                Problem::UnknownValue,
                "role",
                "must be one of the known roles",
            );
        }
        match (draft.role, display_name) {
            (Some(role), Some(display_name)) if violations.is_empty() => Ok(UserProfile {
                display_name,
                email,
                role,
                manager_id: draft.manager_id,
                active: draft.active,
            }),
            _ => Err(violations),
        }
    }
}

/// Zero-width and bidirectional formatting characters: invisible, so an address holding one
/// reads as another (`a@b\u{202e}moc.com`).
fn invisible(c: char) -> bool {
    matches!(c, '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2060}'..='\u{2064}' | '\u{2066}'..='\u{2069}' | '\u{feff}')
}

/// A plausible address: one `@`, non-empty local part and a dotted domain, no spaces, at most 254.
fn check_email(email: &str) -> Result<(), &'static str> {
    if email.is_empty() {
        return Err("must not be empty");
    }
    if email.len() > 254 {
        return Err("must be at most 254 characters");
    }
    let Some((local, domain)) = email.split_once('@') else {
        return Err("must be an e-mail address like name@example.com");
    };
    let plausible = !local.is_empty()
        && !domain.contains('@')
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !email
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || invisible(c));
    if plausible {
        Ok(())
    } else {
        Err("must be an e-mail address like name@example.com")
    }
}

/// Whether making `manager` the manager of `user` would close a loop in the reporting tree.
///
/// `chain_above_manager` is the proposed manager's own chain upwards (their manager, that one's
/// manager, ...), as far as it goes.
pub fn creates_reporting_cycle(
    user: UserId,
    manager: UserId,
    chain_above_manager: &[UserId],
) -> bool {
    manager == user || chain_above_manager.contains(&user)
}

/// Every user with their manager, indexed to walk up (a manager chain) and down (a subtree)
/// from anyone.
#[derive(Debug, Clone, Default)]
pub struct ReportingTree {
    managers: HashMap<UserId, Option<UserId>>,
    reports: HashMap<UserId, Vec<UserId>>,
}

impl ReportingTree {
    /// The most managers a chain lists: deeper trees are bad data, never walked further.
    pub const MAX_DEPTH: usize = 64;

    /// The tree of these users (each with their manager, if any). Each manager's reports keep
    /// the order the users come in (the store gives them by display name, then id), so every
    /// listing by report is stable.
    pub fn new(pairs: impl IntoIterator<Item = (UserId, Option<UserId>)>) -> Self {
        let pairs: Vec<(UserId, Option<UserId>)> = pairs.into_iter().collect();
        let mut reports: HashMap<UserId, Vec<UserId>> = HashMap::new();
        for &(user, manager) in &pairs {
            if let Some(manager) = manager {
                reports.entry(manager).or_default().push(user);
            }
        }
        let managers = pairs.into_iter().collect();
        Self { managers, reports }
    }

    /// Whether `user` is in the tree.
    pub fn knows(&self, user: UserId) -> bool {
        self.managers.contains_key(&user)
    }

    /// Everyone in the tree.
    pub fn users(&self) -> impl Iterator<Item = UserId> + '_ {
        self.managers.keys().copied()
    }

    /// `user`'s manager, if they have one.
    pub fn manager_of(&self, user: UserId) -> Option<UserId> {
        self.managers.get(&user).copied().flatten()
    }

    /// Who reports to `user` directly.
    pub fn reports(&self, user: UserId) -> &[UserId] {
        self.reports.get(&user).map_or(&[], Vec::as_slice)
    }

    /// `root` and everyone below them, each once, `root` first.
    pub fn subtree(&self, root: UserId) -> Vec<UserId> {
        let mut members = vec![root];
        let mut seen = std::collections::HashSet::from([root]);
        let mut i = 0;
        while i < members.len() {
            for &report in self.reports.get(&members[i]).into_iter().flatten() {
                if seen.insert(report) {
                    members.push(report);
                }
            }
            i += 1;
        }
        members
    }

    /// `user`'s managers, nearest first, up to the top (empty for an unknown user). A cycle
    /// cannot be written, but bad data never loops: the walk stops at the first repeat and
    /// after [`Self::MAX_DEPTH`] managers.
    pub fn chain(&self, user: UserId) -> Vec<UserId> {
        let mut chain = Vec::new();
        let mut at = user;
        while let Some(manager) = self.manager_of(at) {
            if manager == user || chain.contains(&manager) || chain.len() == Self::MAX_DEPTH {
                break;
            }
            chain.push(manager);
            at = manager;
        }
        chain
    }
}

/// An API token as stored: never the secret, only its hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiToken {
    pub id: ApiTokenId,
    /// The user it authenticates as.
    pub user_id: UserId,
    /// What it is for.
    pub display_name: String,
    /// SHA-256 of the secret, hex.
    pub secret_hash: String,
    /// When issued.
    pub created_at: DateTime<Utc>,
    /// When revoked, if it was.
    pub revoked_at: Option<DateTime<Utc>>,
}

/// Prefix of every secret, so leaked tokens are easy to recognise and scan for.
pub const TOKEN_PREFIX: &str = "ddk_";

/// Builds a secret from 32 random bytes: `ddk_` and 64 hex digits.
pub fn token_secret_from(random: [u8; 32]) -> String {
    let mut secret = String::with_capacity(TOKEN_PREFIX.len() + 64);
    secret.push_str(TOKEN_PREFIX);
    push_hex(&mut secret, &random);
    secret
}

/// Appends `bytes` in lowercase hex.
fn push_hex(out: &mut String, bytes: &[u8]) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    for &b in bytes {
        out.push(char::from(HEX[usize::from(b >> 4)]));
        out.push(char::from(HEX[usize::from(b & 0xf)]));
    }
}

/// The stored form of a secret: SHA-256, hex. Secrets carry 256 random bits, so a fast hash is
/// enough (no password stretching needed) and lets every call be checked with one index lookup.
pub fn hash_token_secret(secret: &str) -> String {
    let digest = Sha256::digest(secret.as_bytes());
    let mut hex = String::with_capacity(2 * digest.len());
    push_hex(&mut hex, &digest);
    hex
}

/// Validates a token's display name.
pub fn parse_token_display_name(name: &str) -> Result<String, Violations> {
    let mut violations = Violations::new();
    violations.text::<DisplayName>("display_name", name);
    violations.into_result(name.trim().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn draft() -> UserDraft {
        UserDraft {
            display_name: "Ada Rep".into(),
            email: " Ada@Example.com ".into(),
            role: Some(Role::Rep),
            manager_id: None,
            active: true,
        }
    }

    #[test]
    fn a_valid_draft_is_accepted_with_its_email_normalised() {
        let profile = UserProfile::parse(draft()).unwrap();
        assert_eq!(profile.email, "ada@example.com");
        assert_eq!(profile.role, Role::Rep);
    }

    #[test]
    fn every_problem_of_a_draft_is_reported() {
        let bad = UserDraft {
            display_name: " ".into(),
            email: "not-an-address".into(),
            role: None,
            ..draft()
        };
        let violations = UserProfile::parse(bad).unwrap_err();
        let fields: Vec<&str> = violations.0.iter().map(|v| v.field.as_str()).collect();
        assert_eq!(fields, ["display_name", "email", "role"]);
    }

    #[test]
    fn a_display_name_longer_than_200_characters_is_rejected() {
        let long = UserDraft {
            display_name: "é".repeat(201),
            ..draft()
        };
        let violations = UserProfile::parse(long).unwrap_err();
        assert_eq!(violations.0[0].field, "display_name");
    }

    #[test]
    fn emails_without_a_dotted_domain_are_rejected() {
        for email in ["a@b", "@b.com", "a@@b.com", "a b@c.com", "a@.com", "a@com."] {
            assert!(check_email(email).is_err(), "{email} accepted");
        }
        assert!(check_email("a.b+c@sales.example.com").is_ok());
        assert!(check_email("a@b\u{202e}.com").is_err(), "a bidi override");
        assert!(
            check_email("a\u{200b}@b.com").is_err(),
            "a zero-width space"
        );
    }

    #[test]
    fn roles_round_trip_through_their_names() {
        for role in Role::ALL {
            assert_eq!(Role::parse(role.as_str()), Some(role));
        }
        assert_eq!(Role::parse("CEO"), None);
    }

    #[test]
    fn only_admins_manage_the_directory_and_pipelines() {
        for role in Role::ALL {
            assert_eq!(role.may_manage_directory(), role == Role::Admin);
            assert_eq!(role.may_edit_pipelines(), role == Role::Admin);
        }
    }

    #[test]
    fn a_secret_is_prefixed_hex_and_its_hash_is_not_the_secret() {
        let secret = token_secret_from([0xab; 32]);
        assert_eq!(secret.len(), 4 + 64);
        assert!(secret.starts_with("ddk_abab"));
        let hash = hash_token_secret(&secret);
        assert_eq!(hash.len(), 64);
        assert!(!hash.contains(&secret[4..]));
        assert_eq!(hash, hash_token_secret(&secret));
        // SHA-256 in lowercase hex, as stored for every token ever issued (FIPS 180-2's "abc").
        assert_eq!(
            hash_token_secret("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn a_chain_lists_the_managers_nearest_first_and_never_loops() {
        let [a, b, c, d] = [(); 4].map(|()| UserId::generate());
        let tree = ReportingTree::new(vec![(a, None), (b, Some(a)), (c, Some(b))]);
        assert_eq!(tree.chain(c), [b, a]);
        assert_eq!(tree.chain(a), []);
        assert_eq!(tree.chain(d), [], "unknown user");
        // Bad data: a loop c -> b -> d -> b, and c -> c.
        let looped = ReportingTree::new(vec![(c, Some(b)), (b, Some(d)), (d, Some(b))]);
        assert_eq!(looped.chain(c), [b, d]);
        assert_eq!(ReportingTree::new(vec![(c, Some(c))]).chain(c), []);
        let line: Vec<UserId> = (0..100).map(|_| UserId::generate()).collect();
        let deep = ReportingTree::new(line.windows(2).map(|w| (w[1], Some(w[0]))));
        assert_eq!(deep.chain(line[99]).len(), ReportingTree::MAX_DEPTH);
        assert_eq!(deep.chain(line[99])[0], line[98]);
    }

    #[test]
    fn reports_keep_the_order_the_users_come_in() {
        let [a, b, c, d] = [(); 4].map(|()| UserId::generate());
        for order in [vec![b, c, d], vec![d, b, c], vec![c, d, b]] {
            let pairs = std::iter::once((a, None)).chain(order.iter().map(|&u| (u, Some(a))));
            assert_eq!(ReportingTree::new(pairs).reports(a), order.as_slice());
        }
    }

    #[test]
    fn a_subtree_is_its_root_and_everyone_below_each_once() {
        let [a, b, c, d, e] = [(); 5].map(|()| UserId::generate());
        let tree = ReportingTree::new(vec![
            (a, None),
            (b, Some(a)),
            (c, Some(b)),
            (d, Some(b)),
            (e, None),
        ]);
        let sorted = |mut v: Vec<UserId>| {
            v.sort();
            v
        };
        assert_eq!(tree.subtree(a)[0], a);
        assert_eq!(sorted(tree.subtree(a)), sorted(vec![a, b, c, d]));
        assert_eq!(sorted(tree.subtree(b)), sorted(vec![b, c, d]));
        assert_eq!(tree.subtree(e), [e]);
        let unknown = UserId::generate();
        assert_eq!(
            tree.subtree(unknown),
            [unknown],
            "owns nothing, manages no one"
        );
        assert!(tree.knows(e) && !tree.knows(unknown));
        assert_eq!((tree.manager_of(c), tree.manager_of(a)), (Some(b), None));
        assert_eq!(sorted(tree.reports(b).to_vec()), sorted(vec![c, d]));
        assert!(tree.reports(c).is_empty());
        // Bad data: b and c manage each other.
        let looped = ReportingTree::new(vec![(b, Some(c)), (c, Some(b))]);
        assert_eq!(sorted(looped.subtree(b)), sorted(vec![b, c]));
    }

    #[test]
    fn being_ones_own_manager_is_a_cycle() {
        let a = UserId::generate();
        assert!(creates_reporting_cycle(a, a, &[]));
    }

    proptest! {
        /// In a chain u0 <- u1 <- ... (u[i+1] reports to u[i]), making anyone's manager one of
        /// their own reports is a cycle, and making them report to someone above is not.
        #[test]
        fn cycles_are_exactly_managers_below_the_user(len in 2usize..12, user in 0usize..12, manager in 0usize..12) {
            let chain: Vec<UserId> = (0..len).map(|_| UserId::generate()).collect();
            let (user, manager) = (user % len, manager % len);
            // Chain above chain[manager]: chain[manager-1], ..., chain[0].
            let above: Vec<UserId> = chain[..manager].iter().rev().copied().collect();
            let cycle = creates_reporting_cycle(chain[user], chain[manager], &above);
            prop_assert_eq!(cycle, manager >= user);
        }
    }
}
