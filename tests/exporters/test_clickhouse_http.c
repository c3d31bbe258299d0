/* Unit tests of ClickHouse's HTTP interface as Flowscope speaks it
 * (export/exporters/clickhouse_http.c): URLs taken and refused with what to use, the exact
 * request bytes (query in the URL with data, as the body without; basic authentication), and the
 * response parser fed every way a server may send an answer: Content-Length, chunked (with
 * extensions and trailers, split at every byte), read to close, 100 Continue, keep-alive and
 * close, the exception header, two answers back to back, what is not HTTP; ClickHouse's error
 * text on one line. */
#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "flowscope/exporters/clickhouse_http.h"

START_TEST(urls)
{
	struct ch_target t;
	struct errmsg e = {""};

	ck_assert_int_eq(ch_target_parse(&t, "http://127.0.0.1:9123", "--x", &e), 0);
	ck_assert_str_eq(t.host, "127.0.0.1");
	ck_assert_uint_eq(t.port, 9123);
	ck_assert_str_eq(t.database, "default");
	ck_assert_str_eq(t.table, "flows");
	ck_assert_int_eq(ch_target_parse(&t, "http://ch.example/?database=net", "--x", &e), 0);
	ck_assert_str_eq(t.host, "ch.example");
	ck_assert_uint_eq(t.port, 8123);
	ck_assert_str_eq(t.database, "net");
	ck_assert_int_eq(ch_target_parse(&t, "http://[::1]:8124/", "--x", &e), 0);
	ck_assert_str_eq(t.host, "::1");
	ck_assert_uint_eq(t.port, 8124);
	ck_assert_int_eq(ch_target_parse(&t, "http://[fd00::5]?database=x", "--x", &e), 0);
	ck_assert_str_eq(t.host, "fd00::5");
	ck_assert_uint_eq(t.port, 8123);
	ck_assert_str_eq(t.database, "x");
}
END_TEST

START_TEST(bad_urls_say_what_to_use)
{
	static const char *const bad[] = {
		"https://127.0.0.1:8443",
		"127.0.0.1:8123",
		"http://",
		"http://h:0",
		"http://h:99999",
		"http://h/db",
		"http://h/?user=x",
		"http://h/?database=a;b",
		"http://u:p@h:8123",
	};
	struct ch_target t;
	struct errmsg e;
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memset(&e, 0, sizeof(e));
		ck_assert_msg(ch_target_parse(&t, bad[i], "--export-clickhouse", &e) == -EINVAL,
			      "%s taken", bad[i]);
		ck_assert_msg(strstr(e.text, "--export-clickhouse") &&
				      strstr(e.text, "http://HOST[:PORT][/?database=DB]"),
			      "%s: %s", bad[i], e.text);
	}
	ck_assert_int_eq(ch_target_parse(&t, "http://h", "--x", &e), 0);
	ck_assert_int_eq(ch_target_set(&t, "bad-name", NULL, NULL, &e), -EINVAL);
	ck_assert_ptr_nonnull(strstr(e.text, "invalid table name 'bad-name'"));
}
END_TEST

START_TEST(requests)
{
	struct ch_target t;
	struct errmsg e = {""};
	struct buf b = BUF_INIT;

	ck_assert_int_eq(ch_target_parse(&t, "http://127.0.0.1:8123/?database=net", "--x", &e), 0);
	ck_assert_int_eq(ch_http_request(&b, &t, "SELECT version()", 0), 0);
	ck_assert_str_eq(b.data, "POST /?database=net HTTP/1.1\r\nHost: 127.0.0.1:8123\r\n"
				 "User-Agent: flowscope\r\nConnection: keep-alive\r\n"
				 "Content-Length: 16\r\n\r\nSELECT version()");
	buf_reset(&b);
	ck_assert_int_eq(ch_target_set(&t, "t1", "flowscope", "secret", &e), 0);
	ck_assert_int_eq(
		ch_http_request(&b, &t, "INSERT INTO `net`.`t1` (a, b) FORMAT RowBinary", 1234), 0);
	ck_assert_str_eq(b.data,
			 "POST /?database=net&query=INSERT%20INTO%20%60net%60.%60t1%60%20%28a%2C%20"
			 "b%29%20FORMAT%20RowBinary HTTP/1.1\r\nHost: 127.0.0.1:8123\r\n"
			 "User-Agent: flowscope\r\nConnection: keep-alive\r\n"
			 "Content-Length: 1234\r\n"
			 "Authorization: Basic Zmxvd3Njb3BlOnNlY3JldA==\r\n\r\n");
	buf_free(&b);
}
END_TEST

