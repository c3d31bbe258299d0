/* Interned strings and records with holders (see include/flowscope/base/strtab.h): a chained
 * hash table of entries that carry their bytes. */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "flowscope/base/strtab.h"
#include "flowscope/base/hash.h"
#include "flowscope/base/list.h"

struct entry {
	struct entry *next;
	uint64_t hash;
	uint32_t len;  /* of s, without the NUL after it */
	uint32_t refs; /* strtab_hold()s not released */
	bool marked;
	_Alignas(8) char s[]; /* records are structs */
};

struct strtab {
	struct entry **heads;
	size_t mask, n, max;
	size_t since_collect; /* interned since holders were last asked */
	bool collected;	      /* holders were asked at least once */
	void (*mark)(void *ctx);
	void *mark_ctx;
	uint64_t freed, full;
};

struct strtab *strtab_new(size_t max)
{
	struct strtab *t;
	size_t heads = 64;

	if (!max) {
		errno = EINVAL;
		return NULL;
	}
	while (heads < max / 2 && heads < ((size_t)1 << 24))
		heads <<= 1;
	t = calloc(1, sizeof(*t));
	if (!t)
		return NULL;
	t->heads = calloc(heads, sizeof(*t->heads));
	if (!t->heads) {
		free(t);
		errno = ENOMEM;
		return NULL;
	}
	t->mask = heads - 1;
	t->max = max;
	return t;
}

void strtab_free(struct strtab *t)
{
	size_t i;

	if (!t)
		return;
	for (i = 0; i <= t->mask; i++)
		while (t->heads[i]) {
			struct entry *e = t->heads[i];

			t->heads[i] = e->next;
			free(e);
		}
	free(t->heads);
	free(t);
}

void strtab_set_holders(struct strtab *t, void (*mark)(void *ctx), void *ctx)
{
	t->mark = mark;
	t->mark_ctx = ctx;
}

static struct entry *find(const struct strtab *t, const void *p, size_t len, uint64_t h)
{
	struct entry *e;

	for (e = t->heads[h & t->mask]; e; e = e->next)
		if (e->hash == h && e->len == len && (e->s == p || !memcmp(e->s, p, len)))
			return e;
	return NULL;
}

void strtab_mark_bytes(struct strtab *t, const void *p, size_t len)
{
	struct entry *e;

	if (!p)
		return;
	e = find(t, p, len, hash_bytes(p, len));
	if (e && e->s == p)
		e->marked = true;
}

void strtab_mark(struct strtab *t, const char *s)
{
	if (s)
		strtab_mark_bytes(t, s, strlen(s));
}

/* Asks the holders which strings are in use and frees the others that are not held. */
static void collect(struct strtab *t)
{
	size_t i;

	for (i = 0; i <= t->mask; i++) {
		struct entry *e;

		for (e = t->heads[i]; e; e = e->next)
			e->marked = false;
	}
	t->mark(t->mark_ctx);
	for (i = 0; i <= t->mask; i++) {
		struct entry **pp = &t->heads[i];

		while (*pp) {
			struct entry *e = *pp;

			if (!e->refs && !e->marked) {
				*pp = e->next;
				free(e);
				t->n--;
				t->freed++;
				continue;
			}
			pp = &e->next;
		}
	}
	t->since_collect = 0;
	t->collected = true;
}

const void *strtab_intern_bytes(struct strtab *t, const void *p, size_t len)
{
	uint64_t h = hash_bytes(p, len);
	struct entry *e = find(t, p, len, h);

	if (e)
		return e->s;
	if (len > UINT32_MAX)
		return NULL;
	/* Asking the holders walks every flow kept: at most once per eighth of the table. */
	if (t->n >= t->max && t->mark && (!t->collected || t->since_collect >= t->max / 8))
		collect(t);
	if (t->n >= t->max) {
		t->full++;
		return NULL;
	}
	e = malloc(sizeof(*e) + len + 1);
	if (!e)
		return NULL;
	memcpy(e->s, p, len);
	e->s[len] = '\0';
	e->len = (uint32_t)len;
	e->hash = h;
	e->refs = 0;
	e->marked = false;
	e->next = t->heads[h & t->mask];
	t->heads[h & t->mask] = e;
	t->n++;
	t->since_collect++;
	return e->s;
}

const char *strtab_intern(struct strtab *t, const char *s)
{
	return strtab_intern_bytes(t, s, strlen(s));
}

void strtab_hold(const void *p)
{
	container_of(p, struct entry, s)->refs++;
}

void strtab_release(const void *p)
{
	container_of(p, struct entry, s)->refs--;
}

void strtab_get_stats(const struct strtab *t, struct strtab_stats *st)
{
	st->strings = t->n;
	st->freed = t->freed;
	st->full = t->full;
}
