/* Fuzz target: DNS messages as the collector gets them from any packet on a watched interface,
 * over UDP (dns_parse) and TCP (dns_parse_tcp, with the length prefix); the first byte picks. */
#include "fuzz.h"

#include "flowscope/enrich/dns.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct dns_msg m;
	size_t i;
	int err;

	if (!size)
		return 0;
	if (data[0] & 1)
		err = dns_parse_tcp(data + 1, size - 1, &m);
	else
		err = dns_parse(data + 1, size - 1, &m);
	if (err)
		return 0;
	/* What the collector reads of a parsed message: every name must be a string. */
	if (strlen(m.qname) >= sizeof(m.qname) || m.n_answers > DNS_MAX_ANSWERS)
		abort();
	for (i = 0; i < m.n_answers; i++)
		if (strlen(m.answers[i].name) >= sizeof(m.answers[i].name) ||
		    strlen(m.answers[i].cname) >= sizeof(m.answers[i].cname))
			abort();
	(void)dns_rcode_name(m.rcode);
	(void)dns_type_name(m.qtype);
	return 0;
}