struct body {
	struct buf b;
};

static int collect(const char *p, size_t n, void *ctx)
{
	return buf_append(&((struct body *)ctx)->b, p, n);
}

/* Feeds text in pieces of step bytes (0: all at once); returns the parser's result and sets
 * *used_total. */
static int feed(struct ch_resp *r, const char *text, size_t step, struct body *out,
		size_t *used_total)
{
	size_t n = strlen(text), off = 0, used;
	int err = 0;

	*used_total = 0;
	while (off < n && !r->done && !err) {
		size_t k = step && n - off > step ? step : n - off;

		err = ch_resp_feed(r, text + off, k, &used, collect, out);
		*used_total += used;
		off += used;
		if (!err && used < k && !r->done)
			ck_abort_msg("took %zu of %zu bytes without being done", used, k);
	}
	return err;
}

static void parse_every_way(const char *text, int status, const char *body, bool keep)
{
	size_t step, used;

	for (step = 0; step <= strlen(text); step++) {
		struct ch_resp r = {0};
		struct body out = {BUF_INIT};

		ch_resp_init(&r);
		ck_assert_int_eq(feed(&r, text, step, &out, &used), 0);
		if (!r.done)
			ck_assert_int_eq(ch_resp_eof(&r), 0);
		ck_assert_msg(r.done, "step %zu", step);
		ck_assert_int_eq(r.status, status);
		ck_assert_int_eq(r.keep_alive, keep);
		buf_putc(&out.b, '\0');
		ck_assert_msg(!strcmp(out.b.data, body), "step %zu: body '%s'", step, out.b.data);
		buf_free(&out.b);
		ch_resp_free(&r);
	}
}

START_TEST(content_length_chunked_and_close)
{
	parse_every_way("HTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\n18.16.1\n", 200, "18.16.1\n",
			true);
	parse_every_way("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nKeep-Alive: timeout=3\r\n"
			"\r\n5\r\nhello\r\n1;ext=1\r\n \r\nA\r\n0123456789\r\n0\r\nX-Trailer: "
			"1\r\n\r\n",
			200, "hello 0123456789", true);
	parse_every_way("HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nall until close", 200,
			"all until close", false);
	parse_every_way("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n"
			"Connection: close\r\n\r\n",
			200, "", false);
	parse_every_way("HTTP/1.1 200 OK\nContent-Length: 2\n\nok", 200, "ok", true);
}
END_TEST

START_TEST(an_error_answer)
{
	static const char text[] =
		"HTTP/1.1 404 Not Found\r\nConnection: Keep-Alive\r\nContent-Type: text/plain; "
		"charset=UTF-8\r\nX-ClickHouse-Exception-Code: 60\r\nTransfer-Encoding: chunked\r\n"
		"Keep-Alive: timeout=3\r\n\r\n"
		"68\r\nCode: 60, e.displayText() = DB::Exception: Table default.flows doesn't "
		"exist., e.what() = DB::Exception\n\r\n0\r\n\r\n";
	/* An older server's form: the text, then e.what() on a line of its own. */
	static const char db33[] = "Code: 33, e.displayText() = DB::Exception: Cannot read "
				   "all data.: (at row 1)\n, e.what() = DB::Exception\n";
	struct ch_resp r = {0};
	struct body out = {BUF_INIT};
	char msg[256];
	size_t used;

	ch_resp_init(&r);
	ck_assert_int_eq(feed(&r, text, 0, &out, &used), 0);
	ck_assert(r.done);
	ck_assert_int_eq(r.status, 404);
	ck_assert_int_eq(r.exception, 60);
	ck_assert(r.keep_alive);
	ck_assert_int_eq(ch_error_code(out.b.data, out.b.len), 60);
	ck_assert_str_eq(ch_error_text(out.b.data, out.b.len, msg, sizeof(msg)),
			 "Code: 60, e.displayText() = DB::Exception: Table default.flows doesn't "
			 "exist.");
	ck_assert_str_eq(
		ch_error_text(db33, strlen(db33), msg, sizeof(msg)),
		"Code: 33, e.displayText() = DB::Exception: Cannot read all data.: (at row "
		"1)");
	ck_assert_int_eq(ch_error_code("no code", 7), 0);
	buf_free(&out.b);
	ch_resp_free(&r);
}
END_TEST

