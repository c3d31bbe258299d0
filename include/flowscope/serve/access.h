/* Who may reach flowd's and flowrelay's API servers, as one group of options both binaries
 * take: the bearer token (from a file or FLOWSCOPE_TOKEN, never the command line) that HTTP
 * and, when asked, gRPC require; gRPC on a unix socket in the runtime directory (mode 0660,
 * root and a group), where clients need no token and flowctl looks first; HTTPS; nothing
 * beyond loopback without TLS and a token unless --insecure-listen says so. */
#ifndef FLOWSCOPE_SERVE_ACCESS_H
#define FLOWSCOPE_SERVE_ACCESS_H

#include <stdbool.h>

#include "flowscope/base/errmsg.h"
#include "flowscope/base/opts.h"
#include "flowscope/base/token.h"
#include "flowscope/serve/grpc_server.h"
#include "flowscope/serve/http_server.h"

struct serve_access {
	/* Options. */
	const char *token_file;
	bool grpc_require_token;
	const char *grpc_socket, *grpc_socket_group;
	bool no_grpc_socket;
	const char *http_tls_cert, *http_tls_key;
	bool http_no_token, insecure_listen;
	/* From serve_access_prepare(). */
	char token[TOKEN_MAX];	/* "" when none */
	const char *token_from; /* the file, or "FLOWSCOPE_TOKEN" */
	char token_path[4096];	/* the runtime directory's token file, when that is the one */
	bool token_made;	/* this start made it */
	char socket_path[108];	/* "" when none */
	long socket_gid;	/* 0: root's */
	bool grpc_tcp_token;	/* gRPC on TCP requires the token */
};

/* Where and how the binary serves, for the defaults and checks that depend on it. */
struct serve_listen {
	const char *socket_name; /* in the runtime directory: FLOWD_ or RELAY_SOCKET_NAME */
	const char *grpc_addr, *http_addr; /* numeric, as the servers will listen */
	bool grpc_tls, grpc_mtls;	   /* --tls-cert, --tls-client-ca */
};

struct opt_group serve_access_opt_group(struct serve_access *a);

/* After the options: listening beyond loopback is refused without TLS and a token (gRPC: the
 * token is then required on TCP, unless client certificates are, which authenticate better)
 * unless --insecure-listen, which only logs a warning; the token from --token-file (which must not
 * be readable or writable by others), else from FLOWSCOPE_TOKEN, else from the runtime directory's
 * token file, which is made (mode 0600, a new random token) when there is none; the socket's path
 * (its directory made if missing) and group (--grpc-socket-group, else "flowscope" when there is
 * such a group, else root's). Returns 0 or a negative errno with e saying what to fix. */
int serve_access_prepare(struct serve_access *a, const struct serve_listen *l, struct errmsg *e);

/* Puts the token and what requires it into both servers' options (a points into them: it
 * must outlive the servers). */
void serve_access_apply(const struct serve_access *a, struct grpc_server_opts *go,
			struct http_server_opts *ho);

/* The dashboard's login URL (after serve_access_apply(), with the HTTP server's options):
 * "http://127.0.0.1:12000/?token=..."; a wildcard address is given as loopback. Returns 0, or
 * -ENOENT when HTTP needs no token. */
int serve_access_login_url(const struct serve_access *a, const struct http_server_opts *ho,
			   char *out, size_t len);

/* Logs (info) what the operator needs once the servers run: that a token was made and where,
 * and the login URL. */
void serve_access_tell(const struct serve_access *a, const struct http_server_opts *ho);

#endif /* FLOWSCOPE_SERVE_ACCESS_H */
