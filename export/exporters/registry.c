/* Every exporter flowd can run, one line each (their options appear in flowd's --help in this
 * order). A new exporter is its own file defining a struct exporter_type plus a line here. */
#include "flowscope/exporters/exporter.h"

#define EXPORTERS(X)                                                                               \
	X(file_exporter)                                                                           \
	X(syslog_exporter)                                                                         \
	X(ipfix_exporter)                                                                          \
	X(clickhouse_exporter)

#define DECLARE(type) extern const struct exporter_type type;
#define ENTRY(type) &type,

EXPORTERS(DECLARE)

const struct exporter_type *const exporter_types[] = {EXPORTERS(ENTRY) NULL};
