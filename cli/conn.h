/* Internal to flowctl: the connection options every command takes (Hubble's names: --server,
 * --tls, --tls-allow-insecure, --tls-ca-cert-files, --tls-client-cert-file,
 * --tls-client-key-file, --tls-server-name, --timeout, --request-timeout), checked before
 * anything is sent, and the connection they describe. */
#ifndef FLOWSCOPE_CLI_CONN_H
#define FLOWSCOPE_CLI_CONN_H

#include <stdbool.h>
#include <stdint.h>

#include "flowscope/base/errmsg.h"
#include "flowscope/base/grpc_client.h"
#include "flowscope/base/opts.h"
#include "flowscope/base/token.h"

#define CONN_DEFAULT_SERVER "localhost:4245"
#define CONN_MAX_CAS 16

struct conn_opts {
	/* As given. */
	const char *server;
	bool tls, tls_insecure;
	const char *cas[CONN_MAX_CAS]; /* --tls-ca-cert-files, repeatable and comma-separated */
	size_t n_cas;
	char *ca_copies[CONN_MAX_CAS]; /* the comma-separated values, split */
	size_t n_copies;
	const char *tls_cert, *tls_key, *tls_server_name;
	const char *token_file;
	uint64_t timeout_ns, request_timeout_ns;
	/* From conn_check(). */
	bool server_given; /* else the relay's or flowd's unix socket when one answers, then
			    * CONN_DEFAULT_SERVER */
	bool use_tls;
	char host[256];
	uint16_t port;
	char unix_path[108];
	/* --token-file's, else FLOWSCOPE_TOKEN's, else (a server on this host) the runtime
	 * directory's token file's when this user may read it, else "". */
	char token[TOKEN_MAX];
	/* From conn_connect(): where it connected ("unix:///run/flowscope/flowd.sock"). */
	char via[160];
};

extern const struct opt conn_opts_table[];

void conn_opts_init(struct conn_opts *co);
void conn_opts_free(struct conn_opts *co);

/* Checks the options together: the server's form (HOST:PORT, [V6]:PORT, tls://HOST:PORT,
 * unix:///PATH or unix:PATH), the certificate files readable, a key with its certificate,
 * the token (--token-file, else FLOWSCOPE_TOKEN) read.
 * Returns 0 or -EINVAL with e saying what to fix. */
int conn_check(struct conn_opts *co, struct errmsg *e);

/* Connects (after conn_check); on failure prints why, with a hint for a refused or timed-out
 * connection, and returns a negative errno. */
int conn_connect(struct conn_opts *co, struct grpc_client **out);

/* The gRPC status code's name ("INVALID_ARGUMENT"). */
const char *conn_status_name(int code);

#endif /* FLOWSCOPE_CLI_CONN_H */
