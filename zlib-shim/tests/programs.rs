//! Integration tests: the built libz.so.1 preloaded into real, unmodified
//! programs. Each test skips (with a message) only when its program is absent.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The cdylib cargo built beside this test binary.
fn shim() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().unwrap().parent().unwrap();
    let lib = dir.join("libz.so");
    assert!(
        lib.exists(),
        "{} missing: build the crate first",
        lib.display()
    );
    lib
}

fn system_libz() -> PathBuf {
    PathBuf::from("/lib/x86_64-linux-gnu/libz.so.1")
}

fn have(prog: &str) -> bool {
    Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {prog}"))
        .output()
        .is_ok_and(|o| o.status.success())
}

fn tmp(name: &str) -> PathBuf {
    let d = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join("zlib-shim")
        .join(name);
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn sh(dir: &Path, script: &str, preload: bool, env: &[(&str, &str)]) -> std::process::Output {
    let mut c = Command::new("bash");
    c.arg("-ec").arg(script).current_dir(dir);
    if preload {
        c.env("LD_PRELOAD", shim());
    }
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().unwrap()
}

fn ok(o: &std::process::Output) -> String {
    assert!(
        o.status.success(),
        "failed: {}\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Defined symbols with their versions, as objdump -T prints them.
fn exports(lib: &Path) -> Vec<String> {
    let out = Command::new("objdump").arg("-T").arg(lib).output().unwrap();
    let mut v: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| {
            !l.contains("*UND*")
                && !l.contains("*ABS*")
                && (l.contains(" DF ") || l.contains(" DO "))
        })
        .map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            format!("{} {}", f[f.len() - 2], f[f.len() - 1])
        })
        .collect();
    v.sort();
    v
}

#[test]
fn exported_symbols_and_versions_equal_system_libz() {
    let ours = exports(&shim());
    let sys = exports(&system_libz());
    assert!(sys.len() > 80, "system libz.so.1 not readable");
    assert_eq!(ours, sys);
    let p = Command::new("objdump")
        .arg("-p")
        .arg(shim())
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&p.stdout).contains("SONAME               libz.so.1"));
}

/// A python3 whose zlib module reaches libz.so.1 dynamically.
fn python() -> Option<String> {
    for py in ["python3", "/usr/bin/python3"] {
        let o = Command::new("sh")
            .arg("-c")
            .arg(format!("ldd $({py} -c 'import zlib;print(zlib.__file__)') 2>/dev/null | grep -q libz.so.1 || {py} -c 'import sys; sys.exit(0 if \"zlib\" not in sys.builtin_module_names else 1)'"))
            .output();
        if o.is_ok_and(|o| o.status.success()) {
            return Some(py.to_string());
        }
    }
    None
}

#[test]
fn python_test_zlib_passes_under_the_shim() {
    let Some(py) = python() else {
        return eprintln!("skip: no python3 with a dynamic zlib");
    };
    let d = tmp("pytest");
    let v = ok(&sh(
        &d,
        &format!("{py} -c 'import zlib; print(zlib.ZLIB_RUNTIME_VERSION)'"),
        true,
        &[],
    ));
    assert_eq!(v.trim(), "1.2.13");
    let out = ok(&sh(
        &d,
        &format!("{py} -m test test_zlib 2>&1"),
        true,
        &[("WARPDRIVE_ZLIB_STATS", "1")],
    ));
    assert!(out.contains("SUCCESS"), "{out}");
    assert!(out.contains("warpdrive-zlib:"), "shim not loaded: {out}");
}

