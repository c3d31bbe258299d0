/* The kernel's packet drop reasons (enum skb_drop_reason, names read from the running kernel's
 * BTF, so they match whatever this kernel reports) and the one table that says, for each, whether
 * it is a packet really lost or healthy stack behaviour, its closest Hubble drop_reason_desc
 * (flow.DropReason) and why. The drop probe is loaded from it, /metrics and the docs print it. */
#ifndef FLOWSCOPE_ENRICH_DROP_REASON_H
#define FLOWSCOPE_ENRICH_DROP_REASON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum drop_class {
	/* A packet really lost (policy, full queue or buffer, bad or malformed packet, no route,
	 * ...): reported as a DROPPED flow event. */
	DROP_CLASS_LOSS,
	/* A free the kernel calls a drop but that loses nothing (a refusal answered by RST or
	 * ICMP, a duplicate or stale TCP segment, a copy, a purge at close): only counted. */
	DROP_CLASS_NOT_LOSS,
};

struct drop_reason_row {
	const char *name;      /* the enum name without SKB_DROP_REASON_ (or SKB_) */
	enum drop_class class; /* what the kernel's code does with such a packet */
	int hubble;	 /* flow.DropReason of a loss, 0 when Hubble has none (and not lost) */
	const char *why; /* one line, from the kernel's code and dropreason-core.h */
};

/* Every row of the table, in the kernel's enum order; *n is their number. */
const struct drop_reason_row *drop_reason_table(size_t *n);

/* The row of a kernel reason name, NULL when the table does not name it. */
const struct drop_reason_row *drop_reason_row(const char *kernel_name);

/* The class of a kernel reason name: a name the table does not know (a newer kernel's) is a
 * loss, so nothing new is ever hidden. */
enum drop_class drop_reason_class(const char *kernel_name);

/* Whether a reason value of the running kernel is a loss (its name from BTF, then the table);
 * a value BTF does not name is a loss. This is what the drop probe is loaded with. */
bool drop_reason_is_loss(uint32_t reason);

/* "NETFILTER_DROP", "NO_SOCKET", ... (the enum name without SKB_DROP_REASON_); for a value
 * BTF does not name, "REASON_<n>". Never NULL. */
const char *drop_reason_kernel_name(uint32_t reason);

/* One more than the largest reason value BTF names (SKB_DROP_REASON_MAX itself is not a
 * reason); 0 when the kernel has no BTF. */
uint32_t drop_reason_kernel_count(void);

/* The flow.DropReason number for a kernel reason name: the table's code of a loss, 0
 * (DROP_REASON_UNKNOWN) when Hubble has no equivalent or the reason is not a loss. */
int drop_reason_hubble(const char *kernel_name);

/* The same for a kernel reason value of the running kernel. */
int drop_reason_hubble_code(uint32_t reason);

#endif /* FLOWSCOPE_ENRICH_DROP_REASON_H */
