/* Unit tests of the history's flow record codec (collector/history/flow_rec.c): every field a
 * record carries comes back equal, the rest zero; runs decode in order from one reset state;
 * what the collector's events repeat costs no bytes; no truncated, mutated or random bytes make
 * the decoder succeed wrongly, read out of bounds or crash. */
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "flows.h"
#include "flowscope/history/flow_rec.h"

/* ---- comparing what a record carries ------------------------------------------------------ */

/* ck_assert would write down every assertion that passes: too slow for the loops below. */
#define REQUIRE(c, ...)                                                                            \
	do {                                                                                       \
		if (!(c))                                                                          \
			ck_abort_msg(__VA_ARGS__);                                                 \
	} while (0)
#define EQ(fld)                                                                                    \
	REQUIRE(a->fld == b->fld, "record %d: " #fld " %llu, decoded %llu", n,                     \
		(unsigned long long)a->fld, (unsigned long long)b->fld)
#define MEM_EQ(fld, len) REQUIRE(!memcmp(a->fld, b->fld, len), "record %d: " #fld, n)
#define STR_EQ(fld) REQUIRE(!strcmp(a->fld, b->fld), "record %d: " #fld " differs", n)

static void ptr_str_eq(int n, const char *what, const char *a, const char *b)
{
	REQUIRE(!a == !b, "record %d: %s is %s, decoded %s", n, what, a ? "set" : "NULL",
		b ? "set" : "NULL");
	if (a)
		REQUIRE(!strcmp(a, b), "record %d: %s \"%s\", decoded \"%s\"", n, what, a, b);
}

static void proc_eq(int n, const struct flow_process *a, const struct flow_process *b)
{
	REQUIRE(!a == !b, "record %d: a process is %s, decoded %s", n, a ? "set" : "NULL",
		b ? "set" : "NULL");
	if (!a)
		return;
	EQ(known);
	EQ(pid);
	STR_EQ(comm);
	EQ(cgroup_id);
	ptr_str_eq(n, "container_id", a->container_id, b->container_id);
}

static void dns_eq(int n, const struct flow_dns_info *a, const struct flow_dns_info *b)
{
	static const struct flow_dns_info none;
	int i;

	EQ(present);
	if (!a->present) {
		REQUIRE(!memcmp(b, &none, sizeof(none)), "record %d: dns not zero", n);
		return;
	}
	EQ(response);
	ptr_str_eq(n, "dns.query", a->query, b->query);
	EQ(qtype);
	EQ(rcode);
	EQ(n_ips);
	EQ(ttl);
	for (i = 0; i < a->n_ips; i++) {
		EQ(ip_family[i]);
		MEM_EQ(ips[i], a->ip_family[i] == 6 ? 16 : 4);
	}
}

static void endpoint_eq(int n, const struct flow_endpoint *a, const struct flow_endpoint *b,
			size_t alen)
{
	static const uint8_t zero[16];

	MEM_EQ(addr, alen);
	REQUIRE(!memcmp(b->addr + alen, zero, 16 - alen), "record %d: address tail", n);
	EQ(port);
}

/* a is the flow encoded, b the one decoded: equal in every field a record carries, zero in
 * the others. */
static void flow_eq(int n, const struct flow *a, const struct flow *b)
{
	int d;

	EQ(id);
	MEM_EQ(key.addr, sizeof(a->key.addr));
	for (d = 0; d < 2; d++)
		EQ(key.port[d]);
	EQ(key.ifindex);
	EQ(key.proto);
	EQ(key.family);
	EQ(key.vlan_id);
	endpoint_eq(n, &a->src, &b->src, a->family == 4 ? 4 : 16);
	endpoint_eq(n, &a->dst, &b->dst, a->family == 4 ? 4 : 16);
	EQ(family);
	EQ(proto);
	EQ(icmp_type);
	EQ(icmp_code);
	EQ(vlan_id);
	EQ(ifindex);
	STR_EQ(ifname);
	EQ(traffic_dir);
	EQ(if_kind);
	EQ(copy);
	EQ(verdict);
	EQ(event);
	EQ(ended);
	EQ(is_reply);
	EQ(tcp_flags);
	for (d = 0; d < 2; d++) {
		EQ(tcp_flags_seen[d]);
		EQ(packets[d]);
		EQ(bytes[d]);
	}
	EQ(time_ns);
	EQ(obs_point);
	MEM_EQ(uuid, 16);
	EQ(seq);
	EQ(first_seen_ns);
	EQ(last_seen_ns);
	EQ(end_ns);
	proc_eq(n, a->src_proc, b->src_proc);
	proc_eq(n, a->dst_proc, b->dst_proc);
	EQ(rtt_us);
	EQ(retransmits);
	EQ(socket_cookie);
	EQ(sock_closed_ns);
	EQ(drop_reason);
	EQ(drops);
	ptr_str_eq(n, "src_name", a->src_name, b->src_name);
	ptr_str_eq(n, "dst_name", a->dst_name, b->dst_name);
	dns_eq(n, &a->dns, &b->dns);
	REQUIRE(!b->origin && !b->src_id && !b->dst_id && !b->late && !b->started &&
			!b->first_seen_boot_ns && !b->sweep_gen && !b->published_ns,
		"record %d: a field no record carries is set", n);
}

