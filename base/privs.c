/* Dropping capabilities (see include/flowscope/base/privs.h): capset(2) for the effective,
 * permitted and inheritable sets, PR_CAPBSET_DROP for the bounding set, the ambient set cleared,
 * PR_SET_NO_NEW_PRIVS. No libcap: three system calls. */
#include <errno.h>
#include <linux/capability.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "flowscope/base/privs.h"

static const char *const cap_names[] = {
	"CAP_CHOWN",
	"CAP_DAC_OVERRIDE",
	"CAP_DAC_READ_SEARCH",
	"CAP_FOWNER",
	"CAP_FSETID",
	"CAP_KILL",
	"CAP_SETGID",
	"CAP_SETUID",
	"CAP_SETPCAP",
	"CAP_LINUX_IMMUTABLE",
	"CAP_NET_BIND_SERVICE",
	"CAP_NET_BROADCAST",
	"CAP_NET_ADMIN",
	"CAP_NET_RAW",
	"CAP_IPC_LOCK",
	"CAP_IPC_OWNER",
	"CAP_SYS_MODULE",
	"CAP_SYS_RAWIO",
	"CAP_SYS_CHROOT",
	"CAP_SYS_PTRACE",
	"CAP_SYS_PACCT",
	"CAP_SYS_ADMIN",
	"CAP_SYS_BOOT",
	"CAP_SYS_NICE",
	"CAP_SYS_RESOURCE",
	"CAP_SYS_TIME",
	"CAP_SYS_TTY_CONFIG",
	"CAP_MKNOD",
	"CAP_LEASE",
	"CAP_AUDIT_WRITE",
	"CAP_AUDIT_CONTROL",
	"CAP_SETFCAP",
	"CAP_MAC_OVERRIDE",
	"CAP_MAC_ADMIN",
	"CAP_SYSLOG",
	"CAP_WAKE_ALARM",
	"CAP_BLOCK_SUSPEND",
	"CAP_AUDIT_READ",
	"CAP_PERFMON",
	"CAP_BPF",
	"CAP_CHECKPOINT_RESTORE",
};

static int last_cap(void)
{
	FILE *f = fopen("/proc/sys/kernel/cap_last_cap", "re");
	int n = 40;

	if (f) {
		if (fscanf(f, "%d", &n) != 1)
			n = 40;
		fclose(f);
	}
	return n < 63 ? n : 63;
}

static int capget_sets(struct __user_cap_data_struct d[2])
{
	struct __user_cap_header_struct h = {.version = _LINUX_CAPABILITY_VERSION_3};

	return syscall(SYS_capget, &h, d) ? -errno : 0;
}

int privs_current(uint64_t *effective, uint64_t *bounding)
{
	struct __user_cap_data_struct d[2];
	int c, n = last_cap(), err = capget_sets(d);

	if (err)
		return err;
	*effective = d[0].effective | (uint64_t)d[1].effective << 32;
	*bounding = 0;
	for (c = 0; c <= n; c++)
		if (prctl(PR_CAPBSET_READ, c, 0, 0, 0) == 1)
			*bounding |= 1ULL << c;
	return 0;
}

int privs_keep_only(const int *keep, size_t n, struct errmsg *e)
{
	struct __user_cap_header_struct h = {.version = _LINUX_CAPABILITY_VERSION_3};
	struct __user_cap_data_struct d[2];
	uint64_t mask = 0, held;
	int c, last = last_cap(), err;
	size_t i;

	for (i = 0; i < n; i++)
		mask |= 1ULL << keep[i];
	err = capget_sets(d);
	if (err)
		return errmsg_set(e, err, "cannot read the capabilities: %s", strerror(-err));
	held = (d[0].permitted | (uint64_t)d[1].permitted << 32) & mask;
	/* The bounding set first: dropping from it needs CAP_SETPCAP, which goes next. */
	for (c = 0; c <= last; c++)
		if (!(mask & (1ULL << c)) && prctl(PR_CAPBSET_READ, c, 0, 0, 0) == 1 &&
		    prctl(PR_CAPBSET_DROP, c, 0, 0, 0))
			return errmsg_set(e, -errno, "cannot drop %s from the bounding set: %s",
					  c < (int)(sizeof(cap_names) / sizeof(cap_names[0]))
						  ? cap_names[c]
						  : "a capability",
					  strerror(errno));
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) && errno != EINVAL)
		return errmsg_set(e, -errno, "cannot clear the ambient capabilities: %s",
				  strerror(errno));
	memset(d, 0, sizeof(d));
	d[0].effective = d[0].permitted = (uint32_t)held;
	d[1].effective = d[1].permitted = (uint32_t)(held >> 32);
	if (syscall(SYS_capset, &h, d))
		return errmsg_set(e, -errno, "cannot drop capabilities: %s", strerror(errno));
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0))
		return errmsg_set(e, -errno, "cannot set no_new_privs: %s", strerror(errno));
	return 0;
}

void privs_names(uint64_t caps, char *out, size_t len)
{
	size_t used = 0;
	int c;

	if (len)
		out[0] = '\0';
	for (c = 0; c < 64 && used < len; c++) {
		char num[16];
		const char *name = num;
		int w;

		if (!(caps & (1ULL << c)))
			continue;
		if (c < (int)(sizeof(cap_names) / sizeof(cap_names[0])))
			name = cap_names[c];
		else
			snprintf(num, sizeof(num), "cap_%d", c);
		w = snprintf(out + used, len - used, "%s%s", used ? "," : "", name);
		if (w < 0)
			return;
		used += (size_t)w;
	}
	if (!caps)
		snprintf(out, len, "none");
}
