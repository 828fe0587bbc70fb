/* Drives libwarpdrive through include/warpdrive.h and checks every result
 * against the reference libraries (system zlib, OpenSSL's default provider). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include "warpdrive.h"

static int passed, failed;
#define CHECK(cond, ...) do { if (cond) passed++; else { failed++; \
	fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__); fprintf(stderr, __VA_ARGS__); fputc('\n', stderr); } } while (0)

static unsigned char *sample(size_t n, unsigned seed)
{
	unsigned char *p = malloc(n ? n : 1);
	const char *words[] = { "warp ", "drive ", "queue ", "ring\n", "engine ", "42 " };
	size_t i = 0;
	while (i < n) {
		seed = seed * 1103515245u + 12345u;
		const char *w = words[(seed >> 16) % 6];
		for (; *w && i < n; w++)
			p[i++] = (unsigned char)*w;
	}
	return p;
}

static void test_compression(void)
{
	size_t sizes[] = { 0, 1, 100, 70000, 1 << 20 };
	for (unsigned s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
		size_t n = sizes[s];
		unsigned char *in = sample(n, s);
		size_t cap = wd_compress_bound(WD_FORMAT_ZLIB, n);
		unsigned char *c = malloc(cap);
		size_t clen = 0;
		int rc = wd_compress(WD_FORMAT_ZLIB, 6, in, n, c, cap, &clen);
		CHECK(rc == WD_OK, "wd_compress(%zu) = %d (%s)", n, rc, wd_strerror(rc));
		/* System zlib restores what we compressed. */
		unsigned char *back = malloc(n + 1);
		uLongf blen = n + 1;
		CHECK(uncompress(back, &blen, c, clen) == Z_OK && blen == n && memcmp(back, in, n) == 0,
		      "system zlib could not restore %zu bytes", n);
		/* We restore what system zlib compressed. */
		uLongf zcap = compressBound(n), zlen = zcap;
		unsigned char *z = malloc(zcap);
		compress2(z, &zlen, in, n, 9);
		size_t consumed = 0, written = 0;
		rc = wd_decompress(WD_FORMAT_ZLIB, z, zlen, back, n + 1, &consumed, &written);
		CHECK(rc == WD_OK && written == n && consumed == zlen && memcmp(back, in, n) == 0,
		      "wd_decompress of zlib output (%zu bytes): rc %d", n, rc);
		free(in); free(c); free(back); free(z);
	}
}

static void test_bad_input(void)
{
	unsigned char *in = sample(50000, 7);
	unsigned char out[64];
	size_t need = 0;
	int rc = wd_compress(WD_FORMAT_GZIP, 6, in, 50000, out, sizeof(out), &need);
	CHECK(rc == WD_ERR_OUTPUT_TOO_SMALL && need > sizeof(out), "small output: rc %d need %zu", rc, need);
	rc = wd_compress(WD_FORMAT_GZIP, 6, NULL, 10, out, sizeof(out), &need);
	CHECK(rc == WD_ERR_INVALID_ARGUMENT, "NULL input: rc %d", rc);
	rc = wd_compress(WD_FORMAT_GZIP, 12, in, 10, out, sizeof(out), &need);
	CHECK(rc == WD_ERR_INVALID_ARGUMENT, "level 12: rc %d", rc);
	unsigned char junk[200];
	for (int i = 0; i < 200; i++)
		junk[i] = (unsigned char)(i * 37 + 11);
	size_t c, w;
	rc = wd_decompress(WD_FORMAT_ZLIB, junk, sizeof(junk), in, 50000, &c, &w);
	CHECK(rc == WD_ERR_DATA || rc == WD_ERR_CHECKSUM, "garbage inflated: rc %d", rc);
	unsigned char key[15] = { 0 }, iv[12] = { 0 }, tag[16];
	rc = wd_aead_seal(key, 15, iv, 12, NULL, 0, in, 16, out, sizeof(out), tag, 16);
	CHECK(rc == WD_ERR_INVALID_LENGTH, "15-byte key: rc %d", rc);
	CHECK(strlen(wd_strerror(rc)) > 0, "strerror");
	free(in);
}

