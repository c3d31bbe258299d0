/* Builds Ethernet frames for BPF_PROG_TEST_RUN: optional 802.1Q/802.1ad tags, IPv4 or IPv6
 * (with hop-by-hop/destination-options/fragment extension headers), TCP, UDP, SCTP, ICMP and
 * ICMPv6. Shared by tests/bpf and bench/. Checksums are left zero: tc programs don't check. */
#ifndef FLOWSCOPE_TESTS_PKTGEN_H
#define FLOWSCOPE_TESTS_PKTGEN_H

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

enum pkt_frag {
	PKT_NOFRAG = 0,
	PKT_FIRST_FRAG, /* offset 0, more fragments: carries the L4 header */
	PKT_LATER_FRAG, /* offset > 0: no L4 header */
};

struct pkt_spec {
	int family; /* 4 or 6 */
	const char *src, *dst;
	uint8_t proto;	       /* IPPROTO_TCP, _UDP, _SCTP, _ICMP, _ICMPV6 or anything else */
	uint16_t sport, dport; /* TCP/UDP/SCTP */
	uint8_t tcp_flags;
	uint8_t icmp_type, icmp_code;
	uint16_t icmp_id;
	uint16_t vlan[2]; /* VLAN ids, outermost first; 0: no tag */
	bool qinq;	  /* outer tag uses the 802.1ad TPID */
	int v6_ext; /* IPv6: number of extension headers before L4 (hop-by-hop, then dst opts) */
	enum pkt_frag frag;
	int payload; /* bytes after the L4 header */
};

static inline void pkt_put16(uint8_t *p, uint16_t v)
{
	p[0] = v >> 8;
	p[1] = v & 0xff;
}

/* Returns the frame length, or 0 if cap is too small. */
static inline size_t pkt_build(const struct pkt_spec *s, uint8_t *buf, size_t cap)
{
	size_t off = 0, l4_len, l3_start, i;
	uint8_t *ip, l4proto = s->proto;
	int n;

	if (cap < 1600)
		return 0;
	memset(buf, 0, cap);
	/* Ethernet: locally administered addresses. */
	memcpy(buf, "\x02\x00\x00\x00\x00\x02\x02\x00\x00\x00\x00\x01", 12);
	off = 12;
	for (n = 0; n < 2; n++) {
		if (!s->vlan[n])
			continue;
		pkt_put16(buf + off, n == 0 && s->qinq ? 0x88a8 : 0x8100);
		pkt_put16(buf + off + 2, s->vlan[n] & 0x0fff);
		off += 4;
	}
	pkt_put16(buf + off, s->family == 6 ? 0x86dd : 0x0800);
	off += 2;

	switch (s->proto) {
	case IPPROTO_TCP:
		l4_len = 20;
		break;
	case IPPROTO_UDP:
	case IPPROTO_ICMP:
	case IPPROTO_ICMPV6:
		l4_len = 8;
		break;
	case IPPROTO_SCTP:
		l4_len = 12;
		break;
	default:
		l4_len = 0;
	}
	if (s->frag == PKT_LATER_FRAG)
		l4_len = 0;

	l3_start = off;
	ip = buf + off;
	if (s->family == 6) {
		ip[0] = 0x60;
		inet_pton(AF_INET6, s->src, ip + 8);
		inet_pton(AF_INET6, s->dst, ip + 24);
		ip[7] = 64;
		off += 40;
		/* Chain: [hop-by-hop] [dst opts] [fragment] L4. */
		{
			uint8_t *prev_next = ip + 6;
			int e;

			for (e = 0; e < s->v6_ext && e < 2; e++) {
				*prev_next = e == 0 ? 0 /* HOPOPTS */ : 60 /* DSTOPTS */;
				/* 16 bytes: hdr ext len 1, PadN option fills the rest. */
				buf[off + 1] = 1;
				buf[off + 2] = 1; /* PadN */
				buf[off + 3] = 12;
				prev_next = buf + off;
				off += 16;
			}
			if (s->frag != PKT_NOFRAG) {
				*prev_next = 44; /* FRAGMENT */
				prev_next = buf + off;
				pkt_put16(buf + off + 2,
					  s->frag == PKT_LATER_FRAG ? (185 << 3) : 1);
				memcpy(buf + off + 4, "\x00\x00\x12\x34", 4);
				off += 8;
			}
			*prev_next = l4proto;
		}
	} else {
		ip[0] = 0x45;
		ip[8] = 64;
		ip[9] = l4proto;
		inet_pton(AF_INET, s->src, ip + 12);
		inet_pton(AF_INET, s->dst, ip + 16);
		if (s->frag == PKT_FIRST_FRAG)
			pkt_put16(ip + 6, 0x2000);
		else if (s->frag == PKT_LATER_FRAG)
			pkt_put16(ip + 6, 185);
		off += 20;
	}

	switch (s->frag == PKT_LATER_FRAG ? 0 : s->proto) {
	case IPPROTO_TCP:
		pkt_put16(buf + off, s->sport);
		pkt_put16(buf + off + 2, s->dport);
		buf[off + 12] = 5 << 4;
		buf[off + 13] = s->tcp_flags;
		pkt_put16(buf + off + 14, 65535);
		break;
	case IPPROTO_UDP:
		pkt_put16(buf + off, s->sport);
		pkt_put16(buf + off + 2, s->dport);
		pkt_put16(buf + off + 4, 8 + s->payload);
		break;
	case IPPROTO_SCTP:
		pkt_put16(buf + off, s->sport);
		pkt_put16(buf + off + 2, s->dport);
		break;
	case IPPROTO_ICMP:
	case IPPROTO_ICMPV6:
		buf[off] = s->icmp_type;
		buf[off + 1] = s->icmp_code;
		pkt_put16(buf + off + 4, s->icmp_id);
		pkt_put16(buf + off + 6, 1);
		break;
	}
	off += l4_len;
	for (i = 0; i < (size_t)s->payload && off < cap; i++)
		buf[off++] = (uint8_t)i;
	if (s->family == 6)
		pkt_put16(ip + 4, off - l3_start - 40);
	else
		pkt_put16(ip + 2, off - l3_start);
	return off;
}

#endif /* FLOWSCOPE_TESTS_PKTGEN_H */
