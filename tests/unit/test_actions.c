// SPDX-License-Identifier: MIT
/* test_actions.c - listener runner: names, order, environment, stdin, timeouts, failures */
#include <errno.h>
#include <pthread.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "dinemicfs/actions.h"
#include "tmpdir.h"

static char *dir;
static struct dfs_runner *r;

static void setup(void)
{
	dir = tmpdir_make("actions");
	cr_assert_not_null(dir);
	r = dfs_runner_new(dir, 1000);
	cr_assert_not_null(r);
}

static void teardown(void)
{
	dfs_runner_free(r);
	tmpdir_remove(dir);
}

/* Writes an executable script (mode 0755) at dir/rel. */
static void script(const char *rel, const char *body, mode_t mode)
{
	char *path = tmpdir_path(dir, rel);
	FILE *f = fopen(path, "w");

	cr_assert_not_null(f, "%s", path);
	fputs(body, f);
	fclose(f);
	chmod(path, mode);
	free(path);
}

static char *slurp(const char *rel)
{
	char *path = tmpdir_path(dir, rel);
	FILE *f = fopen(path, "r");
	static char buf[65536];
	size_t n = 0;

	if (f) {
		n = fread(buf, 1, sizeof(buf) - 1, f);
		fclose(f);
	}
	buf[n] = '\0';
	free(path);
	return buf;
}

static struct dfs_action_event event(const char *value)
{
	struct dfs_action_event ev = {
		.model = "Person",
		.object = "bob",
		.field = "salary",
		.signer = "ab12",
		.authorized = true,
		.owned = true,
		.remote = false,
		.mount = "/mnt/x",
		.new_value = (const uint8_t *)value,
		.new_len = value ? strlen(value) : 0,
	};
	return ev;
}

Test(hooks, names)
{
	cr_assert_eq(dfs_hook_of_filename("on_update"), DFS_HOOK_ON_UPDATE);
	cr_assert_eq(dfs_hook_of_filename("on_update.10-quota"), DFS_HOOK_ON_UPDATE);
	cr_assert_eq(dfs_hook_of_filename("on_updated"), DFS_HOOK_ON_UPDATED);
	cr_assert_eq(dfs_hook_of_filename("on_owned_remove.x"), DFS_HOOK_ON_OWNED_REMOVE);
	cr_assert_eq(dfs_hook_of_filename("on_updatex"), -ENOENT);
	cr_assert_eq(dfs_hook_of_filename("README"), -ENOENT);
	cr_assert_eq(dfs_hook_of_filename(""), -ENOENT);
	for (int h = 0; h < DFS_HOOK_COUNT; h++)
		cr_assert_eq(dfs_hook_of_filename(dfs_hook_name(h)), h, "%s", dfs_hook_name(h));
	cr_assert_eq(DFS_HOOK_COUNT, 23);
}

TestSuite(runner, .init = setup, .fini = teardown, .timeout = 30);

Test(runner, no_listener_accepts)
{
	struct dfs_action_event ev = event("5\n");
	char why[256] = "";

	cr_assert_eq(dfs_runner_before(r, DFS_HOOK_ON_UPDATE, &ev, why, sizeof(why)), 0);
	cr_assert_not(dfs_runner_has(r, DFS_HOOK_ON_UPDATE, "Person"));
}

Test(runner, accept_and_reject_with_reason)
{
	struct dfs_action_event ev = event("999999\n");
	char why[256] = "";

	script("on_update.10-ok", "#!/bin/sh\nexit 0\n", 0755);
	cr_assert_eq(dfs_runner_before(r, DFS_HOOK_ON_UPDATE, &ev, why, sizeof(why)), 0);
	script("on_update.20-budget",
	       "#!/bin/sh\n[ \"$(cat)\" -le 100000 ] || { echo 'salary over budget' >&2; "
	       "echo more >&2; exit 1; }\n",
	       0755);
	cr_assert(dfs_runner_has(r, DFS_HOOK_ON_UPDATE, "Person"));
	cr_assert_eq(dfs_runner_before(r, DFS_HOOK_ON_UPDATE, &ev, why, sizeof(why)), -EPERM);
	cr_assert_str_eq(why, "on_update.20-budget: salary over budget");
	ev = event("5000\n");
	cr_assert_eq(dfs_runner_before(r, DFS_HOOK_ON_UPDATE, &ev, why, sizeof(why)), 0);
	/* other hooks are not affected, and README files are ignored */
	script("README", "not a listener\n", 0644);
	cr_assert_eq(dfs_runner_before(r, DFS_HOOK_ON_DELETE, &ev, why, sizeof(why)), 0);
}

