/* conn.c - a connection to a syslog collector (FORMAT.md §12, §13): TCP,
 * UDP, or TLS over TCP (RFC 5425) with OpenSSL's libssl. Over TLS the
 * collector's certificate chain is checked against the sink's CA file
 * (--ca; the host's own trust store is never used) and its name or IP
 * address against the URL's host; TLS 1.2 at least; a client certificate
 * when the sink has one (--cert, --key). Every wait is bounded
 * (CONN_TIMEOUT_MS, and the caller's deadline between writes). A batch
 * ends with an orderly close the collector answers, which is what
 * confirms it: its FIN after ours over TCP, its close_notify (or FIN)
 * after ours over TLS; a reset or no answer is a failure. */
#include "internal.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#define CONN_TIMEOUT_MS 5000

/* The first OpenSSL error, or the verification's, for a message. */
static const char *tls_why(struct sink_conn *c, char *buf, size_t n)
{
	unsigned long e = ERR_get_error();
	long v = c->ssl != NULL ? SSL_get_verify_result(c->ssl) : X509_V_OK;

	if (v != X509_V_OK)
		snprintf(buf, n, "the collector's certificate: %s", X509_verify_cert_error_string(v));
	else if (e != 0)
		ERR_error_string_n(e, buf, n);
	else
		snprintf(buf, n, "%s", errno != 0 ? strerror(errno) : "the connection was closed");
	ERR_clear_error();
	return buf;
}

static int tls_start(struct sink_conn *c, struct al_err *err)
{
	const struct al_sink *s = c->sink;
	unsigned char ip[16];
	char why[256];
	int is_ip = inet_pton(AF_INET, s->host, ip) == 1 || inet_pton(AF_INET6, s->host, ip) == 1;

	ERR_clear_error();
	c->ctx = SSL_CTX_new(TLS_client_method());
	if (c->ctx == NULL || !SSL_CTX_set_min_proto_version(c->ctx, TLS1_2_VERSION))
		return al_err_set(err, AL_EENV, "%s: TLS: %s", s->target, tls_why(c, why, sizeof why));
	SSL_CTX_set_verify(c->ctx, SSL_VERIFY_PEER, NULL);
	/* a collector that answers our close_notify with its FIN alone (as
	 * rsyslog's gtls driver does) has read everything before it: that EOF
	 * is its answer, not a truncation of what it sent us (nothing) */
	SSL_CTX_set_options(c->ctx, SSL_OP_IGNORE_UNEXPECTED_EOF);
	if (SSL_CTX_load_verify_locations(c->ctx, s->ca, NULL) != 1)
		return al_err_set(err, AL_EENV, "%s: --ca %s: %s", s->target, s->ca,
		                  tls_why(c, why, sizeof why));
	if (s->cert[0] != '\0' &&
	    (SSL_CTX_use_certificate_chain_file(c->ctx, s->cert) != 1 ||
	     SSL_CTX_use_PrivateKey_file(c->ctx, s->key, SSL_FILETYPE_PEM) != 1 ||
	     SSL_CTX_check_private_key(c->ctx) != 1))
		return al_err_set(err, AL_EENV, "%s: --cert %s --key %s: %s", s->target, s->cert, s->key,
		                  tls_why(c, why, sizeof why));
	c->ssl = SSL_new(c->ctx);
	if (c->ssl == NULL || SSL_set_fd(c->ssl, c->fd) != 1)
		return al_err_set(err, AL_EENV, "%s: TLS: %s", s->target, tls_why(c, why, sizeof why));
	/* the name (or address) the certificate must be for; SNI for a name */
	if (is_ip) {
		if (X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(c->ssl), s->host) != 1)
			return al_err_set(err, AL_EENV, "%s: TLS: %s", s->target, tls_why(c, why, sizeof why));
	} else if (SSL_set1_host(c->ssl, s->host) != 1 ||
	           SSL_set_tlsext_host_name(c->ssl, s->host) != 1) {
		return al_err_set(err, AL_EENV, "%s: TLS: %s", s->target, tls_why(c, why, sizeof why));
	}
	errno = 0;
	if (SSL_connect(c->ssl) != 1)
		return al_err_set(err, AL_EENV, "%s: TLS handshake: %s", s->target,
		                  tls_why(c, why, sizeof why));
	return 0;
}

