//! fork() after the process-wide instance is in use: the child binds its own
//! queues (kernel ring mappings are not inherited, engine threads do not
//! exist in the child) and the parent keeps working. Runs on whatever backend
//! the environment selects: the software device on a host, the kernel module
//! in the VM.

use warpdrive::{
    AsyncQueue, BackendChoice, Config, Flush, Format, HashAlg, InlineMax, Operation, Request,
    Warpdrive,
};

#[test]
fn a_forked_child_gets_its_own_queues() {
    std::env::set_var("WARPDRIVE_INLINE_MAX", "0");
    let data: Vec<u8> = (0..50_000u32).map(|i| (i % 251) as u8).collect();
    let mut out = [0u8; 32];
    warpdrive::digest(HashAlg::Sha256, &data, &mut out).unwrap();
    let parent_queues = warpdrive::stats().queues;
    assert!(parent_queues >= 1 || warpdrive::global().backend() == warpdrive::BackendKind::Inline);
    // SAFETY: fork in a test process; the child only calls into the library
    // and leaves with _exit, never returning into the test harness.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork failed");
    if pid == 0 {
        let mut child = [0u8; 32];
        let ok = warpdrive::digest(HashAlg::Sha256, &data, &mut child).is_ok() && child == out;
        let fresh = warpdrive::stats().offloaded == 1;
        let code = if !ok {
            1
        } else if !fresh {
            2
        } else {
            0
        };
        // SAFETY: _exit ends the child without running the parent's hooks.
        unsafe { libc::_exit(code) };
    }
    let mut status = 0;
    // SAFETY: waiting for our own child.
    unsafe { libc::waitpid(pid, &mut status, 0) };
    assert!(libc::WIFEXITED(status), "child died: status {status:#x}");
    match libc::WEXITSTATUS(status) {
        0 => {}
        1 => panic!("the child got a wrong digest or an error after fork"),
        2 => panic!("the child did not start from a fresh instance"),
        c => panic!("child exit {c}"),
    }
    let mut again = [0u8; 32];
    warpdrive::digest(HashAlg::Sha256, &data, &mut again).unwrap();
    assert_eq!(again, out, "the parent keeps working after fork");
}

#[test]
fn stats_reach_the_stats_file_at_exit() {
    // A child process of this test binary (the same test, filtered) uses the
    // library with WARPDRIVE_STATS_FILE set and exits normally.
    if std::env::var_os("WD_STATS_CHILD").is_some() {
        let mut out = [0u8; 32];
        warpdrive::digest(HashAlg::Sha256, b"abc", &mut out).unwrap();
        return;
    }
    let file = std::env::temp_dir().join(format!("wd-stats-{}.jsonl", std::process::id()));
    let _ = std::fs::remove_file(&file);
    let status = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "stats_reach_the_stats_file_at_exit",
            "--test-threads=1",
        ])
        .env("WD_STATS_CHILD", "1")
        .env(warpdrive::STATS_FILE_ENV, &file)
        .status()
        .unwrap();
    assert!(status.success());
    let text = std::fs::read_to_string(&file).expect("the child wrote no stats file");
    let _ = std::fs::remove_file(&file);
    let last = text.lines().last().unwrap();
    assert!(
        last.contains("\"inline\":1") || last.contains("\"offloaded\":1"),
        "{last}"
    );
    assert!(last.starts_with("{\"pid\":"), "{last}");
}

/// Forks a child that a SIGALRM kills after 10 s, so that a hang fails the
/// test. The child runs `child!`'s body and leaves with its exit code.
fn fork_alarmed() -> libc::pid_t {
    // SAFETY: fork in a test process; the child only calls into the library
    // and leaves with _exit (child!), never returning into the test harness.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork failed");
    if pid == 0 {
        // SAFETY: alarm has no memory effects; its default action kills us.
        unsafe { libc::alarm(10) };
    }
    pid
}

/// In the child: runs the body (a panic is exit 101) and leaves.
macro_rules! child {
    ($body:block) => {{
        let code = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || -> i32 { $body }))
            .unwrap_or(101);
        // SAFETY: _exit ends the child without running the parent's hooks.
        unsafe { libc::_exit(code) }
    }};
}

/// The child's exit code; a panic if a signal (the alarm: a hang) killed it.
fn exit_code(pid: libc::pid_t) -> i32 {
    let mut status = 0;
    // SAFETY: waiting for our own child.
    unsafe { libc::waitpid(pid, &mut status, 0) };
    if libc::WIFSIGNALED(status) {
        let sig = libc::WTERMSIG(status);
        panic!(
            "the child was killed by signal {sig}{}",
            if sig == libc::SIGALRM {
                " (it hung)"
            } else {
                ""
            }
        );
    }
    libc::WEXITSTATUS(status)
}

/// An instance of the test's own, every request offloaded: on the software
/// device, or with `Auto` on what the environment selects (the software
/// device on a host, the kernel module in the VM).
fn own_instance(backend: BackendChoice) -> Warpdrive {
    Warpdrive::new(Config {
        backend,
        inline_max: InlineMax::all(0),
        engines: 2,
        ..Config::from_env()
    })
    .unwrap()
}