/* A decoded string lies whole inside the record's bytes. */
static void str_inside(const char *s, const uint8_t *start, const uint8_t *end)
{
	if (!s)
		return;
	REQUIRE((const uint8_t *)s >= start && (const uint8_t *)s < end, "string outside");
	REQUIRE(memchr(s, '\0', (size_t)(end - (const uint8_t *)s)), "string not ended inside");
}

static void strs_inside(const struct flow *f, const uint8_t *start, const uint8_t *end)
{
	str_inside(f->src_name, start, end);
	str_inside(f->dst_name, start, end);
	str_inside(f->dns.query, start, end);
}

/* ---- sample flows ---------------------------------------------------------------------------- */

static const uint8_t session[8] = {0x5e, 0x55, 0x10, 0x2a, 0xc0, 0xde, 0x4f, 0x01};

/* The uuid set_uuid (collector/pipeline/collector.c) gives event seq of session. */
static void collector_uuid(struct flow *f)
{
	uint64_t s = f->seq;
	int i;

	memcpy(f->uuid, session, 8);
	f->uuid[6] = (uint8_t)((f->uuid[6] & 0x0f) | 0x40);
	for (i = 15; i >= 8; i--, s >>= 8)
		f->uuid[i] = (uint8_t)s;
	f->uuid[8] = (uint8_t)((f->uuid[8] & 0x3f) | 0x80);
}

/* The key as flow_decode_state makes it: the initiator on key side `side`. */
static void collector_key(struct flow *f, int side)
{
	size_t alen = f->family == 4 ? 4 : 16;

	memset(&f->key, 0, sizeof(f->key));
	memcpy(f->key.addr[side], f->src.addr, alen);
	memcpy(f->key.addr[!side], f->dst.addr, alen);
	f->key.port[side] = f->src.port;
	f->key.port[!side] = f->dst.port;
	f->key.ifindex = f->ifindex;
	f->key.proto = f->proto;
	f->key.family = f->family;
	f->key.vlan_id = f->vlan_id;
}

static const struct flow_origin elsewhere = {.name = "node2"};

/* Fields no record carries, set so that the tests see they come back zero. */
static void uncarried(struct flow *f)
{
	f->origin = &elsewhere;
	f->src_id = (const struct identity *)&elsewhere;
	f->dst_id = (const struct identity *)&elsewhere;
	f->late = true;
	f->first_seen_boot_ns = 12345;
	f->sweep_gen = 9;
	f->published_ns = f->time_ns;
	f->started = true;
	if (!f->dns.present) { /* a stale message, as the collector leaves one */
		f->dns.query = "stale.example";
		f->dns.n_ips = 1;
		f->dns.ip_family[0] = 4;
		f->dns.ttl = 60;
	}
}

/* A process record that lives as long as the test program (flows of a run point at them). */
static const struct flow_process *proc_rec(bool known, uint32_t pid, const char *comm,
					   uint64_t cgroup, const char *container)
{
	static struct flow_process pool[8192];
	static size_t n;
	struct flow_process *p;

	ck_assert_uint_lt(n, 8192);
	p = &pool[n++];
	p->known = known;
	p->pid = pid;
	snprintf(p->comm, sizeof(p->comm), "%s", comm);
	p->cgroup_id = cgroup;
	p->container_id = container[0] ? container : NULL;
	return p;
}

static const char hex_id[] = "4f3c2b1a09e8d7c6b5a4938271605f4e3d2c1b0a99887766554433221100ffee";

static struct flow ipv6(struct flow f, const char *src, const char *dst)
{
	f.family = 6;
	memset(f.src.addr, 0, 16);
	memset(f.dst.addr, 0, 16);
	inet_pton(AF_INET6, src, f.src.addr);
	inet_pton(AF_INET6, dst, f.dst.addr);
	return f;
}