Test(runner, order_common_then_model_by_name)
{
	struct dfs_action_event ev = event("x");
	char why[256];
	char *log = tmpdir_path(dir, "order.log");
	char body[512];

	char *mdir = tmpdir_path(dir, "Person");
	cr_assert_eq(mkdir(mdir, 0755), 0);
	free(mdir);
	snprintf(body, sizeof(body), "#!/bin/sh\necho \"$0\" >> %s\n", log);
	script("Person/on_update.05-model", body, 0755);
	script("on_update.20-b", body, 0755);
	script("on_update.10-a", body, 0755);
	script("on_update", body, 0755);
	cr_assert_eq(dfs_runner_before(r, DFS_HOOK_ON_UPDATE, &ev, why, sizeof(why)), 0);
	char want[2048];
	snprintf(want, sizeof(want), "%s/on_update\n%s/on_update.10-a\n%s/on_update.20-b\n"
		 "%s/Person/on_update.05-model\n", dir, dir, dir, dir);
	cr_assert_str_eq(slurp("order.log"), want);
	/* another model runs the common listeners only */
	ev.model = "Other";
	cr_assert_eq(dfs_runner_before(r, DFS_HOOK_ON_UPDATE, &ev, why, sizeof(why)), 0);
	int lines = 0;
	for (const char *p = slurp("order.log"); *p; p++)
		lines += *p == '\n';
	cr_assert_eq(lines, 4 + 3);
	free(log);
}

Test(runner, environment_and_stdin)
{
	struct dfs_action_event ev = event("new value\n");
	char why[256];
	char body[1024];
	char *out = tmpdir_path(dir, "env.out");

	ev.old_value = (const uint8_t *)"old";
	ev.old_len = 3;
	snprintf(body, sizeof(body),
		 "#!/bin/sh\n{ echo \"$DINEMIC_HOOK|$DINEMIC_MODEL|$DINEMIC_OBJECT|$DINEMIC_FIELD|"
		 "$DINEMIC_SIGNER|$DINEMIC_AUTHORIZED|$DINEMIC_OWNED|$DINEMIC_ORIGIN|"
		 "$DINEMIC_MOUNT|$DINEMIC_OLD|$DINEMIC_NEW\"; cat; } > %s\n",
		 out);
	script("on_owned_update", body, 0755);
	cr_assert_eq(dfs_runner_before(r, DFS_HOOK_ON_OWNED_UPDATE, &ev, why, sizeof(why)), 0,
		     "%s", why);
	cr_assert_str_eq(slurp("env.out"), "on_owned_update|Person|bob|salary|ab12|1|1|local|"
					   "/mnt/x|old|new value\n\nnew value\n");
	free(out);
}

Test(runner, big_values_skip_the_environment)
{
	char *big = malloc(1 << 20);
	char why[256];
	char body[512];
	char *out = tmpdir_path(dir, "big.out");

	memset(big, 'v', (1 << 20) - 1);
	big[(1 << 20) - 1] = '\0';
	struct dfs_action_event ev = event(big);
	snprintf(body, sizeof(body),
		 "#!/bin/sh\necho \"${DINEMIC_NEW-unset}\" > %s; wc -c >> %s\n", out, out);
	script("on_update", body, 0755);
	cr_assert_eq(dfs_runner_before(r, DFS_HOOK_ON_UPDATE, &ev, why, sizeof(why)), 0, "%s", why);
	cr_assert_str_eq(slurp("big.out"), "unset\n1048575\n");
	/* a listener that ignores a large stdin does not hang */
	script("on_update", "#!/bin/sh\nexit 0\n", 0755);
	cr_assert_eq(dfs_runner_before(r, DFS_HOOK_ON_UPDATE, &ev, why, sizeof(why)), 0, "%s", why);
	free(out);
	free(big);
}

Test(runner, timeout_rejects)
{
	struct dfs_action_event ev = event("1");
	char why[256];
	struct timespec a, b;

	script("on_update", "#!/bin/sh\nsleep 20\n", 0755);
	clock_gettime(CLOCK_MONOTONIC, &a);
	cr_assert_eq(dfs_runner_before(r, DFS_HOOK_ON_UPDATE, &ev, why, sizeof(why)), -EPERM);
	clock_gettime(CLOCK_MONOTONIC, &b);
	cr_assert_str_eq(why, "on_update: timed out after 1000 ms");
	cr_assert_lt(b.tv_sec - a.tv_sec, 5);
}

