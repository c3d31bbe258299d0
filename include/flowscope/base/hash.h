/* The hash functions of the collector's tables: one mixer for integers and keys, one for
 * strings and byte runs; a stable one where a value must be the same in every process. */
#ifndef FLOWSCOPE_BASE_HASH_H
#define FLOWSCOPE_BASE_HASH_H

#include <stddef.h>
#include <stdint.h>

/* MurmurHash3's 64-bit finaliser: every input bit reaches every output bit. */
static inline uint64_t hash_mix64(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdULL;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ULL;
	return x ^ (x >> 33);
}

/* The tables' hash of n bytes, eight at a time: FNV-1a's multiply per byte was a chain of
 * 16 dependent multiplies per address and most of a graph node's lookup (perf). Not stable
 * across versions: nothing outside one process may depend on its values. */
static inline uint64_t hash_bytes(const void *p, size_t n)
{
	const unsigned char *b = p;
	uint64_t h = 0x9e3779b97f4a7c15ULL ^ n, w;

	for (; n >= 8; n -= 8, b += 8) {
		__builtin_memcpy(&w, b, 8);
		h = (h ^ w) * 0xff51afd7ed558ccdULL;
		h ^= h >> 29;
	}
	if (n) {
		w = 0;
		__builtin_memcpy(&w, b, n);
		h = (h ^ w) * 0xc4ceb9fe1a85ec53ULL;
	}
	return hash_mix64(h);
}

/* The tables' hash of a NUL-terminated string. */
static inline uint64_t hash_str(const char *s)
{
	return hash_bytes(s, __builtin_strlen(s));
}

/* A string's hash that never changes, for values that outlive the process (derived identity
 * numbers, which every node must derive alike): FNV-1a's prime and steps, from an offset
 * basis of 1469598103934665603 (one digit short of FNV's published one; kept, since the
 * numbers already given depend on it). */
static inline uint64_t hash_stable_str(const char *s)
{
	uint64_t h = 1469598103934665603ULL;

	while (*s) {
		h ^= (unsigned char)*s++;
		h *= 1099511628211ULL;
	}
	return h;
}

#endif /* FLOWSCOPE_BASE_HASH_H */
