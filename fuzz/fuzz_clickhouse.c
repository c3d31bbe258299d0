/* Fuzz target: answers of a ClickHouse server (the exporter's and the history queries' peer):
 * the HTTP/1.1 response parser fed in pieces (the first byte sets their size), then a 200
 * answer's body decoded row by row as RowBinary flows the way history queries read it (each
 * flow encoded again as it is served), an error answer's code and text extracted. */
#include "fuzz.h"

#include "flowscope/base/buf.h"
#include "flowscope/encode/flow_pb.h"
#include "flowscope/exporters/clickhouse_http.h"
#include "flowscope/exporters/clickhouse_schema.h"

static int on_body(const char *p, size_t n, void *ctx)
{
	return buf_append(ctx, p, n) ? 1 : 0;
}

static void rows(const struct buf *body)
{
	static struct ch_flow cf;
	struct buf out = {0};
	size_t off = 0, used;

	while (off < body->len &&
	       ch_row_decode((const uint8_t *)body->data + off, body->len - off, &used, &cf) == 0) {
		if (!used || used > body->len - off)
			abort();
		off += used;
		buf_reset(&out);
		(void)flow_pb_json_line(&out, &cf.f, cf.node);
	}
	buf_free(&out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ch_resp r = {0};
	struct buf body = {0};
	size_t piece, off = 1, used;
	char text[512];
	int err = 0;

	if (!size)
		return 0;
	fuzz_quiet();
	piece = data[0] ? data[0] : size;
	ch_resp_init(&r);
	while (off < size && !r.done && !err) {
		size_t n = size - off < piece ? size - off : piece;

		err = ch_resp_feed(&r, (const char *)data + off, n, &used, on_body, &body);
		if (!err && used > n)
			abort();
		off += n;
	}
	if (!err && !r.done)
		err = ch_resp_eof(&r);
	if (!err && r.status == 200)
		rows(&body);
	else if (body.len) {
		(void)ch_error_text(body.data, body.len, text, sizeof(text));
		(void)ch_error_code(body.data, body.len);
	}
	ch_resp_free(&r);
	buf_free(&body);
	return 0;
}
