/* Who may reach flowd's and flowrelay's API servers, as one group of options both binaries
 * take: the bearer token (from a file or FLOWSCOPE_TOKEN, never the command line) that HTTP
 * and, when asked, gRPC require. */
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
	/* From serve_access_prepare(). */
	char token[TOKEN_MAX];	/* "" when none */
	const char *token_from; /* the file, or "FLOWSCOPE_TOKEN" */
};

struct opt_group serve_access_opt_group(struct serve_access *a);

/* After the options: the token from --token-file (which must not be readable or writable by
 * others), else from FLOWSCOPE_TOKEN. Returns 0 or a negative errno with e saying what to fix. */
int serve_access_prepare(struct serve_access *a, struct errmsg *e);

/* Puts the token and what requires it into both servers' options (a points into them: it
 * must outlive the servers). */
void serve_access_apply(const struct serve_access *a, struct grpc_server_opts *go,
			struct http_server_opts *ho);

#endif /* FLOWSCOPE_SERVE_ACCESS_H */
