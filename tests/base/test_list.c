/* Unit tests of the intrusive doubly linked list (include/flowscope/base/list.h). */
#include <check.h>
#include <stddef.h>

#include "flowscope/base/list.h"

struct item {
	int value;
	struct list_node node;
};

/* The values in list order, checked against the backward links too. */
static int collect(struct list_node *head, int *out, int max)
{
	struct item *pos, *tmp;
	struct list_node *n;
	int k = 0, back = 0;

	list_for_each_safe(pos, tmp, head, struct item, node)
	{
		ck_assert_int_lt(k, max);
		out[k++] = pos->value;
	}
	for (n = head->prev; n != head; n = n->prev) {
		back++;
		ck_assert_int_eq(container_of(n, struct item, node)->value, out[k - back]);
	}
	ck_assert_int_eq(back, k);
	return k;
}

START_TEST(test_empty_list_iterates_nothing)
{
	struct list_node head;
	struct item *pos, *tmp;
	int n = 0;

	list_init(&head);
	ck_assert(list_empty(&head));
	list_for_each_safe(pos, tmp, &head, struct item, node)
	{
		n++;
	}
	ck_assert_int_eq(n, 0);
}
END_TEST

START_TEST(test_add_tail_keeps_insertion_order)
{
	struct item it[4] = {{.value = 10}, {.value = 20}, {.value = 30}, {.value = 40}};
	struct list_node head;
	int got[8], i;

	list_init(&head);
	for (i = 0; i < 4; i++) {
		list_add_tail(&head, &it[i].node);
		ck_assert(!list_empty(&head));
	}
	ck_assert_int_eq(collect(&head, got, 8), 4);
	for (i = 0; i < 4; i++)
		ck_assert_int_eq(got[i], it[i].value);
}
END_TEST

START_TEST(test_del_unlinks_anywhere_and_twice_is_harmless)
{
	struct item it[3] = {{.value = 1}, {.value = 2}, {.value = 3}};
	struct list_node head;
	int got[8];

	list_init(&head);
	list_add_tail(&head, &it[0].node);
	list_add_tail(&head, &it[1].node);
	list_add_tail(&head, &it[2].node);
	list_del(&it[1].node);
	ck_assert_int_eq(collect(&head, got, 8), 2);
	ck_assert_int_eq(got[0], 1);
	ck_assert_int_eq(got[1], 3);
	/* An unlinked node points at itself: unlinking it again changes nothing. */
	ck_assert(list_empty(&it[1].node));
	list_del(&it[1].node);
	ck_assert_int_eq(collect(&head, got, 8), 2);
	list_del(&it[2].node);
	list_del(&it[0].node);
	ck_assert(list_empty(&head));
	/* A deleted node can be added again. */
	list_add_tail(&head, &it[1].node);
	ck_assert_int_eq(collect(&head, got, 8), 1);
	ck_assert_int_eq(got[0], 2);
}
END_TEST

START_TEST(test_loop_body_may_unlink_the_current_element)
{
	struct item it[6], *pos, *tmp;
	struct list_node head;
	int got[8], i, seen = 0;

	list_init(&head);
	for (i = 0; i < 6; i++) {
		it[i].value = i;
		list_add_tail(&head, &it[i].node);
	}
	list_for_each_safe(pos, tmp, &head, struct item, node)
	{
		seen++;
		if (pos->value % 2 == 0)
			list_del(&pos->node);
	}
	ck_assert_int_eq(seen, 6);
	ck_assert_int_eq(collect(&head, got, 8), 3);
	ck_assert_int_eq(got[0], 1);
	ck_assert_int_eq(got[1], 3);
	ck_assert_int_eq(got[2], 5);
	list_for_each_safe(pos, tmp, &head, struct item, node)
	{
		list_del(&pos->node);
	}
	ck_assert(list_empty(&head));
}
END_TEST

int main(void)
{
	Suite *s = suite_create("list");
	TCase *tc = tcase_create("core");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, test_empty_list_iterates_nothing);
	tcase_add_test(tc, test_add_tail_keeps_insertion_order);
	tcase_add_test(tc, test_del_unlinks_anywhere_and_twice_is_harmless);
	tcase_add_test(tc, test_loop_body_may_unlink_the_current_element);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
