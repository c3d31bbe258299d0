/* Fuzz target: the values users type into options, query parameters and filters (base/parse.h
 * and the filter language's value checks): numbers, durations, sizes, booleans, HOST:PORT,
 * URLs, times in every form flowctl and the HTTP API take, CIDRs, ports, protocols,
 * identities, event types, HTTP status codes. The first byte picks the parser. */
#include "fuzz.h"

#include "flowscope/base/parse.h"
#include "flowscope/filter/filter.h"

#define FUZZ_NOW_NS 1700000000000000000ULL

static void cidr_use(const char *s)
{
	struct cidr c, m;
	uint8_t a[16] = {10, 0, 0, 1};

	if (parse_cidr(s, &c))
		return;
	cidr_masked(&c, &m);
	if (c.bits > (c.family == 4 ? 32 : 128))
		abort();
	(void)cidr_contains(&m, 4, a);
	(void)cidr_contains(&m, 6, a);
}

static void one(unsigned int which, const char *s)
{
	char host[256];
	struct url u;
	uint64_t v;
	uint16_t port;
	bool b;
	struct port_range pr;
	unsigned int mask = 0;
	uint32_t id;
	int32_t type, sub;

	switch (which) {
	case 0:
		(void)parse_u64(s, UINT64_MAX, &v);
		(void)parse_u64(s, 65535, &v);
		break;
	case 1:
		(void)parse_duration_ns(s, &v);
		break;
	case 2:
		(void)parse_size(s, &v);
		break;
	case 3:
		(void)parse_bool(s, &b);
		break;
	case 4:
		(void)parse_hostport(s, host, sizeof(host), &port);
		(void)parse_hostport(s, host, 8, &port);
		break;
	case 5:
		(void)parse_url(s, &u);
		break;
	case 6:
		(void)parse_time(s, FUZZ_NOW_NS, &v);
		(void)parse_rfc3339(s, &v);
		break;
	case 7:
		(void)parse_hubble_time(s, FUZZ_NOW_NS, &v);
		break;
	case 8:
		cidr_use(s);
		break;
	case 9:
		(void)filter_parse_port(s, &pr);
		(void)filter_parse_protocol(s, &mask);
		break;
	case 10:
		(void)filter_parse_identity(s, &id);
		(void)filter_parse_type(s, &type, &b, &sub);
		(void)filter_parse_http_status(s);
		break;
	default:
		break;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s;

	if (!size)
		return 0;
	fuzz_quiet();
	s = fuzz_str(data + 1, size - 1);
	one(data[0] % 11, s);
	free(s);
	return 0;
}
