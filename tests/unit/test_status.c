// SPDX-License-Identifier: MIT
/* test_status.c - unit tests for `dinemicfs status` (status.c): the table and the exit codes */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <criterion/criterion.h>
#include <criterion/redirect.h>

#include "dinemicfs/status.h"
#include "tmpdir.h"

#define ID "00ad7ecd99ff67151294144b8ad187e7ae670b07c26bb99b942861f84553dbfa\n"

static const char stats[] =
	"node_id 00ad7ecd99ff67151294144b8ad187e7ae670b07c26bb99b942861f84553dbfa\n"
	"pid 4242\n"
	"uptime_seconds 7392\n"
	"sync strict\n"
	"updates_stored 1204\n"
	"updates_applied 1190\n"
	"updates_refused 4\n"
	"corrupt_records 0\n"
	"store_bytes 1258291\n"
	"updates_applied_local 900\n"
	"updates_applied_remote 290\n"
	"updates_rejected 3\n"
	"updates_held 2\n"
	"updates_dropped 1\n"
	"peers_configured 2\n"
	"peers_up 2\n"
	"updates_received 300\n"
	"updates_sent 1200\n"
	"updates_relayed 1200\n"
	"updates_waiting 0\n"
	"bytes_in 307200\n"
	"bytes_out 2097152\n"
	"frames_dropped 1\n"
	"errors_logged 2\n"
	"last_error 2025-06-01T10:00:00.123Z error [src/x.c:1] store: it broke\n";

/* As dfs_repl_peers_text() writes it. */
static const char peers[] =
	"peer                             state      node             contact      behind    ahead "
	"   acked link     admitted  error\n"
	"wss://10.0.0.2:7401              up         5ff6f1d6a1b2c3d4 3s ago            0        0 "
	"    1204 TLSv1.3  trust+key -\n"
	"wss://10.0.0.3:7401              connecting -                never          1204        0 "
	"       0 -        -         cannot connect\n"
	"::ffff:127.0.0.1 (in)            up         0123456789abcdef 400s ago         12        3 "
	"    1190 TLSv1.3  open      -\n";

/* The table for these inputs, as a malloc'ed string. */
static char *render(const char *id, const char *st, const char *pe, int *rc)
{
	char *text = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&text, &len);

	cr_assert_not_null(out);
	*rc = dfs_status_render(out, id, st, pe);
	fclose(out);
	return text;
}

static bool has_line(const char *text, const char *line)
{
	size_t n = strlen(line);

	for (const char *p = text; p && *p;) {
		if (strncmp(p, line, n) == 0 && (p[n] == '\n' || p[n] == '\0'))
			return true;
		p = strchr(p, '\n');
		if (p)
			p++;
	}
	return false;
}

#define assert_line(text, line) \
	cr_assert(has_line(text, line), "no line [%s] in:\n%s", line, text)

Test(status, summary)
{
	int rc;
	char *t = render(ID, stats, peers, &rc);

	cr_assert_eq(rc, 0);
	assert_line(t, "node     00ad7ecd99ff67151294144b8ad187e7ae670b07c26bb99b942861f84553dbfa");
	assert_line(t, "pid      4242");
	assert_line(t, "uptime   2h 03m 12s");
	assert_line(t, "updates  1204 stored, 1190 applied (900 local, 290 remote), 3 rejected, "
		       "1 dropped");
	assert_line(t, "store    1.2 MiB");
	assert_line(t, "traffic  1200 updates sent, 300 received; 2.0 MiB out, 300 KiB in");
	assert_line(t, "errors   2, the last: 2025-06-01T10:00:00.123Z error [src/x.c:1] store: "
		       "it broke");
	assert_line(t, "peers    2 of 3 links up, 2 peers configured");
	free(t);
}

Test(status, peer_rows)
{
	int rc;
	char *t = render(ID, stats, peers, &rc);

	cr_assert_eq(rc, 0);
	/* Columns as wide as their widest cell, two blanks apart; the error last. */
	assert_line(t, "PEER                   STATE       NODE              LAST CONTACT  "
		       "LAG                       LINK                ERROR");
	assert_line(t, "wss://10.0.0.2:7401    up          5ff6f1d6a1b2c3d4  3 s ago       "
		       "in sync                   TLSv1.3, trust+key  -");
	assert_line(t, "wss://10.0.0.3:7401    connecting  -                 never         "
		       "1204 to send              -                   cannot connect");
	assert_line(t, "::ffff:127.0.0.1 (in)  up          0123456789abcdef  6 min ago     "
		       "12 to send, 3 to receive  TLSv1.3, open       -");
	free(t);
}

Test(status, no_peers)
{
	int rc;
	char *t = render(ID, stats, "no peers: mounted without listen= or peer=\n", &rc);

	cr_assert_eq(rc, 0);
	assert_line(t, "peers    none (mounted without listen= or peer=)");
	cr_assert_null(strstr(t, "PEER"));
	free(t);
}

