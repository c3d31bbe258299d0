/* flowctl's connection options and connection (see cli/conn.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conn.h"
#include "flowscope/base/parse.h"

#define CONN(field) offsetof(struct conn_opts, field)

/* Hubble's --tls-ca-cert-files is a string slice: repeatable, and each value may list several
 * files separated by commas. */
static int opt_ca_files(const struct opt *o, const char *arg, void *base, struct errmsg *e)
{
	struct conn_opts *co = base;
	char *copy, *tok, *save = NULL;

	(void)o;
	if (co->n_copies >= CONN_MAX_CAS)
		return errmsg_set(e, -EINVAL, "too many --tls-ca-cert-files (at most %d)",
				  CONN_MAX_CAS);
	copy = strdup(arg);
	if (!copy)
		return errmsg_set(e, -ENOMEM, "out of memory");
	co->ca_copies[co->n_copies++] = copy;
	for (tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		if (co->n_cas >= CONN_MAX_CAS)
			return errmsg_set(e, -EINVAL, "too many --tls-ca-cert-files (at most %d)",
					  CONN_MAX_CAS);
		co->cas[co->n_cas++] = tok;
	}
	if (!co->n_cas)
		return errmsg_set(e, -EINVAL, "invalid --tls-ca-cert-files '%s': use FILE[,FILE]",
				  arg);
	return 0;
}

const struct opt conn_opts_table[] = {
	{"server", 0, "ADDR",
	 "the server: HOST:PORT, tls://HOST[:PORT] (TLS), unix:///PATH\n(default: flowrelay's or "
	 "flowd's unix socket in\n$" RUNTIME_DIR_ENV " (" RUNTIME_DIR_DEFAULT ") when one "
	 "answers,\nelse " CONN_DEFAULT_SERVER ")",
	 opt_string, CONN(server)},
	{"tls", 0, NULL, "use TLS, verifying the server against the system's CAs", opt_flag,
	 CONN(tls)},
	{"tls-allow-insecure", 0, NULL,
	 "TLS without verifying the server's certificate and name\n(not recommended)", opt_flag,
	 CONN(tls_insecure)},
	{"tls-ca-cert-files", 0, "FILE[,FILE]",
	 "CA certificates (PEM) to verify the server with, instead of\nthe system's (implies --tls)",
	 opt_ca_files},
	{"tls-client-cert-file", 0, "FILE",
	 "client certificate (PEM), for mutual TLS (implies --tls)", opt_string, CONN(tls_cert)},
	{"tls-client-key-file", 0, "FILE", "... and its key (PEM)", opt_string, CONN(tls_key)},
	{"tls-server-name", 0, "NAME",
	 "name to verify in the server's certificate (default the\nserver's host; implies --tls)",
	 opt_string, CONN(tls_server_name)},
	{"token-file", 0, "FILE",
	 "send the token in FILE (the server's --token-file; else\nthe environment's " TOKEN_ENV
	 ", else, to a server\non this host, $" RUNTIME_DIR_ENV "/token when\nreadable)",
	 opt_string, CONN(token_file)},
	{"timeout", 0, "DUR", "how long to wait for the connection (default 5s)", opt_duration,
	 CONN(timeout_ns), 1000000},
	{"request-timeout", 0, "DUR",
	 "how long to wait for an answer to status and list (default\n12s)", opt_duration,
	 CONN(request_timeout_ns), 1000000},
	{0},
};

void conn_opts_init(struct conn_opts *co)
{
	memset(co, 0, sizeof(*co));
	co->timeout_ns = 5000000000ULL;
	co->request_timeout_ns = 12000000000ULL;
}

void conn_opts_free(struct conn_opts *co)
{
	size_t i;

	for (i = 0; i < co->n_copies; i++)
		free(co->ca_copies[i]);
	co->n_copies = co->n_cas = 0;
}

static int readable(const char *opt, const char *path, struct errmsg *e)
{
	if (access(path, R_OK))
		return errmsg_set(e, -EINVAL, "cannot read --%s '%s': %s", opt, path,
				  strerror(errno));
	return 0;
}

