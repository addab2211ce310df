//! Conflict rules at work: settle an event's change against its entity's state (the
//! worker), and release or discard a held change (the operator).
//!
//! The state is read, decided on ([`crate::conflict::decide`]) and written back with a
//! compare-and-set, so two workers settling changes of one entity at once cannot both
//! apply on the same state: the loser reads again and decides again.

use time::OffsetDateTime;

use crate::conflict::{apply, decide, rules_for, Change, ConflictRule, Decision, EntityState};
use crate::envelope::{Envelope, Source};
use crate::ports::{ConflictStore, Queue, Review, ReviewStatus, StoreError};

/// Compare-and-set attempts before giving up (the message is retried later).
const MAX_RACES: usize = 8;

/// Decide `env`'s change to its entity by `rules` and record the outcome: an applied
/// change in the entity's state, a held one in the review queue. `env` must carry an
/// entity that `rules` cover.
pub async fn settle(
    store: &dyn ConflictStore,
    rules: &[ConflictRule],
    env: &Envelope,
    now: OffsetDateTime,
) -> Result<Decision, StoreError> {
    let entity = env
        .entity
        .as_deref()
        .ok_or_else(|| StoreError::Invalid(format!("{} names no entity", env.key)))?;
    let rules = rules_for(rules, entity);
    let change = Change::of(env, &rules, now);
    let decision = compare_and_set(store, entity, |state| {
        let decision = decide(&rules, state, &change);
        let applies = decision == Decision::Apply;
        if applies {
            apply(state, &rules, &change);
        }
        (decision, applies)
    })
    .await?;
    if let Decision::Hold {
        rule,
        reason,
        against,
        field,
    } = &decision
    {
        store
            .hold(&Review {
                key: env.key.to_string(),
                entity: entity.to_string(),
                rule: *rule,
                reason: reason.clone(),
                held_at: now,
                against: (**against).clone(),
                field: field.clone(),
                envelope: env.clone(),
                status: ReviewStatus::Pending,
                resolved_at: None,
            })
            .await?;
    }
    Ok(decision)
}

/// Read `entity`'s state, let `step` decide (changing the state, and saying so, when it
/// writes), and write it back unless another writer got there first — then read and
/// decide again, at most [`MAX_RACES`] times.
async fn compare_and_set<T>(
    store: &dyn ConflictStore,
    entity: &str,
    mut step: impl FnMut(&mut EntityState) -> (T, bool),
) -> Result<T, StoreError> {
    for _ in 0..MAX_RACES {
        let (mut state, rev) = store.load_entity(entity).await?;
        let (outcome, writes) = step(&mut state);
        if !writes || store.save_entity(entity, &state, rev).await? {
            return Ok(outcome);
        }
    }
    Err(StoreError::Unavailable {
        message: format!("entity {entity} changed under {MAX_RACES} attempts in a row; try again"),
        source: None,
    })
}

/// Why an operator's action on a review did nothing.
#[derive(Debug, thiserror::Error)]
pub enum ReviewError {
    #[error("no such review: {0}")]
    NotFound(String),
    #[error("review {key} is already {}", status.as_str())]
    Closed { key: String, status: ReviewStatus },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The pending review `key`.
async fn pending(store: &dyn ConflictStore, key: &str) -> Result<Review, ReviewError> {
    let review = store
        .review(key)
        .await?
        .ok_or_else(|| ReviewError::NotFound(key.to_string()))?;
    if review.status != ReviewStatus::Pending {
        return Err(ReviewError::Closed {
            key: key.to_string(),
            status: review.status,
        });
    }
    Ok(review)
}

/// Release a held change: record it as the entity's latest (the operator decided it
/// wins), deliver it (enqueued as a replay under its key, so sinks can tell and dedupe),
/// then close the review. A crash before the close leaves it pending: releasing again
/// enqueues it again, which sinks dedupe on the key.
pub async fn release(
    store: &dyn ConflictStore,
    queue: &dyn Queue,
    rules: &[ConflictRule],
    key: &str,
    now: OffsetDateTime,
) -> Result<Review, ReviewError> {
    let review = pending(store, key).await?;
    let rules = rules_for(rules, &review.entity);
    // A hold by a conflict rule settles the entity's state; one by a pinned schema (its
    // entity has no rules, or it has none) leaves the state alone.
    if !rules.is_empty() {
        let change = Change::of(&review.envelope, &rules, review.held_at);
        compare_and_set(store, &review.entity, |state| {
            apply(state, &rules, &change);
            ((), true)
        })
        .await?;
    }
    let replay = Envelope {
        source: Source::Replay,
        replayed_by: Some("a review's release (`inlet review release` or the console)".into()),
        ..review.envelope.clone()
    };
    queue.send(&replay).await?;
    close(store, review, ReviewStatus::Released, now).await
}

/// Discard a held change: it is never delivered, and the entity keeps its state.
pub async fn discard(
    store: &dyn ConflictStore,
    key: &str,
    now: OffsetDateTime,
) -> Result<Review, ReviewError> {
    let review = pending(store, key).await?;
    close(store, review, ReviewStatus::Discarded, now).await
}

async fn close(
    store: &dyn ConflictStore,
    review: Review,
    status: ReviewStatus,
    now: OffsetDateTime,
) -> Result<Review, ReviewError> {
    if !store.close_review(&review.key, status, now).await? {
        // Another operator closed it between our read and our write.
        let now_status = store
            .review(&review.key)
            .await?
            .map_or(status, |r| r.status);
        return Err(ReviewError::Closed {
            key: review.key,
            status: now_status,
        });
    }
    Ok(Review {
        status,
        resolved_at: Some(now),
        ..review
    })
}
