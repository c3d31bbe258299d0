/* Loader of the TC probe (see include/flowscope/probes/probe_tc.h): skeleton, one ring buffer per
 * possible CPU inside an ARRAY_OF_MAPS, cls_bpf filters on clsact ingress/egress, and a lock
 * per interface so that two flowd never stack probes on one interface. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "flowscope/base/errmsg.h"
#include "flowscope/probes/probe_tc.h"
#include "flowscope/record.h"
#include "flow_tc.skel.h"

#define LOCK_DIR "/run/flowscope"
/* Our filters' identity on every hook: a second attach with these fails with EEXIST. */
#define FLOWSCOPE_TC_HANDLE 0xf10c
#define FLOWSCOPE_TC_PRIO 0xf10c
#define DEFAULT_RING_BYTES (1u << 20)

struct attachment {
	int ifindex;
	char ifname[IF_NAMESIZE];
	bool created_qdisc;
	bool ingress, egress;
	int lock_fd;
	char lock_path[128];
};

struct probe_tc {
	struct flow_tc_bpf *skel;
	int *ring_fds;
	int n_rings;
	struct attachment *att;
	int n_att;
};

static void remove_stale(void);

/* libbpf's own warnings go to the log sink like ours. */
static int print_libbpf(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	char text[1024];
	size_t n;

	if (level > LIBBPF_WARN)
		return 0;
	vsnprintf(text, sizeof(text), fmt, ap);
	n = strlen(text);
	if (n && text[n - 1] == '\n')
		text[n - 1] = '\0';
	logmsg(LOG_LEVEL_WARN, "libbpf: %s", text);
	return 0;
}

int probe_tc_open(struct probe_tc **out, const struct probe_tc_opts *opts, struct errmsg *e)
{
	uint32_t ring_bytes = opts && opts->ring_bytes ? opts->ring_bytes : DEFAULT_RING_BYTES;
	struct probe_tc *p;
	int err, i, ncpu;

	libbpf_set_print(print_libbpf);
	if (ring_bytes & (ring_bytes - 1) || ring_bytes < 4096)
		return errmsg_set(e, -EINVAL, "ring size %u must be a power of two >= 4096",
				  ring_bytes);
	ncpu = libbpf_num_possible_cpus();
	if (ncpu <= 0)
		return ncpu ? ncpu : -EINVAL;
	p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	p->ring_fds = malloc(sizeof(int) * ncpu);
	if (!p->ring_fds) {
		free(p);
		return -ENOMEM;
	}
	for (i = 0; i < ncpu; i++)
		p->ring_fds[i] = -1;
	p->n_rings = ncpu;
	p->skel = flow_tc_bpf__open();
	if (!p->skel) {
		err = errmsg_set(e, -errno, "cannot open the TC probe: %s", strerror(errno));
		goto err;
	}
	if (opts && opts->max_flows)
		bpf_map__set_max_entries(p->skel->maps.flows, opts->max_flows);
	/* One ring per possible CPU: a CPU writes only to its own, so producers never contend
	 * on a ring's lock, and the collector joins them all in one epoll set. */
	for (i = 0; i < ncpu; i++) {
		char name[32];

		/* Kernel map names hold 15 characters. */
		snprintf(name, sizeof(name), "fs_ring_%d", i & 0xffff);
		p->ring_fds[i] = bpf_map_create(BPF_MAP_TYPE_RINGBUF, name, 0, 0, ring_bytes, NULL);
		if (p->ring_fds[i] < 0) {
			err = errmsg_set(e, -errno, "cannot create ring buffer %d (%u bytes): %s",
					 i, ring_bytes, strerror(errno));
			goto err;
		}
	}
	bpf_map__set_max_entries(p->skel->maps.rings, ncpu);
	err = bpf_map__set_inner_map_fd(p->skel->maps.rings, p->ring_fds[0]);
	if (err)
		goto err;
	err = flow_tc_bpf__load(p->skel);
	if (err) {
		errmsg_set(e, err, "cannot load the TC probe: %s%s", strerror(-err),
			   err == -EPERM ? " (run as root: CAP_BPF and CAP_NET_ADMIN are needed)"
					 : "");
		goto err;
	}
	for (i = 0; i < ncpu; i++) {
		__u32 key = i;

		err = bpf_map_update_elem(bpf_map__fd(p->skel->maps.rings), &key, &p->ring_fds[i],
					  BPF_ANY);
		if (err) {
			errmsg_set(e, err, "cannot install ring %d: %s", i, strerror(-err));
			goto err;
		}
	}
	remove_stale();
	*out = p;
	return 0;
err:
	probe_tc_close(p);
	return err;
}

