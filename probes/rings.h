/* The per-CPU record rings and the per-CPU lost counter, shared by every probe program: the
 * TC probe's loader creates them and the other programs reuse its maps (bpf_map__reuse_fd). */
#ifndef FLOWSCOPE_PROBES_RINGS_H
#define FLOWSCOPE_PROBES_RINGS_H

/* The inner map template; the loader replaces it with one real ring per possible CPU. */
struct ring {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 20);
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, 1);
	__type(key, __u32);
	__array(values, struct ring);
} rings SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} lost SEC(".maps");

/* Reserves size bytes in this CPU's ring and stores the CPU in *cpu. When the ring is full
 * the record is counted as lost in this CPU's slot (no atomics needed) and NULL returned. */
static __always_inline void *ring_reserve(__u64 size, __u32 *cpu)
{
	__u32 zero = 0;
	void *ring, *r = NULL;
	__u64 *cnt;

	*cpu = bpf_get_smp_processor_id();
	ring = bpf_map_lookup_elem(&rings, cpu);
	if (ring)
		r = bpf_ringbuf_reserve(ring, size, 0);
	if (!r) {
		cnt = bpf_map_lookup_elem(&lost, &zero);
		if (cnt)
			*cnt += 1;
	}
	return r;
}

#endif /* FLOWSCOPE_PROBES_RINGS_H */
