/* Prints every layout fact of include/uapi/warpdrive.h as a C compiler sees
 * it, in the format of warpdrive::uapi::LAYOUT; core/tests/abi.rs compares. */
#include <stddef.h>
#include <stdio.h>
#include "uapi/warpdrive.h"

#define SZ(t) printf("sizeof(%s) %zu\n", #t, sizeof(struct t))
#define OFF(t, f) printf("%s.%s %zu\n", #t, #f, offsetof(struct t, f))
#define NUM(n) printf("%s %lu\n", #n, (unsigned long)(n))

int main(void)
{
	SZ(wd_ring_offsets); SZ(wd_queue_bind); SZ(wd_buffer_create); SZ(wd_buffer_free);
	SZ(wd_device_info); SZ(wd_desc); SZ(wd_cqe);
	OFF(wd_ring_offsets, head); OFF(wd_ring_offsets, tail); OFF(wd_ring_offsets, ring_mask);
	OFF(wd_ring_offsets, ring_entries); OFF(wd_ring_offsets, flags); OFF(wd_ring_offsets, dropped);
	OFF(wd_ring_offsets, entries);
	OFF(wd_queue_bind, sq_entries); OFF(wd_queue_bind, cq_entries); OFF(wd_queue_bind, flags);
	OFF(wd_queue_bind, features); OFF(wd_queue_bind, queue_id); OFF(wd_queue_bind, abi_version);
	OFF(wd_queue_bind, ring_mmap_offset); OFF(wd_queue_bind, ring_mmap_size); OFF(wd_queue_bind, sq_off);
	OFF(wd_queue_bind, cq_off); OFF(wd_queue_bind, algorithms); OFF(wd_queue_bind, resv);
	OFF(wd_buffer_create, size); OFF(wd_buffer_create, mmap_offset); OFF(wd_buffer_create, handle);
	OFF(wd_buffer_create, flags);
	OFF(wd_device_info, driver); OFF(wd_device_info, algorithms); OFF(wd_device_info, features);
	OFF(wd_device_info, queues_total); OFF(wd_device_info, max_ring_entries);
	OFF(wd_desc, opcode); OFF(wd_desc, alg); OFF(wd_desc, flags); OFF(wd_desc, level);
	OFF(wd_desc, key_len); OFF(wd_desc, iv_len); OFF(wd_desc, tag_len); OFF(wd_desc, aad_len);
	OFF(wd_desc, stream_id); OFF(wd_desc, user_data); OFF(wd_desc, src_addr); OFF(wd_desc, dst_addr);
	OFF(wd_desc, aux_addr); OFF(wd_desc, src_len); OFF(wd_desc, dst_len); OFF(wd_desc, src_buf);
	OFF(wd_desc, dst_buf); OFF(wd_desc, aux_buf); OFF(wd_desc, resv1);
	OFF(wd_cqe, user_data); OFF(wd_cqe, produced); OFF(wd_cqe, consumed); OFF(wd_cqe, checksum);
	OFF(wd_cqe, needed); OFF(wd_cqe, flags); OFF(wd_cqe, status);
	NUM(WD_IOCTL_INFO); NUM(WD_IOCTL_BIND_QUEUE); NUM(WD_IOCTL_CREATE_BUFFER);
	NUM(WD_IOCTL_FREE_BUFFER); NUM(WD_IOCTL_DOORBELL); NUM(WD_IOCTL_SUBMIT_SYNC);
	NUM(WD_ALG_AES_GCM); NUM(WD_ALG_CHACHA20_POLY1305); NUM(WD_ALG_MAX);
	return 0;
}
