/* A small blocking gRPC client (nghttp2 client session over one TCP connection, h2c or TLS) for
 * flowctl and the tests: one call at a time, messages delivered to a callback as they arrive. */
#ifndef FLOWSCOPE_BASE_GRPC_CLIENT_H
#define FLOWSCOPE_BASE_GRPC_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <protobuf-c/protobuf-c.h>

#include "flowscope/base/errmsg.h"

struct grpc_client;

struct grpc_client_opts {
	const char *host; /* name or address */
	uint16_t port;
	const char *unix_path;	    /* instead of host and port: a unix socket's path */
	int timeout_ms;		    /* connect (and TLS handshake) timeout; 0: 5000 */
	bool tls;		    /* TLS, verified against the system's CAs unless CAs given */
	bool tls_insecure;	    /* TLS without verifying the server's certificate */
	const char *tls_ca;	    /* a CA bundle to verify the server (enables TLS) */
	const char *const *tls_cas; /* more CA bundles (n_tls_cas of them; enable TLS) */
	size_t n_tls_cas;
	const char *tls_cert, *tls_key; /* client certificate for mTLS */
	const char *tls_server_name;	/* name to verify; default host */
	const char *token; /* sent with every call as "authorization: Bearer <token>" */
};

/* Connects. Returns 0 or a negative errno with the reason in e: -ETIMEDOUT ("timed out") when
 * the server did not answer within timeout_ms, -ECONNREFUSED, -EHOSTUNREACH for a name that
 * does not resolve, -EPROTO for TLS failures. */
int grpc_client_connect(struct grpc_client **out, const struct grpc_client_opts *opts,
			struct errmsg *e);
void grpc_client_close(struct grpc_client *c);
/* cb(ctx) runs whenever the client has delivered messages and is about to wait for more:
 * the place to flush buffered output once per burst instead of once per message. */
void grpc_client_set_idle_cb(struct grpc_client *c, void (*cb)(void *ctx), void *ctx);
/* Calls end as if stopped (returning 1, CANCELLED) when fd reports an error or a hang-up, e.g.
 * stdout a pipe whose reader went away, so that `flowctl observe -f | head -1` ends with head
 * even when no flow comes to be written. -1: none. */
void grpc_client_watch_fd(struct grpc_client *c, int fd);
/* A deadline for each following call (0: none): the call is cancelled after ms and returns 4
 * (DEADLINE_EXCEEDED); the server is told in a grpc-timeout header. */
void grpc_client_set_deadline(struct grpc_client *c, int ms);
/* The connection's socket (for poll, or for tests that cut the connection). */
int grpc_client_fd(const struct grpc_client *c);

/* Called for each response message (unframed bytes). A non-zero return cancels the call. */
typedef int (*grpc_client_msg_cb)(const uint8_t *msg, size_t len, void *ctx);

/* Sends req on path and delivers every response message to cb until the server ends the
 * call, *stop becomes non-zero (checked at least every 200 ms; the call is cancelled), or the
 * connection fails. Returns the gRPC status (>= 0) with its message in e, or a negative errno
 * for transport failures (reason in e). */
int grpc_client_call(struct grpc_client *c, const char *path, const ProtobufCMessage *req,
		     grpc_client_msg_cb cb, void *ctx, volatile int *stop, struct errmsg *e);

/* The same with a request body given as is (already framed, or deliberately malformed) and
 * an optional content-type (NULL: application/grpc+proto). */
int grpc_client_call_raw(struct grpc_client *c, const char *path, const char *content_type,
			 const void *body, size_t len, grpc_client_msg_cb cb, void *ctx,
			 volatile int *stop, struct errmsg *e);

#endif /* FLOWSCOPE_BASE_GRPC_CLIENT_H */
