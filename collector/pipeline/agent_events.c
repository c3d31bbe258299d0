/* Flowscope's own events (see include/flowscope/pipeline/agent_events.h). */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <stdlib.h>

#include "flowscope/base/clock.h"
#include "flowscope/pipeline/agent_events.h"

struct agent_events_sub {
	struct agent_events_sub *next;
	agent_events_cb cb;
	void *ctx;
	bool dead;
};

struct agent_events {
	struct agent_event *ring;
	size_t cap;
	uint64_t posted;
	struct agent_events_sub *subs;
	unsigned int posting;
};

struct agent_events *agent_events_new(size_t capacity)
{
	struct agent_events *a;

	if (!capacity) {
		errno = EINVAL;
		return NULL;
	}
	a = calloc(1, sizeof(*a));
	if (!a)
		return NULL;
	a->ring = calloc(capacity, sizeof(*a->ring));
	if (!a->ring) {
		free(a);
		errno = ENOMEM;
		return NULL;
	}
	a->cap = capacity;
	return a;
}

static void reap(struct agent_events *a)
{
	struct agent_events_sub **pp = &a->subs, *s;

	while ((s = *pp)) {
		if (s->dead) {
			*pp = s->next;
			free(s);
		} else {
			pp = &s->next;
		}
	}
}

void agent_events_free(struct agent_events *a)
{
	struct agent_events_sub *s, *n;

	if (!a)
		return;
	for (s = a->subs; s; s = n) {
		n = s->next;
		free(s);
	}
	free(a->ring);
	free(a);
}

/* The next slot, filled in by the caller, then told with tell(). */
static struct agent_event *next_slot(struct agent_events *a)
{
	struct agent_event *ev = &a->ring[a->posted % a->cap];

	memset(ev, 0, sizeof(*ev));
	ev->seq = ++a->posted;
	return ev;
}

static void tell(struct agent_events *a, const struct agent_event *ev)
{
	struct agent_events_sub *s;

	a->posting++;
	for (s = a->subs; s; s = s->next)
		if (!s->dead)
			s->cb(ev, s->ctx);
	if (!--a->posting)
		reap(a);
}

void agent_events_post(struct agent_events *a, int type, const char *name, const char *fmt, ...)
{
	struct agent_event *ev;
	va_list ap;

	if (!a)
		return;
	ev = next_slot(a);
	ev->time_ns = clock_wall_ns();
	ev->type = type;
	snprintf(ev->name, sizeof(ev->name), "%s", name);
	va_start(ap, fmt);
	vsnprintf(ev->text, sizeof(ev->text), fmt, ap);
	va_end(ap);
	tell(a, ev);
}

void agent_events_post_from(struct agent_events *a, const char *node, uint64_t time_ns, int type,
			    const char *name, const char *text)
{
	struct agent_event *ev;

	if (!a)
		return;
	ev = next_slot(a);
	ev->time_ns = time_ns;
	ev->type = type;
	snprintf(ev->name, sizeof(ev->name), "%s", name ? name : "");
	snprintf(ev->text, sizeof(ev->text), "%s", text ? text : "");
	snprintf(ev->node, sizeof(ev->node), "%s", node ? node : "");
	tell(a, ev);
}

void agent_events_foreach(const struct agent_events *a, agent_events_cb cb, void *ctx)
{
	uint64_t i = a->posted > a->cap ? a->posted - a->cap : 0;

	for (; i < a->posted; i++)
		cb(&a->ring[i % a->cap], ctx);
}

struct agent_events_sub *agent_events_subscribe(struct agent_events *a, agent_events_cb cb,
						void *ctx)
{
	struct agent_events_sub *s = calloc(1, sizeof(*s)), **pp;

	if (!s)
		return NULL;
	s->cb = cb;
	s->ctx = ctx;
	for (pp = &a->subs; *pp; pp = &(*pp)->next)
		;
	*pp = s;
	return s;
}

void agent_events_unsubscribe(struct agent_events *a, struct agent_events_sub *s)
{
	if (!s)
		return;
	s->dead = true;
	if (!a->posting)
		reap(a);
}
