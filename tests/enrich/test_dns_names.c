/* Unit tests of the DNS name table (dns_cache.c) and of matching answers to queries
 * (dns_match.c): the per-client and total bounds forget the addresses no flow used first, a
 * client spraying answers cannot push out another's names nor fill the name table for good
 * (names nobody holds are freed when it is full; names the holders mark stay), expiry; queries
 * answered, unanswered, evicted, held answers whose query never comes. */
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "flowscope/enrich/dns_cache.h"
#include "flowscope/enrich/dns_match.h"

#define NS 1000000000ULL
#define FOREVER (1000 * NS)

static const uint8_t *ip4(const char *s)
{
	static uint8_t b[8][16];
	static int i;
	uint8_t *a = b[i++ % 8];

	memset(a, 0, 16);
	ck_assert_int_eq(inet_pton(AF_INET, s, a), 1);
	return a;
}

/* Names host<i> the address 10.1.<i/256>.<i%256>, from client. */
static void learn(struct dns_cache *c, const char *client, int i, const char *prefix)
{
	char name[64], addr[32];

	snprintf(name, sizeof(name), "%s%d.example", prefix, i);
	snprintf(addr, sizeof(addr), "10.1.%d.%d", i / 256, i % 256);
	dns_cache_add(c, 4, ip4(addr), dns_cache_intern(c, name), FOREVER, 4, ip4(client));
}

static const char *lookup(struct dns_cache *c, int i)
{
	char addr[32];

	snprintf(addr, sizeof(addr), "10.1.%d.%d", i / 256, i % 256);
	return dns_cache_lookup(c, 4, ip4(addr), 0);
}

START_TEST(test_client_bound_forgets_its_own_unused_first)
{
	struct dns_cache *c = dns_cache_new(&(struct dns_cache_limits){100, 4, 100});
	struct dns_cache_stats st;
	int i;

	learn(c, "10.0.0.2", 100, "b"); /* another client's */
	for (i = 0; i < 4; i++)
		learn(c, "10.0.0.1", i, "a");
	ck_assert_str_eq(lookup(c, 0), "a0.example"); /* a flow uses the oldest */
	for (i = 4; i < 7; i++)
		learn(c, "10.0.0.1", i, "a");
	/* The client's unused ones went, oldest first; the used one and the other client's
	 * stayed. */
	ck_assert_str_eq(lookup(c, 0), "a0.example");
	ck_assert_ptr_null(lookup(c, 1));
	ck_assert_ptr_null(lookup(c, 2));
	ck_assert_ptr_null(lookup(c, 3));
	ck_assert_str_eq(lookup(c, 6), "a6.example");
	ck_assert_str_eq(lookup(c, 100), "b100.example");
	dns_cache_get_stats(c, &st);
	ck_assert_uint_eq(st.addrs, 5);
	ck_assert_uint_eq(st.clients, 2);
	ck_assert_uint_eq(st.evicted, 3);
	/* All used now: the least recently used goes. */
	ck_assert_ptr_nonnull(lookup(c, 4));
	ck_assert_ptr_nonnull(lookup(c, 5));
	ck_assert_ptr_nonnull(lookup(c, 0));
	learn(c, "10.0.0.1", 7, "a");
	ck_assert_ptr_null(lookup(c, 6));
	ck_assert_str_eq(lookup(c, 0), "a0.example");
	dns_cache_free(c);
}
END_TEST

START_TEST(test_total_bound_forgets_unused_before_used)
{
	struct dns_cache *c = dns_cache_new(&(struct dns_cache_limits){4, 4, 100});
	int i;

	learn(c, "10.0.0.1", 0, "a");
	learn(c, "10.0.0.1", 1, "a");
	ck_assert_ptr_nonnull(lookup(c, 0));
	ck_assert_ptr_nonnull(lookup(c, 1));
	for (i = 10; i < 20; i++) /* a sprayer's, never used */
		learn(c, "10.0.0.66", i, "x");
	ck_assert_str_eq(lookup(c, 0), "a0.example");
	ck_assert_str_eq(lookup(c, 1), "a1.example");
	ck_assert_ptr_null(lookup(c, 10));
	ck_assert_str_eq(lookup(c, 19), "x19.example");
	dns_cache_free(c);
}
END_TEST

struct holder {
	const char *names[4];
	int calls;
	struct dns_cache *c;
};