/* The lock names the network namespace too: the same ifindex exists in every netns. It holds
 * the owner's pid and, when the owner added the interface's clsact qdisc, a line "clsact": a
 * flowd taking over from one that was killed inherits the qdisc and removes it when it stops,
 * leaving the interface as the first one found it. A clean stop removes the file. The netns is
 * named by its cookie, which is never reused while the system runs (an inode number is: a new
 * namespace would take a dead one's lock file, and its word about a qdisc, for its own). */
static void lock_path(char *path, size_t len, const char *netns, int ifindex)
{
	snprintf(path, len, LOCK_DIR "/tc-%s-%d.lock", netns, ifindex);
}

static void netns_name(char out[32])
{
	uint64_t cookie = 0;
	socklen_t len = sizeof(cookie);
	struct stat ns;
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);

#ifndef SO_NETNS_COOKIE
#define SO_NETNS_COOKIE 71
#endif
	if (fd >= 0 && !getsockopt(fd, SOL_SOCKET, SO_NETNS_COOKIE, &cookie, &len) && cookie)
		snprintf(out, 32, "c%llu", (unsigned long long)cookie);
	else if (!stat("/proc/self/ns/net", &ns))
		snprintf(out, 32, "i%lu", (unsigned long)ns.st_ino); /* kernels before 5.14 */
	else
		snprintf(out, 32, "unknown");
	if (fd >= 0)
		close(fd);
}

/* Opens and locks path: the fd, -EWOULDBLOCK if another process holds it, or another negative
 * errno. The file locked is the one at path (a holder may unlink it as it stops: then the file
 * we locked is gone and we lock the new one). Reads what a previous holder wrote into text. */
static int take_lock(const char *path, bool create, char *text, size_t len)
{
	int tries, fd, n, locked;
	struct stat a, b;

	for (tries = 0; tries < 4; tries++) {
		fd = open(path, O_RDWR | O_CLOEXEC | (create ? O_CREAT : 0), 0644);
		if (fd < 0)
			return -errno;
		locked = flock(fd, LOCK_EX | LOCK_NB) ? -errno : 0;
		n = (int)pread(fd, text, len - 1, 0);
		text[n > 0 ? n : 0] = '\0';
		if (locked) {
			close(fd);
			return locked;
		}
		if (!fstat(fd, &a) && !stat(path, &b) && a.st_ino == b.st_ino)
			return fd;
		close(fd); /* unlinked between our open and our lock */
	}
	return -EAGAIN;
}

/* What a lock's text says: whether its writer added the qdisc; text is cut to the pid. */
static bool lock_text_parse(char *text)
{
	bool qdisc = strstr(text, "\nclsact\n") != NULL;

	text[strcspn(text, "\n")] = '\0';
	return qdisc;
}

static int lock_interface(struct attachment *a, bool *had_qdisc, struct errmsg *e)
{
	char text[64] = "", ns[32];
	int fd;

	mkdir(LOCK_DIR, 0755);
	netns_name(ns);
	lock_path(a->lock_path, sizeof(a->lock_path), ns, a->ifindex);
	fd = take_lock(a->lock_path, true, text, sizeof(text));
	*had_qdisc = lock_text_parse(text);
	if (fd == -EWOULDBLOCK)
		return errmsg_set(
			e, -EBUSY,
			"%s is already watched by another flowd%s%s%s; stop it first (two probes on one interface would count every packet twice)",
			a->ifname, text[0] ? " (pid " : "", text, text[0] ? ")" : "");
	if (fd < 0)
		return errmsg_set(e, fd, "cannot lock %s: %s", a->lock_path, strerror(-fd));
	return fd;
}

/* What a later flowd needs to know: our pid (for its messages), whether the qdisc is ours. */
static void write_lock(const struct attachment *a)
{
	char text[64];
	int n = snprintf(text, sizeof(text), "%d\n%s", getpid(),
			 a->created_qdisc ? "clsact\n" : "");

	if (ftruncate(a->lock_fd, 0) || pwrite(a->lock_fd, text, (size_t)n, 0) != n)
		logmsg(LOG_LEVEL_WARN, "cannot write %s: %s", a->lock_path, strerror(errno));
}