int conn_open(struct sink_conn *c, const struct al_sink *s, struct al_err *err)
{
	struct addrinfo hints = {0}, *res = NULL, *ai;
	struct timeval tv = {CONN_TIMEOUT_MS / 1000, (CONN_TIMEOUT_MS % 1000) * 1000};
	int rc, saved = 0;

	memset(c, 0, sizeof *c);
	c->fd = -1;
	c->sink = s;
	hints.ai_socktype = s->udp ? SOCK_DGRAM : SOCK_STREAM;
	hints.ai_flags = AI_ADDRCONFIG;
	rc = getaddrinfo(s->host, s->port, &hints, &res);
	if (rc != 0)
		return al_err_set(err, AL_EENV, "%s: %s", s->target, gai_strerror(rc));
	for (ai = res; ai != NULL && c->fd < 0; ai = ai->ai_next) {
		struct pollfd p;
		int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK,
		                ai->ai_protocol), soerr = 0, ok;
		socklen_t sl = sizeof soerr;
		if (fd < 0) {
			saved = errno;
			continue;
		}
		ok = connect(fd, ai->ai_addr, ai->ai_addrlen) == 0;
		if (!ok && errno == EINPROGRESS) {
			p.fd = fd;
			p.events = POLLOUT;
			p.revents = 0;
			if (poll(&p, 1, CONN_TIMEOUT_MS) <= 0)
				soerr = ETIMEDOUT;
			else if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) < 0)
				soerr = errno;
			ok = soerr == 0;
		} else if (!ok) {
			soerr = errno;
		}
		/* from now on blocking, each wait bounded */
		if (ok && (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK) < 0 ||
		           setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv) < 0 ||
		           setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) < 0)) {
			ok = 0;
			soerr = errno;
		}
		if (ok) {
			c->fd = fd;
			break;
		}
		saved = soerr;
		close(fd);
	}
	freeaddrinfo(res);
	if (c->fd < 0)
		return al_err_set(err, AL_EENV, "%s: %s", s->target, strerror(saved ? saved : EIO));
	if (s->tls && tls_start(c, err) < 0) {
		conn_close(c);
		return -1;
	}
	return 0;
}

int conn_send(struct sink_conn *c, const char *p, size_t n, int64_t deadline_us,
              struct al_err *err)
{
	char why[256];

	while (n > 0) {
		ssize_t w;
		if (deadline_us > 0 && al_now_us() > deadline_us) {
			errno = ETIMEDOUT;
			return al_err_set(err, AL_EENV, "%s: out of time", c->sink->target);
		}
		if (c->ssl != NULL) {
			int k;
			errno = 0;
			k = SSL_write(c->ssl, p, n > (1u << 30) ? 1 << 30 : (int)n);
			if (k <= 0)
				return al_err_set(err, AL_EENV, "%s: TLS: %s", c->sink->target,
				                  tls_why(c, why, sizeof why));
			w = k;
		} else {
			w = send(c->fd, p, n, MSG_NOSIGNAL);
			if (w < 0 && errno == EINTR)
				continue;
			if (w < 0) {
				if (errno == EAGAIN || errno == EWOULDBLOCK)
					errno = ETIMEDOUT;
				return al_err_sys(err, "%s", c->sink->target);
			}
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

int conn_finish(struct sink_conn *c, struct al_err *err)
{
	char buf[256], why[256];
	int ret = 0;

	if (c->sink->udp) {
		conn_close(c);
		return 0;
	}
	if (c->ssl != NULL) {
		/* our close_notify, then the collector's (or its FIN) */
		int r = SSL_shutdown(c->ssl);
		while (r == 0) {
			int k;
			errno = 0;
			k = SSL_read(c->ssl, buf, sizeof buf);
			if (k > 0)
				continue;
			switch (SSL_get_error(c->ssl, k)) {
			case SSL_ERROR_ZERO_RETURN: r = 1; break;
			case SSL_ERROR_SYSCALL:
				if (ERR_peek_error() == 0 && errno == 0) {
					r = 1; /* its FIN: it read everything */
					break;
				}
				/* fall through */
			default:
				r = -1;
			}
		}
		if (r < 0)
			ret = al_err_set(err, AL_EENV, "%s: TLS: %s (the collector did not confirm the batch)",
			                 c->sink->target, tls_why(c, why, sizeof why));
	} else if (shutdown(c->fd, SHUT_WR) < 0) {
		ret = al_err_sys(err, "%s", c->sink->target);
	} else {
		for (;;) {
			ssize_t n = recv(c->fd, buf, sizeof buf, 0);
			if (n == 0)
				break;
			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0) {
				if (errno == EAGAIN || errno == EWOULDBLOCK)
					errno = ETIMEDOUT;
				ret = al_err_set(err, AL_EENV, "%s: %s (the collector did not confirm the batch)",
				                 c->sink->target, strerror(errno));
				break;
			}
		}
	}
	conn_close(c);
	return ret;
}

void conn_close(struct sink_conn *c)
{
	if (c->ssl != NULL)
		SSL_free(c->ssl);
	if (c->ctx != NULL)
		SSL_CTX_free(c->ctx);
	if (c->fd >= 0)
		close(c->fd);
	c->ssl = NULL;
	c->ctx = NULL;
	c->fd = -1;
}
