/* identity.c - who and where: the user running airlock and the host's
 * name, looked up in one place (the audit writer stamps them on every
 * entry; commands print them). */
#include "core.h"

#include <pwd.h>
#include <string.h>
#include <unistd.h>

const char *al_user_name(void)
{
	static char name[256];
	static uid_t cached = (uid_t)-1;
	static int known;
	uid_t uid = getuid();
	struct passwd *pw;

	if (known && cached == uid)
		return name[0] != '\0' ? name : NULL;
	pw = getpwuid(uid);
	name[0] = '\0';
	if (pw != NULL && pw->pw_name != NULL && strlen(pw->pw_name) < sizeof name)
		memcpy(name, pw->pw_name, strlen(pw->pw_name) + 1);
	cached = uid;
	known = 1;
	return name[0] != '\0' ? name : NULL;
}

const char *al_host_name(void)
{
	static char host[256];

	if (host[0] == '\0') {
		if (gethostname(host, sizeof host - 1) < 0 || host[0] == '\0')
			memcpy(host, "unknown", sizeof "unknown");
		al_utf8_fix(host); /* it goes into JSON */
	}
	return host;
}
