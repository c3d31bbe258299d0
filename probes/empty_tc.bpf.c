// SPDX-License-Identifier: GPL-2.0
/* An empty tc program: the baseline the benchmarks compare the flow probe against. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "GPL";

SEC("tc")
int empty_tc(struct __sk_buff *skb)
{
	(void)skb;
	return -1; /* TC_ACT_UNSPEC */
}
