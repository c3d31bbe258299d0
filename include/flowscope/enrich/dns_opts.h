/* flowd's DNS-name options as one group: how many addresses and names the DNS cache keeps (in
 * all and per client) and how answers are matched to queries. */
#ifndef FLOWSCOPE_ENRICH_DNS_OPTS_H
#define FLOWSCOPE_ENRICH_DNS_OPTS_H

#include <stdint.h>

#include "flowscope/base/opts.h"
#include "flowscope/enrich/dns_cache.h"

struct dns_opts {
	uint32_t max_addrs, max_addrs_per_client, max_names, max_pending; /* 0: the default */
	uint64_t query_timeout_ns;					  /* 0: the default */
};

struct opt_group dns_opt_group(struct dns_opts *o);

/* The cache's limits the options give (defaults for those not given). */
struct dns_cache_limits dns_opts_cache_limits(const struct dns_opts *o);

#endif /* FLOWSCOPE_ENRICH_DNS_OPTS_H */
