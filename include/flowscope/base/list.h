/* Intrusive doubly linked lists (a node inside each element, as in the Linux kernel): for the
 * connections, calls and followers that come and go in any order. */
#ifndef FLOWSCOPE_BASE_LIST_H
#define FLOWSCOPE_BASE_LIST_H

#include <stdbool.h>
#include <stddef.h>

struct list_node {
	struct list_node *prev, *next;
};

#define container_of(ptr, type, member) ((type *)((char *)(ptr)-offsetof(type, member)))

/* A list is a node that points at itself when empty. */
static inline void list_init(struct list_node *head)
{
	head->prev = head->next = head;
}

static inline bool list_empty(const struct list_node *head)
{
	return head->next == head;
}

static inline void list_add_tail(struct list_node *head, struct list_node *n)
{
	n->prev = head->prev;
	n->next = head;
	head->prev->next = n;
	head->prev = n;
}

/* Unlinks n; n points at itself afterwards, so unlinking twice is harmless. */
static inline void list_del(struct list_node *n)
{
	n->prev->next = n->next;
	n->next->prev = n->prev;
	list_init(n);
}

/* Iterates with pos the element (of type `type`); the loop body may unlink pos. */
#define list_for_each_safe(pos, tmp, head, type, member)                                           \
	for (pos = container_of((head)->next, type, member),                                       \
	    tmp = container_of(pos->member.next, type, member);                                    \
	     &pos->member != (head);                                                               \
	     pos = tmp, tmp = container_of(pos->member.next, type, member))

#endif /* FLOWSCOPE_BASE_LIST_H */
