//! Use cases: authenticate the caller, check what their role allows, validate through the
//! domain, then load and save through the [`ports`].

pub mod accuracy;
pub mod approvals;
pub mod backtest;
pub mod calls;
pub mod dealdesk;
pub mod deals;
pub mod directory;
pub mod error;
pub mod exchange;
pub mod forecast;
pub mod ids;
pub mod imports;
pub mod names;
pub mod period_rates;
pub mod pipeline_metrics;
pub mod pipelines;
pub mod ports;
pub mod roles;
pub mod watch;
pub mod win_rates;

pub use error::{AppError, AppResult};

use chrono::Utc;

use crate::domain::directory::{Role, User, hash_token_secret};
use ports::{IdempotencyKey, IdempotentWrite, Store};

/// The authenticated caller of one request.
#[derive(Debug, Clone)]
pub struct Principal {
    /// The active user the token belongs to.
    pub user: User,
}

impl Principal {
    /// The caller's role.
    pub fn role(&self) -> Role {
        self.user.profile.role
    }
}

/// The application: every use case, over one store.
#[derive(Debug, Clone)]
pub struct App<S> {
    /// Where everything is kept.
    pub store: S,
    /// The org's time zone and fiscal year: every date derived from an instant is read in it.
    pub calendar: crate::domain::calendar::OrgCalendar,
    /// Where the time is read.
    pub clock: Clock,
    /// Where new ids and token secrets come from: random, except in the demo.
    pub ids: ids::IdSource,
    /// How each wide forecast read its open deals last time ([`forecast::ReadHints`]).
    pub(crate) read_hints: forecast::ReadHints,
    /// The not-yet-created term's past revenue read today ([`forecast::period::NewRevenueCache`]).
    pub(crate) new_revenue: forecast::period::NewRevenueCache,
    /// The event streams open now, within their limits ([`watch::StreamSlots`]).
    pub(crate) streams: watch::StreamSlots,
}

impl<S: Store> App<S> {
    /// The application over `store`.
    pub fn new(store: S) -> Self {
        Self {
            store,
            calendar: Default::default(),
            clock: Clock::system(),
            ids: ids::IdSource::random(),
            read_hints: Default::default(),
            new_revenue: Default::default(),
            streams: Default::default(),
        }
    }

    /// The same application holding at most `limits` event streams open.
    pub fn with_stream_limits(self, limits: watch::StreamLimits) -> Self {
        Self {
            streams: watch::StreamSlots::new(limits),
            ..self
        }
    }

    /// The same application with fiscal years starting per `calendar`.
    pub fn with_calendar(self, calendar: crate::domain::calendar::OrgCalendar) -> Self {
        Self { calendar, ..self }
    }

    /// The same application drawing new ids and token secrets from `ids`.
    pub fn with_ids(self, ids: ids::IdSource) -> Self {
        Self { ids, ..self }
    }

    /// The same application reading the time from `clock`.
    pub fn with_clock(self, clock: Clock) -> Self {
        Self { clock, ..self }
    }

    /// The current time (see [`Clock::now`]).
    pub fn now(&self) -> chrono::DateTime<Utc> {
        self.clock.now()
    }

    /// Today's date in the org's zone.
    pub fn today(&self) -> chrono::NaiveDate {
        self.calendar.day_of(self.now())
    }

    /// Resolves a bearer secret to an active principal. Unknown, revoked and inactive all answer
    /// UNAUTHENTICATED, each with its own reason.
    pub async fn authenticate(&self, secret: Option<&str>) -> AppResult<Principal> {
        let unauthenticated = |reason, message: &str| AppError::Unauthenticated {
            reason,
            message: message.to_string(),
        };
        let Some(secret) = secret else {
            return Err(unauthenticated(
                "MISSING_CREDENTIALS",
                "send the metadata `authorization: Bearer <token>`",
            ));
        };
        let owner = self
            .store
            .find_token_owner(&hash_token_secret(secret))
            .await?
            .ok_or_else(|| unauthenticated("UNKNOWN_TOKEN", "the bearer token is not known"))?;
        if owner.token.revoked_at.is_some_and(|t| t <= Utc::now()) {
            return Err(unauthenticated(
                "REVOKED_TOKEN",
                "the bearer token was revoked",
            ));
        }
        if !owner.user.profile.active {
            return Err(unauthenticated(
                "INACTIVE_USER",
                "the token's user is deactivated",
            ));
        }
        Ok(Principal { user: owner.user })
    }

    /// A transition refused because the state moved on may have been moved on by a concurrent
    /// retry of itself (the same key): then the caller gets that first answer, not the refusal.
    pub(crate) async fn or_replayed<T>(
        &self,
        result: AppResult<ports::Created<T>>,
        key: Option<&IdempotencyKey>,
    ) -> AppResult<ports::Created<T>> {
        match result {
            Err(err) => match self.replay(key).await? {
                Some(saved) => Ok(ports::Created::Replayed(saved)),
                None => Err(err),
            },
            ok => ok,
        }
    }

    /// The saved answer of an earlier create with this key, if any.
    pub(crate) async fn replay(&self, key: Option<&IdempotencyKey>) -> AppResult<Option<Vec<u8>>> {
        match key {
            Some(key) => self.store.find_idempotent(key).await,
            None => Ok(None),
        }
    }
}

/// Where the application reads the time: the system clock, or the system clock shifted so that
/// it reads a chosen instant now and runs on from there (tests travel to the last minutes of a
/// quarter in a zone far from UTC).
#[derive(Debug, Clone, Copy, Default)]
pub struct Clock {
    offset: chrono::TimeDelta,
}

impl Clock {
    /// The system clock.
    pub fn system() -> Self {
        Self::default()
    }

    /// A clock that reads `instant` now.
    pub fn starting_at(instant: chrono::DateTime<Utc>) -> Self {
        Clock {
            offset: instant - Utc::now(),
        }
    }

    /// The current time at the precision every engine stores (microseconds), so that what a
    /// create answers equals what a later read returns.
    pub fn now(&self) -> chrono::DateTime<Utc> {
        use chrono::SubsecRound;
        (Utc::now() + self.offset).trunc_subsecs(6)
    }
}

/// Pairs an optional key with the encoded answer, for saving beside a create.
pub(crate) fn idempotent_write(
    key: Option<IdempotencyKey>,
    response: impl FnOnce() -> Vec<u8>,
) -> Option<IdempotentWrite> {
    key.map(|key| IdempotentWrite {
        key,
        response: response(),
    })
}
