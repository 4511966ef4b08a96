//! Group commit of audit records by flat combining. A request appends its line to the open
//! batch; the one that finds no writer at work takes the writer role and, on its own thread,
//! writes that batch and those gathered meanwhile (one write per batch and sink), settling
//! each batch's outcome for the requests waiting on it. While the sinks keep up a record
//! costs neither a thread hand-off nor a wake-up, and a request is still answered only once
//! its record was accepted. A batch that may block (a sync to disk, a rotation, stdout) and
//! a writer role held longer than a request should wait move to a blocking thread.

use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use tokio::sync::Notify;

use super::sinks::Sinks;

/// Records the open batch holds at most: past it requests wait and events are refused
/// (backpressure instead of unbounded memory while a sink is slow).
pub(super) const MAX_OPEN_RECORDS: usize = 4096;

/// How long a request that took the writer role keeps writing other requests' batches before
/// it hands the role to a blocking thread and goes back to answering its own caller.
const HAND_OFF_AFTER: Duration = Duration::from_micros(200);

const PENDING: u8 = 0;
const ACCEPTED: u8 = 1;
const REFUSED: u8 = 2;

/// The outcome of one batch, shared by the records in it that wait for it.
#[derive(Debug, Default)]
pub(super) struct Outcome {
    state: AtomicU8,
    settled: Notify,
}

impl Outcome {
    fn settle(&self, accepted: bool) {
        let state = if accepted { ACCEPTED } else { REFUSED };
        self.state.store(state, Ordering::Release);
        self.settled.notify_waiters();
    }

    fn get(&self) -> Option<bool> {
        match self.state.load(Ordering::Acquire) {
            PENDING => None,
            state => Some(state == ACCEPTED),
        }
    }

    /// Waits until the batch was written; whether a sink accepted it.
    pub(super) async fn accepted(&self) -> bool {
        loop {
            let notified = self.settled.notified();
            tokio::pin!(notified);
            // Registered before the check, so a settle in between is not missed.
            notified.as_mut().enable();
            if let Some(accepted) = self.get() {
                return accepted;
            }
            notified.await;
        }
    }
}

/// A batch taken by the writer (its bytes are in `Sinks::batch`).
struct Batch {
    records: usize,
    outcome: Option<Arc<Outcome>>,
}

/// The writer role: the sinks, taken out of the journal, and the batch to write first.
pub(super) struct Writer {
    sinks: Sinks,
    batch: Batch,
}

/// What the author of an appended record does next.
pub(super) enum Appended {
    /// Nothing: an event is queued and the writer at work will write it.
    Queued,
    /// Wait for the batch's outcome: the writer at work will write it.
    Wait(Arc<Outcome>),
    /// Write: no writer was at work, so the author now holds the role.
    Write(Writer),
    /// The open batch is full: wait until it was written, then append again.
    Full(Arc<Outcome>),
    /// The open batch is full and an event does not wait: it is dropped.
    Refused,
}

/// The first batch's fate after `Journal::write_inline`.
pub(super) enum Written {
    Done(bool),
    /// Handed to a blocking thread; settled there.
    Pending(Arc<Outcome>),
}

struct State {
    /// Present while no writer is at work: taking it is taking the writer role. Whenever
    /// it is present the open batch is empty (the writer leaves only when nothing is left).
    sinks: Option<Sinks>,
    open: Vec<u8>,
    records: usize,
    /// Shared by the open batch's waiting records; made when the first of them waits.
    outcome: Option<Arc<Outcome>>,
}

pub(super) struct Journal {
    state: Mutex<State>,
    /// Records and events that no sink accepted or the full batch refused.
    failures: AtomicU64,
}

