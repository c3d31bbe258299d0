/* The three clocks Flowscope reads: wall time (CLOCK_REALTIME) for everything users see, boot
 * time (CLOCK_BOOTTIME) that probes stamp records with (bpf_ktime_get_boot_ns), and monotonic
 * time for timeouts that must not jump. */
#ifndef FLOWSCOPE_BASE_CLOCK_H
#define FLOWSCOPE_BASE_CLOCK_H

#include <stdint.h>

#define NSEC_PER_SEC 1000000000ULL

uint64_t clock_wall_ns(void);
uint64_t clock_boot_ns(void);
uint64_t clock_mono_ns(void);

/* Boot time to wall time. Re-read now and then (clock_sync) so that steps of the wall clock are
 * followed. */
struct clock_offset {
	int64_t boot_to_wall_ns;
};

void clock_sync(struct clock_offset *o);
/* The wall time of a boot-time stamp; 0 stays 0 (no time). */
uint64_t clock_to_wall(const struct clock_offset *o, uint64_t boot_ns);

#endif /* FLOWSCOPE_BASE_CLOCK_H */
