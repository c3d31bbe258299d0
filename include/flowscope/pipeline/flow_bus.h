/* Fan-out of published flow events to subscribers (the graph, the exporters, followers).
 * Publishing never blocks: each subscriber's callback must only queue (bounded) and return. */
#ifndef FLOWSCOPE_PIPELINE_FLOW_BUS_H
#define FLOWSCOPE_PIPELINE_FLOW_BUS_H

#include "flowscope/flow.h"

struct flow_bus;
struct flow_bus_sub;

typedef void (*flow_bus_cb)(const struct flow *f, void *ctx);

/* Returns a new bus or NULL with errno set; free with flow_bus_free(). */
struct flow_bus *flow_bus_new(void);
/* Frees the bus; subscribers must have unsubscribed. */
void flow_bus_free(struct flow_bus *bus);

/* Registers cb; returns a handle to pass to flow_bus_unsubscribe(), or NULL with errno set.
 * Safe to call from inside a callback (the new subscriber sees the next publication). */
struct flow_bus_sub *flow_bus_subscribe(struct flow_bus *bus, flow_bus_cb cb, void *ctx);
/* Removes and frees sub; safe to call from inside any callback, including sub's own. */
void flow_bus_unsubscribe(struct flow_bus *bus, struct flow_bus_sub *sub);

void flow_bus_publish(struct flow_bus *bus, const struct flow *f);
unsigned int flow_bus_count(const struct flow_bus *bus);

#endif /* FLOWSCOPE_PIPELINE_FLOW_BUS_H */
