/* Unit tests of the identity file loader (identity.c): YAML and JSON forms, label forms,
 * longest-prefix lookup over IPv4 and IPv6, every kind of error with its file:line, workloads,
 * numeric identities (one per label set, stable, explicit ones kept; host and world for
 * addresses not in the file), and a large generated file. Files are written to a mkdtemp
 * directory removed at the end. */
#include <arpa/inet.h>
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <ifaddrs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "flowscope/enrich/identities.h"
#include "flowscope/enrich/identity.h"

static char dir[64];

/* ---- helpers -------------------------------------------------------------------------------- */

static void write_file(char *path, size_t size, const char *name, const char *content)
{
	FILE *f;

	snprintf(path, size, "%s/%s", dir, name);
	f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	ck_assert_uint_eq(fwrite(content, 1, strlen(content), f), strlen(content));
	ck_assert_int_eq(fclose(f), 0);
}

static struct identity_table *load_ok(const char *name, const char *content)
{
	struct identity_table *t = NULL;
	char path[256];
	struct errmsg err = {""};
	int rc;

	write_file(path, sizeof(path), name, content);
	rc = identity_table_load(path, &t, &err);
	ck_assert_msg(rc == 0, "%s: rc %d: %s", name, rc, err.text);
	ck_assert_ptr_nonnull(t);
	return t;
}

/* Loading content must fail with -EINVAL and an err starting with exactly "<path>:<line>: " and
 * containing what. */
static void expect_error(const char *content, size_t line, const char *what)
{
	struct identity_table *t = (struct identity_table *)&t;
	char path[256], prefix[300];
	struct errmsg err = {""};
	int rc;

	write_file(path, sizeof(path), "bad.yaml", content);
	rc = identity_table_load(path, &t, &err);
	ck_assert_msg(rc == -EINVAL, "rc %d (%s) for:\n%s", rc, err.text, content);
	ck_assert_ptr_null(t);
	snprintf(prefix, sizeof(prefix), "%s:%zu: ", path, line);
	ck_assert_msg(!strncmp(err.text, prefix, strlen(prefix)),
		      "expected '%s' at the start of '%s'", prefix, err.text);
	ck_assert_msg(strstr(err.text + strlen(prefix), what), "expected '%s' in '%s'", what,
		      err.text);
}

static const struct identity *look(const struct identity_table *t, const char *ip)
{
	uint8_t a[16];

	memset(a, 0, sizeof(a));
	if (inet_pton(AF_INET, ip, a) == 1)
		return identity_lookup(t, 4, a);
	ck_assert_int_eq(inet_pton(AF_INET6, ip, a), 1);
	return identity_lookup(t, 6, a);
}

/* Namespace of the identity ip maps to, or "-" when nothing matches. */
static const char *ns_of(const struct identity_table *t, const char *ip)
{
	const struct identity *id = look(t, ip);

	return id ? id->ns : "-";
}

static void assert_same_identity(const struct identity *a, const struct identity *b)
{
	size_t i;

	ck_assert_int_eq(a == NULL, b == NULL);
	if (!a)
		return;
	ck_assert_str_eq(a->ns, b->ns);
	ck_assert_str_eq(a->pod, b->pod);
	ck_assert_str_eq(a->service, b->service);
	ck_assert_uint_eq(a->n_labels, b->n_labels);
	for (i = 0; i < a->n_labels; i++)
		ck_assert_str_eq(a->labels[i], b->labels[i]);
}

/* ---- forms ---------------------------------------------------------------------------------- */

START_TEST(yaml_and_json_give_the_same_table)
{
	static const char *yaml = "# who is who in the shop\n"
				  "identities:\n"
				  "  - cidr: 10.200.2.0/24\n"
				  "    namespace: shop\n"
				  "    pod: web-7d9f\n"
				  "    service: web\n"
				  "    labels:\n"
				  "      tier: front\n"
				  "      app: web\n"
				  "  - ip: fd00:200:2::2\n"
				  "    namespace: shop\n"
				  "    service: web\n"
				  "    labels: [app=web, zone=a]\n"
				  "  - cidr: 0.0.0.0/0\n"
				  "    namespace: world\n"
				  "  - ip: 10.200.2.2\n"
				  "    namespace: 'shop'\n"
				  "    pod: \"web-1\"\n"
				  "    labels:\n"
				  "      - version=2\n";
	static const char *json =
		"{\"identities\": [\n"
		"  {\"cidr\": \"10.200.2.0/24\", \"namespace\": \"shop\", \"pod\": \"web-7d9f\",\n"
		"   \"service\": \"web\", \"labels\": {\"tier\": \"front\", \"app\": \"web\"}},\n"
		"  {\"ip\": \"fd00:200:2::2\", \"namespace\": \"shop\", \"service\": \"web\",\n"
		"   \"labels\": [\"app=web\", \"zone=a\"]},\n"
		"  {\"cidr\": \"0.0.0.0/0\", \"namespace\": \"world\"},\n"
		"  {\"ip\": \"10.200.2.2\", \"namespace\": \"shop\", \"pod\": \"web-1\",\n"
		"   \"labels\": [\"version=2\"]}\n"
		"]}\n";
	static const char *probes[] = {"10.200.2.1",	   "10.200.2.2",    "10.200.3.1",
				       "8.8.8.8",	   "fd00:200:2::2", "fd00:200:2::3",
				       "::ffff:10.200.2.1"};
	struct identity_table *y = load_ok("ids.yaml", yaml), *j = load_ok("ids.json", json);
	const struct identity *id;
	size_t i;

	ck_assert_uint_eq(identity_table_size(y), 4);
	ck_assert_uint_eq(identity_table_size(j), 4);
	for (i = 0; i < sizeof(probes) / sizeof(probes[0]); i++)
		assert_same_identity(look(y, probes[i]), look(j, probes[i]));

	id = look(y, "10.200.2.77");
	ck_assert_ptr_nonnull(id);
	ck_assert_str_eq(id->ns, "shop");
	ck_assert_str_eq(id->pod, "web-7d9f");
	ck_assert_str_eq(id->service, "web");
	ck_assert_uint_eq(id->n_labels, 2);
	ck_assert_str_eq(id->labels[0], "app=web");
	ck_assert_str_eq(id->labels[1], "tier=front");
	id = look(y, "10.200.2.2");
	ck_assert_str_eq(id->pod, "web-1");
	ck_assert_str_eq(id->service, "");
	ck_assert_uint_eq(id->n_labels, 1);
	ck_assert_str_eq(id->labels[0], "version=2");
	id = look(j, "fd00:200:2::2");
	ck_assert_str_eq(id->ns, "shop");
	ck_assert_str_eq(id->pod, "");
	ck_assert_uint_eq(id->n_labels, 2);
	ck_assert_str_eq(ns_of(j, "8.8.8.8"), "world");
	ck_assert_str_eq(ns_of(j, "fd00:200:2::3"), "-");
	identity_table_free(y);
	identity_table_free(j);
}
END_TEST

