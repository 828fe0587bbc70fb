/* SPDX-License-Identifier: MIT */
/*
 * Every opcode through the ring, in SVA mode, buffer mode, on the validated
 * device, and through WD_IOCTL_SUBMIT_SYNC; every result compared with the
 * system's zlib and OpenSSL.
 */
#include "wdt.h"
#include <zlib.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

static struct wdq Q;
static struct wmem M;

static int run(struct wd_desc *d, struct wd_cqe *c)
{
	static uint64_t ud = 1000;
	d->user_data = ++ud;
	memset(c, 0, sizeof(*c));
	int r = wdq_run(&Q, d, c);
	CHECK(r == 0, "wdq_run: %d", r);
	CHECK(r || c->user_data == ud, "user_data %llu != %llu", (unsigned long long)c->user_data,
	      (unsigned long long)ud);
	return r;
}

static const struct { uint8_t alg; const char *md; int hmac; } HASHES[] = {
	{ WD_ALG_SHA1, "SHA1", 0 }, { WD_ALG_SHA224, "SHA224", 0 },
	{ WD_ALG_SHA256, "SHA256", 0 }, { WD_ALG_SHA384, "SHA384", 0 },
	{ WD_ALG_SHA512, "SHA512", 0 }, { WD_ALG_HMAC_SHA1, "SHA1", 1 },
	{ WD_ALG_HMAC_SHA224, "SHA224", 1 }, { WD_ALG_HMAC_SHA256, "SHA256", 1 },
	{ WD_ALG_HMAC_SHA384, "SHA384", 1 }, { WD_ALG_HMAC_SHA512, "SHA512", 1 },
};

static void ref_hash(int i, const uint8_t *key, int klen, const uint8_t *p, size_t n,
		     uint8_t *out, unsigned *olen)
{
	const EVP_MD *md = EVP_get_digestbyname(HASHES[i].md);
	if (HASHES[i].hmac)
		HMAC(md, key, klen, p, n, out, olen);
	else
		EVP_Digest(p, n, out, olen, md, NULL);
}

static void test_hash(void)
{
	static const size_t sizes[] = { 0, 3, 64, 1000, 100000 };
	for (unsigned i = 0; i < sizeof(HASHES) / sizeof(HASHES[0]); i++) {
		for (unsigned s = 0; s < 5; s++) {
			size_t n = sizes[s];
			int klen = HASHES[i].hmac ? (int[]){ 0, 20, 100, 200, 255 }[s] : 0;
			struct wref src = wmem_get(&M, n), dst = wmem_get(&M, 64), aux = wmem_get(&M, 256);
			uint8_t ref[64];
			unsigned rl;
			fill_text(src.p, n, s + i);
			for (int k = 0; k < klen; k++)
				aux.p[k] = k * 7 + 1;
			struct wd_desc d = { .opcode = WD_OP_HASH, .alg = HASHES[i].alg, .key_len = klen };
			d_src(&d, src, n); d_dst(&d, dst, 64); d_aux(&d, aux);
			struct wd_cqe c;
			if (run(&d, &c))
				continue;
			ref_hash(i, aux.p, klen, src.p, n, ref, &rl);
			CHECK(c.status == 0, "hash alg %d n %zu status %u", HASHES[i].alg, n, c.status);
			CHECK(c.produced == rl && !memcmp(dst.p, ref, rl), "hash alg %d n %zu klen %d mismatch",
			      HASHES[i].alg, n, klen);
			wmem_reset(&M);
		}
	}
	/* dst too small reports the digest size */
	struct wref src = wmem_get(&M, 10), dst = wmem_get(&M, 64);
	struct wd_desc d = { .opcode = WD_OP_HASH, .alg = WD_ALG_SHA512 };
	d_src(&d, src, 10); d_dst(&d, dst, 63);
	struct wd_cqe c;
	if (!run(&d, &c))
		CHECK(c.status == WD_STATUS_DST_TOO_SMALL && c.needed == 64, "st %u needed %u", c.status, c.needed);
	wmem_reset(&M);
}

