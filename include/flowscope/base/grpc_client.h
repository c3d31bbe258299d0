/* A small blocking gRPC client (nghttp2 client session over one TCP connection, h2c or TLS) for
 * flowctl and the tests: one call at a time, messages delivered to a callback as they arrive. */
#ifndef FLOWSCOPE_BASE_GRPC_CLIENT_H
#define FLOWSCOPE_BASE_GRPC_CLIENT_H

#include <stddef.h>
#include <stdint.h>
#include <protobuf-c/protobuf-c.h>

#include "flowscope/base/errmsg.h"

struct grpc_client;

struct grpc_client_opts {
	const char *host; /* name or address */
	uint16_t port;
	int timeout_ms;			/* connect timeout; 0: 5000 */
	const char *tls_ca;		/* enables TLS: CA bundle to verify the server */
	const char *tls_cert, *tls_key; /* client certificate for mTLS */
	const char *tls_server_name;	/* name to verify; default host */
};

/* Connects. Returns 0 or a negative errno with the reason in e. */
int grpc_client_connect(struct grpc_client **out, const struct grpc_client_opts *opts,
			struct errmsg *e);
void grpc_client_close(struct grpc_client *c);
/* cb(ctx) runs whenever the client has delivered messages and is about to wait for more:
 * the place to flush buffered output once per burst instead of once per message. */
void grpc_client_set_idle_cb(struct grpc_client *c, void (*cb)(void *ctx), void *ctx);
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
