/* Shared by the ClickHouse tests and the benchmark: Debian's clickhouse-server started by the
 * program itself, with a config of its own in a temporary directory (loopback only, free ports,
 * its data in that directory: nothing under /var/lib/clickhouse, no default port taken), killed
 * and started again on the same ports and data for outage tests, stopped and removed at the end;
 * and queries to it over the HTTP interface. Header-only; needs /usr/sbin/clickhouse-server. */
#ifndef FLOWSCOPE_TESTS_CLICKHOUSE_HARNESS_H
#define FLOWSCOPE_TESTS_CLICKHOUSE_HARNESS_H

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "flowscope/base/buf.h"
#include "flowscope/exporters/clickhouse_http.h"

#define CH_SERVER_BIN "/usr/sbin/clickhouse-server"

struct ch_server {
	pid_t pid;
	char dir[64];
	uint16_t http_port, tcp_port;
	char url[64]; /* http://127.0.0.1:PORT */
	struct ch_target t;
};

/* A port no one listens on now (bound and released: another program could take it meanwhile,
 * which the start would then report). */
static inline uint16_t ch_free_port(void)
{
	struct sockaddr_in a = {.sin_family = AF_INET};
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	uint16_t port = 0;

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd >= 0 && !bind(fd, (struct sockaddr *)&a, sizeof(a)) &&
	    !getsockname(fd, (struct sockaddr *)&a, &len))
		port = ntohs(a.sin_port);
	if (fd >= 0)
		close(fd);
	return port;
}

static inline int ch_server_config(const struct ch_server *s)
{
	char p[128];
	FILE *f;

	snprintf(p, sizeof(p), "%s/users.xml", s->dir);
	f = fopen(p, "w");
	if (!f)
		return -errno;
	fputs("<?xml version=\"1.0\"?>\n<yandex><profiles><default>"
	      "<max_memory_usage>4000000000</max_memory_usage></default></profiles>"
	      "<users><default><password></password><networks><ip>127.0.0.1</ip></networks>"
	      "<profile>default</profile><quota>default</quota></default>"
	      "<flowscope><password>secret</password><networks><ip>127.0.0.1</ip></networks>"
	      "<profile>default</profile><quota>default</quota></flowscope></users>"
	      "<quotas><default></default></quotas></yandex>\n",
	      f);
	fclose(f);
	snprintf(p, sizeof(p), "%s/config.xml", s->dir);
	f = fopen(p, "w");
	if (!f)
		return -errno;
	fprintf(f,
		"<?xml version=\"1.0\"?>\n<yandex>\n"
		"<logger><level>warning</level><log>%s/server.log</log>"
		"<errorlog>%s/server.err.log</errorlog><size>10M</size><count>1</count></logger>\n"
		"<http_port>%u</http_port><tcp_port>%u</tcp_port>"
		"<listen_host>127.0.0.1</listen_host>\n"
		"<path>%s/data/</path><tmp_path>%s/tmp/</tmp_path>"
		"<user_files_path>%s/user_files/</user_files_path>"
		"<format_schema_path>%s/format_schemas/</format_schema_path>\n"
		"<users_config>%s/users.xml</users_config><default_profile>default</default_profile>"
		"<default_database>default</default_database><timezone>UTC</timezone>\n"
		"<mark_cache_size>268435456</mark_cache_size>"
		"<uncompressed_cache_size>268435456</uncompressed_cache_size>"
		"<keep_alive_timeout>3</keep_alive_timeout>"
		"<max_concurrent_queries>100</max_concurrent_queries>"
		"<mlock_executable>false</mlock_executable>\n</yandex>\n",
		s->dir, s->dir, s->http_port, s->tcp_port, s->dir, s->dir, s->dir, s->dir, s->dir);
	fclose(f);
	return 0;
}

static inline int ch_discard(const char *p, size_t n, void *ctx)
{
	(void)p;
	(void)n;
	(void)ctx;
	return 0;
}

/* Starts (or starts again) the server of s; waits until it answers (at most 60 s). */
static inline int ch_server_run(struct ch_server *s)
{
	char conf[128], out[128];
	struct errmsg e = {""};
	int i;

	snprintf(conf, sizeof(conf), "--config-file=%s/config.xml", s->dir);
	snprintf(out, sizeof(out), "%s/stdout", s->dir);
	s->pid = fork();
	if (s->pid < 0)
		return -errno;
	if (s->pid == 0) {
		FILE *f = freopen(out, "a", stdout);

		(void)f;
		dup2(1, 2);
		setpgid(0, 0);
		execl(CH_SERVER_BIN, CH_SERVER_BIN, conf, (char *)NULL);
		_exit(127);
	}
	for (i = 0; i < 600; i++) {
		if (!ch_http_run(&s->t, "SELECT 1", NULL, 0, 2000, ch_discard, NULL, &e))
			return 0;
		if (waitpid(s->pid, NULL, WNOHANG) == s->pid) {
			s->pid = 0;
			return -ECHILD;
		}
		usleep(100000);
	}
	return -ETIMEDOUT;
}

/* Kills the server at once (SIGKILL: no clean shutdown, as a crash or an outage). */
static inline void ch_server_kill(struct ch_server *s)
{
	if (s->pid > 0) {
		kill(s->pid, SIGKILL);
		waitpid(s->pid, NULL, 0);
	}
	s->pid = 0;
}

static inline int ch_server_start(struct ch_server *s)
{
	struct errmsg e = {""};
	int err;

	memset(s, 0, sizeof(*s));
	strcpy(s->dir, "/tmp/fs-ch-XXXXXX");
	if (!mkdtemp(s->dir))
		return -errno;
	s->http_port = ch_free_port();
	s->tcp_port = ch_free_port();
	while (s->tcp_port == s->http_port)
		s->tcp_port = ch_free_port();
	snprintf(s->url, sizeof(s->url), "http://127.0.0.1:%u", s->http_port);
	if (ch_target_parse(&s->t, s->url, "test", &e) || ch_target_resolve(&s->t, &e))
		return -EINVAL;
	err = ch_server_config(s);
	return err ?: ch_server_run(s);
}

/* Stops the server and removes its directory. */
static inline void ch_server_stop(struct ch_server *s)
{
	char cmd[128];

	ch_server_kill(s);
	if (s->dir[0] && !strncmp(s->dir, "/tmp/fs-ch-", 11)) {
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", s->dir);
		if (system(cmd))
			fprintf(stderr, "cannot remove %s\n", s->dir);
	}
	s->dir[0] = '\0';
}

static inline int ch_collect(const char *p, size_t n, void *ctx)
{
	return buf_append(ctx, p, n) ? 1 : 0;
}

/* Runs sql; its answer (NUL-terminated) in out. Returns 0 or a negative errno (e's text). */
static inline int ch_sql(struct ch_server *s, const char *sql, struct buf *out, struct errmsg *e)
{
	buf_reset(out);
	return ch_http_run(&s->t, sql, NULL, 0, 30000, ch_collect, out, e) ?: buf_puts(out, "");
}

/* The number the query answers (a count()), or -1. */
static inline long long ch_sql_num(struct ch_server *s, const char *sql)
{
	struct buf b = BUF_INIT;
	struct errmsg e = {""};
	long long v = ch_sql(s, sql, &b, &e) ? -1 : atoll(b.data);

	buf_free(&b);
	return v;
}

#endif /* FLOWSCOPE_TESTS_CLICKHOUSE_HARNESS_H */
