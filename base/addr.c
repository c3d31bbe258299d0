/* IP addresses as text (see include/flowscope/base/addr.h). */
#include <arpa/inet.h>

#include "flowscope/base/addr.h"

/* IPv4 by hand: glibc's inet_ntop goes through sprintf (6% of a GetFlows replay). */
void addr_str(int family, const uint8_t *addr, char out[ADDR_STR_LEN])
{
	char *o = out;
	int i;

	if (family == 6) {
		if (!inet_ntop(AF_INET6, addr, out, ADDR_STR_LEN))
			out[0] = '\0';
		return;
	}
	for (i = 0; i < 4; i++) {
		unsigned v = addr[i];

		if (i)
			*o++ = '.';
		if (v >= 100)
			*o++ = (char)('0' + v / 100);
		if (v >= 10)
			*o++ = (char)('0' + v / 10 % 10);
		*o++ = (char)('0' + v % 10);
	}
	*o = '\0';
}
