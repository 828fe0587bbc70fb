"""PNG files written with one zlib, read back with another: pixels compared.

`write DIR` saves PNGs of several sizes and modes (with whichever libz.so.1
the process has, the system's when the test runs it) and each image's raw
pixels beside them; `read DIR` opens every PNG with Pillow and compares its
pixels with the raw ones. Pillow's decoder (ZipDecode.c) hands zlib one row
of output room at a time and asks for more input as soon as avail_in is 0,
so a zlib that consumes all its input while still holding output loses the
last rows. One line per image, the same with any correct zlib.
"""

import os
import random
import sys
import zlib

from PIL import Image

SIZES = [(1, 1), (7, 3), (100, 100), (640, 480), (1500, 1000), (3000, 700)]
MODES = ["1", "L", "P", "LA", "RGB", "RGBA"]


def image(mode, size, seed):
    """Half noise, half smooth gradient: streams of every block type."""
    w, h = size
    rnd = random.Random(seed)
    bpp = {"1": 1, "L": 1, "P": 1, "LA": 2, "RGB": 3, "RGBA": 4}[mode]
    row = (w + 7) // 8 if mode == "1" else w * bpp
    ramp = bytes((x * 7) & 0xFF for x in range(row + 256))
    rows = []
    for y in range(h):
        if y % 3 == 0:
            rows.append(rnd.randbytes(row))
        else:
            rows.append(ramp[y % 256 : y % 256 + row])
    im = Image.frombytes(mode, size, b"".join(rows))
    if mode == "P":
        im.putpalette([(i * 5) & 0xFF for i in range(768)])
    return im


def write(d):
    n = 0
    for mode in MODES:
        for size in SIZES:
            n += 1
            im = image(mode, size, n)
            base = os.path.join(d, f"{n:02d}-{mode}-{size[0]}x{size[1]}")
            im.save(base + ".png", compress_level=6 if n % 2 else 1)
            with open(base + ".raw", "wb") as f:
                f.write(im.tobytes())
    print(f"wrote {n} with zlib {zlib.ZLIB_RUNTIME_VERSION}")


def read(d):
    bad = 0
    for name in sorted(os.listdir(d)):
        if not name.endswith(".png"):
            continue
        base = os.path.join(d, name[:-4])
        with open(base + ".raw", "rb") as f:
            want = f.read()
        try:
            with Image.open(base + ".png") as im:
                got = im.tobytes()
            err = "-"
        except Exception as e:  # a truncated image is an OSError in Pillow
            got, err = b"", type(e).__name__ + ": " + str(e).split("\n")[0]
        same = next((i for i in range(min(len(got), len(want))) if got[i] != want[i]), None)
        ok = got == want
        bad += not ok
        print(f"{name} bytes={len(want)} got={len(got)} same={ok} first_diff={same} error={err}")
    print(f"read with zlib {zlib.ZLIB_RUNTIME_VERSION}: {bad} bad")


if __name__ == "__main__":
    {"write": write, "read": read}[sys.argv[1]](sys.argv[2])
