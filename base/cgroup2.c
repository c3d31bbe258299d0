/* The cgroup2 root (see include/flowscope/base/cgroup2.h). */
#include <errno.h>
#include <fcntl.h>
#include <mntent.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <unistd.h>

#include "flowscope/base/cgroup2.h"

static bool find_cgroup2(char *out, size_t len)
{
	FILE *f = setmntent("/proc/self/mounts", "r");
	struct mntent *m;
	bool found = false;

	if (!f)
		return false;
	while ((m = getmntent(f))) {
		if (!strcmp(m->mnt_type, "cgroup2")) {
			snprintf(out, len, "%s", m->mnt_dir);
			found = true;
			break;
		}
	}
	endmntent(f);
	return found;
}

int cgroup2_root_open(char *where, size_t len)
{
	char dir[] = "/tmp/flowscope-cgroup2-XXXXXX", mnt[600];
	int fd;

	if (find_cgroup2(mnt, sizeof(mnt))) {
		if (where)
			snprintf(where, len, "%s", mnt);
		fd = open(mnt, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		return fd < 0 ? -errno : fd;
	}
	if (!mkdtemp(dir))
		return -errno;
	if (where)
		snprintf(where, len, "cgroup2 (mounted for a moment on %s)", dir);
	if (mount("none", dir, "cgroup2", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL)) {
		fd = -errno;
		rmdir(dir);
		return fd;
	}
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		fd = -errno;
	umount2(dir, MNT_DETACH);
	rmdir(dir);
	return fd;
}