fn counter(line: &str, key: &str) -> u64 {
    line.split_whitespace()
        .find_map(|kv| kv.strip_prefix(&format!("{key}=")))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

#[test]
fn python_zlib_really_offloads() {
    let Some(py) = python() else {
        return eprintln!("skip: no python3 with a dynamic zlib");
    };
    let d = tmp("offload");
    let stats = d.join("stats");
    let core_stats = d.join("core-stats");
    let script = r#"
import zlib
d = b''.join(b'line %d of some text, compressible but not trivially %d\n' % (i, i * 7919 % 1000) for i in range(60000))
c = zlib.compress(d, 6); assert zlib.decompress(c) == d
co = zlib.compressobj(1); s = b''.join(co.compress(d[i:i+65536]) for i in range(0, len(d), 65536)) + co.flush()
do = zlib.decompressobj(); r = b''.join(do.decompress(s[i:i+65536]) for i in range(0, len(s), 65536)) + do.flush()
assert r == d and zlib.decompress(s) == d
# deflateCopy of an offloaded (still buffering) stream: Deflater::try_clone
co = zlib.compressobj(6); a = co.compress(d[:200000]); c2 = co.copy()
r1 = a + co.compress(d[200000:]) + co.flush(); r2 = a + c2.compress(d[200000:300000]) + c2.flush()
assert zlib.decompress(r1) == d and zlib.decompress(r2) == d[:300000]
# deflateCopy of a flushed raw stream (in segments, no engine state)
co = zlib.compressobj(6, zlib.DEFLATED, -15); a = co.compress(d[:300000]) + co.flush(zlib.Z_SYNC_FLUSH); c3 = co.copy()
r1 = a + co.compress(d[300000:]) + co.flush(); r2 = a + c3.flush()
raw = lambda x: zlib.decompressobj(-15).decompress(x)
assert raw(r1) == d and raw(r2) == d[:300000]
print(len(d))
"#;
    std::fs::write(d.join("t.py"), script).unwrap();
    ok(&sh(
        &d,
        &format!("{py} t.py"),
        true,
        &[
            ("WARPDRIVE_BACKEND", "softdev"),
            ("WARPDRIVE_ZLIB_STATS_FILE", stats.to_str().unwrap()),
            ("WARPDRIVE_STATS_FILE", core_stats.to_str().unwrap()),
        ],
    ));
    let text = std::fs::read_to_string(&stats).expect("stats file written");
    let last = text.lines().last().unwrap();
    // compress, compressobj, the copied compressobj and its copy, the raw
    // one and its copy.
    assert!(counter(last, "deflate_streams") >= 6, "{last}");
    assert!(counter(last, "inflate_streams") >= 1, "{last}");
    assert!(
        counter(last, "core_offloaded") > 0,
        "no request reached a queue: {last}"
    );
    // The core's own counters, written by warpdrive::report_stats() at
    // deflateEnd/inflateEnd (what `warpdrive run` reads).
    let core = std::fs::read_to_string(&core_stats).expect("core stats file written");
    let last = core.lines().last().unwrap();
    let offloaded: u64 = last
        .split("\"offloaded\":")
        .nth(1)
        .and_then(|v| v.split([',', '}']).next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    assert!(offloaded > 0, "core stats: {last}");
}

/// A crafted zlib stream whose literal/length code is incomplete, with a
/// correct Adler-32: system zlib refuses it ("invalid literal/lengths set"),
/// and so must every offloaded path, with the same message (the engines'
/// decoders once accepted it).
#[test]
fn python_zlib_refuses_an_incomplete_huffman_code_as_zlib_does() {
    let Some(py) = python() else {
        return eprintln!("skip: no python3 with a dynamic zlib");
    };
    let d = tmp("incomplete");
    let script = r#"
import zlib
bits = []
def val(v, n): bits.extend((v >> i) & 1 for i in range(n))
def code(c, n): bits.extend((c >> i) & 1 for i in reversed(range(n)))
val(1, 1); val(2, 2); val(0, 5); val(0, 5); val(14, 4)
order = [16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15]
for sym in order[:18]: val(2 if sym in (0, 1, 2, 18) else 0, 3)
C = {0: 0, 1: 1, 2: 2, 18: 3}
def zeros(n): code(C[18], 2); val(n - 11, 7)
zeros(97); code(C[1], 2); zeros(138); zeros(20); code(C[2], 2)  # 'a': 1 bit, end: 2 bits
code(C[1], 2)                                                   # one 1-bit distance code
for _ in range(3): code(0, 1)
code(2, 2)
bits += [0] * (-len(bits) % 8)
raw = bytes(sum(bits[i + j] << j for j in range(8)) for i in range(0, len(bits), 8))
z = b'\x78\xda' + raw + zlib.adler32(b'aaa').to_bytes(4, 'big')
for name, f in [('decompress', lambda: zlib.decompress(z)),
                ('decompressobj', lambda: zlib.decompressobj().decompress(z)),
                ('raw decompressobj', lambda: zlib.decompressobj(-15).decompress(raw))]:
    try:
        print(name, 'accepted', f())
    except zlib.error as e:
        print(name, 'refused', e)
"#;
    std::fs::write(d.join("t.py"), script).unwrap();
    let [system, shim] = [false, true].map(|preload| {
        ok(&sh(
            &d,
            &format!("{py} t.py"),
            preload,
            &[
                ("WARPDRIVE_ZLIB_MIN", "0"),
                ("WARPDRIVE_BACKEND", "softdev"),
            ],
        ))
    });
    assert_eq!(system.matches("refused").count(), 3, "{system}");
    // Refused with zlib's own messages, found by replaying the input into
    // zlib's decoder once the engine has refused it.
    assert_eq!(shim, system);
}

fn make_data(d: &Path) {
    let mut v = Vec::new();
    for i in 0..400_000u32 {
        v.extend_from_slice(format!("{} {} ", i, i.wrapping_mul(2654435761) % 977).as_bytes());
    }
    std::fs::write(d.join("data"), v).unwrap();
}

#[test]
fn pigz_round_trips_both_ways() {
    if !have("pigz") {
        return eprintln!("skip: no pigz");
    }
    let d = tmp("pigz");
    make_data(&d);
    for lvl in ["-1", "-6", "-9"] {
        // shim compresses, system decompresses; and the other way round.
        // pigz's parallel mode (-p 2) calls Z_BLOCK, deflatePending,
        // deflatePrime, deflateSetDictionary, deflateParams after a reset; with
        // WARPDRIVE_ZLIB_MIN=0 its zero-input flushes must not move a stream
        // that zlib-rs started to the core (that made invalid output).
        let _ = std::fs::remove_file(d.join("p1.stats"));
        ok(&sh(
            &d,
            &format!("WARPDRIVE_ZLIB_STATS_FILE=p1.stats pigz -p 1 {lvl} -c data > a.gz && pigz -p 2 {lvl} -c data > b.gz && WARPDRIVE_ZLIB_MIN=0 pigz -p 2 {lvl} -c data > c.gz && WARPDRIVE_ZLIB_MIN=0 pigz -p 2 -i -b 32 {lvl} -c data > i.gz"),
            true,
            &[],
        ));
        ok(&sh(
            &d,
            "for f in a b c i; do pigz -d -c $f.gz | cmp - data; done && gzip -t a.gz b.gz c.gz i.gz",
            false,
            &[],
        ));
        // pigz -p 1 (Z_BLOCK per 128 KiB block, Z_FINISH at the end) offloads.
        let text = std::fs::read_to_string(d.join("p1.stats")).expect("stats file written");
        let last = text.lines().last().unwrap();
        assert!(counter(last, "deflate_streams") >= 1, "{last}");
        ok(&sh(
            &d,
            &format!("pigz -p 1 {lvl} -c data > s.gz"),
            false,
            &[],
        ));
        ok(&sh(
            &d,
            "pigz -d -c s.gz | cmp - data && pigz -d -c a.gz | cmp - data",
            true,
            &[],
        ));
        // pigz -d decodes through inflateBack, which offloads; damaged and
        // truncated files still fail as they fail with the system zlib.
        let _ = std::fs::remove_file(d.join("d.stats"));
        ok(&sh(
            &d,
            "WARPDRIVE_ZLIB_STATS_FILE=d.stats pigz -d -c a.gz | cmp - data",
            true,
            &[],
        ));
        let text = std::fs::read_to_string(d.join("d.stats")).expect("stats file written");
        let last = text.lines().last().unwrap();
        assert!(counter(last, "inflate_streams") >= 1, "{last}");
        ok(&sh(
            &d,
            "n=$(stat -c %s a.gz); cp a.gz bad.gz; printf 'XXXXXXXX' | dd of=bad.gz bs=1 seek=$((n / 2)) conv=notrunc 2>/dev/null; \
             head -c $((n / 2)) a.gz > cut.gz; \
             for f in bad cut; do if pigz -d -c $f.gz > /dev/null 2>&1; then echo \"$f.gz accepted\"; exit 1; fi; done",
            true,
            &[],
        ));
    }
}

#[test]
fn git_repository_made_under_the_shim_is_valid() {
    if !have("git") {
        return eprintln!("skip: no git");
    }
    let d = tmp("git");
    let script = r#"
git init -q repo && cd repo
git config user.email t@example.invalid && git config user.name t
for i in $(seq 1 300); do seq $i $((i * 50)) > f$i.txt; done
head -c 300000 /dev/urandom > blob.bin
git add . && git commit -qm one
for i in $(seq 1 100); do echo change >> f$i.txt; done
git commit -qam two && git gc -q && git fsck --strict
git log --oneline | wc -l
"#;
    let out = ok(&sh(&d, script, true, &[("WARPDRIVE_ZLIB_MIN", "0")]));
    assert_eq!(out.trim(), "2");
    // The same with the core's Deflater forced to stream (no one-shot at
    // Z_FINISH): git writes loose objects with Z_FINISH into a small buffer,
    // looping while deflate returns Z_OK. A FINISH state entered before all
    // input was consumed made `git add` fail with "unable to deflate" (-5).
    let d2 = tmp("git-stream");
    let out = ok(&sh(
        &d2,
        script,
        true,
        &[
            ("WARPDRIVE_ZLIB_MIN", "0"),
            ("WARPDRIVE_DEFLATE_BUFFER_MAX", "0"),
            ("WARPDRIVE_BACKEND", "softdev"),
        ],
    ));
    assert_eq!(out.trim(), "2");
    ok(&sh(&d2.join("repo"), "git fsck --strict", false, &[]));
    ok(&sh(
        &d.join("repo"),
        "git fsck --strict && git diff HEAD~1 --stat | tail -1",
        false,
        &[],
    ));
    // A repository written by the system zlib reads back under the shim.
    ok(&sh(
        &d.join("repo"),
        "git commit -q --allow-empty -m three",
        false,
        &[],
    ));
    ok(&sh(
        &d.join("repo"),
        "git fsck --strict && git log -p | wc -c",
        true,
        &[],
    ));
}

#[test]
fn curl_decodes_compressed_bodies_under_the_shim() {
    let Some(py) = python() else {
        return eprintln!("skip: no python3");
    };
    if !have("curl") {
        return eprintln!("skip: no curl");
    }
    let d = tmp("curl");
    make_data(&d);
    let server = r#"
import gzip, zlib, http.server, sys, threading
data = open('data', 'rb').read()
bodies = {'/gzip': ('gzip', gzip.compress(data, 6)), '/deflate': ('deflate', zlib.compress(data, 6))}
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        enc, body = bodies[self.path]
        self.send_response(200); self.send_header('Content-Encoding', enc)
        self.send_header('Content-Length', str(len(body))); self.end_headers(); self.wfile.write(body)
    def log_message(self, *a): pass
s = http.server.HTTPServer(('127.0.0.1', 0), H)
print(s.server_address[1], flush=True)
threading.Timer(60, s.shutdown).start()
s.serve_forever()
"#;
    std::fs::write(d.join("srv.py"), server).unwrap();
    let mut child = Command::new(&py)
        .arg("srv.py")
        .current_dir(&d)
        .env_remove("LD_PRELOAD")
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut port = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(child.stdout.as_mut().unwrap()),
        &mut port,
    )
    .unwrap();
    let port = port.trim().to_string();
    let r = sh(
        &d,
        &format!("for e in gzip deflate; do curl -s --compressed --max-time 30 http://127.0.0.1:{port}/$e -o out.$e && cmp out.$e data; done"),
        true,
        &[("WARPDRIVE_ZLIB_MIN", "0")],
    );
    let _ = child.kill();
    let _ = child.wait();
    ok(&r);
}

#[test]
fn c_differential_program_matches_system_zlib() {
    let d = tmp("cdiff");
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/c/zdiff.c");
    ok(&sh(
        &d,
        &format!("cc -O1 -o zdiff {} -lz", src.display()),
        false,
        &[],
    ));
    let sys = ok(&sh(&d, "./zdiff", false, &[]));
    for env in [
        &[("WARPDRIVE_ZLIB", "off")][..],
        &[("WARPDRIVE_ZLIB_MIN", "0")][..],
        &[][..],
        // The core's Deflater as a true stream, on the queues.
        &[
            ("WARPDRIVE_ZLIB_MIN", "0"),
            ("WARPDRIVE_DEFLATE_BUFFER_MAX", "0"),
            ("WARPDRIVE_BACKEND", "softdev"),
        ][..],
    ] {
        let ours = ok(&sh(&d, "./zdiff", true, env));
        let diffs: Vec<_> = sys
            .lines()
            .zip(ours.lines())
            .filter(|(a, b)| a != b)
            // A known zlib-rs deviation, not offload: uncompress2 of one corrupt
            // input returns Z_DATA_ERROR where zlib says Z_BUF_ERROR.
            .filter(|(a, _)| !a.contains("uncompress2 -5"))
            .collect();
        assert!(diffs.is_empty(), "{env:?}: {diffs:#?}");
    }
}

/// Builds tests/c/`name`.c against the system zlib, runs it with the
/// system library and with the drop-in under each environment, and returns
/// the lines that differ.
fn c_differential(name: &str, envs: &[&[(&str, &str)]]) {
    c_differential_but(name, envs, "\0")
}

/// `c_differential`, ignoring lines that start with `skip` (the drop-in's
/// known deviations in software, which some environments reach).
fn c_differential_but(name: &str, envs: &[&[(&str, &str)]], skip: &str) {
    let d = tmp(name);
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("tests/c/{name}.c"));
    ok(&sh(
        &d,
        &format!("cc -O1 -pthread -o {name} {} -lz -ldl", src.display()),
        false,
        &[],
    ));
    let sys = ok(&sh(&d, &format!("./{name}"), false, &[]));
    assert!(sys.lines().count() > 4, "{sys}");
    for env in envs {
        let ours = ok(&sh(&d, &format!("./{name}"), true, env));
        let diffs: Vec<_> = sys
            .lines()
            .zip(ours.lines())
            .filter(|(a, b)| a != b && !(a.starts_with(skip) && b.starts_with(skip)))
            .collect();
        assert!(
            diffs.is_empty() && sys.lines().count() == ours.lines().count(),
            "{name} {env:?}: {diffs:#?}\n{ours}"
        );
    }
}

