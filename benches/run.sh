#!/usr/bin/env bash
# Runs WarpDrive's criterion benches with a short measurement time, then the
# threshold sweep, and prints a summary of medians and side-by-side ratios.
#   benches/run.sh [bench ...]      (default: ring crypto compress threshold)
# Env: CARGO_TARGET_DIR (default target/bench), WARMUP (1), MEASURE (3),
#      NICE (nice level, default 10).
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target/bench}"
WARMUP="${WARMUP:-1}"; MEASURE="${MEASURE:-3}"; NICE="${NICE:-10}"
benches=("$@"); [ ${#benches[@]} -gt 0 ] || benches=(ring crypto compress threshold)
log="$CARGO_TARGET_DIR/warpdrive-bench/run.log"; mkdir -p "$(dirname "$log")"; : > "$log"
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg); $(nproc) cpus" | tee -a "$log"
for b in "${benches[@]}"; do
  echo "== bench $b" | tee -a "$log"
  if [ "$b" = threshold ]; then
    nice -n "$NICE" cargo bench -q -p warpdrive-benches --bench threshold 2>&1 | tee -a "$log"
  else
    nice -n "$NICE" cargo bench -q -p warpdrive-benches --bench "$b" -- \
      --warm-up-time "$WARMUP" --measurement-time "$MEASURE" 2>&1 | tee -a "$log"
  fi
done
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$log"
python3 - "$CARGO_TARGET_DIR" <<'PY'
import json, os, sys
t = sys.argv[1]; crit = os.path.join(t, "criterion"); side = os.path.join(t, "warpdrive-bench")
def med(group, fn):
    p = os.path.join(crit, group, fn, "new", "estimates.json")
    try:
        return json.load(open(p))["median"]["point_estimate"]  # ns per iteration
    except OSError:
        return None
def tsv(name):
    try:
        return dict(l.rstrip("\n").split("\t", 1) for l in open(os.path.join(side, name)) if "\t" in l)
    except OSError:
        return {}
def ok(c): return "MET" if c else "MISSED"
print("\n==== summary (criterion medians) ====")
pp, b1, b32 = med("ring", "pingpong"), med("ring", "nop_batch1"), med("ring", "nop_batch32")
if pp and b1 and b32:
    print(f"ring: ping-pong {pp:.0f} ns; NOP batch 1 {b1:.0f} ns/req ({b1/pp:.2f}x ping-pong, target <=1.5x: {ok(b1 <= 1.5*pp)}); "
          f"batch 32 {b32/32:.0f} ns/req (target <100: {ok(b32/32 < 100)})")
sizes = tsv("compress.tsv"); total = float(sizes.get("corpus_bytes", "nan"))
tgt = {"compress_l1": 4.0, "compress_l6": 2.5, "decompress_zlib6": 2.0}
for g, target in tgt.items():
    z = med(g, "zlib")
    if not z: continue
    for e in ("core_queue", "core_global", "core_inline"):
        m = med(g, e)
        if not m: continue
        line = f"{g:17} {e:12} {total/m*1e3:8.1f} MB/s vs zlib {total/z*1e3:7.1f} MB/s = {z/m:5.2f}x (target >={target}x: {ok(z/m >= target)})"
        lvl = g[-1] if g.startswith("compress") else None
        if lvl:
            cs, zs = int(sizes.get(f"size_l{lvl}_{e}", 0)), int(sizes.get(f"size_l{lvl}_zlib", 0))
            line += f"; size {cs} vs zlib {zs} ({ok(0 < cs <= zs)})"
        print(line)
for size, ttarget in ((16, 0.8), (16384, 0.9)):
    for g in (f"aes256gcm_seal_{size}", f"sha256_{size}"):
        o = med(g, "openssl")
        if not o: continue
        parts = []
        for e in ("core_global", "core_queue"):
            m = med(g, e)
            if m: parts.append(f"{e} {m:8.0f} ns = {o/m:4.2f}x")
        g_m = med(g, "core_global")
        print(f"{g:22} openssl {o:8.0f} ns; " + "; ".join(parts) + f" (core_global target >={ttarget}x: {ok(g_m and o/g_m >= ttarget)})")
th = tsv("threshold.tsv")
if th:
    print("offload within 10% of inline from (hot / cold engine): " + ", ".join(
        f"{c} {th.get('threshold_'+c+'_hot','?')}/{th.get('threshold_'+c+'_cold','?')}"
        for c in ("compress_l1", "compress_l6", "decompress", "aes256gcm_seal", "sha256")))
PY
