/* Unit tests of the bounded flow store and the flow bus. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "flowscope/pipeline/flow_bus.h"
#include "flowscope/pipeline/flow_store.h"

static struct flow mkflow(uint32_t n)
{
	struct flow f;

	memset(&f, 0, sizeof(f));
	f.key.family = 4;
	f.key.proto = 6;
	memcpy(f.key.addr[0], &n, sizeof(n));
	f.key.port[0] = (uint16_t)n;
	f.key.port[1] = 80;
	f.key.ifindex = 1;
	f.packets[0] = n;
	return f;
}

static int collect_ids(const struct flow *f, void *ctx)
{
	uint64_t **p = ctx;

	*(*p)++ = f->packets[0];
	return 0;
}

START_TEST(test_insert_find_and_ids_are_unique)
{
	struct flow_store *s = flow_store_new(8);
	struct flow a = mkflow(1), b = mkflow(2), *fa, *fb;

	ck_assert_ptr_nonnull(s);
	fa = flow_store_insert(s, &a);
	fb = flow_store_insert(s, &b);
	ck_assert_ptr_nonnull(fa);
	ck_assert_ptr_nonnull(fb);
	ck_assert_uint_ne(fa->id, fb->id);
	ck_assert_ptr_eq(flow_store_find(s, &a.key), fa);
	ck_assert_ptr_eq(flow_store_find(s, &b.key), fb);
	a.key.port[1] = 81;
	ck_assert_ptr_null(flow_store_find(s, &a.key));
	flow_store_free(s);
}
END_TEST

static int count_active(struct flow *f, void *ctx)
{
	(void)f;
	(*(int *)ctx)++;
	return 0;
}

/* One connection seen on two interfaces and a VLAN: three flows in one index chain, each found
 * by its own key, the connection by its first observation point. */
START_TEST(test_one_connection_on_several_interfaces)
{
	struct flow_store *s = flow_store_new(8);
	struct flow a = mkflow(7), b = mkflow(7), c = mkflow(7), *fa, *fb, *fc;
	int n = 0;

	b.key.ifindex = 2;
	b.copy = true;
	c.key.vlan_id = 7;
	c.copy = true;
	fb = flow_store_insert(s, &b);
	fa = flow_store_insert(s, &a);
	fc = flow_store_insert(s, &c);
	ck_assert_ptr_eq(flow_store_find(s, &a.key), fa);
	ck_assert_ptr_eq(flow_store_find(s, &b.key), fb);
	ck_assert_ptr_eq(flow_store_find(s, &c.key), fc);
	ck_assert_ptr_eq(flow_store_find_conn(s, &c.key), fa); /* the one that is not a copy */
	flow_store_foreach_active(s, count_active, &n);
	ck_assert_int_eq(n, 3);
	flow_store_end(s, fa);
	ck_assert_ptr_null(flow_store_find(s, &a.key));
	ck_assert_ptr_eq(flow_store_find(s, &b.key), fb);
	ck_assert_ptr_eq(flow_store_find(s, &c.key), fc);
	ck_assert(flow_store_find_conn(s, &a.key) == fb || flow_store_find_conn(s, &a.key) == fc);
	b.key.ifindex = 3;
	ck_assert_ptr_null(flow_store_find(s, &b.key));
	n = 0;
	flow_store_foreach_active(s, count_active, &n);
	ck_assert_int_eq(n, 2);
	flow_store_free(s);
}
END_TEST