START_TEST(labels_mapping_and_list_are_sorted)
{
	struct identity_table *t =
		load_ok("labels.yaml", "identities:\n"
				       "  - ip: 10.0.0.1\n"
				       "    labels:\n"
				       "      tier: front\n"
				       "      app: web\n"
				       "      app.kubernetes.io/name: web\n"
				       "      empty: \"\"\n"
				       "  - ip: 10.0.0.2\n"
				       "    labels: [zone=b, app=web, env=prod, \"k=v=w\"]\n"
				       "  - ip: 10.0.0.3\n"
				       "    labels: []\n"
				       "  - ip: 10.0.0.4\n");
	const struct identity *id;

	id = look(t, "10.0.0.1");
	ck_assert_uint_eq(id->n_labels, 4);
	ck_assert_str_eq(id->labels[0], "app.kubernetes.io/name=web");
	ck_assert_str_eq(id->labels[1], "app=web");
	ck_assert_str_eq(id->labels[2], "empty=");
	ck_assert_str_eq(id->labels[3], "tier=front");
	ck_assert_str_eq(id->ns, "");
	id = look(t, "10.0.0.2");
	ck_assert_uint_eq(id->n_labels, 4);
	ck_assert_str_eq(id->labels[0], "app=web");
	ck_assert_str_eq(id->labels[1], "env=prod");
	ck_assert_str_eq(id->labels[2], "k=v=w");
	ck_assert_str_eq(id->labels[3], "zone=b");
	ck_assert_uint_eq(look(t, "10.0.0.3")->n_labels, 0);
	ck_assert_ptr_null(look(t, "10.0.0.3")->labels);
	ck_assert_uint_eq(look(t, "10.0.0.4")->n_labels, 0);
	identity_table_free(t);
}
END_TEST

START_TEST(empty_files_are_empty_tables)
{
	static const char *empties[] = {
		"",   "identities: []\n",    "# nothing yet\n", "identities:\n", "---\n",
		"{}", "{\"identities\": []}"};
	struct identity_table *t;
	size_t i;

	for (i = 0; i < sizeof(empties) / sizeof(empties[0]); i++) {
		t = load_ok("empty.yaml", empties[i]);
		ck_assert_uint_eq(identity_table_size(t), 0);
		ck_assert_ptr_null(look(t, "10.0.0.1"));
		ck_assert_ptr_null(look(t, "::1"));
		identity_table_free(t);
	}
	ck_assert_uint_eq(identity_table_size(NULL), 0);
	ck_assert_ptr_null(look(NULL, "10.0.0.1"));
	identity_table_free(NULL);
}
END_TEST

/* ---- lookup --------------------------------------------------------------------------------- */

START_TEST(longest_prefix_wins)
{
	struct identity_table *t =
		load_ok("lpm.yaml", "identities:\n"
				    "  - {cidr: 10.0.0.0/8, namespace: eight}\n"
				    "  - {cidr: 10.1.0.0/16, namespace: sixteen}\n"
				    "  - {ip: 10.1.2.3, namespace: host}\n"
				    "  - {cidr: 10.1.2.0/25, namespace: twentyfive}\n");
	uint8_t a[16];

	ck_assert_uint_eq(identity_table_size(t), 4);
	ck_assert_str_eq(ns_of(t, "10.1.2.3"), "host");
	ck_assert_str_eq(ns_of(t, "10.1.2.4"), "twentyfive");
	ck_assert_str_eq(ns_of(t, "10.1.2.127"), "twentyfive");
	ck_assert_str_eq(ns_of(t, "10.1.2.128"), "sixteen");
	ck_assert_str_eq(ns_of(t, "10.1.3.3"), "sixteen");
	ck_assert_str_eq(ns_of(t, "10.1.255.255"), "sixteen");
	ck_assert_str_eq(ns_of(t, "10.2.0.1"), "eight");
	ck_assert_str_eq(ns_of(t, "10.0.0.0"), "eight");
	ck_assert_str_eq(ns_of(t, "11.0.0.1"), "-");
	ck_assert_str_eq(ns_of(t, "9.255.255.255"), "-");

	/* Only the first 4 bytes of an IPv4 address count. */
	memset(a, 0xee, sizeof(a));
	inet_pton(AF_INET, "10.1.2.3", a);
	ck_assert_str_eq(identity_lookup(t, 4, a)->ns, "host");
	ck_assert_ptr_null(identity_lookup(t, 5, a));
	ck_assert_ptr_null(identity_lookup(t, 0, a));
	identity_table_free(t);
}
END_TEST