static void test_hash_stream(void)
{
	for (int hm = 0; hm < 2; hm++) {
		uint8_t alg = hm ? WD_ALG_HMAC_SHA256 : WD_ALG_SHA256;
		size_t n = 70000, cut[] = { 0, 1000, 1001, 50000, 70000 };
		struct wref src = wmem_get(&M, n), dst = wmem_get(&M, 64), aux = wmem_get(&M, 64);
		fill_text(src.p, n, 9);
		memset(aux.p, 0x5a, 32);
		struct wd_cqe c;
		int ok = 1;
		for (int k = 0; k < 4; k++) {
			struct wd_desc d = { .opcode = WD_OP_HASH, .alg = alg, .flags = WD_DESC_F_STREAM,
					     .stream_id = 7 + hm };
			if (k == 0) { d.flags |= WD_DESC_F_FIRST; d.key_len = hm ? 32 : 0; }
			if (k == 3) d.flags |= WD_DESC_F_LAST;
			struct wref part = { src.p + cut[k], src.buf, src.addr + cut[k] };
			d_src(&d, part, cut[k + 1] - cut[k]); d_dst(&d, dst, 64); d_aux(&d, aux);
			if (run(&d, &c) || c.status) { ok = 0; CHECK(0, "stream piece %d status %u", k, c.status); break; }
		}
		uint8_t ref[64]; unsigned rl;
		ref_hash(hm ? 7 : 2, aux.p, 32, src.p, n, ref, &rl);
		if (ok)
			CHECK(c.produced == 32 && !memcmp(dst.p, ref, 32), "hash stream %d mismatch", hm);
		wmem_reset(&M);
	}
	/* unknown stream, then free */
	struct wd_desc d = { .opcode = WD_OP_HASH, .alg = WD_ALG_SHA1, .flags = WD_DESC_F_STREAM, .stream_id = 99 };
	struct wd_cqe c;
	if (!run(&d, &c)) CHECK(c.status == WD_STATUS_BAD_STREAM, "st %u", c.status);
	d.flags |= WD_DESC_F_FIRST;
	if (!run(&d, &c)) CHECK(c.status == 0, "st %u", c.status);
	struct wd_desc f = { .opcode = WD_OP_STREAM_FREE, .stream_id = 99 };
	if (!run(&f, &c)) CHECK(c.status == 0, "free st %u", c.status);
	if (!run(&f, &c)) CHECK(c.status == WD_STATUS_BAD_STREAM, "free2 st %u", c.status);
	f.stream_id = 300;
	if (!run(&f, &c)) CHECK(c.status == WD_STATUS_BAD_STREAM, "free300 st %u", c.status);
}

static int wbits(uint8_t alg) { return alg == WD_ALG_DEFLATE_RAW ? -15 : alg == WD_ALG_ZLIB ? 15 : 31; }

static long sys_inflate(uint8_t alg, const uint8_t *in, size_t n, uint8_t *out, size_t cap)
{
	z_stream z = { 0 };
	if (inflateInit2(&z, wbits(alg)) != Z_OK) return -1;
	z.next_in = (uint8_t *)in; z.avail_in = n; z.next_out = out; z.avail_out = cap;
	int r = inflate(&z, Z_FINISH);
	long got = cap - z.avail_out;
	inflateEnd(&z);
	return r == Z_STREAM_END ? got : -1;
}