static void mark(void *ctx)
{
	struct holder *h = ctx;
	struct dns_cache *c = h->c;
	int i;

	h->calls++;
	for (i = 0; i < 4; i++) {
		/* Freed, its memory would hold a sprayed name by now. */
		if (h->names[i])
			ck_assert_str_eq(h->names[i], "held.example");
		dns_cache_mark(c, h->names[i]);
	}
	dns_cache_mark(c, "not one of ours");
}

/* 270,000 distinct names once filled the table until restart. */
START_TEST(test_a_spray_cannot_fill_the_name_table_for_good)
{
	struct dns_cache *c = dns_cache_new(&(struct dns_cache_limits){64, 8, 32});
	struct holder h = {.c = c};
	struct dns_cache_stats st;
	const char *held;
	int i;

	dns_cache_set_holders(c, mark, &h);
	held = h.names[0] = dns_cache_intern(c, "held.example"); /* a flow keeps it */
	learn(c, "10.0.0.1", 1, "good");
	ck_assert_ptr_nonnull(lookup(c, 1));
	for (i = 100; i < 20100; i++)
		learn(c, "10.0.0.66", i, "spray");
	dns_cache_get_stats(c, &st);
	ck_assert_uint_le(st.names, 32);
	ck_assert_uint_gt(st.names_freed, 19000);
	ck_assert_uint_le(st.addrs, 9 + 1);
	/* Asked at most once per eighth of the table (4 names) interned. */
	ck_assert_int_le(h.calls, 20000 / 4 + 1);
	ck_assert_int_gt(h.calls, 1);
	/* The held name is the same pointer still; the used address kept its name; a new
	 * answer names its address. */
	ck_assert_str_eq(held, "held.example");
	ck_assert_ptr_eq(dns_cache_intern(c, "held.example"), held);
	ck_assert_str_eq(lookup(c, 1), "good1.example");
	learn(c, "10.0.0.1", 2, "good");
	ck_assert_str_eq(lookup(c, 2), "good2.example");
	dns_cache_free(c);
}
END_TEST

START_TEST(test_without_holders_a_full_table_refuses_names)
{
	struct dns_cache *c = dns_cache_new(&(struct dns_cache_limits){64, 8, 16});
	struct dns_cache_stats st;
	int i;

	for (i = 0; i < 40; i++)
		learn(c, "10.0.0.66", i, "spray");
	dns_cache_get_stats(c, &st);
	ck_assert_uint_eq(st.names, 16);
	ck_assert_uint_eq(st.full, 24);
	ck_assert_uint_eq(st.names_freed, 0);
	ck_assert_ptr_null(dns_cache_new(&(struct dns_cache_limits){0, 8, 16}));
	ck_assert_int_eq(errno, EINVAL);
	dns_cache_free(c);
}
END_TEST

START_TEST(test_expired_addresses_are_forgotten)
{
	struct dns_cache *c = dns_cache_new(&(struct dns_cache_limits){64, 8, 64});
	struct dns_cache_stats st;

	dns_cache_add(c, 4, ip4("10.2.0.1"), dns_cache_intern(c, "short.example"), 5 * NS, 4,
		      ip4("10.0.0.1"));
	dns_cache_add(c, 4, ip4("10.2.0.2"), dns_cache_intern(c, "long.example"), 50 * NS, 4,
		      ip4("10.0.0.1"));
	ck_assert_str_eq(dns_cache_lookup(c, 4, ip4("10.2.0.1"), 4 * NS), "short.example");
	ck_assert_ptr_null(dns_cache_lookup(c, 4, ip4("10.2.0.1"), 6 * NS));
	dns_cache_expire(c, 6 * NS);
	dns_cache_get_stats(c, &st);
	ck_assert_uint_eq(st.addrs, 1);
	ck_assert_uint_eq(st.clients, 1);
	dns_cache_expire(c, 60 * NS);
	dns_cache_get_stats(c, &st);
	ck_assert_uint_eq(st.addrs, 0);
	ck_assert_uint_eq(st.clients, 0);
	dns_cache_free(c);
}
END_TEST

/* ---- matching ----------------------------------------------------------------------------- */

static struct flow_key key(uint16_t sport)
{
	struct flow_key k = {.proto = 17, .family = 4, .port = {sport, 53}};

	memcpy(k.addr[0], ip4("10.0.0.1"), 16);
	memcpy(k.addr[1], ip4("10.0.0.53"), 16);
	return k;
}

static struct dns_msg *msg(bool response, uint16_t id, const char *qname)
{
	static struct dns_msg m;

