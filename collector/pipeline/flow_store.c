/* Bounded store of recent flows (see include/flowscope/pipeline/flow_store.h). All memory is
 * allocated once: a slot array, one hash index of active flows by connection (the key without
 * interface and VLAN: a lookup by full key walks the same chain, so a new flow costs one bucket
 * miss, not one per index) and a recency list threaded through slots. */
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "flowscope/base/bigmem.h"
#include "flowscope/pipeline/flow_store.h"

#define NIL UINT32_MAX

struct slot {
	struct flow f;
	uint32_t prev, next; /* recency list: prev is older, next is newer */
	uint8_t used;
	uint8_t indexed;
};

struct flow_store {
	struct slot *slots;
	uint32_t cap;
	uint32_t *cbuckets;
	/* The index chains, beside the slots: a lookup walks these 8-byte links and compares the
	 * hash's tag, and touches a slot (~680 bytes away from the next) only on a tag match; the
	 * slot's key was 58% of a lookup's samples when the chain ran through the slots (perf). */
	struct link {
		uint32_t next; /* connection hash chain */
		uint32_t tag;  /* high half of the connection hash */
	} * links;
	uint32_t nbuckets; /* power of two */
	uint32_t oldest, newest;
	uint32_t free_head; /* free slots chained through next */
	uint64_t next_id;
	struct flow_store_stats st;
	void (*on_drop)(uint64_t id, void *ctx);
	void *on_drop_ctx;
};

/* The connection a key belongs to (the same packets seen on every interface and VLAN: the key
 * without ifindex and vlan_id), hashed a word at a time with independent multiplies: the
 * byte-wise hash, then a dependent chain over a copy of the key, were 14% of a record (perf). */
static uint64_t conn_hash(const struct flow_key *k)
{
	uint64_t w0, w1, w2, w3, h;
	uint32_t ports;

	memcpy(&w0, k->addr[0], 8);
	memcpy(&w1, k->addr[0] + 8, 8);
	memcpy(&w2, k->addr[1], 8);
	memcpy(&w3, k->addr[1] + 8, 8);
	memcpy(&ports, k->port, 4);
	h = (w0 * 0x9e3779b97f4a7c15ULL) ^ (w1 * 0xc2b2ae3d27d4eb4fULL) ^
	    (w2 * 0x165667b19e3779f9ULL) ^ (w3 * 0xd6e8feb86659fd93ULL) ^
	    ((ports | (uint64_t)k->proto << 32 | (uint64_t)k->family << 40) *
	     0xff51afd7ed558ccdULL);
	h ^= h >> 32;
	h *= 0xc4ceb9fe1a85ec53ULL;
	return h ^ (h >> 29);
}

static bool same_conn(const struct flow_key *a, const struct flow_key *b)
{
	return !memcmp(a->addr, b->addr, sizeof(a->addr)) &&
	       !memcmp(a->port, b->port, sizeof(a->port)) && a->proto == b->proto &&
	       a->family == b->family;
}

static struct slot *slot_of(struct flow *f)
{
	return (struct slot *)((char *)f - offsetof(struct slot, f));
}

struct flow_store *flow_store_new(size_t max_flows)
{
	struct flow_store *s;
	uint32_t i, nb = 1;

	if (max_flows == 0 || max_flows >= NIL / 2) {
		errno = EINVAL;
		return NULL;
	}
	s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	while (nb < max_flows)
		nb <<= 1;
	s->cap = (uint32_t)max_flows;
	s->nbuckets = nb;
	s->slots = bigmem_alloc(sizeof(*s->slots) * s->cap);
	s->cbuckets = bigmem_alloc(sizeof(*s->cbuckets) * nb);
	s->links = bigmem_alloc(sizeof(*s->links) * s->cap);
	if (!s->slots || !s->cbuckets || !s->links) {
		flow_store_free(s);
		errno = ENOMEM;
		return NULL;
	}
	for (i = 0; i < nb; i++)
		s->cbuckets[i] = NIL;
	for (i = 0; i < s->cap; i++)
		s->slots[i].next = i + 1 < s->cap ? i + 1 : NIL;
	s->free_head = 0;
	s->oldest = s->newest = NIL;
	s->next_id = 1;
	return s;
}

void flow_store_free(struct flow_store *s)
{
	if (!s)
		return;
	bigmem_free(s->slots, sizeof(*s->slots) * s->cap);
	bigmem_free(s->cbuckets, sizeof(*s->cbuckets) * s->nbuckets);
	bigmem_free(s->links, sizeof(*s->links) * s->cap);
	free(s);
}

static void list_unlink(struct flow_store *s, uint32_t i)
{
	struct slot *sl = &s->slots[i];

	if (sl->prev != NIL)
		s->slots[sl->prev].next = sl->next;
	else
		s->oldest = sl->next;
	if (sl->next != NIL)
		s->slots[sl->next].prev = sl->prev;
	else
		s->newest = sl->prev;
	sl->prev = sl->next = NIL;
}

static void list_append(struct flow_store *s, uint32_t i)
{
	struct slot *sl = &s->slots[i];

	sl->prev = s->newest;
	sl->next = NIL;
	if (s->newest != NIL)
		s->slots[s->newest].next = i;
	else
		s->oldest = i;
	s->newest = i;
}

