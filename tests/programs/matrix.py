#!/usr/bin/env python3
"""The real-program matrix (issue 11): unmodified programs, each run with the
system zlib and with a preloaded zlib (the drop-in, or for --self-check a
deliberately wrong one), compared row by row:

  content  every output decodes with the system zlib (this process, which
           runs without LD_PRELOAD) to what the system-zlib run produced
  size     no compressed output larger than the system zlib's
  errors   the same exit codes and (normalised) stderr, damaged input included
  streaming  inflate hands out on each call what zlib hands out (python's
           decompressobj fed 16 KiB pieces), so a program that stops at an
           error sees the same data
  offload  the drop-in's counters: offloaded / (offloaded + software) streams
           and one-shot calls; 0, or below the row's floor, fails
  servers  worker peak RSS at most 2x the system zlib's + 8 MiB, time to the
           first body byte at most 4x + 20 ms (both settable), and no
           [alert]/[crit]/[emerg]/[error] lines in the log

Stdlib only. Failures print as `FAIL row aspect: detail`; those matching a
--known pattern (row:aspect, fnmatch) print as `KNOWN FAILURE ...` and do not
count. Exit status 1 when any other failure is found.
"""

import argparse
import fnmatch
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import rows  # noqa: E402  (the programs; beside this file)

ROOT = Path(__file__).resolve().parents[2]


class Lib:
    """A zlib to run the programs with: None is the system's."""

    def __init__(self, name, preload=None, env=None):
        self.name, self.preload, self.env = name, preload, dict(env or {})

    def environ(self, stats_file):
        e = {k: v for k, v in os.environ.items() if k != "LD_PRELOAD"}
        e.update(LC_ALL="C", LANG="C", TZ="UTC")
        e.pop("WARPDRIVE_ZLIB_STATS", None)
        e.pop("WARPDRIVE_ZLIB_STATS_FILE", None)
        if self.preload:
            e["LD_PRELOAD"] = str(self.preload)
            e["WARPDRIVE_ZLIB_STATS"] = "1"
            e["WARPDRIVE_ZLIB_STATS_FILE"] = str(stats_file)
        e.update(self.env)
        return e


class Ctx:
    """What a program needs: where to work, which zlib, its inputs; and the
    rows it fills (ctx.row(name) starts one: later processes count for it)."""

    def __init__(self, lib, work, inputs, args):
        self.lib, self.work, self.inputs, self.args = lib, work, inputs, args
        self.rows = {}
        self.cur = None

    def row(self, name):
        r = Row()
        r.stats_file = self.work / f"{name}.counters"
        r.offload_floor = None if name in rows.NOT_JUDGED else rows.FLOORS.get(name, self.args.offload_floor)
        self.rows[name] = self.cur = r
        return r

    def current_env(self, system=False):
        if system:
            return Lib("system").environ(None)
        return self.lib.environ(self.cur.stats_file if self.cur else self.work / "setup.counters")

    def collect(self, text):
        if self.cur is not None:
            self.cur.texts.append(text)

    def run(self, argv, check=True, stdin=None, cwd=None, timeout=120, env=None, system=False):
        """Runs argv; returns (status, stdout bytes, stderr text without counter
        lines and with the work directory's path as <work>). system=True: on
        the system zlib whatever this run's zlib is (to read back its output)."""
        e = self.current_env(system)
        e.update(env or {})
        p = subprocess.run(argv, input=stdin, capture_output=True, cwd=cwd or self.work,
                           env=e, timeout=timeout)
        err = p.stderr.decode(errors="replace")
        if not system:
            self.collect(err)
        err = strip_counters(err).replace(str(self.work), "<work>")
        if check and p.returncode != 0:
            raise RowError(f"{argv[0]} exited {p.returncode}: {err.strip()[-400:]}")
        return p.returncode, p.stdout, err

    def timed(self, argv, **kw):
        t = time.perf_counter()
        r = self.run(argv, **kw)
        return r, time.perf_counter() - t


class RowError(Exception):
    pass


