#include "scope.h"

#include <stdio.h>
#include <string.h>

const struct scope_def scope_table[] = {
	{"snippets:read", SCOPE_SNIPPETS_READ, "Read your saved snippets"},
	{"snippets:write", SCOPE_SNIPPETS_WRITE, "Create, change and delete your snippets"},
};

const size_t scope_count = sizeof(scope_table) / sizeof(scope_table[0]);

int
scope_parse(const char *s, unsigned *bits)
{
	const char *p = s;

	*bits = 0;
	while (*p != '\0') {
		size_t len, i;

		/* RFC 6749 §3.3: tokens separated by single spaces; be lenient
		 * about repeated spaces but nothing else. */
		if (*p == ' ') {
			p++;
			continue;
		}
		len = strcspn(p, " ");
		for (i = 0; i < scope_count; i++)
			if (strlen(scope_table[i].name) == len &&
			    memcmp(scope_table[i].name, p, len) == 0)
				break;
		if (i == scope_count)
			return -1;
		*bits |= scope_table[i].bit;
		p += len;
	}
	return 0;
}

int
scope_format(unsigned bits, char *out, size_t outsz)
{
	size_t o = 0;

	if (outsz == 0)
		return -1;
	out[0] = '\0';
	for (size_t i = 0; i < scope_count; i++) {
		int n;
		if ((bits & scope_table[i].bit) == 0)
			continue;
		n = snprintf(out + o, outsz - o, "%s%s", o > 0 ? " " : "", scope_table[i].name);
		if (n < 0 || (size_t)n >= outsz - o)
			return -1;
		o += (size_t)n;
	}
	return 0;
}
