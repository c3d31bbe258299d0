/* Unit tests of the tables' hashes (include/flowscope/base/hash.h). */
#include <check.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "flowscope/base/hash.h"

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* Every string of 0 to 3 bytes over a small alphabet, and each of them followed by NUL bytes
 * (a run's length counts, not only its bytes), hashes to a different value. */
START_TEST(test_short_runs_are_all_distinct)
{
	static const char alpha[] = "ab.:0\x01\xff";
	size_t na = sizeof(alpha) - 1, n = 0, i, cap = 4 * 2 * 400;
	uint64_t *h = malloc(cap * sizeof(*h));
	unsigned char s[8];
	size_t len, a, b, c, pad;

	for (len = 0; len <= 3; len++)
		for (a = 0; a < (len > 0 ? na : 1); a++)
			for (b = 0; b < (len > 1 ? na : 1); b++)
				for (c = 0; c < (len > 2 ? na : 1); c++)
					for (pad = 0; pad < 2; pad++) {
						memset(s, 0, sizeof(s));
						if (len > 0)
							s[0] = (unsigned char)alpha[a];
						if (len > 1)
							s[1] = (unsigned char)alpha[b];
						if (len > 2)
							s[2] = (unsigned char)alpha[c];
						ck_assert_uint_lt(n, cap);
						/* len bytes, or len + 5 with NULs after */
						h[n++] = hash_bytes(s, len + pad * 5);
					}
	qsort(h, n, sizeof(*h), cmp_u64);
	for (i = 1; i < n; i++)
		ck_assert_msg(h[i] != h[i - 1], "collision among %zu short runs", n);
	free(h);
}
END_TEST

/* Each byte of a 16-byte address and of a longer string changes the hash, whichever word or
 * tail it is in. */
START_TEST(test_every_byte_counts)
{
	unsigned char a[23], b[23];
	size_t n, i;

	for (n = 1; n <= sizeof(a); n++)
		for (i = 0; i < n; i++) {
			memset(a, 7, sizeof(a));
			memcpy(b, a, sizeof(b));
			b[i] ^= 0x10;
			ck_assert_uint_ne(hash_bytes(a, n), hash_bytes(b, n));
		}
	ck_assert_uint_eq(hash_str("web.shop.test"), hash_bytes("web.shop.test", 13));
}
END_TEST

/* 65,536 consecutive IPv4 addresses (16-byte form, as the tables hash them) spread over 4096
 * buckets by the low bits: no bucket gets more than three times its share. */
START_TEST(test_consecutive_addresses_spread)
{
	static unsigned counts[4096];
	unsigned char addr[16] = {10, 0, 0, 0};
	unsigned i, most = 0;

	for (i = 0; i < 65536; i++) {
		addr[2] = (unsigned char)(i >> 8);
		addr[3] = (unsigned char)i;
		counts[hash_bytes(addr, 16) & 4095]++;
	}
	for (i = 0; i < 4096; i++)
		most = counts[i] > most ? counts[i] : most;
	ck_assert_uint_le(most, 3 * 16);
}
END_TEST

/* The stable hash gives the values it always gave: derived identity numbers, which every
 * node of a cluster must derive alike, whatever version it runs, depend on them. */
START_TEST(test_stable_hash_keeps_its_values)
{
	ck_assert_uint_eq(hash_stable_str(""), 1469598103934665603ULL);
	ck_assert_uint_eq(hash_stable_str("a"), (1469598103934665603ULL ^ 'a') * 1099511628211ULL);
	ck_assert_uint_eq(hash_stable_str("k8s:app=web"), 0x4d7502c7d34ef7bfULL);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("hash");
	TCase *tc = tcase_create("core");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, test_short_runs_are_all_distinct);
	tcase_add_test(tc, test_every_byte_counts);
	tcase_add_test(tc, test_consecutive_addresses_spread);
	tcase_add_test(tc, test_stable_hash_keeps_its_values);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
