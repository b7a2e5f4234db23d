//! Change notifications: how open event streams learn that their topic may have new rows.

/// What a change notification is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Topic {
    /// Rows were appended to the deal event log.
    DealEvents,
    /// Rows were appended to the approval event log.
    ApprovalEvents,
    /// A token was revoked or a user changed (role, manager, active): what open streams may
    /// see must be checked again.
    Directory,
}

/// The change notifier: one per process, shared by every clone of the store. A subscriber's
/// receiver is marked changed whenever its topic may have changed: after a commit in this
/// process, on a notification from another process (PostgreSQL), or when the slow poll that
/// backs both up finds something new. A notification may be spurious, never missing: a woken
/// reader still reads "after" what it saw.
pub trait ChangeNotifier: Send + Sync + 'static {
    /// A receiver marked changed at every notification of `topic` from now on.
    fn subscribe(&self, topic: Topic) -> tokio::sync::watch::Receiver<u64>;
}
