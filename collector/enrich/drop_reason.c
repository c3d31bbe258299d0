/* Kernel drop reason names from BTF and the table of what each one means (see drop_reason.h).
 * Each row was decided from what the kernel's code does with the packet it frees (net/ipv4,
 * net/ipv6, net/core, net/sched, ...) and from include/net/dropreason-core.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <bpf/btf.h>

#include "flowscope/enrich/drop_reason.h"

#define PREFIX "SKB_DROP_REASON_"
#define MAX_REASONS 1024

/* flow.DropReason numbers used below (proto/flow.proto). */
#define H_NONE 0
#define H_INVALID_SOURCE_MAC 130
#define H_INVALID_DESTINATION_MAC 131
#define H_INVALID_SOURCE_IP 132
#define H_POLICY_DENIED 133
#define H_INVALID_PACKET 134
#define H_UNSUPPORTED_L3_PROTOCOL 139
#define H_ERROR_RETRIEVING_TUNNEL_KEY 147
#define H_STALE_OR_UNROUTABLE_IP 151
#define H_L4_CHECKSUM 154
#define H_INVALID_IPV6_EXTENSION_HEADER 156
#define H_NO_TUNNEL_ENDPOINT 160
#define H_EDT_HORIZON 162
#define H_FIB_LOOKUP_FAILED 169
#define H_AUTH_REQUIRED 189
#define H_INVALID_VNI 183
#define H_TTL_EXCEEDED 196

#define LOSS(n, h, w)                                                                              \
	{                                                                                          \
#n, DROP_CLASS_LOSS, h, w                                                          \
	}
#define KEEP(n, w)                                                                                 \
	{                                                                                          \
#n, DROP_CLASS_NOT_LOSS, H_NONE, w                                                 \
	}

