#!/usr/bin/env bash
# openssl speed -evp chacha20-poly1305: the default provider alone vs ours enabled the
# documented way (OPENSSL_CONF with default_properties = ?provider=warpdrive, see
# provider-openssl/README.md), side by side in one run, interleaved.
#   benches/chacha-speed.sh [seconds-per-point] [runs]   (defaults: 2 s, 5 runs)
# Prints MB/s medians and ratios at 16 B and 16 KiB for the default thresholds and for
# the forced-queue path (WARPDRIVE_INLINE_MAX=0). Each warpdrive cell is checked against
# the provider's counters (soft_ops at the default threshold: the records run in the
# default implementation inside the provider; chacha_ops forced: one core request each).
set -euo pipefail
secs=${1:-2}
runs=${2:-5}
root=$(cd "$(dirname "$0")/.." && pwd)
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$root/target}
so=$(nice "$root/provider-openssl/scripts/build-module.sh" 2>/dev/null)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cat >"$tmp/openssl.cnf" <<EOC
openssl_conf = openssl_init
[openssl_init]
providers = provider_sect
alg_section = algorithm_sect
[provider_sect]
default = default_sect
warpdrive = warpdrive_sect
[default_sect]
activate = 1
[warpdrive_sect]
module = $so
activate = 1
[algorithm_sect]
default_properties = ?provider=warpdrive
EOC

rate() { # bytes: MB/s of the default provider alone
    env -u OPENSSL_CONF openssl speed -mr -seconds "$secs" -bytes "$1" -evp chacha20-poly1305 2>/dev/null \
        | awk -F: '/^\+F:/ {printf "%.1f", $4/1e6}'
}
ours_rate() { # counter bytes: MB/s with ours, after checking that `counter` moved
    local st="$tmp/stats.jsonl" r n
    rm -f "$st"
    r=$(OPENSSL_CONF="$tmp/openssl.cnf" WARPDRIVE_PROVIDER_STATS="$st" \
        openssl speed -mr -seconds "$secs" -bytes "$2" -evp chacha20-poly1305 2>/dev/null \
        | awk -F: '/^\+F:/ {printf "%.1f", $4/1e6}')
    n=$(sed -n "s/.*\"$1\":\([0-9]*\).*/\1/p" "$st" | tail -1)
    if [ -z "$n" ] || [ "$n" = 0 ]; then
        echo "provider counter $1 is ${n:-missing}: not measured through the provider" >&2
        exit 1
    fi
    echo "$r"
}
median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN{printf "%.2fx", a/b}'; }

printf '| size | default MB/s | warpdrive MB/s | ratio | warpdrive forced-queue MB/s | ratio |\n'
printf '|---|---|---|---|---|---|\n'
for bytes in 16 16384; do
    ds="" ws="" qs=""
    for _ in $(seq "$runs"); do
        ds="$ds $(rate "$bytes")"
        ws="$ws $(ours_rate soft_ops "$bytes")"
        qs="$qs $(WARPDRIVE_INLINE_MAX=0 ours_rate chacha_ops "$bytes")"
    done
    d=$(echo "$ds" | median) w=$(echo "$ws" | median) q=$(echo "$qs" | median)
    printf '| %s B | %s | %s | %s | %s | %s |\n' "$bytes" "$d" "$w" "$(ratio "$w" "$d")" "$q" "$(ratio "$q" "$d")"
done
