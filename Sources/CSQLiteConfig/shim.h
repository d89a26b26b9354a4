#ifndef COEVO_CSQLITECONFIG_SHIM_H
#define COEVO_CSQLITECONFIG_SHIM_H
#include <sqlite3.h>

/* sqlite3_config is variadic, which Swift cannot call. Process-wide, and only before the
 * first connection opens (SQLITE_MISUSE after that, changing nothing):
 * - multi-thread mode: no mutex around every call on a connection; GRDB already uses
 *   each connection from one thread at a time;
 * - no memory statistics: they take a global mutex on every allocation. */
static inline int coevo_sqlite_configure_process(void) {
    int rc = sqlite3_config(SQLITE_CONFIG_MULTITHREAD);
    if (rc != SQLITE_OK) return rc;
    return sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
}
#endif
