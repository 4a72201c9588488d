//! Events that outbound webhooks announce. Only what a person has to hear about is an event:
//! a post went out, a post will not go out, an account must be reconnected, a run waits for
//! (or got) a review decision.

use crate::PostState;

text_enum! {
    /// An event a webhook endpoint can subscribe to; the wire name is its `type`.
    pub enum PostEvent {
        Published = "post.published",
        Failed = "post.failed",
        NeedsReconnect = "post.needs_reconnect",
        RunAwaitingReview = "run.awaiting_review",
        RunApproved = "run.approved",
        RunRejected = "run.rejected",
        RunExpired = "run.expired",
    }
}

impl PostEvent {
    /// The event a post entering `state` announces, if any.
    pub fn for_state(state: PostState) -> Option<Self> {
        match state {
            PostState::Published => Some(Self::Published),
            PostState::Failed => Some(Self::Failed),
            PostState::NeedsReconnect => Some(Self::NeedsReconnect),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_only_terminal_states_announce() {
        for e in PostEvent::ALL {
            assert_eq!(PostEvent::parse(e.as_str()), Some(e));
            let json = serde_json::to_string(&e).expect("serialize");
            assert_eq!(json, format!("\"{}\"", e.as_str()));
        }
        assert_eq!(PostEvent::parse("post.cancelled"), None);
        assert_eq!(
            PostEvent::for_state(PostState::NeedsReconnect),
            Some(PostEvent::NeedsReconnect)
        );
        assert_eq!(PostEvent::for_state(PostState::Pending), None);
        assert_eq!(PostEvent::for_state(PostState::Unknown), None);
    }
}
