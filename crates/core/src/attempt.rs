//! The publish state machines (DESIGN.md, "Publishing at most once").
//!
//! An attempt moves `pending -> preparing -> prepared -> committing -> committed`, or ends in
//! `failed` (permanent) or `unknown` (needs a person). `committing` is written before the
//! platform call and `committed` after it, each as its own database commit, so a crash in
//! between is always visible and leads to reconcile, never to a blind second commit.

text_enum! {
    /// One publish attempt's state.
    pub enum AttemptState {
        Pending = "pending",
        Preparing = "preparing",
        Prepared = "prepared",
        Committing = "committing",
        Committed = "committed",
        Failed = "failed",
        Unknown = "unknown",
    }
}

/// A transition the state machine does not allow.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("illegal attempt transition {from:?} -> {to:?}")]
pub struct IllegalTransition {
    pub from: AttemptState,
    pub to: AttemptState,
}

impl AttemptState {
    /// Terminal states never change again without an operator.
    pub fn is_terminal(self) -> bool {
        matches!(self, Self::Committed | Self::Failed | Self::Unknown)
    }

    /// True when a commit may have reached the platform, so only reconcile may follow.
    pub fn may_have_landed(self) -> bool {
        matches!(self, Self::Committing | Self::Committed | Self::Unknown)
    }

    /// The allowed transitions. The important absences: nothing goes from `committing` to
    /// `committing` again or to `failed` without reconcile's word (`prepared` means reconcile
    /// confirmed the post is absent), and `unknown` only leaves through an operator.
    pub fn can_move_to(self, to: AttemptState) -> bool {
        use AttemptState::*;
        matches!(
            (self, to),
            (Pending, Preparing)
                | (Pending, Failed)
                | (Preparing, Preparing)
                | (Preparing, Prepared)
                | (Preparing, Failed)
                | (Prepared, Preparing)
                | (Prepared, Committing)
                | (Prepared, Failed)
                | (Committing, Committed)
                | (Committing, Prepared)
                | (Committing, Failed)
                | (Committing, Unknown)
        )
    }

    /// Checks a transition, naming both ends when it is refused.
    pub fn transition(self, to: AttemptState) -> Result<AttemptState, IllegalTransition> {
        if self.can_move_to(to) {
            Ok(to)
        } else {
            Err(IllegalTransition { from: self, to })
        }
    }
}

text_enum! {
    /// A post target's state as users see it (one post = one account + one rendition of a run).
    pub enum PostState {
        /// Waiting for its publish job.
        Pending = "pending",
        /// A publish job is working on it.
        Publishing = "publishing",
        /// On the platform, with a remote id.
        Published = "published",
        /// The platform refused it, or retries ran out; the reason is stored.
        Failed = "failed",
        /// The account must be reconnected before this post can go out.
        NeedsReconnect = "needs_reconnect",
        /// A commit may or may not have landed and the platform cannot tell; a person decides.
        Unknown = "unknown",
        /// Cancelled by a user before publishing, or discarded with its run's review.
        Cancelled = "cancelled",
        /// Its run waits for a person's approval; nothing is published before it.
        AwaitingReview = "awaiting_review",
    }
}

#[cfg(test)]
mod tests {
    use super::AttemptState::*;
    use super::*;

    #[test]
    fn the_happy_path_is_allowed() {
        let mut s = Pending;
        for next in [Preparing, Prepared, Committing, Committed] {
            s = s.transition(next).expect("happy path");
        }
        assert_eq!(s, Committed);
    }

    #[test]
    fn terminal_states_never_move() {
        for from in [Committed, Failed, Unknown] {
            for to in AttemptState::ALL {
                assert!(
                    from.transition(to).is_err(),
                    "{from:?} -> {to:?} must be refused"
                );
            }
        }
    }

    #[test]
    fn commit_is_only_reachable_from_prepared() {
        for from in AttemptState::ALL {
            assert_eq!(from.can_move_to(Committing), from == Prepared, "{from:?}");
        }
    }

    #[test]
    fn committing_cannot_restart_without_reconcile() {
        assert_eq!(
            Committing.transition(Preparing),
            Err(IllegalTransition {
                from: Committing,
                to: Preparing
            })
        );
        assert!(Committing.transition(Committing).is_err());
        assert!(Committing.may_have_landed());
        assert!(!Prepared.may_have_landed());
    }

    #[test]
    fn names_round_trip() {
        for s in AttemptState::ALL {
            assert_eq!(AttemptState::parse(s.as_str()), Some(s));
        }
        for s in PostState::ALL {
            assert_eq!(PostState::parse(s.as_str()), Some(s));
        }
    }
}
