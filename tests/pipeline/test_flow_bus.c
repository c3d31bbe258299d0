/* Unit tests of the flow bus fan-out, above all of subscribers that come and go while a flow is
 * being published (collector/pipeline/flow_bus.c). Run under valgrind to catch a subscriber
 * freed twice or used after being freed. */
#include <check.h>
#include <stdio.h>
#include <string.h>

#include "flowscope/pipeline/flow_bus.h"

/* Who was called for which flow, as "A1 B1 A2 ". */
struct trace {
	char text[256];
};

struct actor;
typedef void (*actor_fn)(struct actor *a, const struct flow *f);

struct actor {
	struct flow_bus *bus;
	struct trace *trace;
	char name;
	struct flow_bus_sub *self;
	actor_fn act; /* run after recording the call, or NULL */
	struct actor *other[3];
	unsigned int count_seen; /* flow_bus_count() after act */
};

static void on_flow(const struct flow *f, void *ctx)
{
	struct actor *a = ctx;
	size_t len = strlen(a->trace->text);

	snprintf(a->trace->text + len, sizeof(a->trace->text) - len, "%c%llu ", a->name,
		 (unsigned long long)f->id);
	if (a->act)
		a->act(a, f);
	a->count_seen = flow_bus_count(a->bus);
}

static void join(struct actor *a, struct flow_bus *bus, struct trace *t, char name)
{
	memset(a, 0, sizeof(*a));
	a->bus = bus;
	a->trace = t;
	a->name = name;
	a->self = flow_bus_subscribe(bus, on_flow, a);
	ck_assert_ptr_nonnull(a->self);
}

static void publish(struct flow_bus *bus, uint64_t id)
{
	struct flow f;

	memset(&f, 0, sizeof(f));
	f.id = id;
	flow_bus_publish(bus, &f);
}

/* Actions, each on flow 1 only. */
static void leave(struct actor *a, const struct flow *f)
{
	if (f->id == 1)
		flow_bus_unsubscribe(a->bus, a->self);
}

static void remove_others(struct actor *a, const struct flow *f)
{
	size_t i;

	for (i = 0; f->id == 1 && i < 3 && a->other[i]; i++)
		flow_bus_unsubscribe(a->bus, a->other[i]->self);
}

static void bring_in(struct actor *a, const struct flow *f)
{
	if (f->id == 1)
		join(a->other[0], a->bus, a->trace, a->other[0]->name);
}

START_TEST(test_publish_calls_subscribers_in_subscription_order)
{
	struct flow_bus *bus = flow_bus_new();
	struct actor a, b, c;
	struct trace t = {""};

	ck_assert_ptr_nonnull(bus);
	join(&a, bus, &t, 'A');
	join(&b, bus, &t, 'B');
	join(&c, bus, &t, 'C');
	publish(bus, 1);
	publish(bus, 2);
	ck_assert_str_eq(t.text, "A1 B1 C1 A2 B2 C2 ");
	flow_bus_unsubscribe(bus, b.self);
	flow_bus_unsubscribe(bus, a.self);
	flow_bus_unsubscribe(bus, c.self);
	flow_bus_free(bus);
}
END_TEST

START_TEST(test_count_follows_subscribe_and_unsubscribe)
{
	struct flow_bus *bus = flow_bus_new();
	struct actor a, b;
	struct trace t = {""};

	ck_assert_uint_eq(flow_bus_count(bus), 0);
	join(&a, bus, &t, 'A');
	ck_assert_uint_eq(flow_bus_count(bus), 1);
	join(&b, bus, &t, 'B');
	ck_assert_uint_eq(flow_bus_count(bus), 2);
	flow_bus_unsubscribe(bus, a.self);
	ck_assert_uint_eq(flow_bus_count(bus), 1);
	publish(bus, 1);
	ck_assert_str_eq(t.text, "B1 ");
	flow_bus_unsubscribe(bus, b.self);
	ck_assert_uint_eq(flow_bus_count(bus), 0);
	publish(bus, 2);
	ck_assert_str_eq(t.text, "B1 ");
	flow_bus_free(bus);
}
END_TEST

