/* Fan-out of published flows to subscribers (see include/flowscope/pipeline/flow_bus.h).
 * Subscribers removed during a publication are only marked and reaped afterwards, so callbacks may
 * unsubscribe themselves or others. */
#include <stdbool.h>
#include <stdlib.h>

#include "flowscope/pipeline/flow_bus.h"

struct flow_bus_sub {
	struct flow_bus_sub *next;
	flow_bus_cb cb;
	void *ctx;
	bool dead;
};

struct flow_bus {
	struct flow_bus_sub *head;
	unsigned int count;
	unsigned int publishing; /* nesting depth */
	bool has_dead;
};

struct flow_bus *flow_bus_new(void)
{
	return calloc(1, sizeof(struct flow_bus));
}

void flow_bus_free(struct flow_bus *bus)
{
	struct flow_bus_sub *s, *n;

	if (!bus)
		return;
	for (s = bus->head; s; s = n) {
		n = s->next;
		free(s);
	}
	free(bus);
}

struct flow_bus_sub *flow_bus_subscribe(struct flow_bus *bus, flow_bus_cb cb, void *ctx)
{
	struct flow_bus_sub *s = calloc(1, sizeof(*s)), **pp;

	if (!s)
		return NULL;
	s->cb = cb;
	s->ctx = ctx;
	/* Append so that a subscriber added during a publication is not called for it. */
	for (pp = &bus->head; *pp; pp = &(*pp)->next)
		;
	*pp = s;
	bus->count++;
	return s;
}

static void reap(struct flow_bus *bus)
{
	struct flow_bus_sub **pp = &bus->head, *s;

	while ((s = *pp)) {
		if (s->dead) {
			*pp = s->next;
			free(s);
		} else {
			pp = &s->next;
		}
	}
	bus->has_dead = false;
}

void flow_bus_unsubscribe(struct flow_bus *bus, struct flow_bus_sub *sub)
{
	if (!sub || sub->dead)
		return;
	sub->dead = true;
	bus->count--;
	bus->has_dead = true;
	if (!bus->publishing)
		reap(bus);
}

void flow_bus_publish(struct flow_bus *bus, const struct flow *f)
{
	struct flow_bus_sub *s, *last;

	/* Remember the current tail: subscribers added by a callback start with the next flow. */
	for (last = bus->head; last && last->next; last = last->next)
		;
	bus->publishing++;
	for (s = bus->head; s; s = s->next) {
		if (!s->dead)
			s->cb(f, s->ctx);
		if (s == last)
			break;
	}
	bus->publishing--;
	if (!bus->publishing && bus->has_dead)
		reap(bus);
}

unsigned int flow_bus_count(const struct flow_bus *bus)
{
	return bus->count;
}
