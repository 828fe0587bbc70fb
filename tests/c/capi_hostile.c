/* Drives libwarpdrive with arguments a careless or hostile C caller can pass:
 * out-of-range enum values, bad flags, NULL with a length, absurd lengths,
 * overlapping buffers, NULL handles, streams used after they ended. Every
 * call must return a clear error code, never crash, hang or "succeed". */
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include "warpdrive.h"

static int passed, failed;
#define CHECK(cond, ...) do { if (cond) passed++; else { failed++; \
	fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__); fprintf(stderr, __VA_ARGS__); fputc('\n', stderr); } } while (0)

/* Integers a C caller can pass where an enum is expected (C converts them
 * silently); each check uses those outside that enum's range. */
static const int values[] = { 2, 3, 4, 5, 6, 7, 100, 255, 256, -1, INT_MIN, INT_MAX };
#define NVALUES (sizeof(values) / sizeof(values[0]))
#define OUTSIDE(v, n) ((v) < 0 || (v) >= (n))

static unsigned char src[4096], dst[8192];

static void bad_enums(void)
{
	size_t w = 12345, c = 0;
	for (unsigned i = 0; i < NVALUES; i++) {
		int v = values[i];
		unsigned char key[16] = { 0 }, iv[16] = { 0 };
		int rc;
		if (OUTSIDE(v, 2)) {
			rc = wd_cipher(v, 1, 1, key, 16, iv, 16, src, 64, dst, sizeof(dst), &w);
			CHECK(rc == WD_ERR_INVALID_ARGUMENT, "wd_cipher(mode %d) = %d", v, rc);
			/* Booleans are 0 or 1; anything else is a caller's mistake. */
			rc = wd_cipher(WD_CIPHER_CTR, v, 1, key, 16, iv, 16, src, 64, dst, sizeof(dst), &w);
			CHECK(rc == WD_ERR_INVALID_ARGUMENT, "wd_cipher(encrypt %d) = %d", v, rc);
			rc = wd_cipher(WD_CIPHER_CBC, 1, v, key, 16, iv, 16, src, 64, dst, sizeof(dst), &w);
			CHECK(rc == WD_ERR_INVALID_ARGUMENT, "wd_cipher(padding %d) = %d", v, rc);
			/* wd_aead: 0 and 1 exist; nothing runs, dst stays as it was */
			unsigned char k32[32] = { 0 }, tag[16];
			memset(dst, 0x5a, 64);
			rc = wd_aead_seal_alg(v, k32, 32, iv, 12, NULL, 0, src, 64, dst, 64, tag, 16);
			CHECK(rc == WD_ERR_INVALID_ARGUMENT && dst[0] == 0x5a, "wd_aead_seal_alg(alg %d) = %d", v, rc);
			rc = wd_aead_open_alg(v, k32, 32, iv, 12, NULL, 0, src, 64, tag, 16, dst, 64);
			CHECK(rc == WD_ERR_INVALID_ARGUMENT && dst[0] == 0x5a, "wd_aead_open_alg(alg %d) = %d", v, rc);
		}
		if (OUTSIDE(v, 5)) {
			/* Algorithms 0..4 exist; 5 and above smashed the stack once. */
			rc = wd_digest(v, src, sizeof(src), dst, sizeof(dst), &w);
			CHECK(rc == WD_ERR_INVALID_ARGUMENT, "wd_digest(alg %d) = %d", v, rc);
			rc = wd_hmac(v, src, 16, src, sizeof(src), dst, sizeof(dst), &w);
			CHECK(rc == WD_ERR_INVALID_ARGUMENT, "wd_hmac(alg %d) = %d", v, rc);
			wd_hasher *h = (wd_hasher *)&w;
			rc = wd_hasher_new(v, NULL, 0, &h);
			CHECK(rc == WD_ERR_INVALID_ARGUMENT && h == NULL, "wd_hasher_new(alg %d) = %d", v, rc);
			h = (wd_hasher *)&w;
			rc = wd_hasher_new(v, src, 16, &h);
			CHECK(rc == WD_ERR_INVALID_ARGUMENT && h == NULL, "wd_hasher_new(hmac alg %d) = %d", v, rc);
		}
		if (!OUTSIDE(v, 3))
			continue;
		CHECK(wd_compress_bound(v, 100) == 0, "wd_compress_bound(%d) = %zu", v, (size_t)wd_compress_bound(v, 100));
		rc = wd_compress(v, 6, src, sizeof(src), dst, sizeof(dst), &w);
		CHECK(rc == WD_ERR_INVALID_ARGUMENT, "wd_compress(format %d) = %d", v, rc);
		rc = wd_decompress(v, src, sizeof(src), dst, sizeof(dst), &c, &w);
		CHECK(rc == WD_ERR_INVALID_ARGUMENT, "wd_decompress(format %d) = %d", v, rc);
		wd_deflater *d = (wd_deflater *)&w;
		rc = wd_deflater_new(v, 6, &d);
		CHECK(rc == WD_ERR_INVALID_ARGUMENT && d == NULL, "wd_deflater_new(format %d) = %d", v, rc);
		wd_inflater *in = (wd_inflater *)&w;
		rc = wd_inflater_new(v, &in);
		CHECK(rc == WD_ERR_INVALID_ARGUMENT && in == NULL, "wd_inflater_new(format %d) = %d", v, rc);
	}
}