class Row:
    """One program's results under one zlib."""

    def __init__(self):
        self.content = {}  # name -> digest of what the system zlib decodes, or "error: ..."
        self.sizes = {}  # name -> compressed size in bytes
        self.errors = {}  # name -> (status, normalised stderr)
        self.streaming = {}  # name -> what each call handed out, as a list
        self.secs = []  # one per repetition
        self.counters = None  # the drop-in's, summed over processes
        self.rss = None  # bytes, servers
        self.ttfb = None  # seconds, servers
        self.alerts = None  # log lines, servers
        self.offload_floor = 0.5  # None: this row's offload is not judged
        self.failed_to_run = None
        self.texts = []  # stderr and logs of its processes: the counter lines
        self.stats_file = None


def strip_counters(text):
    return "".join(line for line in text.splitlines(True) if not line.startswith("warpdrive-zlib: pid="))


def parse_counters(texts):
    """The drop-in's counter lines (stderr at exit, the stats file after each
    offloaded stream): per process the last line, which has the highest values;
    summed over processes."""
    per_pid = {}
    for text in texts:
        for line in text.splitlines():
            if not line.startswith("warpdrive-zlib: pid="):
                continue
            kv = dict(f.split("=", 1) for f in line.split()[1:] if "=" in f)
            try:
                vals = {k: int(v) for k, v in kv.items()}
            except ValueError:
                continue
            old = per_pid.get(vals["pid"], {})
            per_pid[vals["pid"]] = {k: max(v, old.get(k, 0)) for k, v in vals.items()}
    if not per_pid:
        return None
    total = {}
    for vals in per_pid.values():
        for k, v in vals.items():
            if k != "pid":
                total[k] = total.get(k, 0) + v
    total["processes"] = len(per_pid)
    return total


def fraction(c):
    if not c:
        return 0.0
    units = c.get("offloaded", 0) + c.get("software", 0)
    return c.get("offloaded", 0) / units if units else 0.0


def compare(name, base, other, lib, args):
    """Failures of `other` against `base` (the system zlib's run): (aspect, detail)."""
    f = []
    if base.failed_to_run:
        return [("run", f"with the system zlib: {base.failed_to_run}")]
    if other.failed_to_run:
        return [("run", f"with {lib.name}: {other.failed_to_run}")]
    for k, v in base.content.items():
        o = other.content.get(k)
        if o != v:
            f.append(("content", f"{k}: {o} where the system zlib gives {v}"))
    for k, v in base.sizes.items():
        o = other.sizes.get(k)
        if o is None or o > v:
            f.append(("size", f"{k}: {o} bytes, system zlib {v} ({pct(o, v)})"))
    for k, v in base.errors.items():
        o = other.errors.get(k)
        if o != v:
            f.append(("errors", f"{k}: status/stderr {short(o)} where the system zlib gives {short(v)}"))
    for k, v in base.streaming.items():
        o = other.streaming.get(k) or []
        if o != v:
            i = next((i for i, (a, b) in enumerate(zip(o, v)) if a != b), min(len(o), len(v)))
            n = sum(1 for a, b in zip(o, v) if a != b) + abs(len(o) - len(v))
            f.append(("streaming", f"{k}: {n} of {len(v)} calls differ, first call {i}: "
                                   f"{o[i:i + 3]} where the system zlib gives {v[i:i + 3]}"))
    if base.alerts is not None and other.alerts:
        f.append(("alert", f"{len(other.alerts)} log lines, first: {other.alerts[0][:160]}"))
    if base.rss is not None and (other.rss is None or other.rss > 2 * base.rss + args.rss_slack):
        f.append(("rss", f"worker peak RSS {mib(other.rss)} against {mib(base.rss)}"))
    if base.ttfb is not None and (other.ttfb is None or other.ttfb > 4 * base.ttfb + args.ttfb_slack):
        f.append(("ttfb", f"first byte after {ms(other.ttfb)} against {ms(base.ttfb)}"))
    if lib.preload and not lib.env.get("WD_WRONG") and other.offload_floor is not None:
        fr = fraction(other.counters)
        if fr < other.offload_floor:
            f.append(("offload", f"{fr:.1%} of streams/calls offloaded (floor {other.offload_floor:.0%}); counters {brief(other.counters)}"))
    return f