/// Streams offloaded before fork() go on in the child (deflate on engine
/// queues and in segments, buffered, inflate); a hang is an alarm signal.
#[test]
fn c_fork_continues_streams_in_the_child() {
    c_differential(
        "zfork",
        &[
            &[("WARPDRIVE_BACKEND", "softdev")][..],
            &[("WARPDRIVE_ZLIB_MIN", "0")][..],
            &[][..],
            &[
                ("WARPDRIVE_ZLIB_MIN", "0"),
                ("WARPDRIVE_DEFLATE_BUFFER_MAX", "0"),
                ("WARPDRIVE_BACKEND", "softdev"),
            ][..],
        ],
    );
}

/// Four worker threads drive deflate and inflate streams in pieces while
/// the main thread forks: children forked mid-call finish the forker's own
/// streams and run fresh round trips (a lock held at fork() would hang
/// them); a child forked with the workers parked finishes every thread's
/// streams. A hang is an alarm signal; every output is checked.
#[test]
fn c_threads_and_fork_soak() {
    c_differential(
        "zsoak",
        &[
            &[("WARPDRIVE_BACKEND", "softdev")][..],
            &[("WARPDRIVE_ZLIB_MIN", "0")][..],
            &[
                ("WARPDRIVE_ZLIB_MIN", "0"),
                ("WARPDRIVE_DEFLATE_BUFFER_MAX", "0"),
                ("WARPDRIVE_BACKEND", "softdev"),
            ][..],
        ],
    );
}