static void bad_flush(void)
{
	wd_deflater *d = NULL;
	CHECK(wd_deflater_new(WD_FORMAT_ZLIB, 6, &d) == WD_OK && d, "deflater_new");
	size_t c = 0, p = 0, total = 0;
	bool done = false;
	for (unsigned i = 0; i < NVALUES; i++) {
		if (!OUTSIDE(values[i], 4))
			continue;
		int rc = wd_deflater_deflate(d, src, sizeof(src), dst, sizeof(dst), values[i], &c, &p, &done);
		CHECK(rc == WD_ERR_INVALID_ARGUMENT, "deflate(flush %d) = %d", values[i], rc);
	}
	/* The stream survives the refused calls and still makes a valid stream. */
	size_t off = 0;
	while (!done) {
		int rc = wd_deflater_deflate(d, src + off, sizeof(src) - off, dst + total, sizeof(dst) - total,
					     WD_FLUSH_FINISH, &c, &p, &done);
		if (rc != WD_OK) { CHECK(0, "deflate after bad flushes: %d", rc); break; }
		off += c;
		total += p;
	}
	/* After the end: an error or nothing, never a crash. */
	int rc = wd_deflater_deflate(d, src, sizeof(src), dst, sizeof(dst), WD_FLUSH_FINISH, &c, &p, &done);
	CHECK(rc != WD_OK || (c == 0 && p == 0), "deflate after the end consumed %zu, produced %zu", c, p);
	wd_deflater_free(d);
	unsigned char back[sizeof(src)];
	size_t w = 0;
	rc = wd_decompress(WD_FORMAT_ZLIB, dst, total, back, sizeof(back), &c, &w);
	CHECK(rc == WD_OK && w == sizeof(src) && memcmp(back, src, w) == 0, "round trip after bad flushes: %d", rc);
}

