//! The audit group-commit writer both stores use: appends that arrive while a commit is
//! in flight are gathered and committed together, so one fsync serves many records.
//! Each store supplies only the function that commits one batch in its own dialect.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use candor_domain::audit::{AuditRecord, NewAuditRecord};
use candor_domain::store::{StoreError, StoreResult};
use tokio::sync::{mpsc, oneshot};

/// Largest number of append requests committed in one transaction.
pub const MAX_GROUP_COMMIT: usize = 4096;
/// How many times the writer yields to gather more appends before committing.
const LINGER_YIELDS: usize = 8;

type Commit = Arc<
    dyn Fn(
            Vec<NewAuditRecord>,
        ) -> Pin<Box<dyn Future<Output = StoreResult<Vec<AuditRecord>>> + Send>>
        + Send
        + Sync,
>;

struct AppendRequest {
    records: Vec<NewAuditRecord>,
    reply: oneshot::Sender<StoreResult<Vec<AuditRecord>>>,
}

/// A handle to the writer task; dropping every handle stops it.
#[derive(Clone)]
pub struct GroupCommitter {
    tx: mpsc::Sender<AppendRequest>,
}

impl GroupCommitter {
    /// Starts the writer. `commit` seals and stores one batch in one transaction.
    pub fn spawn<F, Fut>(commit: F) -> GroupCommitter
    where
        F: Fn(Vec<NewAuditRecord>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = StoreResult<Vec<AuditRecord>>> + Send + 'static,
    {
        let commit: Commit = Arc::new(move |records| Box::pin(commit(records)));
        let (tx, rx) = mpsc::channel(MAX_GROUP_COMMIT);
        tokio::spawn(writer(commit, rx));
        GroupCommitter { tx }
    }

    /// Appends records, returning them sealed once their batch is committed.
    pub async fn append(&self, records: Vec<NewAuditRecord>) -> StoreResult<Vec<AuditRecord>> {
        if records.is_empty() {
            return Ok(Vec::new());
        }
        let stopped = || StoreError::Database("the audit writer has stopped".into());
        let (reply, answer) = oneshot::channel();
        self.tx
            .send(AppendRequest { records, reply })
            .await
            .map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }
}

async fn writer(commit: Commit, mut rx: mpsc::Receiver<AppendRequest>) {
    let mut batch: Vec<AppendRequest> = Vec::new();
    while rx.recv_many(&mut batch, MAX_GROUP_COMMIT).await > 0 {
        // Let the callers just answered queue their next appends: a few yields cost
        // microseconds and let the next commit carry many more records.
        for _ in 0..LINGER_YIELDS {
            if batch.len() >= MAX_GROUP_COMMIT {
                break;
            }
            tokio::task::yield_now().await;
            while batch.len() < MAX_GROUP_COMMIT {
                match rx.try_recv() {
                    Ok(r) => batch.push(r),
                    Err(_) => break,
                }
            }
        }
        let counts: Vec<usize> = batch.iter().map(|r| r.records.len()).collect();
        let records: Vec<NewAuditRecord> = batch
            .iter_mut()
            .flat_map(|r| std::mem::take(&mut r.records))
            .collect();
        match commit(records).await {
            Ok(sealed) => {
                let mut sealed = sealed.into_iter();
                for (req, n) in batch.drain(..).zip(counts) {
                    let _ = req.reply.send(Ok(sealed.by_ref().take(n).collect()));
                }
            }
            Err(e) => {
                tracing::error!(error = %e, "audit group commit failed");
                let msg = e.to_string();
                for req in batch.drain(..) {
                    let _ = req.reply.send(Err(StoreError::Database(msg.clone())));
                }
            }
        }
    }
}
