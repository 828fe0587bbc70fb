//! The submission and completion rings, over memory shared with an engine.
//!
//! # Memory-ordering contract
//!
//! This is the contract written in `include/uapi/warpdrive.h`; the kernel
//! module follows the same one. Each pairing is named where it happens:
//!
//! * (A) SQ producer: write descriptor, then `tail.store(Release)`.
//!   SQ consumer: `tail.load(Acquire)`, then read descriptors below it.
//! * (B) SQ consumer: copy descriptors out, then `head.store(Release)`.
//!   SQ producer: `head.load(Acquire)` before it reuses a slot.
//! * (C) CQ producer: write the completion, `status.store(Release)` last, then
//!   `tail.store(Release)`. CQ consumer: `tail.load(Acquire)`, then read it.
//! * (D) CQ consumer: copy the completion out, then `head.store(Release)`.
//!   CQ producer: `head.load(Acquire)` before it reuses a slot.
//! * (E) Sleep/wake: a consumer sets NEED_WAKEUP, `fence(SeqCst)`, re-reads the
//!   tail, and only then sleeps. A producer stores its tail, `fence(SeqCst)`,
//!   and reads the flags: if NEED_WAKEUP is set it wakes the consumer. With a
//!   full fence on both sides one of them always sees the other: no lost
//!   wakeup.
//!
//! * (F) Claims, software device only: each SQ slot has a claim word in
//!   process-private memory (`Claims`, not in the mapping and not part of the
//!   ABI). The producer stores SUBMITTED before (A) publishes the slot. The
//!   engine, after copying the descriptor, CASes SUBMITTED -> TAKEN and runs
//!   it only if that succeeds; the submitter may CAS SUBMITTED -> CLAIMED and
//!   then runs the request itself. Exactly one CAS wins, so every request runs
//!   once. A claimed slot gets no completion: the engine skips it and only
//!   moves its head past it, and the claim word is rewritten only after (B)
//!   hands the slot back. The kernel module has no claim words: a submitter
//!   on a kernel queue always waits for the completion.
//!
//! Shared memory is only touched through raw pointers (volatile copies of whole
//! entries) and atomics: never through Rust references, since another agent
//! (an engine thread or the kernel) writes it concurrently.

use std::ptr;
use std::sync::atomic::{fence, AtomicU32, Ordering};

use memmap2::MmapRaw;

use crate::uapi::{
    WdCqe, WdDesc, WdRingOffsets, WD_MAX_RING_ENTRIES, WD_RING_DEAD, WD_RING_NEED_WAKEUP,
};

/// The ring memory as the software device lays it out; the kernel module
/// reports its own layout through the same offsets struct.
pub(crate) struct Layout {
    pub sq: WdRingOffsets,
    pub cq: WdRingOffsets,
    pub sq_entries: u32,
    pub cq_entries: u32,
    pub size: usize,
}

impl Layout {
    /// Header page with each index on its own cache line, then the SQ entries,
    /// then the CQ entries, each array page aligned.
    pub fn new(sq_entries: u32, cq_entries: u32, page: usize) -> Layout {
        let round = |n: usize| n.div_ceil(page) * page;
        let sq_array = page;
        let cq_array = sq_array + round(sq_entries as usize * size_of::<WdDesc>());
        let size = cq_array + round(cq_entries as usize * size_of::<WdCqe>());
        let offsets = |base: u32, array: usize| WdRingOffsets {
            head: base,
            tail: base + 64,
            ring_mask: base + 128,
            ring_entries: base + 132,
            flags: base + 136,
            dropped: base + 140,
            entries: array as u32,
            resv: 0,
        };
        Layout {
            sq: offsets(0, sq_array),
            cq: offsets(256, cq_array),
            sq_entries,
            cq_entries,
            size,
        }
    }

    /// Writes the read-only fields (mask, entries) into fresh ring memory.
    pub fn init(&self, map: &MmapRaw) {
        for (off, entries) in [(&self.sq, self.sq_entries), (&self.cq, self.cq_entries)] {
            // SAFETY: the layout was built for this mapping's size; the fields
            // are 4-byte aligned u32s inside the header page; nobody else has
            // the memory yet.
            unsafe {
                let base = map.as_mut_ptr();
                ptr::write_volatile(base.add(off.ring_mask as usize).cast::<u32>(), entries - 1);
                ptr::write_volatile(base.add(off.ring_entries as usize).cast::<u32>(), entries);
            }
        }
    }
}

