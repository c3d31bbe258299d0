/* Hubble's observer.Observer service (and grpc.health.v1.Health) on top of the gRPC server:
 * GetFlows with Hubble's request semantics and filters, ServerStatus, GetNodes. */
#ifndef FLOWSCOPE_OBSERVER_SERVICE_H
#define FLOWSCOPE_OBSERVER_SERVICE_H

#include <stddef.h>
#include <stdint.h>

#include "flowscope/serve/grpc_server.h"

/* Handles a complete request message for path; finishes the call or keeps it streaming. */
void observer_service_dispatch(struct grpc_call *call, const char *path, const uint8_t *msg,
			       size_t len);
/* The call's queue went below half: the service may send a pending lost-events message. */
void observer_service_drained(struct grpc_call *call, void *svc);

#endif /* FLOWSCOPE_OBSERVER_SERVICE_H */