static const struct drop_reason_row table[] = {
	KEEP(NOT_DROPPED_YET, "not a drop: the value of a packet still on its way"),
	KEEP(CONSUMED, "not a drop: the packet was used (consume_skb)"),
	KEEP(NOT_SPECIFIED,
	     "a kfree_skb() without a reason: on this kernel it is called on healthy paths (TCP, ICMP, netlink, drivers), so it says nothing about a loss"),
	KEEP(NO_SOCKET,
	     "no socket for the packet: a refusal answered by RST (TCP) or ICMP port unreachable (UDP), or an ICMP echo reply a raw socket already got (ping_rcv finds no ping socket)"),
	KEEP(SOCKET_CLOSE,
	     "data queued to a socket its owner close()d unread (unix_release_sock, the unix GC): the application's choice"),
	LOSS(SOCKET_FILTER, H_POLICY_DENIED,
	     "a BPF filter attached to the receiving socket refused the packet (sk_filter)"),
	LOSS(SOCKET_RCVBUFF, H_NONE,
	     "the socket's receive buffer was full: the application did not read fast enough (SO_RCVBUF)"),
	KEEP(UNIX_DISCONNECT,
	     "a unix datagram socket's queue purged when it re-connect()s or its peer closed"),
	KEEP(UNIX_SKIP_OOB, "unix out-of-band data skipped by a recv() without MSG_OOB"),
	LOSS(PKT_TOO_SMALL, H_INVALID_PACKET, "packet shorter than its headers say (malformed)"),
	LOSS(TCP_CSUM, H_INVALID_PACKET, "bad TCP checksum"),
	LOSS(UDP_CSUM, H_INVALID_PACKET, "bad UDP checksum"),
	LOSS(NETFILTER_DROP, H_POLICY_DENIED,
	     "dropped by a netfilter rule (nftables/iptables DROP)"),
	KEEP(OTHERHOST,
	     "a frame for another host, seen because the interface is promiscuous (PACKET_OTHERHOST): not this host's packet"),
	LOSS(IP_CSUM, H_INVALID_PACKET, "bad IPv4 header checksum"),
	LOSS(IP_INHDR, H_INVALID_PACKET,
	     "bad IP header (version, length, options) or TTL expired while forwarding (IPSTATS_MIB_INHDRERRORS)"),
	LOSS(IP_RPFILTER, H_INVALID_SOURCE_IP,
	     "reverse-path filter: the source is not routed back via the interface it came in on"),
	LOSS(UNICAST_IN_L2_MULTICAST, H_INVALID_DESTINATION_MAC,
	     "an IP unicast in an L2 multicast/broadcast frame, refused by drop_unicast_in_l2_multicast"),
	LOSS(XFRM_POLICY, H_POLICY_DENIED, "an IPsec (xfrm) policy check failed"),
	KEEP(IP_NOPROTO,
	     "no handler for the IP protocol and no raw socket: refused like a closed port, answered by ICMP protocol unreachable (IPv6: parameter problem)"),
	LOSS(PROTO_MEM, H_NONE, "the protocol's memory limit was reached (e.g. udp_mem, tcp_mem)"),
	LOSS(TCP_AUTH_HDR, H_INVALID_PACKET, "TCP-MD5 or TCP-AO option present twice or malformed"),
	LOSS(TCP_MD5NOTFOUND, H_AUTH_REQUIRED, "no TCP-MD5 signature where one is required"),
	LOSS(TCP_MD5UNEXPECTED, H_INVALID_PACKET, "a TCP-MD5 signature the socket does not expect"),
	LOSS(TCP_MD5FAILURE, H_AUTH_REQUIRED, "wrong TCP-MD5 signature"),
	LOSS(TCP_AONOTFOUND, H_AUTH_REQUIRED, "no TCP-AO signature where one is required"),
	LOSS(TCP_AOUNEXPECTED, H_INVALID_PACKET, "a TCP-AO signature the socket does not expect"),
	LOSS(TCP_AOKEYNOTFOUND, H_AUTH_REQUIRED, "unknown TCP-AO key"),
	LOSS(TCP_AOFAILURE, H_AUTH_REQUIRED, "wrong TCP-AO signature"),
	LOSS(SOCKET_BACKLOG, H_NONE,
	     "the socket's backlog was full while its owner held the lock (LINUX_MIB_TCPBACKLOGDROP)"),
	KEEP(TCP_FLAGS,
	     "a segment whose flags fit no state: an ACK reaching a listener (answered by RST, a refusal like NO_SOCKET) or SYN+FIN / flag-less probes TCP discards by the RFC"),
	KEEP(TCP_ABORT_ON_DATA,
	     "data for a socket the application already closed: TCP answers with RST (RFC 1122), an abort, not a loss"),
	LOSS(TCP_ZEROWINDOW, H_NONE,
	     "data arrived while the receive window was zero: the receiver had no room (LINUX_MIB_TCPZEROWINDOWDROP)"),
	KEEP(TCP_OLD_DATA,
	     "data received before (a spurious retransmission): acknowledged again (D-SACK), nothing lost"),
	KEEP(TCP_OVERWINDOW,
	     "a segment beyond the right edge of the receive window (e.g. a zero-window probe): TCP answers with an ACK"),
	KEEP(TCP_OFOMERGE, "data already in the out-of-order queue: a duplicate"),
	KEEP(TCP_RFC7323_PAWS, "PAWS: an old duplicate segment with a stale timestamp (RFC 7323)"),
	KEEP(TCP_RFC7323_PAWS_ACK, "PAWS: an old duplicate ACK (LINUX_MIB_PAWS_OLD_ACK)"),
	KEEP(TCP_RFC7323_TW_PAWS,
	     "PAWS on a TIME_WAIT socket: an old duplicate of a closed connection"),
	KEEP(TCP_RFC7323_TSECR,
	     "an echoed timestamp (TSEcr) that does not match (RFC 7323): ignored"),
	LOSS(TCP_LISTEN_OVERFLOW, H_NONE,
	     "the listener's accept queue was full: the handshake was dropped (LINUX_MIB_LISTENOVERFLOWS)"),
	KEEP(TCP_OLD_SEQUENCE,
	     "a segment entirely before the receive window (a duplicate): TCP sends a duplicate ACK"),
	KEEP(TCP_INVALID_SEQUENCE, "a sequence number outside the window: answered by an ACK"),
	KEEP(TCP_INVALID_END_SEQUENCE,
	     "a segment ending beyond the window (LINUX_MIB_BEYOND_WINDOW): answered by an ACK"),
	KEEP(TCP_INVALID_ACK_SEQUENCE,
	     "an ACK outside snd_una..snd_nxt during the handshake: answered by RST or ignored"),
	KEEP(TCP_RESET, "the RST segment itself, once TCP processed (or rejected) it"),
	KEEP(TCP_INVALID_SYN, "a SYN on a synchronized connection: answered by a challenge ACK"),
	KEEP(TCP_CLOSE, "a segment for a socket already in CLOSE state (after a reset)"),
	KEEP(TCP_FASTOPEN,
	     "a segment the Fast Open request socket does not take (e.g. a retransmitted SYN)"),
	KEEP(TCP_OLD_ACK, "an ACK older than snd_una but in the window: a duplicate"),
	KEEP(TCP_TOO_OLD_ACK, "an ACK far older than snd_una: a stale duplicate"),
	KEEP(TCP_ACK_UNSENT_DATA,
	     "an ACK for data never sent (beyond snd_nxt, RFC 793 3.9): an out-of-window segment TCP ignores"),
	LOSS(TCP_OFO_QUEUE_PRUNE, H_NONE,
	     "pruned from the out-of-order queue under memory pressure: the sender must retransmit"),
	KEEP(TCP_OFO_DROP,
	     "out-of-order data already received in order by the time it was queued: a duplicate"),
	LOSS(IP_OUTNOROUTES, H_FIB_LOOKUP_FAILED, "no route to send the packet"),
	LOSS(BPF_CGROUP_EGRESS, H_POLICY_DENIED, "refused by a cgroup BPF program"),
	LOSS(IPV6DISABLED, H_UNSUPPORTED_L3_PROTOCOL,
	     "IPv6 packet on a device where IPv6 is disabled"),
	LOSS(NEIGH_CREATEFAIL, H_NONE, "no neighbour (ARP/NDP) entry could be created"),
	LOSS(NEIGH_FAILED, H_NONE, "the neighbour did not answer ARP/NDP (entry FAILED)"),
	LOSS(NEIGH_QUEUEFULL, H_NONE, "too many packets waiting for ARP/NDP resolution"),
	LOSS(NEIGH_DEAD, H_NONE, "the neighbour entry was dead"),
	LOSS(NEIGH_HH_FILLFAIL, H_NONE, "the link-layer header could not be filled"),
	LOSS(TC_EGRESS, H_POLICY_DENIED, "dropped by a tc egress filter"),
	LOSS(SECURITY_HOOK, H_POLICY_DENIED, "dropped by a security module hook (LSM)"),
	LOSS(QDISC_DROP, H_NONE, "the queueing discipline dropped it (queue full)"),
	LOSS(QDISC_OVERLIMIT, H_NONE, "the qdisc exceeded its total buffer limit"),
	LOSS(QDISC_CONGESTED, H_NONE, "dropped by the qdisc's AQM because of congestion"),
	LOSS(CAKE_FLOOD, H_NONE, "dropped by CAKE's flood protection (BLUE)"),
	LOSS(FQ_BAND_LIMIT, H_NONE, "the fq qdisc's per-band limit was reached"),
	LOSS(FQ_HORIZON_LIMIT, H_EDT_HORIZON,
	     "fq: the packet's departure time is too far in the future"),
	LOSS(FQ_FLOW_LIMIT, H_NONE, "fq: the flow exceeded its queue limit"),
	LOSS(CPU_BACKLOG, H_NONE,
	     "the per-CPU input backlog was full (netdev_max_backlog) or the RPS flow limit hit"),
	LOSS(XDP, H_POLICY_DENIED, "dropped by an XDP program"),
	LOSS(TC_INGRESS, H_POLICY_DENIED, "dropped by a tc ingress filter"),
	LOSS(UNHANDLED_PROTO, H_UNSUPPORTED_L3_PROTOCOL,
	     "no handler for the frame's protocol (rx_nohandler)"),
	LOSS(SKB_CSUM, H_L4_CHECKSUM, "the checksum could not be computed"),
	LOSS(SKB_GSO_SEG, H_NONE, "GSO segmentation failed"),
	LOSS(SKB_UCOPY_FAULT, H_NONE, "copying the data from user space failed"),
	LOSS(DEV_HDR, H_INVALID_PACKET, "invalid device-specific header or metadata"),
	LOSS(DEV_READY, H_NONE, "the device was not ready (down, queue not set up)"),
	LOSS(FULL_RING, H_NONE, "a device ring buffer was full"),
	LOSS(NOMEM, H_NONE, "out of memory"),
	LOSS(HDR_TRUNC, H_INVALID_PACKET, "a header could not be pulled: truncated packet"),
	LOSS(TAP_FILTER, H_POLICY_DENIED, "dropped by the BPF filter of a tun/tap device"),
	LOSS(TAP_TXFILTER, H_POLICY_DENIED, "dropped by the tx filter of a tun/tap device"),
	LOSS(ICMP_CSUM, H_INVALID_PACKET, "bad ICMP checksum"),
	LOSS(INVALID_PROTO, H_NONE,
	     "a packet the protocol's rules make the host discard: ICMP to broadcast or multicast (RFC 1122, icmp_echo_ignore_broadcasts), non-IP on a broadcast route"),
	LOSS(IP_INADDRERRORS, H_STALE_OR_UNROUTABLE_IP,
	     "destination address not valid here: host unreachable"),
	LOSS(IP_INNOROUTES, H_FIB_LOOKUP_FAILED,
	     "no route for a received packet: network unreachable"),
	LOSS(IP_LOCAL_SOURCE, H_INVALID_SOURCE_IP,
	     "martian: the source address is one of this host's"),
	LOSS(IP_INVALID_SOURCE, H_INVALID_SOURCE_IP,
	     "martian: multicast, broadcast or zero source"),
	LOSS(IP_LOCALNET, H_STALE_OR_UNROUTABLE_IP,
	     "martian: a loopback (127/8) source or destination off the loopback device"),
	LOSS(IP_INVALID_DEST, H_STALE_OR_UNROUTABLE_IP, "martian: destination address 0"),
	LOSS(PKT_TOO_BIG, H_NONE,
	     "bigger than the path MTU with DF set: dropped, the sender is told (ICMP fragmentation needed)"),
	KEEP(DUP_FRAG, "a fragment already received: a duplicate"),
	LOSS(FRAG_REASM_TIMEOUT, H_NONE,
	     "fragments whose datagram never completed (a fragment was lost)"),
	LOSS(FRAG_TOO_FAR, H_NONE, "an IPv4 fragment too far out of order (ipfrag_max_dist)"),
	LOSS(TCP_MINTTL, H_POLICY_DENIED,
	     "TTL/hop limit under the socket's IP_MINTTL/IPV6_MINHOPCOUNT (GTSM policy)"),
	LOSS(IPV6_BAD_EXTHDR, H_INVALID_IPV6_EXTENSION_HEADER, "bad IPv6 extension header"),
	LOSS(IPV6_TOO_MANY_EXTHDRS, H_INVALID_IPV6_EXTENSION_HEADER,
	     "more IPv6 extension headers than the kernel walks (a header chain over its limit)"),
	LOSS(IPV6_NDISC_FRAG, H_INVALID_PACKET, "a fragmented neighbour discovery message"),
	LOSS(IPV6_NDISC_HOP_LIMIT, H_INVALID_PACKET,
	     "a neighbour discovery message with hop limit not 255"),
	LOSS(IPV6_NDISC_BAD_CODE, H_INVALID_PACKET,
	     "a neighbour discovery message with a bad code"),
	LOSS(IPV6_NDISC_BAD_OPTIONS, H_INVALID_PACKET,
	     "a neighbour discovery message with bad options"),
	KEEP(IPV6_NDISC_NS_OTHERHOST,
	     "a neighbour solicitation for another host's address: not for this host"),
	KEEP(QUEUE_PURGE,
	     "a bulk free of a queue (skb_queue_purge): unread data of a closing socket, a flushed queue"),
	LOSS(TC_COOKIE_ERROR, H_NONE, "an error processing a tc extension cookie"),
	KEEP(PACKET_SOCK_ERROR,
	     "a packet (capture) socket could not take its copy: the original packet goes on"),
	LOSS(TC_CHAIN_NOTFOUND, H_NONE, "tc: the goto chain does not exist"),
	LOSS(TC_RECLASSIFY_LOOP, H_NONE, "tc: too many reclassify loops"),
	LOSS(VXLAN_INVALID_HDR, H_INVALID_PACKET, "invalid VXLAN header"),
	LOSS(VXLAN_VNI_NOT_FOUND, H_INVALID_VNI, "no VXLAN device for the VNI"),
	LOSS(MAC_INVALID_SOURCE, H_INVALID_SOURCE_MAC, "invalid source MAC address"),
	LOSS(VXLAN_ENTRY_EXISTS, H_NONE, "VXLAN: a static or nexthop fdb entry would have moved"),
	LOSS(NO_TX_TARGET, H_NO_TUNNEL_ENDPOINT,
	     "no target to transmit to (e.g. no VXLAN destination)"),
	LOSS(IP_TUNNEL_ECN, H_NONE, "dropped on decapsulation by RFC 6040 4.2 (ECN)"),
	LOSS(TUNNEL_TXINFO, H_ERROR_RETRIEVING_TUNNEL_KEY,
	     "no tunnel metadata on a packet for an external-mode tunnel"),
	LOSS(LOCAL_MAC, H_INVALID_SOURCE_MAC, "the source MAC is the receiving device's own"),
	LOSS(ARP_PVLAN_DISABLE, H_NONE,
	     "a non-IP frame forwarded to the in_dev without proxy_arp_pvlan"),
	LOSS(MAC_IEEE_MAC_CONTROL, H_INVALID_DESTINATION_MAC,
	     "the destination is an IEEE MAC Control address"),
	LOSS(BRIDGE_INGRESS_STP_STATE, H_NONE,
	     "the ingress bridge port's STP state does not forward"),
	LOSS(CAN_RX_INVALID_FRAME, H_INVALID_PACKET, "a non-conforming CAN frame"),
	LOSS(CANFD_RX_INVALID_FRAME, H_INVALID_PACKET, "a non-conforming CAN FD frame"),
	LOSS(CANXL_RX_INVALID_FRAME, H_INVALID_PACKET, "a non-conforming CAN XL frame"),
	LOSS(PFMEMALLOC, H_NONE,
	     "allocated from the memory reserve and reached a socket not allowed to use it"),
	LOSS(DUALPI2_STEP_DROP, H_NONE, "dropped by the DualPI2 qdisc's step threshold"),
	LOSS(PSP_INPUT, H_NONE, "PSP (encryption) input checks failed"),
	LOSS(PSP_OUTPUT, H_NONE, "PSP (encryption) output checks failed"),
	LOSS(RECURSION_LIMIT, H_NONE, "a loop through virtual devices hit the recursion limit"),
	LOSS(SKB_RX_HEADROOM, H_NONE, "the received packet's headroom could not be made room for"),
	/* Newer kernels' names, so that their Hubble code is right when they appear. */
	LOSS(IP_TTL_EXCEEDED, H_TTL_EXCEEDED, "TTL or hop limit expired while forwarding"),
};