static long sys_deflate(uint8_t alg, int level, const uint8_t *in, size_t n, uint8_t *out, size_t cap,
			int fancy)
{
	z_stream z = { 0 };
	gz_header h = { 0 };
	static uint8_t extra[] = "XYextra";
	if (deflateInit2(&z, level, Z_DEFLATED, wbits(alg), 8, Z_DEFAULT_STRATEGY) != Z_OK) return -1;
	if (alg == WD_ALG_GZIP && fancy) {
		h.extra = extra; h.extra_len = 7; h.name = (uint8_t *)"file.txt";
		h.comment = (uint8_t *)"a comment"; h.hcrc = 1; h.time = 12345;
		deflateSetHeader(&z, &h);
	}
	z.next_in = (uint8_t *)in; z.avail_in = n; z.next_out = out; z.avail_out = cap;
	int r = deflate(&z, Z_FINISH);
	long got = cap - z.avail_out;
	deflateEnd(&z);
	return r == Z_STREAM_END ? got : -1;
}

static uint32_t ref_sum(uint8_t alg, const uint8_t *p, size_t n)
{
	return alg == WD_ALG_ZLIB ? adler32(adler32(0, NULL, 0), p, n) : crc32(crc32(0, NULL, 0), p, n);
}

static void test_zlib(void)
{
	static const size_t sizes[] = { 0, 1, 5000, 200000 };
	static const int levels[] = { 1, 6, 9, 0 };
	for (uint8_t alg = WD_ALG_DEFLATE_RAW; alg <= WD_ALG_GZIP; alg++) {
		for (int s = 0; s < 4; s++) {
			size_t n = sizes[s], cap = n + n / 100 + 1024;
			int level = levels[(s + alg) % 4];
			struct wref src = wmem_get(&M, n), dst = wmem_get(&M, cap);
			uint8_t *back = malloc(n + 1);
			fill_text(src.p, n, s * 3 + alg);
			struct wd_desc d = { .opcode = WD_OP_COMPRESS, .alg = alg, .level = level };
			d_src(&d, src, n); d_dst(&d, dst, cap);
			struct wd_cqe c;
			if (!run(&d, &c)) {
				CHECK(c.status == 0 && c.consumed == n, "compress alg %d n %zu st %u", alg, n, c.status);
				long got = sys_inflate(alg, dst.p, c.produced, back, n + 1);
				CHECK(got == (long)n && !memcmp(back, src.p, n), "kernel->zlib alg %d lvl %d n %zu got %ld",
				      alg, level, n, got);
				CHECK(c.checksum == ref_sum(alg, src.p, n), "compress checksum alg %d", alg);
			}
			/* the other way: system zlib compresses, the kernel inflates */
			uint8_t *z = malloc(cap);
			long zl = sys_deflate(alg, 6, src.p, n, z, cap, s & 1);
			struct wref zin = wmem_get(&M, zl), out = wmem_get(&M, n + 16);
			memcpy(zin.p, z, zl);
			struct wd_desc e = { .opcode = WD_OP_DECOMPRESS, .alg = alg };
			d_src(&e, zin, zl); d_dst(&e, out, n + 16);
			if (!run(&e, &c)) {
				CHECK(c.status == 0 && c.produced == n && c.consumed == zl &&
				      !memcmp(out.p, src.p, n), "zlib->kernel alg %d n %zu st %u prod %u cons %u/%ld",
				      alg, n, c.status, c.produced, c.consumed, zl);
				CHECK(c.flags & WD_CQE_F_STREAM_END, "no STREAM_END");
				CHECK(c.checksum == ref_sum(alg, src.p, n), "inflate checksum alg %d", alg);
			}
			if (n >= 5000) {
				/* output exactly the right size */
				e.dst_len = n;
				if (!run(&e, &c)) CHECK(c.status == 0 && c.produced == n, "exact dst st %u", c.status);
				/* dst too small */
				e.dst_len = n / 2;
				if (!run(&e, &c)) CHECK(c.status == WD_STATUS_DST_TOO_SMALL, "small dst st %u", c.status);
				e.dst_len = n + 16;
				/* truncated input */
				e.src_len = zl / 2;
				if (!run(&e, &c)) CHECK(c.status == WD_STATUS_DATA_ERROR, "truncated st %u", c.status);
				e.src_len = zl;
				/* trailer checksum corrupted */
				if (alg != WD_ALG_DEFLATE_RAW) {
					zin.p[zl - (alg == WD_ALG_GZIP ? 6 : 1)] ^= 0x55;
					if (!run(&e, &c)) CHECK(c.status == WD_STATUS_CHECKSUM_MISMATCH, "bad trailer alg %d st %u", alg, c.status);
					zin.p[zl - (alg == WD_ALG_GZIP ? 6 : 1)] ^= 0x55;
				}
				/* garbage in the middle */
				memset(zin.p + (alg == WD_ALG_GZIP ? 40 : 2), 0xff, 64);
				if (!run(&e, &c)) CHECK(c.status == WD_STATUS_DATA_ERROR || c.status == WD_STATUS_CHECKSUM_MISMATCH,
							"garbage alg %d st %u", alg, c.status);
				/* compress into too little */
				d.dst_len = 10;
				if (!run(&d, &c)) CHECK(c.status == WD_STATUS_DST_TOO_SMALL && c.needed > 10, "compress small st %u", c.status);
			}
			free(z); free(back);
			wmem_reset(&M);
		}
	}
	/* level out of range */
	struct wd_desc d = { .opcode = WD_OP_COMPRESS, .alg = WD_ALG_ZLIB, .level = 10 };
	struct wd_cqe c;
	if (!run(&d, &c)) CHECK(c.status == WD_STATUS_INVALID_FLAGS, "level 10 st %u", c.status);
}