START_TEST(ipv6_prefixes_match_longest_first)
{
	struct identity_table *t =
		load_ok("v6.yaml", "identities:\n"
				   "  - cidr: fd00::/8\n"
				   "    namespace: ula\n"
				   "  - cidr: fd00:200::/32\n"
				   "    namespace: cluster\n"
				   "  - cidr: fd00:200:2::/64\n"
				   "    namespace: shop\n"
				   "  - ip: fd00:200:2::2\n"
				   "    namespace: web\n"
				   "  - cidr: \"fd00:200:2:0:8000::/65\"\n"
				   "    namespace: upper\n"
				   "  - {ip: \"2001:db8::1\", namespace: doc}\n");

	ck_assert_uint_eq(identity_table_size(t), 6);
	ck_assert_str_eq(ns_of(t, "fd00:200:2::2"), "web");
	ck_assert_str_eq(ns_of(t, "fd00:200:2::3"), "shop");
	ck_assert_str_eq(ns_of(t, "fd00:200:2:0:7fff::1"), "shop");
	ck_assert_str_eq(ns_of(t, "fd00:200:2:0:8000::1"), "upper");
	ck_assert_str_eq(ns_of(t, "fd00:200:2:0:ffff::1"), "upper");
	ck_assert_str_eq(ns_of(t, "fd00:200:3::1"), "cluster");
	ck_assert_str_eq(ns_of(t, "fd99::1"), "ula");
	ck_assert_str_eq(ns_of(t, "2001:db8::1"), "doc");
	ck_assert_str_eq(ns_of(t, "2001:db8::2"), "-");
	ck_assert_str_eq(ns_of(t, "fe80::1"), "-");
	ck_assert_str_eq(ns_of(t, "::1"), "-");
	identity_table_free(t);
}
END_TEST

START_TEST(families_never_match_each_other)
{
	struct identity_table *t = load_ok("fam.yaml", "identities:\n"
						       "  - cidr: ::/0\n"
						       "    namespace: any6\n"
						       "  - cidr: 10.0.0.0/8\n"
						       "    namespace: ten\n"
						       "  - ip: 192.168.1.1\n"
						       "    namespace: host4\n");
	struct identity_table *v6 =
		load_ok("v6only.yaml", "identities:\n"
				       "  - {cidr: \"::/0\", namespace: any6}\n"
				       "  - {cidr: \"a00::/8\", namespace: a}\n");

	ck_assert_str_eq(ns_of(t, "10.0.0.1"), "ten");
	ck_assert_str_eq(ns_of(t, "192.168.1.1"), "host4");
	ck_assert_str_eq(ns_of(t, "11.0.0.1"), "-");  /* ::/0 is no IPv4 default route */
	ck_assert_str_eq(ns_of(t, "a00::1"), "any6"); /* same first byte as 10/8 */
	ck_assert_str_eq(ns_of(t, "c0a8:101::"), "any6");
	ck_assert_str_eq(ns_of(t, "::ffff:10.0.0.1"), "any6");
	ck_assert_str_eq(ns_of(v6, "10.0.0.1"), "-");
	ck_assert_str_eq(ns_of(v6, "0.0.0.0"), "-");
	ck_assert_str_eq(ns_of(v6, "a00::1"), "a");
	identity_table_free(t);
	identity_table_free(v6);
}
END_TEST

/* ---- errors --------------------------------------------------------------------------------- */

START_TEST(unreadable_files_give_errno)
{
	struct identity_table *t = (struct identity_table *)&t;
	char path[256];
	struct errmsg err = {""};

	snprintf(path, sizeof(path), "%s/no-such-file.yaml", dir);
	ck_assert_int_eq(identity_table_load(path, &t, &err), -ENOENT);
	ck_assert_ptr_null(t);
	ck_assert_msg(!strncmp(err.text, path, strlen(path)), "file not named in '%s'", err.text);
	ck_assert_ptr_nonnull(strstr(err.text, "No such file"));

	if (geteuid() != 0) { /* root reads anything */
		write_file(path, sizeof(path), "secret.yaml", "identities: []\n");
		ck_assert_int_eq(chmod(path, 0), 0);
		ck_assert_int_eq(identity_table_load(path, &t, &err), -EACCES);
		ck_assert_ptr_null(t);
		ck_assert_msg(!strncmp(err.text, path, strlen(path)), "file not named in '%s'",
			      err.text);
	}
	/* No err buffer is fine too. */
	snprintf(path, sizeof(path), "%s/no-such-file.yaml", dir);
	ck_assert_int_eq(identity_table_load(path, &t, NULL), -ENOENT);
}
END_TEST

START_TEST(syntax_errors_give_libyaml_line)
{
	/* Bad indentation: "pod" is neither in the entry nor a new list item. */
	expect_error("identities:\n"
		     "  - cidr: 10.0.0.0/8\n"
		     "    namespace: a\n"
		     "   pod: x\n",
		     4, "syntax error: did not find expected '-' indicator");
	/* An unclosed quote is reported where it opens, not at the end of the file. */
	expect_error("identities:\n"
		     "  - cidr: 10.0.0.0/8\n"
		     "    namespace: \"shop\n"
		     "    pod: x\n",
		     3,
		     "syntax error: found unexpected end of stream while scanning a quoted scalar");
	/* JSON with a missing comma. */
	expect_error("{\"identities\": [\n"
		     "  {\"cidr\": \"10.0.0.0/8\",\n"
		     "   \"namespace\": \"a\"\n"
		     "   \"pod\": \"x\"}]}\n",
		     4, "syntax error: did not find expected ',' or '}'");
	/* Not UTF-8. */
	expect_error("identities:\n"
		     "  - cidr: 10.0.0.0/8\n"
		     "    namespace: \xff\n",
		     3, "syntax error: invalid leading UTF-8 octet");
	expect_error("identities:\n"
		     "  - ip: 10.0.0.1\n"
		     "---\n"
		     "identities: []\n",
		     3, "more than one document");
	expect_error("identities:\n"
		     "  - &web {ip: 10.0.0.1, namespace: a}\n"
		     "  - *web\n",
		     3, "aliases (*web) are not supported");
}
END_TEST

