/* names.c - which strings may name a mailbox. */
#include <string.h>

#include "spool_int.h"

/*
 * A user name becomes a path component SPOOL/NAME and the base of
 * NAME.lock and .NAME.journal: refuse anything that could leave the spool
 * directory, hide a file, or collide with a lock of another user.
 */
int
sp_user_valid(const char *name)
{
	size_t i, n;

	if (name == NULL || name[0] == '\0' || name[0] == '.' || name[0] == '-')
		return 0;
	for (i = 0; name[i] != '\0'; i++) {
		unsigned char c = (unsigned char)name[i];

		if (i >= SP_USER_MAX)
			return 0;
		if (c <= 0x20 || c >= 0x7f || c == '/')
			return 0;
	}
	if (strstr(name, "..") != NULL)
		return 0;
	n = i;
	if (n >= 5 && strcmp(name + n - 5, ".lock") == 0)
		return 0;
	return 1;
}