START_TEST(test_callback_may_unsubscribe_itself)
{
	struct flow_bus *bus = flow_bus_new();
	struct actor a, b, c;
	struct trace t = {""};

	join(&a, bus, &t, 'A');
	join(&b, bus, &t, 'B');
	join(&c, bus, &t, 'C');
	b.act = leave;
	publish(bus, 1);
	/* Counted out at once, even though it is freed only after the publication. */
	ck_assert_uint_eq(b.count_seen, 2);
	publish(bus, 2);
	ck_assert_str_eq(t.text, "A1 B1 C1 A2 C2 ");
	ck_assert_uint_eq(flow_bus_count(bus), 2);
	flow_bus_unsubscribe(bus, a.self);
	flow_bus_unsubscribe(bus, c.self);
	flow_bus_free(bus);
}
END_TEST

START_TEST(test_last_subscriber_may_unsubscribe_itself)
{
	struct flow_bus *bus = flow_bus_new();
	struct actor a, b;
	struct trace t = {""};

	join(&a, bus, &t, 'A');
	join(&b, bus, &t, 'B');
	b.act = leave;
	publish(bus, 1);
	publish(bus, 2);
	ck_assert_str_eq(t.text, "A1 B1 A2 ");
	flow_bus_unsubscribe(bus, a.self);
	flow_bus_free(bus);
}
END_TEST

/* A removes C, which has not been called yet for this flow: C must not be called for it. */
START_TEST(test_callback_may_unsubscribe_a_later_subscriber)
{
	struct flow_bus *bus = flow_bus_new();
	struct actor a, b, c;
	struct trace t = {""};

	join(&a, bus, &t, 'A');
	join(&b, bus, &t, 'B');
	join(&c, bus, &t, 'C');
	a.act = remove_others;
	a.other[0] = &c;
	publish(bus, 1);
	publish(bus, 2);
	ck_assert_str_eq(t.text, "A1 B1 A2 B2 ");
	ck_assert_uint_eq(flow_bus_count(bus), 2);
	flow_bus_unsubscribe(bus, a.self);
	flow_bus_unsubscribe(bus, b.self);
	flow_bus_free(bus);
}
END_TEST

/* B removes itself, A (called already) and D (not yet): each is counted out and freed once. */
START_TEST(test_callback_may_unsubscribe_itself_and_others)
{
	struct flow_bus *bus = flow_bus_new();
	struct actor a, b, c, d;
	struct trace t = {""};

	join(&a, bus, &t, 'A');
	join(&b, bus, &t, 'B');
	join(&c, bus, &t, 'C');
	join(&d, bus, &t, 'D');
	b.act = remove_others;
	b.other[0] = &b;
	b.other[1] = &a;
	b.other[2] = &d;
	publish(bus, 1);
	ck_assert_uint_eq(b.count_seen, 1);
	ck_assert_uint_eq(flow_bus_count(bus), 1);
	publish(bus, 2);
	ck_assert_str_eq(t.text, "A1 B1 C1 C2 ");
	flow_bus_unsubscribe(bus, c.self);
	ck_assert_uint_eq(flow_bus_count(bus), 0);
	flow_bus_free(bus);
}
END_TEST

static void leave_twice(struct actor *a, const struct flow *f)
{
	if (f->id == 1) {
		flow_bus_unsubscribe(a->bus, a->other[0]->self);
		flow_bus_unsubscribe(a->bus, a->other[0]->self);
	}
}

START_TEST(test_unsubscribing_twice_during_a_publication_counts_once)
{
	struct flow_bus *bus = flow_bus_new();
	struct actor a, b, c;
	struct trace t = {""};

	join(&a, bus, &t, 'A');
	join(&b, bus, &t, 'B');
	join(&c, bus, &t, 'C');
	a.act = leave_twice;
	a.other[0] = &b;
	publish(bus, 1);
	ck_assert_uint_eq(flow_bus_count(bus), 2);
	publish(bus, 2);
	ck_assert_str_eq(t.text, "A1 C1 A2 C2 ");
	flow_bus_unsubscribe(bus, a.self);
	flow_bus_unsubscribe(bus, c.self);
	ck_assert_uint_eq(flow_bus_count(bus), 0);
	flow_bus_free(bus);
}
END_TEST

