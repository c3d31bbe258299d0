/* gRPC message framing (see include/flowscope/base/grpc_frame.h). */
#include <errno.h>

#include "flowscope/base/grpc_frame.h"
#include "flowscope/base/pb_pack.h"

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
	size_t at = out->len, n;
	int err;

	if (buf_reserve(out, GRPC_FRAME_HDR))
		return -ENOMEM;
	out->len += GRPC_FRAME_HDR;
	err = pb_pack_append(out, m);
	n = out->len - at - GRPC_FRAME_HDR;
	if (!err && n > UINT32_MAX)
		err = -EMSGSIZE;
	if (err) {
		out->len = at;
		out->data[at] = '\0';
		return err;
	}
	grpc_frame_put_header((uint8_t *)out->data + at, (uint32_t)n);
	return 0;
}