Test(runner, fail_closed)
{
	struct dfs_action_event ev = event("1");
	char why[256];

	script("on_delete", "#!/bin/sh\nexit 0\n", 0644);
	cr_assert_eq(dfs_runner_before(r, DFS_HOOK_ON_DELETE, &ev, why, sizeof(why)), -EPERM);
	cr_assert_str_eq(why, "on_delete: cannot run: not executable");
	script("on_remove", "#!/nonexistent/interpreter\nexit 0\n", 0755);
	cr_assert_eq(dfs_runner_before(r, DFS_HOOK_ON_REMOVE, &ev, why, sizeof(why)), -EPERM);
	cr_assert_str_eq(why, "on_remove: cannot run: the file or its interpreter is missing");
	script("on_create", "#!/bin/sh\nkill -9 $$\n", 0755);
	cr_assert_eq(dfs_runner_before(r, DFS_HOOK_ON_CREATE, &ev, why, sizeof(why)), -EPERM);
	cr_assert_str_eq(why, "on_create: killed by signal 9");
	script("on_update", "#!/bin/sh\nexit 3\n", 0755);
	cr_assert_eq(dfs_runner_before(r, DFS_HOOK_ON_UPDATE, &ev, why, sizeof(why)), -EPERM);
	cr_assert_str_eq(why, "on_update: exit status 3");
}

Test(runner, flood_is_bounded)
{
	struct dfs_action_event ev = event("1");
	char why[256];

	script("on_update",
	       "#!/bin/sh\necho first line >&2\nhead -c 20000000 /dev/zero >&2\n"
	       "head -c 20000000 /dev/zero\nexit 1\n",
	       0755);
	cr_assert_eq(dfs_runner_before(r, DFS_HOOK_ON_UPDATE, &ev, why, sizeof(why)), -EPERM);
	cr_assert_str_eq(why, "on_update: first line");
}

Test(runner, after_listeners_run_in_order)
{
	char body[512];
	char *log = tmpdir_path(dir, "after.log");

	snprintf(body, sizeof(body), "#!/bin/sh\nsleep 0.05; echo \"$DINEMIC_FIELD=$(cat)\" >> %s\n",
		 log);
	script("on_updated.audit", body, 0755);
	script("on_deleted", "#!/bin/sh\nexit 1\n", 0755); /* a failure is only logged */
	for (int i = 0; i < 5; i++) {
		char field[16], value[16];
		snprintf(field, sizeof(field), "f%d", i);
		snprintf(value, sizeof(value), "v%d", i);
		struct dfs_action_event ev = event(value);
		ev.field = field;
		cr_assert_eq(dfs_runner_after(r, DFS_HOOK_ON_UPDATED, &ev), 0);
		cr_assert_eq(dfs_runner_after(r, DFS_HOOK_ON_DELETED, &ev), 0);
	}
	dfs_runner_drain(r);
	cr_assert_str_eq(slurp("after.log"), "f0=v0\nf1=v1\nf2=v2\nf3=v3\nf4=v4\n");
	free(log);
}

Test(runner, new_listener_takes_effect_without_restart)
{
	struct dfs_action_event ev = event("1");
	char why[256];

	cr_assert_eq(dfs_runner_before(r, DFS_HOOK_ON_UPDATE, &ev, why, sizeof(why)), 0);
	script("on_update", "#!/bin/sh\necho no >&2; exit 1\n", 0755);
	cr_assert_eq(dfs_runner_before(r, DFS_HOOK_ON_UPDATE, &ev, why, sizeof(why)), -EPERM);
	char *p = tmpdir_path(dir, "on_update");
	unlink(p);
	free(p);
	cr_assert_eq(dfs_runner_before(r, DFS_HOOK_ON_UPDATE, &ev, why, sizeof(why)), 0);
}

/*
 * A model's directory found missing is not looked at again while the common
 * one is unchanged; made later, its listeners count at once.
 */