static void test_crypto(void)
{
	size_t n = 20000;
	unsigned char *in = sample(n, 3), *ct = malloc(n), *pt = malloc(n);
	unsigned char key[32], iv[12], tag[16], ref_tag[16];
	for (int i = 0; i < 32; i++) key[i] = (unsigned char)i;
	memset(iv, 5, sizeof(iv));
	int rc = wd_aead_seal(key, 32, iv, 12, (const unsigned char *)"aad", 3, in, n, ct, n, tag, 16);
	CHECK(rc == WD_OK, "seal rc %d", rc);
	/* Reference: OpenSSL EVP, default provider. */
	EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
	unsigned char *ref = malloc(n);
	int len = 0, fl = 0;
	EVP_EncryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, key, iv);
	EVP_EncryptUpdate(ctx, NULL, &len, (const unsigned char *)"aad", 3);
	EVP_EncryptUpdate(ctx, ref, &len, in, (int)n);
	EVP_EncryptFinal_ex(ctx, ref + len, &fl);
	EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, 16, ref_tag);
	EVP_CIPHER_CTX_free(ctx);
	CHECK(memcmp(ref, ct, n) == 0 && memcmp(ref_tag, tag, 16) == 0, "AES-256-GCM differs from OpenSSL");
	rc = wd_aead_open(key, 32, iv, 12, (const unsigned char *)"aad", 3, ct, n, tag, 16, pt, n);
	CHECK(rc == WD_OK && memcmp(pt, in, n) == 0, "open rc %d", rc);
	tag[0] ^= 1;
	memset(pt, 0xAA, n);
	rc = wd_aead_open(key, 32, iv, 12, (const unsigned char *)"aad", 3, ct, n, tag, 16, pt, n);
	int wiped = 1;
	for (size_t i = 0; i < n; i++)
		wiped &= pt[i] == 0;
	CHECK(rc == WD_ERR_AUTH_FAILED && wiped, "bad tag: rc %d wiped %d", rc, wiped);

	unsigned char md[64], ref_md[64];
	size_t w = 0;
	unsigned rl = 0;
	rc = wd_digest(WD_HASH_SHA256, in, n, md, sizeof(md), &w);
	EVP_Digest(in, n, ref_md, &rl, EVP_sha256(), NULL);
	CHECK(rc == WD_OK && w == 32 && rl == 32 && memcmp(md, ref_md, 32) == 0, "SHA-256 differs");
	rc = wd_hmac(WD_HASH_SHA512, key, 32, in, n, md, sizeof(md), &w);
	HMAC(EVP_sha512(), key, 32, in, n, ref_md, &rl);
	CHECK(rc == WD_OK && w == 64 && memcmp(md, ref_md, 64) == 0, "HMAC-SHA512 differs");

	wd_hasher *h = NULL;
	CHECK(wd_hasher_new(WD_HASH_SHA1, NULL, 0, &h) == WD_OK, "hasher_new");
	for (size_t off = 0; off < n; off += 777)
		wd_hasher_update(h, in + off, off + 777 <= n ? 777 : n - off);
	rc = wd_hasher_finish(h, md, sizeof(md), &w);
	EVP_Digest(in, n, ref_md, &rl, EVP_sha1(), NULL);
	CHECK(rc == WD_OK && w == 20 && memcmp(md, ref_md, 20) == 0, "streamed SHA-1 differs");
	wd_hasher_free(h);

	unsigned char *cbc = malloc(n + 16), iv16[16] = { 1 };
	rc = wd_cipher(WD_CIPHER_CBC, true, true, key, 16, iv16, 16, in, n, cbc, n + 16, &w);
	CHECK(rc == WD_OK && w == (n / 16 + 1) * 16, "CBC encrypt rc %d len %zu", rc, w);
	size_t w2 = 0;
	rc = wd_cipher(WD_CIPHER_CBC, false, true, key, 16, iv16, 16, cbc, w, pt, n, &w2);
	CHECK(rc == WD_OK && w2 == n && memcmp(pt, in, n) == 0, "CBC decrypt rc %d", rc);
	free(in); free(ct); free(pt); free(ref); free(cbc);
}

/* ChaCha20-Poly1305 through wd_aead_seal_alg/wd_aead_open_alg against OpenSSL's,
 * a wrong tag refused with the output wiped, and its exact lengths. */
