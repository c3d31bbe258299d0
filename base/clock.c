/* Clock reads and the boot-to-wall offset (see include/flowscope/base/clock.h). */
#include <time.h>

#include "flowscope/base/clock.h"

static uint64_t clock_ns(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (uint64_t)ts.tv_sec * NSEC_PER_SEC + (uint64_t)ts.tv_nsec;
}

/* The civil-from-days algorithm: eras of 400 years, years starting in March. */
void clock_civil(int64_t secs, struct clock_civil *c)
{
	int64_t z = secs >= 0 ? secs / 86400 : -((-secs + 86399) / 86400), rem = secs - z * 86400;
	int64_t era, yoe, doy, mp;

	z += 719468;
	era = (z >= 0 ? z : z - 146096) / 146097;
	yoe = z - era * 146097;					     /* [0, 146096] */
	yoe = (yoe - yoe / 1460 + yoe / 36524 - yoe / 146096) / 365; /* [0, 399] */
	doy = z - era * 146097 - (365 * yoe + yoe / 4 - yoe / 100);  /* [0, 365] */
	mp = (5 * doy + 2) / 153;				     /* [0, 11] */
	c->mday = (unsigned)(doy - (153 * mp + 2) / 5 + 1);
	c->mon = (unsigned)(mp < 10 ? mp + 3 : mp - 9);
	c->year = yoe + era * 400 + (c->mon <= 2);
	c->hour = (unsigned)(rem / 3600); /* rem: [0, 86399] */
	c->min = (unsigned)(rem / 60 % 60);
	c->sec = (unsigned)(rem % 60);
}

void clock_utc(uint64_t wall_ns, char out[CLOCK_UTC_LEN])
{
	time_t s = (time_t)(wall_ns / NSEC_PER_SEC);
	struct tm tm;

	if (!gmtime_r(&s, &tm) || !strftime(out, CLOCK_UTC_LEN, "%Y-%m-%dT%H:%M:%SZ", &tm))
		out[0] = 0;
}

uint64_t clock_wall_ns(void)
{
	return clock_ns(CLOCK_REALTIME);
}

uint64_t clock_boot_ns(void)
{
	return clock_ns(CLOCK_BOOTTIME);
}

uint64_t clock_mono_ns(void)
{
	return clock_ns(CLOCK_MONOTONIC);
}

uint64_t clock_mono_coarse_ns(void)
{
	return clock_ns(CLOCK_MONOTONIC_COARSE);
}

void clock_sync(struct clock_offset *o)
{
	/* Bracket the wall-clock read with two boot-time reads to halve the error. */
	uint64_t b1 = clock_ns(CLOCK_BOOTTIME);
	uint64_t r = clock_ns(CLOCK_REALTIME);
	uint64_t b2 = clock_ns(CLOCK_BOOTTIME);

	o->boot_to_wall_ns = (int64_t)r - (int64_t)(b1 + (b2 - b1) / 2);
}

uint64_t clock_to_wall(const struct clock_offset *o, uint64_t boot_ns)
{
	if (!boot_ns)
		return 0;
	return (uint64_t)((int64_t)boot_ns + o->boot_to_wall_ns);
}
