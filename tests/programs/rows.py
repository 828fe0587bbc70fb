"""The programs of the matrix (tests/programs/matrix.py), one function per
program filling one or more rows. Each function runs in its own work
directory with ctx's zlib; everything it reads back for comparison is decoded
here, in the matrix's own process, with the system zlib."""

import gzip
import hashlib
import http.client
import http.server
import io
import os
import shutil
import signal
import socket
import struct
import subprocess
import tarfile
import threading
import time
import zipfile
import zlib
from pathlib import Path

STATE = {}  # what setup() makes once per matrix run: reference files, servers


class Spec:
    def __init__(self, names, func, reps=1):
        self.names, self.func, self.reps = names, func, reps
        self.name = names[0]


def digest(b):
    return f"{len(b)}:{hashlib.sha256(b).hexdigest()[:16]}"


def decoded(f, path):
    """Digest of what the system zlib makes of a file, or the error it gives."""
    try:
        return digest(f(Path(path).read_bytes()))
    except Exception as e:  # noqa: BLE001  (any failure to decode is the result)
        return f"error: {type(e).__name__}: {e}"


def gunzip(b):
    return gzip.decompress(b)


def tree_digest(d):
    h = hashlib.sha256()
    for p in sorted(Path(d).rglob("*")):
        if p.is_file():
            h.update(str(p.relative_to(d)).encode() + b"\0" + p.read_bytes())
    return h.hexdigest()[:16]


def python():
    """A python3 whose zlib is the dynamic libz.so.1 (Debian's), and Pillow's."""
    for py in ("/usr/bin/python3", shutil.which("python3")):
        if py and Path(py).exists():
            return py
    raise RuntimeError("no python3")


def flip(b, at=None):
    b = bytearray(b)
    i = len(b) // 2 if at is None else at
    b[i] ^= 0x5A
    return bytes(b)


# ---------------------------------------------------------------- setup

def setup(scratch):
    STATE.clear()
    STATE["scratch"] = scratch
    STATE["py"] = python()


