//! OpenSSL async-job support (`openssl speed -async_jobs N`, nginx's async mode).
//!
//! When a one-shot-shaped request (a TLS 1.2 GCM record, a large CTR/CBC update) runs
//! inside an `ASYNC_JOB`, it goes to this thread's `AsyncQueue` with owned copies of its
//! buffers, and the job pauses until the request's completion arrives, so every job of a
//! thread can have a request in flight at once. Without a job the callers run the
//! blocking one-shot calls as before.
//!
//! Waking: every job of a thread waits on the same fd, an epoll set over the queue's
//! `wait_fd()` (completions ready) and an eventfd of ours that stays readable while a
//! completion reaped by one job is waiting for another job to pick it up. A resumed job
//! acks the queue's fd, drains every completion (its own is returned, the others are
//! kept per cookie), re-arms the eventfd from what is left, and pauses again if its
//! own has not come. Level-triggered readiness of both members means a completion is
//! never stranded while its job sleeps.
//!
//! Jobs must be resumed on the thread that paused them (as OpenSSL's own async engines
//! and every known user require): the queue and the completion map are per thread.

use crate::ffi;
use crate::stats;
use std::cell::RefCell;
use std::collections::HashMap;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::raw::{c_int, c_void};
use warpdrive::{AsyncQueue, Completion, Operation, Request};

/// This thread's async queue and what belongs to it.
struct ThreadAsync {
    /// `backend::generation()` when it was made (fork and teardown make it stale).
    gen: u64,
    q: AsyncQueue,
    /// The fd handed to OpenSSL: epoll over the queue's fd and `pending`.
    wait: OwnedFd,
    /// Readable while `done` holds completions for paused jobs.
    pending: OwnedFd,
    next_cookie: u64,
    done: HashMap<u64, Completion>,
}

enum Slot {
    Empty,
    /// No async queue on this backend (inline): don't retry until the generation moves.
    Unavailable(u64),
    Ready(Box<ThreadAsync>),
}

thread_local! {
    static STATE: RefCell<Slot> = const { RefCell::new(Slot::Empty) };
}

/// The key under which our fd sits in a job's `ASYNC_WAIT_CTX`.
static WAIT_KEY: u8 = 0;

/// The fd stays ours: OpenSSL must not close it when it frees the wait context.
unsafe extern "C" fn keep_fd(
    _: *mut ffi::ASYNC_WAIT_CTX,
    _: *const c_void,
    _: c_int,
    _: *mut c_void,
) {
}

fn new_state(gen: u64) -> Option<ThreadAsync> {
    let wd = crate::backend::instance().ok()?;
    let q = AsyncQueue::new(&wd).ok()?;
    let core_fd = q.wait_fd().ok()?;
    // SAFETY: plain syscalls; each returned fd is checked and then owned.
    unsafe {
        let ep = libc::epoll_create1(libc::EPOLL_CLOEXEC);
        if ep < 0 {
            return None;
        }
        let wait = OwnedFd::from_raw_fd(ep);
        let ev = libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK);
        if ev < 0 {
            return None;
        }
        let pending = OwnedFd::from_raw_fd(ev);
        for fd in [core_fd, pending.as_raw_fd()] {
            let mut e = libc::epoll_event {
                events: libc::EPOLLIN as u32,
                u64: fd as u64,
            };
            if libc::epoll_ctl(ep, libc::EPOLL_CTL_ADD, fd, &mut e) != 0 {
                return None;
            }
        }
        Some(ThreadAsync {
            gen,
            q,
            wait,
            pending,
            next_cookie: 1,
            done: HashMap::new(),
        })
    }
}

/// Drops this thread's state (provider teardown on this thread).
pub fn clear_thread() {
    let _ = STATE.try_with(|s| {
        if let Ok(mut s) = s.try_borrow_mut() {
            let old = std::mem::replace(&mut *s, Slot::Empty);
            match old {
                // Made before a fork: the engine behind it does not exist here.
                Slot::Ready(t) if t.gen != crate::backend::generation() => std::mem::forget(t),
                other => drop(other),
            }
        }
    });
}

/// Runs `f` on this thread's state, creating it if needed. None: no async queue.
fn with_state<R>(f: impl FnOnce(&mut ThreadAsync) -> R) -> Option<R> {
    let gen = crate::backend::generation();
    STATE
        .try_with(|s| {
            let mut s = s.try_borrow_mut().ok()?;
            let stale = match &*s {
                Slot::Ready(t) => t.gen != gen,
                Slot::Unavailable(g) => *g != gen,
                Slot::Empty => true,
            };
            if stale {
                let old = std::mem::replace(&mut *s, Slot::Empty);
                if let Slot::Ready(t) = old {
                    // From another generation: after a fork its engine is gone (never
                    // touch it); after a teardown its device is stopped and nothing is
                    // in flight, but dropping would still wait on it: leak either way
                    // (one queue per thread per generation).
                    std::mem::forget(t);
                }
                *s = match new_state(gen) {
                    Some(t) => Slot::Ready(Box::new(t)),
                    None => Slot::Unavailable(gen),
                };
            }
            match &mut *s {
                Slot::Ready(t) => Some(f(t)),
                _ => None,
            }
        })
        .ok()
        .flatten()
}