/* The next of a collector's events (seq + 1, its uuid, later). */
static struct flow next(struct flow f, uint64_t dt)
{
	f.seq++;
	f.time_ns += dt;
	collector_uuid(&f);
	return f;
}

static int tcp_samples(struct flow *out)
{
	struct flow f = tcp_flow(), *o = out;

	*o++ = f; /* flows.h's: a zero key (not the endpoints') */
	f = next(f, 1000);
	collector_key(&f, 1);
	f.is_reply = true;
	f.tcp_flags = FLOW_TCP_SYN | FLOW_TCP_ACK;
	f.tcp_flags_seen[1] = f.tcp_flags;
	f.last_seen_ns = f.time_ns;
	f.src_proc = proc_rec(true, 4242, "curl", 77, hex_id);
	f.dst_proc = proc_rec(true, 1, "nginx", 0, "");
	f.rtt_us = 230;
	f.retransmits = 1;
	f.socket_cookie = 0x1234567;
	f.src_name = "";
	f.dst_name = "example.com";
	*o++ = f;
	f = next(f, 5000000); /* the sweep's UPDATE */
	f.event = FLOW_EVENT_UPDATE;
	f.is_reply = false;
	f.tcp_flags = 0;
	f.src_name = NULL;
	f.packets[0] += 100;
	f.bytes[0] += 100000;
	*o++ = f;
	f = next(f, 2000); /* END of a closed connection */
	f.event = FLOW_EVENT_END;
	f.ended = true;
	f.end_ns = f.time_ns - 10;
	f.last_seen_ns = f.time_ns - 500;
	f.sock_closed_ns = 987654321012ULL;
	*o++ = f;
	f = next(ipv6(tcp_flow(), "fd00::1", "2001:db8::443"), 3);
	collector_key(&f, 0);
	f.copy = true;
	f.vlan_id = 100;
	f.key.vlan_id = 100;
	f.if_kind = FLOW_IF_ENDPOINT;
	f.obs_point = FLOW_OBS_FROM_ENDPOINT;
	f.ifindex = 7;
	strcpy(f.ifname, "veth1a2b3c");
	f.key.ifindex = 7;
	*o++ = f;
	return (int)(o - out);
}

static int udp_icmp_samples(struct flow *out)
{
	struct flow f = next(tcp_flow(), 100), *o = out;

	f.proto = IPPROTO_UDP;
	f.dst.port = 53;
	f.tcp_flags = f.tcp_flags_seen[0] = 0;
	f.event = FLOW_EVENT_DNS;
	collector_key(&f, 1);
	f.dns = (struct flow_dns_info){.present = true, .query = "example.com", .qtype = 1};
	*o++ = f;
	f = next(f, 300);
	f.is_reply = true;
	f.dns.response = true;
	f.dns.qtype = 28;
	f.dns.ttl = 300;
	f.dns.n_ips = 4;
	f.dns.ip_family[0] = 4;
	inet_pton(AF_INET, "93.184.216.34", f.dns.ips[0]);
	f.dns.ip_family[1] = 6;
	inet_pton(AF_INET6, "2606:2800:220:1::248", f.dns.ips[1]);
	f.dns.ip_family[2] = 6;
	inet_pton(AF_INET6, "::1", f.dns.ips[2]);
	f.dns.ip_family[3] = 4;
	inet_pton(AF_INET, "10.1.2.3", f.dns.ips[3]);
	*o++ = f;
	f = next(f, 1);
	f.dns = (struct flow_dns_info){.present = true, .rcode = 3}; /* no query, NXDOMAIN */
	*o++ = f;
	f = next(f, 1);
	f.dns = (struct flow_dns_info){.present = true, .query = ""};
	*o++ = f;
	f = next(tcp_flow(), 20); /* echo: both ports the identifier */
	f.proto = IPPROTO_ICMP;
	f.src.port = f.dst.port = 0x1d2e;
	f.icmp_type = 8;
	f.tcp_flags = f.tcp_flags_seen[0] = 0;
	f.event = FLOW_EVENT_START;
	collector_key(&f, 0);
	*o++ = f;
	f = next(f, 20); /* an error: type and code */
	f.src.port = f.icmp_type = 3;
	f.dst.port = f.icmp_code = 1;
	collector_key(&f, 0);
	*o++ = f;
	f = next(ipv6(f, "fe80::1", "fe80::2"), 20);
	f.proto = IPPROTO_ICMPV6;
	f.src.port = f.dst.port = 7;
	f.icmp_type = 128;
	f.icmp_code = 0;
	collector_key(&f, 1);
	*o++ = f;
	return (int)(o - out);
}

