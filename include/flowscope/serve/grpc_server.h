/* A gRPC server (nghttp2 + protobuf-c) on a libuv loop: h2c by default, TLS/mTLS with OpenSSL
 * when given certificates. It handles HTTP/2, framing, status trailers and each call's bounded
 * output queue; a service (serve/observer.h for Hubble's API) answers the calls. */
#ifndef FLOWSCOPE_SERVE_GRPC_SERVER_H
#define FLOWSCOPE_SERVE_GRPC_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <protobuf-c/protobuf-c.h>

#include <uv.h>

#include "flowscope/base/errmsg.h"
#include "flowscope/base/msg_queue.h"

struct grpc_server;

struct grpc_server_opts {
	const char *addr;	/* numeric address; default 127.0.0.1 */
	bool ipv6_loopback_too; /* also listen on [::1] (for clients that resolve localhost so) */
	uint16_t port;		/* default 4245 */
	uint32_t follow_queue;	/* flows queued per follower before it loses some; 0: 4096 */
	/* ... and bytes (0: 4 MiB); all followers of the binary's servers together hold at most
	 * follow_budget's max (NULL: no total bound). */
	size_t follow_queue_bytes;
	struct msg_queue_budget *follow_budget;
	uint32_t max_request_bytes; /* largest request message accepted; 0: 4 MiB */
	/* Streams open at once on one connection (0: 100: past it nghttp2 refuses them), and
	 * bytes of requests still being received on all connections together (0: 16 MiB: past it
	 * a request is answered RESOURCE_EXHAUSTED). */
	uint32_t max_streams;
	size_t max_pending_request_bytes;
	/* A call whose queue stays full with nothing read for this long (0: 60 s) is reset
	 * (RST_STREAM CANCEL; counted, logged at most once a second). */
	uint32_t slow_client_timeout_ms;
	/* Connections at once on each listener (0: 512) and from one client address (0: 64):
	 * past either a new connection is closed as soon as it is accepted (counted, logged at
	 * most once a second). A connection without a call for idle_timeout_ms (0: 5 min) is
	 * told GOAWAY and closed. */
	uint32_t max_conns, max_conns_per_client, idle_timeout_ms;
	const char *tls_cert;	   /* PEM certificate chain: enables TLS */
	const char *tls_key;	   /* PEM private key */
	const char *tls_client_ca; /* PEM CA bundle: require and verify client certificates */
	/* With require_token, every call on a TCP connection must carry "authorization: Bearer
	 * <token>" or is answered UNAUTHENTICATED (16); calls on the unix socket, whose file
	 * permissions say who may connect, need none. */
	const char *token;
	bool require_token;
	/* Also serve on a unix socket at unix_path (NULL: none), created with unix_mode (0:
	 * 0660) and group unix_gid (0: the process's). A stale socket there is replaced; one a
	 * live server answers on is left to it (logged) and this server goes without. */
	const char *unix_path;
	unsigned int unix_mode;
	long unix_gid;
};

struct grpc_call;

/* The service behind the server. */
struct grpc_service {
	/* A complete request message for path: finish the call or keep it streaming. */
	void (*dispatch)(struct grpc_call *call, const char *path, const uint8_t *msg, size_t len,
			 void *ctx);
	void *ctx;
};

/* Starts serving. Returns 0 or a negative errno with e set (address in use, bad certificate). */
int grpc_server_start(struct grpc_server **out, uv_loop_t *loop,
		      const struct grpc_server_opts *opts, const struct grpc_service *svc,
		      struct errmsg *e);
/* Ends every call (clients see the connection close) and frees s once the loop has run. */
void grpc_server_stop(struct grpc_server *s);

/* ---- The call API used by services. ---- */

/* Queues one message already framed (0, 4-byte big-endian length, bytes). Returns 0,
 * -ENOBUFS when the call's queue is full and !force (the caller counts the loss), -ENOMEM,
 * or -EPIPE after grpc_call_finish(). */
int grpc_call_send_frame(struct grpc_call *call, const void *frame, size_t len, bool force);
/* Frames and queues a message (always accepted, like a forced frame). */
int grpc_call_send_msg(struct grpc_call *call, const ProtobufCMessage *m);
/* Ends the call after the queued messages: grpc-status/grpc-message trailers. */
void grpc_call_finish(struct grpc_call *call, int status, const char *message);
/* The service's per-call state and what to do with it: drained (may be NULL) runs when the
 * call's queue went below half, svc_free when the call ends for any reason (finished,
 * cancelled by the client, connection lost, server stopping). */
struct grpc_call_ops {
	void (*drained)(struct grpc_call *call, void *svc);
	void (*svc_free)(void *svc);
};
void grpc_call_set_service(struct grpc_call *call, void *svc, const struct grpc_call_ops *ops);
uint32_t grpc_call_queued(struct grpc_call *call);
/* No room for another flow: its own bounds or the followers' budget. */
bool grpc_call_queue_full(struct grpc_call *call);
uint32_t grpc_call_queue_limit(struct grpc_call *call);

/* gRPC status codes used by the server. */
enum grpc_status {
	GRPC_OK = 0,
	GRPC_CANCELLED = 1,
	GRPC_UNKNOWN = 2,
	GRPC_INVALID_ARGUMENT = 3,
	GRPC_NOT_FOUND = 5,
	GRPC_RESOURCE_EXHAUSTED = 8,
	GRPC_FAILED_PRECONDITION = 9,
	GRPC_OUT_OF_RANGE = 11,
	GRPC_UNIMPLEMENTED = 12,
	GRPC_INTERNAL = 13,
	GRPC_UNAVAILABLE = 14,
	GRPC_UNAUTHENTICATED = 16,
};

#endif /* FLOWSCOPE_SERVE_GRPC_SERVER_H */
