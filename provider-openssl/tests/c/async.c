/* OpenSSL async jobs through the provider: JOBS jobs on one thread, each sealing TLS 1.2
 * GCM records in place with EVP_Cipher (the libssl record path) and encrypting CTR
 * updates, all with our provider; the main loop waits on the jobs' wait fds (exactly one
 * per job, as `openssl speed` requires) and resumes them. Every output is checked with
 * the default provider. Prints the provider's `warpdrive-stats` JSON on the last line.
 * Usage: async MODULE_PATH. Exit 0 when everything matched. */
#include <openssl/async.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <openssl/provider.h>
#include <openssl/rand.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define JOBS 8
#define RECORDS 6
#define PLEN 5000
#define CTRLEN (64 * 1024)

struct work {
    int id;
    unsigned char key[32], fixed[4];
    unsigned char rec[RECORDS][8 + PLEN + 16];
    unsigned char pt[RECORDS][PLEN];
    unsigned char aad[RECORDS][13];
    unsigned char ctr_in[CTRLEN], ctr_out[CTRLEN];
    int ok;
};

static EVP_CIPHER *gcm_ours, *ctr_ours;

static int job_fn(void *arg)
{
    struct work *w = *(struct work **)arg;
    EVP_CIPHER_CTX *x = EVP_CIPHER_CTX_new();
    int ok = x && EVP_CipherInit_ex2(x, gcm_ours, w->key, NULL, 1, NULL)
             && EVP_CIPHER_CTX_ctrl(x, EVP_CTRL_GCM_SET_IV_FIXED, 4, w->fixed) > 0;
    for (int r = 0; ok && r < RECORDS; r++) {
        unsigned char aad[13];
        memcpy(aad, w->aad[r], 11);
        aad[11] = (8 + PLEN) >> 8; /* libssl passes the length with the explicit IV */
        aad[12] = (8 + PLEN) & 0xff;
        memcpy(w->rec[r] + 8, w->pt[r], PLEN);
        ok = EVP_CIPHER_CTX_ctrl(x, EVP_CTRL_AEAD_TLS1_AAD, 13, aad) == 16
             && EVP_Cipher(x, w->rec[r], w->rec[r], 8 + PLEN + 16) > 0;
    }
    EVP_CIPHER_CTX_free(x);
    x = EVP_CIPHER_CTX_new();
    unsigned char iv[16] = { (unsigned char)w->id };
    int l = 0, off = 0;
    ok = ok && x && EVP_CipherInit_ex2(x, ctr_ours, w->key, iv, 1, NULL);
    for (int i = 0; ok && i < 4; i++) {
        ok = EVP_EncryptUpdate(x, w->ctr_out + off, &l, w->ctr_in + off, CTRLEN / 4);
        off += l;
    }
    ok = ok && EVP_EncryptFinal_ex(x, w->ctr_out + off, &l);
    EVP_CIPHER_CTX_free(x);
    w->ok = ok;
    return ok;
}

static int check(struct work *w)
{
    EVP_CIPHER *gcm = EVP_CIPHER_fetch(NULL, "AES-256-GCM", "provider=default");
    EVP_CIPHER *ctr = EVP_CIPHER_fetch(NULL, "AES-256-CTR", "provider=default");
    int ok = w->ok && gcm && ctr;
    for (int r = 0; ok && r < RECORDS; r++) {
        unsigned char iv[12], aad[13], out[PLEN];
        int l = 0, l2 = 0;
        memcpy(iv, w->fixed, 4);
        memcpy(iv + 4, w->rec[r], 8);
        memcpy(aad, w->aad[r], 11);
        aad[11] = PLEN >> 8;
        aad[12] = PLEN & 0xff;
        EVP_CIPHER_CTX *x = EVP_CIPHER_CTX_new();
        ok = EVP_DecryptInit_ex2(x, gcm, w->key, iv, NULL)
             && EVP_DecryptUpdate(x, NULL, &l, aad, 13)
             && EVP_DecryptUpdate(x, out, &l, w->rec[r] + 8, PLEN)
             && EVP_CIPHER_CTX_ctrl(x, EVP_CTRL_GCM_SET_TAG, 16, w->rec[r] + 8 + PLEN)
             && EVP_DecryptFinal_ex(x, out + l, &l2) && memcmp(out, w->pt[r], PLEN) == 0;
        EVP_CIPHER_CTX_free(x);
    }
    unsigned char iv[16] = { (unsigned char)w->id }, *out = malloc(CTRLEN);
    int l = 0;
    EVP_CIPHER_CTX *x = EVP_CIPHER_CTX_new();
    ok = ok && out && EVP_EncryptInit_ex2(x, ctr, w->key, iv, NULL)
         && EVP_EncryptUpdate(x, out, &l, w->ctr_in, CTRLEN)
         && memcmp(out, w->ctr_out, CTRLEN) == 0;
    EVP_CIPHER_CTX_free(x);
    free(out);
    EVP_CIPHER_free(gcm);
    EVP_CIPHER_free(ctr);
    return ok;
}

