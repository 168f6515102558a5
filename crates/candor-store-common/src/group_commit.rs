//! The audit group-commit writer. Appends that arrive while a commit is in flight are
//! gathered into the next group, and sealed onto their chains as they arrive, so that
//! when the commit lands the next group goes out at once with nothing left to compute:
//! the database's one writer spends its time inserting and syncing, not waiting for us.
//!
//! Sealing ahead assumes the group in flight commits and that nothing else moved the
//! chains meanwhile (a business write appends its own records in its own transaction;
//! another instance shares the database). The store checks that assumption inside the
//! group's transaction: a chain whose stored head is not the tip its records were sealed
//! onto has them sealed again there (`Group::ahead`). So a wrong guess costs time, never a
//! fork.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use candor_domain::audit::{AuditRecord, ChainTip, NewAuditRecord};
use candor_domain::store::{StoreError, StoreResult};
use candor_domain::AuditRecordId;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

/// Largest number of append requests committed in one transaction.
pub const MAX_GROUP_COMMIT: usize = 4096;
/// A commit of at least this many appends means callers are queueing: the next commit
/// waits for them a little (`linger_busy`) rather than going out with the first few.
const BUSY_GROUP: usize = 64;
/// While busy, the writer waits for more appends until none has come for this long …
const ARRIVAL_GAP: std::time::Duration = std::time::Duration::from_millis(1);
/// … or it has waited this long in all. A commit costs an fsync of several
/// milliseconds, so a wait of this order at most doubles one caller's latency and spares
/// the next commit its own fsync.
const MAX_LINGER: std::time::Duration = std::time::Duration::from_millis(4);
/// While quiet, the writer only yields this many times in a row, which costs
/// microseconds, to let appends already under way join the commit.
const QUIET_YIELDS: usize = 8;
/// Requests taken and sealed between two looks at the commit in flight: about half a
/// millisecond of sealing, so a landed commit is followed by the next one promptly.
const SEAL_SLICE: usize = 256;
/// Chains whose tips the writer keeps to seal ahead on (a tip is a head and a frontier
/// of at most 64 hashes: 2 KiB at most, a few hundred bytes for most chains).
/// Past this it forgets them all and learns again from the next commits: the chains
/// appended to lately come back at once, and the rest do not stay.
const MAX_KEPT_TIPS: usize = 10_000;

/// One record of a group: sealed ahead, or to be sealed in the group's transaction.
#[derive(Debug, Clone)]
pub enum Slot {
    Sealed(AuditRecord),
    New(NewAuditRecord),
}

/// A chain whose records in a group were sealed ahead: `from` is the tip the first was
/// sealed onto (the chain's stored head must still be exactly this), `to` the tip after
/// the last.
#[derive(Debug, Clone)]
pub struct Ahead {
    pub from: ChainTip,
    pub to: ChainTip,
}

/// What one transaction appends, in the order the records arrived.
#[derive(Debug, Default)]
pub struct Group {
    pub slots: Vec<Slot>,
    pub ahead: HashMap<String, Ahead>,
}

impl Group {
    /// Records none of which is sealed yet.
    pub fn of_new(records: Vec<NewAuditRecord>) -> Group {
        Group {
            slots: records.into_iter().map(Slot::New).collect(),
            ahead: HashMap::new(),
        }
    }
}

/// A group as committed: its records as stored, in the group's order, and the tips of
/// the chains its transaction sealed (every chain not sealed ahead, or sealed ahead onto
/// a tip that turned out not to be the stored one).
#[derive(Debug, Default)]
pub struct Committed {
    pub records: Vec<AuditRecord>,
    pub sealed_in_commit: BTreeMap<String, ChainTip>,
}

type Commit = Arc<
    dyn Fn(Group) -> Pin<Box<dyn Future<Output = StoreResult<Committed>> + Send>> + Send + Sync,
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
    /// Starts the writer. `commit` stores one group in one transaction, sealing what was
    /// not sealed ahead and checking what was.
    pub fn spawn<F, Fut>(commit: F) -> GroupCommitter
    where
        F: Fn(Group) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = StoreResult<Committed>> + Send + 'static,
    {
        let commit: Commit = Arc::new(move |group| Box::pin(commit(group)));
        let (tx, rx) = mpsc::channel(MAX_GROUP_COMMIT);
        tokio::spawn(Writer::new(commit).run(rx));
        GroupCommitter { tx }
    }

    /// Appends records, returning them sealed once their group is committed.
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

