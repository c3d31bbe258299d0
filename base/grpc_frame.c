/* gRPC message framing (see include/flowscope/base/grpc_frame.h). */
#include <errno.h>

#include "flowscope/base/grpc_frame.h"

void grpc_frame_put_header(uint8_t hdr[GRPC_FRAME_HDR], uint32_t len)
{
	hdr[0] = 0;
	hdr[1] = (uint8_t)(len >> 24);
	hdr[2] = (uint8_t)(len >> 16);
	hdr[3] = (uint8_t)(len >> 8);
	hdr[4] = (uint8_t)len;
}

bool grpc_frame_get_header(const uint8_t *p, size_t n, uint8_t *flags, uint32_t *len)
{
	if (n < GRPC_FRAME_HDR)
		return false;
	*flags = p[0];
	*len = (uint32_t)p[1] << 24 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 8 | p[4];
	return true;
}

int grpc_frame_append(struct buf *out, const ProtobufCMessage *m)
{
	size_t n = protobuf_c_message_get_packed_size(m);
	uint8_t *p;

	if (n > UINT32_MAX || buf_reserve(out, n + GRPC_FRAME_HDR))
		return -ENOMEM;
	p = (uint8_t *)out->data + out->len;
	grpc_frame_put_header(p, (uint32_t)n);
	protobuf_c_message_pack(m, p + GRPC_FRAME_HDR);
	out->len += n + GRPC_FRAME_HDR;
	out->data[out->len] = '\0';
	return 0;
}