/// Inflate fed as Pillow's PNG decoder feeds it: input in pieces, one row
/// of output room, the loop running only while avail_in > 0. An offloaded
/// stream must never report all its input consumed while it holds output
/// (on main it did, by up to 320 KB; Pillow lost the last rows). Every
/// return is checked against zlib's rules (tests/c/zpieces.c). Where the
/// first call is offloaded (WARPDRIVE_ZLIB_MIN=0, inline and queue) `adler`
/// must be the checksum of the output handed out at every return; streams
/// that start in software (zlib-rs) still report it late, so the other
/// environments skip those lines (and these ones, the one-byte pieces).
#[test]
fn c_inflate_in_pieces_never_holds_output_without_input() {
    c_differential_but(
        "zpieces",
        &[
            &[("WARPDRIVE_ZLIB_MIN", "0")][..],
            &[
                ("WARPDRIVE_ZLIB_MIN", "0"),
                ("WARPDRIVE_BACKEND", "softdev"),
                ("WARPDRIVE_INLINE_MAX_DECOMPRESS", "0"),
            ][..],
        ],
        "  adler-software",
    );
    c_differential_but(
        "zpieces",
        &[
            &[][..],
            &[("WARPDRIVE_BACKEND", "softdev")][..],
            &[("WARPDRIVE_ZLIB_INFLATE", "off")][..],
        ],
        "  adler",
    );
}

