/* TLS context setup (see include/flowscope/base/tls.h). */
#include <arpa/inet.h>
#include <errno.h>
#include <string.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "flowscope/base/tls.h"

const char *tls_error_text(void)
{
	static __thread char text[256]; /* per thread: the relay calls from many */
	unsigned long e = ERR_peek_last_error();

	text[0] = '\0';
	if (e)
		ERR_error_string_n(e, text, sizeof(text));
	ERR_clear_error();
	return text;
}

static int select_alpn(SSL *ssl, const unsigned char **out, unsigned char *outlen,
		       const unsigned char *in, unsigned int inlen, void *arg)
{
	const char *want = arg;
	unsigned int i, n = (unsigned int)strlen(want);

	(void)ssl;
	/* The client's list is length-prefixed protocol names; accept only ours. */
	for (i = 0; i < inlen; i += 1u + in[i]) {
		if (in[i] == n && i + 1 + n <= inlen && !memcmp(in + i + 1, want, n)) {
			*out = in + i + 1;
			*outlen = (unsigned char)n;
			return SSL_TLSEXT_ERR_OK;
		}
	}
	return SSL_TLSEXT_ERR_ALERT_FATAL;
}

static int load_pair(SSL_CTX *ctx, const char *cert, const char *key, struct errmsg *e)
{
	if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1)
		return errmsg_set(e, -EINVAL, "cannot load the certificate chain %s: %s", cert,
				  tls_error_text());
	if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1 ||
	    SSL_CTX_check_private_key(ctx) != 1)
		return errmsg_set(e, -EINVAL,
				  "cannot load the private key %s, or it does not match %s: %s",
				  key, cert, tls_error_text());
	return 0;
}

SSL_CTX *tls_server_ctx(const char *cert, const char *key, const char *client_ca, const char *alpn,
			struct errmsg *e)
{
	SSL_CTX *ctx;

	if (!cert || !key) {
		errmsg_set(e, -EINVAL, "a TLS server needs both a certificate and its key");
		return NULL;
	}
	ctx = SSL_CTX_new(TLS_server_method());
	if (!ctx) {
		errmsg_set(e, -ENOMEM, "TLS: %s", tls_error_text());
		return NULL;
	}
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	if (load_pair(ctx, cert, key, e))
		goto fail;
	if (client_ca) {
		if (SSL_CTX_load_verify_locations(ctx, client_ca, NULL) != 1) {
			errmsg_set(e, -EINVAL, "cannot load the client CA bundle %s: %s", client_ca,
				   tls_error_text());
			goto fail;
		}
		SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
	}
	if (alpn)
		SSL_CTX_set_alpn_select_cb(ctx, select_alpn, (void *)alpn);
	return ctx;
fail:
	SSL_CTX_free(ctx);
	return NULL;
}

SSL_CTX *tls_client_ctx(const char *ca, const char *cert, const char *key, const char *alpn,
			struct errmsg *e)
{
	unsigned char proto[256];
	SSL_CTX *ctx;

	if (!cert != !key) {
		errmsg_set(e, -EINVAL,
			   "a client certificate needs its key and a key its certificate");
		return NULL;
	}
	ctx = SSL_CTX_new(TLS_client_method());
	if (!ctx) {
		errmsg_set(e, -ENOMEM, "TLS: %s", tls_error_text());
		return NULL;
	}
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	if (ca ? SSL_CTX_load_verify_locations(ctx, ca, NULL) != 1
	       : SSL_CTX_set_default_verify_paths(ctx) != 1) {
		errmsg_set(e, -EINVAL, "cannot load the CA bundle %s: %s",
			   ca ? ca : "(system default)", tls_error_text());
		goto fail;
	}
	if (cert && load_pair(ctx, cert, key, e))
		goto fail;
	if (alpn) {
		size_t n = strlen(alpn);

		proto[0] = (unsigned char)n;
		memcpy(proto + 1, alpn, n);
		SSL_CTX_set_alpn_protos(ctx, proto, (unsigned int)n + 1);
	}
	return ctx;
fail:
	SSL_CTX_free(ctx);
	return NULL;
}

int tls_set_peer_name(SSL *ssl, const char *name)
{
	X509_VERIFY_PARAM *vp = SSL_get0_param(ssl);
	unsigned char ip[16];

	X509_VERIFY_PARAM_set_hostflags(vp, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
	if (inet_pton(AF_INET, name, ip) == 1 || inet_pton(AF_INET6, name, ip) == 1)
		return X509_VERIFY_PARAM_set1_ip_asc(vp, name) == 1 ? 0 : -EINVAL;
	if (X509_VERIFY_PARAM_set1_host(vp, name, 0) != 1)
		return -EINVAL;
	SSL_set_tlsext_host_name(ssl, name); /* SNI carries names only */
	return 0;
}
