#!/usr/bin/env bash
# The module as a distribution installs it: `make install DESTDIR=...` puts
# its sources under /usr/src/warpdrive-VERSION, then `dkms add` and
# `dkms build` run against the installed 6.12 headers, in private dkms trees
# (nothing under /var/lib/dkms or /usr/src is touched).
#
#   tests/vm/dkms.sh KVER OUTDIR    prints the path of the built warpdrive.ko
#                                   (warpdrive_soft.ko beside it)
#
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
PROJ=$(cd "$HERE/../.." && pwd)
KVER=$1
OUT=$2
command -v dkms >/dev/null || { echo "dkms.sh: dkms is not installed (.ci/install-deps)" >&2; exit 2; }
rm -rf "$OUT"
mkdir -p "$OUT/root" "$OUT/dkms"
# The user-space artifacts are the workspace's release build (install.sh
# runs `warpdrive generate` for the manual pages, so they must be real).
target=${CARGO_TARGET_DIR:-$PROJ/target}
for f in warpdrive libwarpdrive.so libz.so libwarpdrive_provider.so; do
    [ -f "$target/release/$f" ] && continue
    (cd "$PROJ" && CARGO_TARGET_DIR="$target" cargo build --release --locked --workspace) >&2 \
        || { echo "dkms.sh: the release build failed" >&2; exit 1; }
    break
done
version=$(sed -n 's/^version = "\(.*\)"/\1/p' "$PROJ/Cargo.toml" | head -1)
(cd "$PROJ" && env -u MAKEFLAGS -u MAKELEVEL NO_BUILD=1 CARGO_TARGET_DIR="$target" \
    PREFIX=/usr DESTDIR="$OUT/root" UDEVRULESDIR=/usr/lib/udev/rules.d MODULESDIR=/usr/lib/ossl-modules \
    bash scripts/install.sh install) >"$OUT/install.log" 2>&1 \
    || { cat "$OUT/install.log" >&2; exit 1; }
src="$OUT/root/usr/src"
[ -f "$src/warpdrive-$version/dkms.conf" ] || { echo "dkms.sh: no $src/warpdrive-$version/dkms.conf" >&2; exit 1; }
# (dkms signs what it builds when the kernel has CONFIG_MODULE_SIG, with its
# own key under /var/lib/dkms, generated once: the one thing outside OUT.)
D=(--dkmstree "$OUT/dkms" --sourcetree "$src")
if ! dkms add -m warpdrive -v "$version" "${D[@]}" >"$OUT/dkms.log" 2>&1 ||
   ! dkms build -m warpdrive -v "$version" -k "$KVER" "${D[@]}" >>"$OUT/dkms.log" 2>&1; then
    cat "$OUT/dkms.log" >&2
    for l in "$OUT"/dkms/warpdrive/"$version"/build/make.log; do [ -f "$l" ] && tail -20 "$l" >&2; done
    exit 1
fi
ko=$(find "$OUT/dkms/warpdrive/$version/$KVER" -name 'warpdrive.ko*' | head -1)
[ -n "$ko" ] || { echo "dkms.sh: dkms built no warpdrive.ko" >&2; cat "$OUT/dkms.log" >&2; exit 1; }
ls "$(dirname "$ko")"/warpdrive_soft.ko* >/dev/null 2>&1 \
    || { echo "dkms.sh: dkms built no warpdrive_soft.ko" >&2; cat "$OUT/dkms.log" >&2; exit 1; }
echo "$ko"