Test(runner, model_dir_made_after_it_was_missing_takes_effect)
{
	struct dfs_action_event ev = event("1");
	char why[256];

	for (int i = 0; i < 3; i++)
		cr_assert_not(dfs_runner_has(r, DFS_HOOK_ON_UPDATE, "Person"));
	char *p = tmpdir_path(dir, "Person");
	cr_assert_eq(mkdir(p, 0755), 0);
	free(p);
	script("Person/on_update", "#!/bin/sh\necho no >&2; exit 1\n", 0755);
	cr_assert(dfs_runner_has(r, DFS_HOOK_ON_UPDATE, "Person"));
	cr_assert_eq(dfs_runner_before(r, DFS_HOOK_ON_UPDATE, &ev, why, sizeof(why)), -EPERM);
	cr_assert_not(dfs_runner_has(r, DFS_HOOK_ON_UPDATE, "Other"));
}

/* A value of n bytes with CR, TAB, escapes and high bytes, no NUL and no newline. */
static char *awkward(size_t n)
{
	static const char mix[] = "salary\r\t\x1b[31m\xc3\xa9 99\\n'\"$x";
	char *v = malloc(n + 1);

	cr_assert_not_null(v);
	for (size_t i = 0; i < n; i++)
		v[i] = mix[(i * 7 + i / 13) % (sizeof(mix) - 1)];
	v[n] = '\0';
	return v;
}

/* No 8 bytes in a row of v (control bytes as '?', as the reason shows them) are in why. */
static bool holds_window(const char *why, const char *v)
{
	size_t n = strlen(v), len = strlen(why);

	for (size_t i = 0; i + 8 <= n; i++)
		for (size_t j = 0; j + 8 <= len; j++) {
			size_t k = 0;
			while (k < 8 && (unsigned char)why[j + k] ==
					((unsigned char)v[i + k] < 0x20 || v[i + k] == 0x7f
						 ? '?' : (unsigned char)v[i + k]))
				k++;
			if (k == 8)
				return true;
		}
	return false;
}

/* A listener that repeats its whole input as its reason. */
#define ECHO_LISTENER "#!/bin/sh\n{ printf 'bad: '; cat; } >&2; exit 1\n"

Test(runner, reasons_never_repeat_an_encrypted_value)
{
	static const size_t sizes[] = { 600, 64 * 1024 };
	char why[640];

	script("on_update.10-echo", ECHO_LISTENER, 0755);
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		char *v = awkward(sizes[i]);
		struct dfs_action_event ev = event(v);
		ev.secret = true;
		cr_assert_eq(dfs_runner_before(r, DFS_HOOK_ON_UPDATE, &ev, why, sizeof(why)), -EPERM);
		cr_assert(strncmp(why, "on_update.10-echo: bad: ", 24) == 0, "%s", why);
		cr_assert_not(holds_window(why, v), "%zu bytes: %s", sizes[i], why);
		/* The same value, not encrypted: the reason does repeat it (the check can fail). */
		ev.secret = false;
		cr_assert_eq(dfs_runner_before(r, DFS_HOOK_ON_UPDATE, &ev, why, sizeof(why)), -EPERM);
		cr_assert(holds_window(why, v), "%zu bytes, not secret: %s", sizes[i], why);
		free(v);
	}
}

Test(runner, a_one_byte_encrypted_value_is_redacted_too)
{
	char why[640];
	struct dfs_action_event ev = event("7");

	script("on_update.10-echo", ECHO_LISTENER, 0755);
	ev.secret = true;
	cr_assert_eq(dfs_runner_before(r, DFS_HOOK_ON_UPDATE, &ev, why, sizeof(why)), -EPERM);
	cr_assert_str_eq(why, "on_update.10-echo: bad: .");
	/* A line of it, and an old value, each in the middle of a reason. */
	ev = event("top\n1234567890abcdef\nsecret");
	ev.secret = true;
	ev.old_value = (const uint8_t *)"tab\there";
	ev.old_len = 8;
	script("on_update.10-echo",
	       "#!/bin/sh\necho 'was tab\there, now 4567890abc and secret, ok' >&2; exit 1\n",
	       0755);
	cr_assert_eq(dfs_runner_before(r, DFS_HOOK_ON_UPDATE, &ev, why, sizeof(why)), -EPERM);
	cr_assert_str_eq(why, "on_update.10-echo: was ..., now ... and ..., ok");
}

struct flood {
	struct dfs_runner *r;
	int sent;		/* jobs queued so far */
	size_t len;
	uint8_t *value;
};

