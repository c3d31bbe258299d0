/* Cgroup id -> path -> container id (see include/flowscope/enrich/cgroup_path.h). */
#define _GNU_SOURCE
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "flowscope/enrich/cgroup_path.h"

#define FILEID_KERNFS 0xfe
#define CACHE_SLOTS 4096

int cgroup_path(int root_fd, uint64_t cgid, char *path, size_t len)
{
	struct {
		struct file_handle fh;
		uint64_t id;
	} h;
	char link[64], full[4096];
	int fd, mount_id;
	ssize_t n;

	(void)mount_id;
	if (root_fd < 0 || !len)
		return -EINVAL;
	h.fh.handle_bytes = sizeof(uint64_t);
	h.fh.handle_type = FILEID_KERNFS;
	memcpy(h.fh.f_handle, &cgid, sizeof(cgid));
	fd = open_by_handle_at(root_fd, &h.fh, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	n = readlink(link, full, sizeof(full) - 1);
	close(fd);
	if (n < 0)
		return -errno;
	full[n] = '\0';
	snprintf(path, len, "%s", full);
	return 0;
}

void cgroup_container_id_of_path(const char *path, char out[65])
{
	const char *p = path, *best = NULL;

	out[0] = '\0';
	while (*p) {
		const char *s = p;

		while (isxdigit((unsigned char)*p))
			p++;
		/* Exactly 64 hex digits, not part of a longer run. */
		if (p - s == 64)
			best = s;
		if (p == s)
			p++;
	}
	if (best) {
		memcpy(out, best, 64);
		out[64] = '\0';
	}
}

static struct {
	uint64_t id;
	char container[65];
	int valid;
} cache[CACHE_SLOTS];

const char *cgroup_container_id(int root_fd, uint64_t cgid)
{
	unsigned int slot = (unsigned int)(cgid * 0x9E3779B97F4A7C15ULL >> 52) % CACHE_SLOTS;
	char path[4096];

	if (cache[slot].valid && cache[slot].id == cgid)
		return cache[slot].container;
	cache[slot].id = cgid;
	cache[slot].valid = 1;
	cache[slot].container[0] = '\0';
	if (!cgroup_path(root_fd, cgid, path, sizeof(path)))
		cgroup_container_id_of_path(path, cache[slot].container);
	return cache[slot].container;
}
