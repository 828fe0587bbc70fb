#!/usr/bin/env bash
# OpenSSL's own EVP test data (test/recipes/30-test_evp_data/*.txt) through the
# provider: fetched from Debian's openssl source package with apt (a private
# deb-src sources directory and private lists/cache; /etc/apt is not touched),
# cached under $CARGO_TARGET_DIR/openssl-evp-data/VERSION, then
# provider-openssl/tests/evp_data.rs runs every stanza of the algorithms the
# provider claims on ours and on the default provider and compares them.
# The source package of the installed libcrypto's upstream version is taken
# when the mirror still has it, else the newest 3.0.x (the test data changes
# little within a series; the version used is printed).
set -euo pipefail
trap 'echo "45-evp-data.sh: line $LINENO: \"$BASH_COMMAND\" failed (status $?)" >&2' ERR
cd "$(dirname "$0")/../.."
ROOT=$PWD
: "${CARGO_TARGET_DIR:=$ROOT/target}"
export CARGO_TARGET_DIR
cache=$CARGO_TARGET_DIR/openssl-evp-data

data=${WARPDRIVE_OSSL_EVP_DATA:-}
if [ -z "$data" ]; then
    data=$(ls -d "$cache"/*/30-test_evp_data 2>/dev/null | sort -V | tail -1 || true)
fi
if [ -z "$data" ] || [ ! -f "$data/evpciph_aes_common.txt" ]; then
    apt=$(mktemp -d "${TMPDIR:-/tmp}/wd-evpdata.XXXXXX")
    trap 'rm -rf "$apt"' EXIT
    mkdir -p "$apt/parts" "$apt/lists/partial" "$apt/cache/archives/partial" "$apt/src"
    # The machine's own Debian entries, as deb-src.
    for f in /etc/apt/sources.list.d/*.sources; do
        [ -e "$f" ] || continue
        sed 's/^Types:.*/Types: deb-src/' "$f" >"$apt/parts/$(basename "$f")"
    done
    if [ -f /etc/apt/sources.list ]; then
        sed -n 's/^deb \(.*\)/deb-src \1/p' /etc/apt/sources.list >"$apt/parts/list.list"
    fi
    opts=(-o Dir::Etc::SourceParts="$apt/parts" -o Dir::Etc::SourceList=/dev/null
        -o Dir::State::Lists="$apt/lists" -o Dir::Cache="$apt/cache"
        -o Debug::NoLocking=1)
    [ "$(id -u)" -ne 0 ] || opts+=(-o APT::Sandbox::User=root)
    apt-get "${opts[@]}" -qq update
    installed=$(dpkg-query -W -f='${Version}' libssl3 2>/dev/null || openssl version | awk '{print $2}')
    upstream=${installed%%-*}
    series=$(echo "$upstream" | cut -d. -f1-2)
    versions=$(apt-cache "${opts[@]}" showsrc openssl | sed -n 's/^Version: //p' | sort -uV)
    pick=$(echo "$versions" | awk -v u="$upstream" 'index($0, u "-") == 1' | tail -1)
    [ -n "$pick" ] || pick=$(echo "$versions" | awk -v s="$series." 'index($0, s) == 1' | tail -1)
    if [ -z "$pick" ]; then
        echo "evp-data: no openssl $series source package in the apt sources (have: $versions)" >&2
        exit 1
    fi
    echo "evp-data: installed libcrypto $installed; using the source package openssl $pick"
    # Only the upstream tarball is needed; apt checks it against the Sources
    # index. (A mirror may lack the .dsc of an older security update: the
    # tarball is what counts.)
    (cd "$apt/src" && apt-get "${opts[@]}" -qq source --download-only "openssl=$pick" >/dev/null 2>&1 || true)
    tarball=$(ls "$apt"/src/openssl_*.orig.tar.* 2>/dev/null | head -1 || true)
    if [ -z "$tarball" ]; then
        echo "evp-data: apt-get source --download-only openssl=$pick fetched no upstream tarball" >&2
        (cd "$apt/src" && apt-get "${opts[@]}" source --download-only "openssl=$pick") >&2 || true
        exit 1
    fi
    dest=$cache/${pick%%-*}
    rm -rf "$dest.tmp"
    mkdir -p "$dest.tmp"
    tar -xf "$tarball" -C "$dest.tmp" --wildcards --strip-components=3 '*/test/recipes/30-test_evp_data/*.txt'
    rm -rf "$dest"
    mv "$dest.tmp" "$dest"
    data=$dest/30-test_evp_data
fi
echo "evp-data: $data ($(ls "$data"/*.txt | wc -l) files)"
# Twice: with the default threshold (every case inline) and with every request that
# can be one (CTR/CBC updates, GCM messages, TLS records) sent to the core as a
# one-shot request (WARPDRIVE_INLINE_MAX=0: the queue path).
for inline_max in default 0; do
    echo "evp-data: WARPDRIVE_INLINE_MAX=$inline_max"
    if [ "$inline_max" = default ]; then set -- env -u WARPDRIVE_INLINE_MAX; else set -- env WARPDRIVE_INLINE_MAX=0; fi
    "$@" WARPDRIVE_OSSL_EVP_DATA="$data" cargo test --release --locked \
        -p warpdrive-openssl-provider --test evp_data -- --nocapture
done