static void *flood_main(void *arg)
{
	struct flood *f = arg;

	for (int i = 0; i < 10; i++) {
		struct dfs_action_event ev = event(NULL);
		ev.new_value = f->value;
		ev.new_len = f->len;
		ev.old_value = f->value;
		ev.old_len = f->len;
		cr_assert_eq(dfs_runner_after(f->r, DFS_HOOK_ON_UPDATED, &ev), 0);
		__atomic_store_n(&f->sent, i + 1, __ATOMIC_SEQ_CST);
	}
	return NULL;
}

/* Values of 2 x 4 MiB: the queue of a stuck listener holds 32 MiB of them, no more. */
Test(runner, after_queue_is_bounded_in_bytes)
{
	char body[512];
	char *flag = tmpdir_path(dir, "go");
	struct flood f = { r, 0, 4u << 20, calloc(4u << 20, 1) };
	pthread_t t;

	cr_assert_not_null(f.value);
	snprintf(body, sizeof(body), "#!/bin/sh\nwhile [ ! -e %s ]; do sleep 0.02; done\n", flag);
	script("on_updated", body, 0755);
	cr_assert_eq(pthread_create(&t, NULL, flood_main, &f), 0);
	size_t most = 0;
	for (int i = 0; i < 100; i++) {
		size_t now = dfs_runner_queued_bytes(r);
		most = now > most ? now : most;
		cr_assert_leq(now, 32u << 20);
		usleep(10000);
	}
	/* One job runs (stuck), four wait; the sixth and later wait for room. */
	cr_assert_geq(most, 4 * (8u << 20));
	cr_assert_lt(__atomic_load_n(&f.sent, __ATOMIC_SEQ_CST), 10);
	close(open(flag, O_CREAT | O_WRONLY, 0600));
	pthread_join(t, NULL);
	dfs_runner_drain(r);
	cr_assert_eq(dfs_runner_queued_bytes(r), 0);
	free(f.value);
	free(flag);
}

/* A runner whose on_updated hangs until dir/go exists; the queue holds 4 MiB. */
static struct dfs_runner *stuck_runner(char **flag)
{
	char body[512];
	struct dfs_runner *s = dfs_runner_new(dir, 60000);

	cr_assert_not_null(s);
	*flag = tmpdir_path(dir, "go");
	snprintf(body, sizeof(body), "#!/bin/sh\nwhile [ ! -e %s ]; do sleep 0.02; done\n", *flag);
	script("on_updated", body, 0755);
	dfs_runner_set_queue(s, 4u << 20);
	return s;
}

/* Queues one job of a value of len bytes from origin; never waits for a peer's. */
static void queue_from(struct dfs_runner *s, uint64_t origin, const uint8_t *v, size_t len)
{
	struct dfs_action_event ev = event(NULL);

	ev.remote = origin != 0;
	ev.origin = origin;
	ev.new_value = v;
	ev.new_len = len;
	cr_assert_eq(dfs_runner_after(s, DFS_HOOK_ON_UPDATED, &ev), 0);
}

static void go_on(struct dfs_runner *s, char *flag)
{
	close(open(flag, O_CREAT | O_WRONLY, 0600));
	dfs_runner_drain(s);
	struct dfs_runner_stats st;
	dfs_runner_get_stats(s, &st);
	cr_assert_eq(st.jobs, 0);
	cr_assert_eq(st.bytes, 0);
	dfs_runner_free(s);
	free(flag);
}

/*
 * A peer's updates take a quarter of the queue: past it that peer has no
 * room (its updates wait), and is counted once; another peer and local
 * changes still have room, and a peer's job never waits in the queue.
 */
Test(runner, a_peers_share_is_a_quarter)
{
	char *flag;
	struct dfs_runner *s = stuck_runner(&flag);
	const uint64_t a = 1ull << 63 | 1, b = 1ull << 63 | 2;
	uint8_t *v = calloc(256u << 10, 1);
	struct dfs_runner_stats st;
	int n = 0;

	cr_assert_not_null(v);
	while (dfs_runner_room(s, a) && n < 100) {
		queue_from(s, a, v, 256u << 10);
		n++;
	}
	/* 1 MiB waits; the stuck worker may hold one more. */
	cr_assert(n == 4 || n == 5, "%d jobs of 256 KiB filled a's share", n);
	cr_assert(dfs_runner_room(s, b), "another peer has room");
	cr_assert(dfs_runner_room(s, 0), "local changes have room");
	for (int i = 0; i < 4; i++)
		queue_from(s, a, v, 256u << 10);	/* more, as a turn may: never waits */
	dfs_runner_get_stats(s, &st);
	/*
	 * Once per filling, not per job: the stuck worker takes one job at
	 * most, so the share can fill twice, never once per job past it.
	 */
	cr_assert(st.full == 1 || st.full == 2, "full %llu times", (unsigned long long)st.full);
	cr_assert_geq(st.bytes, 1u << 20);
	go_on(s, flag);
	free(v);
}

