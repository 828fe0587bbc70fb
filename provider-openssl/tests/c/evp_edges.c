/* Differential EVP edges: every scenario runs once on our cipher and once on the default
 * provider's, recording each call's return value and every output byte into a
 * transcript; the two transcripts must be identical. Covers GCM IVs of 65..128 bytes,
 * 1..3-byte tags on decryption, encryption with a key and no IV (random IV, checked by
 * decrypting on the other provider), SET_IVLEN after the IV (must refuse), IV_GEN with
 * 0, TLS records through EVP_Cipher (empty ones included), CTR `num`, CBC with TLS
 * record parameters, CBC/CTR keyed without an IV, the parameter lists, padding and key
 * length parameters; HMAC's digest and key order. Usage: evp_edges MODULE_DIR.
 * Exit 0 when every check held. */
#include <openssl/evp.h>
#include <openssl/provider.h>
#include <openssl/core_names.h>
#include <openssl/params.h>
#include <openssl/err.h>
#include <openssl/prov_ssl.h>
#include <string.h>
#include <stdio.h>

static int fails = 0;

struct tr {
    unsigned char b[8192];
    size_t n;
};

static void put(struct tr *t, const void *p, size_t n) {
    if (t->n + n > sizeof(t->b)) {
        n = sizeof(t->b) - t->n;
    }
    memcpy(t->b + t->n, p, n);
    t->n += n;
}

static void rc(struct tr *t, int v) {
    put(t, &v, sizeof(v));
    ERR_clear_error();
}

static unsigned char key[32], iv[128], aad[40], pt[300];

static void fill(void) {
    for (int i = 0; i < 32; i++) key[i] = (unsigned char)(3 * i + 1);
    for (int i = 0; i < 128; i++) iv[i] = (unsigned char)(5 * i + 7);
    for (int i = 0; i < 40; i++) aad[i] = (unsigned char)(11 * i);
    for (int i = 0; i < 300; i++) pt[i] = (unsigned char)(i * 13 + 2);
}

/* GCM with an IV of `ivlen` bytes: encrypt (ct, tag), then decrypt it back. */
static void gcm_ivlen(const EVP_CIPHER *c, struct tr *t, int ivlen) {
    EVP_CIPHER_CTX *x = EVP_CIPHER_CTX_new();
    unsigned char out[320], tag[16], back[320];
    int l = 0, l2 = 0;
    rc(t, EVP_EncryptInit_ex(x, c, NULL, NULL, NULL));
    rc(t, EVP_CIPHER_CTX_ctrl(x, EVP_CTRL_AEAD_SET_IVLEN, ivlen, NULL));
    rc(t, EVP_CIPHER_CTX_get_iv_length(x));
    rc(t, EVP_EncryptInit_ex(x, NULL, NULL, key, iv));
    rc(t, EVP_EncryptUpdate(x, NULL, &l, aad, 20));
    rc(t, EVP_EncryptUpdate(x, out, &l, pt, 77));
    rc(t, l);
    rc(t, EVP_EncryptFinal_ex(x, out + l, &l2));
    rc(t, EVP_CIPHER_CTX_ctrl(x, EVP_CTRL_AEAD_GET_TAG, 16, tag));
    put(t, out, 77);
    put(t, tag, 16);
    rc(t, EVP_DecryptInit_ex(x, c, NULL, NULL, NULL));
    rc(t, EVP_CIPHER_CTX_ctrl(x, EVP_CTRL_AEAD_SET_IVLEN, ivlen, NULL));
    rc(t, EVP_DecryptInit_ex(x, NULL, NULL, key, iv));
    rc(t, EVP_DecryptUpdate(x, NULL, &l, aad, 20));
    rc(t, EVP_DecryptUpdate(x, back, &l, out, 77));
    rc(t, EVP_CIPHER_CTX_ctrl(x, EVP_CTRL_AEAD_SET_TAG, 16, tag));
    rc(t, EVP_DecryptFinal_ex(x, back + l, &l2));
    put(t, back, 77);
    EVP_CIPHER_CTX_free(x);
}

/* A reference ciphertext and full tag from the default provider, then a decrypt on `c`
 * with only the first `taglen` bytes of the tag (right, then wrong). */
