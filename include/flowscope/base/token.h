/* API tokens: the bearer token Flowscope's servers may require of HTTP and gRPC clients, read
 * from a file or the environment (never the command line, where any user can read it in
 * /proc), generated when none exists, compared in constant time; and the runtime directory
 * where servers keep their token file and unix socket, which clients look in by default. */
#ifndef FLOWSCOPE_BASE_TOKEN_H
#define FLOWSCOPE_BASE_TOKEN_H

#include <stdbool.h>
#include <stddef.h>

#include "flowscope/base/errmsg.h"

/* Longest token accepted (a generated one is 64 hex digits). */
#define TOKEN_MAX 256
/* The environment variable holding a token, for servers and clients alike. */
#define TOKEN_ENV "FLOWSCOPE_TOKEN"
/* The runtime directory: $FLOWSCOPE_RUNTIME_DIR, else this. */
#define RUNTIME_DIR_ENV "FLOWSCOPE_RUNTIME_DIR"
#define RUNTIME_DIR_DEFAULT "/run/flowscope"
/* The relay's own under systemd (dist/flowrelay.service: a dynamic user cannot write flowd's),
 * where clients also look for RELAY_SOCKET_NAME when $FLOWSCOPE_RUNTIME_DIR is not set. */
#define RELAY_RUNTIME_DIR_DEFAULT "/run/flowscope-relay"
/* What a runtime directory holds: the token every server on the host shares (root-only),
 * flowd's and flowrelay's gRPC unix sockets. */
#define TOKEN_FILE_NAME "token"
#define FLOWD_SOCKET_NAME "flowd.sock"
#define RELAY_SOCKET_NAME "relay.sock"

/* $FLOWSCOPE_RUNTIME_DIR when set and not empty, else RUNTIME_DIR_DEFAULT. */
const char *runtime_dir(void);

/* Whether t (len bytes) can be a token: 1 to TOKEN_MAX - 1 of the characters below. */
bool token_valid(const char *t, size_t len);

/* Reads the token in path: its first line without surrounding white space, letters, digits
 * and -._~+/= (it goes into headers, cookies and URLs as it is), at most TOKEN_MAX - 1 of them.
 * Returns 0, -ENOENT when the file does not exist, or a negative errno with e saying what is wrong
 * with it. */
int token_read_file(const char *path, char *out, size_t outlen, struct errmsg *e);

/* Whether the file at path may hold a token: owned by root or by this user, neither writable
 * by group or others nor readable by others. Returns 0 or -EPERM with e saying how to fix it. */
int token_file_check(const char *path, struct errmsg *e);

/* A new random token (64 hex digits of getrandom(2)) into out (at least 65 bytes). Returns 0 or
 * a negative errno. */
int token_generate(char *out, size_t outlen);

/* Creates path holding token and a newline, mode 0600, atomically and only if it does not exist
 * yet (two servers starting at once end up sharing one token). Returns 0, -EEXIST, or a negative
 * errno with e set. */
int token_write_new(const char *path, const char *token, struct errmsg *e);

/* Whether got (len bytes, not NUL-terminated) is token, in time that depends on len only. */
bool token_equal(const char *token, const char *got, size_t len);

/* Whether an Authorization header's value (len bytes) is "Bearer <token>" (the scheme in any
 * case). */
bool token_bearer_matches(const char *token, const char *value, size_t len);

#endif /* FLOWSCOPE_BASE_TOKEN_H */