int main(int argc, char **argv)
{
    if (argc != 2)
        return 2;
    OSSL_PROVIDER *ours = OSSL_PROVIDER_load(NULL, argv[1]);
    OSSL_PROVIDER *dflt = OSSL_PROVIDER_load(NULL, "default");
    gcm_ours = EVP_CIPHER_fetch(NULL, "AES-256-GCM", "provider=warpdrive");
    ctr_ours = EVP_CIPHER_fetch(NULL, "AES-256-CTR", "provider=warpdrive");
    if (!ours || !dflt || !gcm_ours || !ctr_ours) {
        ERR_print_errors_fp(stdout);
        return 1;
    }
    /* Instantiate the DRBGs outside any job, as a real application has done long
     * before (tlsivfixed draws the rest of the IV with RAND_bytes). */
    unsigned char seed[16];
    if (RAND_bytes(seed, sizeof seed) != 1)
        return 1;
    static struct work w[JOBS];
    ASYNC_JOB *job[JOBS] = { 0 };
    ASYNC_WAIT_CTX *wctx[JOBS];
    int running = 0, ok = 1, ret;
    srand(7);
    for (int i = 0; i < JOBS; i++) {
        w[i].id = i;
        for (size_t k = 0; k < sizeof w[i].key; k++) w[i].key[k] = rand();
        for (int k = 0; k < 4; k++) w[i].fixed[k] = rand();
        for (int r = 0; r < RECORDS; r++) {
            for (int k = 0; k < PLEN; k++) w[i].pt[r][k] = rand();
            for (int k = 0; k < 13; k++) w[i].aad[r][k] = rand();
        }
        for (int k = 0; k < CTRLEN; k++) w[i].ctr_in[k] = rand();
        wctx[i] = ASYNC_WAIT_CTX_new();
    }
    for (int i = 0; i < JOBS; i++) {
        struct work *p = &w[i];
        switch (ASYNC_start_job(&job[i], wctx[i], &ret, job_fn, &p, sizeof p)) {
        case ASYNC_PAUSE: running++; break;
        case ASYNC_FINISH: job[i] = NULL; break;
        default: printf("ASYNC_start_job failed\n"); return 1;
        }
    }
    while (running > 0) {
        struct pollfd pf[JOBS];
        int idx[JOBS], n = 0;
        for (int i = 0; i < JOBS; i++) {
            size_t nfds = 0;
            OSSL_ASYNC_FD fd;
            if (job[i] == NULL)
                continue;
            if (!ASYNC_WAIT_CTX_get_all_fds(wctx[i], NULL, &nfds) || nfds != 1) {
                printf("job %d has %zu wait fds (want exactly 1)\n", i, nfds);
                return 1;
            }
            ASYNC_WAIT_CTX_get_all_fds(wctx[i], &fd, &nfds);
            pf[n].fd = fd;
            pf[n].events = POLLIN;
            idx[n++] = i;
        }
        if (poll(pf, n, 10000) <= 0) {
            printf("no wait fd became ready in 10 s\n");
            return 1;
        }
        for (int k = 0; k < n; k++) {
            int i = idx[k];
            struct work *p = &w[i];
            if (!(pf[k].revents & POLLIN))
                continue;
            switch (ASYNC_start_job(&job[i], wctx[i], &ret, job_fn, &p, sizeof p)) {
            case ASYNC_PAUSE: break;
            case ASYNC_FINISH: job[i] = NULL; running--; break;
            default: printf("resume failed\n"); return 1;
            }
        }
    }
    for (int i = 0; i < JOBS; i++) {
        if (!check(&w[i])) {
            printf("job %d: output does not match the default provider\n", i);
            ERR_print_errors_fp(stdout);
            ok = 0;
        }
        ASYNC_WAIT_CTX_free(wctx[i]);
    }
    static char stats[8192];
    OSSL_PARAM req[] = { OSSL_PARAM_utf8_string("warpdrive-stats", stats, sizeof stats),
                         OSSL_PARAM_END };
    if (!OSSL_PROVIDER_get_params(ours, req))
        ok = 0;
    printf("%s\n%s\n", ok ? "all jobs ok" : "FAILED", stats[0] ? stats : "{}");
    EVP_CIPHER_free(gcm_ours);
    EVP_CIPHER_free(ctr_ours);
    OSSL_PROVIDER_unload(ours);
    OSSL_PROVIDER_unload(dflt);
    return ok ? 0 : 1;
}
