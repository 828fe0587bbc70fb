#!/usr/bin/env bash
# openssl speed with the WarpDrive provider vs the default provider, side by side in one run.
#   benches/openssl-compare.sh [seconds-per-point] [runs]   (defaults: 2 s, 3 runs)
# Prints a markdown table of MB/s (median of the runs, default and ours interleaved) and
# ratios at 16 B and 16 KiB, for the default thresholds and for the forced-queue path
# (WARPDRIVE_INLINE_MAX=0), plus the async-job rows (-async_jobs 8, forced queue).
#
# The provider options must come BEFORE -evp: `openssl speed` (3.0) fetches an -evp cipher
# while it parses the option (opt_cipher_silent -> EVP_CIPHER_fetch with the current
# -propquery), so with `-evp aes-256-gcm -provider warpdrive ... -propquery ...` the
# cipher was fetched from the default provider before ours was even loaded (digests are
# fetched by name later, which is why only the sha256 rows used to reach us). Every
# warpdrive cell below is checked against the provider's counters (gcm_ops, ctr_bytes,
# digest_ops > 0) written at teardown; a run that did not reach the provider fails.
set -euo pipefail
secs=${1:-2}
runs=${2:-3}
root=$(cd "$(dirname "$0")/.." && pwd)
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$root/target}
so=$(nice "$root/provider-openssl/scripts/build-module.sh" 2>/dev/null)
mods=$(dirname "$so")
ours=(-provider-path "$mods" -provider warpdrive -provider default -propquery provider=warpdrive)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# speed -mr prints "+F:<n>:<alg>:<bytes per second>" per block size.
rate() { # alg bytes [extra args before -evp...]
    local alg=$1 bytes=$2; shift 2
    env -u OPENSSL_CONF openssl speed -mr -seconds "$secs" -bytes "$bytes" "$@" -evp "$alg" 2>/dev/null \
        | awk -F: '/^\+F:/ {printf "%.1f", $4/1e6}'
}

# Runs ours with a fresh stats file and checks that `counter` moved; echoes MB/s.
ours_rate() { # counter alg bytes [extra args...]
    local counter=$1; shift
    local st="$tmp/stats.jsonl"
    rm -f "$st"
    local r
    r=$(WARPDRIVE_PROVIDER_STATS="$st" rate "$@" "${ours[@]}")
    local n
    n=$(sed -n "s/.*\"$counter\":\([0-9]*\).*/\1/p" "$st" | tail -1)
    if [ -z "$n" ] || [ "$n" = 0 ]; then
        echo "provider counter $counter is ${n:-missing} after: openssl speed ... -evp $1: not measured" >&2
        exit 1
    fi
    cp "$st" "$tmp/last.jsonl"
    echo "$r"
}

median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN{printf "%.2fx", a/b}'; }

printf '| algorithm | size | default MB/s | warpdrive MB/s | ratio | warpdrive forced-queue MB/s | ratio |\n'
printf '|---|---|---|---|---|---|---|\n'
for alg in aes-256-gcm aes-128-gcm sha256; do
    case $alg in sha*) counter=digest_ops ;; *) counter=gcm_ops ;; esac
    for bytes in 16 16384; do
        ds="" ws="" qs=""
        for _ in $(seq "$runs"); do
            ds="$ds $(rate "$alg" "$bytes")"
            ws="$ws $(ours_rate "$counter" "$alg" "$bytes")"
            qs="$qs $(WARPDRIVE_INLINE_MAX=0 ours_rate "$counter" "$alg" "$bytes")"
        done
        d=$(echo "$ds" | median) w=$(echo "$ws" | median) q=$(echo "$qs" | median)
        printf '| %s | %s B | %s | %s | %s | %s | %s |\n' "$alg" "$bytes" "$d" "$w" "$(ratio "$w" "$d")" "$q" "$(ratio "$q" "$d")"
    done
done

# Async jobs: one-shot-shaped requests (CTR updates) on the forced-queue path, 1 vs 8 jobs
# per thread; max_inflight is the core's counter (more than 1 request in flight per queue).
printf '\n| async (forced queue) | size | jobs | warpdrive MB/s | core max_inflight | job pauses |\n'
printf '|---|---|---|---|---|---|\n'
for jobs in 1 8; do
    r=$(WARPDRIVE_INLINE_MAX=0 ours_rate ctr_bytes aes-256-ctr 16384 -async_jobs "$jobs")
    mi=$(sed -n 's/.*"max_inflight":\([0-9]*\).*/\1/p' "$tmp/last.jsonl" | tail -1)
    ap=$(sed -n 's/.*"async_pauses":\([0-9]*\).*/\1/p' "$tmp/last.jsonl" | tail -1)
    printf '| aes-256-ctr | 16384 B | %s | %s | %s | %s |\n' "$jobs" "$r" "$mi" "$ap"
done
