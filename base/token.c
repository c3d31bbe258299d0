/* API tokens and the runtime directory (see include/flowscope/base/token.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>
#include <openssl/crypto.h>

#include "flowscope/base/token.h"

const char *runtime_dir(void)
{
	const char *d = getenv(RUNTIME_DIR_ENV);

	return d && d[0] ? d : RUNTIME_DIR_DEFAULT;
}

/* Letters, digits and base64's and URLs' safe marks: a token goes into headers, cookies and
 * URLs as it is. */
static bool token_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       (c && strchr("-._~+/=", c));
}

bool token_valid(const char *t, size_t len)
{
	if (!len || len >= TOKEN_MAX)
		return false;
	for (size_t i = 0; i < len; i++)
		if (!token_char(t[i]))
			return false;
	return true;
}

int token_read_file(const char *path, char *out, size_t outlen, struct errmsg *e)
{
	char buf[TOKEN_MAX + 2];
	size_t n = 0, start = 0, end;
	ssize_t r;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);

	if (fd < 0)
		return errmsg_set(e, -errno, "cannot read the token file %s: %s", path,
				  strerror(errno));
	while (n < sizeof(buf) && (r = read(fd, buf + n, sizeof(buf) - n)) > 0)
		n += (size_t)r;
	close(fd);
	while (start < n && (buf[start] == ' ' || buf[start] == '\t'))
		start++;
	for (end = start; end < n && buf[end] != '\n' && buf[end] != '\r'; end++)
		;
	while (end > start && (buf[end - 1] == ' ' || buf[end - 1] == '\t'))
		end--;
	if (!token_valid(buf + start, end - start) || end - start >= outlen)
		goto bad;
	memcpy(out, buf + start, end - start);
	out[end - start] = '\0';
	return 0;
bad:
	return errmsg_set(e, -EINVAL,
			  "the token file %s does not hold a token: its first line must be 1 to "
			  "%d letters, digits or any of -._~+/=",
			  path, TOKEN_MAX - 1);
}

int token_file_check(const char *path, struct errmsg *e)
{
	struct stat st;

	if (stat(path, &st))
		return errmsg_set(e, -errno, "cannot read the token file %s: %s", path,
				  strerror(errno));
	if ((st.st_uid != 0 && st.st_uid != geteuid()) || (st.st_mode & 0026))
		return errmsg_set(e, -EPERM,
				  "the token file %s can be read or changed by other users (mode "
				  "%04o, owner uid %u): chmod 600 it and chown it to root",
				  path, (unsigned int)(st.st_mode & 07777),
				  (unsigned int)st.st_uid);
	return 0;
}

int token_generate(char *out, size_t outlen)
{
	static const char hex[] = "0123456789abcdef";
	unsigned char raw[32];
	size_t got = 0;

	if (outlen < 2 * sizeof(raw) + 1)
		return -ENOSPC;
	while (got < sizeof(raw)) {
		ssize_t r = getrandom(raw + got, sizeof(raw) - got, 0);

		if (r < 0 && errno != EINTR)
			return -errno;
		got += r > 0 ? (size_t)r : 0;
	}
	for (size_t i = 0; i < sizeof(raw); i++) {
		out[2 * i] = hex[raw[i] >> 4];
		out[2 * i + 1] = hex[raw[i] & 15];
	}
	out[2 * sizeof(raw)] = '\0';
	OPENSSL_cleanse(raw, sizeof(raw));
	return 0;
}

int token_write_new(const char *path, const char *token, struct errmsg *e)
{
	char tmp[4200];
	size_t len = strlen(token);
	int fd, err = 0;

	if (snprintf(tmp, sizeof(tmp), "%s.%ld.tmp", path, (long)getpid()) >= (int)sizeof(tmp))
		return errmsg_set(e, -ENAMETOOLONG, "token file path too long: %s", path);
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return errmsg_set(e, -errno, "cannot create the token file %s: %s", tmp,
				  strerror(errno));
	if (write(fd, token, len) != (ssize_t)len || write(fd, "\n", 1) != 1 || fsync(fd))
		err = -errno ?: -EIO;
	if (close(fd) && !err)
		err = -errno;
	/* link() fails if path exists: whoever came first wins, and the others read theirs. */
	if (!err && link(tmp, path))
		err = -errno;
	unlink(tmp);
	if (err && err != -EEXIST)
		return errmsg_set(e, err, "cannot write the token file %s: %s", path,
				  strerror(-err));
	return err;
}

bool token_equal(const char *token, const char *got, size_t len)
{
	return strlen(token) == len && CRYPTO_memcmp(token, got, len) == 0;
}

bool token_bearer_matches(const char *token, const char *value, size_t len)
{
	while (len && (*value == ' ' || *value == '\t'))
		value++, len--;
	if (len < 7 || strncasecmp(value, "Bearer ", 7))
		return false;
	value += 7;
	len -= 7;
	while (len && (*value == ' ' || *value == '\t'))
		value++, len--;
	while (len && (value[len - 1] == ' ' || value[len - 1] == '\t'))
		len--;
	return token_equal(token, value, len);
}
