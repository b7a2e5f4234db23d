//! Open event streams: how many each user and the process may hold, and how often an idle one
//! checks its caller's rights again.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::{App, AppError, AppResult, Principal};
use crate::app::ports::Store;
use crate::domain::directory::UserId;

/// An open stream checks who its caller is and what they may see at least this often, even
/// with no news (a revocation in this process, or notified by another replica, ends it sooner).
pub const RIGHTS_RECHECK: Duration = Duration::from_secs(30);

/// When a refused caller may try again: by then one of their streams may have ended.
pub const STREAM_RETRY_AFTER: Duration = Duration::from_secs(5);

/// How many event streams may be open at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamLimits {
    /// Per user (every token of theirs together).
    pub per_user: usize,
    /// In the whole process.
    pub per_process: usize,
}

impl Default for StreamLimits {
    /// 16 per user, 10,000 per process.
    fn default() -> Self {
        Self {
            per_user: 16,
            per_process: 10_000,
        }
    }
}

/// The streams open now, shared by every clone of the application.
#[derive(Debug, Clone, Default)]
pub struct StreamSlots {
    limits: StreamLimits,
    /// A std mutex: held for a map update, never across an await.
    open: Arc<Mutex<OpenStreams>>,
}

#[derive(Debug, Default)]
struct OpenStreams {
    total: usize,
    by_user: HashMap<UserId, usize>,
}

impl StreamSlots {
    /// Slots enforcing `limits`.
    pub fn new(limits: StreamLimits) -> Self {
        Self {
            limits,
            open: Default::default(),
        }
    }

    fn open(&self) -> std::sync::MutexGuard<'_, OpenStreams> {
        // Every change is one call: a panic elsewhere cannot leave the counts half-changed.
        self.open.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A slot for one more stream of `user`, or RESOURCE_EXHAUSTED (`TOO_MANY_STREAMS`).
    pub fn take(&self, user: UserId) -> AppResult<StreamSlot> {
        let mut open = self.open();
        let mine = open.by_user.get(&user).copied().unwrap_or(0);
        let refused = |message: String| AppError::ResourceExhausted {
            reason: "TOO_MANY_STREAMS",
            message,
            retry_after: STREAM_RETRY_AFTER,
        };
        if mine >= self.limits.per_user {
            return Err(refused(format!(
                "this user already has {mine} event streams open (at most {}); close one first",
                self.limits.per_user
            )));
        }
        if open.total >= self.limits.per_process {
            return Err(refused(format!(
                "the server holds its limit of {} event streams; retry later",
                self.limits.per_process
            )));
        }
        open.total += 1;
        *open.by_user.entry(user).or_insert(0) += 1;
        Ok(StreamSlot {
            slots: self.clone(),
            user,
        })
    }

    /// Streams open now (for the metrics and tests).
    pub fn open_now(&self) -> usize {
        self.open().total
    }
}

/// One open stream's place; given back when dropped (the stream ended).
#[derive(Debug)]
pub struct StreamSlot {
    slots: StreamSlots,
    user: UserId,
}

impl Drop for StreamSlot {
    fn drop(&mut self) {
        let mut open = self.slots.open();
        open.total = open.total.saturating_sub(1);
        if let Some(n) = open.by_user.get_mut(&self.user) {
            *n -= 1;
            if *n == 0 {
                open.by_user.remove(&self.user);
            }
        }
    }
}

impl<S: Store> App<S> {
    /// A slot for a new event stream of `principal`, within the per-user and per-process limits.
    pub fn open_stream(&self, principal: &Principal) -> AppResult<StreamSlot> {
        self.streams.take(principal.user.id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user() -> UserId {
        UserId(uuid::Uuid::now_v7())
    }

    #[test]
    fn a_user_over_their_stream_limit_is_refused_until_one_closes() {
        let slots = StreamSlots::new(StreamLimits {
            per_user: 2,
            per_process: 10,
        });
        let me = user();
        let first = slots.take(me).unwrap();
        let _second = slots.take(me).unwrap();
        let err = slots.take(me).unwrap_err();
        assert!(matches!(
            err,
            AppError::ResourceExhausted {
                reason: "TOO_MANY_STREAMS",
                ..
            }
        ));
        assert!(slots.take(user()).is_ok(), "another user is not refused");
        drop(first);
        assert!(slots.take(me).is_ok());
    }

    #[test]
    fn the_process_stream_limit_counts_every_user() {
        let slots = StreamSlots::new(StreamLimits {
            per_user: 5,
            per_process: 2,
        });
        let held = [slots.take(user()).unwrap(), slots.take(user()).unwrap()];
        assert!(slots.take(user()).is_err());
        assert_eq!(slots.open_now(), 2);
        drop(held);
        assert_eq!(slots.open_now(), 0);
        assert!(slots.take(user()).is_ok());
    }
}
