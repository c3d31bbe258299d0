/* From a cgroup id (what bpf_get_current_cgroup_id() reports) to the container it belongs to:
 * the cgroup2 directory is opened by its id (a kernfs file handle) and its path searched for a
 * container id, the 64-hex-digit name runtimes give their cgroups ("docker-<id>.scope",
 * "cri-containerd-<id>.scope", "/docker/<id>", "libpod-<id>", ...). Results are cached. */
#ifndef FLOWSCOPE_ENRICH_CGROUP_PATH_H
#define FLOWSCOPE_ENRICH_CGROUP_PATH_H

#include <stddef.h>
#include <stdint.h>

/* The cgroup's path below the cgroup2 root (e.g. "/system.slice/docker-ab12....scope") into
 * path. root_fd is an open fd of the cgroup2 root. Returns 0 or a negative errno. */
int cgroup_path(int root_fd, uint64_t cgid, char *path, size_t len);

/* The container id in a cgroup path: the last 64-hex-digit run, or "" if none. */
void cgroup_container_id_of_path(const char *path, char out[65]);

/* Both, through a cache over one cgroup2 root. */
struct cgroup_names;

/* Opens the cgroup2 root (base/cgroup2.h) for itself. NULL with errno when there is none or on
 * ENOMEM: flows then carry no container ids. */
struct cgroup_names *cgroup_names_new(void);
void cgroup_names_free(struct cgroup_names *cn);

/* The cgroup2 root it opened (owned by cn), e.g. to find a cgroup's id from its path. */
int cgroup_names_root_fd(const struct cgroup_names *cn);

/* The container id of cgroup cgid (NULL when none or unknown), interned: flows keep the pointer.
 * It stays while the cache has it or, once the table of ids is full and asks for room, a holder
 * marks it (as dns_cache's names: base/strtab.h). Without holders, ids are never freed. */
const char *cgroup_names_container_id(struct cgroup_names *cn, uint64_t cgid);

/* Who keeps container ids beside the cache: mark(ctx) calls cgroup_names_mark() for every
 * pointer it holds (NULL and pointers of others are ignored). */
void cgroup_names_set_holders(struct cgroup_names *cn, void (*mark)(void *ctx), void *ctx);
void cgroup_names_mark(struct cgroup_names *cn, const char *container_id);

#endif /* FLOWSCOPE_ENRICH_CGROUP_PATH_H */