static void test_zlib_stream(void)
{
	for (uint8_t alg = WD_ALG_DEFLATE_RAW; alg <= WD_ALG_GZIP; alg++) {
		size_t n = 150000, cap = n + 4096;
		struct wref src = wmem_get(&M, n), dst = wmem_get(&M, cap);
		uint8_t *back = malloc(n);
		fill_text(src.p, n, alg);
		size_t cut[] = { 0, 10, 60000, 60000, n }, out = 0;
		struct wd_cqe c = { 0 };
		int ok = 1;
		for (int k = 0; k < 4; k++) {
			struct wd_desc d = { .opcode = WD_OP_COMPRESS, .alg = alg, .level = 6,
					     .flags = WD_DESC_F_STREAM | (k == 0 ? WD_DESC_F_FIRST : 0) |
						      (k == 3 ? WD_DESC_F_LAST : 0) | (k == 1 ? WD_DESC_F_SYNC_FLUSH : 0),
					     .stream_id = 3 };
			struct wref part = { src.p + cut[k], src.buf, src.addr + cut[k] };
			struct wref o = { dst.p + out, dst.buf, dst.addr + out };
			d_src(&d, part, cut[k + 1] - cut[k]); d_dst(&d, o, cap - out);
			if (run(&d, &c) || c.status || c.consumed != cut[k + 1] - cut[k]) {
				CHECK(0, "compress stream alg %d piece %d st %u", alg, k, c.status); ok = 0; break;
			}
			out += c.produced;
		}
		if (ok) {
			long got = sys_inflate(alg, dst.p, out, back, n);
			CHECK(got == (long)n && !memcmp(back, src.p, n), "stream compress alg %d got %ld", alg, got);
			CHECK(c.checksum == ref_sum(alg, src.p, n), "stream checksum alg %d", alg);
		}
		/* decompress in pieces through a small window, draining MORE_OUTPUT */
		uint8_t *z = malloc(cap);
		long zl = sys_deflate(alg, 6, src.p, n, z, cap, 1);
		struct wref zin = wmem_get(&M, zl), win = wmem_get(&M, 4096);
		memcpy(zin.p, z, zl);
		size_t in_off = 0; out = 0; ok = 1;
		int first = 1, guard = 0;
		while (ok && guard++ < 10000) {
			size_t piece = zl - in_off < 7000 ? zl - in_off : 7000;
			struct wd_desc d = { .opcode = WD_OP_DECOMPRESS, .alg = alg, .stream_id = 4,
					     .flags = WD_DESC_F_STREAM | (first ? WD_DESC_F_FIRST : 0) |
						      (in_off + piece == (size_t)zl ? WD_DESC_F_LAST : 0) };
			struct wref part = { zin.p + in_off, zin.buf, zin.addr + in_off };
			d_src(&d, part, piece); d_dst(&d, win, 4096);
			if (run(&d, &c) || c.status) { CHECK(0, "inflate stream alg %d st %u at %zu", alg, c.status, in_off); ok = 0; break; }
			first = 0;
			if (out + c.produced > n || memcmp(win.p, src.p + out, c.produced)) { CHECK(0, "inflate stream data alg %d", alg); ok = 0; break; }
			out += c.produced;
			in_off += c.consumed;
			if (c.flags & WD_CQE_F_STREAM_END) break;
		}
		if (ok) CHECK(out == n && in_off == (size_t)zl, "inflate stream alg %d out %zu in %zu/%ld", alg, out, in_off, zl);
		free(z); free(back);
		wmem_reset(&M);
	}
}

