/* Access to the API servers as options (see include/flowscope/serve/access.h). */
#include <errno.h>
#include <grp.h>
#include <libgen.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

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
	{"grpc-socket", 0, "PATH",
	 "also serve gRPC on this unix socket, whose clients need\nno token (default "
	 "$" RUNTIME_DIR_ENV
	 "/flowd.sock,\nflowrelay: relay.sock; the directory defaults to " RUNTIME_DIR_DEFAULT ")",
	 opt_string, CFG(grpc_socket)},
	{"grpc-socket-group", 0, "GROUP",
	 "the socket's group: root and GROUP may connect (mode\n0660; default flowscope if that "
	 "group exists, else\nroot only)",
	 opt_string, CFG(grpc_socket_group)},
	{"no-grpc-socket", 0, NULL, "no unix socket", opt_flag, CFG(no_grpc_socket)},
	{"http-tls-cert", 0, "FILE", "serve HTTPS with this PEM certificate chain", opt_string,
	 CFG(http_tls_cert)},
	{"http-tls-key", 0, "FILE", "... and this PEM private key", opt_string, CFG(http_tls_key)},
	{0},
};

struct opt_group serve_access_opt_group(struct serve_access *a)
{
	return (struct opt_group){"Access:", access_opts, a};
}

/* GROUP as a name or a number. */
static int socket_group(struct serve_access *a, struct errmsg *e)
{
	const char *g = a->grpc_socket_group;
	struct group *gr;
	char *end;
	long n;

	a->socket_gid = 0;
	if (!g) {
		gr = getgrnam("flowscope");
		a->socket_gid = gr ? (long)gr->gr_gid : 0;
		return 0;
	}
	gr = getgrnam(g);
	if (gr) {
		a->socket_gid = (long)gr->gr_gid;
		return 0;
	}
	n = strtol(g, &end, 10);
	if (!*g || *end || n < 0 || n > 0x7fffffff)
		return errmsg_set(e, -EINVAL,
				  "invalid --grpc-socket-group '%s': no such group (use a group "
				  "name from /etc/group or a number)",
				  g);
	a->socket_gid = n;
	return 0;
}

/* The directory of path, made (0755) when missing: /run/flowscope is on a tmpfs. */
static int make_parent(const char *path, const char *what, struct errmsg *e)
{
	char dir[4096];

	snprintf(dir, sizeof(dir), "%s", path);
	if (mkdir(dirname(dir), 0755) && errno != EEXIST) {
		snprintf(dir, sizeof(dir), "%s", path);
		return errmsg_set(e, -errno, "cannot make the directory of the %s, %s: %s", what,
				  dirname(dir), strerror(errno));
	}
	return 0;
}

static int prepare_socket(struct serve_access *a, const struct serve_listen *l, struct errmsg *e)
{
	int n;

	a->socket_path[0] = '\0';
	if (a->no_grpc_socket)
		return 0;
	if (a->grpc_socket)
		n = snprintf(a->socket_path, sizeof(a->socket_path), "%s", a->grpc_socket);
	else
		n = snprintf(a->socket_path, sizeof(a->socket_path), "%s/%s", runtime_dir(),
			     l->socket_name);
	if (n <= 0 || n >= (int)sizeof(a->socket_path))
		return errmsg_set(e, -ENAMETOOLONG,
				  "invalid --grpc-socket '%s': a unix socket's path has at most "
				  "%zu bytes",
				  a->socket_path, sizeof(a->socket_path) - 1);
	return socket_group(a, e) ?: make_parent(a->socket_path, "gRPC socket", e);
}

int serve_access_prepare(struct serve_access *a, const struct serve_listen *l, struct errmsg *e)
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
	return prepare_socket(a, l, e);
}

void serve_access_apply(const struct serve_access *a, struct grpc_server_opts *go,
			struct http_server_opts *ho)
{
	const char *t = a->token[0] ? a->token : NULL;

	go->token = t;
	go->require_token = t && a->grpc_require_token;
	go->unix_path = a->socket_path[0] ? a->socket_path : NULL;
	go->unix_mode = 0660;
	go->unix_gid = a->socket_gid;
	ho->token = t;
	ho->tls_cert = a->http_tls_cert;
	ho->tls_key = a->http_tls_key;
	ho->token_file = a->token_from && strcmp(a->token_from, TOKEN_ENV) ? a->token_from : NULL;
}
