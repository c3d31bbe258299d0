/* Unit tests of the file exporter (export/file_exporter.c): NDJSON lines identical to the API's,
 * field masks, filters, size-based rotation (plain and gzip), reload and flushing. */
#include <arpa/inet.h>
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "flowscope/exporters/file_exporter.h"
#include "flowscope/filter/flow_filter.h"
#include "flowscope/encode/flow_pb.h"

#define NODE "node1"
#define MAX_IDS 1024

/* ---- helpers -------------------------------------------------------------------------------- */

static char dir[64];

static void setup(void)
{
	strcpy(dir, "/tmp/fe-test-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
}

static void teardown(void)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	char p[512];

	ck_assert_ptr_nonnull(d);
	while ((de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		snprintf(p, sizeof(p), "%s/%s", dir, de->d_name);
		unlink(p);
	}
	closedir(d);
	rmdir(dir);
}

static const char *in_dir(char *p, size_t len, const char *name)
{
	snprintf(p, len, "%s/%s", dir, name);
	return p;
}

static bool exists(const char *p)
{
	struct stat sb;

	return stat(p, &sb) == 0;
}

static long file_size(const char *p)
{
	struct stat sb;

	return stat(p, &sb) ? -1 : (long)sb.st_size;
}

/* The whole file, NUL-terminated; "" when it does not exist. */
static char *slurp(const char *p)
{
	struct buf b = BUF_INIT;
	char chunk[4096];
	int fd = open(p, O_RDONLY);
	ssize_t n;

	ck_assert_int_eq(buf_puts(&b, ""), 0);
	if (fd < 0)
		return b.data;
	while ((n = read(fd, chunk, sizeof(chunk))) > 0)
		ck_assert_int_eq(buf_append(&b, chunk, (size_t)n), 0);
	close(fd);
	return b.data;
}

/* A gzip file's content through zlib, NUL-terminated. */
static char *gunzip(const char *p)
{
	struct buf b = BUF_INIT;
	char chunk[4096];
	gzFile gz = gzopen(p, "rb");
	int n;

	ck_assert_msg(gz != NULL, "cannot gzopen %s", p);
	ck_assert_int_eq(buf_puts(&b, ""), 0);
	while ((n = gzread(gz, chunk, sizeof(chunk))) > 0)
		ck_assert_int_eq(buf_append(&b, chunk, (size_t)n), 0);
	ck_assert_int_eq(n, 0);
	ck_assert_int_eq(gzclose(gz), Z_OK);
	return b.data;
}

static struct flow make_flow(uint64_t id, uint16_t dport)
{
	struct flow f;

	memset(&f, 0, sizeof(f));
	f.id = id;
	f.family = 4;
	f.proto = IPPROTO_TCP;
	inet_pton(AF_INET, "10.0.0.1", f.src.addr);
	inet_pton(AF_INET, "10.0.0.2", f.dst.addr);
	f.src.port = (uint16_t)(40000 + id % 1000);
	f.dst.port = dport;
	f.traffic_dir = FLOW_TC_EGRESS;
	f.verdict = FLOW_VERDICT_FORWARDED;
	f.event = FLOW_EVENT_TCP_FLAGS;
	f.tcp_flags = FLOW_TCP_SYN;
	f.packets[0] = 3;
	f.bytes[0] = 180;
	f.packets[1] = 2;
	f.bytes[1] = 1500 + id;
	f.time_ns = 1700000000123456789ULL + id;
	f.first_seen_ns = 1700000000000000000ULL;
	f.last_seen_ns = 1700000000123000000ULL;
	f.ifindex = 2;
	strcpy(f.ifname, "eth0");
	return f;
}

/* The API's line for flow id (port 443). */
static struct buf api_line(uint64_t id)
{
	struct buf b = BUF_INIT;
	struct flow f = make_flow(id, 443);

	ck_assert_int_eq(flow_pb_json_line(&b, &f, NODE), 0);
	return b;
}

/* ---- a minimal JSON syntax checker ---------------------------------------------------------- */

static const char *json_value(const char *p);

static const char *json_ws(const char *p)
{
	while (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n')
		p++;
	return p;
}

static const char *json_string(const char *p)
{
	if (*p++ != '"')
		return NULL;
	while (*p && *p != '"') {
		if ((unsigned char)*p < 0x20)
			return NULL;
		if (*p == '\\') {
			p++;
			if (*p == 'u') {
				for (int i = 1; i <= 4; i++)
					if (!strchr("0123456789abcdefABCDEF", p[i]) || !p[i])
						return NULL;
				p += 4;
			} else if (!*p || !strchr("\"\\/bfnrt", *p)) {
				return NULL;
			}
		}
		p++;
	}
	return *p == '"' ? p + 1 : NULL;
}

static const char *json_number(const char *p)
{
	const char *s;

	if (*p == '-')
		p++;
	s = p;
	while (*p >= '0' && *p <= '9')
		p++;
	if (p == s)
		return NULL;
	if (*p == '.') {
		s = ++p;
		while (*p >= '0' && *p <= '9')
			p++;
		if (p == s)
			return NULL;
	}
	if (*p == 'e' || *p == 'E') {
		p++;
		if (*p == '+' || *p == '-')
			p++;
		s = p;
		while (*p >= '0' && *p <= '9')
			p++;
		if (p == s)
			return NULL;
	}
	return p;
}

/* Calls back for each member of the object at p; returns the end of the object or NULL. */
typedef void (*member_cb)(const char *key, size_t klen, const char *val, void *ctx);

static const char *json_object(const char *p, member_cb cb, void *ctx)
{
	if (*p++ != '{')
		return NULL;
	p = json_ws(p);
	if (*p == '}')
		return p + 1;
	for (;;) {
		const char *k = p, *v;

		p = json_string(p);
		if (!p)
			return NULL;
		p = json_ws(p);
		if (*p++ != ':')
			return NULL;
		v = json_ws(p);
		p = json_value(v);
		if (!p)
			return NULL;
		if (cb)
			cb(k + 1, (size_t)(p - k), v, ctx); /* klen is fixed up by the callee */
		p = json_ws(p);
		if (*p == '}')
			return p + 1;
		if (*p++ != ',')
			return NULL;
		p = json_ws(p);
	}
}

static const char *json_value(const char *p)
{
	switch (*p) {
	case '{':
		return json_object(p, NULL, NULL);
	case '[':
		p = json_ws(p + 1);
		if (*p == ']')
			return p + 1;
		for (;;) {
			p = json_value(p);
			if (!p)
				return NULL;
			p = json_ws(p);
			if (*p == ']')
				return p + 1;
			if (*p++ != ',')
				return NULL;
			p = json_ws(p);
		}
	case '"':
		return json_string(p);
	case 't':
		return strncmp(p, "true", 4) ? NULL : p + 4;
	case 'f':
		return strncmp(p, "false", 5) ? NULL : p + 5;
	case 'n':
		return strncmp(p, "null", 4) ? NULL : p + 4;
	default:
		return json_number(p);
	}
}

/* Keys of an object, as "a,b,c," (in order). */
struct keys {
	char list[1024];
	const char *flow; /* the value of "flow", when collected */
};

static void collect_key(const char *key, size_t klen, const char *val, void *ctx)
{
	struct keys *k = ctx;
	size_t n = strcspn(key, "\""); /* our keys have no escapes */

	(void)klen;
	strncat(k->list, key, n);
	strcat(k->list, ",");
	if (n == 4 && !strncmp(key, "flow", 4))
		k->flow = val;
}

/* Checks that every line of text is one complete, valid JSON object; returns the line count
 * and collects the flow ids (in order). */
static int check_lines(const char *text, uint64_t *ids, int max_ids)
{
	const char *p = text;
	int n = 0;

	while (*p) {
		const char *nl = strchr(p, '\n'), *end, *id;

		ck_assert_msg(nl != NULL, "incomplete last line: %.80s", p);
		end = json_object(p, NULL, NULL);
		ck_assert_msg(end == nl, "invalid JSON line: %.*s", (int)(nl - p), p);
		id = strstr(p, "\"flow_id\":\"");
		if (ids && id && id < nl) {
			ck_assert_int_lt(n, max_ids);
			ids[n] = strtoull(id + 11, NULL, 10);
		}
		n++;
		p = nl + 1;
	}
	return n;
}

/* Expected files after writing ids 1..n with rotation at max: the first id of each file (greedy:
 * a new file when the next line would exceed max), oldest first; returns how many files. */
static int simulate(uint64_t n, uint64_t max, uint64_t *first)
{
	uint64_t cur = 0, id;
	int files = 0;

	for (id = 1; id <= n; id++) {
		struct buf b = api_line(id);

		if (!files || (cur && cur + b.len > max)) {
			first[files++] = id;
			cur = 0;
		}
		cur += b.len;
		buf_free(&b);
	}
	return files;
}

/* ---- tests ---------------------------------------------------------------------------------- */

START_TEST(lines_match_api)
{
	struct file_exporter_opts o = {.node_name = NODE};
	struct file_exporter_stats st;
	struct file_exporter *e;
	struct buf want = BUF_INIT;
	char p[256], err[256];
	uint64_t ids[64];
	char *got;
	int i;

	o.path = in_dir(p, sizeof(p), "flows.json");
	ck_assert_int_eq(file_exporter_open(&e, &o, err, sizeof(err)), 0);
	for (i = 1; i <= 20; i++) {
		struct flow f = make_flow((uint64_t)i, 443);

		if (i % 3 == 0) {
			f.proto = IPPROTO_UDP;
			f.is_reply = true;
		}
		if (i % 5 == 0) {
			f.family = 6;
			inet_pton(AF_INET6, "fd00::1", f.src.addr);
			inet_pton(AF_INET6, "fd00::2", f.dst.addr);
			f.ended = true;
			f.end_ns = f.last_seen_ns + 1;
		}
		ck_assert_int_eq(file_exporter_write(e, &f), 0);
		ck_assert_int_eq(flow_pb_json_line(&want, &f, NODE), 0);
	}
	file_exporter_get_stats(e, &st);
	ck_assert_uint_eq(st.written, 0); /* still buffered */
	file_exporter_close(e);
	got = slurp(p);
	ck_assert_str_eq(got, want.data);
	ck_assert_int_eq(check_lines(got, ids, 64), 20);
	for (i = 0; i < 20; i++)
		ck_assert_uint_eq(ids[i], (uint64_t)i + 1);
	free(got);
	buf_free(&want);
}
END_TEST

START_TEST(field_mask_keeps_listed_keys)
{
	struct file_exporter_opts o = {.node_name = NODE, .fields = " time , IP"};
	struct file_exporter *e;
	struct flow f = make_flow(7, 443);
	struct keys top, fk;
	char p[256], err[256];
	char *got;

	o.path = in_dir(p, sizeof(p), "masked.json");
	ck_assert_int_eq(file_exporter_open(&e, &o, err, sizeof(err)), 0);
	ck_assert_int_eq(file_exporter_write(e, &f), 0);
	file_exporter_close(e);
	got = slurp(p);
	ck_assert_int_eq(check_lines(got, NULL, 0), 1);
	ck_assert_ptr_nonnull(strstr(got, "\"IP\":"));
	ck_assert_ptr_null(strstr(got, "\"l4\":"));
	memset(&top, 0, sizeof(top));
	ck_assert_ptr_nonnull(json_object(got, collect_key, &top));
	ck_assert_str_eq(top.list, "flow,node_name,time,");
	ck_assert_ptr_nonnull(top.flow);
	memset(&fk, 0, sizeof(fk));
	ck_assert_ptr_nonnull(json_object(top.flow, collect_key, &fk));
	ck_assert_str_eq(fk.list, "time,IP,");
	ck_assert_ptr_nonnull(strstr(got, "\"node_name\":\"" NODE "\""));
	free(got);
	unlink(p);

	/* A wider mask: only listed keys, and those the flow has are there. */
	o.fields = "time,verdict,IP,l4,source,destination";
	ck_assert_int_eq(file_exporter_open(&e, &o, err, sizeof(err)), 0);
	ck_assert_int_eq(file_exporter_write(e, &f), 0);
	file_exporter_close(e);
	got = slurp(p);
	ck_assert_int_eq(check_lines(got, NULL, 0), 1);
	memset(&top, 0, sizeof(top));
	ck_assert_ptr_nonnull(json_object(got, collect_key, &top));
	memset(&fk, 0, sizeof(fk));
	ck_assert_ptr_nonnull(json_object(top.flow, collect_key, &fk));
	ck_assert_str_eq(fk.list, "time,verdict,IP,l4,");
	free(got);
}
END_TEST

START_TEST(field_mask_unknown_field)
{
	Flow__FlowFilter ff = FLOW__FLOW_FILTER__INIT, *ffp = &ff;
	char *p443[] = {"443"};
	struct file_exporter_opts o = {.node_name = NODE, .fields = "time,nope"};
	struct file_exporter *e = (struct file_exporter *)1;
	char p[256], err[256] = "";

	ff.n_destination_port = 1;
	ff.destination_port = p443;
	o.filters = flow_filter_set_new(&ffp, 1, NULL, 0, err, sizeof(err));
	ck_assert_ptr_nonnull(o.filters); /* freed by the failed open (valgrind checks) */
	o.path = in_dir(p, sizeof(p), "never.json");
	ck_assert_int_eq(file_exporter_open(&e, &o, err, sizeof(err)), -EINVAL);
	ck_assert_ptr_null(e);
	ck_assert_msg(strstr(err, "'nope'") != NULL, "err: %s", err);
	ck_assert(!exists(p));
	o.fields = "time,,IP";
	o.filters = NULL;
	ck_assert_int_eq(file_exporter_open(&e, &o, err, sizeof(err)), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "empty"));
	o.fields = "time";
	o.path = NULL;
	ck_assert_int_eq(file_exporter_open(&e, &o, err, sizeof(err)), -EINVAL);
	o.path = "/nonexistent-dir/x/flows.json";
	ck_assert_int_eq(file_exporter_open(&e, &o, err, sizeof(err)), -ENOENT);
	ck_assert_ptr_nonnull(strstr(err, "/nonexistent-dir/x/flows.json"));
}
END_TEST

START_TEST(filters_pass_matching_flows)
{
	Flow__FlowFilter ff = FLOW__FLOW_FILTER__INIT, *ffp = &ff;
	char *p443[] = {"443"};
	struct file_exporter_opts o = {.node_name = NODE};
	struct file_exporter_stats st;
	struct file_exporter *e;
	char p[256], err[256];
	uint64_t ids[64];
	char *got;
	int i, n;

	ff.n_destination_port = 1;
	ff.destination_port = p443;
	o.filters = flow_filter_set_new(&ffp, 1, NULL, 0, err, sizeof(err));
	ck_assert_msg(o.filters != NULL, "%s", err);
	o.path = in_dir(p, sizeof(p), "filtered.json");
	ck_assert_int_eq(file_exporter_open(&e, &o, err, sizeof(err)), 0);
	for (i = 1; i <= 30; i++) {
		struct flow f = make_flow((uint64_t)i, i % 3 ? 80 : 443);

		ck_assert_int_eq(file_exporter_write(e, &f), 0);
	}
	ck_assert_int_eq(file_exporter_flush(e, false), 0);
	file_exporter_get_stats(e, &st);
	ck_assert_uint_eq(st.written, 10);
	ck_assert_uint_eq(st.filtered, 20);
	ck_assert_uint_eq(st.dropped, 0);
	ck_assert_uint_eq(st.errors, 0);
	got = slurp(p);
	ck_assert_uint_eq(st.bytes, strlen(got));
	n = check_lines(got, ids, 64);
	ck_assert_int_eq(n, 10);
	for (i = 0; i < n; i++)
		ck_assert_uint_eq(ids[i], (uint64_t)(i + 1) * 3);
	ck_assert_ptr_null(strstr(got, "\"destination_port\":80"));
	file_exporter_close(e);
	free(got);
}
END_TEST

/* Writes ids 1..n and checks the kept files against the greedy simulation. */
static void check_rotation(bool gzip)
{
	const uint64_t max = 2000, n = 200;
	const unsigned int keep = 3;
	struct file_exporter_opts o = {.node_name = NODE, .max_bytes = max, .keep = keep};
	struct file_exporter_stats st;
	struct file_exporter *e;
	char p[256], rp[300], err[256];
	uint64_t first[256], ids[MAX_IDS];
	int files, i, k, total = 0;
	uint64_t next;

	o.gzip = gzip;
	o.path = in_dir(p, sizeof(p), "rot.json");
	ck_assert_int_eq(file_exporter_open(&e, &o, err, sizeof(err)), 0);
	for (i = 1; i <= (int)n; i++) {
		struct flow f = make_flow((uint64_t)i, 443);

		ck_assert_int_eq(file_exporter_write(e, &f), 0);
	}
	file_exporter_get_stats(e, &st);
	file_exporter_close(e);
	files = simulate(n, max, first);
	ck_assert_int_gt(files, (int)keep + 1);
	ck_assert_uint_eq(st.rotations, (uint64_t)files - 1);
	ck_assert_uint_eq(st.errors, 0);
	ck_assert_uint_eq(st.dropped, 0);

	snprintf(rp, sizeof(rp), "%s.%u%s", p, keep + 1, gzip ? ".gz" : "");
	ck_assert_msg(!exists(rp), "%s exists", rp);
	snprintf(rp, sizeof(rp), "%s.%u.gz", p, keep + 1);
	ck_assert(!exists(rp));
	snprintf(rp, sizeof(rp), "%s.%u", p, keep + 1);
	ck_assert(!exists(rp));
	/* Oldest kept first: path.keep ... path.1, path. */
	next = first[files - 1 - (int)keep];
	for (k = (int)keep; k >= 0; k--) {
		int fi = files - 1 - k, lines;
		uint64_t last = fi + 1 < files ? first[fi + 1] - 1 : n;
		char *text;

		if (k)
			snprintf(rp, sizeof(rp), "%s.%d%s", p, k, gzip ? ".gz" : "");
		else
			snprintf(rp, sizeof(rp), "%s", p);
		ck_assert_msg(exists(rp), "%s missing", rp);
		if (gzip && k) {
			char plain[300];

			snprintf(plain, sizeof(plain), "%s.%d", p, k);
			ck_assert_msg(!exists(plain), "%s left uncompressed", plain);
			snprintf(plain, sizeof(plain), "%s.%d.gz.tmp", p, k);
			ck_assert(!exists(plain));
			text = gunzip(rp);
		} else {
			text = slurp(rp);
			ck_assert_int_le(file_size(rp), (long)max);
		}
		ck_assert_uint_le(strlen(text), max);
		lines = check_lines(text, ids, MAX_IDS);
		ck_assert_int_eq((uint64_t)lines, last - first[fi] + 1);
		for (i = 0; i < lines; i++)
			ck_assert_uint_eq(ids[i], next++);
		/* Rotated only when needed: the next line would not have fitted. */
		if (k) {
			struct buf nl = api_line(last + 1);

			ck_assert_uint_gt(strlen(text) + nl.len, max);
			buf_free(&nl);
		}
		/* Byte for byte the API's lines. */
		{
			struct buf want = BUF_INIT;
			uint64_t id;

			for (id = first[fi]; id <= last; id++) {
				struct flow f = make_flow(id, 443);

				ck_assert_int_eq(flow_pb_json_line(&want, &f, NODE), 0);
			}
			ck_assert_str_eq(text, want.data);
			buf_free(&want);
		}
		total += lines;
		free(text);
	}
	ck_assert_uint_eq(next - 1, n); /* the newest are all there, in order, no gap */
	ck_assert_uint_eq((uint64_t)total, n - (first[files - 1 - (int)keep] - 1));
}

START_TEST(rotation_keeps_newest)
{
	check_rotation(false);
}
END_TEST

START_TEST(rotation_gzip)
{
	check_rotation(true);
}
END_TEST

START_TEST(rotation_stats_and_big_lines)
{
	/* Every line is larger than max_bytes: each is written alone in its file. */
	struct file_exporter_opts o = {.node_name = NODE, .max_bytes = 100, .keep = 2};
	struct file_exporter_stats st;
	struct file_exporter *e;
	char p[256], rp[300], err[256];
	uint64_t ids[4];
	char *t;
	int i;

	o.path = in_dir(p, sizeof(p), "big.json");
	ck_assert_int_eq(file_exporter_open(&e, &o, err, sizeof(err)), 0);
	for (i = 1; i <= 5; i++) {
		struct flow f = make_flow((uint64_t)i, 443);

		ck_assert_int_eq(file_exporter_write(e, &f), 0);
	}
	file_exporter_get_stats(e, &st);
	ck_assert_uint_eq(st.rotations, 4);
	ck_assert_uint_eq(st.written, 4); /* the 5th is buffered */
	file_exporter_close(e);
	for (i = 0; i <= 2; i++) {
		if (i)
			snprintf(rp, sizeof(rp), "%s.%d", p, i);
		else
			snprintf(rp, sizeof(rp), "%s", p);
		t = slurp(rp);
		ck_assert_int_eq(check_lines(t, ids, 4), 1);
		ck_assert_uint_eq(ids[0], 5 - (uint64_t)i);
		free(t);
	}
	snprintf(rp, sizeof(rp), "%s.3", p);
	ck_assert(!exists(rp));
}
END_TEST

START_TEST(reload_switches_file)
{
	struct file_exporter_opts o = {.node_name = NODE};
	struct file_exporter_stats st;
	struct file_exporter *e;
	char pa[256], pb[256], moved[300], err[256];
	uint64_t ids[128];
	char *t;
	int i, n;

	o.path = in_dir(pa, sizeof(pa), "a.json");
	ck_assert_int_eq(file_exporter_open(&e, &o, err, sizeof(err)), 0);
	for (i = 1; i <= 50; i++) {
		struct flow f = make_flow((uint64_t)i, 443);

		ck_assert_int_eq(file_exporter_write(e, &f), 0);
	}
	o.path = in_dir(pb, sizeof(pb), "b.json");
	o.fields = "time,IP,flow_id";
	ck_assert_int_eq(file_exporter_reload(e, &o, err, sizeof(err)), 0);
	for (i = 51; i <= 100; i++) {
		struct flow f = make_flow((uint64_t)i, 443);

		ck_assert_int_eq(file_exporter_write(e, &f), 0);
	}
	/* logrotate style: the file is moved away, a reload of the same options recreates it. */
	ck_assert_int_eq(file_exporter_flush(e, false), 0);
	snprintf(moved, sizeof(moved), "%s.moved", pb);
	ck_assert_int_eq(rename(pb, moved), 0);
	ck_assert_int_eq(file_exporter_reload(e, &o, err, sizeof(err)), 0);
	for (i = 101; i <= 110; i++) {
		struct flow f = make_flow((uint64_t)i, 443);

		ck_assert_int_eq(file_exporter_write(e, &f), 0);
	}
	file_exporter_get_stats(e, &st);
	file_exporter_close(e);
	ck_assert_uint_eq(st.dropped, 0);
	ck_assert_uint_eq(st.errors, 0);

	t = slurp(pa);
	n = check_lines(t, ids, 128);
	ck_assert_int_eq(n, 50);
	for (i = 0; i < n; i++)
		ck_assert_uint_eq(ids[i], (uint64_t)i + 1);
	ck_assert_ptr_nonnull(strstr(t, "\"l4\":")); /* old options */
	free(t);
	t = slurp(moved);
	n = check_lines(t, ids, 128);
	ck_assert_int_eq(n, 50);
	for (i = 0; i < n; i++)
		ck_assert_uint_eq(ids[i], (uint64_t)i + 51);
	ck_assert_ptr_null(strstr(t, "\"l4\":")); /* new options */
	free(t);
	t = slurp(pb);
	n = check_lines(t, ids, 128);
	ck_assert_int_eq(n, 10);
	for (i = 0; i < n; i++)
		ck_assert_uint_eq(ids[i], (uint64_t)i + 101);
	free(t);
}
END_TEST

START_TEST(reload_bad_mask_keeps_old)
{
	Flow__FlowFilter ff = FLOW__FLOW_FILTER__INIT, *ffp = &ff;
	char *p443[] = {"443"};
	struct file_exporter_opts o = {.node_name = NODE};
	struct file_exporter_stats st;
	struct file_exporter *e;
	char pa[256], pb[256], err[256] = "";
	uint64_t ids[64];
	char *t;
	int i, n;

	o.path = in_dir(pa, sizeof(pa), "a.json");
	ck_assert_int_eq(file_exporter_open(&e, &o, err, sizeof(err)), 0);
	for (i = 1; i <= 10; i++) {
		struct flow f = make_flow((uint64_t)i, 443);

		ck_assert_int_eq(file_exporter_write(e, &f), 0);
	}
	ff.n_destination_port = 1;
	ff.destination_port = p443;
	o.filters = flow_filter_set_new(&ffp, 1, NULL, 0, err, sizeof(err));
	ck_assert_ptr_nonnull(o.filters);
	o.path = in_dir(pb, sizeof(pb), "b.json");
	o.fields = "time,bogus";
	ck_assert_int_eq(file_exporter_reload(e, &o, err, sizeof(err)), -EINVAL);
	ck_assert_msg(strstr(err, "bogus") != NULL, "err: %s", err);
	/* Still the old options: no filter (port 80 passes), no mask, the old file. */
	for (i = 11; i <= 20; i++) {
		struct flow f = make_flow((uint64_t)i, 80);

		ck_assert_int_eq(file_exporter_write(e, &f), 0);
	}
	/* A reload to a path that cannot be opened fails too. */
	o.fields = NULL;
	o.filters = NULL;
	o.path = "/nonexistent-dir/flows.json";
	ck_assert_int_eq(file_exporter_reload(e, &o, err, sizeof(err)), -ENOENT);
	for (i = 21; i <= 25; i++) {
		struct flow f = make_flow((uint64_t)i, 80);

		ck_assert_int_eq(file_exporter_write(e, &f), 0);
	}
	file_exporter_get_stats(e, &st);
	ck_assert_uint_eq(st.filtered, 0);
	file_exporter_close(e);
	ck_assert(!exists(pb));
	t = slurp(pa);
	n = check_lines(t, ids, 64);
	ck_assert_int_eq(n, 25);
	for (i = 0; i < n; i++)
		ck_assert_uint_eq(ids[i], (uint64_t)i + 1);
	ck_assert_ptr_nonnull(strstr(t, "\"l4\":"));
	free(t);
}
END_TEST

START_TEST(flush_and_close_leave_lines_on_disk)
{
	struct file_exporter_opts o = {.node_name = NODE, .buffer_bytes = 1 << 20};
	struct file_exporter_stats st;
	struct file_exporter *e;
	char p[256], err[256];
	uint64_t ids[64];
	char *t;
	int i, n;

	o.path = in_dir(p, sizeof(p), "flush.json");
	ck_assert_int_eq(file_exporter_open(&e, &o, err, sizeof(err)), 0);
	for (i = 1; i <= 10; i++) {
		struct flow f = make_flow((uint64_t)i, 443);

		ck_assert_int_eq(file_exporter_write(e, &f), 0);
	}
	ck_assert_int_eq(file_size(p), 0); /* all buffered */
	ck_assert_int_eq(file_exporter_flush(e, false), 0);
	t = slurp(p);
	ck_assert_int_eq(check_lines(t, NULL, 0), 10);
	free(t);
	for (i = 11; i <= 15; i++) {
		struct flow f = make_flow((uint64_t)i, 443);

		ck_assert_int_eq(file_exporter_write(e, &f), 0);
	}
	ck_assert_int_eq(file_exporter_flush(e, true), 0);
	ck_assert_int_eq(file_exporter_flush(e, true), 0); /* nothing buffered: fine */
	for (i = 16; i <= 20; i++) {
		struct flow f = make_flow((uint64_t)i, 443);

		ck_assert_int_eq(file_exporter_write(e, &f), 0);
	}
	file_exporter_get_stats(e, &st);
	ck_assert_uint_eq(st.written, 15);
	file_exporter_close(e);
	/* Reopening appends. A one-byte buffer writes every line at once. */
	o.buffer_bytes = 1;
	ck_assert_int_eq(file_exporter_open(&e, &o, err, sizeof(err)), 0);
	{
		struct flow f = make_flow(21, 443);
		struct buf l = api_line(21);
		long before = file_size(p);

		ck_assert_int_eq(file_exporter_write(e, &f), 0);
		ck_assert_int_eq(file_size(p), before + (long)l.len);
		file_exporter_get_stats(e, &st);
		ck_assert_uint_eq(st.written, 1);
		ck_assert_uint_eq(st.bytes, l.len);
		buf_free(&l);
	}
	file_exporter_close(e);
	file_exporter_close(NULL);
	t = slurp(p);
	n = check_lines(t, ids, 64);
	ck_assert_int_eq(n, 21);
	for (i = 0; i < n; i++)
		ck_assert_uint_eq(ids[i], (uint64_t)i + 1);
	free(t);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("file_exporter");
	TCase *t = tcase_create("file_exporter");
	SRunner *r;
	int failed;

	tcase_add_checked_fixture(t, setup, teardown);
	tcase_set_timeout(t, 60);
	tcase_add_test(t, lines_match_api);
	tcase_add_test(t, field_mask_keeps_listed_keys);
	tcase_add_test(t, field_mask_unknown_field);
	tcase_add_test(t, filters_pass_matching_flows);
	tcase_add_test(t, rotation_keeps_newest);
	tcase_add_test(t, rotation_gzip);
	tcase_add_test(t, rotation_stats_and_big_lines);
	tcase_add_test(t, reload_switches_file);
	tcase_add_test(t, reload_bad_mask_keeps_old);
	tcase_add_test(t, flush_and_close_leave_lines_on_disk);
	suite_add_tcase(s, t);
	r = srunner_create(s);
	srunner_run_all(r, CK_NORMAL);
	failed = srunner_ntests_failed(r);
	srunner_free(r);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