START_TEST(unknown_missing_and_duplicate_keys_are_errors)
{
	expect_error("identities:\n"
		     "  - ip: 10.0.0.1\n"
		     "    namespace: a\n"
		     "version: 2\n",
		     4, "unknown top-level key 'version'");
	expect_error("# ids\n"
		     "identity:\n"
		     "  - ip: 10.0.0.1\n",
		     2, "unknown top-level key 'identity'");
	expect_error("identities:\n"
		     "  - ip: 10.0.0.1\n"
		     "    namespce: a\n",
		     3, "unknown key 'namespce'");
	expect_error("identities:\n"
		     "  - ip: 10.0.0.1\n"
		     "  - namespace: a\n"
		     "    pod: b\n",
		     3, "neither 'cidr' nor 'ip'");
	expect_error("identities:\n"
		     "  - ip: 10.0.0.1\n"
		     "  - {}\n",
		     3, "neither 'cidr' nor 'ip'");
	expect_error("identities:\n"
		     "  - cidr: 10.0.0.0/8\n"
		     "    namespace: a\n"
		     "    ip: 10.0.0.1\n",
		     4, "both 'cidr' and 'ip' given");
	expect_error("identities:\n"
		     "  - ip: 10.0.0.1\n"
		     "    pod: a\n"
		     "    pod: b\n",
		     4, "duplicate key 'pod'");
	expect_error("identities: []\n"
		     "identities: []\n",
		     2, "duplicate key 'identities'");
	expect_error("- ip: 10.0.0.1\n", 1, "must be a mapping with key 'identities'");
	expect_error("identities:\n"
		     "  ip: 10.0.0.1\n",
		     2, "'identities' must be a list, not a mapping");
	expect_error("identities:\n"
		     "  - 10.0.0.1\n",
		     2, "each identity must be a mapping");
	expect_error("{\"identities\": [\n"
		     "  {\"ip\": \"10.0.0.1\",\n"
		     "   \"name\": \"a\"}]}\n",
		     3, "unknown key 'name'");
}
END_TEST

START_TEST(bad_addresses_are_errors)
{
	struct identity_table *t;

	expect_error("identities:\n"
		     "  - namespace: a\n"
		     "    cidr: 10.0.0.0/33\n",
		     3, "invalid cidr '10.0.0.0/33'");
	expect_error("identities:\n"
		     "  - cidr: fd00::/129\n",
		     2, "invalid cidr 'fd00::/129': prefix length must be 0..128");
	expect_error("identities:\n"
		     "  - cidr: 10.0.0.0/\n",
		     2, "invalid cidr '10.0.0.0/'");
	expect_error("identities:\n"
		     "  - cidr: 10.0.0.0/+8\n",
		     2, "invalid cidr '10.0.0.0/+8'");
	expect_error("identities:\n"
		     "  - cidr: 10.0.0.0/8x\n",
		     2, "invalid cidr '10.0.0.0/8x'");
	expect_error("identities:\n"
		     "  - cidr: 10.0.0.0/0008\n",
		     2, "invalid cidr '10.0.0.0/0008'");
	expect_error("identities:\n"
		     "  - cidr: 10.0.0.0\n",
		     2, "invalid cidr '10.0.0.0': no '/'");
	expect_error("identities:\n"
		     "  - cidr: 10.1.2.3/16\n",
		     2, "did you mean 10.1.0.0/16?");
	expect_error("identities:\n"
		     "  - cidr: fd00:200:2::1/64\n",
		     2, "did you mean fd00:200:2::/64?");
	expect_error("identities:\n"
		     "  - ip: 10.0.0.256\n",
		     2, "invalid ip '10.0.0.256': not an IPv4 or IPv6 address");
	expect_error("identities:\n"
		     "  - ip: 10.0.0.1/32\n",
		     2, "invalid ip '10.0.0.1/32': an ip takes no prefix length");
	expect_error("identities:\n"
		     "  - ip: \"fe80::1%eth0\"\n",
		     2, "invalid ip 'fe80::1%eth0'");
	expect_error("identities:\n"
		     "  - ip: \"\"\n",
		     2, "invalid ip ''");
	expect_error("identities:\n"
		     "  - ip: web.shop.svc\n",
		     2, "invalid ip 'web.shop.svc'");

	/* The limits themselves are fine. */
	t = load_ok("edges.yaml", "identities:\n"
				  "  - cidr: 0.0.0.0/0\n"
				  "  - cidr: 10.0.0.1/32\n"
				  "  - cidr: ::/0\n"
				  "  - cidr: fd00::1/128\n");
	ck_assert_uint_eq(identity_table_size(t), 4);
	identity_table_free(t);
}
END_TEST

