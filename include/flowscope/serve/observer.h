/* Hubble's observer.Observer service (GetFlows, ServerStatus, GetNodes, GetNamespaces) and the
 * standard grpc.health.v1.Health, behind the gRPC server: GetFlows is a follower, the others read
 * the status snapshot. Hubble's semantics: first with follow is INVALID_ARGUMENT; number N
 * replays the newest N (with first the oldest N); follow alone replays nothing unless since asks;
 * neither number nor follow means everything stored. */
#ifndef FLOWSCOPE_SERVE_OBSERVER_H
#define FLOWSCOPE_SERVE_OBSERVER_H

#include "flowscope/serve/follower.h"
#include "flowscope/serve/grpc_server.h"
#include "flowscope/serve/status.h"

/* What the service answers from. */
struct observer {
	struct follower_hub *followers;
	const struct status_src *status;
};

/* The service for grpc_server_start(); o must outlive the server. */
struct grpc_service observer_service(struct observer *o);

#endif /* FLOWSCOPE_SERVE_OBSERVER_H */
