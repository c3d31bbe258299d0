/* Hubble's view of a flow event (see include/flowscope/pipeline/flow_view.h). */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "flowscope/enrich/drop_reason.h"
#include "flowscope/pipeline/flow_view.h"

#define HUBBLE_TO_ENDPOINT 101 /* flow.TraceObservationPoint for Cilium's TraceToLxc (0) */

void flow_event_type(const struct flow *f, int32_t *type, int32_t *sub_type)
{
	if (f->event == FLOW_EVENT_DROP) {
		*type = FLOW_MSG_DROP;
		*sub_type = flow_drop_code(f);
	} else if (f->event == FLOW_EVENT_DNS && f->dns.present) {
		*type = FLOW_MSG_L7;
		*sub_type = 0;
	} else {
		*type = FLOW_MSG_TRACE;
		*sub_type = f->obs_point;
	}
}

int flow_trace_point(const struct flow *f)
{
	int32_t type, sub;

	flow_event_type(f, &type, &sub);
	if (type != FLOW_MSG_TRACE)
		return 0;
	return sub == FLOW_OBS_TO_ENDPOINT ? HUBBLE_TO_ENDPOINT : sub;
}

int flow_drop_code(const struct flow *f)
{
	return f->drops ? drop_reason_hubble_code(f->drop_reason) : 0;
}

/* By hand: snprintf with 16 conversions was 13% of a GetFlows replay (perf, bench_export). */
void flow_uuid_str(const struct flow *f, char out[FLOW_UUID_STR_LEN])
{
	static const char digits[] = "0123456789abcdef";
	char *o = out;
	int i;

	for (i = 0; i < 16; i++) {
		if (i == 4 || i == 6 || i == 8 || i == 10)
			*o++ = '-';
		*o++ = digits[f->uuid[i] >> 4];
		*o++ = digits[f->uuid[i] & 15];
	}
	*o = '\0';
}

static int hex(int c)
{
	return isdigit(c) ? c - '0' : tolower(c) - 'a' + 10;
}

int flow_uuid_parse(const char *s, uint8_t out[16])
{
	int i, n = 0;

	for (i = 0; s[i] && n < 32; i++) {
		if (i == 8 || i == 13 || i == 18 || i == 23) {
			if (s[i] != '-')
				return -EINVAL;
			continue;
		}
		if (!isxdigit((unsigned char)s[i]))
			return -EINVAL;
		if (n % 2 == 0)
			out[n / 2] = (uint8_t)(hex((unsigned char)s[i]) << 4);
		else
			out[n / 2] |= (uint8_t)hex((unsigned char)s[i]);
		n++;
	}
	return n == 32 && i == 36 && !s[i] ? 0 : -EINVAL;
}

int flow_uuid_seq(const uint8_t u[16], uint64_t *seq)
{
	uint64_t n = 0;
	int i;

	if ((u[6] & 0xf0) != 0x40 || (u[8] & 0xc0) != 0x80)
		return -EINVAL;
	for (i = 8; i < 16; i++)
		n = n << 8 | u[i];
	*seq = n & FLOW_UUID_SEQ_MAX;
	return 0;
}

bool flow_uuid_same_session(const uint8_t a[16], const uint8_t b[16])
{
	return !memcmp(a, b, FLOW_UUID_SESSION_LEN);
}
