/* Fuzz target: the identity file (flowd --identities, YAML or JSON), which flowd reloads
 * whenever it changes: loaded and validated as identity_table_load does it, then looked up. */
#include "fuzz.h"

#include "flowscope/enrich/identity.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char path[300];
	struct identity_table *t = NULL;
	struct errmsg e = {""};
	uint8_t a4[16] = {10, 200, 2, 2}, a6[16] = {0xfd, 0, 0, 0x20};
	size_t i, n;

	fuzz_quiet();
	if (!path[0])
		snprintf(path, sizeof(path), "%s/ids.yaml", fuzz_dir());
	fuzz_write_file(path, data, size);
	if (identity_table_load(path, &t, &e))
		return 0;
	n = identity_table_size(t);
	for (i = 0; i < n; i++)
		if (!identity_table_entry(t, i))
			abort();
	(void)identity_lookup(t, 4, a4);
	(void)identity_lookup(t, 6, a6);
	identity_table_free(t);
	return 0;
}
