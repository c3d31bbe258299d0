/* Flowscope's own events, as Hubble's GetAgentEvents tells a Cilium agent's: flowd started, a
 * probe attached or detached, the identity file reloaded (or refused), a ring or the kernel
 * flow map filled up. Kept in a small ring for replays and fanned out to followers. */
#ifndef FLOWSCOPE_PIPELINE_AGENT_EVENTS_H
#define FLOWSCOPE_PIPELINE_AGENT_EVENTS_H

#include <stddef.h>
#include <stdint.h>

/* flow.AgentEventType values used here. */
enum agent_event_type {
	AGENT_EVENT_UNKNOWN = 0, /* Flowscope's own kinds: name says which */
	AGENT_EVENT_STARTED = 2,
};

struct agent_event {
	uint64_t seq;
	uint64_t time_ns; /* wall clock */
	int type;	  /* enum agent_event_type */
	char name[32];	  /* "probe-attached", ... (AgentEventUnknown.type) */
	char text[480];	  /* JSON object with the details (AgentEventUnknown.notification) */
	char node[64];	  /* the node that told it ("": this one; a relay's from its agents) */
};

struct agent_events;
typedef void (*agent_events_cb)(const struct agent_event *ev, void *ctx);

/* A log of the newest capacity events, or NULL with errno set. */
struct agent_events *agent_events_new(size_t capacity);
void agent_events_free(struct agent_events *a);

/* Records one event now and tells the subscribers. text is a JSON object (printf format). */
void agent_events_post(struct agent_events *a, int type, const char *name, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* Records an event another node told (a relay's, from its agents), with its own time. */
void agent_events_post_from(struct agent_events *a, const char *node, uint64_t time_ns, int type,
			    const char *name, const char *text);

/* Calls cb for every event held, oldest first. */
void agent_events_foreach(const struct agent_events *a, agent_events_cb cb, void *ctx);

/* Subscribers get every event posted after they subscribe. Returns a handle (NULL: ENOMEM);
 * unsubscribing is safe from inside a callback. */
struct agent_events_sub *agent_events_subscribe(struct agent_events *a, agent_events_cb cb,
						void *ctx);
void agent_events_unsubscribe(struct agent_events *a, struct agent_events_sub *s);

#endif /* FLOWSCOPE_PIPELINE_AGENT_EVENTS_H */
