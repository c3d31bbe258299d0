/* Kernel drop reason names from BTF and their Hubble equivalents (see drop_reason.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <bpf/btf.h>

#include "flowscope/enrich/drop_reason.h"

#define PREFIX "SKB_DROP_REASON_"
#define MAX_REASONS 1024

static char *names[MAX_REASONS];
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

			if (e[j].val < 0 || e[j].val >= MAX_REASONS || !name)
				continue;
			if (!strncmp(name, PREFIX, strlen(PREFIX)))
				name += strlen(PREFIX);
			else if (!strncmp(name, "SKB_", 4))
				name += 4;
			names[e[j].val] = strdup(name);
		}
		break;
	}
	btf__free(btf);
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

int drop_reason_hubble(const char *k)
{
	static const struct {
		const char *kernel;
		int hubble;
	} map[] = {
		{"NETFILTER_DROP", 133}, /* POLICY_DENIED */
		{"TC_INGRESS", 133},
		{"TC_EGRESS", 133},
		{"TC_DROP", 133},
		{"XDP", 133},
		{"NO_SOCKET", 178}, /* SOCKET_LOOKUP_FAILED */
		{"SOCKET_FILTER", 133},
		{"PKT_TOO_SMALL", 134}, /* INVALID_PACKET_DROPPED */
		{"TCP_CSUM", 134},
		{"UDP_CSUM", 134},
		{"IP_CSUM", 134},
		{"IP_INHDR", 134},
		{"IP_RPFILTER", 132}, /* INVALID_SOURCE_IP */
		{"IP_INVALID_SOURCE", 132},
		{"IP_NOPROTO", 142},	 /* UNKNOWN_L4_PROTOCOL */
		{"IP_OUTNOROUTES", 169}, /* FIB_LOOKUP_FAILED */
		{"IP_INNOROUTES", 169},
		{"IPV6_BAD_EXTHDR", 156}, /* INVALID_IPV6_EXTENSION_HEADER */
		{"IP_INADDRERRORS", 151}, /* STALE_OR_UNROUTABLE_IP */
		{"UNHANDLED_PROTO", 139}, /* UNSUPPORTED_L3_PROTOCOL */
		{"VLAN_FILTERED", 182},
		{"TTL_EXCEEDED", 196},
		{"IP_TTL_EXCEEDED", 196},
	};
	size_t i;

	for (i = 0; i < sizeof(map) / sizeof(map[0]); i++)
		if (!strcmp(k, map[i].kernel))
			return map[i].hubble;
	return 0;
}

int drop_reason_hubble_code(uint32_t reason)
{
	return drop_reason_hubble(drop_reason_kernel_name(reason));
}