/* All peers together take three quarters; local changes keep the last quarter. */
Test(runner, peers_leave_local_changes_a_quarter)
{
	char *flag;
	struct dfs_runner *s = stuck_runner(&flag);
	uint8_t *v = calloc(256u << 10, 1);
	uint64_t o = 1ull << 63;
	struct dfs_runner_stats st;

	cr_assert_not_null(v);
	for (int peer = 0; peer < 8 && dfs_runner_room(s, o + 7); peer++)
		for (int i = 0; i < 4; i++)
			queue_from(s, o + (uint64_t)peer, v, 256u << 10);
	cr_assert_not(dfs_runner_room(s, o + 7), "a new peer has no room once peers hold 3 MiB");
	dfs_runner_get_stats(s, &st);
	cr_assert_geq(st.bytes, 3u << 20);
	cr_assert_leq(st.bytes, (4u << 20) + (256u << 10));
	/* Local jobs of 256 KiB fit in the last MiB without waiting (the suite's timeout). */
	for (int i = 0; i < 3; i++)
		queue_from(s, 0, v, 256u << 10);
	go_on(s, flag);
	free(v);
}

/* The share counts jobs too: a quarter of DFS_RUNNER_QUEUE_JOBS tiny ones fill it. */
Test(runner, a_peers_share_counts_jobs)
{
	char *flag;
	struct dfs_runner *s = stuck_runner(&flag);
	const uint64_t a = 1ull << 63 | 5;
	int n = 0;

	while (dfs_runner_room(s, a) && n < 2 * DFS_RUNNER_QUEUE_JOBS) {
		queue_from(s, a, (const uint8_t *)"x", 1);
		n++;
	}
	cr_assert(n == DFS_RUNNER_QUEUE_JOBS / 4 || n == DFS_RUNNER_QUEUE_JOBS / 4 + 1, "%d", n);
	cr_assert(dfs_runner_room(s, a + 1));
	go_on(s, flag);
}

/* True once pid is gone or a zombie (whoever reaps it). */
static bool ended(pid_t pid)
{
	char path[64], st[512];

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	FILE *f = fopen(path, "r");
	if (!f)
		return true;
	size_t n = fread(st, 1, sizeof(st) - 1, f);
	fclose(f);
	st[n] = '\0';
	const char *paren = strrchr(st, ')');
	return !paren || paren[1] == '\0' || paren[2] == 'Z' || paren[2] == 'X';
}

/*
 * The verdict comes when the listener exits, even while what it left in
 * the background holds its stderr open; that is then killed with its group.
 */
Test(runner, a_background_child_holding_stderr_does_not_delay_the_verdict)
{
	struct dfs_action_event ev = event("1");
	char why[256], body[512];
	char *pidfile = tmpdir_path(dir, "bg.pid");

	snprintf(body, sizeof(body), "#!/bin/sh\necho said >&2\nsleep 30 &\necho $! > %s\nexit 3\n",
		 pidfile);
	script("on_update", body, 0755);
	cr_assert_eq(dfs_runner_before(r, DFS_HOOK_ON_UPDATE, &ev, why, sizeof(why)), -EPERM);
	cr_assert_str_eq(why, "on_update: said"); /* not "timed out after 1000 ms" */
	pid_t bg = (pid_t)atoi(slurp("bg.pid"));
	cr_assert_gt(bg, 0);
	for (int i = 0; i < 200 && !ended(bg); i++)
		usleep(10000);
	cr_assert(ended(bg), "the background sleep %d outlived its listener", (int)bg);

	snprintf(body, sizeof(body), "#!/bin/sh\nsleep 30 &\nexit 0\n");
	script("on_update", body, 0755);
	cr_assert_eq(dfs_runner_before(r, DFS_HOOK_ON_UPDATE, &ev, why, sizeof(why)), 0, "%s", why);
	free(pidfile);
}

