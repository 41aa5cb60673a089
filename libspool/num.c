/*
 * num.c - parse_uint: the one way a client's number becomes an integer.
 *
 * Digits only (no sign, no space, no "0x"), never empty, and checked
 * against MAX before each multiplication so that no input can wrap.
 */
#include <string.h>

#include "proto.h"

int
parse_uint(const char *s, size_t len, unsigned long long max,
    unsigned long long *out)
{
	unsigned long long v = 0;
	size_t i;

	if (s == NULL)
		return -1;
	if (len == (size_t)-1)
		len = strlen(s);
	if (len == 0)
		return -1;
	for (i = 0; i < len; i++) {
		unsigned d;

		if (s[i] < '0' || s[i] > '9')
			return -1;
		d = (unsigned)(s[i] - '0');
		if (d > max || v > (max - d) / 10)
			return -1;
		v = v * 10 + d;
	}
	*out = v;
	return 0;
}
