/* Loader of the socket probes (see include/flowscope/probe_sock.h). */
#include <errno.h>
#include <fcntl.h>
#include <mntent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "flowscope/probe_sock.h"
#include "flow_sock.skel.h"

struct probe_sock {
	struct flow_sock_bpf *skel;
	struct bpf_link *state_link;
	struct bpf_link *sockops_link;
	int cgroup_fd;
};

const char *probe_sock_cgroup2_root(void)
{
	static char root[512];
	struct mntent *m;
	FILE *f = setmntent("/proc/mounts", "r");

	if (!f)
		return NULL;
	root[0] = '\0';
	while ((m = getmntent(f))) {
		if (!strcmp(m->mnt_type, "cgroup2")) {
			snprintf(root, sizeof(root), "%s", m->mnt_dir);
			break;
		}
	}
	endmntent(f);
	return root[0] ? root : NULL;
}

int probe_sock_open(struct probe_sock **out, const struct probe_tc *tc)
{
	struct probe_sock *p = calloc(1, sizeof(*p));
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
	cg = probe_sock_cgroup2_root();
	if (!cg) {
		err = -ENOENT;
		fprintf(stderr, "flowd: no cgroup2 mount in /proc/mounts: RTT and retransmits "
				"need sockops on it\n");
		goto fail;
	}
	p->cgroup_fd = open(cg, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (p->cgroup_fd < 0) {
		err = -errno;
		fprintf(stderr, "flowd: cannot open %s: %s\n", cg, strerror(-err));
		goto fail;
	}
	/* A link, not a legacy attachment: it goes away with flowd, whatever happens. */
	p->sockops_link = bpf_program__attach_cgroup(p->skel->progs.sock_ops, p->cgroup_fd);
	if (!p->sockops_link) {
		err = -errno;
		fprintf(stderr, "flowd: cannot attach sockops to %s: %s\n", cg, strerror(-err));
		goto fail;
	}
	*out = p;
	return 0;
fail:
	probe_sock_close(p);
	return err;
}

void probe_sock_close(struct probe_sock *p)
{
	if (!p)
		return;
	bpf_link__destroy(p->sockops_link);
	bpf_link__destroy(p->state_link);
	flow_sock_bpf__destroy(p->skel);
	if (p->cgroup_fd >= 0)
		close(p->cgroup_fd);
	free(p);
}
