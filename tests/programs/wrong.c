/* A deliberately wrong zlib for the matrix's self-check (tests/programs/matrix.py
 * --self-check). Preloaded before the system libz.so.1, it passes every call
 * through except deflate's, which it spoils as WD_WRONG says:
 *   enlarge  every deflate stream is made at level 0 (valid, but stored: larger)
 *   corrupt  one byte of each deflate() call's output (32 bytes or more) is flipped
 * A matrix that passes with this library loaded cannot catch a broken drop-in.
 *
 *   gcc -O2 -shared -fPIC tests/programs/wrong.c -o wrong.so -ldl
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

static int mode(void)
{
    const char *m = getenv("WD_WRONG");
    if (m && strcmp(m, "enlarge") == 0)
        return 1;
    if (m && strcmp(m, "corrupt") == 0)
        return 2;
    return 0;
}

static void *next(const char *name)
{
    void *f = dlsym(RTLD_NEXT, name);
    if (!f)
        abort();
    return f;
}

int deflateInit2_(z_streamp s, int level, int method, int bits, int mem, int strategy,
                  const char *version, int size)
{
    int (*real)(z_streamp, int, int, int, int, int, const char *, int) = next("deflateInit2_");
    return real(s, mode() == 1 ? 0 : level, method, bits, mem, strategy, version, size);
}

int deflateInit_(z_streamp s, int level, const char *version, int size)
{
    return deflateInit2_(s, level, Z_DEFLATED, MAX_WBITS, 8, Z_DEFAULT_STRATEGY, version, size);
}

int deflateParams(z_streamp s, int level, int strategy)
{
    int (*real)(z_streamp, int, int) = next("deflateParams");
    return real(s, mode() == 1 ? 0 : level, strategy);
}

int deflate(z_streamp s, int flush)
{
    int (*real)(z_streamp, int) = next("deflate");
    Bytef *start = s->next_out;
    int r = real(s, flush);
    size_t made = (size_t)(s->next_out - start);
    if (mode() == 2 && made >= 32)
        start[made / 2] ^= 0x55;
    return r;
}

int compress2(Bytef *dst, uLongf *dlen, const Bytef *src, uLong slen, int level)
{
    z_stream s;
    memset(&s, 0, sizeof s);
    int r = deflateInit_(&s, level, ZLIB_VERSION, (int)sizeof s);
    if (r != Z_OK)
        return r;
    s.next_in = (Bytef *)src;
    s.avail_in = (uInt)slen;
    s.next_out = dst;
    s.avail_out = (uInt)*dlen;
    r = deflate(&s, Z_FINISH);
    *dlen = s.total_out;
    deflateEnd(&s);
    return r == Z_STREAM_END ? Z_OK : Z_BUF_ERROR;
}

int compress(Bytef *dst, uLongf *dlen, const Bytef *src, uLong slen)
{
    return compress2(dst, dlen, src, slen, Z_DEFAULT_COMPRESSION);
}