static void gcm_short_tag(const EVP_CIPHER *c, const EVP_CIPHER *ref, struct tr *t, int taglen) {
    EVP_CIPHER_CTX *x = EVP_CIPHER_CTX_new();
    unsigned char ct[64], tag[16], back[64];
    int l = 0, l2 = 0;
    EVP_EncryptInit_ex(x, ref, NULL, key, iv);
    EVP_EncryptUpdate(x, NULL, &l, aad, 13);
    EVP_EncryptUpdate(x, ct, &l, pt, 50);
    EVP_EncryptFinal_ex(x, ct + l, &l2);
    EVP_CIPHER_CTX_ctrl(x, EVP_CTRL_AEAD_GET_TAG, 16, tag);
    for (int wrong = 0; wrong < 2; wrong++) {
        unsigned char tg[16];
        memcpy(tg, tag, 16);
        tg[0] ^= (unsigned char)wrong;
        memset(back, 0, sizeof(back));
        rc(t, EVP_DecryptInit_ex(x, c, NULL, key, iv));
        rc(t, EVP_CIPHER_CTX_ctrl(x, EVP_CTRL_AEAD_SET_TAG, taglen, tg));
        rc(t, EVP_DecryptUpdate(x, NULL, &l, aad, 13));
        rc(t, EVP_DecryptUpdate(x, back, &l, ct, 50));
        rc(t, EVP_DecryptFinal_ex(x, back + l, &l2));
        put(t, back, 50);
    }
    EVP_CIPHER_CTX_free(x);
}

/* Encryption with a key and no IV: the implementation makes one. The transcript gets
 * the return values; the ciphertext is checked by decrypting on the other provider. */
static void gcm_no_iv(const EVP_CIPHER *c, const EVP_CIPHER *other, struct tr *t) {
    EVP_CIPHER_CTX *x = EVP_CIPHER_CTX_new();
    unsigned char ct[64], tag[16], back[64], giv[12];
    int l = 0, l2 = 0;
    rc(t, EVP_EncryptInit_ex(x, c, NULL, key, NULL));
    rc(t, EVP_EncryptUpdate(x, NULL, &l, aad, 13));
    rc(t, EVP_EncryptUpdate(x, ct, &l, pt, 40));
    rc(t, EVP_EncryptFinal_ex(x, ct + l, &l2));
    rc(t, EVP_CIPHER_CTX_ctrl(x, EVP_CTRL_AEAD_GET_TAG, 16, tag));
    rc(t, EVP_CIPHER_CTX_get_original_iv(x, giv, 12));
    rc(t, EVP_DecryptInit_ex(x, other, NULL, key, giv));
    rc(t, EVP_DecryptUpdate(x, NULL, &l, aad, 13));
    rc(t, EVP_DecryptUpdate(x, back, &l, ct, 40));
    rc(t, EVP_CIPHER_CTX_ctrl(x, EVP_CTRL_AEAD_SET_TAG, 16, tag));
    rc(t, EVP_DecryptFinal_ex(x, back + l, &l2));
    rc(t, memcmp(back, pt, 40) == 0);
    /* Decryption with no IV has nothing to make one from. */
    rc(t, EVP_DecryptInit_ex(x, c, NULL, key, NULL));
    rc(t, EVP_DecryptUpdate(x, back, &l, ct, 40));
    EVP_CIPHER_CTX_free(x);
}

/* Key and a 12-byte IV, then SET_IVLEN(16): the IV set is for another length. */
static void gcm_ivlen_after_iv(const EVP_CIPHER *c, struct tr *t) {
    EVP_CIPHER_CTX *x = EVP_CIPHER_CTX_new();
    unsigned char out[64];
    int l = 0, l2 = 0;
    memset(out, 0, sizeof(out));
    rc(t, EVP_EncryptInit_ex(x, c, NULL, key, iv));
    rc(t, EVP_CIPHER_CTX_ctrl(x, EVP_CTRL_AEAD_SET_IVLEN, 16, NULL));
    rc(t, EVP_EncryptUpdate(x, out, &l, pt, 32));
    rc(t, EVP_EncryptFinal_ex(x, out + 32, &l2));
    put(t, out, 32);
    /* A new IV of the new length makes it usable again. */
    rc(t, EVP_EncryptInit_ex(x, NULL, NULL, NULL, iv + 1));
    rc(t, EVP_EncryptUpdate(x, out, &l, pt, 32));
    rc(t, EVP_EncryptFinal_ex(x, out + 32, &l2));
    put(t, out, 32);
    /* The same during a message. */
    rc(t, EVP_EncryptInit_ex(x, NULL, NULL, NULL, iv + 2));
    rc(t, EVP_EncryptUpdate(x, out, &l, pt, 16));
    rc(t, EVP_CIPHER_CTX_ctrl(x, EVP_CTRL_AEAD_SET_IVLEN, 12, NULL));
    rc(t, EVP_EncryptUpdate(x, out + 16, &l, pt, 16));
    put(t, out, 16);
    EVP_CIPHER_CTX_free(x);
}

