/* Tests of the access options (export/serve/access.c) as flowd and flowrelay use them: which
 * listen addresses are refused without TLS and the token and what --insecure-listen allows,
 * when gRPC on TCP requires the token, where the token comes from (--token-file, the
 * environment, the runtime directory's file made once with mode 0600 and kept), and the login
 * URL. The servers' side of the token and the socket is test_grpc's and test_http's. */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "flowscope/serve/access.h"

static char dir[64], tokfile[128];

static void setup(void)
{
	snprintf(dir, sizeof(dir), "/tmp/flowscope-access-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	setenv(RUNTIME_DIR_ENV, dir, 1);
	unsetenv(TOKEN_ENV);
	snprintf(tokfile, sizeof(tokfile), "%s/" TOKEN_FILE_NAME, dir);
}

static void teardown(void)
{
	char p[160];

	unlink(tokfile);
	snprintf(p, sizeof(p), "%s/given", dir);
	unlink(p);
	rmdir(dir);
}

/* serve_access_prepare() for flowd listening at grpc and http. */
static int prepare(struct serve_access *a, const char *grpc, const char *http, bool tls, bool mtls,
		   struct errmsg *e)
{
	struct serve_listen l = {.socket_name = FLOWD_SOCKET_NAME,
				 .grpc_addr = grpc,
				 .http_addr = http,
				 .grpc_tls = tls,
				 .grpc_mtls = mtls};

	a->no_grpc_socket = true;
	e->text[0] = '\0';
	return serve_access_prepare(a, &l, e);
}

START_TEST(beyond_loopback)
{
	struct serve_access a = {0};
	struct errmsg e = {""};

	/* Loopback of either family: nothing needed; gRPC open without the token. */
	ck_assert_int_eq(prepare(&a, "127.0.0.1", "127.0.0.1", false, false, &e), 0);
	ck_assert(!a.grpc_tcp_token);
	ck_assert_int_eq(prepare(&a, "::1", "127.0.0.53", false, false, &e), 0);
	ck_assert_int_eq(prepare(&a, "::ffff:127.0.0.1", "127.0.0.1", false, false, &e), 0);
	/* Beyond it without TLS: refused, naming the way out. */
	ck_assert_int_eq(prepare(&a, "0.0.0.0", "127.0.0.1", false, false, &e), -EPERM);
	ck_assert_ptr_nonnull(strstr(e.text, "--insecure-listen"));
	ck_assert_ptr_nonnull(strstr(e.text, "gRPC on 0.0.0.0"));
	ck_assert_int_eq(prepare(&a, "::", "127.0.0.1", false, false, &e), -EPERM);
	ck_assert_int_eq(prepare(&a, "10.1.2.3", "127.0.0.1", false, false, &e), -EPERM);
	ck_assert_int_eq(prepare(&a, "127.0.0.1", "0.0.0.0", false, false, &e), -EPERM);
	ck_assert_ptr_nonnull(strstr(e.text, "HTTP on 0.0.0.0"));
	ck_assert_ptr_nonnull(strstr(e.text, "--http-tls-cert"));
	/* HTTPS beyond loopback, but without the token: refused too. */
	a.http_tls_cert = "c.pem";
	a.http_no_token = true;
	ck_assert_int_eq(prepare(&a, "127.0.0.1", "0.0.0.0", false, false, &e), -EPERM);
	ck_assert_ptr_nonnull(strstr(e.text, "without the token"));
	a.http_no_token = false;
	ck_assert_int_eq(prepare(&a, "127.0.0.1", "0.0.0.0", false, false, &e), 0);
	/* gRPC with TLS beyond loopback: the token is required on TCP, unless clients show
	 * certificates. */
	ck_assert_int_eq(prepare(&a, "0.0.0.0", "127.0.0.1", true, false, &e), 0);
	ck_assert(a.grpc_tcp_token);
	ck_assert_int_eq(prepare(&a, "0.0.0.0", "127.0.0.1", true, true, &e), 0);
	ck_assert(!a.grpc_tcp_token);
	/* --insecure-listen: allowed (the warning is logged). */
	a = (struct serve_access){.insecure_listen = true};
	ck_assert_int_eq(prepare(&a, "0.0.0.0", "0.0.0.0", false, false, &e), 0);
	ck_assert(!a.grpc_tcp_token);
	/* --grpc-require-token: required on loopback too. */
	a = (struct serve_access){.grpc_require_token = true};
	ck_assert_int_eq(prepare(&a, "127.0.0.1", "127.0.0.1", false, false, &e), 0);
	ck_assert(a.grpc_tcp_token);
	{
		struct grpc_server_opts go = {0};
		struct http_server_opts ho = {0};

		serve_access_apply(&a, &go, &ho);
		ck_assert(go.require_token);
		ck_assert_str_eq(go.token, a.token);
		ck_assert_str_eq(ho.token, a.token);
	}
}
END_TEST

START_TEST(token_sources)
{
	struct serve_access a = {0}, b = {0};
	struct errmsg e = {""};
	char given[160], url[600];
	struct stat st;
	FILE *f;

	/* None given: made once, mode 0600, 64 hex digits; the next start reads the same. */
	ck_assert_int_eq(prepare(&a, "127.0.0.1", "127.0.0.1", false, false, &e), 0);
	ck_assert(a.token_made);
	ck_assert_str_eq(a.token_from, tokfile);
	ck_assert_int_eq(strlen(a.token), 64);
	ck_assert_int_eq(stat(tokfile, &st), 0);
	ck_assert_int_eq(st.st_mode & 07777, 0600);
	ck_assert_int_eq(prepare(&b, "127.0.0.1", "127.0.0.1", false, false, &e), 0);
	ck_assert(!b.token_made);
	ck_assert_str_eq(b.token, a.token);
	/* A file others may read is refused, saying how to fix it. */
	chmod(tokfile, 0644);
	ck_assert_int_eq(prepare(&b, "127.0.0.1", "127.0.0.1", false, false, &e), -EPERM);
	ck_assert_ptr_nonnull(strstr(e.text, "chmod 600"));
	chmod(tokfile, 0600);
	/* The environment comes before the runtime directory's file; --token-file before both. */
	setenv(TOKEN_ENV, "from+the/env=", 1);
	b = (struct serve_access){0};
	ck_assert_int_eq(prepare(&b, "127.0.0.1", "127.0.0.1", false, false, &e), 0);
	ck_assert_str_eq(b.token, "from+the/env=");
	ck_assert_str_eq(b.token_from, TOKEN_ENV);
	setenv(TOKEN_ENV, "bad token", 1);
	ck_assert_int_eq(prepare(&b, "127.0.0.1", "127.0.0.1", false, false, &e), -EINVAL);
	snprintf(given, sizeof(given), "%s/given", dir);
	f = fopen(given, "w");
	ck_assert_ptr_nonnull(f);
	fputs("  given-token \n", f);
	fclose(f);
	chmod(given, 0600);
	b = (struct serve_access){.token_file = given};
	ck_assert_int_eq(prepare(&b, "127.0.0.1", "127.0.0.1", false, false, &e), 0);
	ck_assert_str_eq(b.token, "given-token");
	/* A given file must exist: it is never made. */
	unlink(given);
	ck_assert_int_eq(prepare(&b, "127.0.0.1", "127.0.0.1", false, false, &e), -ENOENT);
	unsetenv(TOKEN_ENV);
	/* The login URL: the HTTP address (a wildcard as loopback, IPv6 in brackets), the token
	 * escaped where a query would change it. */
	b = (struct serve_access){0};
	snprintf(b.token, sizeof(b.token), "a+b/c=");
	{
		struct http_server_opts ho = {.addr = "::", .port = 12001, .token = b.token};

		ck_assert_int_eq(serve_access_login_url(&b, &ho, url, sizeof(url)), 0);
		ck_assert_str_eq(url, "http://[::1]:12001/?token=a%2Bb%2Fc%3D");
		ho = (struct http_server_opts){
			.addr = "0.0.0.0", .port = 443, .token = b.token, .tls_cert = "c"};
		ck_assert_int_eq(serve_access_login_url(&b, &ho, url, sizeof(url)), 0);
		ck_assert_str_eq(url, "https://127.0.0.1:443/?token=a%2Bb%2Fc%3D");
		ho.token = NULL;
		ck_assert_int_eq(serve_access_login_url(&b, &ho, url, sizeof(url)), -ENOENT);
	}
}
END_TEST

int main(void)
{
	Suite *s = suite_create("access");
	TCase *t = tcase_create("access");
	SRunner *r;
	int failed;

	tcase_add_checked_fixture(t, setup, teardown);
	tcase_add_test(t, beyond_loopback);
	tcase_add_test(t, token_sources);
	suite_add_tcase(s, t);
	r = srunner_create(s);
	srunner_run_all(r, CK_NORMAL);
	failed = srunner_ntests_failed(r);
	srunner_free(r);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
