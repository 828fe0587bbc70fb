//! Dropping objects that still hold requests returns in bounded time: an
//! `AsyncQueue` whose requests were submitted but never flushed (an early
//! `?` between `submit` and `wait`), or one that outlives its instance.
//! Each case runs on a thread of its own, so a hang fails the test.

use std::sync::mpsc;
use std::time::Duration;

use warpdrive::{
    AsyncQueue, BackendChoice, Config, Format, InlineMax, Operation, Request, Warpdrive,
};

const LIMIT: Duration = Duration::from_secs(20);

fn soft() -> Warpdrive {
    Warpdrive::new(Config {
        backend: BackendChoice::Softdev,
        inline_max: InlineMax::all(0),
        engines: 1,
        ..Config::default()
    })
    .unwrap()
}

fn request(cookie: u64) -> Request {
    Request {
        op: Operation::Compress {
            format: Format::Zlib,
            level: 6,
        },
        input: (0..50_000u32).map(|i| (i % 13) as u8).collect(),
        output_capacity: 60_000,
        cookie,
    }
}

/// Runs `f` on a thread and fails if it does not return within LIMIT.
fn bounded(what: &str, f: impl FnOnce() + Send + 'static) {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        f();
        let _ = tx.send(());
    });
    match rx.recv_timeout(LIMIT) {
        Ok(()) => {}
        Err(mpsc::RecvTimeoutError::Timeout) => panic!("{what}: did not return within {LIMIT:?}"),
        Err(mpsc::RecvTimeoutError::Disconnected) => panic!("{what}: panicked"),
    }
}

#[test]
fn dropping_an_async_queue_with_unflushed_requests_returns() {
    bounded("drop with one unflushed request", || {
        let wd = soft();
        let mut q = AsyncQueue::new(&wd).unwrap();
        q.submit(request(1)).map_err(|(e, _)| e).unwrap();
        drop(q);
    });
    bounded("drop with a full ring of unflushed requests", || {
        let wd = soft();
        let mut q = AsyncQueue::new(&wd).unwrap();
        let mut cookie = 0;
        while q.submit(request(cookie)).is_ok() {
            cookie += 1;
        }
        assert!(cookie > 1);
        drop(q);
    });
}

#[test]
fn an_early_return_between_submit_and_wait_does_not_hang() {
    fn work(q: &mut AsyncQueue) -> Result<usize, warpdrive::Error> {
        q.submit(request(7)).map_err(|(e, _)| e)?;
        // Something fails before the caller ever waits.
        Err(warpdrive::Error::InvalidArgument("caller gave up"))?;
        q.wait()?.result
    }
    bounded("early ? after submit", || {
        let wd = soft();
        let mut q = AsyncQueue::new(&wd).unwrap();
        assert!(work(&mut q).is_err());
        drop(q);
    });
}

#[test]
fn an_async_queue_outliving_its_instance_fails_and_drops() {
    bounded("queue dropped after its instance", || {
        let wd = soft();
        let mut q = AsyncQueue::new(&wd).unwrap();
        q.submit(request(1)).map_err(|(e, _)| e).unwrap();
        q.flush().unwrap();
        q.submit(request(2)).map_err(|(e, _)| e).unwrap();
        drop(wd);
        // No engine serves the queue any more: an error, not a hang.
        for _ in 0..2 {
            match q.wait() {
                Ok(c) => assert!(c.cookie == 1 || c.result.is_err(), "{:?}", c.result),
                Err(_) => break,
            }
        }
        assert!(q.submit(request(3)).is_err() || q.wait().is_err());
        drop(q);
    });
}
