/* err.c - struct al_err: error messages that name what is at fault. */
#include "core.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

int al_code_for_errno(int e)
{
	switch (e) {
	case ENOENT:
	case ENOTDIR:
	case ELOOP:
	case EISDIR:
	case ENAMETOOLONG:
		return AL_EUSAGE;
	default:
		return AL_EENV;
	}
}

int al_err_set(struct al_err *err, int code, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL)
		return -1;
	err->code = code;
	err->sys_errno = 0;
	va_start(ap, fmt);
	vsnprintf(err->msg, sizeof err->msg, fmt, ap);
	va_end(ap);
	return -1;
}

/* errno names, so that a message reads the same under glibc and musl
 * (whose strerror texts differ: "Input/output error" and "I/O error") and
 * can be searched for. */
static const char *errno_name(int e)
{
	static const struct {
		int value;
		const char *name;
	} names[] = {
		{EPERM, "EPERM"},     {ENOENT, "ENOENT"},   {EINTR, "EINTR"},
		{EIO, "EIO"},         {EBADF, "EBADF"},     {ECHILD, "ECHILD"},
		{EAGAIN, "EAGAIN"},   {ENOMEM, "ENOMEM"},   {EACCES, "EACCES"},
		{EBUSY, "EBUSY"},     {EEXIST, "EEXIST"},   {EXDEV, "EXDEV"},
		{ENOTDIR, "ENOTDIR"}, {EISDIR, "EISDIR"},   {EINVAL, "EINVAL"},
		{ENFILE, "ENFILE"},   {EMFILE, "EMFILE"},   {ETXTBSY, "ETXTBSY"},
		{EFBIG, "EFBIG"},     {ENOSPC, "ENOSPC"},   {EROFS, "EROFS"},
		{ELOOP, "ELOOP"},     {ENOTEMPTY, "ENOTEMPTY"}, {ENAMETOOLONG, "ENAMETOOLONG"},
		{EDQUOT, "EDQUOT"},   {ENXIO, "ENXIO"},     {ESRCH, "ESRCH"},
	};

	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
		if (names[i].value == e)
			return names[i].name;
	return NULL;
}

int al_err_sys(struct al_err *err, const char *fmt, ...)
{
	int errsv = errno;
	va_list ap;
	size_t used;

	if (err == NULL)
		return -1;
	err->code = al_code_for_errno(errsv);
	err->sys_errno = errsv;
	va_start(ap, fmt);
	vsnprintf(err->msg, sizeof err->msg, fmt, ap);
	va_end(ap);
	used = strlen(err->msg);
	if (errno_name(errsv) != NULL)
		snprintf(err->msg + used, sizeof err->msg - used, ": %s (%s)", strerror(errsv),
		         errno_name(errsv));
	else
		snprintf(err->msg + used, sizeof err->msg - used, ": %s", strerror(errsv));
	errno = errsv;
	return -1;
}

void al_err_prefix(struct al_err *err, const char *fmt, ...)
{
	char prefix[512];
	size_t plen, mlen;
	va_list ap;

	if (err == NULL)
		return;
	va_start(ap, fmt);
	vsnprintf(prefix, sizeof prefix - 2, fmt, ap);
	va_end(ap);
	strcat(prefix, ": ");
	plen = strlen(prefix);
	mlen = strnlen(err->msg, sizeof err->msg - 1);
	if (plen + mlen >= sizeof err->msg)
		mlen = sizeof err->msg - 1 - plen; /* the tail of the message is cut */
	memmove(err->msg + plen, err->msg, mlen);
	memcpy(err->msg, prefix, plen);
	err->msg[plen + mlen] = '\0';
}

void al_err_clear(struct al_err *err)
{
	if (err == NULL)
		return;
	err->code = AL_OK;
	err->sys_errno = 0;
	err->msg[0] = '\0';
}

int al_snprintf(char *out, size_t outlen, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(out, outlen, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= outlen)
		return -1;
	return 0;
}
