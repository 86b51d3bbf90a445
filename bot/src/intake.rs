//! Group commit for the inbox: verified events from concurrent requests are written by
//! one writer, as many as are waiting in one transaction, so storing before the
//! acknowledgement costs one commit per batch instead of one per request. No timer:
//! while a batch commits the next one gathers, so an idle deckhand waits for nothing.

use tokio::sync::{mpsc, oneshot};

use crate::chat::Event;
use crate::store::inbox;

/// Events waiting to be written at most: beyond it a request is told deckhand is busy
/// (bounded memory, never a growing queue).
pub const QUEUE: usize = 4096;

/// Events one transaction writes at most.
const BATCH: usize = 256;

/// Why an event was not stored.
#[derive(Debug, thiserror::Error)]
pub enum Refused {
    #[error("the database refused it: {0}")]
    Database(#[from] sqlx::Error),
    #[error("deckhand is busy: {QUEUE} events are waiting to be stored")]
    Busy,
    #[error("the inbox writer stopped")]
    Stopped,
}

/// One event to store, and where its id goes.
struct Item {
    event: Event,
    claimant: String,
    claimed_until: i64,
    now: i64,
    reply: oneshot::Sender<Result<Option<i64>, Refused>>,
}

/// The writer's door.
pub struct Intake {
    queue: mpsc::Sender<Item>,
}

impl Intake {
    /// Starts the writer on `pool` (inside a tokio runtime).
    pub fn start(pool: sqlx::AnyPool) -> Intake {
        Intake::with_queue(pool, QUEUE)
    }

    /// [`Intake::start`] with a queue of `size` (tests fill a small one).
    pub fn with_queue(pool: sqlx::AnyPool, size: usize) -> Intake {
        let (queue, items) = mpsc::channel(size);
        tokio::spawn(write(pool, items));
        Intake { queue }
    }

    /// Stores `event` claimed by `claimant`: its inbox id, or `None` for a delivery seen
    /// before.
    pub async fn receive(
        &self,
        event: &Event,
        claimant: &str,
        claimed_until: i64,
        now: i64,
    ) -> Result<Option<i64>, Refused> {
        let (reply, answer) = oneshot::channel();
        let item = Item {
            event: event.clone(),
            claimant: claimant.to_owned(),
            claimed_until,
            now,
            reply,
        };
        self.queue.try_send(item).map_err(|e| match e {
            mpsc::error::TrySendError::Full(_) => Refused::Busy,
            mpsc::error::TrySendError::Closed(_) => Refused::Stopped,
        })?;
        answer.await.map_err(|_| Refused::Stopped)?
    }
}

async fn write(pool: sqlx::AnyPool, mut items: mpsc::Receiver<Item>) {
    while let Some(first) = items.recv().await {
        let mut batch = vec![first];
        while batch.len() < BATCH {
            match items.try_recv() {
                Ok(item) => batch.push(item),
                Err(_) => break,
            }
        }
        match together(&pool, &batch).await {
            Ok(ids) => {
                for (item, id) in batch.into_iter().zip(ids) {
                    let _ = item.reply.send(Ok(id));
                }
            }
            // One bad event (or a commit that failed) must not refuse the others: each
            // is written on its own, and gets its own answer.
            Err(error) => {
                tracing::warn!(%error, events = batch.len(), "a batch of events failed; storing them one by one");
                for item in batch {
                    let result = inbox::receive(
                        &pool,
                        &item.event,
                        &item.claimant,
                        item.claimed_until,
                        item.now,
                    )
                    .await
                    .map_err(Refused::from);
                    let _ = item.reply.send(result);
                }
            }
        }
    }
}

/// The batch in one transaction; the ids in order.
async fn together(pool: &sqlx::AnyPool, batch: &[Item]) -> sqlx::Result<Vec<Option<i64>>> {
    let mut tx = pool.begin().await?;
    let mut ids = Vec::with_capacity(batch.len());
    for item in batch {
        ids.push(
            inbox::receive(
                &mut *tx,
                &item.event,
                &item.claimant,
                item.claimed_until,
                item.now,
            )
            .await?,
        );
    }
    tx.commit().await?;
    Ok(ids)
}