def pct(o, v):
    return "?" if o is None or not v else f"{(o - v) / v:+.2%}"


def mib(b):
    return "?" if b is None else f"{b / 1048576:.1f} MiB"


def ms(s):
    return "?" if s is None else f"{s * 1000:.1f} ms"


def short(e):
    if e is None:
        return "none"
    return f"({e[0]}, {e[1].strip()[:160]!r})"


def brief(c):
    if not c:
        return "none (no counter line)"
    keys = ("offloaded", "software", "deflate_streams", "inflate_streams", "compress", "uncompress", "fallbacks", "demoted")
    return " ".join(f"{k}={c.get(k, 0)}" for k in keys)


def run_spec(spec, lib, args, inputs, scratch, rep):
    """One run of a program with one zlib: {row name: Row}."""
    work = scratch / f"{spec.name}.{lib.name}.{rep}"
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    work.chmod(0o777)
    ctx = Ctx(lib, work, inputs, args)
    err = None
    try:
        spec.func(ctx)
    except Exception as e:  # noqa: BLE001  (whatever breaks, the row says so and the others run)
        err = f"{type(e).__name__}: {e}"[:400]
    out = {}
    for name in spec.names:
        r = ctx.rows.get(name) or Row()
        if err and (name not in ctx.rows or r is ctx.cur):
            r.failed_to_run = err
        elif name not in ctx.rows:
            r.failed_to_run = "not reached"
        texts = list(r.texts)
        if r.stats_file and r.stats_file.exists():
            texts.append(r.stats_file.read_text(errors="replace"))
        r.counters = parse_counters(texts)
        out[name] = r
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    return out


def measure(spec, lib, args, inputs, scratch):
    """The first run's results, with the times of every repetition."""
    first = None
    for rep in range(max(1, min(spec.reps, args.reps))):
        got = run_spec(spec, lib, args, inputs, scratch, rep)
        if first is None:
            first = got
        else:
            for name, r in got.items():
                first[name].secs.extend(r.secs)
        if any(r.failed_to_run for r in got.values()):
            break
    return first


def speed(base, other):
    if not base.secs or not other.secs:
        return None
    return statistics.median(base.secs) / max(statistics.median(other.secs), 1e-9)


def size_ratio(base, other):
    keys = [k for k in base.sizes if other.sizes.get(k) is not None]
    b = sum(base.sizes[k] for k in keys)
    o = sum(other.sizes[k] for k in keys)
    return o / b if b else None


# The system zlib's results by program, shared by the self-check and the matrix.
BASE = {}


def matrix(lib, specs, args, inputs, scratch, known, out=print):
    """Runs every row with the system zlib and with `lib`; returns (failures, table)."""
    table, failures = [], []
    system = Lib("system")
    for spec in specs:
        if spec.name not in BASE:
            BASE[spec.name] = measure(spec, system, args, inputs, scratch)
        base = BASE[spec.name]
        other = measure(spec, lib, args, inputs, scratch)
        for name in spec.names:
            fails = compare(name, base[name], other[name], lib, args)
            for aspect, detail in fails:
                key = f"{name}:{aspect}"
                if any(fnmatch.fnmatchcase(key, k) for k in known):
                    out(f"KNOWN FAILURE {name} {aspect}: {detail}")
                else:
                    out(f"FAIL {name} {aspect}: {detail}")
                    failures.append(key)
            failed = {f"{name}:{a}" for a, _ in fails}
            for k in known:
                if k.startswith(name + ":") and "*" not in k and k not in failed:
                    out(f"KNOWN FAILURE NOW PASSES {k}: take it off the list")
            o, b = other[name], base[name]
            table.append((name, fraction(o.counters), size_ratio(b, o), speed(b, o), o, b,
                          "fail" if fails else "ok"))
    return failures, table