/* A subscribes D and B (the last one) subscribes E during flow 1: both start with flow 2. */
START_TEST(test_subscriber_added_in_callback_sees_only_the_next_flow)
{
	struct flow_bus *bus = flow_bus_new();
	struct actor a, b, d = {.name = 'D'}, e = {.name = 'E'};
	struct trace t = {""};

	join(&a, bus, &t, 'A');
	join(&b, bus, &t, 'B');
	a.act = bring_in;
	a.other[0] = &d;
	b.act = bring_in;
	b.other[0] = &e;
	publish(bus, 1);
	ck_assert_str_eq(t.text, "A1 B1 ");
	ck_assert_uint_eq(flow_bus_count(bus), 4);
	publish(bus, 2);
	ck_assert_str_eq(t.text, "A1 B1 A2 B2 D2 E2 ");
	flow_bus_unsubscribe(bus, a.self);
	flow_bus_unsubscribe(bus, b.self);
	flow_bus_unsubscribe(bus, d.self);
	flow_bus_unsubscribe(bus, e.self);
	flow_bus_free(bus);
}
END_TEST

static void bring_in_and_drop(struct actor *a, const struct flow *f)
{
	if (f->id == 1) {
		join(a->other[0], a->bus, a->trace, a->other[0]->name);
		flow_bus_unsubscribe(a->bus, a->other[0]->self);
	}
}

START_TEST(test_subscriber_added_and_removed_in_one_publication_is_never_called)
{
	struct flow_bus *bus = flow_bus_new();
	struct actor a, d = {.name = 'D'};
	struct trace t = {""};

	join(&a, bus, &t, 'A');
	a.act = bring_in_and_drop;
	a.other[0] = &d;
	publish(bus, 1);
	publish(bus, 2);
	ck_assert_str_eq(t.text, "A1 A2 ");
	ck_assert_uint_eq(flow_bus_count(bus), 1);
	flow_bus_unsubscribe(bus, a.self);
	flow_bus_free(bus);
}
END_TEST

/* A publishes flow 2 from inside flow 1; during flow 2, B removes A. A must stay allocated
 * until the outer publication, which is still at A, has moved on. */
static void publish_nested(struct actor *a, const struct flow *f)
{
	if (f->id == 1)
		publish(a->bus, 2);
}

static void remove_on_2(struct actor *a, const struct flow *f)
{
	if (f->id == 2)
		flow_bus_unsubscribe(a->bus, a->other[0]->self);
}

START_TEST(test_nested_publication_reaps_only_when_the_outer_one_ends)
{
	struct flow_bus *bus = flow_bus_new();
	struct actor a, b, c;
	struct trace t = {""};

	join(&a, bus, &t, 'A');
	join(&b, bus, &t, 'B');
	join(&c, bus, &t, 'C');
	a.act = publish_nested;
	b.act = remove_on_2;
	b.other[0] = &a;
	publish(bus, 1);
	ck_assert_str_eq(t.text, "A1 A2 B2 C2 B1 C1 ");
	publish(bus, 3);
	ck_assert_str_eq(t.text, "A1 A2 B2 C2 B1 C1 B3 C3 ");
	ck_assert_uint_eq(flow_bus_count(bus), 2);
	flow_bus_unsubscribe(bus, b.self);
	flow_bus_unsubscribe(bus, c.self);
	flow_bus_free(bus);
}
END_TEST

START_TEST(test_bus_without_subscribers)
{
	struct flow_bus *bus = flow_bus_new();

	ck_assert_ptr_nonnull(bus);
	ck_assert_uint_eq(flow_bus_count(bus), 0);
	publish(bus, 1);
	flow_bus_free(bus);
	flow_bus_free(NULL);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("flow_bus");
	TCase *tc = tcase_create("core");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, test_publish_calls_subscribers_in_subscription_order);
	tcase_add_test(tc, test_count_follows_subscribe_and_unsubscribe);
	tcase_add_test(tc, test_callback_may_unsubscribe_itself);
	tcase_add_test(tc, test_last_subscriber_may_unsubscribe_itself);
	tcase_add_test(tc, test_callback_may_unsubscribe_a_later_subscriber);
	tcase_add_test(tc, test_callback_may_unsubscribe_itself_and_others);
	tcase_add_test(tc, test_unsubscribing_twice_during_a_publication_counts_once);
	tcase_add_test(tc, test_subscriber_added_in_callback_sees_only_the_next_flow);
	tcase_add_test(tc, test_subscriber_added_and_removed_in_one_publication_is_never_called);
	tcase_add_test(tc, test_nested_publication_reaps_only_when_the_outer_one_ends);
	tcase_add_test(tc, test_bus_without_subscribers);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