Test(status, missing_keys_show_a_question_mark)
{
	int rc;
	char *t = render(ID, "node_id x\nupdates_stored 5\n", NULL, &rc);

	cr_assert_eq(rc, 0);
	assert_line(t, "pid      ?");
	assert_line(t, "uptime   ?");
	assert_line(t, "updates  5 stored, ? applied (? local, ? remote), ? rejected, ? dropped");
	assert_line(t, "errors   ?");
	cr_assert_null(strstr(t, "traffic"), "no traffic line without bytes_out");
	free(t);
}

Test(status, durations_and_sizes)
{
	static const struct {
		const char *stats, *line;
	} cases[] = {
		{ "uptime_seconds 0\n", "uptime   0s" },
		{ "uptime_seconds 61\n", "uptime   1m 01s" },
		{ "uptime_seconds 90061\n", "uptime   1d 01h 01m" },
		{ "store_bytes 1023\n", "store    1023 B" },
		{ "store_bytes 1024\n", "store    1.0 KiB" },
		{ "store_bytes 52428800\n", "store    50 MiB" },
		{ "store_bytes 3221225472\n", "store    3.0 GiB" },
		{ "errors_logged 0\nlast_error -\n", "errors   none" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int rc;
		char *t = render(ID, cases[i].stats, NULL, &rc);
		cr_assert_eq(rc, 0);
		assert_line(t, cases[i].line);
		free(t);
	}
}

Test(status, lines_that_are_not_rows_are_shown_as_they_are)
{
	int rc;
	char *t = render(ID, stats,
			 "peer state node contact behind ahead error\n"
			 "something new\n"
			 "ws://a:1 up 5ff6f1d6a1b2c3d4 2s ago 0 0 -\n",
			 &rc);

	cr_assert_eq(rc, 0);
	assert_line(t, "something new");
	assert_line(t, "peers    1 of 1 link up, 2 peers configured");
	free(t);
}

Test(status, an_id_that_is_not_one)
{
	int rc;
	char *t;

	t = render("", stats, NULL, &rc);
	cr_assert_eq(rc, -EINVAL);
	free(t);
	t = render("00ad7ecd\n", stats, NULL, &rc);
	cr_assert_eq(rc, -EINVAL);
	free(t);
	t = render("zzad7ecd99ff67151294144b8ad187e7ae670b07c26bb99b942861f84553dbfa\n", stats,
		   NULL, &rc);
	cr_assert_eq(rc, -EINVAL);
	free(t);
}

/* ---- the command ----------------------------------------------------------------- */

static char *dir;

static void cmd_setup(void)
{
	dir = tmpdir_make("status");
	cr_assert_not_null(dir);
	/* The command prints on stdout, which carries the TAP report. */
	cr_redirect_stdout();
	cr_redirect_stderr();
}

static void cmd_teardown(void)
{
	tmpdir_remove(dir);
	dir = NULL;
}

TestSuite(status_cmd, .init = cmd_setup, .fini = cmd_teardown);

#define STATUS(...) status_run((const char *[]){ "status", __VA_ARGS__, NULL })

static int status_run(const char **argv)
{
	int argc = 0;

	while (argv[argc])
		argc++;
	return dfs_status_main(argc, (char **)argv);	/* argv is only read */
}

static void put(const char *sub, const char *text)
{
	char path[4096];

	snprintf(path, sizeof(path), "%s/%s", dir, sub);
	FILE *f = fopen(path, "w");
	cr_assert_not_null(f, "%s", path);
	fputs(text, f);
	fclose(f);
}

Test(status_cmd, usage)
{
	cr_assert_eq(status_run((const char *[]){ "status", NULL }), 2);
	cr_assert_eq(STATUS("--help"), 0);
	cr_assert_eq(STATUS("-h"), 0);
	cr_assert_eq(STATUS("-x", dir), 2);
	cr_assert_eq(STATUS(dir, dir), 2);
	cr_assert_eq(STATUS(""), 2);
}

Test(status_cmd, not_a_mount)
{
	char missing[4096];

	snprintf(missing, sizeof(missing), "%s/missing", dir);
	cr_assert_eq(STATUS(dir), 1, "a plain directory");
	cr_assert_eq(STATUS(missing), 1, "no such directory");
	put("file", "x");
	snprintf(missing, sizeof(missing), "%s/file", dir);
	cr_assert_eq(STATUS(missing), 1, "a file");
	/* .node/id that holds no node id */
	char node[4096];
	snprintf(node, sizeof(node), "%s/.node", dir);
	cr_assert_eq(mkdir(node, 0700), 0);
	put(".node/id", "hello\n");
	put(".node/stats", stats);
	put(".node/peers", peers);
	cr_assert_eq(STATUS(dir), 1);
}

Test(status_cmd, reads_the_node_files)
{
	char node[4096];

	snprintf(node, sizeof(node), "%s/.node", dir);
	cr_assert_eq(mkdir(node, 0700), 0);
	put(".node/id", ID);
	put(".node/stats", stats);
	cr_assert_eq(STATUS(dir), 1, "no .node/peers");
	put(".node/peers", peers);
	cr_assert_eq(STATUS(dir), 0);
	cr_assert_eq(STATUS("--", dir), 0);
}