impl ThreadAsync {
    /// Acks the queue's fd and moves every ready completion into `done`; re-arms
    /// `pending` from what is left for others than `mine`.
    fn reap(&mut self, mine: u64) -> Result<(), warpdrive::Error> {
        self.q.ack_wait_fd();
        while let Some(c) = self.q.poll()? {
            self.done.insert(c.cookie, c);
        }
        let others = self.done.keys().any(|&k| k != mine);
        let fd = self.pending.as_raw_fd();
        // SAFETY: `fd` is our eventfd; 8-byte reads/writes are its protocol, and it is
        // non-blocking, so a read of an unsignalled eventfd returns EAGAIN at once.
        unsafe {
            let mut v: u64 = 0;
            libc::read(fd, (&mut v as *mut u64).cast(), 8);
            if others {
                let one: u64 = 1;
                libc::write(fd, (&one as *const u64).cast(), 8);
            }
        }
        Ok(())
    }
}

/// Makes sure `ctx` waits on `fd` under our key (exactly one entry: `openssl speed`
/// refuses a job with more than one fd).
///
/// # Safety
/// `ctx` is the live wait context of the current job.
unsafe fn set_wait_fd(ctx: *mut ffi::ASYNC_WAIT_CTX, fd: RawFd) -> bool {
    let key = (&WAIT_KEY as *const u8).cast::<c_void>();
    let mut cur: c_int = -1;
    let mut data: *mut c_void = std::ptr::null_mut();
    // SAFETY: live context; valid out pointers.
    unsafe {
        if ffi::ASYNC_WAIT_CTX_get_fd(ctx, key, &mut cur, &mut data) == 1 {
            if cur == fd {
                return true;
            }
            ffi::ASYNC_WAIT_CTX_clear_fd(ctx, key);
        }
        ffi::ASYNC_WAIT_CTX_set_wait_fd(ctx, key, fd, std::ptr::null_mut(), Some(keep_fd)) == 1
    }
}

/// Runs one request on this thread's async queue when called inside an ASYNC_JOB,
/// pausing the job until it completes. `None`: not in a job, or no async queue on this
/// backend: the caller runs its blocking path.
pub fn run(
    op: Operation,
    input: Vec<u8>,
    output_capacity: usize,
) -> Option<Result<Completion, warpdrive::Error>> {
    // SAFETY: plain libcrypto query.
    let job = unsafe { ffi::ASYNC_get_current_job() };
    if job.is_null() {
        return None;
    }
    // SAFETY: `job` is the current job.
    let wctx = unsafe { ffi::ASYNC_get_wait_ctx(job) };
    if wctx.is_null() {
        return None;
    }
    // Submit (a full queue: reap, and if still full let other jobs run first).
    let mut req = Some(Request {
        op,
        input,
        output_capacity,
        cookie: 0,
    });
    let cookie = loop {
        let r = with_state(|t| {
            let mut rq = req.take().expect("request present");
            rq.cookie = t.next_cookie;
            let cookie = rq.cookie;
            match t.q.submit(rq) {
                Ok(()) => match t.q.flush() {
                    Ok(()) => {
                        t.next_cookie += 1;
                        Ok(Ok((cookie, t.wait.as_raw_fd())))
                    }
                    Err(e) => Err(e),
                },
                Err((warpdrive::Error::Busy, back)) => {
                    req = Some(back);
                    t.reap(0).map(|()| Err(t.wait.as_raw_fd()))
                }
                Err((e, _)) => Err(e),
            }
        });
        match r {
            None => {
                // No async queue (first use found none): the caller goes synchronous.
                return None;
            }
            Some(Err(e)) => return Some(Err(e)),
            Some(Ok(Ok((cookie, fd)))) => {
                // SAFETY: `wctx` is the current job's wait context.
                if !unsafe { set_wait_fd(wctx, fd) } {
                    return Some(Err(warpdrive::Error::Unsupported(
                        "ASYNC_WAIT_CTX_set_wait_fd",
                    )));
                }
                break cookie;
            }
            Some(Ok(Err(fd))) => {
                // Queue full of other jobs' requests: wait for some to complete.
                // SAFETY: as above; then a plain pause of the current job.
                unsafe {
                    if !set_wait_fd(wctx, fd) || ffi::ASYNC_pause_job() != 1 {
                        return Some(Err(warpdrive::Error::Busy));
                    }
                }
                stats::bump(&stats::P.async_pauses, 1);
            }
        }
    };
    loop {
        let got = with_state(|t| -> Result<Option<Completion>, warpdrive::Error> {
            if let Some(c) = t.done.remove(&cookie) {
                t.reap(cookie)?;
                return Ok(Some(c));
            }
            t.reap(cookie)?;
            Ok(t.done.remove(&cookie))
        });
        match got {
            None => return Some(Err(warpdrive::Error::Unsupported("async queue went away"))),
            Some(Err(e)) => return Some(Err(e)),
            Some(Ok(Some(c))) => return Some(Ok(c)),
            Some(Ok(None)) => {
                stats::bump(&stats::P.async_pauses, 1);
                // SAFETY: we are inside a job (checked above) and hold no borrow of the
                // thread state across the pause: other jobs of this thread use it.
                if unsafe { ffi::ASYNC_pause_job() } != 1 {
                    return Some(Err(warpdrive::Error::Unsupported("ASYNC_pause_job")));
                }
            }
        }
    }
}