def print_table(table, lib, out=print):
    out(f"\n{'row':22} {'offloaded':>9} {'size':>8} {'speed':>7}  {'sys s':>7} {lib.name + ' s':>10}  extra")
    for name, fr, sr, sp, other, base, status in table:
        extra = []
        if base.ttfb is not None:
            extra.append(f"ttfb {ms(base.ttfb)}->{ms(other.ttfb)}")
        if base.rss is not None:
            extra.append(f"rss {mib(base.rss)}->{mib(other.rss)}")
        if base.alerts is not None:
            extra.append(f"alerts {len(other.alerts or [])}")
        if other.counters:
            c = other.counters
            extra.append(f"streams {c.get('offloaded', 0)}/{c.get('offloaded', 0) + c.get('software', 0)}"
                         f" in {c.get('bytes_in', 0) / 1048576:.1f} MiB offloaded")
        med = lambda r: f"{statistics.median(r.secs):.3f}" if r.secs else "-"  # noqa: E731
        out(f"{name:22} {fr:>9.1%} {'-' if sr is None else f'{sr:.4f}':>8} "
            f"{'-' if sp is None else f'{sp:.2f}':>7}  {med(base):>7} {med(other):>10}  {' '.join(extra)} [{status}]")
    out("offloaded: streams and one-shot calls served by the core, from the drop-in's counters; "
        "size: compressed bytes against the system zlib's; speed: system time / drop-in time (median)")