static int parse_server(struct conn_opts *co, struct errmsg *e)
{
	const char *s = co->server;

	co->unix_path[0] = '\0';
	if (!strncmp(s, "unix://", 7) || !strncmp(s, "unix:", 5)) {
		const char *path = s + (s[5] == '/' && s[6] == '/' ? 7 : 5);

		if (!*path || strlen(path) >= sizeof(co->unix_path))
			return errmsg_set(e, -EINVAL,
					  "invalid --server '%s': use unix:///PATH or unix:PATH",
					  s);
		snprintf(co->unix_path, sizeof(co->unix_path), "%s", path);
		return 0;
	}
	if (!strncmp(s, "tls://", 6)) {
		co->use_tls = true;
		s += 6;
	} else if (!strncmp(s, "dns:///", 7)) {
		s += 7;
	}
	/* gRPC's default port, for TLS targets as Hubble's relay gives them ("tls://relay"). */
	if (s != co->server && !strncmp(co->server, "tls://", 6) && *s && !strpbrk(s, ":[]") &&
	    strlen(s) < sizeof(co->host)) {
		snprintf(co->host, sizeof(co->host), "%s", s);
		co->port = 443;
		return 0;
	}
	if (parse_hostport(s, co->host, sizeof(co->host), &co->port) || !co->host[0])
		return errmsg_set(e, -EINVAL,
				  "invalid --server '%s': use HOST:PORT, [IPV6]:PORT, "
				  "tls://HOST[:PORT] or unix:///PATH, e.g. %s (flowd listens on "
				  "port 4245)",
				  co->server, CONN_DEFAULT_SERVER);
	return 0;
}

static bool is_loopback(const char *host)
{
	return !strcmp(host, "localhost") || !strcmp(host, "::1") || !strncmp(host, "127.", 4) ||
	       !strcmp(host, "ip6-localhost");
}

static int conn_token(struct conn_opts *co, struct errmsg *e)
{
	const char *env = getenv(TOKEN_ENV);

	co->token[0] = '\0';
	if (co->token_file)
		return token_read_file(co->token_file, co->token, sizeof(co->token), e);
	if (env && env[0]) {
		if (!token_valid(env, strlen(env)))
			return errmsg_set(e, -EINVAL,
					  "invalid " TOKEN_ENV ": use 1 to %d letters, digits or "
					  "any of -._~+/=",
					  TOKEN_MAX - 1);
		snprintf(co->token, sizeof(co->token), "%s", env);
		return 0;
	}
	/* The local servers' token file, when this user may read it (root): only for a server
	 * on this host, which is the one that wrote it. */
	if (co->unix_path[0] || is_loopback(co->host)) {
		char path[4200];

		snprintf(path, sizeof(path), "%s/" TOKEN_FILE_NAME, runtime_dir());
		if (!access(path, R_OK) &&
		    token_read_file(path, co->token, sizeof(co->token), NULL))
			co->token[0] = '\0';
	}
	return 0;
}

int conn_check(struct conn_opts *co, struct errmsg *e)
{
	size_t i;
	int r;

	co->use_tls = co->tls || co->tls_insecure || co->n_cas || co->tls_cert || co->tls_key ||
		      co->tls_server_name;
	co->server_given = co->server != NULL;
	if (!co->server)
		co->server = CONN_DEFAULT_SERVER;
	r = parse_server(co, e);
	if (r)
		return r;
	if (!co->tls_cert != !co->tls_key)
		return errmsg_set(e, -EINVAL,
				  "--tls-client-cert-file and --tls-client-key-file go together: "
				  "give both or neither");
	for (i = 0; i < co->n_cas; i++) {
		r = readable("tls-ca-cert-files", co->cas[i], e);
		if (r)
			return r;
	}
	r = co->tls_cert ? readable("tls-client-cert-file", co->tls_cert, e) : 0;
	r = r ?: (co->tls_key ? readable("tls-client-key-file", co->tls_key, e) : 0);
	return r ?: conn_token(co, e);
}

