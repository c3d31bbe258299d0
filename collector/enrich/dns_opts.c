/* The DNS-name options (see include/flowscope/enrich/dns_opts.h). */
#include <stddef.h>

#include "flowscope/enrich/dns_opts.h"

#define CFG(field) offsetof(struct dns_opts, field)

static const struct opt dns_opts_table[] = {
	{"dns-max-addrs", 0, "N", "addresses named by DNS answers kept at once\n(default 262144)",
	 opt_u32, CFG(max_addrs), 16, 1 << 26},
	{"dns-max-addrs-per-client", 0, "N",
	 "... of which learned from one client's answers\n(default 16384); past it that client's "
	 "least used go",
	 opt_u32, CFG(max_addrs_per_client), 1, 1 << 26},
	{"dns-max-names", 0, "N", "distinct names kept (default 262144)", opt_u32, CFG(max_names),
	 16, 1 << 26},
	{"dns-max-pending", 0, "N",
	 "DNS queries waiting for their answer (default 65536);\npast it the oldest is forgotten",
	 opt_u32, CFG(max_pending), 16, 1 << 22},
	{"dns-query-timeout", 0, "DUR",
	 "an answer names addresses only if it answers a query\nseen this long before (default 10s)",
	 opt_duration, CFG(query_timeout_ns), 1000000},
	{0},
};

struct opt_group dns_opt_group(struct dns_opts *o)
{
	return (struct opt_group){"DNS names:", dns_opts_table, o};
}

struct dns_cache_limits dns_opts_cache_limits(const struct dns_opts *o)
{
	return (struct dns_cache_limits){
		.max_addrs = o->max_addrs ?: DNS_CACHE_DEFAULT_ADDRS,
		.max_addrs_per_client =
			o->max_addrs_per_client ?: DNS_CACHE_DEFAULT_ADDRS_PER_CLIENT,
		.max_names = o->max_names ?: DNS_CACHE_DEFAULT_NAMES,
	};
}