impl Journal {
    pub(super) fn new(sinks: Sinks) -> Journal {
        Journal {
            state: Mutex::new(State {
                sinks: Some(sinks),
                open: Vec::new(),
                records: 0,
                outcome: None,
            }),
            failures: AtomicU64::new(0),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // The state stays consistent across a panic: every change is a single step.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Records waiting in the open batch.
    pub(super) fn depth(&self) -> usize {
        self.lock().records
    }

    pub(super) fn failures(&self) -> u64 {
        self.failures.load(Ordering::Relaxed)
    }

    pub(super) fn failed(&self, records: u64) {
        self.failures.fetch_add(records, Ordering::Relaxed);
    }

    /// Appends one line (`waits`: a request that must learn whether it was accepted).
    pub(super) fn append(&self, line: &[u8], waits: bool) -> Appended {
        let mut state = self.lock();
        if state.records >= MAX_OPEN_RECORDS {
            if !waits {
                return Appended::Refused;
            }
            return Appended::Full(state.outcome.get_or_insert_with(Arc::default).clone());
        }
        state.open.extend_from_slice(line);
        state.records += 1;
        match state.sinks.take() {
            Some(sinks) => Appended::Write(take(&mut state, sinks)),
            None if waits => Appended::Wait(state.outcome.get_or_insert_with(Arc::default).clone()),
            None => Appended::Queued,
        }
    }

    /// Holds the writer role on a thread that serves requests: writes the batch taken and
    /// those gathered meanwhile, for a bounded time; a batch that may block, and anything
    /// left after that time, goes to a blocking thread (outside a runtime: written here).
    pub(super) fn write_inline(self: &Arc<Self>, writer: Writer) -> Written {
        let Writer {
            mut sinks,
            mut batch,
        } = writer;
        let started = Instant::now();
        let mut first = None;
        loop {
            let slow = sinks.may_block(sinks.batch.len()) || started.elapsed() >= HAND_OFF_AFTER;
            if let Some(Ok(runtime)) = slow.then(tokio::runtime::Handle::try_current) {
                let outcome = batch.outcome.get_or_insert_with(Arc::default).clone();
                let handoff = HandOff {
                    journal: Arc::clone(self),
                    writer: Some(Writer { sinks, batch }),
                };
                runtime.spawn_blocking(move || handoff.run());
                return first.map_or(Written::Pending(outcome), Written::Done);
            }
            let accepted = self.write(&mut sinks, &mut batch);
            let own = *first.get_or_insert(accepted);
            match self.next(sinks) {
                Some(writer) => (sinks, batch) = (writer.sinks, writer.batch),
                None => return Written::Done(own),
            }
        }
    }

    /// Holds the writer role on a thread of its own until nothing is left to write.
    fn write_until_empty(&self, writer: Writer) {
        let mut next = Some(writer);
        while let Some(Writer {
            mut sinks,
            mut batch,
        }) = next
        {
            self.write(&mut sinks, &mut batch);
            next = self.next(sinks);
        }
    }

    fn write(&self, sinks: &mut Sinks, batch: &mut Batch) -> bool {
        let accepted = sinks.write_batch();
        if !accepted {
            self.failed(batch.records as u64);
        }
        if let Some(outcome) = batch.outcome.take() {
            outcome.settle(accepted);
        }
        accepted
    }

    /// The next batch to write, or `None` once the role is given back (nothing was left).
    fn next(&self, sinks: Sinks) -> Option<Writer> {
        let mut state = self.lock();
        if state.records == 0 {
            state.sinks = Some(sinks);
            return None;
        }
        Some(take(&mut state, sinks))
    }
}

/// Moves the open batch into the writer's buffer (the two buffers swap, none is reallocated).
fn take(state: &mut State, mut sinks: Sinks) -> Writer {
    sinks.batch.clear();
    std::mem::swap(&mut state.open, &mut sinks.batch);
    let batch = Batch {
        records: std::mem::take(&mut state.records),
        outcome: state.outcome.take(),
    };
    Writer { sinks, batch }
}

/// The writer role on its way to a blocking thread. Should the runtime drop the task
/// unrun (it is shutting down), the batches are written where it is dropped, not lost.
struct HandOff {
    journal: Arc<Journal>,
    writer: Option<Writer>,
}

impl HandOff {
    fn run(mut self) {
        if let Some(writer) = self.writer.take() {
            self.journal.write_until_empty(writer);
        }
    }
}

impl Drop for HandOff {
    fn drop(&mut self) {
        if let Some(writer) = self.writer.take() {
            self.journal.write_until_empty(writer);
        }
    }
}

impl Drop for Journal {
    /// Whatever is still open when the last handle goes is written (only events can be: a
    /// waiting request holds a handle).
    fn drop(&mut self) {
        let state = self.state.get_mut().unwrap_or_else(PoisonError::into_inner);
        if let Some(sinks) = state.sinks.take() {
            if state.records > 0 {
                let writer = take(state, sinks);
                self.write_until_empty(writer);
            }
        }
    }
}

#[cfg(test)]
mod tests;
