/* TLS contexts (OpenSSL) as every TLS user of Flowscope sets them up: TLS 1.2 or later, the
 * peer's certificate verified, optional ALPN, optional client certificates. */
#ifndef FLOWSCOPE_BASE_TLS_H
#define FLOWSCOPE_BASE_TLS_H

#include <openssl/ssl.h>

#include "flowscope/base/errmsg.h"

/* A server: certificate chain and key (PEM, must match), and with client_ca every client must
 * present a certificate signed by it (mTLS). alpn: the one protocol accepted (e.g. "h2"), or
 * NULL. Returns a context or NULL with the reason in e. */
SSL_CTX *tls_server_ctx(const char *cert, const char *key, const char *client_ca, const char *alpn,
			struct errmsg *e);

/* A client: the server is verified against ca (PEM bundle), or the system's CAs when ca is
 * NULL; cert and key (both or neither) are presented when the server asks. alpn as above. */
SSL_CTX *tls_client_ctx(const char *ca, const char *cert, const char *key, const char *alpn,
			struct errmsg *e);

/* The name the server's certificate must carry: an IP address is matched against IP SANs,
 * anything else against DNS names (and sent as SNI). Returns 0 or -EINVAL. */
int tls_set_peer_name(SSL *ssl, const char *name);

/* OpenSSL's latest error as text (for messages), "" when it has none. */
const char *tls_error_text(void);

#endif /* FLOWSCOPE_BASE_TLS_H */
