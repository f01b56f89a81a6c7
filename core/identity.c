/* identity.c - who and where: the user running airlock and the host's
 * name, looked up in one place (the audit writer stamps them on every
 * entry; commands print them). */
#include "core.h"

#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
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

/* The unit's name is the last part of our cgroup path, as systemd makes
 * it ("0::/system.slice/airlock@nightly.service"); systemd tells a
 * process it runs a unit by INVOCATION_ID. */
const char *al_systemd_unit(void)
{
	static char unit[256];
	static int known;
	char line[1024];
	FILE *f;

	if (known)
		return unit[0] != '\0' ? unit : NULL;
	known = 1;
	if (getenv("INVOCATION_ID") == NULL || (f = fopen("/proc/self/cgroup", "re")) == NULL)
		return NULL;
	while (fgets(line, sizeof line, f) != NULL) {
		char *end = line + strcspn(line, "\n"), *name;
		*end = '\0';
		/* cgroup v2: "0::/PATH"; v1: the name=systemd hierarchy */
		if (strncmp(line, "0::/", 4) != 0 && strstr(line, ":name=systemd:/") == NULL)
			continue;
		name = strrchr(line, '/') + 1;
		if (end - name > 8 && end - name < (long)sizeof unit &&
		    (strcmp(end - 8, ".service") == 0 || strcmp(end - 6, ".scope") == 0)) {
			memcpy(unit, name, (size_t)(end - name) + 1);
			al_utf8_fix(unit);
			break;
		}
	}
	fclose(f);
	return unit[0] != '\0' ? unit : NULL;
}
