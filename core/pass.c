/* pass.c - passphrases: from a file named by the operator, or from the
 * controlling terminal with echo off; never from argv. */
#include "core.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include <sodium.h>

#define PASS_MAX 1024

/* Reads one line (without "\n" or "\r\n") from fd into a sodium_malloc'd
 * buffer. A line longer than PASS_MAX - 1 bytes is refused rather than
 * silently cut. */
static char *pass_read_line(int fd, const char *name, struct al_err *err)
{
	char *buf = sodium_malloc(PASS_MAX);
	size_t len = 0;

	if (buf == NULL) {
		al_err_sys(err, "cannot allocate secure memory");
		return NULL;
	}
	for (;;) {
		char c;
		ssize_t r = read(fd, &c, 1);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			al_err_sys(err, "%s: read", name);
			goto fail;
		}
		if (r == 0 || c == '\n')
			break;
		if (len == PASS_MAX - 1) {
			al_err_set(err, AL_EUSAGE, "%s: passphrase longer than %d bytes", name,
			           PASS_MAX - 1);
			goto fail;
		}
		buf[len++] = c;
	}
	if (len > 0 && buf[len - 1] == '\r')
		len--;
	buf[len] = '\0';
	return buf;
fail:
	sodium_free(buf);
	return NULL;
}

static char *pass_from_file(const char *path, struct al_err *err)
{
	char *pass;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);

	if (fd < 0) {
		al_err_sys(err, "passphrase file %s", path);
		return NULL;
	}
	pass = pass_read_line(fd, path, err);
	close(fd);
	return pass;
}

static char *pass_prompt(int tty, const char *prompt, struct al_err *err)
{
	struct termios old, quiet;
	char *pass;
	int echo_off;

	(void)!write(tty, prompt, strlen(prompt));
	echo_off = tcgetattr(tty, &old) == 0;
	if (echo_off) {
		quiet = old;
		quiet.c_lflag &= ~(tcflag_t)ECHO;
		quiet.c_lflag |= ECHONL;
		(void)tcsetattr(tty, TCSANOW, &quiet);
	}
	pass = pass_read_line(tty, "terminal", err);
	if (echo_off)
		(void)tcsetattr(tty, TCSANOW, &old);
	return pass;
}

char *al_passphrase_read(const char *passfile, int confirm, struct al_err *err)
{
	char *pass = NULL, *again = NULL;
	int tty;

	if (passfile != NULL)
		return pass_from_file(passfile, err);
	tty = open("/dev/tty", O_RDWR | O_CLOEXEC | O_NOCTTY);
	if (tty < 0) {
		al_err_set(err, AL_EUSAGE,
		           "no terminal to ask for the passphrase: use --passfile FILE or AIRLOCK_PASSFILE");
		return NULL;
	}
	pass = pass_prompt(tty, "Passphrase: ", err);
	if (pass != NULL && confirm) {
		again = pass_prompt(tty, "Passphrase (again): ", err);
		if (again == NULL || strcmp(pass, again) != 0) {
			if (again != NULL)
				al_err_set(err, AL_EUSAGE, "the passphrases do not match");
			al_secret_free(pass);
			pass = NULL;
		}
		al_secret_free(again);
	}
	close(tty);
	return pass;
}