	memset(&m, 0, sizeof(m));
	m.response = response;
	m.id = id;
	m.qtype = 1;
	snprintf(m.qname, sizeof(m.qname), "%s", qname);
	if (response) {
		m.n_answers = 1;
		m.answers[0].type = 1;
		m.answers[0].family = 4;
		m.answers[0].ttl = 60;
		memcpy(m.answers[0].addr, ip4("10.9.0.1"), 16);
	}
	return &m;
}

START_TEST(test_queries_unanswered_evicted_and_answers_held_too_long)
{
	struct dns_match *m = dns_match_new(4, 2 * NS);
	struct dns_match_answers held;
	struct dns_match_stats st;
	struct flow_key k = key(5000);
	int i;

	ck_assert_ptr_nonnull(m);
	ck_assert(!dns_match_query(m, &k, 0, msg(false, 1, "a.example"), NS, &held));
	ck_assert(
		!dns_match_query(m, &k, 0, msg(false, 1, "a.example"), NS + 5, &held)); /* again */
	ck_assert(!dns_match_response(m, &k, 1, msg(true, 2, "b.example"), NS + 10));	/* held */
	dns_match_get_stats(m, &st);
	ck_assert_uint_eq(st.pending, 2);
	/* A second on, the held answer has waited long enough; the query has not. */
	dns_match_expire(m, 2 * NS + 11);
	dns_match_get_stats(m, &st);
	ck_assert_uint_eq(st.unmatched, 1);
	ck_assert_uint_eq(st.unanswered, 0);
	dns_match_expire(m, 4 * NS);
	dns_match_get_stats(m, &st);
	ck_assert_uint_eq(st.unanswered, 1);
	ck_assert_uint_eq(st.pending, 0);
	/* Full: the oldest query goes, counted; its answer then is not believed. */
	for (i = 0; i < 6; i++) {
		k = key((uint16_t)(6000 + i));
		dns_match_query(m, &k, 0, msg(false, 7, "c.example"), 10 * NS + i, &held);
	}
	dns_match_get_stats(m, &st);
	ck_assert_uint_eq(st.evicted, 2);
	ck_assert_uint_eq(st.pending, 4);
	k = key(6000);
	ck_assert(!dns_match_response(m, &k, 1, msg(true, 7, "c.example"), 10 * NS + 10));
	k = key(6005);
	ck_assert(dns_match_response(m, &k, 1, msg(true, 7, "c.example"), 10 * NS + 10));
	dns_match_get_stats(m, &st);
	ck_assert_uint_eq(st.matched, 1);
	ck_assert_ptr_null(dns_match_new(0, NS));
	dns_match_free(m);
}
END_TEST

START_TEST(test_held_answer_returned_to_its_query)
{
	struct dns_match *m = dns_match_new(16, 2 * NS);
	struct dns_match_answers held;
	struct flow_key k = key(5000);
	char a[INET_ADDRSTRLEN];

	ck_assert(!dns_match_response(m, &k, 1, msg(true, 3, "x.example"), 2 * NS));
	/* The same answer again waits with it; its query from the wrong end explains nothing. */
	ck_assert(!dns_match_response(m, &k, 1, msg(true, 3, "x.example"), 2 * NS + 1));
	ck_assert(!dns_match_query(m, &k, 1, msg(false, 3, "x.example"), 2 * NS - 5, &held));
	ck_assert(!dns_match_response(m, &k, 1, msg(true, 4, "y.example"), 3 * NS));
	ck_assert(dns_match_query(m, &k, 0, msg(false, 4, "y.example"), 3 * NS - 5, &held));
	ck_assert_uint_eq(held.n, 1);
	ck_assert_uint_eq(held.a[0].ttl, 60);
	ck_assert_uint_eq(held.ts_ns, 3 * NS);
	inet_ntop(AF_INET, held.a[0].addr, a, sizeof(a));
	ck_assert_str_eq(a, "10.9.0.1");
	dns_match_free(m);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("dns_names");
	TCase *tc = tcase_create("core");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, test_client_bound_forgets_its_own_unused_first);
	tcase_add_test(tc, test_total_bound_forgets_unused_before_used);
	tcase_add_test(tc, test_a_spray_cannot_fill_the_name_table_for_good);
	tcase_add_test(tc, test_without_holders_a_full_table_refuses_names);
	tcase_add_test(tc, test_expired_addresses_are_forgotten);
	tcase_add_test(tc, test_queries_unanswered_evicted_and_answers_held_too_long);
	tcase_add_test(tc, test_held_answer_returned_to_its_query);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