/// Why a mapping or its indices cannot be trusted.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RingError {
    #[error("ring offsets do not fit the mapping")]
    BadOffsets,
    #[error("ring size {0} is not a power of two up to {WD_MAX_RING_ENTRIES}")]
    BadSize(u32),
    #[error("ring indices are corrupt (head {head}, tail {tail}, entries {entries})")]
    Corrupt { head: u32, tail: u32, entries: u32 },
}

/// Raw pointers to one ring's fields inside a mapping, checked once.
#[derive(Clone, Copy)]
struct RingPtrs<T> {
    head: *const AtomicU32,
    tail: *const AtomicU32,
    flags: *const AtomicU32,
    dropped: *const AtomicU32,
    entries: *mut T,
    mask: u32,
    count: u32,
}

impl<T> RingPtrs<T> {
    /// Checks every offset against the mapping and reads the entry count.
    fn new(map: &MmapRaw, off: &WdRingOffsets) -> Result<Self, RingError> {
        let len = map.len();
        let word_ok = |o: u32| (o as usize) % 4 == 0 && (o as usize) + 4 <= len;
        if ![
            off.head,
            off.tail,
            off.flags,
            off.dropped,
            off.ring_mask,
            off.ring_entries,
        ]
        .into_iter()
        .all(word_ok)
        {
            return Err(RingError::BadOffsets);
        }
        let base = map.as_mut_ptr();
        // SAFETY: bounds and alignment checked just above.
        let count =
            unsafe { ptr::read_volatile(base.add(off.ring_entries as usize).cast::<u32>()) };
        if !count.is_power_of_two() || count > WD_MAX_RING_ENTRIES {
            return Err(RingError::BadSize(count));
        }
        let array_end = (off.entries as usize).checked_add(count as usize * size_of::<T>());
        if (off.entries as usize) % align_of::<T>() != 0 || array_end.is_none_or(|e| e > len) {
            return Err(RingError::BadOffsets);
        }
        // SAFETY: every offset was checked to lie inside the mapping, aligned.
        unsafe {
            Ok(RingPtrs {
                head: base.add(off.head as usize).cast(),
                tail: base.add(off.tail as usize).cast(),
                flags: base.add(off.flags as usize).cast(),
                dropped: base.add(off.dropped as usize).cast(),
                entries: base.add(off.entries as usize).cast(),
                mask: count - 1,
                count,
            })
        }
    }

    fn head(&self) -> &AtomicU32 {
        // SAFETY: checked in new(); the mapping outlives self (owners keep the
        // MmapRaw alive beside every RingPtrs); AtomicU32 tolerates sharing.
        unsafe { &*self.head }
    }
    fn tail(&self) -> &AtomicU32 {
        // SAFETY: as in head().
        unsafe { &*self.tail }
    }
    fn flags(&self) -> &AtomicU32 {
        // SAFETY: as in head().
        unsafe { &*self.flags }
    }
    fn dropped(&self) -> &AtomicU32 {
        // SAFETY: as in head().
        unsafe { &*self.dropped }
    }
    /// Free slots for the producer at `tail`. `cache` holds the consumer's
    /// head as last loaded: the head only moves forward, so a cached value
    /// under-counts free slots, never over-counts, and those slots were
    /// acquired when it was loaded. Only when it shows none is the shared
    /// head loaded again (acquire), sparing its cache line on most pushes.
    fn producer_space(&self, tail: u32, cache: &std::cell::Cell<u32>) -> u32 {
        let cached = self.count.saturating_sub(tail.wrapping_sub(cache.get()));
        if cached > 0 {
            return cached;
        }
        let head = self.head().load(Ordering::Acquire);
        cache.set(head);
        self.count.saturating_sub(tail.wrapping_sub(head))
    }

    fn slot(&self, index: u32) -> *mut T {
        // SAFETY: index & mask < count, and the array was checked to hold
        // count entries.
        unsafe { self.entries.add((index & self.mask) as usize) }
    }
}

// The pointers refer to shared memory that is only touched atomically or under
// the ring protocol; the owners keep the mapping alive.
// SAFETY: see above.
unsafe impl<T> Send for RingPtrs<T> {}

/// A claim word's states (F); FREE until the slot's first submission.
const SLOT_FREE: u32 = 0;
const SLOT_SUBMITTED: u32 = 1;
const SLOT_TAKEN: u32 = 2;
const SLOT_CLAIMED: u32 = 3;