static void unlock_interface(struct attachment *a)
{
	if (a->lock_fd < 0)
		return;
	unlink(a->lock_path); /* while still holding it: see take_lock */
	close(a->lock_fd);
	a->lock_fd = -1;
}

/* Takes down what an attachment holds: its filters, the qdisc when it is ours, its lock.
 * Returns whether a filter or a qdisc was there to remove. */
static bool detach(struct attachment *a)
{
	DECLARE_LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = a->ifindex);
	DECLARE_LIBBPF_OPTS(bpf_tc_opts, opts, .handle = FLOWSCOPE_TC_HANDLE,
			    .priority = FLOWSCOPE_TC_PRIO);
	bool removed = false;

	if (a->ingress) {
		hook.attach_point = BPF_TC_INGRESS;
		removed |= !bpf_tc_detach(&hook, &opts);
	}
	if (a->egress) {
		hook.attach_point = BPF_TC_EGRESS;
		removed |= !bpf_tc_detach(&hook, &opts);
	}
	if (a->created_qdisc) {
		/* We (or the killed flowd we took over from) added the clsact qdisc, so we remove
		 * it: the interface is left as found. */
		hook.attach_point = BPF_TC_INGRESS | BPF_TC_EGRESS;
		removed |= !bpf_tc_hook_destroy(&hook);
	}
	unlock_interface(a);
	return removed;
}

/* The filters (and the qdisc it added) of a flowd that was killed: on an interface this one does
 * not watch they would run on every packet until the next reboot; on one it watches they are
 * replaced in any case. Only this network namespace's interfaces are ours to clean. Each is
 * taken down as that flowd's attachment would have been at its stop. */
static void remove_stale(void)
{
	char ns[32], fns[32], text[64], ifname[IF_NAMESIZE];
	struct attachment a;
	struct dirent *de;
	DIR *dir = opendir(LOCK_DIR);
	int n;

	if (!dir)
		return;
	netns_name(ns);
	while ((de = readdir(dir))) {
		memset(&a, 0, sizeof(a));
		n = 0;
		if (sscanf(de->d_name, "tc-%31[^-]-%d.lock%n", fns, &a.ifindex, &n) != 2 || !n ||
		    de->d_name[n] || strcmp(fns, ns))
			continue;
		lock_path(a.lock_path, sizeof(a.lock_path), ns, a.ifindex);
		a.lock_fd = take_lock(a.lock_path, false, text, sizeof(text));
		if (a.lock_fd < 0)
			continue; /* held: a live flowd's */
		a.ingress = a.egress = true;
		a.created_qdisc = lock_text_parse(text);
		if (detach(&a))
			logmsg(LOG_LEVEL_INFO,
			       "removed what a flowd that did not stop cleanly%s%s%s left on %s",
			       text[0] ? " (pid " : "", text, text[0] ? ")" : "",
			       if_indextoname((unsigned)a.ifindex, ifname) ? ifname
									   : "a gone interface");
	}
	closedir(dir);
}

static bool is_loopback(const char *ifname)
{
	struct ifreq ifr = {0};
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	bool lo = false;

	if (fd < 0)
		return false;
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ifname);
	if (!ioctl(fd, SIOCGIFFLAGS, &ifr))
		lo = ifr.ifr_flags & IFF_LOOPBACK;
	close(fd);
	return lo;
}

static int attach_hook(struct attachment *a, enum bpf_tc_attach_point point, int prog_fd,
		       struct errmsg *e)
{
	DECLARE_LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = a->ifindex, .attach_point = point);
	DECLARE_LIBBPF_OPTS(bpf_tc_opts, opts, .handle = FLOWSCOPE_TC_HANDLE,
			    .priority = FLOWSCOPE_TC_PRIO, .prog_fd = prog_fd);
	int err;

	err = bpf_tc_attach(&hook, &opts);
	if (err == -EEXIST) {
		/* We hold the interface lock, so its owner is gone: a flowd that was killed
		 * before it could detach. Take its place. */
		logmsg(LOG_LEVEL_INFO, "replacing a stale flowscope filter on %s %s", a->ifname,
		       point == BPF_TC_INGRESS ? "ingress" : "egress");
		opts.flags = BPF_TC_F_REPLACE;
		opts.prog_id = 0;
		err = bpf_tc_attach(&hook, &opts);
	}
	if (err)
		errmsg_set(e, err, "cannot attach to %s %s: %s", a->ifname,
			   point == BPF_TC_INGRESS ? "ingress" : "egress", strerror(-err));
	return err;
}