static void bad_pointers_and_lengths(void)
{
	size_t w = 0, c = 0;
	int rc;
	/* NULL with a nonzero length, on each buffer argument. */
	rc = wd_compress(WD_FORMAT_RAW, 1, src, 10, NULL, 100, &w);
	CHECK(rc == WD_ERR_INVALID_ARGUMENT, "compress to NULL dst: %d", rc);
	rc = wd_decompress(WD_FORMAT_RAW, NULL, 10, dst, 100, &c, &w);
	CHECK(rc == WD_ERR_INVALID_ARGUMENT, "decompress from NULL: %d", rc);
	rc = wd_digest(WD_HASH_SHA256, NULL, 1, dst, 64, &w);
	CHECK(rc == WD_ERR_INVALID_ARGUMENT, "digest of NULL: %d", rc);
	rc = wd_hmac(WD_HASH_SHA256, NULL, 16, src, 10, dst, 64, &w);
	CHECK(rc == WD_ERR_INVALID_ARGUMENT, "hmac with NULL key: %d", rc);
	unsigned char key[32] = { 1 }, iv[16] = { 2 }, tag[16];
	rc = wd_aead_seal(key, 32, iv, 12, NULL, 5, src, 16, dst, 16, tag, 16);
	CHECK(rc == WD_ERR_INVALID_ARGUMENT, "seal with NULL aad: %d", rc);
	rc = wd_aead_seal(key, 32, iv, 12, NULL, 0, src, 16, dst, 16, NULL, 16);
	CHECK(rc == WD_ERR_INVALID_ARGUMENT, "seal with NULL tag: %d", rc);
	/* NULL and empty is fine. */
	rc = wd_digest(WD_HASH_SHA1, NULL, 0, dst, 64, &w);
	CHECK(rc == WD_OK && w == 20, "digest of nothing: %d", rc);
	/* Lengths no buffer can have: refused before any byte is touched. */
	rc = wd_digest(WD_HASH_SHA256, src, SIZE_MAX, dst, 64, &w);
	CHECK(rc == WD_ERR_INVALID_LENGTH, "digest of SIZE_MAX bytes: %d", rc);
	rc = wd_digest(WD_HASH_SHA256, src, (size_t)PTRDIFF_MAX + 1, dst, 64, &w);
	CHECK(rc == WD_ERR_INVALID_LENGTH, "digest of PTRDIFF_MAX+1 bytes: %d", rc);
	rc = wd_compress(WD_FORMAT_GZIP, 6, src, sizeof(src), dst, SIZE_MAX, &w);
	CHECK(rc == WD_ERR_INVALID_LENGTH, "compress into SIZE_MAX bytes: %d", rc);
	rc = wd_hasher_update(NULL, src, 1);
	CHECK(rc == WD_ERR_INVALID_ARGUMENT, "update of a NULL hasher: %d", rc);
	/* Out pointers: NULL is refused where the result has nowhere else to go. */
	CHECK(wd_deflater_new(WD_FORMAT_RAW, 1, NULL) == WD_ERR_INVALID_ARGUMENT, "deflater_new(NULL)");
	CHECK(wd_inflater_new(WD_FORMAT_RAW, NULL) == WD_ERR_INVALID_ARGUMENT, "inflater_new(NULL)");
	CHECK(wd_hasher_new(WD_HASH_SHA1, NULL, 0, NULL) == WD_ERR_INVALID_ARGUMENT, "hasher_new(NULL)");
	CHECK(wd_get_stats(NULL) == WD_ERR_INVALID_ARGUMENT, "get_stats(NULL)");
	/* A NULL key with a length is a mistake, not a plain digest. */
	wd_hasher *h = NULL;
	rc = wd_hasher_new(WD_HASH_SHA256, NULL, 16, &h);
	CHECK(rc == WD_ERR_INVALID_ARGUMENT && h == NULL, "hasher_new(NULL key, 16) = %d", rc);
	wd_hasher_free(h);
	/* NULL handles. */
	bool done;
	rc = wd_deflater_deflate(NULL, src, 1, dst, 1, WD_FLUSH_NONE, &c, &w, &done);
	CHECK(rc == WD_ERR_INVALID_ARGUMENT, "deflate on NULL: %d", rc);
	rc = wd_inflater_inflate(NULL, src, 1, dst, 1, &c, &w, &done);
	CHECK(rc == WD_ERR_INVALID_ARGUMENT, "inflate on NULL: %d", rc);
	rc = wd_hasher_finish(NULL, dst, 64, &w);
	CHECK(rc == WD_ERR_INVALID_ARGUMENT, "finish on NULL: %d", rc);
	wd_deflater_free(NULL);
	wd_inflater_free(NULL);
	wd_hasher_free(NULL);
	CHECK(strcmp(wd_strerror(-7), "unknown error code") == 0 && strlen(wd_strerror(INT_MAX)) > 0, "strerror");
}

