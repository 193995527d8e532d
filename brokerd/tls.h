/* SPDX-License-Identifier: MIT */
/*
 * TLS for TCP listeners, through OpenSSL: one server context per listener,
 * built at start-up from its "tls" settings (ipc-brokerd.json(5)), and
 * what a connection proves with it: the subject CN of a client certificate
 * the configured CAs signed, or a token whose SHA-256 is configured.
 *
 * Every context asks for TLS 1.2 at least (1.3 when the client offers it),
 * refuses renegotiation, issues no session tickets (each connection
 * authenticates in full) and, for "auth": "certificate", requires a client
 * certificate that verifies against client_ca.
 *
 * Contexts are reference-counted: the listener holds one, and so does
 * each connection's SSL object (OpenSSL's own count), so a listener may go
 * away before its connections.
 */
#pragma once

#include <stddef.h>

#include "config.h"
#include "identity.h"

struct ssl_st;
struct tls_server;

/*
 * tls_server_new() - load the certificate, key and client CAs @t names.
 * @where: what errors start with, e.g. "/etc/x.json: listen.tcp[0].tls";
 *         the key path and the file follow ("...tls.key: cannot load
 *         /etc/k.pem: ..."), as for every configuration error.
 * @errbuf: receives the message on failure.
 * Return: 0; -EINVAL (a file cannot be read or is not what its key says;
 * errbuf tells which and why); -ENOMEM.
 */
int tls_server_new(const struct config_tls *t, const char *where, char *errbuf, size_t errlen,
                   struct tls_server **ret);

/* Takes a reference. Return: @s. */
struct tls_server *tls_server_ref(struct tls_server *s);

/* Drops a reference; accepts NULL. Return: NULL. */
struct tls_server *tls_server_unref(struct tls_server *s);

/* How the listener's clients authenticate. */
enum config_tls_auth tls_server_auth(const struct tls_server *s);

/* A server-side SSL object for one accepted connection. Return: NULL when out of memory. */
struct ssl_st *tls_server_ssl_new(struct tls_server *s);

/*
 * tls_server_token_name() - the configured name of @token: its SHA-256 is
 * compared with every configured hash in constant time (CRYPTO_memcmp),
 * all of them, whichever matches.
 * Return: the name (owned by @s), or NULL when no hash matches.
 */
const char *tls_server_token_name(const struct tls_server *s, const char *token, size_t len);

/*
 * tls_peer_identity() - the REMOTE identity a verified client certificate
 * proves: its subject CN, which must be the only CN, valid UTF-8 without
 * NUL and at most IDENTITY_NAME_MAX bytes.
 * @ret_why: on failure, a reason for the log.
 * Return: 0 (@ret set); -EACCES.
 */
int tls_peer_identity(struct ssl_st *ssl, struct identity *ret, const char **ret_why);

/*
 * tls_describe_error() - words for a failed handshake or TLS error: the
 * OpenSSL reason of @err (an ERR_get_error() code; 0 for none) and, when
 * certificate verification failed, why.
 */
void tls_describe_error(struct ssl_st *ssl, unsigned long err, char *buf, size_t len);