/// The claim words of one software SQ, one per slot (F).
pub(crate) struct Claims {
    words: Box<[AtomicU32]>,
    mask: u32,
}

impl Claims {
    /// For a ring of `entries` slots (a power of two).
    pub fn new(entries: u32) -> Claims {
        debug_assert!(entries.is_power_of_two());
        Claims {
            words: (0..entries).map(|_| AtomicU32::new(SLOT_FREE)).collect(),
            mask: entries - 1,
        }
    }

    fn word(&self, index: u32) -> &AtomicU32 {
        &self.words[(index & self.mask) as usize]
    }

    /// Producer, before (A) publishes the slot at `index`.
    pub fn submitted(&self, index: u32) {
        self.word(index).store(SLOT_SUBMITTED, Ordering::Relaxed);
    }

    /// Engine: true if it now owns the request at `index`, false if its
    /// submitter claimed it (then the engine must not run or complete it).
    pub fn take(&self, index: u32) -> bool {
        self.word(index)
            .compare_exchange(
                SLOT_SUBMITTED,
                SLOT_TAKEN,
                Ordering::AcqRel,
                Ordering::Acquire,
            )
            .is_ok()
    }

    /// Submitter: true if it now owns the request at `index` and must run it
    /// itself; false if an engine took it first (its completion will come).
    pub fn claim(&self, index: u32) -> bool {
        self.word(index)
            .compare_exchange(
                SLOT_SUBMITTED,
                SLOT_CLAIMED,
                Ordering::AcqRel,
                Ordering::Acquire,
            )
            .is_ok()
    }

    /// Whether an engine has taken the request at `index`.
    pub fn is_taken(&self, index: u32) -> bool {
        self.word(index).load(Ordering::Acquire) == SLOT_TAKEN
    }
}

/// User side of the submission ring.
pub(crate) struct SqProducer {
    ring: RingPtrs<WdDesc>,
    tail: u32,
    /// The consumer's head as last loaded: space() trusts it while it shows
    /// room, so a submit does not pull the engine's head line every time.
    head_cache: std::cell::Cell<u32>,
}

impl SqProducer {
    /// # Safety
    /// `map` must stay mapped for as long as the returned value lives.
    pub unsafe fn new(map: &MmapRaw, off: &WdRingOffsets) -> Result<Self, RingError> {
        let ring = RingPtrs::new(map, off)?;
        let tail = ring.tail().load(Ordering::Relaxed);
        let head = ring.head().load(Ordering::Acquire);
        Ok(SqProducer {
            ring,
            tail,
            head_cache: std::cell::Cell::new(head),
        })
    }

    /// Free slots, as far as this producer can tell.
    pub fn space(&self) -> u32 {
        // (B): the consumer's head, acquired before reusing its slots.
        self.ring.producer_space(self.tail, &self.head_cache)
    }

    /// The index the next `push` fills.
    pub fn tail(&self) -> u32 {
        self.tail
    }

    /// Writes one descriptor; invisible to the engine until `publish`.
    pub fn push(&mut self, desc: &WdDesc) -> bool {
        if self.space() == 0 {
            return false;
        }
        // SAFETY: the slot is inside the ring and not owned by the consumer
        // (space() > 0 under (B)).
        unsafe { ptr::write_volatile(self.ring.slot(self.tail), *desc) };
        self.tail = self.tail.wrapping_add(1);
        true
    }

    /// Makes pushed descriptors visible and says whether the engine sleeps.
    pub fn publish(&mut self) -> bool {
        // (A): descriptors before tail.
        self.ring.tail().store(self.tail, Ordering::Release);
        // (E): producer side of the wakeup handshake.
        fence(Ordering::SeqCst);
        self.ring.flags().load(Ordering::Relaxed) & WD_RING_NEED_WAKEUP != 0
    }

    pub fn is_dead(&self) -> bool {
        self.ring.flags().load(Ordering::Acquire) & WD_RING_DEAD != 0
    }

    /// Whether the consumer has announced a sleep (E): a hint only, for
    /// choosing not to publish; publish() is what decides the doorbell.
    pub fn engine_sleeps(&self) -> bool {
        self.ring.flags().load(Ordering::Relaxed) & WD_RING_NEED_WAKEUP != 0
    }
}

/// User side of the completion ring.
pub(crate) struct CqConsumer {
    ring: RingPtrs<WdCqe>,
    head: u32,
}