/* TLS 1.2 GCM IV handling: the whole IV as the fixed part, then IV_GEN with 0 and 4. */
static void gcm_iv_gen(const EVP_CIPHER *c, struct tr *t) {
    EVP_CIPHER_CTX *x = EVP_CIPHER_CTX_new();
    unsigned char g[12];
    rc(t, EVP_EncryptInit_ex(x, c, NULL, key, NULL));
    rc(t, EVP_CIPHER_CTX_ctrl(x, EVP_CTRL_GCM_SET_IV_FIXED, -1, iv));
    memset(g, 0, sizeof(g));
    rc(t, EVP_CIPHER_CTX_ctrl(x, EVP_CTRL_GCM_IV_GEN, 0, g));
    put(t, g, 12);
    memset(g, 0, sizeof(g));
    rc(t, EVP_CIPHER_CTX_ctrl(x, EVP_CTRL_GCM_IV_GEN, 4, g));
    put(t, g, 12);
    memset(g, 0, sizeof(g));
    rc(t, EVP_CIPHER_CTX_ctrl(x, EVP_CTRL_GCM_IV_GEN, 12, g));
    put(t, g, 12);
    EVP_CIPHER_CTX_free(x);
}

/* TLS 1.2 GCM records through EVP_Cipher: encrypt on the default provider, decrypt on
 * `c` (and the reverse), payloads of 0, 1 and 100 bytes. EVP_Cipher answers the whole
 * record length both ways. */
static void gcm_tls(const EVP_CIPHER *c, const EVP_CIPHER *ref, struct tr *t) {
    static const int lens[] = {0, 1, 100};
    for (int dir = 0; dir < 2; dir++) {
        const EVP_CIPHER *ec = dir ? c : ref, *dc = dir ? ref : c;
        EVP_CIPHER_CTX *e = EVP_CIPHER_CTX_new(), *d = EVP_CIPHER_CTX_new();
        rc(t, EVP_EncryptInit_ex(e, ec, NULL, key, NULL));
        rc(t, EVP_DecryptInit_ex(d, dc, NULL, key, NULL));
        rc(t, EVP_CIPHER_CTX_ctrl(e, EVP_CTRL_GCM_SET_IV_FIXED, 4, iv));
        rc(t, EVP_CIPHER_CTX_ctrl(d, EVP_CTRL_GCM_SET_IV_FIXED, 4, iv));
        for (int i = 0; i < 3; i++) {
            unsigned char rec[8 + 100 + 16], a[13];
            int plen = lens[i], total = 8 + plen + 16;
            /* The AAD's length field: explicit IV and payload on encryption, the
             * whole record on decryption. */
            memcpy(a, aad, 13);
            a[11] = 0;
            a[12] = (unsigned char)(8 + plen);
            memset(rec, 0, sizeof(rec));
            memcpy(rec + 8, pt, plen);
            rc(t, EVP_CIPHER_CTX_ctrl(e, EVP_CTRL_AEAD_TLS1_AAD, 13, a));
            rc(t, EVP_Cipher(e, rec, rec, total));
            a[12] = (unsigned char)total;
            rc(t, EVP_CIPHER_CTX_ctrl(d, EVP_CTRL_AEAD_TLS1_AAD, 13, a));
            rc(t, EVP_Cipher(d, rec, rec, total));
            rc(t, memcmp(rec + 8, pt, plen) == 0);
        }
        EVP_CIPHER_CTX_free(e);
        EVP_CIPHER_CTX_free(d);
    }
}