static const EVP_CIPHER *evp_for(uint8_t alg, int klen)
{
	if (alg == WD_ALG_AES_GCM) return klen == 16 ? EVP_aes_128_gcm() : klen == 24 ? EVP_aes_192_gcm() : EVP_aes_256_gcm();
	if (alg == WD_ALG_AES_CTR) return klen == 16 ? EVP_aes_128_ctr() : klen == 24 ? EVP_aes_192_ctr() : EVP_aes_256_ctr();
	return klen == 16 ? EVP_aes_128_cbc() : klen == 24 ? EVP_aes_192_cbc() : EVP_aes_256_cbc();
}

static int ref_cipher(uint8_t alg, int enc, const uint8_t *key, int klen, const uint8_t *iv, int ivlen,
		      const uint8_t *aad, int aadlen, const uint8_t *in, int n, uint8_t *out,
		      uint8_t *tag, int taglen, int pad)
{
	EVP_CIPHER_CTX *x = EVP_CIPHER_CTX_new();
	int l = 0, t = 0;
	EVP_CipherInit_ex(x, evp_for(alg, klen), NULL, NULL, NULL, enc);
	if (alg == WD_ALG_AES_GCM) EVP_CIPHER_CTX_ctrl(x, EVP_CTRL_GCM_SET_IVLEN, ivlen, NULL);
	EVP_CipherInit_ex(x, NULL, NULL, key, iv, enc);
	EVP_CIPHER_CTX_set_padding(x, pad);
	if (aadlen) EVP_CipherUpdate(x, NULL, &l, aad, aadlen);
	if (!enc && alg == WD_ALG_AES_GCM) EVP_CIPHER_CTX_ctrl(x, EVP_CTRL_GCM_SET_TAG, taglen, tag);
	EVP_CipherUpdate(x, out, &l, in, n);
	int ok = EVP_CipherFinal_ex(x, out + l, &t);
	if (enc && alg == WD_ALG_AES_GCM) EVP_CIPHER_CTX_ctrl(x, EVP_CTRL_GCM_GET_TAG, taglen, tag);
	EVP_CIPHER_CTX_free(x);
	return ok == 1 ? l + t : -1;
}

