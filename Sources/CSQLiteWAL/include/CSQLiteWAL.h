#ifndef SPYGLASS_CSQLITEWAL_H
#define SPYGLASS_CSQLITEWAL_H

/// Registers the WAL-coalescing VFS as SQLite's default (once; later calls do nothing). Connections opened before
/// keep the VFS they were opened with. Returns an SQLite result code.
int spyglass_wal_vfs_register(void);

/// Whether SQLite's memory statistics are off in this process (1), as registering the VFS above turns them off when
/// it is the first to initialize SQLite; 0 when SQLite was initialized before (they stay on).
int spyglass_sqlite_memory_statistics_off(void);

/// Makes the write-ahead log of `connection` (a `sqlite3 *` opened through the VFS above, in WAL mode, with its WAL
/// open, and with `PRAGMA synchronous = FULL`) gather each transaction's frames into one write. Returns 1 when it
/// does, 0 when the connection's files are not this VFS's (opened before registration, or not in WAL mode).
int spyglass_wal_coalesce(void *connection);

/// The writes SQLite asked of `connection`'s WAL file and those issued to the file system since it was opened, and
/// the bytes waiting in its buffer (all 0 when its files are not this VFS's).
void spyglass_wal_write_counts(void *connection, long long *requested, long long *issued, long long *buffered);

/// How many times, in the write transaction `connection` (a coalescing connection) has open, SQLite wrote WAL bytes
/// below the end of what the transaction had written (a frame rewritten in place, or appended again after a
/// rollback); 0 on a connection that does not coalesce.
long long spyglass_wal_rewrites(void *connection);

#endif