static char *names[MAX_REASONS];
static const struct drop_reason_row *rows[MAX_REASONS];
static uint32_t count;
static int loaded;

static void load(void)
{
	struct btf *btf;
	int i, n;

	loaded = 1;
	btf = btf__load_vmlinux_btf();
	if (!btf)
		return;
	n = (int)btf__type_cnt(btf);
	for (i = 1; i < n; i++) {
		const struct btf_type *t = btf__type_by_id(btf, i);
		const struct btf_enum *e;
		int j;

		if (!btf_is_enum(t) ||
		    strcmp(btf__name_by_offset(btf, t->name_off), "skb_drop_reason"))
			continue;
		e = btf_enum(t);
		for (j = 0; j < btf_vlen(t); j++) {
			const char *name = btf__name_by_offset(btf, e[j].name_off);

			/* MAX counts the reasons, it is none itself. */
			if (e[j].val < 0 || e[j].val >= MAX_REASONS || !name ||
			    !strcmp(name, PREFIX "MAX"))
				continue;
			if (!strncmp(name, PREFIX, strlen(PREFIX)))
				name += strlen(PREFIX);
			else if (!strncmp(name, "SKB_", 4))
				name += 4;
			names[e[j].val] = strdup(name);
			if (names[e[j].val]) {
				rows[e[j].val] = drop_reason_row(names[e[j].val]);
				if ((uint32_t)e[j].val >= count)
					count = e[j].val + 1;
			}
		}
		break;
	}
	btf__free(btf);
}