START_TEST(non_string_and_long_values_are_errors)
{
	char doc[1024], name[200];
	struct identity_table *t;

	expect_error("identities:\n"
		     "  - ip: 10.0.0.1\n"
		     "    namespace: {name: a}\n",
		     3, "'namespace' must be a string, not a mapping");
	expect_error("identities:\n"
		     "  - ip: 10.0.0.1\n"
		     "    pod: [a, b]\n",
		     3, "'pod' must be a string, not a list");
	expect_error("identities:\n"
		     "  - ip: 10.0.0.1\n"
		     "    service: 8080\n",
		     3, "'service' must be a string, not a number; quote it");
	expect_error("identities:\n"
		     "  - ip: 10.0.0.1\n"
		     "    namespace: true\n",
		     3, "'namespace' must be a string, not a boolean");
	expect_error("identities:\n"
		     "  - ip: 10.0.0.1\n"
		     "    namespace:\n"
		     "    pod: a\n",
		     3, "'namespace' has no value");
	expect_error("identities:\n"
		     "  - cidr: [10.0.0.0/8]\n",
		     2, "'cidr' must be a string, not a list");
	expect_error("identities:\n"
		     "  - ip: 10.0.0.1\n"
		     "    labels: app=web\n",
		     3, "'labels' must be a mapping (key: value) or a list");
	expect_error("identities:\n"
		     "  - ip: 10.0.0.1\n"
		     "    labels:\n"
		     "      - app=web\n"
		     "      - tier\n",
		     5, "invalid label 'tier': write it as key=value");
	expect_error("identities:\n"
		     "  - ip: 10.0.0.1\n"
		     "    labels:\n"
		     "      app: web\n"
		     "      version: 2\n",
		     5, "label 'version' must be a string, not a number");
	expect_error("identities:\n"
		     "  - ip: 10.0.0.1\n"
		     "    labels:\n"
		     "      app: {name: web}\n",
		     4, "label 'app' must be a string, not a mapping");
	expect_error("identities:\n"
		     "  - ip: 10.0.0.1\n"
		     "    labels: [app=web, tier=front, app=api]\n",
		     3, "duplicate label 'app'");
	expect_error("identities:\n"
		     "  - ip: 10.0.0.1\n"
		     "    labels:\n"
		     "      tier: front\n"
		     "      app: web\n"
		     "      tier: back\n",
		     6, "duplicate label 'tier'");
	expect_error("identities:\n"
		     "  - ip: 10.0.0.1\n"
		     "    namespace: \"a\\0b\"\n",
		     3, "'namespace' contains a NUL character");
	expect_error("{\"identities\": [\n"
		     "  {\"ip\": \"10.0.0.1\",\n"
		     "   \"namespace\": 5}]}\n",
		     3, "'namespace' must be a string, not a number");

	/* 63 bytes of namespace and 127 of pod/service fit; one more does not. */
	memset(name, 'n', sizeof(name));
	snprintf(doc, sizeof(doc),
		 "identities:\n  - ip: 10.0.0.1\n    namespace: %.63s\n    pod: %.127s\n"
		 "    service: %.127s\n",
		 name, name, name);
	t = load_ok("long.yaml", doc);
	ck_assert_uint_eq(strlen(look(t, "10.0.0.1")->ns), 63);
	ck_assert_uint_eq(strlen(look(t, "10.0.0.1")->pod), 127);
	ck_assert_uint_eq(strlen(look(t, "10.0.0.1")->service), 127);
	identity_table_free(t);
	snprintf(doc, sizeof(doc), "identities:\n  - ip: 10.0.0.1\n    namespace: %.64s\n", name);
	expect_error(doc, 3, "'namespace' is 64 bytes long; at most 63 are allowed");
	snprintf(doc, sizeof(doc), "identities:\n  - ip: 10.0.0.1\n\n    pod: %.128s\n", name);
	expect_error(doc, 4, "'pod' is 128 bytes long; at most 127 are allowed");
	snprintf(doc, sizeof(doc), "identities:\n  - ip: 10.0.0.1\n    service: %.128s\n", name);
	expect_error(doc, 3, "'service' is 128 bytes long; at most 127 are allowed");
}
END_TEST

START_TEST(duplicate_prefixes_are_errors)
{
	expect_error("identities:\n"
		     "  - cidr: 10.0.0.0/8\n"
		     "  - ip: 10.0.0.1\n"
		     "  - cidr: 10.0.0.0/9\n"
		     "  - namespace: again\n"
		     "    cidr: 10.0.0.1/32\n",
		     6, "duplicate prefix 10.0.0.1/32 (already given at line 3)");
	expect_error("identities:\n"
		     "  - ip: fd00::1\n"
		     "  - ip: \"fd00:0:0::0001\"\n",
		     3, "duplicate prefix fd00::1/128 (already given at line 2)");
	expect_error("{\"identities\": [\n"
		     "  {\"cidr\": \"10.0.0.0/8\"},\n"
		     "  {\"cidr\": \"10.0.0.0/8\"}]}\n",
		     3, "duplicate prefix 10.0.0.0/8");
}
END_TEST

/* Writes n entries, one a line after "identities:", cycling through IPv4 /24s, IPv4 hosts,
 * IPv6 /64s and IPv6 hosts, entry i in namespace "n<i>". */
/* ---- workloads and numeric identities ------------------------------------------------------ */

START_TEST(workloads_in_both_forms)
{
	struct identity_table *t =
		load_ok("wl.yaml", "identities:\n"
				   "  - ip: 10.0.0.1\n"
				   "    workload: web\n"
				   "    workload_kind: Deployment\n"
				   "  - ip: 10.0.0.2\n"
				   "    workload: {name: db, kind: StatefulSet}\n"
				   "  - ip: 10.0.0.3\n"
				   "    workload: {kind: DaemonSet, name: agent}\n"
				   "  - ip: 10.0.0.4\n"
				   "    workload: job-1\n"
				   "  - ip: 10.0.0.5\n");

	ck_assert_str_eq(look(t, "10.0.0.1")->workload, "web");
	ck_assert_str_eq(look(t, "10.0.0.1")->workload_kind, "Deployment");
	ck_assert_str_eq(look(t, "10.0.0.2")->workload, "db");
	ck_assert_str_eq(look(t, "10.0.0.2")->workload_kind, "StatefulSet");
	ck_assert_str_eq(look(t, "10.0.0.3")->workload, "agent");
	ck_assert_str_eq(look(t, "10.0.0.3")->workload_kind, "DaemonSet");
	ck_assert_str_eq(look(t, "10.0.0.4")->workload, "job-1");
	ck_assert_str_eq(look(t, "10.0.0.4")->workload_kind, "");
	ck_assert_str_eq(look(t, "10.0.0.5")->workload, "");
	identity_table_free(t);
}
END_TEST

