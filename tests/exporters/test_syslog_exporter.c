/* Unit tests of the syslog exporter (export/exporters/syslog_exporter.c) through the exporter
 * contract, against peers the tests bind on 127.0.0.1: one RFC 5424 datagram per event over UDP
 * (the exact bytes encode/syslog_msg.h specifies), RFC 6587 octet counting over TCP, queueing
 * while the server is not there and delivery once it listens, reconnection, and a bounded queue
 * whose overflow is counted. */
#include <check.h>

#include "export_harness.h"
#include "flowscope/encode/syslog_msg.h"

#define HOST "test-host"

static struct exporter_set *open_syslog(const char *scheme, uint16_t port, const char *buffer)
{
	char url[64];

	snprintf(url, sizeof(url), "%s://127.0.0.1:%u", scheme, port);
	if (buffer)
		return XS_OPEN({"export-syslog", url}, {"export-syslog-hostname", HOST},
			       {"export-syslog-buffer", buffer});
	return XS_OPEN({"export-syslog", url}, {"export-syslog-hostname", HOST});
}

/* The expected message for flow id (port 443), framed for TCP when framed. */
static struct buf expect_id(uint64_t id, bool framed)
{
	struct flow f = make_flow(id, 443);
	struct buf m = BUF_INIT, out = BUF_INIT;

	syslog_expect_json(&m, &f, HOST);
	if (!framed)
		return m;
	ck_assert_int_eq(buf_printf(&out, "%zu %s", m.len, m.data), 0);
	buf_free(&m);
	return out;
}

static size_t expect_len(uint64_t id, bool framed)
{
	struct buf b = expect_id(id, framed);
	size_t n = b.len;

	buf_free(&b);
	return n;
}

static void take_ids(struct exporter_set *s, uint64_t from, uint64_t to)
{
	uint64_t id;

	for (id = from; id <= to; id++) {
		struct flow f = make_flow(id, 443);

		xs_take(s, &f);
	}
}

/* Reads octet-counted frames of flows from..to from the connection: each "LEN SP MSG", MSG the
 * exact message, nothing in between. */
static void read_frames(int fd, uint64_t from, uint64_t to)
{
	struct buf got = BUF_INIT, want = BUF_INIT;
	size_t off = 0;
	uint64_t id;

	for (id = from; id <= to; id++) {
		struct buf m = expect_id(id, true);

		ck_assert_int_eq(buf_append(&want, m.data, m.len), 0);
		buf_free(&m);
	}
	tcp_read(fd, &got, want.len);
	ck_assert_uint_eq(got.len, want.len);
	/* Parse the framing itself, not only compare. */
	for (id = from; id <= to; id++) {
		char *sp;
		unsigned long len = strtoul(got.data + off, &sp, 10);
		struct buf m = expect_id(id, false);

		ck_assert_int_eq(*sp, ' ');
		ck_assert_uint_eq(len, m.len);
		ck_assert_int_eq(memcmp(sp + 1, m.data, m.len), 0);
		off = (size_t)(sp + 1 - got.data) + len;
		buf_free(&m);
	}
	ck_assert_uint_eq(off, got.len);
	ck_assert_str_eq(got.data, want.data);
	buf_free(&got);
	buf_free(&want);
}

START_TEST(udp_one_datagram_per_event)
{
	struct exporter_stats st;
	struct exporter_set *s;
	struct flow fl[4];
	char d[4096];
	uint16_t port;
	int fd = udp_peer(&port), i;
	size_t queued = 0;

	s = open_syslog("udp", port, NULL);
	for (i = 0; i < 4; i++) {
		struct buf m = BUF_INIT;

		fl[i] = make_flow((uint64_t)i + 1, 443);
		if (i == 1)
			fl[i].verdict = FLOW_VERDICT_DROPPED; /* warning */
		if (i == 2)
			fl[i].event = FLOW_EVENT_DROP; /* warning too */
		if (i == 3)
			fl[i].is_reply = true;
		xs_take(s, &fl[i]);
		syslog_expect_json(&m, &fl[i], HOST);
		queued += m.len;
		buf_free(&m);
	}
	xs_stats(s, "syslog", &st);
	ck_assert_uint_eq(st.written, 0); /* take() only queues */
	ck_assert_uint_eq(st.queued, queued);
	udp_none(fd);
	exporter_set_flush(s, false);
	for (i = 0; i < 4; i++) {
		struct buf want = BUF_INIT;
		size_t n = udp_recv(fd, d, sizeof(d));

		syslog_expect_json(&want, &fl[i], HOST);
		ck_assert_uint_eq(n, want.len);
		ck_assert_str_eq(d, want.data);
		ck_assert_int_eq(strncmp(d, i == 1 || i == 2 ? "<132>1 " : "<134>1 ", 7), 0);
		buf_free(&want);
	}
	udp_none(fd);
	xs_stats(s, "syslog", &st);
	ck_assert_uint_eq(st.written, 4);
	ck_assert_uint_eq(st.dropped, 0);
	ck_assert_uint_eq(st.errors, 0);
	ck_assert_uint_eq(st.queued, 0);
	ck_assert_uint_eq(xs_extra(&st, "reconnects"), 0);
	ck_assert_uint_eq(xs_extra(&st, "connect_failures"), 0);
	exporter_set_free(s);
	udp_none(fd);
	close(fd);
}
END_TEST

