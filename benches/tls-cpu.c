/* TLS in one process over a BIO pair: the CPU time (process-wide, every thread) to move
 * N MiB from client to server, handshake excluded. CPU time rather than wall time, so a
 * loaded machine disturbs it less. Usage: tls-cpu CERT KEY 1.2|1.3 SUITE MIB */
#include <openssl/ssl.h>
#include <openssl/err.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int main(int argc, char **argv) {
    if (argc < 6) return 2;
    const char *ver = argv[3], *suite = argv[4];
    int mib = atoi(argv[5]);
    SSL_CTX *sc = SSL_CTX_new(TLS_server_method()), *cc = SSL_CTX_new(TLS_client_method());
    if (SSL_CTX_use_certificate_file(sc, argv[1], SSL_FILETYPE_PEM) != 1
        || SSL_CTX_use_PrivateKey_file(sc, argv[2], SSL_FILETYPE_PEM) != 1) {
        ERR_print_errors_fp(stderr);
        return 1;
    }
    int v = strcmp(ver, "1.3") == 0 ? TLS1_3_VERSION : TLS1_2_VERSION;
    SSL_CTX_set_min_proto_version(sc, v);
    SSL_CTX_set_max_proto_version(sc, v);
    SSL_CTX_set_min_proto_version(cc, v);
    SSL_CTX_set_max_proto_version(cc, v);
    if (v == TLS1_2_VERSION) {
        SSL_CTX_set_cipher_list(sc, suite);
        SSL_CTX_set_cipher_list(cc, suite);
    } else {
        SSL_CTX_set_ciphersuites(sc, suite);
        SSL_CTX_set_ciphersuites(cc, suite);
    }
    SSL *s = SSL_new(sc), *c = SSL_new(cc);
    BIO *bs, *bc;
    BIO_new_bio_pair(&bs, 1 << 20, &bc, 1 << 20);
    SSL_set_bio(s, bs, bs);
    SSL_set_bio(c, bc, bc);
    SSL_set_accept_state(s);
    SSL_set_connect_state(c);
    for (int i = 0; i < 100 && (!SSL_is_init_finished(s) || !SSL_is_init_finished(c)); i++) {
        SSL_do_handshake(c);
        SSL_do_handshake(s);
    }
    if (!SSL_is_init_finished(c) || !SSL_is_init_finished(s)) {
        ERR_print_errors_fp(stderr);
        return 1;
    }
    static unsigned char buf[16384], rb[16384];
    memset(buf, 'x', sizeof(buf));
    long long total = (long long)mib << 20, sent = 0, got = 0;
    clock_t t0 = clock();
    while (got < total) {
        if (sent < total) {
            int n = SSL_write(c, buf, sizeof(buf));
            if (n > 0) sent += n;
        }
        int n;
        while ((n = SSL_read(s, rb, sizeof(rb))) > 0) got += n;
        if (SSL_get_error(s, n) != SSL_ERROR_WANT_READ) {
            ERR_print_errors_fp(stderr);
            return 1;
        }
    }
    double cpu = (double)(clock() - t0) / CLOCKS_PER_SEC;
    printf("%.1f\n", mib / cpu);
    return 0;
}
