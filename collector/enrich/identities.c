/* The identity table in force (see include/flowscope/enrich/identities.h). */
#include <stddef.h>

#include "flowscope/enrich/identities.h"

static struct identity_table *current;
static uint64_t generation;
static uint64_t reloads, reload_errors;

void identities_set(struct identity_table *t)
{
	struct identity_table *old = current;

	current = t;
	generation++;
	identity_table_free(old);
}

uint64_t identities_generation(void)
{
	return generation;
}

const struct identity_table *identities_get(void)
{
	return current;
}

const struct identity *identities_lookup(uint8_t family, const uint8_t addr[16])
{
	return current ? identity_lookup(current, family, addr) : NULL;
}

uint32_t identities_numeric(uint8_t family, const uint8_t addr[16])
{
	const struct identity *id = identities_lookup(family, addr);

	return id && id->numeric ? id->numeric : IDENTITY_WORLD;
}

int identities_reload(const char *path, struct errmsg *e)
{
	struct identity_table *t = NULL;
	int err = identity_table_load(path, &t, e);

	if (err) {
		reload_errors++;
		return err;
	}
	identities_set(t);
	reloads++;
	return 0;
}

void identities_get_stats(struct identities_stats *st)
{
	st->entries = identity_table_size(current);
	st->reloads = reloads;
	st->errors = reload_errors;
}
