/* Names of the kernel's packet drop reasons (enum skb_drop_reason, read from the running
 * kernel's BTF, so they match whatever this kernel reports) and their closest Hubble
 * drop_reason_desc (flow.DropReason). */
#ifndef FLOWSCOPE_ENRICH_DROP_REASON_H
#define FLOWSCOPE_ENRICH_DROP_REASON_H

#include <stdint.h>

/* "NETFILTER_DROP", "NO_SOCKET", ... (the enum name without SKB_DROP_REASON_); for a value
 * BTF does not name, "REASON_<n>". Never NULL. */
const char *drop_reason_kernel_name(uint32_t reason);

/* The flow.DropReason number for a kernel reason name, 0 (DROP_REASON_UNKNOWN) when Hubble
 * has no equivalent. */
int drop_reason_hubble(const char *kernel_name);

/* The same for a kernel reason value of the running kernel. */
int drop_reason_hubble_code(uint32_t reason);

#endif /* FLOWSCOPE_ENRICH_DROP_REASON_H */