static void test_ciphers(void)
{
	static const int sizes[] = { 0, 1, 16, 33, 1000, 70000 };
	for (uint8_t alg = WD_ALG_AES_GCM; alg <= WD_ALG_AES_CBC; alg++)
	for (int pad = 0; pad < (alg == WD_ALG_AES_CBC ? 2 : 1); pad++)
	for (int s = 0; s < 6; s++) {
		int n = sizes[s], klen = (int[]){ 16, 24, 32 }[s % 3];
		if (alg == WD_ALG_AES_CBC && !pad && n % 16) continue;
		int ivlen = alg == WD_ALG_AES_GCM ? 12 : 16, aadlen = alg == WD_ALG_AES_GCM ? (s & 1) * 20 : 0;
		int taglen = alg == WD_ALG_AES_GCM ? (s & 2 ? 12 : 16) : 0, cap = n + 32;
		int usepad = alg == WD_ALG_AES_CBC && pad;
		struct wref src = wmem_get(&M, n), dst = wmem_get(&M, cap), aux = wmem_get(&M, 128);
		struct wref back = wmem_get(&M, cap);
		uint8_t ref[70100], reftag[16];
		fill_text(src.p, n, s);
		for (int k = 0; k < klen + ivlen + aadlen; k++) aux.p[k] = k * 13 + s;
		uint8_t *key = aux.p, *iv = aux.p + klen, *aad = iv + ivlen, *tag = aad + aadlen;
		int rl = ref_cipher(alg, 1, key, klen, iv, ivlen, aad, aadlen, src.p, n, ref, reftag, taglen, usepad);
		struct wd_desc d = { .opcode = WD_OP_ENCRYPT, .alg = alg, .key_len = klen, .iv_len = ivlen,
				     .aad_len = aadlen, .tag_len = taglen,
				     .flags = alg == WD_ALG_AES_CBC && !pad ? WD_DESC_F_NO_PADDING : 0 };
		d_src(&d, src, n); d_dst(&d, dst, cap); d_aux(&d, aux);
		struct wd_cqe c;
		if (run(&d, &c)) continue;
		CHECK(c.status == 0 && (int)c.produced == rl && !memcmp(dst.p, ref, rl),
		      "encrypt alg %d pad %d n %d st %u prod %u ref %d", alg, pad, n, c.status, c.produced, rl);
		if (taglen) CHECK(!memcmp(tag, reftag, taglen), "tag alg %d n %d", alg, n);
		/* decrypt what the kernel produced */
		struct wd_desc e = d;
		e.opcode = WD_OP_DECRYPT;
		d_src(&e, dst, c.produced); d_dst(&e, back, cap);
		if (!run(&e, &c))
			CHECK(c.status == 0 && (int)c.produced == n && !memcmp(back.p, src.p, n),
			      "decrypt alg %d pad %d n %d st %u prod %u", alg, pad, n, c.status, c.produced);
		if (taglen) {
			tag[0] ^= 1;
			memset(back.p, 0xee, cap);
			if (!run(&e, &c)) {
				CHECK(c.status == WD_STATUS_AUTH_FAILED, "bad tag st %u", c.status);
				CHECK(back.p[0] == 0xee, "dst written on auth failure");
			}
			tag[0] ^= 1;
		}
		if (usepad && n) {
			/* corrupt the last block: the padding check fails (almost surely) or length is short */
			dst.p[c.produced ? rl - 1 : 0] ^= 0x80;
			if (!run(&e, &c)) CHECK(c.status == WD_STATUS_DATA_ERROR || c.status == 0, "bad pad st %u", c.status);
		}
		wmem_reset(&M);
	}
	/* GCM with an IV other than 12 bytes, bad key length */
	struct wref aux = wmem_get(&M, 128), dst = wmem_get(&M, 64);
	struct wd_desc d = { .opcode = WD_OP_ENCRYPT, .alg = WD_ALG_AES_GCM, .key_len = 16, .iv_len = 16, .tag_len = 16 };
	d_aux(&d, aux); d_dst(&d, dst, 64);
	struct wd_cqe c;
	if (!run(&d, &c)) CHECK(c.status == WD_STATUS_INVALID_LENGTH, "iv16 st %u", c.status);
	d.iv_len = 12; d.key_len = 17;
	if (!run(&d, &c)) CHECK(c.status == WD_STATUS_INVALID_LENGTH, "key17 st %u", c.status);
	d.key_len = 16; d.tag_len = 3;
	if (!run(&d, &c)) CHECK(c.status == WD_STATUS_INVALID_LENGTH, "tag3 st %u", c.status);
	d.tag_len = 16; d.flags = WD_DESC_F_STREAM | WD_DESC_F_FIRST;
	if (!run(&d, &c)) CHECK(c.status == WD_STATUS_INVALID_FLAGS, "cipher stream st %u", c.status);
	wmem_reset(&M);
}