int probe_tc_attach(struct probe_tc *p, const char *ifname, struct errmsg *e)
{
	DECLARE_LIBBPF_OPTS(bpf_tc_hook, hook, .attach_point = BPF_TC_INGRESS | BPF_TC_EGRESS);
	struct attachment *a, *n;
	int ifindex = (int)if_nametoindex(ifname), err, i;
	bool had_qdisc = false;

	if (!ifindex)
		return errmsg_set(e, -ENODEV, "no interface named '%s' (see `ip link`)", ifname);
	for (i = 0; i < p->n_att; i++)
		if (p->att[i].ifindex == ifindex)
			return 0; /* named twice */
	n = realloc(p->att, sizeof(*p->att) * (p->n_att + 1));
	if (!n)
		return -ENOMEM;
	p->att = n;
	a = &p->att[p->n_att];
	memset(a, 0, sizeof(*a));
	a->ifindex = ifindex;
	snprintf(a->ifname, sizeof(a->ifname), "%s", ifname);
	a->lock_fd = lock_interface(a, &had_qdisc, e);
	if (a->lock_fd < 0)
		return a->lock_fd;
	hook.ifindex = ifindex;
	err = bpf_tc_hook_create(&hook);
	if (err && err != -EEXIST) {
		unlock_interface(a);
		return errmsg_set(e, err, "cannot add a clsact qdisc to %s: %s", ifname,
				  strerror(-err));
	}
	a->created_qdisc = err == 0 || had_qdisc;
	write_lock(a);
	p->n_att++;
	/* On loopback every packet passes egress and then ingress of the same device: watching
	 * one hook sees each packet once. */
	if (!is_loopback(ifname)) {
		err = attach_hook(a, BPF_TC_INGRESS,
				  bpf_program__fd(p->skel->progs.flow_tc_ingress), e);
		if (err)
			goto fail;
		a->ingress = true;
	}
	err = attach_hook(a, BPF_TC_EGRESS, bpf_program__fd(p->skel->progs.flow_tc_egress), e);
	if (err)
		goto fail;
	a->egress = true;
	return 0;
fail:
	detach(a);
	p->n_att--;
	return err;
}

void probe_tc_close(struct probe_tc *p)
{
	int i;

	if (!p)
		return;
	for (i = 0; i < p->n_att; i++)
		detach(&p->att[i]);
	free(p->att);
	flow_tc_bpf__destroy(p->skel);
	for (i = 0; i < p->n_rings; i++)
		if (p->ring_fds[i] >= 0)
			close(p->ring_fds[i]);
	free(p->ring_fds);
	free(p);
}

int probe_tc_ring_fds(const struct probe_tc *p, const int **fds)
{
	*fds = p->ring_fds;
	return p->n_rings;
}

int probe_tc_rings_map_fd(const struct probe_tc *p)
{
	return bpf_map__fd(p->skel->maps.rings);
}

int probe_tc_lost_map_fd(const struct probe_tc *p)
{
	return bpf_map__fd(p->skel->maps.lost);
}

uint32_t probe_tc_tick_ns(const struct probe_tc *p)
{
	unsigned int hz = p->skel->kconfig->CONFIG_HZ;

	return hz ? (uint32_t)(1000000000u / hz) : 1u << FLOW_TICK_SHIFT_FALLBACK;
}

int probe_tc_flow_map_fd(const struct probe_tc *p)
{
	return bpf_map__fd(p->skel->maps.flows);
}

int probe_tc_prog_fd(const struct probe_tc *p, int egress)
{
	return bpf_program__fd(egress ? p->skel->progs.flow_tc_egress
				      : p->skel->progs.flow_tc_ingress);
}

int probe_tc_lost(const struct probe_tc *p, uint64_t *total)
{
	int ncpu = libbpf_num_possible_cpus(), i, err;
	__u32 zero = 0;
	__u64 *vals;

	if (ncpu <= 0)
		return -EINVAL;
	vals = calloc(ncpu, sizeof(*vals));
	if (!vals)
		return -ENOMEM;
	err = bpf_map_lookup_elem(bpf_map__fd(p->skel->maps.lost), &zero, vals);
	if (!err) {
		*total = 0;
		for (i = 0; i < ncpu; i++)
			*total += vals[i];
	}
	free(vals);
	return err;
}
