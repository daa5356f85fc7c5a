// SPDX-License-Identifier: MIT
/* test_trycmd.c - unit tests for `dinemicfs try` (cli/trycmd.c): the answer shown, the exit status */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "dinemicfs/trycmd.h"

static int render(const char *answer, char **text)
{
	size_t len;
	FILE *out = open_memstream(text, &len);

	cr_assert_not_null(out);
	int rc = dfs_trycmd_render(out, answer, strlen(answer));
	fclose(out);
	return rc;
}

Test(trycmd, rejected)
{
	char *text;
	int rc = render("listener\ton_update\ton_update.00-log\taccept\t\n"
			"listener\ton_update\tPerson/on_update.10-salary\treject\tsalary over budget\n"
			"listener\ton_owned_update\ton_owned_update\tskip\t\n"
			"reject\n",
			&text);

	cr_assert_eq(rc, 1);
	cr_assert_str_eq(text,
		"accept  on_update               on_update.00-log\n"
		"reject  on_update               Person/on_update.10-salary: salary over budget\n"
		"skip    on_owned_update         on_owned_update (not run: the change stops at a rejection)\n"
		"rejected by Person/on_update.10-salary: salary over budget\n");
	free(text);
}

Test(trycmd, accepted)
{
	char *text;

	cr_assert_eq(render("listener\ton_create\tPerson/on_create\taccept\tlooks fine\naccept\n",
			    &text), 0);
	cr_assert_str_eq(text, "accept  on_create               Person/on_create: looks fine\n"
			       "accepted\n");
	free(text);
	cr_assert_eq(render("accept\n", &text), 0);
	cr_assert_str_eq(text, "accepted: no listener judges this change\n");
	free(text);
}

Test(trycmd, refused)
{
	char *text;

	cr_assert_eq(render("refused\tENOENT\tno such object\nreject\n", &text), 1);
	cr_assert_str_eq(text, "refused (ENOENT): no such object\n");
	free(text);
}

Test(trycmd, no_verdict)
{
	char *text;

	cr_assert_eq(render("listener\ton_update\tx\taccept\t\n", &text), 2, "cut short");
	free(text);
	cr_assert_eq(render("", &text), 2);
	free(text);
	cr_assert_eq(render("something new\naccept\n", &text), 0, "unknown lines are shown");
	cr_assert_str_eq(text, "something new\naccepted: no listener judges this change\n");
	free(text);
}