/* CTR `num`: set on a fresh context, and mid-stream to where it is and elsewhere. */
static void ctr_num(const EVP_CIPHER *c, struct tr *t) {
    EVP_CIPHER_CTX *x = EVP_CIPHER_CTX_new();
    unsigned char out[100];
    int l = 0;
    rc(t, EVP_EncryptInit_ex(x, c, NULL, key, iv));
    rc(t, EVP_CIPHER_CTX_set_num(x, 0));
    rc(t, EVP_EncryptUpdate(x, out, &l, pt, 7));
    rc(t, EVP_CIPHER_CTX_get_num(x));
    rc(t, EVP_CIPHER_CTX_set_num(x, 7));
    rc(t, EVP_EncryptUpdate(x, out + 7, &l, pt + 7, 30));
    rc(t, EVP_CIPHER_CTX_get_num(x));
    put(t, out, 37);
    rc(t, EVP_EncryptInit_ex(x, c, NULL, key, iv));
    rc(t, EVP_EncryptUpdate(x, out, &l, pt, 21));
    rc(t, EVP_CIPHER_CTX_set_num(x, 3));
    rc(t, EVP_EncryptUpdate(x, out + 21, &l, pt + 21, 40));
    rc(t, EVP_CIPHER_CTX_get_num(x));
    put(t, out, 61);
    EVP_CIPHER_CTX_free(x);
}

/* CBC with the TLS record parameters libssl sets (TLS 1.2, HMAC-SHA1), then a record
 * both ways: encrypt adds padding, decrypt strips padding and reports the MAC. */
static void cbc_tls(const EVP_CIPHER *c, const EVP_CIPHER *ref, struct tr *t) {
    for (int dir = 0; dir < 2; dir++) {
        const EVP_CIPHER *ec = dir ? c : ref, *dc = dir ? ref : c;
        EVP_CIPHER_CTX *e = EVP_CIPHER_CTX_new(), *d = EVP_CIPHER_CTX_new();
        unsigned int ver = TLS1_2_VERSION;
        size_t macsz = 20;
        OSSL_PARAM p[3];
        p[0] = OSSL_PARAM_construct_uint(OSSL_CIPHER_PARAM_TLS_VERSION, &ver);
        p[1] = OSSL_PARAM_construct_size_t(OSSL_CIPHER_PARAM_TLS_MAC_SIZE, &macsz);
        p[2] = OSSL_PARAM_construct_end();
        rc(t, EVP_CipherInit_ex(e, ec, NULL, key, iv, 1));
        rc(t, EVP_CIPHER_CTX_set_params(e, p));
        rc(t, EVP_CipherInit_ex(d, dc, NULL, key, iv, 0));
        rc(t, EVP_CIPHER_CTX_set_params(d, p));
        for (int n = 0; n < 3; n++) {
            /* explicit IV (16) | data | MAC (20), then room for padding */
            unsigned char rec[16 + 100 + 20 + 16];
            int data = n * 37, len = 16 + data + 20, outl = 0;
            unsigned char *mac = NULL;
            memcpy(rec, iv + 16 + n, 16);
            memcpy(rec + 16, pt, data);
            memset(rec + 16 + data, 0xab, 20);
            rc(t, EVP_CipherUpdate(e, rec, &outl, rec, len));
            rc(t, outl);
            put(t, rec, outl);
            int enclen = outl;
            rc(t, EVP_CipherUpdate(d, rec, &outl, rec, enclen));
            rc(t, outl);
            put(t, rec, outl > 0 ? outl : 0);
            OSSL_PARAM g[2];
            g[0] = OSSL_PARAM_construct_octet_ptr(OSSL_CIPHER_PARAM_TLS_MAC, (void **)&mac, macsz);
            g[1] = OSSL_PARAM_construct_end();
            rc(t, EVP_CIPHER_CTX_get_params(d, g));
            if (mac != NULL) put(t, mac, macsz);
        }
        EVP_CIPHER_CTX_free(e);
        EVP_CIPHER_CTX_free(d);
    }
}

/* CBC/CTR keyed without an IV ever given (KRB5KDF does this): the default provider runs
 * on its zeroed IV; a re-init without an IV carries on (CBC from the chaining value).
 * Then the IV the context reports. */