impl CqConsumer {
    /// # Safety
    /// `map` must stay mapped for as long as the returned value lives.
    pub unsafe fn new(map: &MmapRaw, off: &WdRingOffsets) -> Result<Self, RingError> {
        let ring = RingPtrs::new(map, off)?;
        let head = ring.head().load(Ordering::Relaxed);
        Ok(CqConsumer { ring, head })
    }

    pub fn entries(&self) -> u32 {
        self.ring.count
    }

    /// Takes the next completion, if any.
    pub fn pop(&mut self) -> Result<Option<WdCqe>, RingError> {
        // (C): acquire the tail, then read the entry.
        let tail = self.ring.tail().load(Ordering::Acquire);
        let ready = tail.wrapping_sub(self.head);
        if ready == 0 {
            return Ok(None);
        }
        if ready > self.ring.count {
            return Err(RingError::Corrupt {
                head: self.head,
                tail,
                entries: self.ring.count,
            });
        }
        let slot = self.ring.slot(self.head);
        // SAFETY: the slot lies below the published tail, so the producer is
        // done with it until we move head past it (C/D).
        let mut cqe = unsafe { ptr::read_volatile(slot) };
        // SAFETY: status is an aligned u32 inside the slot.
        let status = unsafe { &*ptr::addr_of!((*slot).status).cast::<AtomicU32>() };
        cqe.status = status.load(Ordering::Acquire);
        self.head = self.head.wrapping_add(1);
        // (D): hand the slot back.
        self.ring.head().store(self.head, Ordering::Release);
        Ok(Some(cqe))
    }

    /// Address of the tail word, the futex a waiter sleeps on.
    pub fn tail_word(&self) -> &AtomicU32 {
        self.ring.tail()
    }

    pub fn head(&self) -> u32 {
        self.head
    }

    /// (E) consumer side: announce that we are about to sleep; returns true if
    /// a completion arrived meanwhile (then do not sleep).
    pub fn prepare_sleep(&self) -> bool {
        self.ring
            .flags()
            .fetch_or(WD_RING_NEED_WAKEUP, Ordering::Relaxed);
        fence(Ordering::SeqCst);
        self.ring.tail().load(Ordering::Acquire) != self.head
    }

    pub fn end_sleep(&self) {
        self.ring
            .flags()
            .fetch_and(!WD_RING_NEED_WAKEUP, Ordering::Relaxed);
    }

    pub fn is_dead(&self) -> bool {
        self.ring.flags().load(Ordering::Acquire) & WD_RING_DEAD != 0
    }
}

/// Engine side of the submission ring (the software device).
pub(crate) struct SqConsumer {
    ring: RingPtrs<WdDesc>,
    head: u32,
}

impl SqConsumer {
    /// # Safety
    /// `map` must stay mapped for as long as the returned value lives.
    pub unsafe fn new(map: &MmapRaw, off: &WdRingOffsets) -> Result<Self, RingError> {
        let ring = RingPtrs::new(map, off)?;
        Ok(SqConsumer { ring, head: 0 })
    }

    /// Descriptors published and not yet taken. Indices claiming more than the
    /// ring holds are corrupt: the caller kills the queue.
    pub fn pending(&self) -> Result<u32, RingError> {
        // (A): acquire the producer's tail.
        let tail = self.ring.tail().load(Ordering::Acquire);
        let n = tail.wrapping_sub(self.head);
        if n > self.ring.count {
            return Err(RingError::Corrupt {
                head: self.head,
                tail,
                entries: self.ring.count,
            });
        }
        Ok(n)
    }

    /// The index the next `take` reads.
    pub fn head(&self) -> u32 {
        self.head
    }

    /// Copies the next descriptor out; the copy is what gets validated.
    pub fn take(&mut self) -> WdDesc {
        // SAFETY: the caller saw pending() > 0, so the slot lies below the
        // published tail and the producer will not reuse it before (B).
        let desc = unsafe { ptr::read_volatile(self.ring.slot(self.head)) };
        self.head = self.head.wrapping_add(1);
        desc
    }

    /// (B): returns the taken slots to the producer.
    pub fn release(&self) {
        self.ring.head().store(self.head, Ordering::Release);
    }

    /// (E) consumer side; returns true if work arrived meanwhile.
    pub fn prepare_sleep(&self) -> bool {
        self.ring
            .flags()
            .fetch_or(WD_RING_NEED_WAKEUP, Ordering::Relaxed);
        fence(Ordering::SeqCst);
        self.ring.tail().load(Ordering::Acquire) != self.head
    }

