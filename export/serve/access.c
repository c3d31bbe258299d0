/* Access to the API servers as options (see include/flowscope/serve/access.h). */
#include <arpa/inet.h>
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
	 "the API token (else the environment's " TOKEN_ENV ",\nelse $" RUNTIME_DIR_ENV
	 "/token, made at the first\nstart, root only; never on the command line): HTTP\nneeds "
	 "it; gRPC on TCP too with --grpc-require-token",
	 opt_string, CFG(token_file)},
	{"http-no-token", 0, NULL,
	 "HTTP without the token (every local user then reads\nevery flow)", opt_flag,
	 CFG(http_no_token)},
	{"insecure-listen", 0, NULL,
	 "allow gRPC or HTTP beyond loopback without TLS and the\ntoken (anyone who reaches "
	 "it reads every flow; for test\nnetworks): a warning instead of a refusal",
	 opt_flag, CFG(insecure_listen)},
	{"grpc-require-token", 0, NULL,
	 "gRPC on TCP needs the token too (then unmodified\nHubble clients need "
	 "--server unix:// or a token)",
	 opt_flag, CFG(grpc_require_token)},
	{"grpc-socket", 0, "PATH",
	 "also serve gRPC on this unix socket, whose clients need\nno token (default "
	 "$" RUNTIME_DIR_ENV
	 "/flowd.sock,\nflowrelay's relay.sock; the directory is " RUNTIME_DIR_DEFAULT
	 "\nwhen " RUNTIME_DIR_ENV " is not set)",
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

/* No token given: the runtime directory's, made at the first start (every Flowscope server on
 * the host then shares it, and flowctl run as root finds it). */
static int default_token(struct serve_access *a, struct errmsg *e)
{
	char fresh[TOKEN_MAX];
	int n = snprintf(a->token_path, sizeof(a->token_path), "%s/" TOKEN_FILE_NAME,
			 runtime_dir());
	int err;

	if (n <= 0 || n >= (int)sizeof(a->token_path))
		return errmsg_set(e, -ENAMETOOLONG, "the runtime directory's path is too long");
	a->token_from = a->token_path;
	err = make_parent(a->token_path, "token file", e);
	if (err)
		return err;
	err = token_file_check(a->token_path, e);
	if (err == -ENOENT) {
		err = token_generate(fresh, sizeof(fresh));
		if (err)
			return errmsg_set(e, err, "cannot make a token: %s", strerror(-err));
		err = token_write_new(a->token_path, fresh, e);
		if (!err) {
			snprintf(a->token, sizeof(a->token), "%s", fresh);
			a->token_made = true;
			return 0;
		}
		if (err != -EEXIST) /* another server made it meanwhile: read it */
			return err;
		err = token_file_check(a->token_path, e);
	}
	return err ?: token_read_file(a->token_path, a->token, sizeof(a->token), e);
}

/* 127.0.0.0/8, ::1, ::ffff:127.0.0.0/104; a wildcard is not. */
static bool is_loopback(const char *addr)
{
	unsigned char b[16];

	if (inet_pton(AF_INET, addr, b) == 1)
		return b[0] == 127;
	if (inet_pton(AF_INET6, addr, b) != 1)
		return false;
	if (!memcmp(b, "\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\1", 16))
		return true;
	return !memcmp(b, "\0\0\0\0\0\0\0\0\0\0\xff\xff", 12) && b[12] == 127;
}

/* Beyond loopback: TLS and the token, or --insecure-listen and a warning. */
static int check_listen(struct serve_access *a, const struct serve_listen *l, struct errmsg *e)
{
	bool grpc_out = l->grpc_addr && !is_loopback(l->grpc_addr);
	bool http_out = l->http_addr && !is_loopback(l->http_addr);
	bool http_tls = a->http_tls_cert != NULL;

	a->grpc_tcp_token = a->grpc_require_token || (grpc_out && l->grpc_tls && !l->grpc_mtls);
	if (grpc_out && !l->grpc_tls) {
		if (!a->insecure_listen)
			return errmsg_set(
				e, -EPERM,
				"refusing to serve gRPC on %s without TLS: anyone who can "
				"reach it would read every flow. Give --tls-cert and "
				"--tls-key (clients then need the token, or with "
				"--tls-client-ca a certificate), listen on loopback, or "
				"say --insecure-listen (test networks)",
				l->grpc_addr);
		logmsg(LOG_LEVEL_WARN,
		       "gRPC on %s without TLS (--insecure-listen): anyone who can reach it reads "
		       "every flow%s",
		       l->grpc_addr, a->grpc_require_token ? ", and the token in the clear" : "");
	}
	if (http_out && (!http_tls || a->http_no_token)) {
		if (!a->insecure_listen)
			return errmsg_set(
				e, -EPERM,
				"refusing to serve HTTP on %s %s: anyone who can reach it "
				"would read every flow%s. Give --http-tls-cert and "
				"--http-tls-key%s, listen on loopback, or say "
				"--insecure-listen (test networks)",
				l->http_addr, http_tls ? "without the token" : "without TLS",
				http_tls ? "" : " or catch the token on the way",
				a->http_no_token ? " without --http-no-token" : "");
		logmsg(LOG_LEVEL_WARN,
		       "HTTP on %s %s (--insecure-listen): anyone who can reach it %s",
		       l->http_addr, a->http_no_token ? "without the token" : "without TLS",
		       a->http_no_token ? "reads every flow" : "can catch the token on the way");
	} else if (a->http_no_token) {
		logmsg(LOG_LEVEL_WARN,
		       "HTTP without the token (--http-no-token): every local user reads every flow");
	}
	return 0;
}

int serve_access_prepare(struct serve_access *a, const struct serve_listen *l, struct errmsg *e)
{
	const char *env = getenv(TOKEN_ENV);
	int err;

	a->token[0] = '\0';
	a->token_from = NULL;
	a->token_made = false;
	err = check_listen(a, l, e);
	if (err)
		return err;
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
	} else if (!a->http_no_token || a->grpc_tcp_token) {
		err = default_token(a, e);
		if (err)
			return err;
	}
	return prepare_socket(a, l, e);
}

