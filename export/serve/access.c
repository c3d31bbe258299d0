/* Access to the API servers as options (see include/flowscope/serve/access.h). */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "flowscope/serve/access.h"

#define CFG(field) offsetof(struct serve_access, field)

static const struct opt access_opts[] = {
	{"token-file", 0, "FILE",
	 "the API token (else the environment's " TOKEN_ENV ";\nnever on the command line): "
	 "HTTP needs it; gRPC on TCP\ntoo with --grpc-require-token",
	 opt_string, CFG(token_file)},
	{"grpc-require-token", 0, NULL,
	 "gRPC on TCP needs the token too (then unmodified\nHubble clients need "
	 "--server unix:// or a token)",
	 opt_flag, CFG(grpc_require_token)},
	{0},
};

struct opt_group serve_access_opt_group(struct serve_access *a)
{
	return (struct opt_group){"Access:", access_opts, a};
}

int serve_access_prepare(struct serve_access *a, struct errmsg *e)
{
	const char *env = getenv(TOKEN_ENV);
	int err;

	a->token[0] = '\0';
	a->token_from = NULL;
	if (a->token_file) {
		err = token_file_check(a->token_file, e);
		err = err ?: token_read_file(a->token_file, a->token, sizeof(a->token), e);
		if (err)
			return err;
		a->token_from = a->token_file;
	} else if (env && env[0]) {
		if (!token_valid(env, strlen(env)))
			return errmsg_set(e, -EINVAL,
					  "invalid " TOKEN_ENV ": use 1 to %d letters, digits or "
					  "any of -._~+/=",
					  TOKEN_MAX - 1);
		snprintf(a->token, sizeof(a->token), "%s", env);
		a->token_from = TOKEN_ENV;
	}
	if (a->grpc_require_token && !a->token[0])
		return errmsg_set(
			e, -EINVAL,
			"--grpc-require-token needs a token: --token-file FILE or " TOKEN_ENV);
	return 0;
}

void serve_access_apply(const struct serve_access *a, struct grpc_server_opts *go,
			struct http_server_opts *ho)
{
	const char *t = a->token[0] ? a->token : NULL;

	go->token = t;
	go->require_token = t && a->grpc_require_token;
	ho->token = t;
	ho->token_file = a->token_from && strcmp(a->token_from, TOKEN_ENV) ? a->token_from : NULL;
}
