/* Fan-out of published flows to subscribers (HTTP streams, later gRPC streams and exporters).
 * Publishing never blocks: each subscriber's callback must only queue (bounded) and return. */
#ifndef FLOWSCOPE_FLOW_BUS_H
#define FLOWSCOPE_FLOW_BUS_H

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

/* Streaming clients name their subscription ("grpc-7") and count the flows they could not
 * take (queue full), for per-subscriber metrics. */
void flow_bus_sub_set_name(struct flow_bus_sub *sub, const char *name);
void flow_bus_sub_lost(struct flow_bus_sub *sub, uint64_t n);
/* Calls cb for every named live subscriber. */
void flow_bus_foreach_named(const struct flow_bus *bus,
			    void (*cb)(const char *name, uint64_t lost, void *ctx), void *ctx);

void flow_bus_publish(struct flow_bus *bus, const struct flow *f);
unsigned int flow_bus_count(const struct flow_bus *bus);

#endif /* FLOWSCOPE_FLOW_BUS_H */