static void test_chacha(void)
{
	size_t sizes[] = { 0, 1, 20000, 300000 };
	unsigned char key[32], iv[12], tag[16], ref_tag[16];
	for (int i = 0; i < 32; i++) key[i] = (unsigned char)(i * 7);
	memset(iv, 9, sizeof(iv));
	const unsigned char *aad = (const unsigned char *)"record header";
	for (unsigned s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
		size_t n = sizes[s];
		unsigned char *in = sample(n, 11 + s), *ct = malloc(n + 1), *pt = malloc(n + 1), *ref = malloc(n + 1);
		int rc = wd_aead_seal_alg(WD_AEAD_CHACHA20_POLY1305, key, 32, iv, 12, aad, 13, in, n, ct, n, tag, 16);
		CHECK(rc == WD_OK, "chacha seal(%zu) rc %d", n, rc);
		EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
		int len = 0, fl = 0;
		EVP_EncryptInit_ex(ctx, EVP_chacha20_poly1305(), NULL, key, iv);
		EVP_EncryptUpdate(ctx, NULL, &len, aad, 13);
		EVP_EncryptUpdate(ctx, ref, &len, in, (int)n);
		EVP_EncryptFinal_ex(ctx, ref + len, &fl);
		EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG, 16, ref_tag);
		EVP_CIPHER_CTX_free(ctx);
		CHECK(memcmp(ref, ct, n) == 0 && memcmp(ref_tag, tag, 16) == 0, "ChaCha20-Poly1305(%zu) differs from OpenSSL", n);
		rc = wd_aead_open_alg(WD_AEAD_CHACHA20_POLY1305, key, 32, iv, 12, aad, 13, ct, n, tag, 16, pt, n);
		CHECK(rc == WD_OK && memcmp(pt, in, n) == 0, "chacha open(%zu) rc %d", n, rc);
		tag[15] ^= 0x40;
		memset(pt, 0xAA, n);
		rc = wd_aead_open_alg(WD_AEAD_CHACHA20_POLY1305, key, 32, iv, 12, aad, 13, ct, n, tag, 16, pt, n);
		int wiped = 1;
		for (size_t i = 0; i < n; i++)
			wiped &= pt[i] == 0;
		CHECK(rc == WD_ERR_AUTH_FAILED && wiped, "chacha bad tag(%zu): rc %d wiped %d", n, rc, wiped);
		/* The same bytes as AES-256-GCM give another answer. */
		if (n) {
			rc = wd_aead_seal_alg(WD_AEAD_AES_GCM, key, 32, iv, 12, aad, 13, in, n, pt, n, tag, 16);
			CHECK(rc == WD_OK && memcmp(pt, ct, n) != 0, "WD_AEAD_AES_GCM rc %d", rc);
		}
		free(in); free(ct); free(pt); free(ref);
	}
	unsigned char in[16] = { 0 }, out[16];
	int rc = wd_aead_seal_alg(WD_AEAD_CHACHA20_POLY1305, key, 16, iv, 12, NULL, 0, in, 16, out, 16, tag, 16);
	CHECK(rc == WD_ERR_INVALID_LENGTH, "chacha 16-byte key: rc %d", rc);
	rc = wd_aead_seal_alg(WD_AEAD_CHACHA20_POLY1305, key, 32, iv, 8, NULL, 0, in, 16, out, 16, tag, 16);
	CHECK(rc == WD_ERR_INVALID_LENGTH, "chacha 8-byte nonce: rc %d", rc);
	rc = wd_aead_open_alg(WD_AEAD_CHACHA20_POLY1305, key, 32, iv, 12, NULL, 0, in, 16, tag, 12, out, 16);
	CHECK(rc == WD_ERR_INVALID_LENGTH, "chacha 12-byte tag: rc %d", rc);
	rc = wd_aead_seal_alg(WD_AEAD_CHACHA20_POLY1305, key, 32, iv, 12, NULL, 0, in, 16, out, 15, tag, 16);
	CHECK(rc == WD_ERR_OUTPUT_TOO_SMALL, "chacha short output: rc %d", rc);
}

static void test_streaming(void)
{
	size_t n = 300000;
	unsigned char *in = sample(n, 9), *out = malloc(n * 2), *back = malloc(n);
	wd_deflater *d = NULL;
	CHECK(wd_deflater_new(WD_FORMAT_GZIP, 1, &d) == WD_OK, "deflater_new");
	size_t total = 0, off = 0;
	bool done = false;
	while (!done) {
		size_t chunk = off < n ? (n - off < 65536 ? n - off : 65536) : 0;
		size_t c = 0, p = 0;
		int rc = wd_deflater_deflate(d, in + off, chunk, out + total, 4096, off + chunk >= n ? WD_FLUSH_FINISH : WD_FLUSH_NONE, &c, &p, &done);
		if (rc != WD_OK) { CHECK(0, "deflate rc %d", rc); break; }
		off += c;
		total += p;
	}
	wd_deflater_free(d);
	z_stream zs;
	memset(&zs, 0, sizeof(zs));
	inflateInit2(&zs, 31);
	zs.next_in = out; zs.avail_in = (uInt)total;
	zs.next_out = back; zs.avail_out = (uInt)n;
	int zr = inflate(&zs, Z_FINISH);
	CHECK(zr == Z_STREAM_END && zs.total_out == n && memcmp(back, in, n) == 0, "zlib could not read our gzip stream: %d", zr);
	inflateEnd(&zs);
	free(in); free(out); free(back);
}

int main(void)
{
	printf("backend: %s\n", wd_backend_name());
	test_compression();
	test_bad_input();
	test_crypto();
	test_chacha();
	test_streaming();
	wd_stats st;
	CHECK(wd_get_stats(&st) == WD_OK, "stats");
	printf("stats: offloaded %llu inline %llu fallbacks %llu\n", (unsigned long long)st.offloaded,
	       (unsigned long long)st.inline_, (unsigned long long)st.fallbacks);
	if (getenv("WARPDRIVE_INLINE_MAX") && atoi(getenv("WARPDRIVE_INLINE_MAX")) == 0 && strcmp(wd_backend_name(), "inline"))
		CHECK(st.offloaded > 0, "with WARPDRIVE_INLINE_MAX=0 requests must go through the queues");
	printf("%d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}