static void no_iv(const EVP_CIPHER *c, struct tr *t) {
    EVP_CIPHER_CTX *x = EVP_CIPHER_CTX_new();
    unsigned char out[128], upd[16];
    int l = 0, l2 = 0;
    rc(t, EVP_EncryptInit_ex(x, c, NULL, key, NULL));
    rc(t, EVP_CIPHER_CTX_set_padding(x, 0));
    rc(t, EVP_EncryptUpdate(x, out, &l, pt, 48));
    rc(t, l);
    rc(t, EVP_EncryptFinal_ex(x, out + l, &l2));
    put(t, out, 48);
    rc(t, EVP_EncryptInit_ex(x, NULL, NULL, NULL, NULL));
    rc(t, EVP_EncryptUpdate(x, out, &l, pt, 32));
    put(t, out, 32);
    rc(t, EVP_CIPHER_CTX_get_updated_iv(x, upd, 16));
    put(t, upd, 16);
    /* A fresh context keyed in two steps, decrypting. */
    rc(t, EVP_DecryptInit_ex(x, c, NULL, NULL, NULL));
    rc(t, EVP_DecryptInit_ex(x, NULL, NULL, key, NULL));
    rc(t, EVP_CIPHER_CTX_set_padding(x, 0));
    rc(t, EVP_DecryptUpdate(x, out, &l, pt, 64));
    put(t, out, 64);
    EVP_CIPHER_CTX_free(x);
}

/* Parameters: what the context lists as settable/gettable (each name the default lists,
 * present or not), padding set and read back (CTR keeps it without effect), a key length
 * set through the parameters (the default ignores it and answers success). */
static void params(const EVP_CIPHER *c, const EVP_CIPHER *ref, struct tr *t) {
    EVP_CIPHER_CTX *x = EVP_CIPHER_CTX_new();
    const OSSL_PARAM *want, *have;
    rc(t, EVP_EncryptInit_ex(x, c, NULL, key, iv));
    want = EVP_CIPHER_settable_ctx_params(ref);
    have = EVP_CIPHER_settable_ctx_params(c);
    for (const OSSL_PARAM *p = want; p != NULL && p->key != NULL; p++)
        rc(t, OSSL_PARAM_locate_const(have, p->key) != NULL);
    want = EVP_CIPHER_gettable_ctx_params(ref);
    have = EVP_CIPHER_gettable_ctx_params(c);
    for (const OSSL_PARAM *p = want; p != NULL && p->key != NULL; p++)
        /* tls-mac is answered only by the default implementation that runs TLS CBC. */
        if (strcmp(p->key, OSSL_CIPHER_PARAM_TLS_MAC) != 0)
            rc(t, OSSL_PARAM_locate_const(have, p->key) != NULL);
    rc(t, EVP_CIPHER_CTX_set_padding(x, 0));
    unsigned int pad = 77;
    OSSL_PARAM g[] = {OSSL_PARAM_construct_uint(OSSL_CIPHER_PARAM_PADDING, &pad), OSSL_PARAM_END};
    rc(t, EVP_CIPHER_CTX_get_params(x, g));
    rc(t, (int)pad);
    rc(t, OSSL_PARAM_modified(g));
    size_t kl = 24;
    OSSL_PARAM k[] = {OSSL_PARAM_construct_size_t(OSSL_CIPHER_PARAM_KEYLEN, &kl), OSSL_PARAM_END};
    rc(t, EVP_CIPHER_CTX_set_params(x, k));
    rc(t, EVP_CIPHER_CTX_get_key_length(x));
    EVP_CIPHER_CTX_free(x);
}

/* HMAC: a key set through the parameters before any digest (refused), the digest
 * changed after keying (the MAC size and a key-less re-init keep the keyed digest; the
 * next key takes the new one), a digest the engines lack set after a final. */
