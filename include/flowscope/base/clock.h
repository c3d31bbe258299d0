/* The three clocks Flowscope reads: wall time (CLOCK_REALTIME) for everything users see, boot
 * time (CLOCK_BOOTTIME) that probes stamp records with (bpf_ktime_get_boot_ns), and monotonic
 * time for timeouts that must not jump. */
#ifndef FLOWSCOPE_BASE_CLOCK_H
#define FLOWSCOPE_BASE_CLOCK_H

#include <stddef.h>
#include <stdint.h>

#define NSEC_PER_SEC 1000000000ULL

uint64_t clock_wall_ns(void);
uint64_t clock_boot_ns(void);
uint64_t clock_mono_ns(void);
/* CLOCK_MONOTONIC_COARSE: the time at the latest tick (some ms behind), read from memory without
 * the clock source (which costs tens of ns on a VM): for intervals of seconds on hot paths. */
uint64_t clock_mono_coarse_ns(void);

/* The UTC date and time of day of a Unix time in seconds (the proleptic Gregorian calendar,
 * any year), computed without gmtime_r (its time zone lock, and the time it takes on paths that
 * stamp every flow). */
struct clock_civil {
	int64_t year;
	unsigned mon, mday; /* 1-12, 1-31 */
	unsigned hour, min, sec;
};
void clock_civil(int64_t secs, struct clock_civil *c);

/* A wall time as RFC 3339 in UTC to the second ("2026-12-02T03:10:39Z"), for messages. */
#define CLOCK_UTC_LEN 32
void clock_utc(uint64_t wall_ns, char out[CLOCK_UTC_LEN]);

/* Boot time to wall time. Re-read now and then (clock_sync) so that steps of the wall clock are
 * followed. */
struct clock_offset {
	int64_t boot_to_wall_ns;
	/* The length of the probes' coarse clock tick (struct flow_state's last_tick), ns; 0: the
	 * fallback of boot ns >> FLOW_TICK_SHIFT_FALLBACK. Not touched by clock_sync. */
	uint32_t tick_ns;
};

void clock_sync(struct clock_offset *o);
/* The wall time of a boot-time stamp; 0 stays 0 (no time). */
uint64_t clock_to_wall(const struct clock_offset *o, uint64_t boot_ns);

#endif /* FLOWSCOPE_BASE_CLOCK_H */
