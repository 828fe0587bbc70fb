/* gzprintf/gzvprintf for the WarpDrive libz.so.1 drop-in.
 *
 * They are variadic, which stable Rust cannot define, so they live here; the
 * Rust side exports them under zlib's names (src/ffi/gz.rs). Semantics follow
 * zlib 1.2.13: format into a buffer of the default gz buffer size (8192), and
 * write nothing, returning 0, when the result is empty or does not fit. */
#include <stdarg.h>
#include <stdio.h>

typedef struct gzFile_s *gzFile;
extern int gzwrite(gzFile file, const void *buf, unsigned len);
extern const char *gzerror(gzFile file, int *errnum);

#define WDZ_GZ_BUFSIZE 8192
#define WDZ_Z_STREAM_ERROR (-2)

__attribute__((visibility("hidden")))
int wdz_gzvprintf(gzFile file, const char *format, va_list va) {
    char buf[WDZ_GZ_BUFSIZE];
    int len, written, err = 0;

    if (file == NULL || format == NULL)
        return WDZ_Z_STREAM_ERROR;
    len = vsnprintf(buf, sizeof buf, format, va);
    if (len <= 0 || len >= (int)sizeof buf)
        return 0;
    written = gzwrite(file, buf, (unsigned)len);
    if (written == len)
        return len;
    gzerror(file, &err);
    return err != 0 ? err : WDZ_Z_STREAM_ERROR;
}

__attribute__((visibility("hidden")))
int wdz_gzprintf(gzFile file, const char *format, ...) {
    va_list va;
    int ret;

    va_start(va, format);
    ret = wdz_gzvprintf(file, format, va);
    va_end(va);
    return ret;
}
