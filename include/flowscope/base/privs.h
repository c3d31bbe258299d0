/* Giving up privileges once they are no longer needed: the binaries keep, of root's
 * capabilities, only those their running (not their start) needs, in the effective, permitted
 * and bounding sets, with no ambient ones and no_new_privs (nothing they exec can regain any). */
#ifndef FLOWSCOPE_BASE_PRIVS_H
#define FLOWSCOPE_BASE_PRIVS_H

#include <stddef.h>
#include <stdint.h>
#include <linux/capability.h> /* the capability numbers: CAP_BPF, ... */

#include "flowscope/base/errmsg.h"

/* Keeps the n capabilities keep[] and drops every other one. 0, or a negative errno with e
 * set. Capabilities this process does not hold stay dropped (a kept one it lacks is no error). */
int privs_keep_only(const int *keep, size_t n, struct errmsg *e);

/* The names of caps (bitmask of capability numbers), comma-separated ("CAP_BPF,CAP_NET_ADMIN";
 * "none"), into out. */
void privs_names(uint64_t caps, char *out, size_t len);

/* The capabilities this process holds now: effective and bounding sets. */
int privs_current(uint64_t *effective, uint64_t *bounding);

#endif /* FLOWSCOPE_BASE_PRIVS_H */
