/* Internal to the relay: strings and identities of the flows other nodes told, kept once each
 * for the relay's life (flows in its store and event log point at them). Bounded: past the
 * limit a string is not kept (NULL) and counted. Loop thread only. */
#ifndef FLOWSCOPE_RELAY_INTERN_H
#define FLOWSCOPE_RELAY_INTERN_H

#include <stddef.h>
#include <stdint.h>

#include "flow.pb-c.h"
#include "flowscope/enrich/identity.h"
#include "flowscope/flow.h"

struct intern;

struct intern *intern_new(size_t max_strings);
void intern_free(struct intern *t);

/* The kept copy of s (NULL for NULL, "" or past the limit). */
const char *intern_str(struct intern *t, const char *s);

/* The identity an endpoint and its service tell (namespace, pod, labels, workload, numeric
 * identity), kept once per distinct content; NULL for NULL or past the limit. */
const struct identity *intern_identity(struct intern *t, const Flow__Endpoint *ep,
				       const Flow__Service *svc);

/* The process record p tells, kept once per distinct content (its container id too); NULL for
 * NULL or past the limit. */
const struct flow_process *intern_process(struct intern *t, const struct flow_process *p);

/* Strings not kept because the limit was reached. */
uint64_t intern_refused(const struct intern *t);

#endif /* FLOWSCOPE_RELAY_INTERN_H */
