/* SPDX-License-Identifier: MIT */
/*
 * Not a test: ops/s for SHA-256 and AES-256-GCM at 64 B, 1 KiB, 16 KiB through
 *   ring    the mapped ring with the polling engine, 32 requests in flight
 *   ring1   the mapped ring, one request at a time
 *   sync    WD_IOCTL_SUBMIT_SYNC, one ioctl per request
 *   af_alg  the kernel's AF_ALG sockets (2 syscalls per request)
 * Syscalls per request on the ring paths = doorbell ioctls / requests, counted
 * by the submit helper (the only syscall it makes besides poll() while
 * waiting, which is counted too). Guest timings are emulated (TCG): compare
 * the ratios, not the numbers.
 */
#include "wdt.h"
#include <linux/if_alg.h>
#include <sys/socket.h>

#ifndef SOL_ALG
#define SOL_ALG 279
#endif

static double BUDGET = 1.0;	/* seconds per cell */
static unsigned long polls;

static int wait_one(struct wdq *q, struct wd_cqe *c)
{
	int spins = 0;
	for (;;) {
		uint32_t tail = __atomic_load_n(q->cq_tail, __ATOMIC_ACQUIRE);
		if (tail != q->chead) {
			struct wd_cqe *s = &q->cqes[q->chead & (q->b.cq_entries - 1)];
			c->status = __atomic_load_n(&s->status, __ATOMIC_ACQUIRE);
			q->chead++;
			__atomic_store_n(q->cq_head, q->chead, __ATOMIC_RELEASE);
			return 0;
		}
		if (++spins > 20000) {
			struct pollfd p = { .fd = q->fd, .events = POLLIN };
			polls++;
			poll(&p, 1, 10);
			spins = 0;
		}
	}
}

struct req { struct wd_desc d; };

static void make_req(struct wd_desc *d, int gcm, size_t n, uint8_t *src, uint8_t *dst, uint8_t *aux)
{
	memset(d, 0, sizeof(*d));
	if (gcm) {
		d->opcode = WD_OP_ENCRYPT; d->alg = WD_ALG_AES_GCM;
		d->key_len = 32; d->iv_len = 12; d->tag_len = 16;
		d->aux_addr = (uintptr_t)aux;
	} else {
		d->opcode = WD_OP_HASH; d->alg = WD_ALG_SHA256;
	}
	d->src_addr = (uintptr_t)src; d->src_len = n;
	d->dst_addr = (uintptr_t)dst; d->dst_len = n + 64;
}

/* depth requests in flight; returns ops/s */
static double bench_ring(int gcm, size_t n, int depth, int sync, double *sys_per_req)
{
	struct wdq q;
	if (wdq_open(&q, "/dev/warpdrive/soft0", WD_BIND_SVA, 64)) return -1;
	q.use_sync = sync;
	uint8_t *src = calloc(1, n), *dst = calloc(1, n + 64), *aux = calloc(1, 128);
	struct wd_desc d;
	make_req(&d, gcm, n, src, dst, aux);
	unsigned long done = 0, sub = 0;
	polls = 0;
	double t0 = now_s(), end = t0 + BUDGET;
	struct wd_cqe c;
	/* warm up the engine's crypto handles */
	*wdq_sqe(&q) = d; wdq_publish(&q); wait_one(&q, &c);
	q.doorbells = q.syncs = 0; polls = 0;
	t0 = now_s(); end = t0 + BUDGET;
	while (now_s() < end) {
		int k = 0;
		while (sub - done < (unsigned long)depth && k < depth) {
			*wdq_sqe(&q) = d;
			wdq_publish(&q);
			sub++; k++;
		}
		wait_one(&q, &c);
		if (c.status) { fprintf(stderr, "bench: status %u\n", c.status); break; }
		done++;
	}
	while (done < sub) { wait_one(&q, &c); done++; }
	double t = now_s() - t0;
	*sys_per_req = (double)(q.doorbells + q.syncs + polls) / done;
	wdq_close(&q);
	free(src); free(dst); free(aux);
	return done / t;
}

