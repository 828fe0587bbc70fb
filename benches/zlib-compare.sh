#!/usr/bin/env bash
# Side-by-side: unmodified python3 zlib and pigz with the system libz vs the
# WarpDrive shim preloaded, levels 1 and 6, over ../shared/corpus.
# Usage: benches/zlib-compare.sh [path/to/libz.so]   (builds the shim if absent)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target/shim}
SHIM=$(realpath -m "${1:-$CARGO_TARGET_DIR/release/libz.so}")
[ -f "$SHIM" ] || (cd "$ROOT" && nice cargo build -p warpdrive-zlib --release)
CORPUS_SRC=${CORPUS_SRC:-$ROOT/../shared/corpus}
CORPUS=$ROOT/target/corpus
mkdir -p "$CORPUS"
for f in "$CORPUS_SRC"/*.xz; do
  b=$(basename "$f" .xz); [ -f "$CORPUS/$b" ] || xz -dc "$f" > "$CORPUS/$b"
done
PY=${PYTHON:-python3}
cat > "$CORPUS/../zbench.py" <<'PYEOF'
import zlib, sys, time, os, glob
mode, level = sys.argv[1], int(sys.argv[2])
files = [open(f, 'rb').read() for f in sorted(glob.glob(sys.argv[3] + '/*')) if os.path.isfile(f)]
total = sum(map(len, files))
def run(fn):
    best = None
    for _ in range(int(os.environ.get('REPS', '2'))):
        t = time.perf_counter(); r = fn(); dt = time.perf_counter() - t
        best = dt if best is None or dt < best else best
    return best, r
if mode == 'oneshot':
    tc, comp = run(lambda: [zlib.compress(d, level) for d in files])
    td, out = run(lambda: [zlib.decompress(c) for c in comp])
else:
    def c1(d):
        co = zlib.compressobj(level); return b''.join([co.compress(d[i:i+65536]) for i in range(0, len(d), 65536)] + [co.flush()])
    def d1(c):
        do = zlib.decompressobj(); return b''.join([do.decompress(c[i:i+65536]) for i in range(0, len(c), 65536)] + [do.flush()])
    tc, comp = run(lambda: [c1(d) for d in files])
    td, out = run(lambda: [d1(c) for c in comp])
assert out == files
print(f"{total/tc/1e6:.1f} {total/td/1e6:.1f} {sum(map(len, comp))}")
PYEOF
PIGZ_IN=$CORPUS/../corpus.tar
[ -f "$PIGZ_IN" ] || tar -cf "$PIGZ_IN" -C "$CORPUS" .
TOTAL=$(stat -c %s "$PIGZ_IN")
pigz_run() { # preload level -> "cMB/s dMB/s size", best of REPS runs each
  local pre=$1 lvl=$2 t0 t1 t2 sz tc=999 td=999
  for _ in $(seq "${REPS:-2}"); do
    t0=$(date +%s.%N); env $pre pigz -p 1 -$lvl -c "$PIGZ_IN" > "$PIGZ_IN.gz"; t1=$(date +%s.%N)
    env $pre pigz -d -c "$PIGZ_IN.gz" > /dev/null; t2=$(date +%s.%N)
    read -r tc td < <(python3 -c "print(min($tc, $t1-$t0), min($td, $t2-$t1))")
  done
  sz=$(stat -c %s "$PIGZ_IN.gz")
  python3 -c "print(f'{$TOTAL/$tc/1e6:.1f} {$TOTAL/$td/1e6:.1f} $sz')"
}
printf "| workload | level | system c MB/s | shim c MB/s | c speedup | system d MB/s | shim d MB/s | d speedup | size shim/system |\n"
printf "|---|---|---|---|---|---|---|---|---|\n"
for lvl in 1 6; do
  for w in oneshot stream pigz; do
    if [ $w = pigz ]; then
      read -r sc sd ss < <(pigz_run "X=1" $lvl)
      read -r wc wd ws < <(pigz_run "LD_PRELOAD=$SHIM" $lvl)
    else
      read -r sc sd ss < <(nice $PY "$CORPUS/../zbench.py" $w $lvl "$CORPUS")
      read -r wc wd ws < <(LD_PRELOAD=$SHIM nice $PY "$CORPUS/../zbench.py" $w $lvl "$CORPUS")
    fi
    python3 -c "print(f'| {\"python zlib.compress/decompress\" if \"$w\"==\"oneshot\" else (\"python compressobj 64K\" if \"$w\"==\"stream\" else \"pigz -p 1\")} | $lvl | $sc | $wc | {$wc/$sc:.2f}x | $sd | $wd | {$wd/$sd:.2f}x | {$ws/$ss:.3f} |')"
  done
done