/* ChaCha20-Poly1305 (RFC 8439) against OpenSSL's, out of place and in place;
 * a flipped tag bit is refused with dst untouched; lengths other than key 32,
 * iv 12, tag 16 and cipher streams are refused. */
static void test_chacha(void)
{
	static const int sizes[] = { 0, 1, 64, 1000, 70000 };
	for (int s = 0; s < 5; s++)
	for (int in_place = 0; in_place < 2; in_place++) {
		int n = sizes[s], aadlen = (s & 1) * 13, cap = n + 16, l = 0;
		struct wref src = wmem_get(&M, cap), dst = wmem_get(&M, cap), aux = wmem_get(&M, 128);
		struct wref back = wmem_get(&M, cap);
		static uint8_t ref[70100], plain[70100];
		uint8_t reftag[16];
		fill_text(src.p, n, s + 7);
		memcpy(plain, src.p, n);
		for (int k = 0; k < 32 + 12 + aadlen; k++) aux.p[k] = k * 29 + s;
		uint8_t *key = aux.p, *iv = aux.p + 32, *aad = iv + 12, *tag = aad + aadlen;
		EVP_CIPHER_CTX *x = EVP_CIPHER_CTX_new();
		EVP_EncryptInit_ex(x, EVP_chacha20_poly1305(), NULL, key, iv);
		if (aadlen) EVP_EncryptUpdate(x, NULL, &l, aad, aadlen);
		EVP_EncryptUpdate(x, ref, &l, src.p, n);
		EVP_EncryptFinal_ex(x, ref + l, &l);
		EVP_CIPHER_CTX_ctrl(x, EVP_CTRL_AEAD_GET_TAG, 16, reftag);
		EVP_CIPHER_CTX_free(x);
		struct wd_desc d = { .opcode = WD_OP_ENCRYPT, .alg = WD_ALG_CHACHA20_POLY1305,
				     .key_len = 32, .iv_len = 12, .aad_len = aadlen, .tag_len = 16 };
		struct wref out = in_place ? src : dst;
		d_src(&d, src, n); d_dst(&d, out, cap); d_aux(&d, aux);
		struct wd_cqe c;
		if (run(&d, &c)) continue;
		CHECK(c.status == 0 && (int)c.produced == n && !memcmp(out.p, ref, n) &&
		      !memcmp(tag, reftag, 16), "chacha encrypt n %d in place %d st %u prod %u",
		      n, in_place, c.status, c.produced);
		struct wd_desc e = d;
		e.opcode = WD_OP_DECRYPT;
		d_src(&e, out, n); d_dst(&e, in_place ? out : back, cap);
		tag[15] ^= 0x80;
		memset(back.p, 0xee, cap);
		if (!run(&e, &c)) {
			CHECK(c.status == WD_STATUS_AUTH_FAILED, "chacha bad tag st %u", c.status);
			/* nothing written: in place the ciphertext stays for the retry below */
			CHECK(in_place ? !memcmp(out.p, ref, n) : back.p[0] == 0xee,
			      "chacha dst written on auth failure");
		}
		tag[15] ^= 0x80;
		if (!run(&e, &c))
			CHECK(c.status == 0 && (int)c.produced == n &&
			      !memcmp(in_place ? out.p : back.p, plain, n),
			      "chacha decrypt n %d in place %d st %u", n, in_place, c.status);
		wmem_reset(&M);
	}
	struct wref aux = wmem_get(&M, 128), dst = wmem_get(&M, 64);
	struct wd_desc d = { .opcode = WD_OP_ENCRYPT, .alg = WD_ALG_CHACHA20_POLY1305,
			     .key_len = 16, .iv_len = 12, .tag_len = 16 };
	d_aux(&d, aux); d_dst(&d, dst, 64);
	struct wd_cqe c;
	if (!run(&d, &c)) CHECK(c.status == WD_STATUS_INVALID_LENGTH, "chacha key16 st %u", c.status);
	d.key_len = 32; d.iv_len = 8;
	if (!run(&d, &c)) CHECK(c.status == WD_STATUS_INVALID_LENGTH, "chacha iv8 st %u", c.status);
	d.iv_len = 12; d.tag_len = 12;
	if (!run(&d, &c)) CHECK(c.status == WD_STATUS_INVALID_LENGTH, "chacha tag12 st %u", c.status);
	d.tag_len = 16; d.flags = WD_DESC_F_STREAM | WD_DESC_F_FIRST;
	if (!run(&d, &c)) CHECK(c.status == WD_STATUS_INVALID_FLAGS, "chacha stream st %u", c.status);
	d.flags = 0;
	if (!run(&d, &c)) CHECK(c.status == 0 && c.produced == 0, "chacha empty st %u", c.status);
	wmem_reset(&M);
}