void serve_access_apply(const struct serve_access *a, struct grpc_server_opts *go,
			struct http_server_opts *ho)
{
	const char *t = a->token[0] ? a->token : NULL;

	go->token = t;
	go->require_token = t && a->grpc_tcp_token;
	go->unix_path = a->socket_path[0] ? a->socket_path : NULL;
	go->unix_mode = 0660;
	go->unix_gid = a->socket_gid;
	ho->token = a->http_no_token ? NULL : t;
	ho->tls_cert = a->http_tls_cert;
	ho->tls_key = a->http_tls_key;
	ho->token_file = a->token_from && strcmp(a->token_from, TOKEN_ENV) ? a->token_from : NULL;
}

static void url_token(char *out, size_t len, const char *t)
{
	size_t o = 0;

	/* Letters, digits and -._~ go as they are; +/= (a base64 token's) are escaped. */
	for (; *t && o + 4 < len; t++) {
		if (strchr("+/=", *t))
			o += (size_t)snprintf(out + o, len - o, "%%%02X", (unsigned char)*t);
		else
			out[o++] = *t;
	}
	out[o] = '\0';
}

int serve_access_login_url(const struct serve_access *a, const struct http_server_opts *ho,
			   char *out, size_t len)
{
	const char *host = ho->addr ? ho->addr : "127.0.0.1";
	bool v6 = strchr(host, ':') != NULL;
	char tok[3 * TOKEN_MAX];

	if (!ho->token)
		return -ENOENT;
	/* A wildcard address is reached at loopback from here. */
	if (!strcmp(host, "0.0.0.0"))
		host = "127.0.0.1";
	else if (!strcmp(host, "::"))
		host = "::1";
	url_token(tok, sizeof(tok), a->token);
	snprintf(out, len, "%s://%s%s%s:%u/?token=%s", ho->tls_cert ? "https" : "http",
		 v6 ? "[" : "", host, v6 ? "]" : "", ho->port ? ho->port : 12000, tok);
	return 0;
}

void serve_access_tell(const struct serve_access *a, const struct http_server_opts *ho)
{
	char url[3 * TOKEN_MAX + 300];

	if (a->token_made)
		logmsg(LOG_LEVEL_INFO, "made a new API token in %s (readable by root only)",
		       a->token_path);
	if (!serve_access_login_url(a, ho, url, sizeof(url)))
		logmsg(LOG_LEVEL_INFO, "dashboard: %s", url);
}
