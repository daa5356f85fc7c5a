/* SPDX-License-Identifier: MIT */
/*
 * objref.h - an object as a person names it in .authorized and .node/as:
 * one line of text, parsed and written (pure; fuzzed).
 *
 * A line is one of
 *
 *   MODEL/OBJECT            the name as listed; the database resolves it
 *   MODEL/OBJECT KEYHEX     what .authorized and .node/as show: the key
 *                           decides, the name is only a comment
 *   KEYHEX                  the key alone (64 hex digits, either case)
 *
 * with blanks (spaces, tabs, a carriage return) around it ignored, and one
 * or more blanks between name and key. The name of a name-only line
 * follows the name rules of new names (dfs_name_check()), neither part a
 * dot-name; a name beside a
 * key is a comment and only has to look like MODEL/OBJECT as shown (a
 * name escaped by dfs_name_escape() passes). An object whose name ends in
 * a blank and 64 hex digits is named by its key.
 */
#ifndef DINEMICFS_OBJREF_H
#define DINEMICFS_OBJREF_H

#include <stdbool.h>
#include <stddef.h>

#include "dinemicfs/buf.h"
#include "dinemicfs/keys.h"
#include "dinemicfs/util.h"

/* One parsed line. Plain data. */
struct dfs_objref {
	bool has_name;
	bool has_key;
	char model[DFS_NAME_MAX + 1];	/* with has_name, NUL-terminated */
	char object[DFS_NAME_MAX + 1];
	struct dfs_pubkey key;		/* with has_key */
};

/**
 * Parses one line (n bytes, no newline in it). Returns 0, or -EINVAL when
 * it is none of the forms above (a blank line among them).
 */
int dfs_objref_parse(const char *line, size_t n, struct dfs_objref *out);

/**
 * Parses text, a line at a time, skipping blank lines, and calls fn with
 * each reference (valid during the call only). Stops at the first line
 * that does not parse (-EINVAL, *lineno its number from 1) or the first
 * non-zero return of fn (returned, *lineno that line's number). Returns 0
 * when every line was passed.
 */
int dfs_objref_parse_text(const char *text, size_t len,
			  int (*fn)(const struct dfs_objref *r, void *ctx), void *ctx,
			  unsigned *lineno);

/**
 * Appends one line naming an object: "MODEL/OBJECT KEYHEX" with the name
 * escaped (dfs_name_escape()), or "KEYHEX" alone where model is NULL.
 */
void dfs_objref_format(struct dfs_buf *out, const char *model, const char *object,
		       const struct dfs_pubkey *key);

#endif