static double bench_afalg(int gcm, size_t n, double *sys_per_req)
{
	struct sockaddr_alg sa = { .salg_family = AF_ALG };
	strcpy((char *)sa.salg_type, gcm ? "aead" : "hash");
	strcpy((char *)sa.salg_name, gcm ? "gcm(aes)" : "sha256");
	int tfm = socket(AF_ALG, SOCK_SEQPACKET, 0);
	if (tfm < 0 || bind(tfm, (struct sockaddr *)&sa, sizeof(sa))) return -1;
	uint8_t key[32] = { 1 };
	if (gcm) {
		setsockopt(tfm, SOL_ALG, ALG_SET_KEY, key, 32);
		setsockopt(tfm, SOL_ALG, ALG_SET_AEAD_AUTHSIZE, NULL, 16);
	}
	int op = accept(tfm, NULL, 0);
	if (op < 0) return -1;
	uint8_t *src = calloc(1, n + 16), *dst = calloc(1, n + 64);
	unsigned long done = 0;
	double t0 = now_s(), end = t0 + BUDGET;
	while (now_s() < end) {
		if (!gcm) {
			if (send(op, src, n, 0) != (ssize_t)n || read(op, dst, 32) != 32) return -1;
		} else {
			char cbuf[CMSG_SPACE(4) + CMSG_SPACE(sizeof(struct af_alg_iv) + 12) + CMSG_SPACE(4)] = { 0 };
			struct iovec iov = { src, n };
			struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf,
					      .msg_controllen = sizeof(cbuf) };
			struct cmsghdr *cm = CMSG_FIRSTHDR(&msg);
			cm->cmsg_level = SOL_ALG; cm->cmsg_type = ALG_SET_OP; cm->cmsg_len = CMSG_LEN(4);
			*(uint32_t *)CMSG_DATA(cm) = ALG_OP_ENCRYPT;
			cm = CMSG_NXTHDR(&msg, cm);
			cm->cmsg_level = SOL_ALG; cm->cmsg_type = ALG_SET_IV;
			cm->cmsg_len = CMSG_LEN(sizeof(struct af_alg_iv) + 12);
			struct af_alg_iv *iv = (void *)CMSG_DATA(cm);
			iv->ivlen = 12;
			memset(iv->iv, 0, 12);
			cm = CMSG_NXTHDR(&msg, cm);
			cm->cmsg_level = SOL_ALG; cm->cmsg_type = ALG_SET_AEAD_ASSOCLEN; cm->cmsg_len = CMSG_LEN(4);
			*(uint32_t *)CMSG_DATA(cm) = 0;
			if (sendmsg(op, &msg, 0) != (ssize_t)n) return -1;
			if (read(op, dst, n + 16) != (ssize_t)(n + 16)) return -1;
		}
		done++;
	}
	*sys_per_req = gcm ? 2.0 : 2.0;
	close(op); close(tfm);
	free(src); free(dst);
	return done / (now_s() - t0);
}

int main(int argc, char **argv)
{
	if (argc > 1) BUDGET = atof(argv[1]);
	static const size_t sizes[] = { 64, 1024, 16384 };
	printf("bench: ops/s in a TCG guest (ratios matter); sys/req = syscalls per request\n");
	printf("%-12s %6s | %12s %7s | %12s %7s | %12s %7s | %12s %7s | %10s %10s\n", "op", "size",
	       "ring(d=32)", "sys/req", "ring(d=1)", "sys/req", "submit_sync", "sys/req", "af_alg", "sys/req",
	       "ring/sync", "ring/afalg");
	for (int gcm = 0; gcm < 2; gcm++)
		for (int s = 0; s < 3; s++) {
			double a, a1, b, c, sa, sa1, sb, sc;
			a = bench_ring(gcm, sizes[s], 32, 0, &sa);
			a1 = bench_ring(gcm, sizes[s], 1, 0, &sa1);
			b = bench_ring(gcm, sizes[s], 1, 1, &sb);
			c = bench_afalg(gcm, sizes[s], &sc);
			printf("%-12s %6zu | %12.0f %7.3f | %12.0f %7.3f | %12.0f %7.3f | %12.0f %7.3f | %9.2fx %9.2fx\n",
			       gcm ? "aes-256-gcm" : "sha256", sizes[s], a, sa, a1, sa1, b, sb, c, sc,
			       b > 0 ? a / b : 0, c > 0 ? a / c : 0);
		}
	return 0;
}
