/* The identity table in force and the numeric identity of an address (see
 * include/flowscope/enrich/identities.h). */
#include <ifaddrs.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <string.h>
#include <sys/socket.h>

#include "flowscope/base/clock.h"
#include "flowscope/enrich/identities.h"

/* This host's addresses, read again at most this often: an address added to an interface is
 * host after a few seconds; a flow should not pay for a netlink dump. */
#define HOST_REFRESH_NS (5 * NSEC_PER_SEC)
#define HOST_MAX_ADDRS 512

static struct identity_table *current;
static uint64_t generation;
static uint64_t reloads, reload_errors;

static struct {
	uint8_t family;
	uint8_t addr[16];
} host_addrs[HOST_MAX_ADDRS];
static size_t n_host_addrs;
static uint64_t host_read_ns;
static bool host_read;

void identities_set(struct identity_table *t)
{
	struct identity_table *old = current;

	current = t;
	generation++;
	identity_table_free(old);
}

uint64_t identities_generation(void)
{
	return generation;
}

const struct identity_table *identities_get(void)
{
	return current;
}

const struct identity *identities_lookup(uint8_t family, const uint8_t addr[16])
{
	return current ? identity_lookup(current, family, addr) : NULL;
}

/* Reads the addresses of this network namespace's interfaces; keeps the old list when that
 * fails (a transient error should not make the host look like the world). */
static void host_refresh(void)
{
	struct ifaddrs *list, *i;
	size_t n = 0;

	if (getifaddrs(&list))
		return;
	for (i = list; i && n < HOST_MAX_ADDRS; i = i->ifa_next) {
		if (!i->ifa_addr)
			continue;
		if (i->ifa_addr->sa_family == AF_INET) {
			host_addrs[n].family = 4;
			memset(host_addrs[n].addr, 0, 16);
			memcpy(host_addrs[n++].addr,
			       &((const struct sockaddr_in *)i->ifa_addr)->sin_addr, 4);
		} else if (i->ifa_addr->sa_family == AF_INET6) {
			host_addrs[n].family = 6;
			memcpy(host_addrs[n++].addr,
			       &((const struct sockaddr_in6 *)i->ifa_addr)->sin6_addr, 16);
		}
	}
	n_host_addrs = n;
	freeifaddrs(list);
}

bool identities_is_host(uint8_t family, const uint8_t addr[16])
{
	static const uint8_t v6_loopback[16] = {[15] = 1}, v4_mapped[12] = {[10] = 0xff, 0xff};
	uint64_t now;
	size_t i;

	if (family == 6 && !memcmp(addr, v4_mapped, 12)) {
		uint8_t v4[16] = {0};

		memcpy(v4, addr + 12, 4);
		return identities_is_host(4, v4);
	}
	if ((family == 4 && addr[0] == 127) || (family == 6 && !memcmp(addr, v6_loopback, 16)))
		return true;
	now = clock_mono_coarse_ns(); /* every flow's two ends ask: no clock source read */
	if (!host_read || now - host_read_ns >= HOST_REFRESH_NS) {
		host_refresh();
		host_read = true;
		host_read_ns = now;
	}
	for (i = 0; i < n_host_addrs; i++)
		if (host_addrs[i].family == family &&
		    !memcmp(host_addrs[i].addr, addr, family == 4 ? 4 : 16))
			return true;
	return false;
}

uint32_t identities_numeric(uint8_t family, const uint8_t addr[16])
{
	const struct identity *id = identities_lookup(family, addr);

	if (id && id->numeric)
		return id->numeric;
	return identities_is_host(family, addr) ? IDENTITY_HOST : IDENTITY_WORLD;
}

static const struct identity *carried(const struct flow *f, const struct flow_endpoint *ep)
{
	return ep == &f->src ? f->src_id : ep == &f->dst ? f->dst_id : NULL;
}

const struct identity *identities_of(const struct flow *f, const struct flow_endpoint *ep)
{
	const struct identity *id = carried(f, ep);

	return id ? id : identities_lookup(f->family, ep->addr);
}

uint32_t identities_numeric_of(const struct flow *f, const struct flow_endpoint *ep)
{
	const struct identity *id = carried(f, ep);

	return id ? id->numeric : identities_numeric(f->family, ep->addr);
}

void identities_reloaded(struct identity_table *t, int err)
{
	if (err) {
		reload_errors++;
		return;
	}
	identities_set(t);
	reloads++;
}

int identities_reload(const char *path, struct errmsg *e)
{
	struct identity_table *t = NULL;
	int err = identity_table_load(path, &t, e);

	identities_reloaded(t, err);
	return err;
}

void identities_get_stats(struct identities_stats *st)
{
	st->entries = identity_table_size(current);
	st->reloads = reloads;
	st->errors = reload_errors;
}
