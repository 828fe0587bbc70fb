#!/usr/bin/env bash
# The real-program matrix (issue 11): unmodified programs (python's zlib, gzip,
# zipfile and tarfile, pigz, curl, git, nginx, rsync, Pillow and pngcrush,
# pg_dump/pg_restore) each run with the system zlib and with the drop-in
# preloaded, compared on content, size, error behaviour, offloaded fraction and,
# for nginx, worker RSS, first-byte latency and log alerts. tests/programs/matrix.py
# says how; this stage installs the programs, builds what is missing, and first
# proves that the matrix fails for a deliberately wrong zlib (tests/programs/wrong.c).
#
# WD_PROGRAMS_KNOWN: the failures expected today, as row:aspect patterns; each
# still prints as a KNOWN FAILURE line. Set it empty to make them fail:
#   WD_PROGRAMS_KNOWN= bash tests/run.d/70-programs.sh
# WD_PROGRAMS_ONLY: rows to run (patterns); CORPUS_SRC: a corpus directory to
# draw inputs from (optional).
set -euo pipefail
trap 'echo "70-programs.sh: line $LINENO: \"$BASH_COMMAND\" failed (status $?)" >&2' ERR
cd "$(dirname "$0")/../.."
ROOT=$PWD
: "${CARGO_TARGET_DIR:=$ROOT/target}"
export CARGO_TARGET_DIR

bash .ci/install-deps programs

lib=$CARGO_TARGET_DIR/release/libz.so
# tests/run.sh built it with the workspace; alone, build just the drop-in.
[ -f "$lib" ] || cargo build --release --locked -p warpdrive-zlib

scratch=$(mktemp -d "${TMPDIR:-/tmp}/wd-programs.XXXXXX")
trap 'rm -rf "$scratch"' EXIT
chmod 755 "$scratch" # the matrix's PostgreSQL and nginx workers run as nobody
gcc -O2 -Wall -Wextra -Werror -shared -fPIC tests/programs/wrong.c -o "$scratch/wrong.so" -ldl

# Known failures, by defect (issue 11). Take a line off when its fix lands:
# the matrix prints "KNOWN FAILURE NOW PASSES" for an entry that no longer fails.
known_default=(
    # Larger output than zlib (defect 4): zlib-rs is not zlib. Level 6 and
    # 7 streams run zlib-rs 7, which is larger on some inputs (silesia-ooffice
    # +1.8%); level 9 is within 0.03% of zlib 9 on these inputs, either side
    # (the L9 entries pass today and stay listed: they flip with the inputs).
    python-zlib:size python-gzip-L6:size python-gzip-L9:size python-zipfile-L6:size
    python-zipfile-L9:size python-tarfile:size pigz-p1-L6:size pigz-p1-L9:size
    pigz-default-L6:size rsync-z:size pg_dump-Z9:size
    # Not offloaded: python gzip's 8 KiB reads, curl's inflate, Pillow's and
    # pngcrush's writes (small streams), pg_restore's reads.
    python-gzip-L6:offload python-gzip-L9:offload curl:offload
    pg_restore:offload pillow-write:offload pngcrush-l9:offload
    # Found by this matrix: offloaded inflate hands out a byte less than zlib
    # on some calls (68967 for 68968, the byte comes a call later), so a
    # program that stops at an error sees less, depending on the input
    # (2,115,740 bytes before "incorrect data check" where zlib gives 2,115,741).
    python-zlib:streaming python-zlib:errors
)
: "${WD_PROGRAMS_KNOWN=${known_default[*]}}"

python3 tests/programs/matrix.py --lib "$lib" --wrong "$scratch/wrong.so" --self-check \
    --known "$WD_PROGRAMS_KNOWN" --only "${WD_PROGRAMS_ONLY:-*}" --scratch "$scratch/run"