/* Events from elsewhere and values at their ends. */
static int odd_samples(struct flow *out)
{
	struct flow f = next(tcp_flow(), 10), *o = out;
	int i;

	collector_key(&f, 0);
	f.event = FLOW_EVENT_DROP;
	f.verdict = FLOW_VERDICT_DROPPED;
	f.drop_reason = 2;
	f.drops = 17;
	*o++ = f;
	f = next(f, 10); /* another node's event: its uuid, earlier, a lower seq and id */
	for (i = 0; i < 16; i++)
		f.uuid[i] = (uint8_t)(0xa5 ^ i * 37);
	f.seq -= 1000;
	f.id -= 40;
	f.time_ns -= 3000000000ULL;
	f.key.ifindex = 3u << 20 | 2; /* the relay's: the node's index in the key's ifindex */
	f.key.vlan_id = 9;
	*o++ = f;
	f = next(f, 10); /* enums that do not fit their bits */
	f.verdict = 5;
	f.event = 9;
	f.obs_point = 200;
	f.if_kind = 7;
	f.traffic_dir = 3;
	f.src_proc = proc_rec(false, 99, "", 0, ""); /* a pid without known */
	*o++ = f;
	f = next(f, 0);
	f.src.port = f.dst.port = UINT16_MAX;
	f.id = f.seq = f.packets[0] = f.packets[1] = f.bytes[0] = f.bytes[1] = UINT64_MAX;
	f.time_ns = 0;
	f.first_seen_ns = f.end_ns = f.sock_closed_ns = f.socket_cookie = f.drops = UINT64_MAX;
	f.last_seen_ns = UINT64_MAX - 1;
	f.ifindex = f.drop_reason = f.rtt_us = f.retransmits = UINT32_MAX;
	f.vlan_id = f.tcp_flags = f.tcp_flags_seen[0] = f.tcp_flags_seen[1] = UINT16_MAX;
	f.icmp_type = f.icmp_code = UINT8_MAX;
	strcpy(f.ifname, "fifteen-chars-x");
	collector_key(&f, 0);
	f.src_proc = proc_rec(true, UINT32_MAX, "fifteen-chars-y", UINT64_MAX,
			      "4F3C2B1A09E8D7C6B5A4938271605F4E3D2C1B0A99887766554433221100FFEE");
	f.dst_proc = proc_rec(false, 0, "", 1, "abc"); /* odd length: not packed */
	f.dns = (struct flow_dns_info){.present = true,
				       .query = "a.b",
				       .qtype = UINT16_MAX,
				       .rcode = UINT8_MAX,
				       .ttl = UINT32_MAX};
	*o++ = f;
	f = next(f, 1); /* time going backwards again, after the wrap */
	f.time_ns = 5;
	f.seq = 3;
	f.id = 0;
	*o++ = f;
	return (int)(o - out);
}

#define MAX_SAMPLES 32

static int samples(struct flow *out)
{
	int i, n = 0;

	n += tcp_samples(out + n);
	n += udp_icmp_samples(out + n);
	n += odd_samples(out + n);
	ck_assert_int_le(n, MAX_SAMPLES);
	for (i = 0; i < n; i++)
		uncarried(&out[i]);
	return n;
}

/* A run of records of flows, encoded from a reset state; off[i] is where record i starts. */
static void encode_run(const struct flow *f, int n, struct buf *b, size_t *off)
{
	struct flow_rec_state st;
	int i;

	flow_rec_reset(&st);
	for (i = 0; i < n; i++) {
		if (off)
			off[i] = b->len;
		ck_assert_int_eq(flow_rec_encode(&st, b, &f[i]), 0);
	}
	if (off)
		off[n] = b->len;
}

static void decode_run(const struct flow *want, int n, const struct buf *b)
{
	const uint8_t *p = (const uint8_t *)b->data, *end = p + b->len;
	struct flow_rec_state st;
	struct flow got;
	int i;

	flow_rec_reset(&st);
	for (i = 0; i < n; i++) {
		memset(&got, 0xa5, sizeof(got)); /* every field set, not left as it was */
		REQUIRE(flow_rec_decode(&st, &p, end, &got) == 0, "record %d refused", i);
		flow_eq(i, &want[i], &got);
		strs_inside(&got, (const uint8_t *)b->data, end);
	}
	ck_assert_ptr_eq(p, end);
}

