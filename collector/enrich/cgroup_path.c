/* Cgroup id -> path -> container id (see include/flowscope/enrich/cgroup_path.h). */
#define _GNU_SOURCE
#include <ctype.h>
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "flowscope/base/cgroup2.h"
#include "flowscope/base/hash.h"
#include "flowscope/base/strtab.h"
#include "flowscope/enrich/cgroup_path.h"

#define FILEID_KERNFS 0xfe
#define CACHE_SLOTS 4096
/* Distinct container ids kept: those of the cache and those flows still point at. */
#define MAX_CONTAINER_IDS (4 * CACHE_SLOTS)

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

struct cgroup_names {
	int root_fd;
	struct strtab *ids;
	struct {
		uint64_t id;
		const char *container; /* interned and held; NULL: none */
		bool valid;
	} cache[CACHE_SLOTS];
};

struct cgroup_names *cgroup_names_new(void)
{
	struct cgroup_names *cn;
	int fd = cgroup2_root_open(NULL, 0);

	if (fd < 0) {
		errno = -fd;
		return NULL;
	}
	cn = calloc(1, sizeof(*cn));
	if (cn)
		cn->ids = strtab_new(MAX_CONTAINER_IDS);
	if (!cn || !cn->ids) {
		free(cn);
		close(fd);
		errno = ENOMEM;
		return NULL;
	}
	cn->root_fd = fd;
	return cn;
}

void cgroup_names_free(struct cgroup_names *cn)
{
	if (!cn)
		return;
	close(cn->root_fd);
	strtab_free(cn->ids);
	free(cn);
}

int cgroup_names_root_fd(const struct cgroup_names *cn)
{
	return cn->root_fd;
}

void cgroup_names_set_holders(struct cgroup_names *cn, void (*mark)(void *ctx), void *ctx)
{
	strtab_set_holders(cn->ids, mark, ctx);
}

void cgroup_names_mark(struct cgroup_names *cn, const char *container_id)
{
	strtab_mark(cn->ids, container_id);
}

const char *cgroup_names_container_id(struct cgroup_names *cn, uint64_t cgid)
{
	unsigned int slot = (unsigned int)(hash_mix64(cgid) % CACHE_SLOTS);
	char path[4096], id[65] = "";

	if (cn->cache[slot].valid && cn->cache[slot].id == cgid)
		return cn->cache[slot].container;
	if (cn->cache[slot].container)
		strtab_release(cn->cache[slot].container);
	cn->cache[slot].id = cgid;
	cn->cache[slot].valid = true;
	cn->cache[slot].container = NULL;
	if (!cgroup_path(cn->root_fd, cgid, path, sizeof(path)))
		cgroup_container_id_of_path(path, id);
	if (id[0]) {
		cn->cache[slot].container = strtab_intern(cn->ids, id);
		if (cn->cache[slot].container)
			strtab_hold(cn->cache[slot].container);
	}
	return cn->cache[slot].container;
}
