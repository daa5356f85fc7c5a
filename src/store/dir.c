// SPDX-License-Identifier: MIT
/* dir.c - the store's directory: whether a process has it open, and its size on disk */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dinemicfs/store.h"
#include "internal.h"

int dfs_store_in_use(const char *dir)
{
	char path[PATH_MAX];
	/* An open file description lock conflicts with LevelDB's fcntl lock, also in this process. */
	struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET };

	if (snprintf(path, sizeof(path), "%s/LOCK", dir) >= (int)sizeof(path))
		return -ENAMETOOLONG;
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? 0 : -errno;
	int rc = fcntl(fd, F_OFD_GETLK, &fl) < 0 ? -errno : fl.l_type == F_UNLCK ? 0 : -EBUSY;
	close(fd);
	return rc;
}

uint64_t dfs_store_dir_bytes(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *e;
	struct stat sb;
	uint64_t size = 0;

	if (!d)
		return 0;
	while ((e = readdir(d)))
		if (fstatat(dirfd(d), e->d_name, &sb, AT_SYMLINK_NOFOLLOW) == 0 &&
		    S_ISREG(sb.st_mode))
			size += (uint64_t)sb.st_size;
	closedir(d);
	return size;
}