/* ---- round trips ----------------------------------------------------------------------------- */

START_TEST(varied_flows_round_trip_in_one_run)
{
	struct flow f[MAX_SAMPLES];
	struct buf b = BUF_INIT;
	int n = samples(f);

	encode_run(f, n, &b, NULL);
	decode_run(f, n, &b);
	buf_free(&b);
}
END_TEST

START_TEST(each_flow_round_trips_from_a_reset_state)
{
	struct flow f[MAX_SAMPLES];
	int i, n = samples(f);

	for (i = 0; i < n; i++) {
		struct buf b = BUF_INIT;

		encode_run(&f[i], 1, &b, NULL);
		decode_run(&f[i], 1, &b);
		buf_free(&b);
	}
}
END_TEST

/* A decoded flow's strings point into the record: the same bytes, not a copy. */
START_TEST(strings_point_into_the_buffer)
{
	struct flow f[MAX_SAMPLES], got;
	struct flow_rec_state st;
	struct buf b = BUF_INIT;
	const uint8_t *p;

	samples(f);
	encode_run(&f[1], 1, &b, NULL);
	p = (const uint8_t *)b.data;
	flow_rec_reset(&st);
	ck_assert_int_eq(flow_rec_decode(&st, &p, p + b.len, &got), 0);
	ck_assert_str_eq(got.dst_name, "example.com");
	ck_assert(got.dst_name > b.data && got.dst_name + 12 <= b.data + b.len);
	ck_assert_str_eq(got.src_name, "");
	buf_free(&b);
}
END_TEST

/* The history's recovery encodes what it decoded from its journal again and must get the same
 * bytes: a record is a function of what it carries. */
static void same_bytes_again(const struct buf *b)
{
	const uint8_t *p = (const uint8_t *)b->data, *end = p + b->len;
	struct flow_rec_state dec, enc;
	struct buf again = BUF_INIT;
	struct flow got;

	flow_rec_reset(&dec);
	flow_rec_reset(&enc);
	while (p < end) {
		ck_assert_int_eq(flow_rec_decode(&dec, &p, end, &got), 0);
		ck_assert_int_eq(flow_rec_encode(&enc, &again, &got), 0);
	}
	ck_assert_uint_eq(again.len, b->len);
	ck_assert_mem_eq(again.data, b->data, b->len);
	buf_free(&again);
}

START_TEST(decoded_flows_encode_to_the_same_bytes)
{
	struct flow f[MAX_SAMPLES];
	struct buf b = BUF_INIT;
	int n = samples(f);

	encode_run(f, n, &b, NULL);
	same_bytes_again(&b);
	buf_free(&b);
}
END_TEST

/* ---- a collector's stream: realistic events ------------------------------------------------ */

static uint64_t rnd_state = 0x9e3779b97f4a7c15ULL;

static uint64_t rnd(void)
{
	rnd_state ^= rnd_state >> 12;
	rnd_state ^= rnd_state << 25;
	rnd_state ^= rnd_state >> 27;
	return rnd_state * 0x2545f4914f6cdd1dULL;
}

static uint64_t rnd_below(uint64_t n)
{
	return rnd() % n;
}

#define LIVE 64

/* Connections the simulated collector follows: each tells its events in turn. */
struct sim {
	struct flow live[LIVE];
	int step[LIVE], steps[LIVE];
	uint64_t time_ns, seq, next_id;
};

static const char *const names[] = {"api.example.com", "db.internal", "cdn.example.net", NULL};
static const char *const comms[] = {"curl", "nginx", "postgres", "python3"};

