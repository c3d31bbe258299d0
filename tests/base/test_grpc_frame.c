/* Unit tests of gRPC's length-prefixed message framing (base/grpc_frame.c). */
#include <check.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "flowscope/base/grpc_frame.h"
#include "google/protobuf/wrappers.pb-c.h"

static void round_trip(uint32_t len, const uint8_t expect[GRPC_FRAME_HDR])
{
	uint8_t hdr[GRPC_FRAME_HDR], flags = 0xff;
	uint32_t got = ~len;

	grpc_frame_put_header(hdr, len);
	ck_assert_mem_eq(hdr, expect, GRPC_FRAME_HDR);
	ck_assert(grpc_frame_get_header(hdr, sizeof(hdr), &flags, &got));
	ck_assert_uint_eq(flags, 0);
	ck_assert_uint_eq(got, len);
}

START_TEST(test_header_is_flag_then_big_endian_length)
{
	round_trip(0, (const uint8_t[]){0, 0, 0, 0, 0});
	round_trip(1, (const uint8_t[]){0, 0, 0, 0, 1});
	round_trip(0x01020304, (const uint8_t[]){0, 1, 2, 3, 4});
	round_trip(0x80, (const uint8_t[]){0, 0, 0, 0, 0x80});
	round_trip(UINT32_MAX, (const uint8_t[]){0, 0xff, 0xff, 0xff, 0xff});
}
END_TEST

START_TEST(test_get_header_needs_five_bytes)
{
	const uint8_t p[GRPC_FRAME_HDR] = {0, 0, 0, 0, 9};
	uint8_t flags = 0x55;
	uint32_t len = 77;
	size_t n;

	for (n = 0; n < GRPC_FRAME_HDR; n++)
		ck_assert(!grpc_frame_get_header(p, n, &flags, &len));
	ck_assert_uint_eq(flags, 0x55);
	ck_assert_uint_eq(len, 77);
	/* Bytes past the prefix (the message) do not matter. */
	ck_assert(grpc_frame_get_header((const uint8_t[]){0, 0, 0, 0, 9, 1, 2}, 7, &flags, &len));
	ck_assert_uint_eq(len, 9);
}
END_TEST

START_TEST(test_get_header_reads_the_compressed_flag)
{
	const uint8_t p[GRPC_FRAME_HDR] = {GRPC_FRAME_COMPRESSED, 0, 0, 0x01, 0x00};
	uint8_t flags = 0;
	uint32_t len = 0;

	ck_assert(grpc_frame_get_header(p, sizeof(p), &flags, &len));
	ck_assert_uint_eq(flags & GRPC_FRAME_COMPRESSED, GRPC_FRAME_COMPRESSED);
	ck_assert_uint_eq(len, 256);
}
END_TEST

START_TEST(test_append_frames_the_packed_message_after_existing_content)
{
	Google__Protobuf__UInt32Value v = GOOGLE__PROTOBUF__UINT32_VALUE__INIT;
	Google__Protobuf__UInt32Value empty = GOOGLE__PROTOBUF__UINT32_VALUE__INIT;
	/* Field 1 varint (0x08), 300 as a varint (0xac 0x02). */
	static const uint8_t expect[] = {'h', 'i', 0, 0, 0, 0, 3, 0x08, 0xac, 0x02, 0, 0, 0, 0, 0};
	struct buf b = BUF_INIT;

	v.value = 300;
	ck_assert_int_eq(buf_puts(&b, "hi"), 0);
	ck_assert_int_eq(grpc_frame_append(&b, &v.base), 0);
	/* A message with nothing set packs to nothing: a bare prefix. */
	ck_assert_int_eq(grpc_frame_append(&b, &empty.base), 0);
	ck_assert_uint_eq(b.len, sizeof(expect));
	ck_assert_mem_eq(b.data, expect, sizeof(expect));
	ck_assert_int_eq(b.data[b.len], '\0');
	buf_free(&b);
}
END_TEST

START_TEST(test_append_of_a_large_message_unpacks_back)
{
	Google__Protobuf__StringValue v = GOOGLE__PROTOBUF__STRING_VALUE__INIT, *back;
	char *s = malloc(70000);
	struct buf b = BUF_INIT;
	uint32_t len;
	uint8_t flags;

	ck_assert_ptr_nonnull(s);
	memset(s, 'q', 69999);
	s[69999] = '\0';
	v.value = s;
	ck_assert_int_eq(grpc_frame_append(&b, &v.base), 0);
	ck_assert(grpc_frame_get_header((const uint8_t *)b.data, b.len, &flags, &len));
	ck_assert_uint_eq(flags, 0);
	/* Tag, a 3-byte varint length (69999 >= 2^14), the text. */
	ck_assert_uint_eq(len, 1 + 3 + 69999);
	ck_assert_uint_eq(b.len, GRPC_FRAME_HDR + len);
	back = google__protobuf__string_value__unpack(NULL, len,
						      (const uint8_t *)b.data + GRPC_FRAME_HDR);
	ck_assert_ptr_nonnull(back);
	ck_assert_str_eq(back->value, s);
	google__protobuf__string_value__free_unpacked(back, NULL);
	buf_free(&b);
	free(s);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("grpc_frame");
	TCase *tc = tcase_create("core");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, test_header_is_flag_then_big_endian_length);
	tcase_add_test(tc, test_get_header_needs_five_bytes);
	tcase_add_test(tc, test_get_header_reads_the_compressed_flag);
	tcase_add_test(tc, test_append_frames_the_packed_message_after_existing_content);
	tcase_add_test(tc, test_append_of_a_large_message_unpacks_back);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
