/* Fuzz target: the one-pass decoder (base/pb_unpack.c) against protobuf-c's unpack on the same
 * bytes, as an observer GetFlowsResponse (the first byte may pick a flow.Flow or a
 * ServerStatusResponse instead), with malloc and with a pb_arena: both accept or both refuse,
 * and what they build packs to the same bytes. Aborts on a difference but the documented ones:
 * a singular message field twice in one message (pb_unpack merges its parts as the protobuf spec
 * says: another result, and it may accept what protobuf-c refuses) and nesting deeper than
 * PB_UNPACK_MAX_DEPTH (refused by pb_unpack). */
#include "fuzz.h"

#include <stdbool.h>

#include "flowscope/base/pb_arena.h"
#include "flowscope/base/pb_unpack.h"
#include "observer.pb-c.h"
#include "pb_walk.h"

static const ProtobufCMessageDescriptor *const kinds[] = {
	&observer__get_flows_response__descriptor,
	&flow__flow__descriptor,
	&observer__server_status_response__descriptor,
};

static bool same_packed(const ProtobufCMessage *a, const ProtobufCMessage *b)
{
	size_t n = protobuf_c_message_get_packed_size(a);
	uint8_t *x, *y;
	bool same;

	if (protobuf_c_message_get_packed_size(b) != n)
		return false;
	x = malloc(n + 1);
	y = malloc(n + 1);
	if (!x || !y || protobuf_c_message_pack(a, x) != n || protobuf_c_message_pack(b, y) != n)
		abort();
	same = !memcmp(x, y, n);
	free(x);
	free(y);
	return same;
}

/* b, pb_unpack's answer, against a, protobuf-c's. */
static void check(const ProtobufCMessage *a, const ProtobufCMessage *b, const struct wire_walk *w)
{
	if (w->depth > PB_UNPACK_MAX_DEPTH) {
		if (b)
			abort();
		return;
	}
	if (w->depth == PB_UNPACK_MAX_DEPTH) /* the bound itself: either reading of "deeper" */
		return;
	if ((a && !b) || (!a && b && !w->dup))
		abort();
	if (a && b && !w->dup && !same_packed(a, b))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct pb_arena arena; /* reset after each input, as flowctl's */
	static bool arena_ready;
	const ProtobufCMessageDescriptor *d;
	struct wire_walk w = {false, 0};
	ProtobufCMessage *a, *b, *c;

	if (!size)
		return 0;
	fuzz_quiet();
	if (!arena_ready) {
		pb_arena_init(&arena);
		arena_ready = true;
	}
	d = kinds[data[0] % (sizeof(kinds) / sizeof(kinds[0]))];
	data++;
	size--;
	walk(d, data, size, 0, &w);
	a = protobuf_c_message_unpack(d, NULL, size, data);
	b = pb_unpack(d, NULL, size, data);
	c = pb_unpack(d, &arena.allocator, size, data);
	check(a, b, &w);
	check(a, c, &w);
	if (a)
		protobuf_c_message_free_unpacked(a, NULL);
	if (b)
		protobuf_c_message_free_unpacked(b, NULL); /* under ASan: every part malloc's */
	pb_arena_reset(&arena);
	return 0;
}