static void sim_new_conn(struct sim *s, struct flow *f, int *steps)
{
	uint64_t kind = rnd_below(100);

	*f = tcp_flow();
	f->id = ++s->next_id;
	f->src.addr[3] = (uint8_t)(1 + rnd_below(20));
	f->dst.addr[2] = (uint8_t)rnd_below(4);
	f->dst.addr[3] = (uint8_t)(1 + rnd_below(50));
	f->src.port = (uint16_t)(32768 + rnd_below(28000));
	f->dst.port = (uint16_t[]){443, 80, 5432, 8080}[rnd_below(4)];
	f->first_seen_ns = f->last_seen_ns = s->time_ns;
	f->packets[0] = 1;
	f->bytes[0] = 74;
	f->packets[1] = f->bytes[1] = 0;
	f->event = FLOW_EVENT_START;
	*steps = 6;
	if (kind < 10) {
		*f = ipv6(*f, "fd00::10", "2001:db8::20");
		f->src.addr[15] = (uint8_t)rnd_below(200);
	} else if (kind < 30) {
		f->proto = IPPROTO_UDP;
		f->dst.port = 53;
		f->tcp_flags = f->tcp_flags_seen[0] = 0;
		*steps = 4;
	} else if (kind < 35) {
		f->proto = IPPROTO_ICMP;
		f->src.port = f->dst.port = (uint16_t)rnd_below(65536);
		f->icmp_type = 8;
		f->tcp_flags = f->tcp_flags_seen[0] = 0;
		*steps = 3;
	}
	if (rnd_below(5) == 0) {
		f->ifindex = 5;
		strcpy(f->ifname, "veth9f8e7d6");
		f->if_kind = FLOW_IF_ENDPOINT;
		f->obs_point = FLOW_OBS_FROM_ENDPOINT;
	}
	if (f->proto == IPPROTO_TCP && rnd_below(10) < 6) {
		f->src_proc =
			proc_rec(true, (uint32_t)(1000 + rnd_below(30000)), comms[rnd_below(4)],
				 1000 + rnd_below(50), rnd_below(3) ? "" : hex_id);
		f->socket_cookie = 40000 + rnd_below(100000);
	}
	f->dst_name = names[rnd_below(4)];
	collector_key(f, memcmp(f->src.addr, f->dst.addr, 16) > 0);
}

/* The event of step i of a connection, after the time has moved on. */
static void sim_step(struct sim *s, struct flow *f, int i, int steps)
{
	bool tcp = f->proto == IPPROTO_TCP, last = i == steps - 1;
	int d = (int)(i % 2);

	f->packets[d] += 1 + rnd_below(tcp ? 20 : 2);
	f->bytes[d] += 60 + rnd_below(tcp ? 20000 : 200);
	f->last_seen_ns = s->time_ns - rnd_below(1000);
	f->is_reply = d;
	f->dns.present = false;
	f->tcp_flags = 0;
	if (last) {
		f->event = FLOW_EVENT_END;
		f->ended = true;
		f->is_reply = false;
		f->end_ns = f->last_seen_ns;
	} else if (tcp) {
		/* SYN-ACK, updates by the sweep, then the FINs. */
		f->event = i == 1 || i >= steps - 3 ? FLOW_EVENT_TCP_FLAGS : FLOW_EVENT_UPDATE;
		if (f->event == FLOW_EVENT_TCP_FLAGS)
			f->tcp_flags = FLOW_TCP_ACK | (i == 1 ? FLOW_TCP_SYN : FLOW_TCP_FIN);
		f->tcp_flags_seen[d] |= f->tcp_flags | FLOW_TCP_ACK | FLOW_TCP_PSH;
		if (flow_proc_known(f->src_proc))
			f->rtt_us = (uint32_t)(100 + rnd_below(5000));
	} else if (f->proto == IPPROTO_UDP) {
		f->event = FLOW_EVENT_DNS;
		f->dns = (struct flow_dns_info){.present = true,
						.response = d,
						.query = names[rnd_below(3)],
						.qtype = 1,
						.ttl = d ? 300 : 0,
						.n_ips = (uint8_t)d,
						.ip_family = {4}};
		f->dns.ips[0][0] = 10;
		f->dns.ips[0][3] = (uint8_t)rnd_below(256);
	} else {
		f->event = FLOW_EVENT_UPDATE;
	}
}

/* The collector's next event: a new connection's START, or the next of a live one's. */
static struct flow sim_next(struct sim *s)
{
	int c = (int)rnd_below(LIVE);
	struct flow *f = &s->live[c];

	s->time_ns += rnd_below(200000);
	if (s->step[c] >= s->steps[c]) {
		sim_new_conn(s, f, &s->steps[c]);
		s->step[c] = 0;
	} else {
		sim_step(s, f, s->step[c], s->steps[c]);
	}
	s->step[c]++;
	f->time_ns = s->time_ns;
	f->seq = ++s->seq;
	collector_uuid(f);
	return *f;
}

static void sim_init(struct sim *s)
{
	memset(s, 0, sizeof(*s));
	rnd_state = 0x9e3779b97f4a7c15ULL; /* the same run every time */
	s->time_ns = 1700000000000000000ULL;
}