START_TEST(udp_cef_and_default_hostname)
{
	struct exporter_set *s;
	struct flow f = make_flow(1, 443);
	struct buf want = BUF_INIT;
	char url[64], d[4096], host[SYSLOG_MSG_HOSTNAME_MAX];
	uint16_t port;
	int fd = udp_peer(&port);

	snprintf(url, sizeof(url), "udp://127.0.0.1:%u", port);
	s = XS_OPEN({"export-syslog", url}, {"export-syslog-format", "CEF"});
	xs_take(s, &f);
	exporter_set_free(s);		 /* free delivers */
	syslog_msg_hostname(host, NULL); /* this host's name, as RFC 5424 allows it */
	syslog_expect(&want, &f, host, "", 0);
	ck_assert_int_eq(buf_puts(&want,
				  "CEF:0|Flowscope|flowd|0.1|flow|Network flow|3|src=10.0.0.1 "
				  "dst=10.0.0.2 spt=40001 dpt=443 proto=TCP act=FORWARDED in=1501 "
				  "out=180 start=1700000000000 end=1700000000123"),
			 0);
	udp_recv(fd, d, sizeof(d));
	ck_assert_str_eq(d, want.data);
	udp_none(fd);
	buf_free(&want);
	close(fd);
}
END_TEST

START_TEST(tcp_octet_counting)
{
	struct exporter_stats st;
	struct exporter_set *s;
	uint16_t port;
	int lfd = tcp_peer(&port), cfd;

	ck_assert_int_eq(listen(lfd, 4), 0);
	s = open_syslog("tcp", port, NULL);
	take_ids(s, 1, 5);
	xs_flush_until_written(s, "syslog", 5, 5000);
	cfd = tcp_accept(lfd);
	read_frames(cfd, 1, 5);
	xs_stats(s, "syslog", &st);
	ck_assert_uint_eq(st.queued, 0);
	ck_assert_uint_eq(st.dropped, 0);
	ck_assert_uint_eq(st.errors, 0);
	ck_assert_uint_eq(xs_extra(&st, "reconnects"), 0);
	ck_assert_uint_eq(xs_extra(&st, "connect_failures"), 0);
	/* Taken after a flush and delivered by free. */
	take_ids(s, 6, 7);
	exporter_set_free(s);
	read_frames(cfd, 6, 7);
	close(cfd);
	close(lfd);
}
END_TEST

START_TEST(tcp_queues_until_server_listens)
{
	struct exporter_stats st;
	struct exporter_set *s;
	uint16_t port;
	int lfd = tcp_peer(&port), cfd; /* bound, not listening: connections are refused */
	size_t queued = 0;
	uint64_t id;

	s = open_syslog("tcp", port, NULL); /* a server that is not up is not an error */
	take_ids(s, 1, 10);
	for (id = 1; id <= 10; id++)
		queued += expect_len(id, true);
	exporter_set_flush(s, false);
	xs_stats(s, "syslog", &st);
	ck_assert_uint_eq(st.written, 0);
	ck_assert_uint_eq(st.queued, queued); /* whole framed messages */
	ck_assert_uint_eq(st.dropped, 0);
	ck_assert_uint_ge(xs_extra(&st, "connect_failures"), 1);
	ck_assert_uint_eq(st.errors, xs_extra(&st, "connect_failures"));
	ck_assert_int_eq(listen(lfd, 4), 0);
	xs_flush_until_written(s, "syslog", 10, 5000); /* reconnects at most once a second */
	xs_stats(s, "syslog", &st);
	ck_assert_uint_eq(st.queued, 0);
	ck_assert_uint_eq(xs_extra(&st, "reconnects"), 0); /* the first connection */
	cfd = tcp_accept(lfd);
	read_frames(cfd, 1, 10);
	exporter_set_free(s);
	close(cfd);
	close(lfd);
}
END_TEST

START_TEST(tcp_reconnects_after_server_closes)
{
	struct exporter_stats st;
	struct exporter_set *s;
	uint16_t port;
	int lfd = tcp_peer(&port), cfd;

	ck_assert_int_eq(listen(lfd, 4), 0);
	s = open_syslog("tcp", port, NULL);
	take_ids(s, 1, 2);
	xs_flush_until_written(s, "syslog", 2, 5000);
	cfd = tcp_accept(lfd);
	read_frames(cfd, 1, 2);
	close(cfd); /* a restarted server */
	usleep(50000);
	take_ids(s, 3, 5);
	xs_flush_until_written(s, "syslog", 5, 5000);
	cfd = tcp_accept(lfd);
	read_frames(cfd, 3, 5); /* noticed before writing: nothing lost in the dead connection */
	xs_stats(s, "syslog", &st);
	ck_assert_uint_eq(xs_extra(&st, "reconnects"), 1);
	ck_assert_uint_eq(st.dropped, 0);
	ck_assert_uint_eq(st.queued, 0);
	exporter_set_free(s);
	close(cfd);
	close(lfd);
}
END_TEST