const struct drop_reason_row *drop_reason_table(size_t *n)
{
	*n = sizeof(table) / sizeof(table[0]);
	return table;
}

const struct drop_reason_row *drop_reason_row(const char *k)
{
	size_t i;

	for (i = 0; i < sizeof(table) / sizeof(table[0]); i++)
		if (!strcmp(k, table[i].name))
			return &table[i];
	return NULL;
}

enum drop_class drop_reason_class(const char *k)
{
	const struct drop_reason_row *r = drop_reason_row(k);

	return r ? r->class : DROP_CLASS_LOSS;
}

bool drop_reason_is_loss(uint32_t reason)
{
	if (!loaded)
		load();
	return reason >= MAX_REASONS || !rows[reason] || rows[reason]->class == DROP_CLASS_LOSS;
}

const char *drop_reason_kernel_name(uint32_t reason)
{
	static __thread char unknown[32];

	if (!loaded)
		load();
	if (reason < MAX_REASONS && names[reason])
		return names[reason];
	snprintf(unknown, sizeof(unknown), "REASON_%u", reason);
	return unknown;
}

uint32_t drop_reason_kernel_count(void)
{
	if (!loaded)
		load();
	return count;
}

int drop_reason_hubble(const char *k)
{
	const struct drop_reason_row *r = drop_reason_row(k);

	return r && r->class == DROP_CLASS_LOSS ? r->hubble : 0;
}

int drop_reason_hubble_code(uint32_t reason)
{
	return drop_reason_hubble(drop_reason_kernel_name(reason));
}