#define RUN 20000

START_TEST(a_long_run_decodes_in_order)
{
	struct flow *f = calloc(RUN, sizeof(*f));
	struct buf b = BUF_INIT;
	struct sim s;
	int i;

	ck_assert_ptr_nonnull(f);
	sim_init(&s);
	for (i = 0; i < RUN; i++)
		f[i] = sim_next(&s);
	encode_run(f, RUN, &b, NULL);
	decode_run(f, RUN, &b);
	same_bytes_again(&b);
	/* Compactness: a realistic mix stays within the 40-70 bytes aimed at, before zstd
	 * (about 69 bytes: most TCP events with a process, a third of those in a container). */
	ck_assert_uint_le(b.len / RUN, 72);
	buf_free(&b);
	free(f);
}
END_TEST

/* ---- what costs nothing ---------------------------------------------------------------------- */

static size_t record_len(struct flow_rec_state *st, const struct flow *f)
{
	struct buf b = BUF_INIT;
	size_t len;

	ck_assert_int_eq(flow_rec_encode(st, &b, f), 0);
	len = b.len;
	buf_free(&b);
	return len;
}

/* The collector's uuid (its session, then seq), the endpoints' key, the interface of the
 * previous record and seq + 1 are derived; anything else is written out. */
START_TEST(collector_uuid_key_and_interface_are_derived)
{
	struct flow f = tcp_flow(), g;
	struct flow_rec_state st, saved;
	size_t base;

	collector_key(&f, 1);
	collector_uuid(&f);
	flow_rec_reset(&st);
	record_len(&st, &f);
	f = next(f, 1000);
	saved = st;
	base = record_len(&st, &f);
	ck_assert_uint_le(base, 40); /* an IPv4 TCP event without processes or names */

	g = f;
	g.uuid[15] ^= 1; /* not seq's */
	st = saved;
	ck_assert_uint_eq(record_len(&st, &g), base + 8);
	g = f;
	g.uuid[0] ^= 1; /* another session */
	st = saved;
	ck_assert_uint_eq(record_len(&st, &g), base + 8);
	g = f;
	g.seq++; /* seq + 2: a delta, and the uuid no longer derived */
	st = saved;
	ck_assert_uint_eq(record_len(&st, &g), base + 1 + 8);
	g = f;
	g.key.port[0]++; /* not the endpoints' key */
	st = saved;
	ck_assert_uint_eq(record_len(&st, &g), base + 1 + 32 + 4 + 2);
	g = f;
	g.ifindex = 3; /* another interface */
	st = saved;
	collector_key(&g, 1);
	ck_assert_uint_eq(record_len(&st, &g), base + 1 + 5);
}
END_TEST

/* ---- bad flows and bad bytes ----------------------------------------------------------------- */

START_TEST(flows_no_record_tells_are_refused)
{
	struct flow f = tcp_flow();
	struct flow_rec_state st, before;
	struct buf b = BUF_INIT;

	flow_rec_reset(&st);
	ck_assert_int_eq(flow_rec_encode(&st, &b, &f), 0);
	before = st;
	f.family = 0;
	ck_assert_int_eq(flow_rec_encode(&st, &b, &f), -EINVAL);
	f = tcp_flow();
	f.dns.present = true;
	f.dns.n_ips = 5;
	ck_assert_int_eq(flow_rec_encode(&st, &b, &f), -EINVAL);
	f.dns.n_ips = 1;
	f.dns.ip_family[0] = 0;
	ck_assert_int_eq(flow_rec_encode(&st, &b, &f), -EINVAL);
	ck_assert(!memcmp(&st, &before, sizeof(st)));
	f.dns.present = false; /* a stale message is not told: nothing to refuse */
	ck_assert_int_eq(flow_rec_encode(&st, &b, &f), 0);
	buf_free(&b);
}
END_TEST

/* The n bytes at p in a buffer of exactly that size, so that a read past them is caught
 * (valgrind, -fsanitize=address). */
static uint8_t *exact_copy(const void *p, size_t n)
{
	uint8_t *c = malloc(n ? n : 1);

	ck_assert_ptr_nonnull(c);
	memcpy(c, p, n);
	return c;
}

