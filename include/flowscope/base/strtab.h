/* Interned strings (or records: runs of bytes, compared whole) that flows point at, with no
 * count of the pointers: flows are copied by value (the store, the event log, the scratch
 * event), so one stays while its owner holds it (strtab_hold: a cache entry naming it) or a
 * holder marks it when the table is full and room is asked for; the others are freed then. */
#ifndef FLOWSCOPE_BASE_STRTAB_H
#define FLOWSCOPE_BASE_STRTAB_H

#include <stddef.h>
#include <stdint.h>

struct strtab;

struct strtab_stats {
	uint64_t strings; /* interned now */
	uint64_t freed;	  /* freed when the table was full (nothing held them) */
	uint64_t full;	  /* not interned: the table was full of strings in use */
};

/* At most max strings (> 0). NULL with errno set on failure (EINVAL for 0). */
struct strtab *strtab_new(size_t max);
void strtab_free(struct strtab *t);

/* Who keeps interned pointers beside the owner: mark(ctx) calls strtab_mark() for every one it
 * holds. Called when the table is full, at most once per eighth of it interned; strings neither
 * marked nor held are freed then. Without holders, strings are never freed (a full table
 * refuses new ones). */
void strtab_set_holders(struct strtab *t, void (*mark)(void *ctx), void *ctx);
/* From a holder's mark callback: s (any pointer, NULL too; those not from t are ignored) stays. */
void strtab_mark(struct strtab *t, const char *s);
/* The same for a record of len bytes. */
void strtab_mark_bytes(struct strtab *t, const void *p, size_t len);

/* The interned copy of s (NULL when the limit is reached and nothing could be freed). */
const char *strtab_intern(struct strtab *t, const char *s);
/* The interned copy of a record of len bytes (aligned for any struct, a NUL after it; padding
 * is compared too: zero it). NULL as strtab_intern. */
const void *strtab_intern_bytes(struct strtab *t, const void *p, size_t len);
/* p (from this table, not NULL) stays until released, as many times as it was held. */
void strtab_hold(const void *p);
void strtab_release(const void *p);

void strtab_get_stats(const struct strtab *t, struct strtab_stats *st);

#endif /* FLOWSCOPE_BASE_STRTAB_H */