fn offloaded_round_trip(wd: &Warpdrive, data: &[u8]) -> bool {
    let mut z = vec![0u8; data.len() + 1000];
    let mut back = vec![0u8; data.len()];
    let Ok(n) = wd.compress(Format::Gzip, 6, data, &mut z) else {
        return false;
    };
    matches!(wd.decompress(Format::Gzip, &z[..n], &mut back), Ok(p) if p.produced == data.len())
        && back == data
}

#[test]
fn dropping_a_parents_instance_in_the_child_returns() {
    let data: Vec<u8> = (0..100_000u32).map(|i| (i % 97) as u8).collect();
    for backend in [BackendChoice::Softdev, BackendChoice::Auto] {
        let wd = own_instance(backend);
        assert!(offloaded_round_trip(&wd, &data));
        // The child's copy of the instance names engine threads (and, on a
        // kernel device, ring mappings) that only the parent has: dropping
        // it must not wait for them or touch them.
        let pid = fork_alarmed();
        if pid == 0 {
            child!({
                drop(wd);
                0
            });
        }
        assert_eq!(exit_code(pid), 0, "{backend:?}");
        assert!(offloaded_round_trip(&wd, &data), "the parent keeps working");
    }
}

#[test]
fn a_parents_instance_works_inline_in_the_child_and_refuses_queues() {
    let data: Vec<u8> = (0..100_000u32).map(|i| (i % 89) as u8).collect();
    let wd = own_instance(BackendChoice::Auto);
    let queued = wd.backend() != warpdrive::BackendKind::Inline;
    assert!(offloaded_round_trip(&wd, &data));
    let pid = fork_alarmed();
    if pid == 0 {
        child!({
            // Requests still succeed (inline: no engine serves the
            // parent's queues here)...
            if !offloaded_round_trip(&wd, &data) {
                return 1;
            }
            // ...and nothing hands out a queue that no engine serves.
            if queued && (wd.bind_queue().is_ok() || AsyncQueue::new(&wd).is_ok()) {
                return 2;
            }
            drop(wd);
            0
        });
    }
    match exit_code(pid) {
        0 => {}
        1 => panic!("a request on the parent's instance failed in the child"),
        2 => panic!("the child got a queue on the parent's device"),
        c => panic!("child exit {c}"),
    }
    assert!(offloaded_round_trip(&wd, &data), "the parent keeps working");
}

#[test]
fn a_parents_async_queue_fails_in_the_child_and_drops() {
    let wd = own_instance(BackendChoice::Auto);
    let Ok(mut q) = AsyncQueue::new(&wd) else {
        return; // a backend without asynchronous queues
    };
    let req = |cookie| Request {
        op: Operation::Digest(HashAlg::Sha256),
        input: vec![cookie as u8; 100_000],
        output_capacity: 32,
        cookie,
    };
    q.submit(req(1)).map_err(|(e, _)| e).unwrap();
    q.flush().unwrap();
    q.submit(req(2)).map_err(|(e, _)| e).unwrap(); // not yet published
    let pid = fork_alarmed();
    if pid == 0 {
        child!({
            if q.submit(req(3)).is_ok() {
                return 1;
            }
            if q.wait().is_ok() || q.poll().is_ok() {
                return 2;
            }
            drop(q);
            drop(wd);
            0
        });
    }
    match exit_code(pid) {
        0 => {}
        1 => panic!("the child queued a request on the parent's ring"),
        2 => panic!("the child waited on the parent's ring without an error"),
        c => panic!("child exit {c}"),
    }
    // The parent's requests complete as if nothing happened.
    let mut cookies = [q.wait().unwrap().cookie, q.wait().unwrap().cookie];
    cookies.sort();
    assert_eq!(cookies, [1, 2]);
}

#[test]
fn sessions_made_by_the_parent_drop_in_the_child() {
    std::env::set_var("WARPDRIVE_INLINE_MAX", "0");
    let data: Vec<u8> = (0..200_000u32).map(|i| (i % 83) as u8).collect();
    let mut d = warpdrive::Deflater::new(Format::Zlib, 6).unwrap();
    let mut out = vec![0u8; 300_000];
    let p = d.deflate(&data[..100_000], &mut out, Flush::Sync).unwrap();
    let mut i = warpdrive::Inflater::new(Format::Zlib).unwrap();
    let mut back = vec![0u8; 200_000];
    i.inflate(&out[..p.produced], &mut back).unwrap();
    let mut h = warpdrive::Hasher::new(HashAlg::Sha1).unwrap();
    h.update(&data).unwrap();
    let pid = fork_alarmed();
    if pid == 0 {
        child!({
            // A digest session holds no queue: it keeps working.
            let mut md = [0u8; 20];
            if h.finish(&mut md).is_err() {
                return 1;
            }
            drop(d);
            drop(i);
            0
        });
    }
    assert_eq!(exit_code(pid), 0, "the child could not finish its digest");
    let mut rest = vec![0u8; 300_000];
    d.deflate(&data[100_000..], &mut rest, Flush::Finish)
        .unwrap();
}