static void index_remove(struct flow_store *s, uint32_t i)
{
	struct slot *sl = &s->slots[i];
	uint32_t *pp;

	if (!sl->indexed)
		return;
	pp = &s->cbuckets[conn_hash(&sl->f.key) & (s->nbuckets - 1)];
	while (*pp != NIL && *pp != i)
		pp = &s->links[*pp].next;
	if (*pp == i)
		*pp = s->links[i].next;
	sl->indexed = 0;
	s->links[i].next = NIL;
	s->st.active--;
}

void flow_store_prefetch(const struct flow_store *s, const struct flow_key *key)
{
	__builtin_prefetch(&s->cbuckets[conn_hash(key) & (s->nbuckets - 1)]);
}

/* The active flow with key, whose connection hash is h. */
static struct flow *find_hashed(struct flow_store *s, const struct flow_key *key, uint64_t h)
{
	uint32_t i = s->cbuckets[h & (s->nbuckets - 1)], tag = (uint32_t)(h >> 32);

	for (; i != NIL; i = s->links[i].next)
		if (s->links[i].tag == tag && !memcmp(&s->slots[i].f.key, key, sizeof(*key)))
			return &s->slots[i].f;
	return NULL;
}

struct flow *flow_store_find(struct flow_store *s, const struct flow_key *key)
{
	return find_hashed(s, key, conn_hash(key));
}

struct flow *flow_store_find_conn(struct flow_store *s, const struct flow_key *key)
{
	uint64_t h = conn_hash(key);
	uint32_t i = s->cbuckets[h & (s->nbuckets - 1)], tag = (uint32_t)(h >> 32);
	struct flow *any = NULL;

	for (; i != NIL; i = s->links[i].next) {
		struct flow *f = &s->slots[i].f;

		if (s->links[i].tag != tag || !same_conn(&f->key, key))
			continue;
		if (!f->copy)
			return f;
		any = any ? any : f;
	}
	return any;
}

struct flow *flow_store_insert(struct flow_store *s, const struct flow *f)
{
	uint64_t h = conn_hash(&f->key);
	struct flow *old = find_hashed(s, &f->key, h);
	struct slot *sl;
	uint32_t i, b;

	if (old)
		flow_store_end(s, old);
	if (s->free_head != NIL) {
		i = s->free_head;
		s->free_head = s->slots[i].next;
		s->st.stored++;
	} else {
		/* Full: recycle the least recently updated flow. */
		i = s->oldest;
		list_unlink(s, i);
		if (s->slots[i].indexed)
			s->st.evicted_active++;
		index_remove(s, i);
		s->st.evicted++;
		if (s->on_drop)
			s->on_drop(s->slots[i].f.id, s->on_drop_ctx);
	}
	sl = &s->slots[i];
	sl->f = *f;
	sl->f.id = s->next_id++;
	sl->used = 1;
	b = h & (s->nbuckets - 1);
	s->links[i].next = s->cbuckets[b];
	s->links[i].tag = (uint32_t)(h >> 32);
	s->cbuckets[b] = i;
	sl->indexed = 1;
	s->st.active++;
	s->st.seen++;
	list_append(s, i);
	return &sl->f;
}

void flow_store_on_drop(struct flow_store *s, void (*cb)(uint64_t id, void *ctx), void *ctx)
{
	s->on_drop = cb;
	s->on_drop_ctx = ctx;
}

void flow_store_touch(struct flow_store *s, struct flow *f)
{
	uint32_t i = (uint32_t)(slot_of(f) - s->slots);

	if (s->newest == i)
		return;
	list_unlink(s, i);
	list_append(s, i);
}

void flow_store_end(struct flow_store *s, struct flow *f)
{
	uint32_t i = (uint32_t)(slot_of(f) - s->slots);

	index_remove(s, i);
	f->ended = true;
}

int flow_store_foreach_last(struct flow_store *s, size_t n,
			    int (*cb)(const struct flow *f, void *ctx), void *ctx)
{
	uint32_t i = s->newest;
	int ret;

	if (n == 0 || i == NIL)
		return 0;
	/* Walk back n flows from the newest, then forward so the caller sees oldest first. */
	while (--n && s->slots[i].prev != NIL)
		i = s->slots[i].prev;
	for (; i != NIL; i = s->slots[i].next) {
		ret = cb(&s->slots[i].f, ctx);
		if (ret)
			return ret;
	}
	return 0;
}

int flow_store_foreach_active(struct flow_store *s, int (*cb)(struct flow *f, void *ctx), void *ctx)
{
	uint32_t b, i, next;
	int ret;

	for (b = 0; b < s->nbuckets; b++) {
		for (i = s->cbuckets[b]; i != NIL; i = next) {
			/* cb may end the flow, which unlinks it from this chain. */
			next = s->links[i].next;
			ret = cb(&s->slots[i].f, ctx);
			if (ret)
				return ret;
		}
	}
	return 0;
}

void flow_store_get_stats(const struct flow_store *s, struct flow_store_stats *st)
{
	*st = s->st;
	st->bytes = sizeof(*s) + (uint64_t)s->cap * (sizeof(*s->slots) + sizeof(*s->links)) +
		    (uint64_t)s->nbuckets * sizeof(*s->cbuckets);
}

bool flow_store_insert_evicts_active(const struct flow_store *s)
{
	return s->free_head == NIL && s->oldest != NIL && s->slots[s->oldest].indexed;
}

size_t flow_store_capacity(const struct flow_store *s)
{
	return s->cap;
}
