//! fork() after the process-wide instance is in use: the child binds its own
//! queues (kernel ring mappings are not inherited, engine threads do not
//! exist in the child) and the parent keeps working. Runs on whatever backend
//! the environment selects: the software device on a host, the kernel module
//! in the VM.

use warpdrive::HashAlg;

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