START_TEST(test_full_store_evicts_least_recently_updated)
{
	struct flow_store *s = flow_store_new(3);
	struct flow f[4] = {mkflow(1), mkflow(2), mkflow(3), mkflow(4)};
	struct flow_store_stats st;
	struct flow *p1;
	uint64_t got[8], *gp = got;

	p1 = flow_store_insert(s, &f[0]);
	flow_store_insert(s, &f[1]);
	flow_store_insert(s, &f[2]);
	flow_store_touch(s, p1); /* 1 is now newest: 2 is the oldest */
	flow_store_insert(s, &f[3]);
	ck_assert_ptr_null(flow_store_find(s, &f[1].key));
	ck_assert_ptr_nonnull(flow_store_find(s, &f[0].key));
	flow_store_get_stats(s, &st);
	ck_assert_uint_eq(st.stored, 3);
	ck_assert_uint_eq(st.evicted, 1);
	ck_assert_uint_eq(st.evicted_active, 1);
	ck_assert_uint_eq(st.seen, 4);
	/* Its tables' bytes: at least a flow per slot, and the same however full. */
	ck_assert_uint_ge(st.bytes, 3 * sizeof(struct flow));
	ck_assert_uint_lt(st.bytes, 3 * sizeof(struct flow) + 4096);
	flow_store_foreach_last(s, 10, collect_ids, &gp);
	ck_assert_int_eq(gp - got, 3);
	ck_assert_uint_eq(got[0], 3);
	ck_assert_uint_eq(got[1], 1);
	ck_assert_uint_eq(got[2], 4);
	flow_store_free(s);
}
END_TEST

static void record_drop(uint64_t id, void *ctx)
{
	uint64_t **p = ctx;

	*(*p)++ = id;
}

/* The drop hook tells each flow whose slot a new flow takes, active or ended, and only then:
 * ending a flow or inserting into a free slot drops nothing. */
START_TEST(test_drop_hook_tells_recycled_flows)
{
	struct flow_store *s = flow_store_new(2);
	struct flow f[4] = {mkflow(1), mkflow(2), mkflow(3), mkflow(4)};
	uint64_t dropped[8], *dp = dropped;
	struct flow *a, *b;

	flow_store_on_drop(s, record_drop, &dp);
	a = flow_store_insert(s, &f[0]);
	ck_assert_uint_eq(a->id, 1);
	b = flow_store_insert(s, &f[1]);
	flow_store_end(s, b);
	ck_assert_int_eq(dp - dropped, 0);
	flow_store_insert(s, &f[2]); /* takes 1's slot (active) */
	ck_assert_int_eq(dp - dropped, 1);
	ck_assert_uint_eq(dropped[0], 1);
	flow_store_insert(s, &f[3]); /* takes 2's slot (ended) */
	ck_assert_int_eq(dp - dropped, 2);
	ck_assert_uint_eq(dropped[1], 2);
	flow_store_on_drop(s, NULL, NULL);
	flow_store_insert(s, &f[0]);
	ck_assert_int_eq(dp - dropped, 2);
	flow_store_free(s);
}
END_TEST

START_TEST(test_last_n_returns_newest_n_oldest_first)
{
	struct flow_store *s = flow_store_new(100);
	uint64_t got[100], *gp = got;
	uint32_t i;

	for (i = 1; i <= 50; i++) {
		struct flow f = mkflow(i);
		flow_store_insert(s, &f);
	}
	flow_store_foreach_last(s, 5, collect_ids, &gp);
	ck_assert_int_eq(gp - got, 5);
	for (i = 0; i < 5; i++)
		ck_assert_uint_eq(got[i], 46 + i);
	gp = got;
	flow_store_foreach_last(s, 0, collect_ids, &gp);
	ck_assert_int_eq(gp - got, 0);
	flow_store_free(s);
}
END_TEST

START_TEST(test_ended_flow_leaves_index_but_stays_listed)
{
	struct flow_store *s = flow_store_new(4);
	struct flow a = mkflow(7), *p, *q;
	struct flow_store_stats st;
	uint64_t got[4], *gp = got;

	p = flow_store_insert(s, &a);
	flow_store_end(s, p);
	ck_assert(p->ended);
	ck_assert_ptr_null(flow_store_find(s, &a.key));
	q = flow_store_insert(s, &a); /* same 5-tuple reused: a new flow */
	ck_assert_ptr_ne(p, q);
	ck_assert_uint_ne(p->id, q->id);
	flow_store_get_stats(s, &st);
	ck_assert_uint_eq(st.stored, 2);
	ck_assert_uint_eq(st.active, 1);
	flow_store_foreach_last(s, 4, collect_ids, &gp);
	ck_assert_int_eq(gp - got, 2);
	flow_store_free(s);
}
END_TEST

