/* Lifecycle: load the provider (OSSL_PROVIDER_load by module path), encrypt, fork two
 * children that each encrypt with it and verify with the default provider, then the
 * parent carries on. Usage: fork MODULE_PATH. Exit 0 when every process succeeded. */
#include <openssl/evp.h>
#include <openssl/provider.h>
#include <openssl/err.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static OSSL_PROVIDER *ours, *dflt;

static int run_cipher(const char *name, const char *props, int enc, const unsigned char *key,
                 const unsigned char *iv, const unsigned char *in, int n, unsigned char *out)
{
    EVP_CIPHER *c = EVP_CIPHER_fetch(NULL, name, props);
    EVP_CIPHER_CTX *x = EVP_CIPHER_CTX_new();
    int ok = c && x && EVP_CipherInit_ex2(x, c, key, iv, enc, NULL);
    int l1 = 0, l2 = 0, done = 0;
    /* Uneven updates: some below, some above a small inline threshold. */
    while (ok && done < n) {
        int step = n - done < 70001 ? n - done : 70001;
        ok = EVP_CipherUpdate(x, out + done, &l1, in + done, step);
        done += l1;
    }
    ok = ok && EVP_CipherFinal_ex(x, out + done, &l2);
    EVP_CIPHER_CTX_free(x);
    EVP_CIPHER_free(c);
    return ok;
}

static int round_trip(const char *who, unsigned seed, int n)
{
    unsigned char key[32], iv[16];
    unsigned char *pt = malloc(n), *ct = malloc(n), *back = malloc(n);
    unsigned char d1[32], d2[32];
    unsigned int l1 = 0, l2 = 0;
    EVP_MD *m1 = EVP_MD_fetch(NULL, "SHA256", "provider=warpdrive");
    EVP_MD *m2 = EVP_MD_fetch(NULL, "SHA256", "provider=default");
    int ok = pt && ct && back && m1 && m2;
    srand(seed);
    for (int i = 0; i < 32; i++) key[i] = rand();
    for (int i = 0; i < 16; i++) iv[i] = rand();
    for (int i = 0; ok && i < n; i++) pt[i] = rand();
    ok = ok && run_cipher("AES-256-CTR", "provider=warpdrive", 1, key, iv, pt, n, ct)
         && run_cipher("AES-256-CTR", "provider=default", 0, key, iv, ct, n, back)
         && memcmp(pt, back, n) == 0;
    ok = ok && EVP_Digest(pt, n, d1, &l1, m1, NULL) && EVP_Digest(pt, n, d2, &l2, m2, NULL)
         && l1 == 32 && memcmp(d1, d2, 32) == 0;
    printf("%s pid %d: %d bytes %s\n", who, (int)getpid(), n, ok ? "ok" : "FAILED");
    if (!ok)
        ERR_print_errors_fp(stdout);
    fflush(stdout);
    free(pt); free(ct); free(back);
    EVP_MD_free(m1); EVP_MD_free(m2);
    return ok;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s MODULE_PATH\n", argv[0]);
        return 2;
    }
    ours = OSSL_PROVIDER_load(NULL, argv[1]);
    dflt = OSSL_PROVIDER_load(NULL, "default");
    if (ours == NULL || dflt == NULL) {
        ERR_print_errors_fp(stdout);
        return 1;
    }
    int ok = round_trip("parent", 1, 300000);
    pid_t kids[2];
    for (int k = 0; k < 2; k++) {
        fflush(stdout);
        kids[k] = fork();
        if (kids[k] < 0)
            return 1;
        if (kids[k] == 0) {
            int c = round_trip("child", 10 + k, 200000 + k * 77777)
                    && round_trip("child", 20 + k, 17);
            OSSL_PROVIDER_unload(ours);
            OSSL_PROVIDER_unload(dflt);
            exit(c ? 0 : 1);
        }
    }
    ok = round_trip("parent", 2, 250001) && ok;
    for (int k = 0; k < 2; k++) {
        int st = 0;
        if (waitpid(kids[k], &st, 0) != kids[k] || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
            printf("child %d failed (status %d)\n", (int)kids[k], st);
            ok = 0;
        }
    }
    ok = round_trip("parent", 3, 123457) && ok;
    OSSL_PROVIDER_unload(ours);
    OSSL_PROVIDER_unload(dflt);
    return ok ? 0 : 1;
}