async fn linger_busy(rx: &mut mpsc::Receiver<AppendRequest>, batch: &mut Vec<AppendRequest>) {
    let deadline = tokio::time::Instant::now() + MAX_LINGER;
    while batch.len() < MAX_GROUP_COMMIT {
        let until = deadline.min(tokio::time::Instant::now() + ARRIVAL_GAP);
        let more = MAX_GROUP_COMMIT - batch.len();
        match tokio::time::timeout_at(until, rx.recv_many(batch, more)).await {
            Ok(n) if n > 0 => {}
            _ => break,
        }
    }
}

async fn linger_quiet(rx: &mut mpsc::Receiver<AppendRequest>, batch: &mut Vec<AppendRequest>) {
    for _ in 0..QUIET_YIELDS {
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
}

type Reply = (oneshot::Sender<StoreResult<Vec<AuditRecord>>>, usize);

/// The group being gathered while another commits.
#[derive(Default)]
struct Gathering {
    group: Group,
    replies: Vec<Reply>,
}

impl Gathering {
    fn requests(&self) -> usize {
        self.replies.len()
    }

    /// Takes a request into the group, sealing each record ahead where its chain's tip
    /// is kept. A chain's records in one group are either all sealed ahead or all left
    /// for the commit: a chain gets a kept tip only in `adopt`, which seals what the
    /// group already holds of it.
    fn add(&mut self, request: AppendRequest, tips: &mut HashMap<String, ChainTip>) {
        self.replies.push((request.reply, request.records.len()));
        for new in request.records {
            let chain = new.chain.key();
            match tips.get_mut(&chain) {
                Some(tip) => {
                    self.group.ahead.entry(chain).or_insert_with(|| Ahead {
                        from: tip.clone(),
                        to: tip.clone(),
                    });
                    let sealed = tip.seal(new, AuditRecordId::generate());
                    self.group.slots.push(Slot::Sealed(sealed));
                }
                None => self.group.slots.push(Slot::New(new)),
            }
        }
    }

    /// After a commit landed: the chains it sealed itself now have known tips. Keeps
    /// them, and seals onto them whatever this group holds of those chains (records
    /// left for the commit, or sealed ahead onto a tip the commit found was wrong).
    fn adopt(&mut self, sealed: BTreeMap<String, ChainTip>, tips: &mut HashMap<String, ChainTip>) {
        if tips.len() + sealed.len() > MAX_KEPT_TIPS {
            self.forget_ahead(tips);
        }
        let mut moved: HashMap<String, ChainTip> = HashMap::new();
        for (chain, tip) in sealed {
            moved.insert(chain.clone(), tip.clone());
            tips.insert(chain, tip);
        }
        if moved.is_empty() || self.group.slots.is_empty() {
            return;
        }
        let slots = std::mem::take(&mut self.group.slots);
        self.group.slots = slots
            .into_iter()
            .map(|slot| {
                let chain = match &slot {
                    Slot::Sealed(r) => r.chain.clone(),
                    Slot::New(n) => n.chain.key(),
                };
                let (Some(from), Some(tip)) = (moved.get(&chain), tips.get_mut(&chain)) else {
                    return slot;
                };
                // Each moved chain's first record here: the tip it is now sealed from.
                if tip == from {
                    self.group.ahead.insert(
                        chain,
                        Ahead {
                            from: from.clone(),
                            to: from.clone(),
                        },
                    );
                }
                Slot::Sealed(match slot {
                    Slot::Sealed(r) => tip.reseal(r),
                    Slot::New(n) => tip.seal(n, AuditRecordId::generate()),
                })
            })
            .collect();
    }

    /// After a commit failed, no kept tip can be trusted: the group's records are left
    /// for its own commit to seal from the stored heads.
    fn forget_ahead(&mut self, tips: &mut HashMap<String, ChainTip>) {
        tips.clear();
        self.group.ahead.clear();
    }

    /// The group as it goes to commit, each chain sealed ahead ending at its kept tip.
    fn take(&mut self, tips: &HashMap<String, ChainTip>) -> (Group, Vec<Reply>) {
        let mut gathered = std::mem::take(self);
        gathered
            .group
            .ahead
            .retain(|chain, ahead| match tips.get(chain) {
                Some(tip) => {
                    ahead.to = tip.clone();
                    true
                }
                None => false,
            });
        (gathered.group, gathered.replies)
    }
}

/// A group whose transaction is running, and who waits for it.
struct Flight {
    commit: JoinHandle<StoreResult<Committed>>,
    replies: Vec<Reply>,
}

enum Event {
    Landed(StoreResult<Committed>),
    Arrived(usize),
}

struct Writer {
    commit: Commit,
    /// The tip of each kept chain after everything gathered so far, assuming every
    /// commit in flight lands.
    tips: HashMap<String, ChainTip>,
    next: Gathering,
    flight: Option<Flight>,
    last_group: usize,
}

impl Writer {
    fn new(commit: Commit) -> Writer {
        Writer {
            commit,
            tips: HashMap::new(),
            next: Gathering::default(),
            flight: None,
            last_group: 0,
        }
    }

    async fn run(mut self, mut rx: mpsc::Receiver<AppendRequest>) {
        let mut incoming: Vec<AppendRequest> = Vec::new();
        let mut open = true;
        loop {
            let Some(flight) = self.flight.as_mut() else {
                if self.next.requests() == 0 {
                    if !open || rx.recv_many(&mut incoming, MAX_GROUP_COMMIT).await == 0 {
                        return;
                    }
                    if self.last_group >= BUSY_GROUP {
                        linger_busy(&mut rx, &mut incoming).await;
                    } else {
                        linger_quiet(&mut rx, &mut incoming).await;
                    }
                    for request in incoming.drain(..) {
                        self.next.add(request, &mut self.tips);
                    }
                }
                self.launch();
                continue;
            };
            let room = MAX_GROUP_COMMIT.saturating_sub(self.next.requests());
            let event = tokio::select! {
                biased;
                landed = &mut flight.commit => Event::Landed(landed.unwrap_or_else(|e| {
                    Err(StoreError::Database(format!("the audit commit task failed: {e}")))
                })),
                n = rx.recv_many(&mut incoming, room.min(SEAL_SLICE)), if open && room > 0 => {
                    Event::Arrived(n)
                }
            };
            match event {
                Event::Arrived(0) => open = false,
                Event::Arrived(_) => {
                    for request in incoming.drain(..) {
                        self.next.add(request, &mut self.tips);
                    }
                }
                Event::Landed(outcome) => self.land(outcome),
            }
        }
    }

    /// Sends the gathered group to commit, on its own task, so the next one can be
    /// gathered and sealed meanwhile.
    fn launch(&mut self) {
        let (group, replies) = self.next.take(&self.tips);
        self.last_group = replies.len();
        self.flight = Some(Flight {
            commit: tokio::spawn((self.commit)(group)),
            replies,
        });
    }

    /// A commit landed: the next group goes out first, then the callers are answered.
    fn land(&mut self, outcome: StoreResult<Committed>) {
        let Some(Flight { replies, .. }) = self.flight.take() else {
            return;
        };
        let answer: Result<Vec<AuditRecord>, String> = match outcome {
            Ok(committed) => {
                self.next.adopt(committed.sealed_in_commit, &mut self.tips);
                Ok(committed.records)
            }
            Err(e) => {
                tracing::error!(error = %e, "audit group commit failed");
                self.next.forget_ahead(&mut self.tips);
                Err(e.to_string())
            }
        };
        if self.next.requests() > 0 {
            self.launch();
        }
        match answer {
            Ok(records) => {
                let mut records = records.into_iter();
                for (reply, n) in replies {
                    let _ = reply.send(Ok(records.by_ref().take(n).collect()));
                }
            }
            Err(msg) => {
                for (reply, _) in replies {
                    let _ = reply.send(Err(StoreError::Database(msg.clone())));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candor_domain::audit::{ActorKind, AuditChain, ChainHead};
    use candor_domain::TenantId;

    fn new_record(chain: AuditChain, i: usize) -> NewAuditRecord {
        NewAuditRecord::new(
            chain,
            time::OffsetDateTime::UNIX_EPOCH,
            format!("user{i}@x.example"),
            ActorKind::TenantUser,
            "UserLoggedIn",
        )
    }

    fn request(records: Vec<NewAuditRecord>) -> AppendRequest {
        AppendRequest {
            records,
            reply: oneshot::channel().0,
        }
    }

    fn tip_after(n: usize, chain: AuditChain) -> ChainTip {
        let mut tip = ChainTip::default();
        for i in 0..n {
            tip.seal(new_record(chain, i), AuditRecordId::generate());
        }
        tip
    }

    fn sealed(slot: &Slot) -> &AuditRecord {
        match slot {
            Slot::Sealed(r) => r,
            Slot::New(n) => panic!("{n:?} was left unsealed"),
        }
    }

    #[test]
    fn a_kept_chain_is_sealed_ahead_and_an_unknown_one_left_for_the_commit() {
        let (a, b) = (
            AuditChain::Tenant(TenantId::generate()),
            AuditChain::Tenant(TenantId::generate()),
        );
        let kept = tip_after(3, a);
        let mut tips = HashMap::from([(a.key(), kept.clone())]);
        let mut gathering = Gathering::default();
        gathering.add(
            request(vec![
                new_record(a, 10),
                new_record(b, 11),
                new_record(a, 12),
            ]),
            &mut tips,
        );
        let (group, replies) = gathering.take(&tips);
        assert_eq!(replies.len(), 1);
        assert!(matches!(group.slots[1], Slot::New(_)));
        let (first, second) = (sealed(&group.slots[0]), sealed(&group.slots[2]));
        assert_eq!((first.seq, second.seq), (4, 5));
        assert_eq!(second.prev_hash, first.hash);
        let ahead = &group.ahead[&a.key()];
        assert_eq!(ahead.from, kept);
        assert_eq!(
            ahead.to.head,
            ChainHead {
                seq: 5,
                hash: second.hash
            }
        );
        assert_eq!(ahead.to, tips[&a.key()]);
        assert!(!group.ahead.contains_key(&b.key()));
    }

    #[test]
    fn tips_learned_from_a_commit_reseal_what_was_gathered_meanwhile() {
        let (a, b) = (
            AuditChain::Tenant(TenantId::generate()),
            AuditChain::Tenant(TenantId::generate()),
        );
        // A's kept tip is stale: another writer appended to it.
        let mut tips = HashMap::from([(a.key(), tip_after(3, a))]);
        let mut gathering = Gathering::default();
        gathering.add(
            request(vec![new_record(a, 10), new_record(b, 11)]),
            &mut tips,
        );
        gathering.add(
            request(vec![new_record(b, 12), new_record(a, 13)]),
            &mut tips,
        );
        // The commit in flight sealed A (its head had moved to 7) and B (new, now at 2).
        let (stored_a, stored_b) = (tip_after(7, a), tip_after(2, b));
        gathering.adopt(
            BTreeMap::from([(a.key(), stored_a.clone()), (b.key(), stored_b.clone())]),
            &mut tips,
        );
        let (group, _) = gathering.take(&tips);
        for (chain, from, seqs) in [(a, &stored_a, [8, 9]), (b, &stored_b, [3, 4])] {
            let records: Vec<&AuditRecord> = group
                .slots
                .iter()
                .map(sealed)
                .filter(|r| r.chain == chain.key())
                .collect();
            assert_eq!(records.iter().map(|r| r.seq).collect::<Vec<_>>(), seqs);
            let ahead = &group.ahead[&chain.key()];
            assert_eq!(&ahead.from, from);
            // The records continue the stored chain exactly as if sealed there at first.
            let mut tip = from.clone();
            for r in records {
                assert_eq!(&tip.reseal(r.clone()), r);
            }
            assert_eq!(tip, ahead.to);
        }
    }

    #[test]
    fn a_full_set_of_kept_tips_is_started_over() {
        let (a, b) = (
            AuditChain::Tenant(TenantId::generate()),
            AuditChain::Tenant(TenantId::generate()),
        );
        let mut tips: HashMap<String, ChainTip> = (0..MAX_KEPT_TIPS - 1)
            .map(|i| (format!("tenant:{i}"), ChainTip::default()))
            .collect();
        tips.insert(a.key(), tip_after(2, a));
        let mut gathering = Gathering::default();
        gathering.add(request(vec![new_record(a, 1)]), &mut tips);
        let stored_b = tip_after(4, b);
        gathering.adopt(BTreeMap::from([(b.key(), stored_b.clone())]), &mut tips);
        assert_eq!(tips, HashMap::from([(b.key(), stored_b)]));
        let (group, _) = gathering.take(&tips);
        assert!(
            group.ahead.is_empty(),
            "A's record is sealed again in its commit"
        );
    }

    #[test]
    fn after_a_failed_commit_nothing_is_sealed_ahead() {
        let a = AuditChain::Tenant(TenantId::generate());
        let mut tips = HashMap::from([(a.key(), tip_after(3, a))]);
        let mut gathering = Gathering::default();
        gathering.add(request(vec![new_record(a, 1)]), &mut tips);
        gathering.forget_ahead(&mut tips);
        gathering.add(request(vec![new_record(a, 2)]), &mut tips);
        let (group, _) = gathering.take(&tips);
        assert!(group.ahead.is_empty(), "the commit seals every chain");
        assert!(matches!(group.slots[1], Slot::New(_)));
    }
}