START_TEST(workload_and_identity_errors)
{
	expect_error("identities:\n"
		     "  - ip: 10.0.0.1\n"
		     "    workload: {name: web, kind: Deployment}\n"
		     "    workload_kind: StatefulSet\n",
		     4, "the workload's kind is given twice");
	expect_error("identities:\n"
		     "  - ip: 10.0.0.1\n"
		     "    workload_kind: Deployment\n"
		     "    workload: {name: web, kind: Deployment}\n",
		     4, "the workload's kind is given twice");
	expect_error("identities:\n"
		     "  - ip: 10.0.0.1\n"
		     "    workload_kind: Deployment\n",
		     3, "'workload_kind' without 'workload'");
	expect_error("identities:\n"
		     "  - ip: 10.0.0.1\n"
		     "    workload: {kind: Deployment}\n",
		     3, "'workload' has no 'name'");
	expect_error("identities:\n"
		     "  - ip: 10.0.0.1\n"
		     "    workload: {name: a, owner: b}\n",
		     3, "unknown workload key 'owner'");
	expect_error("identities:\n"
		     "  - ip: 10.0.0.1\n"
		     "    workload: [a]\n",
		     3, "'workload' must be a string, not a list");
	expect_error("identities:\n"
		     "  - ip: 10.0.0.1\n"
		     "    identity: 255\n",
		     3, "invalid 'identity' '255': use a whole number from 256 to 16777215");
	expect_error("identities:\n"
		     "  - ip: 10.0.0.1\n"
		     "    identity: 16777216\n",
		     3, "invalid 'identity' '16777216'");
	expect_error("identities:\n"
		     "  - ip: 10.0.0.1\n"
		     "    identity: web\n",
		     3, "invalid 'identity' 'web'");
	expect_error("identities:\n"
		     "  - ip: 10.0.0.1\n"
		     "    identity: -300\n",
		     3, "invalid 'identity' '-300'");
	expect_error("identities:\n"
		     "  - ip: 10.0.0.1\n"
		     "    identity: 300.5\n",
		     3, "invalid 'identity' '300.5'");
	expect_error("identities:\n"
		     "  - ip: 10.0.0.1\n"
		     "    identity: [300]\n",
		     3, "invalid 'identity' a list");
	expect_error("identities:\n"
		     "  - ip: 10.0.0.1\n"
		     "    identity: 300\n"
		     "    identity: 301\n",
		     4, "duplicate key 'identity'");
}
END_TEST

static uint32_t num(const struct identity_table *t, const char *ip)
{
	const struct identity *id = look(t, ip);

	ck_assert_msg(id != NULL, "%s: no identity", ip);
	ck_assert_msg(id->numeric >= 256 && id->numeric <= 65535, "%s: numeric %u", ip,
		      id->numeric);
	return id->numeric;
}

static const char *const sets_yaml =
	"identities:\n"
	"  - {ip: 10.0.0.1, namespace: shop, labels: {app: web}}\n"
	"  - {ip: 10.0.0.2, namespace: shop, labels: {app: web}}\n"
	"  - {ip: 10.0.0.3, namespace: shop, labels: {app: db}}\n"
	"  - {ip: 10.0.0.4, namespace: other, labels: {app: web}}\n"
	"  - {ip: 10.0.0.5, namespace: shop, pod: a}\n"
	"  - {ip: 10.0.0.6, namespace: shop, pod: b}\n"
	"  - {cidr: 10.1.0.0/16, namespace: shop, pod: a}\n"
	"  - {ip: 10.0.0.7, namespace: shop, labels: [app=web]}\n"
	"  - {ip: 10.0.0.8, namespace: shop, labels: {app: web, v: '2'}}\n";

/* The same file in another order. */
static const char *const sets_yaml_reordered =
	"identities:\n"
	"  - {ip: 10.0.0.8, namespace: shop, labels: {v: '2', app: web}}\n"
	"  - {cidr: 10.1.0.0/16, namespace: shop, pod: a}\n"
	"  - {ip: 10.0.0.6, namespace: shop, pod: b}\n"
	"  - {ip: 10.0.0.4, namespace: other, labels: {app: web}}\n"
	"  - {ip: 10.0.0.3, namespace: shop, labels: {app: db}}\n"
	"  - {ip: 10.0.0.7, namespace: shop, labels: [app=web]}\n"
	"  - {ip: 10.0.0.2, namespace: shop, labels: {app: web}}\n"
	"  - {ip: 10.0.0.5, namespace: shop, pod: a}\n"
	"  - {ip: 10.0.0.1, namespace: shop, labels: {app: web}}\n";

static const char *const set_ips[] = {"10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.4", "10.0.0.5",
				      "10.0.0.6", "10.1.2.3", "10.0.0.7", "10.0.0.8"};

