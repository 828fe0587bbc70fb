#!/usr/bin/env bash
# TLS record throughput (MiB per CPU second, client and server in one process over a BIO
# pair) with the default provider alone and with the installed-style config (ours
# preferred), interleaved; prints the medians and the ratio per suite.
#   benches/tls-cpu.sh [MiB] [runs]   (defaults: 400 MiB, 3 runs)
set -euo pipefail
mib=${1:-400}
runs=${2:-3}
root=$(cd "$(dirname "$0")/.." && pwd)
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$root/target}
so=$(nice "$root/provider-openssl/scripts/build-module.sh" 2>/dev/null)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cc -O2 -o "$tmp/tls-cpu" "$root/benches/tls-cpu.c" -lssl -lcrypto
openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=localhost \
    -keyout "$tmp/key.pem" -out "$tmp/cert.pem" 2>/dev/null
cat >"$tmp/openssl.cnf" <<CNF
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
CNF
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
echo "| suite | default MiB/s | ours MiB/s | ratio |"
echo "|---|---|---|---|"
for s in "1.2 ECDHE-RSA-AES128-SHA" "1.2 ECDHE-RSA-AES256-SHA384" "1.2 AES256-SHA256" \
         "1.2 ECDHE-RSA-AES256-GCM-SHA384" "1.3 TLS_AES_128_GCM_SHA256" \
         "1.3 TLS_AES_256_GCM_SHA384" "1.3 TLS_CHACHA20_POLY1305_SHA256"; do
    set -- $s
    : >"$tmp/d"; : >"$tmp/o"
    for _ in $(seq "$runs"); do
        env -u OPENSSL_CONF "$tmp/tls-cpu" "$tmp/cert.pem" "$tmp/key.pem" "$1" "$2" "$mib" >>"$tmp/d"
        OPENSSL_CONF="$tmp/openssl.cnf" "$tmp/tls-cpu" "$tmp/cert.pem" "$tmp/key.pem" "$1" "$2" "$mib" >>"$tmp/o"
    done
    d=$(median <"$tmp/d"); o=$(median <"$tmp/o")
    echo "| TLS $1 $2 | $d | $o | $(awk -v a="$o" -v b="$d" 'BEGIN {printf "%.2f", a/b}') |"
done