static void overlapping_buffers(void)
{
	size_t w = 0, c = 0;
	static unsigned char buf[16384];
	int rc = wd_digest(WD_HASH_SHA256, buf, 256, buf + 8, 64, &w);
	CHECK(rc == WD_ERR_INVALID_ARGUMENT, "digest into its own input: %d", rc);
	rc = wd_hmac(WD_HASH_SHA256, buf + 100, 16, buf, 64, buf + 110, 64, &w);
	CHECK(rc == WD_ERR_INVALID_ARGUMENT, "hmac into its key: %d", rc);
	rc = wd_compress(WD_FORMAT_ZLIB, 6, buf, 4096, buf + 1000, 8192, &w);
	CHECK(rc == WD_ERR_INVALID_ARGUMENT, "compress into its own input: %d", rc);
	rc = wd_decompress(WD_FORMAT_ZLIB, buf, 4096, buf, 8192, &c, &w);
	CHECK(rc == WD_ERR_INVALID_ARGUMENT, "decompress in place: %d", rc);
	unsigned char key[32] = { 1 }, iv[16] = { 2 };
	rc = wd_aead_seal(key, 32, iv, 12, NULL, 0, buf, 64, buf + 64, 64, buf + 100, 16);
	CHECK(rc == WD_ERR_INVALID_ARGUMENT, "seal with the tag inside the output: %d", rc);
	rc = wd_aead_seal(buf, 32, iv, 12, NULL, 0, buf + 64, 64, buf + 16, 64, buf + 200, 16);
	CHECK(rc == WD_ERR_INVALID_ARGUMENT, "seal over its key: %d", rc);
	rc = wd_aead_open(key, 32, iv, 12, NULL, 0, buf, 64, buf + 64, 16, buf + 60, 64);
	CHECK(rc == WD_ERR_INVALID_ARGUMENT, "open over its tag: %d", rc);
	rc = wd_cipher(WD_CIPHER_CTR, 1, 0, key, 16, iv, 16, buf, 64, buf + 32, 64, &w);
	CHECK(rc == WD_ERR_INVALID_ARGUMENT, "CTR into a shifted copy of its input: %d", rc);
	/* Adjacent, not overlapping: fine. */
	rc = wd_digest(WD_HASH_SHA256, buf, 256, buf + 256, 32, &w);
	CHECK(rc == WD_OK && w == 32, "digest into the next bytes: %d", rc);
	wd_hasher *h = NULL;
	CHECK(wd_hasher_new(WD_HASH_SHA512, NULL, 0, &h) == WD_OK, "hasher_new");
	rc = wd_hasher_update(h, buf, 100);
	CHECK(rc == WD_OK, "update: %d", rc);
	rc = wd_hasher_finish(h, dst, 10, &w);
	CHECK(rc == WD_ERR_OUTPUT_TOO_SMALL && w == 64, "finish into 10 bytes: %d needed %zu", rc, w);
	rc = wd_hasher_finish(h, dst, 64, &w);
	CHECK(rc == WD_OK && w == 64, "finish after a too-small try: %d", rc);
	rc = wd_hasher_finish(h, dst, 64, &w);
	CHECK(rc != WD_OK, "second finish: %d", rc);
	rc = wd_hasher_update(h, buf, 100);
	CHECK(rc != WD_OK, "update after finish: %d", rc);
	wd_hasher_free(h);
}

static void inflater_sequences(void)
{
	size_t w = 0, c = 0;
	unsigned char z[512];
	int rc = wd_compress(WD_FORMAT_GZIP, 9, src, sizeof(src), z, sizeof(z), &w);
	CHECK(rc == WD_OK, "compress: %d", rc);
	size_t zlen = w;
	wd_inflater *in = NULL;
	CHECK(wd_inflater_new(WD_FORMAT_GZIP, &in) == WD_OK, "inflater_new");
	bool done = false;
	/* Zero-length steps, one-byte steps, then the rest. */
	rc = wd_inflater_inflate(in, NULL, 0, NULL, 0, &c, &w, &done);
	CHECK(rc == WD_OK || rc == WD_ERR_OUTPUT_TOO_SMALL, "empty inflate step: %d", rc);
	size_t off = 0, out = 0;
	for (int i = 0; i < 8 && !done; i++) {
		rc = wd_inflater_inflate(in, z + off, 1, dst + out, 1, &c, &w, &done);
		if (rc != WD_OK && rc != WD_ERR_OUTPUT_TOO_SMALL) { CHECK(0, "inflate 1/1: %d", rc); break; }
		off += c; out += w;
	}
	while (!done) {
		rc = wd_inflater_inflate(in, z + off, zlen - off, dst + out, sizeof(dst) - out, &c, &w, &done);
		if (rc != WD_OK) { CHECK(0, "inflate rest: %d", rc); break; }
		if (c == 0 && w == 0) { CHECK(0, "inflate makes no progress"); break; }
		off += c; out += w;
	}
	CHECK(out == sizeof(src) && memcmp(dst, src, out) == 0, "stepwise inflate restored %zu bytes", out);
	/* Garbage after the end: no crash. */
	rc = wd_inflater_inflate(in, src, 100, dst, 100, &c, &w, &done);
	CHECK(rc != WD_ERR_PANIC, "inflate after the end: %d", rc);
	wd_inflater_free(in);
}