START_TEST(numeric_identities_are_label_sets)
{
	struct identity_table *a = load_ok("sets.yaml", sets_yaml);
	struct identity_table *b = load_ok("sets.yaml", sets_yaml);
	struct identity_table *c = load_ok("sets2.yaml", sets_yaml_reordered);
	size_t i;

	/* Same namespace and labels: one identity, whatever the labels' form. */
	ck_assert_uint_eq(num(a, "10.0.0.1"), num(a, "10.0.0.2"));
	ck_assert_uint_eq(num(a, "10.0.0.1"), num(a, "10.0.0.7"));
	/* Other labels, another namespace, one more label: other identities. */
	ck_assert_uint_ne(num(a, "10.0.0.1"), num(a, "10.0.0.3"));
	ck_assert_uint_ne(num(a, "10.0.0.1"), num(a, "10.0.0.4"));
	ck_assert_uint_ne(num(a, "10.0.0.1"), num(a, "10.0.0.8"));
	/* Without labels the pod tells them apart; the same pod is one identity. */
	ck_assert_uint_ne(num(a, "10.0.0.5"), num(a, "10.0.0.6"));
	ck_assert_uint_eq(num(a, "10.0.0.5"), num(a, "10.1.2.3"));
	ck_assert_uint_ne(num(a, "10.0.0.5"), num(a, "10.0.0.1"));
	/* The same file gives the same numbers, loaded twice or with its entries reordered. */
	for (i = 0; i < sizeof(set_ips) / sizeof(set_ips[0]); i++) {
		ck_assert_uint_eq(num(a, set_ips[i]), num(b, set_ips[i]));
		ck_assert_uint_eq(num(a, set_ips[i]), num(c, set_ips[i]));
	}
	identity_table_free(a);
	identity_table_free(b);
	identity_table_free(c);
}
END_TEST

START_TEST(explicit_numeric_identities)
{
	struct identity_table *a = load_ok("sets.yaml", sets_yaml), *b;
	uint32_t db = num(a, "10.0.0.3");
	char doc[512];

	/* db's derived number given explicitly to web: web's set has it, db gets another. */
	snprintf(doc, sizeof(doc),
		 "identities:\n"
		 "  - {ip: 10.0.0.1, namespace: shop, labels: {app: web}}\n"
		 "  - {ip: 10.0.0.2, namespace: shop, labels: {app: web}, identity: %u}\n"
		 "  - {ip: 10.0.0.3, namespace: shop, labels: {app: db}}\n"
		 "  - {ip: 10.0.0.9, namespace: x, identity: '70000'}\n",
		 db);
	b = load_ok("explicit.yaml", doc);
	ck_assert_uint_eq(look(b, "10.0.0.1")->numeric, db);
	ck_assert_uint_eq(look(b, "10.0.0.2")->numeric, db);
	ck_assert_uint_ne(look(b, "10.0.0.3")->numeric, db);
	ck_assert_uint_eq(look(b, "10.0.0.9")->numeric, 70000);
	identity_table_free(a);
	identity_table_free(b);
}
END_TEST

static bool host_addr_of_an_interface(uint8_t *family, uint8_t addr[16])
{
	struct ifaddrs *list, *i;
	bool found = false;

	ck_assert_int_eq(getifaddrs(&list), 0);
	for (i = list; i && !found; i = i->ifa_next) {
		if (!i->ifa_addr || i->ifa_addr->sa_family != AF_INET)
			continue;
		memset(addr, 0, 16);
		memcpy(addr, &((struct sockaddr_in *)i->ifa_addr)->sin_addr, 4);
		*family = 4;
		found = addr[0] != 127;
	}
	freeifaddrs(list);
	return found;
}

START_TEST(numeric_of_an_address)
{
	struct identity_table *t =
		load_ok("n.yaml", "identities:\n"
				  "  - {ip: 127.0.0.5, namespace: lo, identity: 777}\n"
				  "  - {cidr: 192.0.2.128/25, namespace: shop}\n");
	uint8_t a[16], family;
	uint32_t shop;

	identities_set(t);
	shop = look(t, "192.0.2.200")->numeric;
	memset(a, 0, sizeof(a));
	inet_pton(AF_INET, "127.0.0.1", a);
	ck_assert_uint_eq(identities_numeric(4, a), IDENTITY_HOST);
	inet_pton(AF_INET, "127.0.0.5", a);
	ck_assert_uint_eq(identities_numeric(4, a), 777); /* the file wins */
	inet_pton(AF_INET, "192.0.2.200", a);
	ck_assert_uint_eq(identities_numeric(4, a), shop);
	inet_pton(AF_INET, "192.0.2.1", a);
	ck_assert_uint_eq(identities_numeric(4, a), IDENTITY_WORLD);
	inet_pton(AF_INET6, "::1", a);
	ck_assert_uint_eq(identities_numeric(6, a), IDENTITY_HOST);
	inet_pton(AF_INET6, "::ffff:127.0.0.1", a);
	ck_assert_uint_eq(identities_numeric(6, a), IDENTITY_HOST);
	inet_pton(AF_INET6, "2001:db8::1", a);
	ck_assert_uint_eq(identities_numeric(6, a), IDENTITY_WORLD);
	if (host_addr_of_an_interface(&family, a))
		ck_assert_uint_eq(identities_numeric(family, a), IDENTITY_HOST);
	identities_set(NULL);
	inet_pton(AF_INET, "192.0.2.200", a);
	ck_assert_uint_eq(identities_numeric(4, a), IDENTITY_WORLD);
}
END_TEST

static void write_many(char *path, size_t size, const char *name, int n)
{
	FILE *f;
	int i;

	snprintf(path, size, "%s/%s", dir, name);
	f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fputs("identities:\n", f);
	for (i = 0; i < n; i++) {
		switch (i % 4) {
		case 0:
			fprintf(f, "  - {cidr: %d.%d.%d.0/24, namespace: n%d}\n", 100 + (i >> 16),
				i >> 8 & 255, i & 255, i);
			break;
		case 1:
			fprintf(f, "  - {ip: 10.%d.%d.%d, namespace: n%d, pod: p%d}\n",
				i >> 16 & 255, i >> 8 & 255, i & 255, i, i);
			break;
		case 2:
			fprintf(f, "  - {cidr: \"fd00:1:%x:%x::/64\", namespace: n%d}\n", i >> 16,
				i & 0xffff, i);
			break;
		default:
			fprintf(f, "  - {ip: \"fd00:2::%x:%x\", namespace: n%d, labels: [i=%d]}\n",
				i >> 16, i & 0xffff, i, i);
		}
	}
	ck_assert_int_eq(fclose(f), 0);
}

