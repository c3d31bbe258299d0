/* Loader of the socket probes (see include/flowscope/probes/probe_sock.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <mntent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "flowscope/probes/probe_sock.h"
#include "flow_sock.skel.h"

struct probe_sock {
	struct flow_sock_bpf *skel;
	struct bpf_link *state_link;
	struct bpf_link *drop_link;
	struct bpf_link *sockops_link;
	int cgroup_fd;
};

static bool find_cgroup2(const char *mounts, const char *prefix, char *out, size_t len)
{
	struct mntent *m;
	FILE *f = setmntent(mounts, "r");
	bool found = false;

	if (!f)
		return false;
	while ((m = getmntent(f))) {
		if (!strcmp(m->mnt_type, "cgroup2")) {
			snprintf(out, len, "%s%s", prefix, m->mnt_dir);
			found = true;
			break;
		}
	}
	endmntent(f);
	return found;
}

const char *probe_sock_cgroup2_root(void)
{
	static char root[600];

	if (find_cgroup2("/proc/self/mounts", "", root, sizeof(root)))
		return root;
	return NULL;
}

/* An fd of the cgroup2 root. Without a visible mount (under `ip netns exec` /sys is
 * remounted and hides it), mount cgroup2 on a private directory just long enough to open its
 * root: the fd outlives the mount. */
static int open_cgroup2_root(char *where, size_t len)
{
	const char *cg = probe_sock_cgroup2_root();
	char dir[] = "/tmp/flowscope-cgroup2-XXXXXX";
	int fd;

	if (cg) {
		snprintf(where, len, "%s", cg);
		return open(cg, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	}
	if (!mkdtemp(dir))
		return -1;
	snprintf(where, len, "cgroup2 (mounted for a moment on %s)", dir);
	if (mount("none", dir, "cgroup2", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL)) {
		rmdir(dir);
		return -1;
	}
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	umount2(dir, MNT_DETACH);
	rmdir(dir);
	return fd;
}

int probe_sock_open(struct probe_sock **out, const struct probe_tc *tc)
{
	struct probe_sock *p = calloc(1, sizeof(*p));
	char where[700];
	const char *cg;
	int err;

	if (!p)
		return -ENOMEM;
	p->cgroup_fd = -1;
	p->skel = flow_sock_bpf__open();
	if (!p->skel) {
		err = -errno;
		fprintf(stderr, "flowd: cannot open the socket probes: %s\n", strerror(-err));
		goto fail;
	}
	/* Same rings and lost counter as the TC probe: one reader, one loss count. */
	bpf_map__set_max_entries(p->skel->maps.rings, 0);
	err = bpf_map__reuse_fd(p->skel->maps.rings, probe_tc_rings_map_fd(tc));
	if (!err)
		err = bpf_map__reuse_fd(p->skel->maps.lost, probe_tc_lost_map_fd(tc));
	if (err) {
		fprintf(stderr, "flowd: cannot share the rings with the socket probes: %s\n",
			strerror(-err));
		goto fail;
	}
	err = flow_sock_bpf__load(p->skel);
	if (err) {
		fprintf(stderr, "flowd: cannot load the socket probes: %s\n", strerror(-err));
		goto fail;
	}
	p->state_link = bpf_program__attach(p->skel->progs.sock_state);
	if (!p->state_link) {
		err = -errno;
		fprintf(stderr, "flowd: cannot attach to tp_btf/inet_sock_set_state: %s\n",
			strerror(-err));
		goto fail;
	}
	p->drop_link = bpf_program__attach(p->skel->progs.skb_drop);
	if (!p->drop_link) {
		err = -errno;
		fprintf(stderr, "flowd: cannot attach to tp_btf/kfree_skb: %s\n", strerror(-err));
		goto fail;
	}
	/* Sockops add live RTT and retransmit reports; without them closes still carry both. */
	p->cgroup_fd = open_cgroup2_root(where, sizeof(where));
	if (p->cgroup_fd < 0) {
		fprintf(stderr,
			"flowd: warning: cannot open the cgroup2 root (%s): no sockops "
			"RTT/retransmit reports (closes still carry them)\n",
			strerror(errno));
	} else {
		cg = where;
		/* A link, not a legacy attachment: it goes away with flowd, whatever happens. */
		p->sockops_link = bpf_program__attach_cgroup(p->skel->progs.sock_ops, p->cgroup_fd);
		if (!p->sockops_link)
			fprintf(stderr, "flowd: warning: cannot attach sockops to %s: %s\n", cg,
				strerror(errno));
	}
	*out = p;
	return 0;
fail:
	probe_sock_close(p);
	return err;
}

int probe_sock_cgroup_fd(const struct probe_sock *p)
{
	return p ? p->cgroup_fd : -1;
}

void probe_sock_close(struct probe_sock *p)
{
	if (!p)
		return;
	bpf_link__destroy(p->sockops_link);
	bpf_link__destroy(p->state_link);
	bpf_link__destroy(p->drop_link);
	flow_sock_bpf__destroy(p->skel);
	if (p->cgroup_fd >= 0)
		close(p->cgroup_fd);
	free(p);
}
