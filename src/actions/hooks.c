// SPDX-License-Identifier: MIT
/* hooks.c - a database change mapped to hooks by the DESIGN table, then judged, told or asked */
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "dinemicfs/log.h"
#include "dinemicfs/util.h"
#include "internal.h"

/* Fills hooks[] with the hooks a change runs, in order; returns how many. */
static size_t hooks_of(enum dfs_event event, bool after, bool authorized, bool owned,
		       enum dfs_hook hooks[3])
{
	static const enum dfs_hook table[4][2][4] = {
		/* plain, authorized, unauthorized, owned; -1: none */
		[DFS_EVENT_CREATE] = {
			{ DFS_HOOK_ON_CREATE, -1, -1, -1 },
			{ DFS_HOOK_ON_CREATED, -1, -1, DFS_HOOK_ON_OWNED_CREATED },
		},
		[DFS_EVENT_UPDATE] = {
			{ DFS_HOOK_ON_UPDATE, DFS_HOOK_ON_AUTHORIZED_UPDATE,
			  DFS_HOOK_ON_UNAUTHORIZED_UPDATE, DFS_HOOK_ON_OWNED_UPDATE },
			{ DFS_HOOK_ON_UPDATED, DFS_HOOK_ON_AUTHORIZED_UPDATED,
			  DFS_HOOK_ON_UNAUTHORIZED_UPDATED, DFS_HOOK_ON_OWNED_UPDATED },
		},
		[DFS_EVENT_DELETE] = {
			{ DFS_HOOK_ON_DELETE, DFS_HOOK_ON_AUTHORIZED_DELETE,
			  DFS_HOOK_ON_UNAUTHORIZED_DELETE, DFS_HOOK_ON_OWNED_DELETE },
			{ DFS_HOOK_ON_DELETED, DFS_HOOK_ON_AUTHORIZED_DELETED,
			  DFS_HOOK_ON_UNAUTHORIZED_DELETED, DFS_HOOK_ON_OWNED_DELETED },
		},
		[DFS_EVENT_REMOVE] = {
			{ DFS_HOOK_ON_REMOVE, DFS_HOOK_ON_AUTHORIZED_REMOVE,
			  DFS_HOOK_ON_UNAUTHORIZED_REMOVE, DFS_HOOK_ON_OWNED_REMOVE },
			{ -1, -1, -1, -1 },
		},
	};
	const enum dfs_hook *row = table[event][after];
	size_t n = 0;

	if ((int)row[0] >= 0)
		hooks[n++] = row[0];
	enum dfs_hook who = authorized ? row[1] : row[2];
	if ((int)who >= 0)
		hooks[n++] = who;
	if (owned && (int)row[3] >= 0)
		hooks[n++] = row[3];
	return n;
}

static void event_of(const struct dfs_change *c, const char *mount, char *signer,
		     struct dfs_action_event *ev)
{
	dfs_hex_encode(signer, c->signer.b, DFS_PUBKEY_LEN);
	*ev = (struct dfs_action_event){
		.model = c->model,
		.object = c->object,
		.field = c->field,
		.signer = signer,
		.authorized = c->authorized,
		.owned = c->owned,
		.remote = c->remote,
		.origin = c->remote ? c->origin : 0,
		.mount = mount,
		.old_value = c->old_value,
		.old_len = c->old_len,
		.new_value = c->new_value,
		.new_len = c->new_len,
		.sealed = c->sealed,
		.secret = c->secret,
		.dryrun = c->dryrun,
	};
}

bool dfs_runner_wants(struct dfs_runner *r, enum dfs_event event, const char *model)
{
	enum dfs_hook hooks[3];
	uint32_t mask = 0;

	/* Every variant: whether a change is authorized is known later. */
	for (int after = 0; after < 2; after++) {
		for (int auth = 0; auth < 2; auth++) {
			size_t n = hooks_of(event, after, auth, true, hooks);
			for (size_t i = 0; i < n; i++)
				mask |= 1u << hooks[i];
		}
	}
	return runner_has_any(r, mask, model);
}

int dfs_runner_judge(struct dfs_runner *r, const struct dfs_change *c, const char *mount,
		     char *why, size_t whylen)
{
	char signer[2 * DFS_PUBKEY_LEN + 1];
	struct dfs_action_event ev;
	enum dfs_hook hooks[3];
	char reason[640];
	int rc = 0;

	event_of(c, mount, signer, &ev);
	size_t n = hooks_of(c->event, false, c->authorized, c->owned, hooks);
	for (size_t i = 0; i < n && rc == 0; i++)
		rc = dfs_runner_before(r, hooks[i], &ev, reason, sizeof(reason));
	if (rc < 0 && why && whylen)
		snprintf(why, whylen, "%s", reason);
	return rc;
}

int dfs_runner_dry(struct dfs_runner *r, const struct dfs_change *c, const char *mount,
		   dfs_answer_fn fn, void *arg)
{
	char signer[2 * DFS_PUBKEY_LEN + 1];
	struct dfs_action_event ev;
	enum dfs_hook hooks[3];
	bool rejected = false;

	event_of(c, mount, signer, &ev);
	size_t n = hooks_of(c->event, false, c->authorized, c->owned, hooks);
	for (size_t i = 0; i < n; i++)
		runner_dry_hook(r, hooks[i], &ev, fn, arg, &rejected);
	return rejected ? -EPERM : 0;
}

void dfs_runner_notify(struct dfs_runner *r, const struct dfs_change *c, const char *mount)
{
	char signer[2 * DFS_PUBKEY_LEN + 1];
	struct dfs_action_event ev;
	enum dfs_hook hooks[3];

	event_of(c, mount, signer, &ev);
	size_t n = hooks_of(c->event, true, c->authorized, c->owned, hooks);
	for (size_t i = 0; i < n; i++)
		if (dfs_runner_after(r, hooks[i], &ev) < 0)
			dfs_log(DFS_LOG_WARNING, "out of memory queueing %s", dfs_hook_name(hooks[i]));
}
