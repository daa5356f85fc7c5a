// SPDX-License-Identifier: MIT
/*
 * redact.c - a listener's reason is logged, and logs must not hold the
 * values of encrypted fields: whatever the reason repeats of a value becomes
 * "...", whatever the value's length and bytes. What counts as repeating:
 * any WINDOW bytes in a row of the value, with what adjoins them in both
 * (so a reason cut short, or a fragment, goes too), and any line of the
 * value shorter than WINDOW wherever it occurs whole. Bytes are compared
 * as the reason shows them: control bytes became '?' there.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define WINDOW 8		/* bytes in a row that count as repeating the value */
#define SLOTS 2048		/* hash slots for the reason's windows: more than it has */
#define B 1099511628211ull	/* Rabin-Karp base; sums are modulo 2^64 */

_Static_assert(SLOTS > RUNNER_REASON_MAX, "a free slot for every window of a reason");

static uint8_t shown(uint8_t c)
{
	return c < 0x20 || c == 0x7f ? '?' : c;
}

struct windows {
	uint64_t hash[SLOTS];
	int at[SLOTS];		/* where the window starts in the reason; -1: free */
};

static void windows_of(struct windows *w, const char *why, size_t len)
{
	for (size_t s = 0; s < SLOTS; s++)
		w->at[s] = -1;
	for (size_t i = 0; i + WINDOW <= len; i++) {
		uint64_t h = 0;
		for (int k = 0; k < WINDOW; k++)
			h = h * B + (uint8_t)why[i + k];
		size_t s = h % SLOTS;
		while (w->at[s] >= 0)
			s = (s + 1) % SLOTS;
		w->hash[s] = h;
		w->at[s] = (int)i;
	}
}

/* Marks why[i..] as far as it repeats val from v, and back from there. */
static void mark_run(bool *hit, const char *why, size_t len, size_t i, const uint8_t *val,
		     size_t n, size_t v)
{
	size_t j = 0;

	while (i + j < len && v + j < n && (uint8_t)why[i + j] == shown(val[v + j]))
		hit[i + j++] = true;
	for (j = 1; j <= i && j <= v && (uint8_t)why[i - j] == shown(val[v - j]); j++)
		hit[i - j] = true;
}

static bool same_window(const char *why, const uint8_t *val)
{
	for (int k = 0; k < WINDOW; k++)
		if ((uint8_t)why[k] != shown(val[k]))
			return false;
	return true;
}

/* Each window of val the reason holds, found in one pass over val. */
static void mark_windows(bool *hit, const char *why, size_t len, const uint8_t *val, size_t n,
			 struct windows *w)
{
	uint64_t h = 0, top = 1;

	for (int k = 0; k < WINDOW - 1; k++)
		top *= B;
	windows_of(w, why, len);
	for (size_t v = 0; v < n; v++) {
		if (v >= WINDOW)
			h -= shown(val[v - WINDOW]) * top;
		h = h * B + shown(val[v]);
		if (v + 1 < WINDOW)
			continue;
		size_t start = v + 1 - WINDOW;
		for (size_t s = h % SLOTS; w->at[s] >= 0; s = (s + 1) % SLOTS) {
			size_t i = (size_t)w->at[s];
			if (w->hash[s] == h && !hit[i] && same_window(why + i, val + start))
				mark_run(hit, why, len, i, val, n, start);
		}
	}
}

/* Each line of val shorter than a window, wherever the reason holds it whole. */
static void mark_short_lines(bool *hit, const char *why, size_t len, const uint8_t *val,
			     size_t n)
{
	for (size_t p = 0; p < n;) {
		const uint8_t *nl = memchr(val + p, '\n', n - p);
		size_t line = (nl ? (size_t)(nl - val) : n) - p;
		for (size_t i = 0; line > 0 && line < WINDOW && i + line <= len; i++) {
			size_t k = 0;
			while (k < line && (uint8_t)why[i + k] == shown(val[p + k]))
				k++;
			if (k == line)
				memset(hit + i, true, line);
		}
		p += line + 1;
	}
}

/* Each run of marked bytes becomes "..."; the reason only shrinks. */
static void squeeze(char *why, size_t len, const bool *hit)
{
	size_t o = 0;

	for (size_t i = 0; i < len;) {
		if (!hit[i]) {
			why[o++] = why[i++];
			continue;
		}
		while (i < len && hit[i])
			i++;
		size_t dots = o + 3 <= i ? 3 : i - o;
		memset(why + o, '.', dots);
		o += dots;
	}
	why[o] = '\0';
}

void runner_redact(char *why, size_t whylen, const uint8_t *val, size_t n)
{
	size_t len = strlen(why);

	if (!val || n == 0 || len == 0)
		return;
	bool *hit = calloc(len + 1, sizeof(*hit));
	struct windows *w = malloc(sizeof(*w));
	if (!hit || !w || len > RUNNER_REASON_MAX) {
		/* Fail closed: no reason rather than one that may hold the value. */
		snprintf(why, whylen, "(reason withheld)");
	} else {
		mark_short_lines(hit, why, len, val, n);
		mark_windows(hit, why, len, val, n, w);
		squeeze(why, len, hit);
	}
	free(hit);
	free(w);
}
