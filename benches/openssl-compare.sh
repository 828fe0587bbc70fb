#!/usr/bin/env bash
# openssl speed with the WarpDrive provider vs the default provider, side by side in one run.
#   benches/openssl-compare.sh [seconds-per-point]   (default 2)
# Prints a markdown table of MB/s and ratios at 16 B and 16 KiB, for the default
# thresholds and for the forced-queue path (WARPDRIVE_INLINE_MAX=0).
set -euo pipefail
secs=${1:-2}
root=$(cd "$(dirname "$0")/.." && pwd)
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$root/target}
so=$(nice "$root/provider-openssl/scripts/build-module.sh" 2>/dev/null)
mods=$(dirname "$so")
ours=(-provider-path "$mods" -provider warpdrive -provider default -propquery provider=warpdrive)

# speed -mr prints "+F:<n>:<alg>:<bytes per second>" per block size.
rate() { # alg bytes [extra args...]
    local alg=$1 bytes=$2; shift 2
    env -u OPENSSL_CONF openssl speed -mr -seconds "$secs" -bytes "$bytes" -evp "$alg" "$@" 2>/dev/null \
        | awk -F: '/^\+F:/ {printf "%.1f", $4/1e6}'
}

printf '| algorithm | size | default MB/s | warpdrive MB/s | ratio | warpdrive forced-queue MB/s | ratio |\n'
printf '|---|---|---|---|---|---|---|\n'
for alg in aes-256-gcm aes-128-gcm sha256; do
    for bytes in 16 16384; do
        d=$(rate "$alg" "$bytes")
        w=$(rate "$alg" "$bytes" "${ours[@]}")
        q=$(WARPDRIVE_INLINE_MAX=0 rate "$alg" "$bytes" "${ours[@]}")
        r=$(awk -v a="$w" -v b="$d" 'BEGIN{printf "%.2fx", a/b}')
        rq=$(awk -v a="$q" -v b="$d" 'BEGIN{printf "%.2fx", a/b}')
        printf '| %s | %s B | %s | %s | %s | %s | %s |\n' "$alg" "$bytes" "$d" "$w" "$r" "$q" "$rq"
    done
done