static void hmac_edges(EVP_MAC *m, struct tr *t) {
    EVP_MAC_CTX *x = EVP_MAC_CTX_new(m);
    unsigned char out[64];
    size_t n = 0;
    OSSL_PARAM k[] = {OSSL_PARAM_construct_octet_string(OSSL_MAC_PARAM_KEY, key, 20), OSSL_PARAM_END};
    rc(t, EVP_MAC_CTX_set_params(x, k));
    OSSL_PARAM d256[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, "SHA256", 0), OSSL_PARAM_END};
    OSSL_PARAM d1[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, "SHA1", 0), OSSL_PARAM_END};
    OSSL_PARAM md5[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, "MD5", 0), OSSL_PARAM_END};
    rc(t, (int)EVP_MAC_CTX_get_mac_size(x));
    rc(t, EVP_MAC_CTX_set_params(x, d256));
    rc(t, (int)EVP_MAC_CTX_get_mac_size(x));
    rc(t, EVP_MAC_init(x, key, 20, NULL));
    rc(t, EVP_MAC_update(x, pt, 50));
    rc(t, EVP_MAC_final(x, out, &n, sizeof(out)));
    put(t, out, n);
    rc(t, EVP_MAC_CTX_set_params(x, d1));
    rc(t, (int)EVP_MAC_CTX_get_mac_size(x));
    rc(t, (int)EVP_MAC_CTX_get_block_size(x));
    rc(t, EVP_MAC_init(x, NULL, 0, NULL));
    rc(t, EVP_MAC_update(x, pt, 50));
    n = 0;
    rc(t, EVP_MAC_final(x, out, &n, sizeof(out)));
    rc(t, (int)n);
    put(t, out, n);
    rc(t, EVP_MAC_init(x, key, 20, NULL));
    rc(t, (int)EVP_MAC_CTX_get_mac_size(x));
    rc(t, EVP_MAC_update(x, pt, 50));
    n = 0;
    rc(t, EVP_MAC_final(x, out, &n, sizeof(out)));
    rc(t, (int)n);
    put(t, out, n);
    rc(t, EVP_MAC_CTX_set_params(x, md5));
    rc(t, EVP_MAC_init(x, key, 20, NULL));
    rc(t, EVP_MAC_update(x, pt, 50));
    n = 0;
    rc(t, EVP_MAC_final(x, out, &n, sizeof(out)));
    rc(t, (int)n);
    put(t, out, n);
    EVP_MAC_CTX_free(x);
}

static void compare(const char *what, struct tr *a, struct tr *b) {
    if (a->n != b->n || memcmp(a->b, b->b, a->n) != 0) {
        size_t i = 0;
        while (i < a->n && i < b->n && a->b[i] == b->b[i]) i++;
        printf("FAIL %s: transcripts differ at byte %zu (ours %zu bytes, default %zu)\n", what, i, a->n, b->n);
        fails++;
    } else {
        printf("ok %s (%zu bytes)\n", what, a->n);
    }
}