/* Without --server (and TLS options): the relay's socket, then flowd's, when they are there
 * and answer (a stale file refuses; a user not in the socket's group is refused too), then
 * TCP. With $FLOWSCOPE_RUNTIME_DIR both are looked for there; else the relay's in
 * RUNTIME_DIR_DEFAULT and in RELAY_RUNTIME_DIR_DEFAULT (its systemd unit's), flowd's in
 * RUNTIME_DIR_DEFAULT. Returns 0 with *out, or 1 for none. */
static int connect_local(struct conn_opts *co, struct grpc_client **out)
{
	const char *env = getenv(RUNTIME_DIR_ENV);
	const char *const dirs[] = {runtime_dir(), env && env[0] ? NULL : RELAY_RUNTIME_DIR_DEFAULT,
				    runtime_dir()};
	static const char *const names[] = {RELAY_SOCKET_NAME, RELAY_SOCKET_NAME,
					    FLOWD_SOCKET_NAME};
	char path[sizeof(co->unix_path)];
	struct errmsg e = {""};
	size_t i;

	if (co->server_given || co->use_tls)
		return 1;
	for (i = 0; i < 3; i++) {
		struct grpc_client_opts o = {.unix_path = path,
					     .timeout_ms = (int)(co->timeout_ns / 1000000),
					     .token = co->token[0] ? co->token : NULL};
		int n;

		if (!dirs[i])
			continue;
		n = snprintf(path, sizeof(path), "%s/%s", dirs[i], names[i]);
		if (n <= 0 || n >= (int)sizeof(path) || access(path, F_OK))
			continue;
		if (!grpc_client_connect(out, &o, &e)) {
			grpc_client_set_deadline(*out, 0);
			snprintf(co->via, sizeof(co->via), "unix://%s", path);
			return 0;
		}
	}
	return 1;
}

int conn_connect(struct conn_opts *co, struct grpc_client **out)
{
	struct grpc_client_opts o = {.host = co->host,
				     .port = co->port,
				     .unix_path = co->unix_path[0] ? co->unix_path : NULL,
				     .timeout_ms = (int)(co->timeout_ns / 1000000),
				     .tls = co->use_tls,
				     .tls_insecure = co->tls_insecure,
				     .tls_cas = co->cas,
				     .n_tls_cas = co->n_cas,
				     .tls_cert = co->tls_cert,
				     .tls_key = co->tls_key,
				     .tls_server_name = co->tls_server_name,
				     .token = co->token[0] ? co->token : NULL};
	struct errmsg e = {""};
	const char *hint = "";
	int r;

	snprintf(co->via, sizeof(co->via), "%s", co->server);
	r = connect_local(co, out) ? grpc_client_connect(out, &o, &e) : 0;

	if (!r) {
		grpc_client_set_deadline(*out, 0);
		return 0;
	}
	if (r == -ECONNREFUSED || r == -ENOENT)
		hint = " (is flowd running? start it with `make run`)";
	else if (strstr(e.text, "certificate verification failed"))
		hint = co->n_cas ? " (is --tls-ca-cert-files the CA that signed the server's "
				   "certificate, and --tls-server-name a name in it?)"
				 : " (--tls-ca-cert-files CA.pem trusts the CA that signed the "
				   "server's certificate)";
	else if (r == -ETIMEDOUT)
		hint = " (is the address right? a firewall may drop the packets; --timeout waits "
		       "longer)";
	fprintf(stderr, "flowctl: cannot connect to %s: %s%s\n", co->server, errmsg_text(&e, r),
		hint);
	return r;
}

const char *conn_status_name(int code)
{
	static const char *const names[] = {"OK",
					    "CANCELLED",
					    "UNKNOWN",
					    "INVALID_ARGUMENT",
					    "DEADLINE_EXCEEDED",
					    "NOT_FOUND",
					    "ALREADY_EXISTS",
					    "PERMISSION_DENIED",
					    "RESOURCE_EXHAUSTED",
					    "FAILED_PRECONDITION",
					    "ABORTED",
					    "OUT_OF_RANGE",
					    "UNIMPLEMENTED",
					    "INTERNAL",
					    "UNAVAILABLE",
					    "DATA_LOSS",
					    "UNAUTHENTICATED"};

	return code >= 0 && code < 17 ? names[code] : "?";
}
