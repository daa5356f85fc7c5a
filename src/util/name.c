// SPDX-License-Identifier: MIT
/* name.c - the contract's name rules: valid names and node-local scratch files */
#include <ctype.h>
#include <errno.h>
#include <string.h>

#include "dinemicfs/buf.h"
#include "dinemicfs/util.h"

static bool is_control(unsigned char c)
{
	return c < 0x20 || c == 0x7f;
}

int dfs_name_check_stored(const char *name, size_t len)
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

int dfs_name_check(const char *name, size_t len)
{
	int rc = dfs_name_check_stored(name, len);

	for (size_t i = 0; rc == 0 && i < len; i++)
		if (is_control((unsigned char)name[i]))
			rc = -EINVAL;
	return rc;
}

void dfs_name_escape(struct dfs_buf *out, const char *name, size_t len)
{
	static const char hex[] = "0123456789abcdef";

	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)name[i];
		if (c == '\\') {
			dfs_buf_add(out, "\\\\", 2);
		} else if (is_control(c)) {
			char e[4] = { '\\', 'x', hex[c >> 4], hex[c & 15] };
			dfs_buf_add(out, e, sizeof(e));
		} else {
			dfs_buf_add_u8(out, c);
		}
	}
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