int main(int argc, char **argv) {
    OSSL_LIB_CTX *lc = OSSL_LIB_CTX_new();
    if (argc < 2) return 2;
    OSSL_PROVIDER_set_default_search_path(lc, argv[1]);
    if (OSSL_PROVIDER_load(lc, "default") == NULL || OSSL_PROVIDER_load(lc, "warpdrive") == NULL) {
        ERR_print_errors_fp(stdout);
        return 2;
    }
    fill();
    static const char *names[] = {"AES-128-GCM", "AES-256-GCM"};
    for (int n = 0; n < 2; n++) {
        EVP_CIPHER *ours = EVP_CIPHER_fetch(lc, names[n], "provider=warpdrive");
        EVP_CIPHER *ref = EVP_CIPHER_fetch(lc, names[n], "provider=default");
        if (!ours || !ref) return 2;
        char what[64];
        static const int ivlens[] = {1, 12, 64, 65, 100, 128, 129};
        for (int i = 0; i < 7; i++) {
            struct tr a = {{0}, 0}, b = {{0}, 0};
            gcm_ivlen(ours, &a, ivlens[i]);
            gcm_ivlen(ref, &b, ivlens[i]);
            snprintf(what, sizeof(what), "%s ivlen %d", names[n], ivlens[i]);
            compare(what, &a, &b);
        }
        for (int tl = 1; tl <= 4; tl++) {
            struct tr a = {{0}, 0}, b = {{0}, 0};
            gcm_short_tag(ours, ref, &a, tl);
            gcm_short_tag(ref, ref, &b, tl);
            snprintf(what, sizeof(what), "%s %d-byte tag", names[n], tl);
            compare(what, &a, &b);
        }
        {
            struct tr a = {{0}, 0}, b = {{0}, 0};
            gcm_no_iv(ours, ref, &a);
            gcm_no_iv(ref, ours, &b);
            snprintf(what, sizeof(what), "%s key without IV", names[n]);
            compare(what, &a, &b);
        }
        {
            struct tr a = {{0}, 0}, b = {{0}, 0};
            gcm_ivlen_after_iv(ours, &a);
            gcm_ivlen_after_iv(ref, &b);
            snprintf(what, sizeof(what), "%s SET_IVLEN after IV", names[n]);
            compare(what, &a, &b);
        }
        {
            struct tr a = {{0}, 0}, b = {{0}, 0};
            gcm_iv_gen(ours, &a);
            gcm_iv_gen(ref, &b);
            snprintf(what, sizeof(what), "%s IV_GEN", names[n]);
            compare(what, &a, &b);
        }
        {
            struct tr a = {{0}, 0}, b = {{0}, 0};
            gcm_tls(ours, ref, &a);
            gcm_tls(ref, ref, &b);
            snprintf(what, sizeof(what), "%s TLS records via EVP_Cipher", names[n]);
            compare(what, &a, &b);
        }
        {
            struct tr a = {{0}, 0}, b = {{0}, 0};
            params(ours, ref, &a);
            params(ref, ref, &b);
            snprintf(what, sizeof(what), "%s parameters", names[n]);
            compare(what, &a, &b);
        }
        EVP_CIPHER_free(ours);
        EVP_CIPHER_free(ref);
    }
    static const char *ctrs[] = {"AES-128-CTR", "AES-256-CTR"};
    static const char *cbcs[] = {"AES-128-CBC", "AES-256-CBC"};
    for (int n = 0; n < 2; n++) {
        EVP_CIPHER *ours = EVP_CIPHER_fetch(lc, ctrs[n], "provider=warpdrive");
        EVP_CIPHER *ref = EVP_CIPHER_fetch(lc, ctrs[n], "provider=default");
        struct tr a = {{0}, 0}, b = {{0}, 0};
        char what[64];
        if (!ours || !ref) return 2;
        ctr_num(ours, &a);
        ctr_num(ref, &b);
        snprintf(what, sizeof(what), "%s num", ctrs[n]);
        compare(what, &a, &b);
        struct tr e = {{0}, 0}, f = {{0}, 0};
        no_iv(ours, &e);
        no_iv(ref, &f);
        snprintf(what, sizeof(what), "%s key without IV", ctrs[n]);
        compare(what, &e, &f);
        struct tr e2 = {{0}, 0}, f2 = {{0}, 0};
        params(ours, ref, &e2);
        params(ref, ref, &f2);
        snprintf(what, sizeof(what), "%s parameters", ctrs[n]);
        compare(what, &e2, &f2);
        EVP_CIPHER_free(ours);
        EVP_CIPHER_free(ref);
        ours = EVP_CIPHER_fetch(lc, cbcs[n], "provider=warpdrive");
        ref = EVP_CIPHER_fetch(lc, cbcs[n], "provider=default");
        if (!ours || !ref) return 2;
        struct tr c = {{0}, 0}, d = {{0}, 0};
        cbc_tls(ours, ref, &c);
        cbc_tls(ref, ref, &d);
        snprintf(what, sizeof(what), "%s TLS record parameters", cbcs[n]);
        compare(what, &c, &d);
        struct tr g = {{0}, 0}, h = {{0}, 0};
        no_iv(ours, &g);
        no_iv(ref, &h);
        snprintf(what, sizeof(what), "%s key without IV", cbcs[n]);
        compare(what, &g, &h);
        struct tr g2 = {{0}, 0}, h2 = {{0}, 0};
        params(ours, ref, &g2);
        params(ref, ref, &h2);
        snprintf(what, sizeof(what), "%s parameters", cbcs[n]);
        compare(what, &g2, &h2);
        EVP_CIPHER_free(ours);
        EVP_CIPHER_free(ref);
    }
    {
        EVP_MAC *ours = EVP_MAC_fetch(lc, "HMAC", "provider=warpdrive");
        EVP_MAC *ref = EVP_MAC_fetch(lc, "HMAC", "provider=default");
        struct tr a = {{0}, 0}, b = {{0}, 0};
        if (!ours || !ref) return 2;
        hmac_edges(ours, &a);
        hmac_edges(ref, &b);
        compare("HMAC digest and key order", &a, &b);
        EVP_MAC_free(ours);
        EVP_MAC_free(ref);
    }
    printf("%s (%d failures)\n", fails ? "FAILED" : "OK", fails);
    return fails ? 1 : 0;
}