START_TEST(twenty_thousand_entries_are_all_found)
{
	struct identity_table *t = NULL;
	char path[256], ip[64], ns[16];
	struct errmsg err = {""};
	const struct identity *id;
	int i;

	static uint8_t seen[65536 / 8];

	write_many(path, sizeof(path), "many.yaml", 20000);
	ck_assert_msg(identity_table_load(path, &t, &err) == 0, "%s", err.text);
	ck_assert_uint_eq(identity_table_size(t), 20000);
	for (i = 0; i < 20000; i++) {
		switch (i % 4) {
		case 0:
			snprintf(ip, sizeof(ip), "%d.%d.%d.77", 100 + (i >> 16), i >> 8 & 255,
				 i & 255);
			break;
		case 1:
			snprintf(ip, sizeof(ip), "10.%d.%d.%d", i >> 16 & 255, i >> 8 & 255,
				 i & 255);
			break;
		case 2:
			snprintf(ip, sizeof(ip), "fd00:1:%x:%x:ffff::1", i >> 16, i & 0xffff);
			break;
		default:
			snprintf(ip, sizeof(ip), "fd00:2::%x:%x", i >> 16, i & 0xffff);
		}
		snprintf(ns, sizeof(ns), "n%d", i);
		id = look(t, ip);
		ck_assert_msg(id && !strcmp(id->ns, ns), "%s: got %s, want %s", ip,
			      id ? id->ns : "nothing", ns);
	}
	/* 20000 label sets, 20000 numbers, all in the derived range. */
	for (i = 0; i < 20000; i++) {
		const struct identity *e = identity_table_entry(t, (size_t)i);

		ck_assert(e->numeric >= 256 && e->numeric <= 65535);
		ck_assert_msg(!(seen[e->numeric / 8] & (1 << e->numeric % 8)), "entry %d: %u twice",
			      i, e->numeric);
		seen[e->numeric / 8] |= (uint8_t)(1 << e->numeric % 8);
	}
	ck_assert_str_eq(look(t, "10.0.0.5")->pod, "p5");
	ck_assert_str_eq(look(t, "fd00:2::0:7")->labels[0], "i=7");
	ck_assert_ptr_null(look(t, "10.0.0.2"));
	ck_assert_ptr_null(look(t, "100.0.1.1"));
	ck_assert_ptr_null(look(t, "fd00:2::2"));
	ck_assert_ptr_null(look(t, "fd00:1:0:1::1"));
	identity_table_free(t);
}
END_TEST

START_TEST(more_than_100000_entries_is_an_error)
{
	struct identity_table *t = (struct identity_table *)&t;
	char path[256], prefix[300];
	struct errmsg err = {""};

	write_many(path, sizeof(path), "toomany.yaml", 100001);
	ck_assert_int_eq(identity_table_load(path, &t, &err), -EINVAL);
	ck_assert_ptr_null(t);
	/* Entry 100001 is on line 100002. */
	snprintf(prefix, sizeof(prefix), "%s:100002: more than 100000 identities", path);
	ck_assert_msg(!strncmp(err.text, prefix, strlen(prefix)), "'%s' does not start with '%s'",
		      err.text, prefix);
}
END_TEST

static void remove_dir(void)
{
	char path[512];
	struct dirent *de;
	DIR *d = opendir(dir);

	if (!d)
		return;
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..")) {
			snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
			unlink(path);
		}
	closedir(d);
	rmdir(dir);
}

int main(void)
{
	Suite *s = suite_create("identity");
	TCase *f = tcase_create("forms"), *l = tcase_create("lookup"), *e = tcase_create("errors");
	TCase *big = tcase_create("large"), *n = tcase_create("numeric");
	SRunner *r;
	int failed;

	strcpy(dir, "/tmp/test_identity.XXXXXX");
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return EXIT_FAILURE;
	}
	tcase_add_test(f, yaml_and_json_give_the_same_table);
	tcase_add_test(f, labels_mapping_and_list_are_sorted);
	tcase_add_test(f, empty_files_are_empty_tables);
	tcase_add_test(l, longest_prefix_wins);
	tcase_add_test(l, ipv6_prefixes_match_longest_first);
	tcase_add_test(l, families_never_match_each_other);
	tcase_add_test(e, unreadable_files_give_errno);
	tcase_add_test(e, syntax_errors_give_libyaml_line);
	tcase_add_test(e, unknown_missing_and_duplicate_keys_are_errors);
	tcase_add_test(e, bad_addresses_are_errors);
	tcase_add_test(e, non_string_and_long_values_are_errors);
	tcase_add_test(e, duplicate_prefixes_are_errors);
	tcase_add_test(n, workloads_in_both_forms);
	tcase_add_test(n, workload_and_identity_errors);
	tcase_add_test(n, numeric_identities_are_label_sets);
	tcase_add_test(n, explicit_numeric_identities);
	tcase_add_test(n, numeric_of_an_address);
	/* Slow under valgrind; the time limit only applies in fork mode. */
	tcase_set_timeout(big, 120);
	tcase_add_test(big, twenty_thousand_entries_are_all_found);
	tcase_add_test(big, more_than_100000_entries_is_an_error);
	suite_add_tcase(s, f);
	suite_add_tcase(s, l);
	suite_add_tcase(s, e);
	suite_add_tcase(s, n);
	suite_add_tcase(s, big);
	r = srunner_create(s);
	srunner_run_all(r, CK_NORMAL);
	failed = srunner_ntests_failed(r);
	srunner_free(r);
	remove_dir();
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
