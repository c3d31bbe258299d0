/* Bump allocation for unpacked messages (see include/flowscope/base/pb_arena.h). */
#include <stdint.h>
#include <stdlib.h>

#include "flowscope/base/pb_arena.h"

#define BLOCK_MIN (64 * 1024) /* a flow unpacks into about 2.5 KiB */
#define ALIGN 16

struct pb_arena_block {
	struct pb_arena_block *next;
	size_t used, cap;
	_Alignas(ALIGN) unsigned char data[];
};

static void *arena_alloc(void *ctx, size_t n)
{
	struct pb_arena *a = ctx;
	struct pb_arena_block *b = a->head;
	size_t need = (n + ALIGN - 1) & ~(size_t)(ALIGN - 1);
	void *p;

	if (need < n)
		return NULL;
	if (!b || b->cap - b->used < need) {
		size_t cap = need > a->block ? need : a->block;

		if (cap > SIZE_MAX - sizeof(*b))
			return NULL;
		b = malloc(sizeof(*b) + cap);
		if (!b)
			return NULL;
		b->used = 0;
		b->cap = cap;
		b->next = a->head;
		a->head = b;
	}
	p = b->data + b->used;
	b->used += need;
	return p;
}

/* Parts are freed with their message, by pb_arena_reset. */
static void arena_free(void *ctx, void *p)
{
	(void)ctx;
	(void)p;
}

void pb_arena_init_block(struct pb_arena *a, size_t block)
{
	a->allocator = (ProtobufCAllocator){arena_alloc, arena_free, a};
	a->head = NULL;
	a->block = block ? block : BLOCK_MIN;
}

void pb_arena_init(struct pb_arena *a)
{
	pb_arena_init_block(a, BLOCK_MIN);
}

/* Keeps the oldest block (the one every message starts in) unless it was one large message's. */
void pb_arena_reset(struct pb_arena *a)
{
	struct pb_arena_block *b = a->head, *next;

	while (b && b->next) {
		next = b->next;
		free(b);
		b = next;
	}
	if (b && b->cap > a->block) {
		free(b);
		b = NULL;
	}
	if (b)
		b->used = 0;
	a->head = b;
}

void pb_arena_free(struct pb_arena *a)
{
	pb_arena_reset(a);
	free(a->head);
	a->head = NULL;
}
