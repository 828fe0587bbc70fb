//! Counters: per queue, summed per process.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// One queue's counters (the user-side view).
#[derive(Debug, Default)]
pub struct QueueCounters {
    pub requests: AtomicU64,
    pub bytes_in: AtomicU64,
    pub bytes_out: AtomicU64,
    pub errors: AtomicU64,
    pub doorbells: AtomicU64,
    pub max_inflight: AtomicU64,
    /// Requests this queue's submitter claimed back from the engine.
    pub claimed: AtomicU64,
}

/// A snapshot of the process's counters.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
#[repr(C)]
pub struct Stats {
    /// Requests that went through a queue.
    pub offloaded: u64,
    /// Requests run in the caller's thread (too small, or no device).
    pub inline: u64,
    /// Queue requests that failed on the device and were re-run in software.
    pub fallbacks: u64,
    /// Of `inline`, one-shot requests below the inline threshold (size policy).
    pub small: u64,
    /// Of `inline`, one-shot requests that found no queue (no device, every
    /// queue bound, a bind that failed).
    pub no_queue: u64,
    /// Requests refused because they would have run in software in strict
    /// mode (`WARPDRIVE_STRICT=1`); they failed with `Error::DeviceOnly`.
    pub refused: u64,
    /// Requests that ended in an error (bad input included).
    pub errors: u64,
    pub bytes_in: u64,
    pub bytes_out: u64,
    /// Doorbells rung (syscalls or futex wakes) for queue requests.
    pub doorbells: u64,
    /// Most requests one queue had in flight at once.
    pub max_inflight: u64,
    /// Queues created so far.
    pub queues: u64,
    /// Of `offloaded`, requests no engine took within the hand-off budget,
    /// which their submitting thread claimed back and ran itself.
    pub claimed: u64,
}

impl Stats {
    /// The counters as JSON members (no braces), in the order both the live
    /// record and the stats file have always written them.
    pub(crate) fn json_members(&self) -> String {
        format!(
            "\"offloaded\":{},\"inline\":{},\"fallbacks\":{},\"small\":{},\"no_queue\":{},\"refused\":{},\"errors\":{},\"bytes_in\":{},\"bytes_out\":{},\"doorbells\":{},\"max_inflight\":{},\"queues\":{}",
            self.offloaded,
            self.inline,
            self.fallbacks,
            self.small,
            self.no_queue,
            self.refused,
            self.errors,
            self.bytes_in,
            self.bytes_out,
            self.doorbells,
            self.max_inflight,
            self.queues
        )
    }
}

#[derive(Debug, Default)]
pub(crate) struct ProcessCounters {
    pub inline: AtomicU64,
    pub fallbacks: AtomicU64,
    pub small: AtomicU64,
    pub no_queue: AtomicU64,
    pub refused: AtomicU64,
    pub inline_errors: AtomicU64,
    pub inline_bytes_in: AtomicU64,
    pub inline_bytes_out: AtomicU64,
    pub queues: Mutex<Vec<Arc<QueueCounters>>>,
}

impl ProcessCounters {
    pub fn new_queue(&self) -> Arc<QueueCounters> {
        let c = Arc::new(QueueCounters::default());
        self.queues.lock().unwrap().push(c.clone());
        c
    }

    pub fn snapshot(&self) -> Stats {
        let r = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let mut s = Stats {
            inline: r(&self.inline),
            fallbacks: r(&self.fallbacks),
            small: r(&self.small),
            no_queue: r(&self.no_queue),
            refused: r(&self.refused),
            errors: r(&self.inline_errors),
            bytes_in: r(&self.inline_bytes_in),
            bytes_out: r(&self.inline_bytes_out),
            ..Default::default()
        };
        let queues = self.queues.lock().unwrap();
        s.queues = queues.len() as u64;
        for q in queues.iter() {
            s.offloaded += r(&q.requests);
            s.bytes_in += r(&q.bytes_in);
            s.bytes_out += r(&q.bytes_out);
            s.errors += r(&q.errors);
            s.doorbells += r(&q.doorbells);
            s.claimed += r(&q.claimed);
            s.max_inflight = s.max_inflight.max(r(&q.max_inflight));
        }
        s
    }
}