static void test_nop(void)
{
	struct wd_desc d = { .opcode = WD_OP_NOP };
	struct wd_cqe c;
	for (int i = 0; i < 50; i++)
		if (!run(&d, &c)) CHECK(c.status == 0, "nop st %u", c.status);
	/* pipelined: fill the SQ, then reap */
	int n = 0;
	struct wd_desc *s;
	while (n < 200 && (s = wdq_sqe(&Q))) { *s = d; s->user_data = n; Q.tail++; n++; }
	__atomic_store_n(Q.sq_tail, Q.tail, __ATOMIC_RELEASE);
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	ioctl(Q.fd, Q.use_sync ? WD_IOCTL_SUBMIT_SYNC : WD_IOCTL_DOORBELL);
	int got = 0, inorder = 1;
	for (int i = 0; i < n; i++) {
		if (wdq_reap(&Q, &c, 20000)) break;
		if (c.user_data != (uint64_t)i) inorder = 0;
		got++;
	}
	CHECK(got == n && inorder, "batch got %d/%d", got, n);
}

int main(void)
{
	static const struct { const char *name, *dev; uint32_t flags; int sync; } modes[] = {
		{ "soft0-sva", "/dev/warpdrive/soft0", WD_BIND_SVA, 0 },
		{ "soft0-buffers", "/dev/warpdrive/soft0", WD_BIND_BUFFERS, 0 },
		{ "soft1-validated", "/dev/warpdrive/soft1", WD_BIND_BUFFERS, 0 },
		{ "soft0-sva-sync", "/dev/warpdrive/soft0", WD_BIND_SVA, 1 },
	};
	for (unsigned i = 0; i < 4; i++) {
		wdt_ctx = modes[i].name;
		int r = wdq_open(&Q, modes[i].dev, modes[i].flags, 64);
		CHECK(r == 0, "open %s: %d", modes[i].dev, r);
		if (r) continue;
		Q.use_sync = modes[i].sync;
		CHECK(!!(Q.b.features & WD_FEAT_SVA) == (modes[i].flags == WD_BIND_SVA), "features %x", Q.b.features);
		CHECK(!!(Q.b.features & WD_FEAT_VALIDATED) == (i == 2), "validated feature %x", Q.b.features);
		r = wmem_init(&M, &Q, modes[i].flags == WD_BIND_SVA, 4 << 20);
		CHECK(r == 0, "wmem_init %d", r);
		if (r) { wdq_close(&Q); continue; }
		double t0 = now_s();
		int f0 = wdt_fail;
		test_nop();
		test_hash();
		test_hash_stream();
		test_zlib();
		test_zlib_stream();
		test_ciphers();
		test_chacha();
		printf("ops: mode %-16s %s in %.1fs (doorbells %lu, submit_sync %lu)\n", modes[i].name,
		       wdt_fail == f0 ? "ok" : "FAILURES", now_s() - t0, Q.doorbells, Q.syncs);
		wmem_reset(&M);
		wdq_close(&Q);
	}
	return wdt_finish();
}