/* How many of the messages of flows 1..n fit in max bytes, queued in order. */
static uint64_t fitting(uint64_t n, size_t max, bool framed, size_t *bytes)
{
	uint64_t id;

	*bytes = 0;
	for (id = 1; id <= n; id++) {
		size_t l = expect_len(id, framed);

		if (*bytes + l > max)
			break;
		*bytes += l;
	}
	return id - 1;
}

/* Takes flows 1..n into a set whose queue holds k of them: the rest are refused (-ENOBUFS). */
static void take_overflowing(struct exporter_set *s, uint64_t n, uint64_t k)
{
	uint64_t id;

	for (id = 1; id <= n; id++) {
		struct flow f = make_flow(id, 443);

		ck_assert_int_eq(exporter_set_take(s, &f), id <= k ? 0 : -ENOBUFS);
	}
}

START_TEST(small_buffer_drops_and_counts_udp)
{
	struct exporter_stats st;
	struct exporter_set *s;
	char d[4096];
	size_t bytes;
	uint64_t k = fitting(20, 2048, false, &bytes), id;
	uint16_t port;
	int fd = udp_peer(&port);

	ck_assert_uint_ge(k, 1);
	ck_assert_uint_lt(k, 20);
	s = open_syslog("udp", port, "2K");
	take_overflowing(s, 20, k);
	xs_stats(s, "syslog", &st);
	ck_assert_uint_eq(st.dropped, 20 - k);
	ck_assert_uint_eq(st.errors, 0); /* a full queue is a loss, not a failure */
	ck_assert_uint_eq(st.queued, bytes);
	ck_assert_uint_le(st.queued, 2048);
	exporter_set_flush(s, false);
	xs_stats(s, "syslog", &st);
	ck_assert_uint_eq(st.written, k);
	ck_assert_uint_eq(st.queued, 0);
	for (id = 1; id <= k; id++) {
		struct buf want = expect_id(id, false);

		udp_recv(fd, d, sizeof(d));
		ck_assert_str_eq(d, want.data); /* the first ones, in order */
		buf_free(&want);
	}
	udp_none(fd);
	/* Room again once sent. */
	take_ids(s, 21, 21);
	exporter_set_free(s);
	udp_recv(fd, d, sizeof(d));
	ck_assert_ptr_nonnull(strstr(d, "\"flow_id\":\"21\""));
	close(fd);
}
END_TEST

START_TEST(small_buffer_bounds_queue_while_server_down)
{
	struct exporter_stats st;
	struct exporter_set *s;
	size_t bytes;
	uint64_t k = fitting(50, 3000, true, &bytes);
	uint16_t port;
	int lfd = tcp_peer(&port), cfd;

	ck_assert_uint_ge(k, 1);
	s = open_syslog("tcp", port, "3000");
	take_overflowing(s, 50, k);
	exporter_set_flush(s, false);
	xs_stats(s, "syslog", &st);
	ck_assert_uint_eq(st.written, 0);
	ck_assert_uint_eq(st.dropped, 50 - k);
	ck_assert_uint_eq(st.queued, bytes);
	ck_assert_uint_le(st.queued, 3000);
	ck_assert_int_eq(listen(lfd, 4), 0);
	xs_flush_until_written(s, "syslog", k, 5000);
	cfd = tcp_accept(lfd);
	read_frames(cfd, 1, k);
	xs_stats(s, "syslog", &st);
	ck_assert_uint_eq(st.dropped, 50 - k);
	ck_assert_uint_eq(st.queued, 0);
	exporter_set_free(s);
	close(cfd);
	close(lfd);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("syslog_exporter");
	TCase *t = tcase_create("syslog_exporter");
	SRunner *r;
	int failed;

	tcase_set_timeout(t, 60);
	tcase_add_test(t, udp_one_datagram_per_event);
	tcase_add_test(t, udp_cef_and_default_hostname);
	tcase_add_test(t, tcp_octet_counting);
	tcase_add_test(t, tcp_queues_until_server_listens);
	tcase_add_test(t, tcp_reconnects_after_server_closes);
	tcase_add_test(t, small_buffer_drops_and_counts_udp);
	tcase_add_test(t, small_buffer_bounds_queue_while_server_down);
	suite_add_tcase(s, t);
	r = srunner_create(s);
	srunner_run_all(r, CK_NORMAL);
	failed = srunner_ntests_failed(r);
	srunner_free(r);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