    pub fn end_sleep(&self) {
        self.ring
            .flags()
            .fetch_and(!WD_RING_NEED_WAKEUP, Ordering::Relaxed);
    }

    pub fn mark_dead(&self) {
        self.ring.flags().fetch_or(WD_RING_DEAD, Ordering::Release);
    }
}

/// Engine side of the completion ring.
pub(crate) struct CqProducer {
    ring: RingPtrs<WdCqe>,
    tail: u32,
    /// As SqProducer::head_cache, for the completion ring.
    head_cache: std::cell::Cell<u32>,
}

impl CqProducer {
    /// # Safety
    /// `map` must stay mapped for as long as the returned value lives.
    pub unsafe fn new(map: &MmapRaw, off: &WdRingOffsets) -> Result<Self, RingError> {
        let ring = RingPtrs::new(map, off)?;
        Ok(CqProducer {
            ring,
            tail: 0,
            head_cache: std::cell::Cell::new(0),
        })
    }

    pub fn space(&self) -> u32 {
        // (D): the consumer's head, acquired before reusing its slots.
        self.ring.producer_space(self.tail, &self.head_cache)
    }

    /// Writes one completion with its status last; false if the ring is full.
    pub fn push(&mut self, cqe: &WdCqe) -> bool {
        if self.space() == 0 {
            self.ring.dropped().fetch_add(1, Ordering::Relaxed);
            return false;
        }
        let slot = self.ring.slot(self.tail);
        // SAFETY: the slot is ours under (D); status is written separately.
        unsafe {
            ptr::write_volatile(
                slot,
                WdCqe {
                    status: u32::MAX,
                    ..*cqe
                },
            );
            let status = &*ptr::addr_of!((*slot).status).cast::<AtomicU32>();
            // (C): status last.
            status.store(cqe.status, Ordering::Release);
        }
        self.tail = self.tail.wrapping_add(1);
        true
    }

    /// (C) then (E): publishes and says whether the consumer sleeps.
    pub fn publish(&self) -> bool {
        self.ring.tail().store(self.tail, Ordering::Release);
        fence(Ordering::SeqCst);
        self.ring.flags().load(Ordering::Relaxed) & WD_RING_NEED_WAKEUP != 0
    }

    pub fn tail_word(&self) -> *const AtomicU32 {
        self.ring.tail
    }

