/* SPDX-License-Identifier: MIT */
/*
 * change.h - what listeners are told: one change to an object or a field.
 *
 * The model (db.h) builds a struct dfs_change for every local change and
 * every remote update that a listener wants (struct dfs_db_listener.wants),
 * before it is applied; the listeners (actions.h) judge it and are told
 * again once it is durable. The same struct serves both, so that a listener
 * cannot tell a remote change from a local one except by its remote flag.
 *
 * Ownership: every pointer is borrowed for the call. Values are clear
 * bytes, or none: where a field is encrypted and this node cannot open it,
 * sealed is set and no value is given (secret says it is encrypted at all,
 * so that listeners keep it out of logs).
 */
#ifndef DINEMICFS_CHANGE_H
#define DINEMICFS_CHANGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dinemicfs/keys.h"

/* The changes that listeners judge (DESIGN.md, "Listeners"). */
enum dfs_event {
	DFS_EVENT_CREATE,	/* an object is created */
	DFS_EVENT_UPDATE,	/* a field is set or appended to */
	DFS_EVENT_DELETE,	/* a field is deleted (and each key of a dict that goes) */
	DFS_EVENT_REMOVE,	/* an object is removed */
};

/* The longest value a listener's environment shows (DINEMIC_OLD, DINEMIC_NEW). */
#define DFS_CHANGE_SHOWN_MAX 4096

/* One change as listeners see it. Pointers are borrowed for the call. */
struct dfs_change {
	enum dfs_event event;
	const char *model;
	const char *object;
	const char *field;		/* NULL for CREATE and REMOVE */
	struct dfs_pubkey signer;
	bool authorized;		/* the signer is the owner or listed in .authorized */
	bool owned;			/* this node holds the object's key */
	bool remote;
	uint64_t origin;		/* a remote change's bringer (dfs_db_group_origin()); 0 local */
	const uint8_t *old_value;	/* the value before; NULL when there is none */
	size_t old_len;
	const uint8_t *new_value;	/* the whole value after; NULL when there is none */
	size_t new_len;
	bool sealed;			/* encrypted, and this node cannot open it: no values */
	bool secret;			/* the field's value is encrypted (sealed or not) */
	bool dryrun;			/* asked only, never made: DINEMIC_DRYRUN=1 */
};

/*
 * A dry run (DESIGN.md, "Listeners") asks the before-listeners about a
 * change without making it, and hears each one's answer, in order.
 */
enum dfs_verdict {
	DFS_VERDICT_ACCEPT,
	DFS_VERDICT_REJECT,
	DFS_VERDICT_SKIP,		/* not asked: the change stops at an earlier rejection */
};

/* One listener's answer. Pointers are borrowed for the call. */
struct dfs_answer {
	const char *hook;		/* "on_update" */
	const char *listener;		/* its path under .actions ("Person/on_update.10-quota") */
	enum dfs_verdict verdict;
	const char *reason;		/* the first line of its stderr (redacted), or how it
					   ended; "" when it said nothing */
};

/* Called with each answer of a dry run, in the order listeners are asked. */
typedef void (*dfs_answer_fn)(void *arg, const struct dfs_answer *a);


#endif