/* Every record of a run, cut anywhere short of its end, is refused, in its place in the run. */
START_TEST(every_truncation_is_refused)
{
	struct flow f[MAX_SAMPLES], got;
	size_t off[MAX_SAMPLES + 1], len;
	struct flow_rec_state st, tried;
	struct buf b = BUF_INIT;
	const uint8_t *p;
	int i, n = samples(f);

	encode_run(f, n, &b, off);
	flow_rec_reset(&st);
	for (i = 0; i < n; i++) {
		for (len = 0; len < off[i + 1] - off[i]; len++) {
			uint8_t *c = exact_copy(b.data + off[i], len);

			p = c;
			tried = st;
			ck_assert_msg(flow_rec_decode(&tried, &p, c + len, &got) == -EBADMSG,
				      "record %d cut to %zu bytes", i, len);
			ck_assert_ptr_eq(p, c);
			free(c);
		}
		p = (const uint8_t *)b.data + off[i];
		ck_assert_int_eq(flow_rec_decode(&st, &p, (const uint8_t *)b.data + b.len, &got),
				 0);
		ck_assert_ptr_eq(p, (const uint8_t *)b.data + off[i + 1]);
	}
	buf_free(&b);
}
END_TEST

/* Decodes records from c until one is refused or the bytes end; each decoded one stays inside. */
static void decode_all(const uint8_t *c, size_t len)
{
	const uint8_t *p = c, *end = c + len, *before;
	struct flow_rec_state st;
	struct flow got;

	flow_rec_reset(&st);
	while (p < end) {
		before = p;
		if (flow_rec_decode(&st, &p, end, &got)) {
			REQUIRE(p == before, "a refused record moved the cursor");
			return;
		}
		REQUIRE(p > before && p <= end, "cursor outside");
		REQUIRE((got.family == 4 || got.family == 6) && got.dns.n_ips <= 4 &&
				strnlen(got.ifname, sizeof(got.ifname)) < sizeof(got.ifname) &&
				(!got.src_proc || strnlen(got.src_proc->comm, 16) < 16) &&
				(!got.dst_proc || !got.dst_proc->container_id ||
				 (got.dst_proc->container_id[0] &&
				  strnlen(got.dst_proc->container_id, 65) < 65)),
			"decoded flow out of its domain");
		strs_inside(&got, c, end);
	}
}

START_TEST(random_bytes_never_crash)
{
	uint8_t raw[256], *c;
	size_t i, len;
	int round;

	for (round = 0; round < 100000; round++) {
		len = rnd_below(sizeof(raw));
		for (i = 0; i < len; i++)
			raw[i] = (uint8_t)rnd();
		/* Mostly small header bits, so that decoding gets past the header often. */
		if (len > 4 && round % 2)
			raw[4] &= 0x0f;
		c = exact_copy(raw, len);
		decode_all(c, len);
		free(c);
	}
}
END_TEST

/* Valid runs with a byte or two changed: the decoder goes deep before anything is wrong. */
START_TEST(mutated_records_never_crash)
{
	struct flow f[MAX_SAMPLES];
	struct buf b = BUF_INIT;
	int round, n = samples(f);

	encode_run(f, n, &b, NULL);
	for (round = 0; round < 50000; round++) {
		uint8_t *c = exact_copy(b.data, b.len);
		int k, changes = 1 + (int)rnd_below(3);

		for (k = 0; k < changes; k++) {
			size_t at = rnd_below(b.len);

			c[at] = round % 2 ? (uint8_t)rnd() : (uint8_t)(c[at] ^ 1u << rnd_below(8));
		}
		decode_all(c, rnd_below(4) ? b.len : rnd_below(b.len + 1));
		free(c);
	}
	buf_free(&b);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("flow_rec");
	TCase *t = tcase_create("flow_rec");
	SRunner *r;
	int failed;

	tcase_set_timeout(t, 120); /* valgrind runs it too */
	tcase_add_test(t, varied_flows_round_trip_in_one_run);
	tcase_add_test(t, each_flow_round_trips_from_a_reset_state);
	tcase_add_test(t, strings_point_into_the_buffer);
	tcase_add_test(t, decoded_flows_encode_to_the_same_bytes);
	tcase_add_test(t, a_long_run_decodes_in_order);
	tcase_add_test(t, collector_uuid_key_and_interface_are_derived);
	tcase_add_test(t, flows_no_record_tells_are_refused);
	tcase_add_test(t, every_truncation_is_refused);
	tcase_add_test(t, random_bytes_never_crash);
	tcase_add_test(t, mutated_records_never_crash);
	suite_add_tcase(s, t);
	r = srunner_create(s);
	srunner_run_all(r, CK_NORMAL);
	failed = srunner_ntests_failed(r);
	srunner_free(r);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