def refs(inputs):
    """Reference files made with the system zlib (this process)."""
    if "refs" in STATE:
        return STATE["refs"]
    d = inputs / "refs"
    d.mkdir(exist_ok=True)
    mixed = (inputs / "mixed").read_bytes()
    (d / "ref.z").write_bytes(zlib.compress(mixed, 6))
    (d / "ref.gz").write_bytes(gzip.compress(mixed, 6, mtime=0))
    (d / "bad.gz").write_bytes(flip(gzip.compress(mixed, 6, mtime=0)))
    (d / "trunc.gz").write_bytes(gzip.compress(mixed, 6, mtime=0)[: len(mixed) // 5])
    with zipfile.ZipFile(d / "ref.zip", "w", zipfile.ZIP_DEFLATED) as z:
        for n in ("text", "binary", "mixed"):
            z.write(inputs / n, n)
    with tarfile.open(d / "ref.tgz", "w:gz") as t:
        t.add(inputs / "text", "text")
        t.add(inputs / "binary", "binary")
    tree = inputs / "tree"
    if not tree.exists():
        # A source tree: files from 300 bytes to 600 KiB, text and binary.
        text, binary = (inputs / "text").read_bytes(), (inputs / "binary").read_bytes()
        pos = 0
        for i in range(48):
            size = 300 << (i % 12)
            (tree / f"d{i % 5}").mkdir(parents=True, exist_ok=True)
            src = binary if i % 7 == 3 else text
            (tree / f"d{i % 5}" / f"f{i:02}").write_bytes(src[pos % len(src):][:size])
            pos += size
    STATE["refs"] = d
    return d


def teardown():
    for key in ("http", "pg"):
        s = STATE.pop(key, None)
        if s:
            s["stop"]()


# ---------------------------------------------------------------- python

PY_ZLIB = r"""
import sys, zlib
mixed = open('../inputs/mixed', 'rb').read()
for level in (1, 6, 9):
    open(f'c{level}.z', 'wb').write(zlib.compress(mixed, level))
    c = zlib.compressobj(level)
    out = []
    for i in range(0, len(mixed), 65536):
        out.append(c.compress(mixed[i:i + 65536]))
        if i % (1 << 20) == 0:
            out.append(c.flush(zlib.Z_SYNC_FLUSH))
    out.append(c.flush())
    open(f's{level}.z', 'wb').write(b''.join(out))
ref = open('../inputs/refs/ref.z', 'rb').read()
open('d.raw', 'wb').write(zlib.decompress(ref))
d = zlib.decompressobj()
pieces = [d.decompress(ref[i:i + 16384]) for i in range(0, len(ref), 16384)]
open('ds.raw', 'wb').write(b''.join(pieces) + d.flush())
# zlib hands out all it can on each call: what each 16 KiB of input gives.
open('calls', 'w').write(' '.join(str(len(p)) for p in pieces))
bad = bytearray(ref); bad[len(bad) // 2] ^= 0x5A
d = zlib.decompressobj(); got = 0
try:
    for i in range(0, len(bad), 16384):
        got += len(d.decompress(bytes(bad[i:i + 16384])))
    print('damaged: no error', got)
except zlib.error as e:
    print('damaged:', got, e)
try:
    zlib.decompress(ref[:len(ref) // 3])
except zlib.error as e:
    print('truncated:', e)
"""


def py_zlib(ctx):
    row = ctx.row("python-zlib")
    (st, out, err), secs = ctx.timed([STATE["py"], "-c", PY_ZLIB])
    row.secs.append(secs)
    mixed = (ctx.inputs / "mixed").read_bytes()
    for n in ("c1", "c6", "c9", "s1", "s6", "s9"):
        row.sizes[n] = os.path.getsize(ctx.work / f"{n}.z")
        row.content[n] = decoded(zlib.decompress, ctx.work / f"{n}.z")
    row.content["decompress"] = decoded(bytes, ctx.work / "d.raw")
    row.content["decompressobj"] = decoded(bytes, ctx.work / "ds.raw")
    row.content["input"] = digest(mixed)
    row.streaming["decompressobj output per call"] = (ctx.work / "calls").read_text().split()
    row.errors["damaged"] = (st, out.decode() + err)


PY_GZIP = r"""
import gzip, shutil, sys
level = int(sys.argv[1])
with open('../inputs/mixed', 'rb') as f, gzip.GzipFile('out.gz', 'wb', compresslevel=level, mtime=0) as g:
    shutil.copyfileobj(f, g)
with gzip.open('../inputs/refs/ref.gz') as g:
    open('out.raw', 'wb').write(g.read())
for n in ('bad', 'trunc'):
    got = 0
    try:
        with gzip.open(f'../inputs/refs/{n}.gz') as g:
            while True:
                b = g.read(65536)
                if not b:
                    break
                got += len(b)
        print(n, 'no error', got)
    except Exception as e:
        print(n, got // 65536, type(e).__name__, e)
"""


def py_gzip(level):
    def f(ctx):
        row = ctx.row(f"python-gzip-L{level}")
        (st, out, err), secs = ctx.timed([STATE["py"], "-c", PY_GZIP, str(level)])
        row.secs.append(secs)
        row.sizes["out.gz"] = os.path.getsize(ctx.work / "out.gz")
        row.content["out.gz"] = decoded(gunzip, ctx.work / "out.gz")
        row.content["read"] = decoded(bytes, ctx.work / "out.raw")
        row.errors["damaged"] = (st, out.decode() + err)

    return f


PY_ZIP = r"""
import sys, zipfile
level = int(sys.argv[1])
with zipfile.ZipFile('out.zip', 'w', zipfile.ZIP_DEFLATED, compresslevel=level) as z:
    for n in ('text', 'binary', 'mixed'):
        z.write('../inputs/' + n, n)
    for p in sorted(__import__('pathlib').Path('../inputs/tree').rglob('f*')):
        z.write(p, str(p.relative_to('../inputs')))
with zipfile.ZipFile('../inputs/refs/ref.zip') as z:
    assert z.testzip() is None
    for n in z.namelist():
        open('read.' + n, 'wb').write(z.read(n))
"""


def zip_members(b):
    with zipfile.ZipFile(io.BytesIO(b)) as z:
        return b"".join(n.encode() + b"\0" + z.read(n) for n in sorted(z.namelist()))


def py_zipfile(level):
    def f(ctx):
        row = ctx.row(f"python-zipfile-L{level}")
        (_, _, _), secs = ctx.timed([STATE["py"], "-c", PY_ZIP, str(level)])
        row.secs.append(secs)
        row.sizes["out.zip"] = os.path.getsize(ctx.work / "out.zip")
        row.content["out.zip"] = decoded(zip_members, ctx.work / "out.zip")
        for n in ("text", "binary", "mixed"):
            row.content["read." + n] = decoded(bytes, ctx.work / f"read.{n}")

    return f


PY_TAR = r"""
import tarfile
with tarfile.open('out.tgz', 'w:gz') as t:
    t.add('../inputs/tree', 'tree')
    t.add('../inputs/text', 'text')
with tarfile.open('../inputs/refs/ref.tgz') as t:
    t.extractall('x')
"""


def tar_members(b):
    with tarfile.open(fileobj=io.BytesIO(b), mode="r:gz") as t:
        return b"".join(m.name.encode() + b"\0" + t.extractfile(m).read() for m in t.getmembers() if m.isfile())


def py_tarfile(ctx):
    row = ctx.row("python-tarfile")
    _, secs = ctx.timed([STATE["py"], "-c", PY_TAR])
    row.secs.append(secs)
    row.sizes["out.tgz"] = os.path.getsize(ctx.work / "out.tgz")
    row.content["out.tgz"] = decoded(tar_members, ctx.work / "out.tgz")
    row.content["extracted"] = tree_digest(ctx.work / "x")


# ---------------------------------------------------------------- pigz

def pigz(threads, level):
    name = f"pigz-p1-L{level}" if threads == 1 else f"pigz-default-L{level}"

    def f(ctx):
        row = ctx.row(name)
        argv = ["pigz", f"-{level}", "-c", "../inputs/mixed"]
        if threads == 1:
            argv[1:1] = ["-p", "1"]
        (_, out, _), secs = ctx.timed(argv)
        row.secs.append(secs)
        (ctx.work / "out.gz").write_bytes(out)
        row.sizes["out.gz"] = len(out)
        row.content["out.gz"] = decoded(gunzip, ctx.work / "out.gz")

    return f


def pigz_d(ctx):
    row = ctx.row("pigz-d")
    (_, out, _), secs = ctx.timed(["pigz", "-d", "-c", "../inputs/refs/ref.gz"])
    row.secs.append(secs)
    row.content["out"] = digest(out)
    for n in ("bad", "trunc"):
        st, o, err = ctx.run(["pigz", "-d", "-c", f"../inputs/refs/{n}.gz"], check=False)
        row.errors[n] = (st, f"{len(o) >> 16} x 64 KiB out\n{err}")


# ---------------------------------------------------------------- curl

class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body, enc = STATE["http"]["pages"].get(self.path, (None, None))
        if body is None:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Encoding", enc)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *a):
        pass


def http_server(inputs):
    """A server in this process (system zlib) with pre-compressed pages."""
    if "http" in STATE:
        return STATE["http"]["port"]
    text = (inputs / "text").read_bytes()
    gz = gzip.compress(text, 6, mtime=0)
    pages = {"/text.gz": (gz, "gzip"), "/text.z": (zlib.compress(text, 6), "deflate"),
             "/bad.gz": (flip(gz), "gzip")}
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    srv.timeout = 5
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    STATE["http"] = {"port": srv.server_address[1], "pages": pages,
                     "stop": lambda: (srv.shutdown(), srv.server_close())}
    return STATE["http"]["port"]


def curl(ctx):
    row = ctx.row("curl")
    port = http_server(ctx.inputs)
    url = f"http://127.0.0.1:{port}"
    argv = ["curl", "--compressed", "-sS", "--max-time", "30"]
    _, secs = ctx.timed(argv + ["-o", "text.out", f"{url}/text.gz", "-o", "z.out", f"{url}/text.z"])
    row.secs.append(secs)
    row.content["gzip"] = decoded(bytes, ctx.work / "text.out")
    row.content["deflate"] = decoded(bytes, ctx.work / "z.out")
    st, out, err = ctx.run(argv + ["-o", "bad.out", f"{url}/bad.gz"], check=False)
    row.errors["bad.gz"] = (st, err)


# ---------------------------------------------------------------- git

GIT_ENV = {"GIT_AUTHOR_NAME": "M", "GIT_AUTHOR_EMAIL": "m@example.org", "GIT_AUTHOR_DATE": "1700000000 +0000",
           "GIT_COMMITTER_NAME": "M", "GIT_COMMITTER_EMAIL": "m@example.org",
           "GIT_COMMITTER_DATE": "1700000000 +0000", "GIT_CONFIG_NOSYSTEM": "1",
           "GIT_CONFIG_GLOBAL": "/dev/null", "HOME": "/nonexistent"}


def loose_objects(repo):
    """Every loose object decoded with the system zlib, and its name checked."""
    n = 0
    for p in sorted((repo / ".git" / "objects").glob("??/*")):
        raw = zlib.decompress(p.read_bytes())
        if hashlib.sha1(raw).hexdigest() != p.parent.name + p.name:
            return f"error: {p} decodes to another object"
        n += 1
    return f"{n} objects ok"


def packs_size(repo):
    return sum(p.stat().st_size for p in (repo / ".git" / "objects" / "pack").glob("*.pack"))


def git(ctx):
    g = lambda *a, **kw: ctx.timed(["git", *a], env=GIT_ENV, **kw)  # noqa: E731
    repo = ctx.work / "repo"
    ctx.run(["git", "init", "-q", "-b", "main", str(repo)], env=GIT_ENV)
    shutil.copytree(ctx.inputs / "tree", repo / "tree")
    shutil.copy(ctx.inputs / "mixed", repo / "mixed")

    row = ctx.row("git-add")
    _, secs = g("-C", "repo", "add", "-A")
    row.secs.append(secs)
    row.sizes["loose"] = sum(p.stat().st_size for p in (repo / ".git" / "objects").glob("??/*"))
    try:
        row.content["loose"] = loose_objects(repo)
    except zlib.error as e:
        row.content["loose"] = f"error: {e}"

    row = ctx.row("git-commit")
    _, secs = g("-C", "repo", "commit", "-q", "-m", "matrix")
    row.secs.append(secs)
    row.content["HEAD"] = ctx.run(["git", "-C", "repo", "rev-parse", "HEAD"], env=GIT_ENV)[1].decode()

    row = ctx.row("git-gc")
    _, secs = g("-C", "repo", "-c", "pack.threads=1", "-c", "gc.auto=0", "gc", "-q")
    row.secs.append(secs)
    row.sizes["pack"] = packs_size(repo)
    # The pack, read back by a git on the system zlib.
    st, out, err = ctx.run(["git", "-C", "repo", "fsck", "--full", "--strict"], env=GIT_ENV, check=False, system=True)
    row.content["fsck by system zlib"] = f"{st} {out.decode()}{err}"

    row = ctx.row("git-clone")
    _, secs = g("-c", "pack.threads=1", "clone", "-q", "--no-local", "repo", "clone")
    row.secs.append(secs)
    row.sizes["pack"] = packs_size(ctx.work / "clone")
    row.content["checkout"] = tree_digest(ctx.work / "clone" / "tree")

    row = ctx.row("git-fsck")
    st, secs = g("-C", "clone", "fsck", "--full", "--strict", check=False)
    row.secs.append(secs)
    row.errors["fsck"] = (st[0], st[2])
    # A damaged loose object: git's message and status must not change.
    blob = ctx.run(["git", "-C", "repo", "hash-object", "-w", str(ctx.inputs / "text")], env=GIT_ENV)[1].decode().strip()
    p = repo / ".git" / "objects" / blob[:2] / blob[2:]
    data = p.read_bytes()
    p.chmod(0o644)
    p.write_bytes(flip(data))
    st, out, err = ctx.run(["git", "-C", "repo", "cat-file", "-p", blob], env=GIT_ENV, check=False)
    row.errors["damaged object"] = (st, f"{len(out) >> 16} x 64 KiB out\n{err}")


# ---------------------------------------------------------------- nginx

NGINX_CONF = """
worker_processes 1;
daemon off;
{env}
user nobody nogroup;
pid {d}/nginx.pid;
error_log {d}/error.log warn;
events {{ worker_connections 64; }}
http {{
    access_log off;
    client_body_temp_path {d}/tmp; proxy_temp_path {d}/tmp; fastcgi_temp_path {d}/tmp;
    uwsgi_temp_path {d}/tmp; scgi_temp_path {d}/tmp;
    default_type text/plain;
    gzip on;
    gzip_types text/plain application/octet-stream;
    gzip_min_length 0;
    server {{
        listen 127.0.0.1:{port};
        root {d}/www;
    }}
}}
"""


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, proc, secs=20):
    end = time.time() + secs
    while time.time() < end:
        if proc.poll() is not None:
            return False
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return True
        except OSError:
            time.sleep(0.05)
    return False


def get_gzip(port, path):
    """(seconds to the first body byte, body) of one gzip request."""
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    t = time.perf_counter()
    c.request("GET", path, headers={"Accept-Encoding": "gzip"})
    r = c.getresponse()
    first = r.read(1)
    ttfb = time.perf_counter() - t
    body = first + r.read()
    c.close()
    return ttfb, body, r.getheader("Content-Encoding")


def children(pid):
    try:
        return [int(x) for x in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def peak_rss(pid):
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return None


def nginx(ctx):
    row = ctx.row("nginx-gzip")
    d = ctx.work
    (d / "www").mkdir()
    (d / "tmp").mkdir()
    big = (ctx.inputs / "mixed").read_bytes() * 3  # 9 MiB
    (d / "www" / "big.txt").write_bytes(big)
    port = free_port()
    # nginx clears its workers' environment: the drop-in's settings (read at
    # its first call, in the worker) must be named to survive.
    env = ctx.current_env()
    keep = "".join(f"env {k};\n" for k in sorted(env) if k.startswith(("WARPDRIVE_", "WD_WRONG")))
    (d / "nginx.conf").write_text(NGINX_CONF.format(d=d, port=port, env=keep))
    for p in (d / "www", d / "www" / "big.txt"):
        p.chmod(0o755)
    # timeout(1) ends the server even if this script dies.
    proc = subprocess.Popen(["timeout", "-s", "QUIT", "-k", "5", "90", "nginx", "-p", str(d), "-c", str(d / "nginx.conf")],
                            env=env, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL)
    try:
        if not wait_port(port, proc):
            raise RuntimeError(f"nginx did not start: {proc.stderr.read().decode()[-400:]}")
        ttfbs, secs = [], []
        for _ in range(3):
            t = time.perf_counter()
            ttfb, body, enc = get_gzip(port, "/big.txt")
            secs.append(time.perf_counter() - t)
            ttfbs.append(ttfb)
        row.secs.extend(secs)
        row.ttfb = sorted(ttfbs)[1]
        row.sizes["response"] = len(body)
        try:
            row.content["response"] = digest(gzip.decompress(body)) if enc == "gzip" else f"error: Content-Encoding {enc}"
        except (OSError, EOFError, zlib.error) as e:
            row.content["response"] = f"error: {type(e).__name__}: {e}"
        master = int((d / "nginx.pid").read_text())
        workers = children(master)
        row.rss = max((peak_rss(w) or 0) for w in workers) if workers else None
    finally:
        try:
            os.kill(int((d / "nginx.pid").read_text()), signal.SIGQUIT)
        except (OSError, ValueError):
            proc.terminate()
        try:
            _, err = proc.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            _, err = proc.communicate()
        ctx.collect(err.decode(errors="replace"))
    log = (d / "error.log").read_text(errors="replace") if (d / "error.log").exists() else ""
    ctx.collect(log)
    row.alerts = [line for line in log.splitlines()
                  if any(k in line for k in ("[alert]", "[crit]", "[emerg]", "[error]"))]


# ---------------------------------------------------------------- rsync

RSH = "#!/bin/sh\n# rsync's remote shell: the 'remote' side is a local process on a pipe.\nshift\nexec \"$@\"\n"


def rsync(ctx):
    row = ctx.row("rsync-z")
    (ctx.work / "rsh").write_text(RSH)
    (ctx.work / "rsh").chmod(0o755)
    (ctx.work / "src").mkdir()
    shutil.copytree(ctx.inputs / "tree", ctx.work / "src" / "tree")
    shutil.copy(ctx.inputs / "mixed", ctx.work / "src" / "mixed")
    (_, out, _), secs = ctx.timed(["rsync", "-r", "-z", "--compress-choice=zlib", "--stats", "-e", "./rsh",
                                   "src/", "localhost:dst/"])
    row.secs.append(secs)
    sent = [line for line in out.decode().splitlines() if line.startswith("Total bytes sent:")]
    row.sizes["sent"] = int(sent[0].split(":")[1].replace(",", "")) if sent else 1 << 62
    row.content["dst"] = tree_digest(ctx.work / "dst")
    row.content["src"] = tree_digest(ctx.work / "src")


# ---------------------------------------------------------------- PNG

PIL_MAKE = r"""
import sys
from PIL import Image
text = open('../inputs/text', 'rb').read()
w, h = 1024, 768
# A picture that compresses like one: smooth gradients under text noise.
px = bytearray()
for y in range(h):
    row = bytearray((x * 255 // w + y // 3) & 255 for x in range(w))
    noise = text[(y * w) % (len(text) - w):][:w]
    px += bytes(((a & 0xF0) | (b & 0x0F)) for a, b in zip(row, noise)) * 1
im = Image.frombytes('L', (w, h), bytes(px)).convert('RGB')
for level in sys.argv[1:]:
    im.save(f'out{level}.png', compress_level=int(level))
"""

PIL_READ = r"""
from PIL import Image
im = Image.open('../inputs/refs/ref.png')
open('pixels', 'wb').write(im.tobytes())
for n in ('trunc', 'bad'):
    try:
        im = Image.open(f'../inputs/refs/{n}.png'); im.load()
        print(n, 'no error')
    except Exception as e:
        print(n, type(e).__name__, e)
"""


def png_idat(b):
    """The decompressed image data of a PNG (what zlib carries), by chunk walk."""
    assert b[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    i, idat, head = 8, [], b""
    while i < len(b):
        n, kind = struct.unpack(">I4s", b[i:i + 8])
        if kind == b"IHDR":
            head = b[i + 8:i + 8 + n]
        if kind == b"IDAT":
            idat.append(b[i + 8:i + 8 + n])
        i += 12 + n
    return head + zlib.decompress(b"".join(idat))


def png_refs(ctx):
    """A reference PNG made by Pillow on the system zlib, and damaged copies."""
    d = refs(ctx.inputs)
    if not (d / "ref.png").exists():
        tmp = ctx.inputs.parent / "png-ref"  # beside inputs/, as PIL_MAKE expects
        tmp.mkdir(exist_ok=True)
        subprocess.run([STATE["py"], "-c", PIL_MAKE, "6"], cwd=tmp, check=True, capture_output=True,
                       env={k: v for k, v in os.environ.items() if k != "LD_PRELOAD"})
        (tmp / "out6.png").rename(d / "ref.png")
        b = (d / "ref.png").read_bytes()
        (d / "trunc.png").write_bytes(b[: len(b) * 2 // 3])
        (d / "bad.png").write_bytes(flip(b))
    return d


def pillow_write(ctx):
    row = ctx.row("pillow-write")
    _, secs = ctx.timed([STATE["py"], "-c", PIL_MAKE, "1", "6", "9"])
    row.secs.append(secs)
    for level in (1, 6, 9):
        p = ctx.work / f"out{level}.png"
        row.sizes[f"L{level}"] = p.stat().st_size
        row.content[f"L{level}"] = decoded(png_idat, p)


def pillow_read(ctx):
    row = ctx.row("pillow-read")
    png_refs(ctx)
    (st, out, err), secs = ctx.timed([STATE["py"], "-c", PIL_READ], check=False)
    row.secs.append(secs)
    row.errors["status"] = (st, err.strip().splitlines()[-1] if err.strip() else "")
    row.content["pixels"] = decoded(bytes, ctx.work / "pixels")
    row.errors["damaged"] = (st, out.decode() + err)


def pngcrush(level):
    def f(ctx):
        row = ctx.row(f"pngcrush-l{level}")
        png_refs(ctx)
        _, secs = ctx.timed(["pngcrush", "-q", "-l", str(level), "../inputs/refs/ref.png", "out.png"])
        row.secs.append(secs)
        row.sizes["out.png"] = (ctx.work / "out.png").stat().st_size
        row.content["out.png"] = decoded(png_idat, ctx.work / "out.png")

    return f


# ---------------------------------------------------------------- PostgreSQL

def pg_bin(name):
    for d in sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True):
        if (d / name).exists():
            return str(d / name)
    raise RuntimeError(f"no PostgreSQL {name} under /usr/lib/postgresql")


PG_DATA = """
create table t as select i, md5(i::text) as h, repeat(md5((i % 977)::text), 1 + i % 7) as pad
  from generate_series(1, 40000) i;
create table doc(line int, body text);
"""


def pg_server(ctx):
    """A scratch cluster run by nobody: private socket directory, 127.0.0.1
    only, ended by timeout(1) if this script never stops it. The server's
    zlib is the system's: pg_dump and pg_restore compress on the client."""
    if "pg" in STATE:
        if "error" in STATE["pg"]:
            raise RuntimeError(STATE["pg"]["error"])
        return STATE["pg"]
    STATE["pg"] = {"error": "the PostgreSQL server did not start (see the first pg row)", "stop": lambda: None}
    d = STATE["scratch"] / "pg"
    d.mkdir()
    (d / "sock").mkdir(mode=0o700)
    root = os.geteuid() == 0  # initdb refuses root: the server runs as nobody
    if root:
        os.chown(d, 65534, 65534)
        os.chown(d / "sock", 65534, 65534)
    env = {k: v for k, v in os.environ.items() if k != "LD_PRELOAD"}
    env.update(LC_ALL="C", HOME=str(d))

    def nobody():
        if root:
            os.setgid(65534)
            os.setuid(65534)

    subprocess.run([pg_bin("initdb"), "-D", str(d / "data"), "-U", "matrix", "--auth=trust", "--no-sync", "-E", "UTF8"],
                   env=env, preexec_fn=nobody, check=True, capture_output=True, cwd=d)
    port = free_port()

    def stop():
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()

    proc = subprocess.Popen(["timeout", "-s", "INT", "-k", "10", "240", pg_bin("postgres"), "-D", str(d / "data"),
                             "-k", str(d / "sock"), "-h", "127.0.0.1", "-p", str(port), "-c", "fsync=off"],
                            env=env, preexec_fn=nobody, stdout=subprocess.DEVNULL, stderr=open(d / "log", "wb"), cwd=d)
    conn = ["-h", str(d / "sock"), "-p", str(port), "-U", "matrix"]
    end = time.time() + 30
    while subprocess.run([pg_bin("pg_isready"), "-q", *conn], env=env).returncode != 0:
        if time.time() > end or proc.poll() is not None:
            raise RuntimeError(f"postgres did not start: {(d / 'log').read_text()[-400:]}")
        time.sleep(0.2)
    STATE["pg"]["stop"] = stop
    psql = [pg_bin("psql"), "-q", "-v", "ON_ERROR_STOP=1", *conn]
    sql(psql + ["-d", "postgres", "-c", "create database m"], env)
    lines = (ctx.inputs / "text").read_bytes().decode("utf-8", "replace").replace("\0", "").splitlines()
    copy = "".join(f"{i}\t{line.replace(chr(92), chr(92) * 2).replace(chr(9), ' ').replace(chr(13), ' ')}\n"
                   for i, line in enumerate(lines))
    sql(psql + ["-d", "m", "-c", PG_DATA], env)
    sql(psql + ["-d", "m", "-c", "copy doc from stdin"], env, copy.encode())
    STATE["pg"] = {"conn": conn, "psql": psql + ["-d", "postgres"], "env": env, "stop": stop}
    return STATE["pg"]


def sql(argv, env, stdin=None):
    p = subprocess.run(argv, env=env, input=stdin, capture_output=True)
    if p.returncode != 0:
        raise RuntimeError(f"psql exited {p.returncode}: {p.stderr.decode(errors='replace')[-300:]}")


def pg_sql(ctx, dump):
    """The dump as SQL, by pg_restore on the system zlib."""
    st, out, err = ctx.run([pg_bin("pg_restore"), "-f", "-", dump], check=False, system=True)
    return digest(unrestrict(out)) if st == 0 else f"error: {st} {err[-200:]}"


def unrestrict(script):
    """pg_restore's script without its \\restrict key (random on every run)."""
    return b"".join(line for line in script.splitlines(True)
                    if not line.startswith((b"\\restrict ", b"\\unrestrict ")))


def pg_dump(level):
    def f(ctx):
        row = ctx.row(f"pg_dump-Z{level}")
        pg = pg_server(ctx)
        _, secs = ctx.timed([pg_bin("pg_dump"), *pg["conn"], "-Fc", f"-Z{level}", "-f", "out.dump", "m"])
        row.secs.append(secs)
        row.sizes["out.dump"] = (ctx.work / "out.dump").stat().st_size
        row.content["sql"] = pg_sql(ctx, "out.dump")

    return f


def pg_restore(ctx):
    row = ctx.row("pg_restore")
    pg = pg_server(ctx)
    ref = STATE["scratch"] / "pg" / "ref.dump"
    if not ref.exists():
        subprocess.run([pg_bin("pg_dump"), *pg["conn"], "-Fc", "-Z6", "-f", str(ref), "m"], env=pg["env"],
                       check=True, capture_output=True)
        b = ref.read_bytes()
        (ref.parent / "trunc.dump").write_bytes(b[: len(b) // 2])
    db = f"r_{ctx.lib.name.replace('-', '_')}"
    ctx.run(pg["psql"] + ["-c", f"drop database if exists {db}", "-c", f"create database {db}"], system=True)
    _, secs = ctx.timed([pg_bin("pg_restore"), *pg["conn"], "-d", db, str(ref)])
    row.secs.append(secs)
    q = "select count(*), md5(string_agg(h || pad, '' order by i)) from t union all " \
        "select count(*), md5(string_agg(body, '' order by line)) from doc"
    row.content["restored"] = ctx.run(pg["psql"][:-2] + ["-d", db, "-At", "-c", q], system=True)[1].decode()
    st, out, err = ctx.run([pg_bin("pg_restore"), "-f", "-", str(ref)], check=False)
    row.content["sql"] = digest(unrestrict(out))
    st, out, err = ctx.run([pg_bin("pg_restore"), "-f", "-", str(ref.parent / "trunc.dump")], check=False)
    row.errors["truncated"] = (st, err)
    ctx.run(pg["psql"] + ["-c", f"drop database {db}"], system=True)


SPECS = [
    Spec(["python-zlib"], py_zlib, reps=3),
    Spec(["python-gzip-L6"], py_gzip(6), reps=3),
    Spec(["python-gzip-L9"], py_gzip(9), reps=3),
    Spec(["python-zipfile-L6"], py_zipfile(6), reps=3),
    Spec(["python-zipfile-L9"], py_zipfile(9), reps=3),
    Spec(["python-tarfile"], py_tarfile, reps=3),
    Spec(["pigz-p1-L1"], pigz(1, 1), reps=3),
    Spec(["pigz-p1-L6"], pigz(1, 6), reps=3),
    Spec(["pigz-p1-L9"], pigz(1, 9), reps=3),
    Spec(["pigz-default-L6"], pigz(0, 6), reps=3),
    Spec(["pigz-d"], pigz_d, reps=3),
    Spec(["curl"], curl, reps=3),
    Spec(["git-add", "git-commit", "git-gc", "git-clone", "git-fsck"], git),
    Spec(["nginx-gzip"], nginx),
    Spec(["rsync-z"], rsync, reps=3),
    Spec(["pillow-write"], pillow_write, reps=3),
    Spec(["pillow-read"], pillow_read, reps=3),
    Spec(["pngcrush-l9"], pngcrush(9), reps=1),
    Spec(["pg_dump-Z1"], pg_dump(1), reps=3),
    Spec(["pg_dump-Z6"], pg_dump(6), reps=3),
    Spec(["pg_dump-Z9"], pg_dump(9), reps=3),
    Spec(["pg_restore"], pg_restore),
]

# Rows whose data reaches zlib as objects too small to be worth an offload
# even when the policy is right (git's objects, a commit's tree): their
# offloaded fraction is shown, not judged. The counters count streams, not
# bytes, so a row of many small streams cannot reach a floor set in streams.
NOT_JUDGED = {"git-commit", "git-gc", "git-clone", "git-fsck"}
# Rows with another floor than --offload-floor: git-add's tree has 25 of its
# 49 files at 16 KiB or more.
FLOORS = {"git-add": 0.4}