/// PNG files written with the system zlib, read by Pillow (python3-pil)
/// with and without the drop-in: every image's pixels identical. Pillow
/// decodes one row at a time and stops asking once avail_in is 0 at the
/// last IDAT chunk; on main 17 of the 36 images came out truncated.
#[test]
fn pillow_reads_pngs_the_same_under_the_shim() {
    let py = "/usr/bin/python3";
    let has_pil = Command::new(py)
        .args(["-c", "import PIL.Image"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !has_pil {
        return eprintln!("skip: no python3-pil");
    }
    let d = tmp("pillow");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/py/png_roundtrip.py");
    let run = |mode: &str, preload: bool, env: &[(&str, &str)]| {
        ok(&sh(
            &d,
            &format!("{py} {} {mode} .", script.display()),
            preload,
            env,
        ))
    };
    run("write", false, &[]);
    let sys = run("read", false, &[]);
    assert!(sys.contains(": 0 bad"), "{sys}");
    for env in [
        &[][..],
        &[("WARPDRIVE_BACKEND", "softdev")][..],
        &[("WARPDRIVE_ZLIB_MIN", "0")][..],
    ] {
        let ours = run("read", true, env);
        assert_eq!(sys, ours, "{env:?}");
    }
    // The big images really were offloaded.
    let stats = d.join("stats");
    run(
        "read",
        true,
        &[("WARPDRIVE_ZLIB_STATS_FILE", stats.to_str().unwrap())],
    );
    let text = std::fs::read_to_string(&stats).expect("stats file written");
    let last = text.lines().last().unwrap();
    assert!(counter(last, "inflate_streams") > 0, "{last}");
}

/// compressBound and deflateBound are zlib 1.2.13's values, and one
/// compress2 or deflate(Z_FINISH) into that much room succeeds wherever
/// zlib's does.
#[test]
fn c_bounds_are_zlibs_and_hold() {
    c_differential(
        "zbound",
        &[
            &[][..],
            &[("WARPDRIVE_ZLIB", "off")][..],
            &[("WARPDRIVE_ZLIB_MIN", "0")][..],
            &[
                ("WARPDRIVE_ZLIB_MIN", "0"),
                ("WARPDRIVE_BACKEND", "softdev"),
            ][..],
        ],
    );
}

/// Each level's output is no larger than system zlib's, fed as programs
/// feed it: 8 KiB Z_NO_FLUSH writes (python's zipfile, pg_dump: the software
/// path) and a sync flush every 128 KiB (pigz: the offloaded streams), zlib
/// and raw framing. The data: the first 1 MiB of each corpus file when the
/// corpus is unpacked in target/corpus or /tmp/corpus, else generated text.
#[test]
fn each_level_is_no_larger_than_zlibs() {
    let Some(py) = python() else {
        return eprintln!("skip: no python3 with a dynamic zlib");
    };
    let d = tmp("levels");
    let target = Path::new(env!("CARGO_TARGET_TMPDIR")).join("../corpus");
    let corpus = [target.as_path(), Path::new("/tmp/corpus")]
        .into_iter()
        .find(|p| p.join("silesia-dickens").exists());
    let files: Vec<String> = match corpus {
        Some(dir) => std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path().display().to_string())
            .filter(|p| !p.ends_with(".xz"))
            .collect(),
        None => {
            make_data(&d);
            vec![d.join("data").display().to_string()]
        }
    };
    let script = r#"
import zlib, sys
datas = [open(f, 'rb').read()[:1 << 20] for f in sys.argv[1:]]
for piece, flush in ((8192, None), (131072, zlib.Z_SYNC_FLUSH)):
    for wbits in (15, -15):
        for level in range(1, 10):
            n = 0
            for d in datas:
                co = zlib.compressobj(level, zlib.DEFLATED, wbits)
                for i in range(0, len(d), piece):
                    n += len(co.compress(d[i:i + piece]))
                    if flush is not None:
                        n += len(co.flush(flush))
                n += len(co.flush())
            print(piece, wbits, level, n)
"#;
    std::fs::write(d.join("t.py"), script).unwrap();
    let cmd = format!("{py} t.py {}", files.join(" "));
    let sys = ok(&sh(&d, &cmd, false, &[]));
    for env in [&[][..], &[("WARPDRIVE_ZLIB", "off")][..]] {
        let ours = ok(&sh(&d, &cmd, true, env));
        for (a, b) in sys.lines().zip(ours.lines()) {
            let size = |l: &str| l.rsplit(' ').next().unwrap().parse::<u64>().unwrap();
            // zlib-rs has no level as small as zlib 8 and 9 (its 9 is 0.003%
            // larger on the generated text, 0.03% on the corpus), and the
            // offloaded pieces of a flushed level-6 stream cost 16 bytes on
            // the text: levels 6-9 are allowed 0.05% (issue 11: only zlib's
            // own algorithm would be exact). Levels 1-5 get no slack.
            let level: u32 = a.split(' ').nth(2).unwrap().parse().unwrap();
            let slack = if level >= 6 { size(a) / 2000 } else { 0 };
            assert!(
                size(b) <= size(a) + slack,
                "{env:?}: larger than zlib: {b} against {a}"
            );
        }
    }
}

/// Damaged input (bad Adler-32, CRC-32 or length trailer, an invalid block
/// after full flushes; zlib, gzip, automatic and raw framing; inflateBack):
/// everything zlib hands out before the damage comes out, then zlib's error
/// and message.
#[test]
fn c_damaged_input_yields_zlibs_prefix_and_message() {
    c_differential(
        "zdamage",
        &[
            &[][..],
            &[("WARPDRIVE_BACKEND", "softdev")][..],
            &[
                ("WARPDRIVE_ZLIB_MIN", "0"),
                ("WARPDRIVE_BACKEND", "softdev"),
            ][..],
            // Not with WARPDRIVE_ZLIB=off: zlib-rs's own inflateBack leaves
            // msg NULL on an invalid block type (a known deviation).
        ],
    );
}

/// Mid-stream calls after a first large (offloaded) call: deflateCopy after
/// a sync flush, deflateParams with and without output room; zlib's codes;
/// the gzip header's XFL and OS bytes as zlib writes them.
#[test]
fn c_mid_stream_calls_return_zlibs_codes() {
    c_differential(
        "zmid",
        &[
            &[][..],
            &[("WARPDRIVE_BACKEND", "softdev")][..],
            &[
                ("WARPDRIVE_DEFLATE_BUFFER_MAX", "0"),
                ("WARPDRIVE_BACKEND", "softdev"),
            ][..],
            &[("WARPDRIVE_ZLIB_MIN", "0")][..],
            // Not WARPDRIVE_ZLIB=off: plain zlib-rs writes XFL 0 at level 1.
        ],
    );
}

/// Memory through the caller's zalloc stays within zlib's own footprint:
/// a pool sized from zlib's formula (as nginx's gzip filter sizes it) that
/// refuses what would not fit, for windowBits 9-15 (zlib, raw, gzip),
/// memLevels 1-9 and levels 1, 6, 9, with a deflateCopy midway.
#[test]
fn c_zalloc_stays_within_zlibs_footprint() {
    c_differential(
        "zpool",
        &[
            &[][..],
            &[("WARPDRIVE_ZLIB", "off")][..],
            &[("WARPDRIVE_ZLIB_MIN", "0")][..],
            &[
                ("WARPDRIVE_ZLIB_MIN", "0"),
                ("WARPDRIVE_DEFLATE_BUFFER_MAX", "0"),
                ("WARPDRIVE_BACKEND", "softdev"),
            ][..],
        ],
    );
}

/// zlib's streaming contract for unflushed deflate streams: 16 KiB
/// Z_NO_FLUSH writes (nginx, python's gzip, pg_dump) get output within 1 MiB
/// of input, and again after every 1 MiB at most, in every framing at levels
/// 1, 6, 9; nothing larger stays held when Z_FINISH comes.
#[test]
fn c_unflushed_streams_emit_as_input_goes_in() {
    c_differential(
        "zstream",
        &[
            &[][..],
            &[("WARPDRIVE_BACKEND", "softdev")][..],
            &[
                ("WARPDRIVE_DEFLATE_BUFFER_MAX", "0"),
                ("WARPDRIVE_BACKEND", "softdev"),
            ][..],
        ],
    );
}

/// Programs that feed zlib small unflushed pieces offload: python's gzip,
/// zipfile and tarfile write 8 KiB at a time (the decision waits for
/// WARPDRIVE_ZLIB_MIN bytes instead of taking the first call's size). The
/// files decode with system zlib to the same content and are no larger
/// than system zlib's. Level 6: on this data zlib-rs's level 9 (what
/// level 9 runs on, offloaded or not) is 1.9% larger than zlib's.
#[test]
fn python_small_writes_offload() {
    let Some(py) = python() else {
        return eprintln!("skip: no python3 with a dynamic zlib");
    };
    let d = tmp("smallwrites");
    let stats = d.join("stats");
    let script = r#"
import gzip, io, os, sys, tarfile, zipfile
out = sys.argv[1]; os.makedirs(out, exist_ok=True)
d = b''.join(b'row %d, value %d, note %s\n' % (i, i * 7919 % 100003, b'abcdefgh'[i % 8:]) for i in range(200000))
with gzip.open(out + '/a.gz', 'wb', compresslevel=6) as g:
    for i in range(0, len(d), 8192): g.write(d[i:i + 8192])
with zipfile.ZipFile(out + '/a.zip', 'w', zipfile.ZIP_DEFLATED) as z:
    with z.open('d', 'w') as f:
        for i in range(0, len(d), 8192): f.write(d[i:i + 8192])
with tarfile.open(out + '/a.tgz', 'w:gz', compresslevel=6) as t:
    ti = tarfile.TarInfo('d'); ti.size = len(d); ti.mtime = 0; t.addfile(ti, io.BytesIO(d))
for n in ('a.gz', 'a.zip', 'a.tgz'): print(n, os.path.getsize(out + '/' + n))
"#;
    let check = r#"
import gzip, sys, tarfile, zipfile
d = b''.join(b'row %d, value %d, note %s\n' % (i, i * 7919 % 100003, b'abcdefgh'[i % 8:]) for i in range(200000))
o = sys.argv[1]
assert gzip.open(o + '/a.gz').read() == d
assert zipfile.ZipFile(o + '/a.zip').read('d') == d
assert tarfile.open(o + '/a.tgz').extractfile('d').read() == d
print('ok')
"#;
    std::fs::write(d.join("w.py"), script).unwrap();
    std::fs::write(d.join("c.py"), check).unwrap();
    let sys = ok(&sh(&d, &format!("{py} w.py sys"), false, &[]));
    let ours = ok(&sh(
        &d,
        &format!("{py} w.py ours"),
        true,
        &[("WARPDRIVE_ZLIB_STATS_FILE", stats.to_str().unwrap())],
    ));
    assert_eq!(
        ok(&sh(&d, &format!("{py} c.py ours"), false, &[])).trim(),
        "ok"
    );
    let text = std::fs::read_to_string(&stats).expect("stats file written");
    let last = text.lines().last().unwrap();
    assert!(counter(last, "deflate_streams") >= 3, "{last}");
    for (a, b) in sys.lines().zip(ours.lines()) {
        let size = |l: &str| l.rsplit(' ').next().unwrap().parse::<u64>().unwrap();
        assert!(size(b) <= size(a), "larger than zlib: {b} against {a}");
    }
}

/// pigz with its default threads gives every block after the first the
/// previous 32 KiB as a dictionary (deflateSetDictionary on a raw stream):
/// the segment history carries it, so the blocks offload; the output
/// decodes with system zlib and is no larger than pigz's with system zlib.
#[test]
fn pigz_dictionary_blocks_offload() {
    if !have("pigz") {
        return eprintln!("skip: no pigz");
    }
    let d = tmp("pigzdict");
    // Text of words (on make_data's digits zlib-rs's level 7, which level 6
    // runs on offloaded or not, is 0.02% larger than zlib's 6).
    let words = [
        "block",
        "thread",
        "window",
        "history",
        "pigz",
        "dictionary",
        "segment",
        "engine",
        "offload",
        "deflate",
        "stream",
        "raw",
        "level",
        "six",
        "seven",
        "output",
    ];
    let (mut text, mut x) = (String::new(), 12345u32);
    while text.len() < 4 << 20 {
        x = x.wrapping_mul(1103515245).wrapping_add(12345);
        text.push_str(words[(x >> 16) as usize % words.len()]);
        text.push(if x >> 28 == 0 { '\n' } else { ' ' });
    }
    std::fs::write(d.join("data"), text).unwrap();
    let stats = d.join("stats");
    ok(&sh(&d, "pigz -6 -b 128 -c data > sys.gz", false, &[]));
    ok(&sh(
        &d,
        "pigz -6 -b 128 -p 2 -c data > ours.gz",
        true,
        &[("WARPDRIVE_ZLIB_STATS_FILE", stats.to_str().unwrap())],
    ));
    ok(&sh(&d, "gzip -dc ours.gz | cmp - data", false, &[]));
    let text = std::fs::read_to_string(&stats).expect("stats file written");
    let last = text.lines().last().unwrap();
    let blocks = std::fs::metadata(d.join("data"))
        .unwrap()
        .len()
        .div_ceil(128 << 10);
    // Every block but the first has a dictionary; all but a few offload.
    assert!(
        counter(last, "deflate_streams") + 2 >= blocks,
        "{blocks} blocks: {last}"
    );
    let size = |n: &str| std::fs::metadata(d.join(n)).unwrap().len();
    assert!(
        size("ours.gz") <= size("sys.gz"),
        "{} > {}",
        size("ours.gz"),
        size("sys.gz")
    );
}

/// Unmodified nginx with `gzip on` serves a 4 MiB file three times through
/// the drop-in: the bodies decode to the file, and error.log has no alert
/// (nginx sizes a zalloc pool from zlib's memory formula and logs "gzip
/// filter failed to use preallocated memory" when a deflate asks for more).
/// nginx binds 127.0.0.1 only and is stopped by the test (and by `timeout`).
#[test]
fn nginx_gzip_serves_within_zlibs_memory() {
    if !have("nginx") || !have("curl") {
        return eprintln!("skip: no nginx or curl (apt: nginx)");
    }
    let d = tmp("nginx");
    let words = [
        "nginx", "gzip", "filter", "pool", "window", "hash", "memory", "level",
    ];
    let (mut text, mut x) = (String::new(), 99u32);
    while text.len() < 4 << 20 {
        x = x.wrapping_mul(1103515245).wrapping_add(12345);
        text.push_str(words[(x >> 16) as usize % words.len()]);
        text.push_str(&format!(" {}\n", x >> 20));
    }
    std::fs::write(d.join("big.txt"), &text).unwrap();
    let port = 20000 + std::process::id() % 20000;
    let p = d.display();
    let conf = format!(
        "worker_processes 1; daemon off; pid {p}/nginx.pid; error_log {p}/error.log;\n\
         events {{ worker_connections 16; }}\n\
         http {{ access_log off; client_body_temp_path {p}; proxy_temp_path {p};\n\
         fastcgi_temp_path {p}; uwsgi_temp_path {p}; scgi_temp_path {p};\n\
         types {{ text/plain txt; }} gzip on; gzip_types text/plain;\n\
         server {{ listen 127.0.0.1:{port}; root {p}; }} }}\n"
    );
    std::fs::write(d.join("nginx.conf"), conf).unwrap();
    let script = format!(
        "timeout 60 nginx -p {p} -c {p}/nginx.conf & n=$!\n\
         for i in $(seq 100); do curl -s -o /dev/null http://127.0.0.1:{port}/ && break; sleep 0.1; done\n\
         for r in 1 2 3; do curl -s -H 'Accept-Encoding: gzip' -o out$r.gz http://127.0.0.1:{port}/big.txt; done\n\
         kill $n; wait $n || true\n\
         for r in 1 2 3; do gzip -dc out$r.gz | cmp - big.txt; done\n\
         echo alerts=$(grep -c alert error.log || true)"
    );
    let out = ok(&sh(&d, &script, true, &[]));
    assert!(
        out.contains("alerts=0"),
        "{out}\n{}",
        std::fs::read_to_string(d.join("error.log")).unwrap_or_default()
    );
}