def make_inputs(scratch, corpus):
    """Text and binary inputs from the machine: the project's sources, /usr/share
    documentation, shared libraries; a corpus slice when one is at hand."""
    d = scratch / "inputs"
    d.mkdir(parents=True, exist_ok=True)
    text = bytearray()
    for base in (ROOT, Path("/usr/share/doc"), Path("/usr/share/common-licenses")):
        for dirpath, dirnames, files in os.walk(base):
            dirnames[:] = sorted(x for x in dirnames if x not in ("target", ".git", "vendor"))
            for fn in sorted(files):
                p = Path(dirpath) / fn
                if p.suffix in (".rs", ".c", ".h", ".md", ".sh", ".py", ".toml", ".txt", "") and p.is_file() and not p.is_symlink():
                    try:
                        b = p.read_bytes()
                    except OSError:
                        continue
                    if b[:2] != b"\x1f\x8b" and b"\0" not in b[:512]:
                        text += b
                if len(text) > 2 << 20:
                    break
            if len(text) > 2 << 20:
                break
    if corpus:
        for n in ("silesia-dickens.xz", "silesia-xml.xz"):
            p = Path(corpus) / n
            if p.exists():
                r = subprocess.run(["xz", "-dc", str(p)], capture_output=True)
                if r.returncode == 0:
                    text += r.stdout[: 1 << 20]
    while len(text) < 2 << 20:  # a bare machine: repeat what there is
        text += text or b"WarpDrive matrix filler line\n"
    binary = bytearray()
    for p in sorted(Path("/usr/lib/x86_64-linux-gnu").glob("*.so*")) + sorted(Path("/usr/bin").glob("*")):
        try:
            if p.is_file() and not p.is_symlink():
                binary += p.read_bytes()[: 256 << 10]
        except OSError:
            continue
        if len(binary) >= 512 << 10:
            break
    (d / "text").write_bytes(bytes(text))
    (d / "binary").write_bytes(bytes(binary))
    (d / "mixed").write_bytes(bytes(text[: 3 << 19] + binary))
    return d


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--lib", required=True, help="the zlib to preload (the drop-in's libz.so.1)")
    ap.add_argument("--wrong", help="a deliberately wrong zlib (wrong.so) for --self-check")
    ap.add_argument("--self-check", action="store_true", help="require failures from --wrong first")
    ap.add_argument("--known", default="", help="known failures, row:aspect patterns, space or comma separated")
    ap.add_argument("--only", default="", help="run only rows matching these patterns")
    ap.add_argument("--reps", type=int, default=3, help="repetitions for cheap rows (median time)")
    ap.add_argument("--corpus", default=os.environ.get("CORPUS_SRC", ""))
    ap.add_argument("--scratch", help="work directory (default: a new temporary one)")
    ap.add_argument("--keep", action="store_true", help="keep each run's work directory")
    ap.add_argument("--rss-slack", type=float, default=8 << 20, help="bytes allowed over 2x the system zlib's RSS")
    ap.add_argument("--ttfb-slack", type=float, default=0.02, help="seconds allowed over 4x the system zlib's first byte")
    ap.add_argument("--offload-floor", type=float, default=0.5, help="smallest offloaded fraction that passes")
    ap.add_argument("--list", action="store_true", help="print the rows and exit")
    args = ap.parse_args()

    specs = rows.SPECS
    if args.list:
        for s in specs:
            print("\n".join(s.names))
        return 0
    if args.only:
        pats = args.only.replace(",", " ").split()
        specs = [s for s in specs if any(fnmatch.fnmatchcase(n, p) for n in s.names for p in pats)]
    known = args.known.replace(",", " ").split()
    scratch = Path(args.scratch) if args.scratch else Path(tempfile.mkdtemp(prefix="wd-programs."))
    scratch.mkdir(parents=True, exist_ok=True)
    scratch.chmod(0o755)  # the unprivileged postgres and nginx users read below it
    # The libraries are copied into the scratch directory, where those users can read them.
    lib_copy = scratch / "libz.so.1"
    shutil.copyfile(args.lib, lib_copy)
    lib_copy.chmod(0o755)
    rows.setup(scratch)
    t0 = time.perf_counter()
    inputs = make_inputs(scratch, args.corpus)
    rows.refs(inputs)
    status = 0
    try:
        if args.self_check:
            if not args.wrong:
                ap.error("--self-check needs --wrong")
            wrong = scratch / "wrong.so"
            shutil.copyfile(args.wrong, wrong)
            wrong.chmod(0o755)
            status |= self_check(wrong, args, inputs, scratch)
        lib = Lib("drop-in", lib_copy)
        failures, table = matrix(lib, specs, args, inputs, scratch, known)
        print_table(table, lib)
        n_bad = len({f.split(":")[0] for f in failures})
        n_known = sum(1 for r in table if r[6] == "fail") - n_bad
        print(f"matrix: {len(table)} rows: {len(table) - n_bad - n_known} pass, {n_known} with known failures only, "
              f"{n_bad} with unexpected failures ({len(failures)}); {time.perf_counter() - t0:.0f} s")
        if failures:
            status = 1
    finally:
        rows.teardown()
        if not args.scratch and not args.keep:
            shutil.rmtree(scratch, ignore_errors=True)
    return status


# Rows the self-check runs with the wrong zlib, and the aspect each mode must break.
SELF_CHECK_ROWS = ["python-zlib", "python-gzip-L6", "pigz-p1-L6", "pillow-write", "nginx-gzip", "git-add", "pg_dump-Z6"]
SELF_CHECK = {"enlarge": ("size", SELF_CHECK_ROWS), "corrupt": ("content", SELF_CHECK_ROWS)}


def self_check(wrong, args, inputs, scratch):
    """The matrix must catch a zlib that enlarges or corrupts deflate output."""
    bad = 0
    for mode, (aspect, names) in SELF_CHECK.items():
        lib = Lib(f"wrong-{mode}", wrong, {"WD_WRONG": mode})
        specs = [s for s in rows.SPECS if set(s.names) & set(names)]
        lines = []
        failures, _ = matrix(lib, specs, args, inputs, scratch, [], out=lines.append)
        for n in names:
            if f"{n}:{aspect}" in failures:
                print(f"self-check: ok: {mode} zlib caught in {n} ({aspect})")
            else:
                bad = 1
                print(f"self-check: FAIL: {mode} zlib NOT caught in {n} ({aspect}); the matrix said: {lines}")
    return bad


if __name__ == "__main__":
    sys.exit(main())