START_TEST(answers_back_to_back)
{
	static const char two[] = "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nonE"
				  "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\ntwo";
	struct ch_resp r = {0};
	struct body out = {BUF_INIT};
	size_t used;

	ch_resp_init(&r);
	ck_assert_int_eq(ch_resp_feed(&r, two, sizeof(two) - 1, &used, collect, &out), 0);
	ck_assert(r.done);
	ck_assert_uint_eq(used, (sizeof(two) - 1) / 2);
	ch_resp_init(&r);
	ck_assert_int_eq(ch_resp_feed(&r, two + used, sizeof(two) - 1 - used, &used, collect, &out),
			 0);
	ck_assert(r.done);
	buf_putc(&out.b, '\0');
	ck_assert_str_eq(out.b.data, "onEtwo");
	buf_free(&out.b);
	ch_resp_free(&r);
}
END_TEST

START_TEST(not_http_and_cut_short)
{
	static const char *const bad[] = {
		"SSH-2.0-OpenSSH\r\n",
		"HTTP/1.1 abc\r\n",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcX\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n",
	};
	struct ch_resp r = {0};
	struct body out = {BUF_INIT};
	char big[9000];
	size_t i, used;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ch_resp_init(&r);
		ck_assert_msg(feed(&r, bad[i], 0, &out, &used) == -EBADMSG, "%s", bad[i]);
	}
	/* A header line longer than any server sends. */
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	ch_resp_init(&r);
	ck_assert_int_eq(ch_resp_feed(&r, "HTTP/1.1 200 OK\r\nX: ", 21, &used, NULL, NULL), 0);
	ck_assert_int_eq(ch_resp_feed(&r, big, sizeof(big) - 1, &used, NULL, NULL), -EBADMSG);
	/* A body cut by the connection's end. */
	ch_resp_init(&r);
	ck_assert_int_eq(
		feed(&r, "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc", 0, &out, &used), 0);
	ck_assert(!r.done);
	ck_assert_int_eq(ch_resp_eof(&r), -EPIPE);
	buf_free(&out.b);
	ch_resp_free(&r);
}
END_TEST

static int stop_at_once(const char *p, size_t n, void *ctx)
{
	(void)p;
	(void)n;
	(void)ctx;
	return 1;
}

START_TEST(a_body_callback_stops_it)
{
	struct ch_resp r = {0};
	size_t used;

	ch_resp_init(&r);
	ck_assert_int_eq(ch_resp_feed(&r, "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc", 41,
				      &used, stop_at_once, NULL),
			 -ECANCELED);
	ck_assert(!r.done);
	ch_resp_free(&r);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("clickhouse_http");
	TCase *t = tcase_create("clickhouse_http");
	SRunner *r;
	int failed;

	tcase_add_test(t, urls);
	tcase_add_test(t, bad_urls_say_what_to_use);
	tcase_add_test(t, requests);
	tcase_add_test(t, content_length_chunked_and_close);
	tcase_add_test(t, an_error_answer);
	tcase_add_test(t, answers_back_to_back);
	tcase_add_test(t, not_http_and_cut_short);
	tcase_add_test(t, a_body_callback_stops_it);
	suite_add_tcase(s, t);
	r = srunner_create(s);
	srunner_run_all(r, CK_NORMAL);
	failed = srunner_ntests_failed(r);
	srunner_free(r);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
