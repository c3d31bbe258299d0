/* Loader of the socket probes (see include/flowscope/probes/probe_sock.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "flowscope/base/cgroup2.h"
#include "flowscope/base/errmsg.h"
#include "flowscope/probes/probe_sock.h"
#include "flow_sock.skel.h"

struct probe_sock {
	struct flow_sock_bpf *skel;
	struct bpf_link *state_link;
	struct bpf_link *drop_link;
	struct bpf_link *sockops_link;
	int cgroup_fd;
	uint32_t *ignored; /* the reasons the drop probe only counts, ascending */
	size_t n_ignored;
	int ncpus;
};

/* The drop probe's class of every reason value it tells apart, from is_loss; kept in p->ignored
 * for probe_sock_ignored. Before attaching: no free is ever reported by a half-filled map. */
static int set_drop_classes(struct probe_sock *p, probe_sock_is_loss_fn is_loss, struct errmsg *e)
{
	uint32_t n = bpf_map__max_entries(p->skel->maps.drop_class), v, ignore = 1;
	int fd = bpf_map__fd(p->skel->maps.drop_class);

	p->ncpus = libbpf_num_possible_cpus();
	if (p->ncpus <= 0)
		return errmsg_set(e, p->ncpus ?: -EINVAL, "cannot count the possible CPUs");
	if (!is_loss)
		return 0;
	p->ignored = calloc(n, sizeof(*p->ignored));
	if (!p->ignored)
		return errmsg_set(e, -ENOMEM, "out of memory");
	for (v = 0; v < n; v++) {
		if (is_loss(v))
			continue;
		if (bpf_map_update_elem(fd, &v, &ignore, BPF_ANY))
			return errmsg_set(e, -errno, "cannot fill the drop probe's reason map: %s",
					  strerror(errno));
		p->ignored[p->n_ignored++] = v;
	}
	return 0;
}

int probe_sock_ignored(const struct probe_sock *p, struct probe_sock_ignored *out, size_t n)
{
	int fd = bpf_map__fd(p->skel->maps.drop_ignored);
	uint64_t *per_cpu;
	size_t i;
	int c;

	per_cpu = calloc(p->ncpus, sizeof(*per_cpu));
	if (!per_cpu)
		return -ENOMEM;
	for (i = 0; i < p->n_ignored && i < n; i++) {
		out[i].reason = p->ignored[i];
		out[i].count = 0;
		if (bpf_map_lookup_elem(fd, &p->ignored[i], per_cpu)) {
			free(per_cpu);
			return -errno;
		}
		for (c = 0; c < p->ncpus; c++)
			out[i].count += per_cpu[c];
	}
	free(per_cpu);
	return (int)p->n_ignored;
}

int probe_sock_open(struct probe_sock **out, const struct probe_tc *tc,
		    probe_sock_is_loss_fn is_loss, struct errmsg *e)
{
	struct probe_sock *p = calloc(1, sizeof(*p));
	char where[700];
	const char *cg;
	int err;

	if (!p)
		return errmsg_set(e, -ENOMEM, "out of memory");
	p->cgroup_fd = -1;
	p->skel = flow_sock_bpf__open();
	if (!p->skel) {
		err = errmsg_set(e, -errno, "cannot open the socket probes: %s", strerror(errno));
		goto fail;
	}
	/* Same rings and lost counter as the TC probe: one reader, one loss count. */
	bpf_map__set_max_entries(p->skel->maps.rings, 0);
	err = bpf_map__reuse_fd(p->skel->maps.rings, probe_tc_rings_map_fd(tc));
	if (!err)
		err = bpf_map__reuse_fd(p->skel->maps.lost, probe_tc_lost_map_fd(tc));
	if (err) {
		errmsg_set(e, err, "cannot share the rings with the socket probes: %s",
			   strerror(-err));
		goto fail;
	}
	err = flow_sock_bpf__load(p->skel);
	if (err) {
		errmsg_set(e, err, "cannot load the socket probes: %s", strerror(-err));
		goto fail;
	}
	err = set_drop_classes(p, is_loss, e);
	if (err)
		goto fail;
	p->state_link = bpf_program__attach(p->skel->progs.sock_state);
	if (!p->state_link) {
		err = errmsg_set(e, -errno, "cannot attach to tp_btf/inet_sock_set_state: %s",
				 strerror(errno));
		goto fail;
	}
	p->drop_link = bpf_program__attach(p->skel->progs.skb_drop);
	if (!p->drop_link) {
		err = errmsg_set(e, -errno, "cannot attach to tp_btf/kfree_skb: %s",
				 strerror(errno));
		goto fail;
	}
	/* Sockops add live RTT and retransmit reports; without them closes still carry both. */
	p->cgroup_fd = cgroup2_root_open(where, sizeof(where));
	if (p->cgroup_fd < 0) {
		logmsg(LOG_LEVEL_WARN,
		       "cannot open the cgroup2 root (%s): no sockops RTT/retransmit reports (closes still carry them)",
		       strerror(errno));
	} else {
		cg = where;
		/* A link, not a legacy attachment: it goes away with flowd, whatever happens. */
		p->sockops_link = bpf_program__attach_cgroup(p->skel->progs.sock_ops, p->cgroup_fd);
		if (!p->sockops_link)
			logmsg(LOG_LEVEL_WARN, "cannot attach sockops to %s: %s", cg,
			       strerror(errno));
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
	bpf_link__destroy(p->drop_link);
	flow_sock_bpf__destroy(p->skel);
	if (p->cgroup_fd >= 0)
		close(p->cgroup_fd);
	free(p->ignored);
	free(p);
}