/* The daemon's own DINEMIC_* variables never reach a listener; the rest of its environment does. */
Test(runner, environment_is_the_daemons_less_its_dinemic_variables)
{
	struct dfs_action_event ev = event("1");
	char why[256], body[512];
	char *out = tmpdir_path(dir, "env2.out");

	setenv("DINEMIC_SEALED", "1", 1);
	setenv("DINEMIC_FIELD", "spoofed", 1);
	setenv("DFS_TEST_KEPT", "kept", 1);
	struct dfs_runner *r2 = dfs_runner_new(dir, 1000);
	unsetenv("DINEMIC_SEALED");
	unsetenv("DINEMIC_FIELD");
	unsetenv("DFS_TEST_KEPT");
	cr_assert_not_null(r2);
	snprintf(body, sizeof(body),
		 "#!/bin/sh\necho \"${DINEMIC_SEALED-unset}|$DINEMIC_FIELD|$DFS_TEST_KEPT\" > %s\n",
		 out);
	script("on_update", body, 0755);
	cr_assert_eq(dfs_runner_before(r2, DFS_HOOK_ON_UPDATE, &ev, why, sizeof(why)), 0, "%s", why);
	cr_assert_str_eq(slurp("env2.out"), "unset|salary|kept\n");
	dfs_runner_free(r2);
	free(out);
}

/* Listeners come and go faster than a directory's mtime ticks: each change is seen at once. */
Test(runner, quick_changes_are_seen_at_once)
{
	struct dfs_action_event ev = event("1");
	char why[256];
	char *p = tmpdir_path(dir, "Person/on_update.x");
	char *m = tmpdir_path(dir, "Person");

	for (int i = 0; i < 50; i++) {
		cr_assert_eq(dfs_runner_before(r, DFS_HOOK_ON_UPDATE, &ev, why, sizeof(why)), 0,
			     "round %d: %s", i, why);
		if (i == 0)
			cr_assert_eq(mkdir(m, 0755), 0);
		script("Person/on_update.x", "#!/bin/sh\nexit 1\n", 0755);
		cr_assert_eq(dfs_runner_before(r, DFS_HOOK_ON_UPDATE, &ev, why, sizeof(why)), -EPERM,
			     "round %d", i);
		cr_assert_eq(unlink(p), 0);
	}
	/* The model's directory replaced by another: its listeners are the new one's. */
	char *old = tmpdir_path(dir, "Person.old");
	script("Person/on_update.x", "#!/bin/sh\nexit 1\n", 0755);
	cr_assert_eq(dfs_runner_before(r, DFS_HOOK_ON_UPDATE, &ev, why, sizeof(why)), -EPERM);
	cr_assert_eq(rename(m, old), 0);
	cr_assert_eq(dfs_runner_before(r, DFS_HOOK_ON_UPDATE, &ev, why, sizeof(why)), 0, "%s", why);
	cr_assert_eq(mkdir(m, 0755), 0);
	script("Person/on_update.y", "#!/bin/sh\necho new >&2; exit 1\n", 0755);
	cr_assert_eq(dfs_runner_before(r, DFS_HOOK_ON_UPDATE, &ev, why, sizeof(why)), -EPERM);
	cr_assert_str_eq(why, "on_update.y: new");
	free(old);
	free(m);
	free(p);
}

/* A stderr that never runs dry keeps nobody from the deadline, nor from the exit. */
Test(runner, an_endless_flood_of_stderr_times_out)
{
	struct dfs_action_event ev = event("1");
	char why[256];
	struct timespec a, b;

	script("on_update", "#!/bin/sh\nexec cat /dev/zero >&2\n", 0755);
	clock_gettime(CLOCK_MONOTONIC, &a);
	cr_assert_eq(dfs_runner_before(r, DFS_HOOK_ON_UPDATE, &ev, why, sizeof(why)), -EPERM);
	clock_gettime(CLOCK_MONOTONIC, &b);
	cr_assert_str_eq(why, "on_update: timed out after 1000 ms");
	cr_assert_lt(b.tv_sec - a.tv_sec, 5);
	/* Flooded by what it left behind, a listener that exits 0 accepts. */
	script("on_update", "#!/bin/sh\ncat /dev/zero >&2 &\nsleep 0.1\nexit 0\n", 0755);
	cr_assert_eq(dfs_runner_before(r, DFS_HOOK_ON_UPDATE, &ev, why, sizeof(why)), 0, "%s", why);
}