/* Handles made before fork() in the child: they work there or fail with a
 * code, never hang (alarm) or crash, and free cleanly; the parent's go on. */
static void handles_across_fork(void)
{
	static unsigned char big[300000], z[400000], back[300000];
	for (size_t i = 0; i < sizeof(big); i++)
		big[i] = (unsigned char)(i % 251 * (i / 1000 % 7));
	wd_deflater *d = NULL;
	wd_inflater *in = NULL;
	wd_hasher *h = NULL;
	CHECK(wd_deflater_new(WD_FORMAT_GZIP, 6, &d) == WD_OK && wd_inflater_new(WD_FORMAT_GZIP, &in) == WD_OK &&
	      wd_hasher_new(WD_HASH_SHA256, NULL, 0, &h) == WD_OK, "handles");
	size_t c = 0, p = 0, zlen = 0;
	bool done = false;
	int rc = wd_deflater_deflate(d, big, 150000, z, sizeof(z), WD_FLUSH_SYNC, &c, &p, &done);
	CHECK(rc == WD_OK && c == 150000, "first half: %d", rc);
	zlen = p;
	CHECK(wd_hasher_update(h, big, 1000) == WD_OK, "hasher update");
	fflush(stderr);
	pid_t pid = fork();
	if (pid == 0) {
		alarm(10);
		unsigned char md[64];
		size_t w = 0;
		int code = 0;
		if (wd_hasher_finish(h, md, sizeof(md), &w) != WD_OK || w != 32)
			code = 1;
		int r = wd_deflater_deflate(d, big + 150000, 150000, z + zlen, sizeof(z) - zlen, WD_FLUSH_FINISH, &c, &p, &done);
		if (r == WD_ERR_PANIC)
			code = 2;
		r = wd_inflater_inflate(in, z, zlen, back, sizeof(back), &c, &p, &done);
		if (r == WD_ERR_PANIC)
			code = 3;
		if (wd_digest(WD_HASH_SHA1, big, sizeof(big), md, sizeof(md), &w) != WD_OK || w != 20)
			code = 4;
		wd_deflater_free(d);
		wd_inflater_free(in);
		wd_hasher_free(h);
		_exit(code);
	}
	int status = 0;
	waitpid(pid, &status, 0);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child: %s %d", WIFEXITED(status) ? "exit" : "signal",
	      WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
	/* The parent's stream goes on where it was. */
	size_t off = 150000;
	while (!done) {
		rc = wd_deflater_deflate(d, big + off, sizeof(big) - off, z + zlen, sizeof(z) - zlen,
					 WD_FLUSH_FINISH, &c, &p, &done);
		if (rc != WD_OK) { CHECK(0, "parent's second half: %d", rc); break; }
		off += c;
		zlen += p;
	}
	size_t w = 0;
	rc = wd_decompress(WD_FORMAT_GZIP, z, zlen, back, sizeof(back), &c, &w);
	CHECK(rc == WD_OK && w == sizeof(big) && memcmp(back, big, w) == 0, "parent's stream after fork: %d", rc);
	wd_deflater_free(d);
	wd_inflater_free(in);
	wd_hasher_free(h);
}

int main(void)
{
	for (size_t i = 0; i < sizeof(src); i++)
		src[i] = (unsigned char)(i * 7 % 13);
	bad_enums();
	bad_flush();
	bad_pointers_and_lengths();
	overlapping_buffers();
	inflater_sequences();
	/* Under valgrind's leak check: a child cannot free what its parent's
	 * engine threads held, by design; memcheck.sh runs the fork part apart. */
	if (!getenv("WD_HOSTILE_NO_FORK"))
		handles_across_fork();
	printf("capi_hostile: %d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}