START_TEST(test_inserting_active_key_again_ends_the_old_flow)
{
	struct flow_store *s = flow_store_new(4);
	struct flow a = mkflow(9), *p, *q;

	p = flow_store_insert(s, &a);
	q = flow_store_insert(s, &a);
	ck_assert(p->ended);
	ck_assert(!q->ended);
	ck_assert_ptr_eq(flow_store_find(s, &a.key), q);
	flow_store_free(s);
}
END_TEST

static int end_even(struct flow *f, void *ctx)
{
	struct flow_store *s = ctx;

	if (f->packets[0] % 2 == 0)
		flow_store_end(s, f);
	return 0;
}

START_TEST(test_foreach_active_may_end_flows)
{
	struct flow_store *s = flow_store_new(64);
	struct flow_store_stats st;
	uint32_t i;

	for (i = 1; i <= 40; i++) {
		struct flow f = mkflow(i);
		flow_store_insert(s, &f);
	}
	flow_store_foreach_active(s, end_even, s);
	flow_store_get_stats(s, &st);
	ck_assert_uint_eq(st.active, 20);
	ck_assert_uint_eq(st.stored, 40);
	flow_store_free(s);
}
END_TEST

START_TEST(test_eviction_churn_keeps_index_consistent)
{
	struct flow_store *s = flow_store_new(16);
	struct flow_store_stats st;
	uint32_t i;

	for (i = 1; i <= 10000; i++) {
		struct flow f = mkflow(i);
		struct flow *p = flow_store_insert(s, &f);
		ck_assert_ptr_eq(flow_store_find(s, &f.key), p);
		if (i % 3 == 0)
			flow_store_end(s, p);
	}
	flow_store_get_stats(s, &st);
	ck_assert_uint_eq(st.stored, 16);
	ck_assert_uint_le(st.active, 16);
	for (i = 1; i <= 10000 - 16; i++) {
		struct flow f = mkflow(i);
		ck_assert_ptr_null(flow_store_find(s, &f.key));
	}
	flow_store_free(s);
}
END_TEST

START_TEST(test_zero_capacity_is_rejected)
{
	ck_assert_ptr_null(flow_store_new(0));
}
END_TEST

struct bus_ctx {
	struct flow_bus *bus;
	struct flow_bus_sub *self;
	int calls;
	int unsub_after;
};

static void bus_cb(const struct flow *f, void *arg)
{
	struct bus_ctx *c = arg;

	(void)f;
	if (++c->calls == c->unsub_after)
		flow_bus_unsubscribe(c->bus, c->self);
}

START_TEST(test_bus_delivers_to_all_and_unsubscribes_in_callback)
{
	struct flow_bus *bus = flow_bus_new();
	struct bus_ctx a = {.bus = bus, .unsub_after = 2}, b = {.bus = bus};
	struct flow f = mkflow(1);
	int i;

	a.self = flow_bus_subscribe(bus, bus_cb, &a);
	b.self = flow_bus_subscribe(bus, bus_cb, &b);
	ck_assert_uint_eq(flow_bus_count(bus), 2);
	for (i = 0; i < 5; i++)
		flow_bus_publish(bus, &f);
	ck_assert_int_eq(a.calls, 2);
	ck_assert_int_eq(b.calls, 5);
	ck_assert_uint_eq(flow_bus_count(bus), 1);
	flow_bus_unsubscribe(bus, b.self);
	ck_assert_uint_eq(flow_bus_count(bus), 0);
	flow_bus_free(bus);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("flow_store");
	TCase *tc = tcase_create("core");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, test_insert_find_and_ids_are_unique);
	tcase_add_test(tc, test_one_connection_on_several_interfaces);
	tcase_add_test(tc, test_full_store_evicts_least_recently_updated);
	tcase_add_test(tc, test_last_n_returns_newest_n_oldest_first);
	tcase_add_test(tc, test_ended_flow_leaves_index_but_stays_listed);
	tcase_add_test(tc, test_inserting_active_key_again_ends_the_old_flow);
	tcase_add_test(tc, test_foreach_active_may_end_flows);
	tcase_add_test(tc, test_eviction_churn_keeps_index_consistent);
	tcase_add_test(tc, test_zero_capacity_is_rejected);
	tcase_add_test(tc, test_drop_hook_tells_recycled_flows);
	tcase_add_test(tc, test_bus_delivers_to_all_and_unsubscribes_in_callback);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
