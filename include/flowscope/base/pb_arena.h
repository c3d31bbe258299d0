/* A bump allocator for protobuf-c's unpack: every sub-message, string and array of a received
 * message comes from a few blocks, and the whole message goes at once (pb_arena_reset) instead
 * of one free per part (malloc and free were about half of unpacking a flow, perf). */
#ifndef FLOWSCOPE_BASE_PB_ARENA_H
#define FLOWSCOPE_BASE_PB_ARENA_H

#include <stddef.h>
#include <protobuf-c/protobuf-c.h>

struct pb_arena_block;

struct pb_arena {
	ProtobufCAllocator allocator; /* pass &a->allocator to *_unpack() */
	struct pb_arena_block *head;  /* the block allocations come from; older ones after it */
	size_t block;		      /* the size of a block (larger for a larger part) */
};

/* a stays where it is while in use (its allocator points at it). Blocks of 64 KiB: for an
 * arena reset and used again for message after message. */
void pb_arena_init(struct pb_arena *a);
/* The same with blocks of block bytes: for an arena per message, freed with it (a flow takes
 * about 2.5 KiB). */
void pb_arena_init_block(struct pb_arena *a, size_t block);
/* Everything unpacked with the arena is gone (never call *_free_unpacked() on it); the first
 * block is kept for the next message. */
void pb_arena_reset(struct pb_arena *a);
void pb_arena_free(struct pb_arena *a);

#endif /* FLOWSCOPE_BASE_PB_ARENA_H */
