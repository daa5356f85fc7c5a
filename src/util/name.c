// SPDX-License-Identifier: MIT
/* name.c - the contract's name rules: valid names and node-local scratch files */
#include <ctype.h>
#include <errno.h>
#include <string.h>

#include "dinemicfs/util.h"

int dfs_name_check(const char *name, size_t len)
{
	if (len == 0)
		return -EINVAL;
	if (len > DFS_NAME_MAX)
		return -ENAMETOOLONG;
	if (memchr(name, '/', len) || memchr(name, '\0', len))
		return -EINVAL;
	if ((len == 1 && name[0] == '.') || (len == 2 && name[0] == '.' && name[1] == '.'))
		return -EINVAL;
	return 0;
}

bool dfs_name_is_dot(const char *name)
{
	return name[0] == '.';
}

bool dfs_name_is_scratch(const char *name)
{
	size_t len = strlen(name);

	if (len == 0)
		return false;
	if (name[0] == '.' || name[len - 1] == '~')
		return true;
	if (strcmp(name, "4913") == 0)
		return true;
	if (len == 9 && strncmp(name, "sed", 3) == 0) {
		for (size_t i = 3; i < 9; i++)
			if (!isalnum((unsigned char)name[i]))
				return false;
		return true;
	}
	return false;
}