    pub fn mark_dead(&self) {
        self.ring.flags().fetch_or(WD_RING_DEAD, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sys;

    fn ring(sq: u32, cq: u32) -> (MmapRaw, Layout) {
        let layout = Layout::new(sq, cq, sys::page_size());
        let map = sys::map_anonymous(layout.size).unwrap();
        layout.init(&map);
        (map, layout)
    }

    #[test]
    fn descriptors_flow_in_order_and_the_ring_fills() {
        let (map, l) = ring(4, 8);
        // SAFETY: map outlives the views in this test.
        let (mut p, mut c) = unsafe {
            (
                SqProducer::new(&map, &l.sq).unwrap(),
                SqConsumer::new(&map, &l.sq).unwrap(),
            )
        };
        for i in 0..4 {
            assert!(p.push(&WdDesc {
                user_data: i,
                ..Default::default()
            }));
        }
        assert!(
            !p.push(&WdDesc::default()),
            "a full ring refuses, never overwrites"
        );
        assert_eq!(c.pending().unwrap(), 0, "nothing visible before publish");
        p.publish();
        assert_eq!(c.pending().unwrap(), 4);
        for i in 0..4 {
            assert_eq!(c.take().user_data, i);
        }
        assert_eq!(
            p.space(),
            0,
            "slots are not free until the consumer releases"
        );
        c.release();
        assert_eq!(p.space(), 4);
    }

    #[test]
    fn completions_carry_status_and_the_cq_never_overwrites() {
        let (map, l) = ring(2, 2);
        // SAFETY: map outlives the views in this test.
        let (mut p, mut c) = unsafe {
            (
                CqProducer::new(&map, &l.cq).unwrap(),
                CqConsumer::new(&map, &l.cq).unwrap(),
            )
        };
        assert!(p.push(&WdCqe {
            user_data: 1,
            status: 0,
            produced: 7,
            ..Default::default()
        }));
        assert!(p.push(&WdCqe {
            user_data: 2,
            status: 6,
            ..Default::default()
        }));
        assert!(!p.push(&WdCqe::default()));
        p.publish();
        let a = c.pop().unwrap().unwrap();
        assert_eq!((a.user_data, a.status, a.produced), (1, 0, 7));
        assert_eq!(c.pop().unwrap().unwrap().status, 6);
        assert!(c.pop().unwrap().is_none());
    }

    /// (F) under stress: an engine thread takes while the submitter races
    /// to claim the same slots; every request must be run by exactly one of
    /// them, across many laps of a small ring.
    #[test]
    fn every_request_is_taken_or_claimed_exactly_once() {
        use std::sync::Arc;
        const ENTRIES: u32 = 8;
        const REQUESTS: u32 = 50_000;
        let (map, l) = ring(ENTRIES, ENTRIES);
        let map = Arc::new(map);
        let claims = Arc::new(Claims::new(ENTRIES));
        // Who ran request i: 1 the engine, 2 the submitter.
        let ran: Arc<Vec<AtomicU32>> = Arc::new((0..REQUESTS).map(|_| AtomicU32::new(0)).collect());
        let engine = {
            let (map, claims, ran) = (map.clone(), claims.clone(), ran.clone());
            std::thread::spawn(move || {
                // SAFETY: map outlives the view (moved into this thread).
                let mut c = unsafe { SqConsumer::new(&map, &l.sq).unwrap() };
                let mut seen = 0;
                while seen < REQUESTS {
                    let n = c.pending().unwrap();
                    seen += n;
                    for _ in 0..n {
                        let index = c.head();
                        let d = c.take();
                        if claims.take(index) {
                            assert_eq!(ran[d.user_data as usize].swap(1, Ordering::Relaxed), 0);
                        }
                    }
                    c.release();
                }
            })
        };
        // SAFETY: map outlives the view in this test.
        let mut p = unsafe { SqProducer::new(&map, &l.sq).unwrap() };
        let mut x = 0x2545_f491_4f6c_dd1du64;
        let mut published = Vec::new();
        for i in 0..REQUESTS {
            while p.space() == 0 {
                std::hint::spin_loop();
            }
            let index = p.tail();
            claims.submitted(index);
            assert!(p.push(&WdDesc {
                user_data: i as u64,
                ..Default::default()
            }));
            p.publish();
            published.push((index, i));
            // Claim some of them back, at once or a little later.
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            if x % 3 == 0 {
                for _ in 0..x % 64 {
                    std::hint::spin_loop();
                }
                for (index, i) in published.drain(..) {
                    if claims.claim(index) {
                        assert_eq!(ran[i as usize].swap(2, Ordering::Relaxed), 0);
                    }
                }
            } else if published.len() >= ENTRIES as usize {
                published.clear();
            }
        }
        engine.join().unwrap();
        let (mut taken, mut claimed) = (0, 0);
        for (i, r) in ran.iter().enumerate() {
            match r.load(Ordering::Relaxed) {
                1 => taken += 1,
                2 => claimed += 1,
                _ => panic!("request {i} never ran"),
            }
        }
        assert!(taken > 0 && claimed > 0, "{taken} taken, {claimed} claimed");
    }

    #[test]
    fn corrupt_indices_are_detected() {
        let (map, l) = ring(4, 4);
        // SAFETY: map outlives the views in this test.
        let c = unsafe { SqConsumer::new(&map, &l.sq).unwrap() };
        // A hostile producer claims 1000 outstanding descriptors.
        // SAFETY: the tail word is inside the header page.
        unsafe {
            (*map.as_mut_ptr().add(l.sq.tail as usize).cast::<AtomicU32>())
                .store(1000, Ordering::Release)
        };
        assert!(matches!(c.pending(), Err(RingError::Corrupt { .. })));
    }

    #[test]
    fn offsets_outside_the_mapping_are_refused() {
        let (map, l) = ring(4, 4);
        let mut bad = l.sq;
        bad.entries = map.len() as u32 - 64;
        // SAFETY: nothing is dereferenced on failure.
        let r = unsafe { SqProducer::new(&map, &bad) };
        assert_eq!(r.err(), Some(RingError::BadOffsets));
        let mut bad = l.cq;
        bad.tail = map.len() as u32;
        // SAFETY: as above.
        let r = unsafe { CqConsumer::new(&map, &bad) };
        assert_eq!(r.err(), Some(RingError::BadOffsets));
    }
}
