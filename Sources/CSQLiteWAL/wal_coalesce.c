// A VFS over SQLite's default one that gathers a transaction's WAL frames into a few large writes.
//
// SQLite writes each WAL frame as two `pwrite` calls (its 24-byte header, then the page), so a commit of 50 pages
// costs 100 system calls, most of their time spent per call rather than per byte (docs/performance.md, "WAL frames
// in a few writes"). On a connection it is asked to (`spyglass_wal_coalesce`, only on connections that sync every
// commit), the WAL file keeps consecutive writes in a buffer (up to 128 KiB) and writes them at once:
//
// - before the WAL is synced (every commit of a `synchronous = FULL` connection syncs it before the commit becomes
//   visible to readers, so a commit is written and synced exactly as before, only in fewer calls);
// - before anything reads, truncates or sizes the WAL file through this connection, or controls it;
// - when the write lock on the WAL is released (a transaction that spilled frames and rolled back leaves them in
//   the file as SQLite would have, while it still holds the lock: no other writer can have used those offsets);
// - at a memory barrier on the database's shared memory (where a commit that was not synced would become visible);
// - when the buffer is full, and when the file is closed.
//
// The rollback case is a guard: SQLite reads the WAL while undoing (which writes the buffer) in every case tried.
//
// A write that lands inside the buffered range (SQLite rewrites a page it wrote earlier in the same transaction)
// changes the buffer; a write elsewhere that neither follows nor overlaps it goes straight to the file (the order
// of writes to different bytes does not matter until something reads them). A read that does not overlap the
// buffer reads the file; one inside it reads the buffer.
//
// A buffered write that fails is not forgotten: every later write, read, sync or size of the WAL through this
// connection returns that error until the transaction ends (its write lock is released), so the transaction cannot
// commit without the lost frames (a read error alone would let SQLite go on and commit: a statement's rollback does
// not end the transaction). Flushes at the release of the lock and at the barrier cannot report a failure: with
// FULL syncs the buffer is empty at the barrier (a commit flushed at its sync), and at the release it holds only
// the frames of a transaction that did not commit. A connection found with frames at the barrier (its commits are
// not synced: `synchronous` lowered after coalescing began) stops coalescing.
//
// SQLite 3.40 (Debian's) also has a bug this VFS lets the writers guard against: a transaction whose pages spill
// into the WAL, where SQLite then rewrites in place a frame appended inside a savepoint, and that rolls the
// savepoint (or a statement) back before it commits, can leave frames that recovery after a crash stops at, losing
// the commits after it (newer SQLite resets the rewrite's bookkeeping in `sqlite3WalSavepointUndo`). The WAL file
// counts writes below the end of what the transaction wrote (`spyglass_wal_rewrites`: every in-place rewrite is
// one, and so is an append after a rollback); a writer whose rolled-back savepoint saw the count grow fails its
// whole transaction instead of committing it.
//
// Everything else passes through to the default VFS unchanged; files other than main databases and WALs are the
// default VFS's own. A connection's files are used by one thread at a time (GRDB serializes each connection's
// work), so the buffer needs no lock; it belongs to one connection's WAL file.
#include <sqlite3.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include "CSQLiteWAL.h"

// The default VFS writes at most 0x1ffff bytes in one system call (`seekAndWriteFd` masks the length, and `unixWrite`
// fails when what remains after a short write is a multiple of 128 KiB), so the buffer never holds more: a commit of
// 50 frames takes four writes.
#define BUFFER_CAPACITY 0x1ffff
#define WAL_WRITE_LOCK 0

typedef struct MainFile MainFile;
typedef struct WalFile WalFile;

struct MainFile {
    sqlite3_file base;
    sqlite3_file *real;
    WalFile *wal;  // linked by spyglass_wal_coalesce; unlinked when either file closes
};

struct WalFile {
    sqlite3_file base;
    sqlite3_file *real;
    MainFile *main;
    unsigned char *buffer;  // non-NULL once coalescing is on
    int coalescing;         // writes are gathered (off again when a commit is found not synced)
    sqlite3_int64 start;    // file offset of buffer[0]
    int length;             // bytes buffered
    int failed;             // a buffered write that failed: returned until the write lock is released
    sqlite3_int64 written;  // the end of the highest write since the write lock was taken
    long long rewrites;     // writes since then below `written` (a frame rewritten in place, or re-appended)
    long long requested;
    long long issued;
};

static sqlite3_vfs *realVFS;
static sqlite3_vfs coalescingVFS;

#define ROUND8(n) (((n) + 7) & ~7)
#define WRAPPER_SIZE ROUND8(sizeof(MainFile) > sizeof(WalFile) ? sizeof(MainFile) : sizeof(WalFile))

// MARK: the WAL file

static int walFlush(WalFile *file) {
    if (file->failed != SQLITE_OK) return file->failed;
    if (file->length == 0) return SQLITE_OK;
    int length = file->length;
    file->length = 0;
    file->issued++;
    int rc = file->real->pMethods->xWrite(file->real, file->buffer, length, file->start);
    if (rc != SQLITE_OK) file->failed = rc;
    return rc;
}

/// The transaction ended (its write lock is being released): its frames reach the file, and its state is cleared.
static void walEndTransaction(WalFile *file) {
    (void)walFlush(file);
    file->length = 0;
    file->failed = SQLITE_OK;
    file->written = 0;
    file->rewrites = 0;
}

static int walWriteThrough(WalFile *file, const void *data, int amount, sqlite3_int64 offset) {
    file->issued++;
    return file->real->pMethods->xWrite(file->real, data, amount, offset);
}

static int walWrite(sqlite3_file *handle, const void *data, int amount, sqlite3_int64 offset) {
    WalFile *file = (WalFile *)handle;
    file->requested++;
    if (file->failed != SQLITE_OK) return file->failed;
    if (offset < file->written) file->rewrites++;
    if (offset + amount > file->written) file->written = offset + amount;
    if (!file->coalescing || amount <= 0) return walWriteThrough(file, data, amount, offset);
    if (file->length > 0) {
        sqlite3_int64 end = file->start + file->length;
        if (offset >= file->start && offset + amount <= end) {
            memcpy(file->buffer + (offset - file->start), data, (size_t)amount);
            return SQLITE_OK;
        }
        if (offset == end && file->length + amount <= BUFFER_CAPACITY) {
            memcpy(file->buffer + file->length, data, (size_t)amount);
            file->length += amount;
            return SQLITE_OK;
        }
        if (offset + amount <= file->start || offset > end) return walWriteThrough(file, data, amount, offset);
        // Overlapping partly, or following a full buffer.
        int rc = walFlush(file);
        if (rc != SQLITE_OK) return rc;
    }
    if (amount > BUFFER_CAPACITY) return walWriteThrough(file, data, amount, offset);
    memcpy(file->buffer, data, (size_t)amount);
    file->start = offset;
    file->length = amount;
    return SQLITE_OK;
}

static void walUnlink(WalFile *file) {
    if (file->main != NULL) file->main->wal = NULL;
    file->main = NULL;
}

static int walClose(sqlite3_file *handle) {
    WalFile *file = (WalFile *)handle;
    int flushed = walFlush(file);
    walUnlink(file);
    free(file->buffer);
    file->buffer = NULL;
    int rc = file->real->pMethods->xClose(file->real);
    return flushed != SQLITE_OK ? flushed : rc;
}

static int walRead(sqlite3_file *handle, void *data, int amount, sqlite3_int64 offset) {
    WalFile *file = (WalFile *)handle;
    if (file->failed != SQLITE_OK) return file->failed;
    if (file->length > 0 && amount > 0 && offset < file->start + file->length && offset + amount > file->start) {
        if (offset >= file->start && offset + amount <= file->start + file->length) {
            memcpy(data, file->buffer + (offset - file->start), (size_t)amount);
            return SQLITE_OK;
        }
        int rc = walFlush(file);
        if (rc != SQLITE_OK) return rc;
    }
    return file->real->pMethods->xRead(file->real, data, amount, offset);
}

static int walTruncate(sqlite3_file *handle, sqlite3_int64 size) {
    WalFile *file = (WalFile *)handle;
    int rc = walFlush(file);
    if (rc != SQLITE_OK) return rc;
    return file->real->pMethods->xTruncate(file->real, size);
}

static int walSync(sqlite3_file *handle, int flags) {
    WalFile *file = (WalFile *)handle;
    int rc = walFlush(file);
    if (rc != SQLITE_OK) return rc;
    return file->real->pMethods->xSync(file->real, flags);
}

static int walFileSize(sqlite3_file *handle, sqlite3_int64 *size) {
    WalFile *file = (WalFile *)handle;
    int rc = walFlush(file);
    if (rc != SQLITE_OK) return rc;
    return file->real->pMethods->xFileSize(file->real, size);
}

static int walFileControl(sqlite3_file *handle, int op, void *argument) {
    WalFile *file = (WalFile *)handle;
    int rc = walFlush(file);
    if (rc != SQLITE_OK) return rc;
    return file->real->pMethods->xFileControl(file->real, op, argument);
}

// MARK: pass-through methods shared by both wrappers (both begin with `base` and `real`)

typedef struct {
    sqlite3_file base;
    sqlite3_file *real;
} Wrapper;

static sqlite3_file *realOf(sqlite3_file *handle) { return ((Wrapper *)handle)->real; }

static int passLock(sqlite3_file *h, int lock) { return realOf(h)->pMethods->xLock(realOf(h), lock); }
static int passUnlock(sqlite3_file *h, int lock) { return realOf(h)->pMethods->xUnlock(realOf(h), lock); }
static int passCheckReservedLock(sqlite3_file *h, int *out) {
    return realOf(h)->pMethods->xCheckReservedLock(realOf(h), out);
}
static int passSectorSize(sqlite3_file *h) { return realOf(h)->pMethods->xSectorSize(realOf(h)); }
static int passDeviceCharacteristics(sqlite3_file *h) {
    return realOf(h)->pMethods->xDeviceCharacteristics(realOf(h));
}
static int passShmMap(sqlite3_file *h, int page, int size, int extend, void volatile **out) {
    if (realOf(h)->pMethods->iVersion < 2) return SQLITE_IOERR;
    return realOf(h)->pMethods->xShmMap(realOf(h), page, size, extend, out);
}
static int passShmLock(sqlite3_file *h, int offset, int n, int flags) {
    if (realOf(h)->pMethods->iVersion < 2) return SQLITE_IOERR;
    return realOf(h)->pMethods->xShmLock(realOf(h), offset, n, flags);
}
static void passShmBarrier(sqlite3_file *h) {
    if (realOf(h)->pMethods->iVersion >= 2) realOf(h)->pMethods->xShmBarrier(realOf(h));
}
static int passShmUnmap(sqlite3_file *h, int delete) {
    if (realOf(h)->pMethods->iVersion < 2) return SQLITE_OK;
    return realOf(h)->pMethods->xShmUnmap(realOf(h), delete);
}
static int passFetch(sqlite3_file *h, sqlite3_int64 offset, int amount, void **out) {
    if (realOf(h)->pMethods->iVersion < 3) {
        *out = NULL;
        return SQLITE_OK;
    }
    return realOf(h)->pMethods->xFetch(realOf(h), offset, amount, out);
}
static int passUnfetch(sqlite3_file *h, sqlite3_int64 offset, void *page) {
    if (realOf(h)->pMethods->iVersion < 3) return SQLITE_OK;
    return realOf(h)->pMethods->xUnfetch(realOf(h), offset, page);
}
static int passRead(sqlite3_file *h, void *data, int amount, sqlite3_int64 offset) {
    return realOf(h)->pMethods->xRead(realOf(h), data, amount, offset);
}
static int passWrite(sqlite3_file *h, const void *data, int amount, sqlite3_int64 offset) {
    return realOf(h)->pMethods->xWrite(realOf(h), data, amount, offset);
}
static int passTruncate(sqlite3_file *h, sqlite3_int64 size) { return realOf(h)->pMethods->xTruncate(realOf(h), size); }
static int passSync(sqlite3_file *h, int flags) { return realOf(h)->pMethods->xSync(realOf(h), flags); }
static int passFileSize(sqlite3_file *h, sqlite3_int64 *size) {
    return realOf(h)->pMethods->xFileSize(realOf(h), size);
}
static int passFileControl(sqlite3_file *h, int op, void *argument) {
    return realOf(h)->pMethods->xFileControl(realOf(h), op, argument);
}

static const sqlite3_io_methods walMethods = {
    3, walClose, walRead, walWrite, walTruncate, walSync, walFileSize, passLock, passUnlock, passCheckReservedLock,
    walFileControl, passSectorSize, passDeviceCharacteristics, passShmMap, passShmLock, passShmBarrier, passShmUnmap,
    passFetch, passUnfetch,
};

// MARK: the main database file

static int mainClose(sqlite3_file *handle) {
    MainFile *file = (MainFile *)handle;
    if (file->wal != NULL) file->wal->main = NULL;
    file->wal = NULL;
    return file->real->pMethods->xClose(file->real);
}

static int mainShmLock(sqlite3_file *handle, int offset, int n, int flags) {
    MainFile *file = (MainFile *)handle;
    // Releasing the WAL's write lock: what this transaction wrote reaches the file while no one else can write.
    if (file->wal != NULL && (flags & SQLITE_SHM_UNLOCK) && (flags & SQLITE_SHM_EXCLUSIVE) && offset <= WAL_WRITE_LOCK
        && offset + n > WAL_WRITE_LOCK) {
        walEndTransaction(file->wal);
    }
    return passShmLock(handle, offset, n, flags);
}

static void mainShmBarrier(sqlite3_file *handle) {
    MainFile *file = (MainFile *)handle;
    if (file->wal != NULL && file->wal->length > 0) {
        // A commit about to become visible without a sync: not what coalescing was turned on for.
        (void)walFlush(file->wal);
        file->wal->coalescing = 0;
    }
    passShmBarrier(handle);
}

static const sqlite3_io_methods mainMethods = {
    3, mainClose, passRead, passWrite, passTruncate, passSync, passFileSize, passLock, passUnlock,
    passCheckReservedLock, passFileControl, passSectorSize, passDeviceCharacteristics, passShmMap, mainShmLock,
    mainShmBarrier, passShmUnmap, passFetch, passUnfetch,
};

// MARK: the VFS

static int vfsOpen(sqlite3_vfs *vfs, sqlite3_filename name, sqlite3_file *handle, int flags, int *outFlags) {
    (void)vfs;
    int kind = flags & (SQLITE_OPEN_MAIN_DB | SQLITE_OPEN_WAL);
    if (kind == 0) return realVFS->xOpen(realVFS, name, handle, flags, outFlags);
    Wrapper *wrapper = (Wrapper *)handle;
    memset(wrapper, 0, WRAPPER_SIZE);
    sqlite3_file *real = (sqlite3_file *)((char *)handle + WRAPPER_SIZE);
    int rc = realVFS->xOpen(realVFS, name, real, flags, outFlags);
    if (rc != SQLITE_OK || real->pMethods == NULL) {
        // SQLite calls no method of a file whose open failed.
        if (real->pMethods != NULL) real->pMethods->xClose(real);
        handle->pMethods = NULL;
        return rc != SQLITE_OK ? rc : SQLITE_CANTOPEN;
    }
    wrapper->real = real;
    handle->pMethods = (flags & SQLITE_OPEN_WAL) ? &walMethods : &mainMethods;
    return SQLITE_OK;
}

static int vfsDelete(sqlite3_vfs *v, const char *name, int sync) {
    (void)v;
    return realVFS->xDelete(realVFS, name, sync);
}
static int vfsAccess(sqlite3_vfs *v, const char *name, int flags, int *out) {
    (void)v;
    return realVFS->xAccess(realVFS, name, flags, out);
}
static int vfsFullPathname(sqlite3_vfs *v, const char *name, int size, char *out) {
    (void)v;
    return realVFS->xFullPathname(realVFS, name, size, out);
}
static void *vfsDlOpen(sqlite3_vfs *v, const char *name) {
    (void)v;
    return realVFS->xDlOpen(realVFS, name);
}
static void vfsDlError(sqlite3_vfs *v, int size, char *out) {
    (void)v;
    realVFS->xDlError(realVFS, size, out);
}
static void (*vfsDlSym(sqlite3_vfs *v, void *library, const char *symbol))(void) {
    (void)v;
    return realVFS->xDlSym(realVFS, library, symbol);
}
static void vfsDlClose(sqlite3_vfs *v, void *library) {
    (void)v;
    realVFS->xDlClose(realVFS, library);
}
static int vfsRandomness(sqlite3_vfs *v, int size, char *out) {
    (void)v;
    return realVFS->xRandomness(realVFS, size, out);
}
static int vfsSleep(sqlite3_vfs *v, int microseconds) {
    (void)v;
    return realVFS->xSleep(realVFS, microseconds);
}
static int vfsCurrentTime(sqlite3_vfs *v, double *out) {
    (void)v;
    return realVFS->xCurrentTime(realVFS, out);
}
static int vfsGetLastError(sqlite3_vfs *v, int size, char *out) {
    (void)v;
    return realVFS->xGetLastError ? realVFS->xGetLastError(realVFS, size, out) : 0;
}
static int vfsCurrentTimeInt64(sqlite3_vfs *v, sqlite3_int64 *out) {
    (void)v;
    return realVFS->xCurrentTimeInt64(realVFS, out);
}

static int registered = SQLITE_ERROR;
static pthread_once_t registration = PTHREAD_ONCE_INIT;

/// SQLite's answer to turning its memory statistics off (SQLITE_OK, or SQLITE_MISUSE when SQLite was already
/// initialized in this process).
static int memoryStatisticsResult = SQLITE_MISUSE;

static void registerOnce(void) {
    // Before anything initializes SQLite (finding the default VFS does). With its memory statistics on (the
    // default), every allocation and free of every connection enters one process-wide mutex: the log lines'
    // writer, on threads of the lowest CPU priority, held it when the scheduler stopped them, and the ingest
    // writer then waited for it until a core had nothing else to do (docs/performance.md, "SQLite's memory
    // mutex"). Nothing here reads the statistics (`sqlite3_memory_used`, a soft heap limit).
    memoryStatisticsResult = sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
    realVFS = sqlite3_vfs_find(NULL);
    if (realVFS == NULL || realVFS->iVersion < 2 || realVFS->xCurrentTimeInt64 == NULL) return;
    coalescingVFS.iVersion = 2;
    coalescingVFS.szOsFile = (int)WRAPPER_SIZE + realVFS->szOsFile;
    coalescingVFS.mxPathname = realVFS->mxPathname;
    coalescingVFS.zName = "spyglass-wal";
    coalescingVFS.xOpen = vfsOpen;
    coalescingVFS.xDelete = vfsDelete;
    coalescingVFS.xAccess = vfsAccess;
    coalescingVFS.xFullPathname = vfsFullPathname;
    coalescingVFS.xDlOpen = vfsDlOpen;
    coalescingVFS.xDlError = vfsDlError;
    coalescingVFS.xDlSym = vfsDlSym;
    coalescingVFS.xDlClose = vfsDlClose;
    coalescingVFS.xRandomness = vfsRandomness;
    coalescingVFS.xSleep = vfsSleep;
    coalescingVFS.xCurrentTime = vfsCurrentTime;
    coalescingVFS.xGetLastError = vfsGetLastError;
    coalescingVFS.xCurrentTimeInt64 = vfsCurrentTimeInt64;
    registered = sqlite3_vfs_register(&coalescingVFS, 1);
}

int spyglass_wal_vfs_register(void) {
    pthread_once(&registration, registerOnce);
    return registered;
}

int spyglass_sqlite_memory_statistics_off(void) {
    pthread_once(&registration, registerOnce);
    return memoryStatisticsResult == SQLITE_OK;
}

/// The connection's main database and WAL files when both are this VFS's wrappers.
static int filesOf(void *connection, MainFile **main, WalFile **wal) {
    sqlite3 *db = (sqlite3 *)connection;
    sqlite3_file *mainHandle = NULL;
    sqlite3_file *walHandle = NULL;
    if (sqlite3_file_control(db, "main", SQLITE_FCNTL_FILE_POINTER, &mainHandle) != SQLITE_OK) return 0;
    if (sqlite3_file_control(db, "main", SQLITE_FCNTL_JOURNAL_POINTER, &walHandle) != SQLITE_OK) return 0;
    if (mainHandle == NULL || mainHandle->pMethods != &mainMethods) return 0;
    if (walHandle == NULL || walHandle->pMethods != &walMethods) return 0;
    *main = (MainFile *)mainHandle;
    *wal = (WalFile *)walHandle;
    return 1;
}

int spyglass_wal_coalesce(void *connection) {
    MainFile *main;
    WalFile *wal;
    int ok = 0;
    sqlite3_mutex_enter(sqlite3_db_mutex((sqlite3 *)connection));
    if (filesOf(connection, &main, &wal)) {
        if (wal->buffer == NULL) wal->buffer = malloc(BUFFER_CAPACITY);
        if (wal->buffer != NULL) {
            main->wal = wal;
            wal->main = main;
            wal->coalescing = 1;
            ok = 1;
        }
    }
    sqlite3_mutex_leave(sqlite3_db_mutex((sqlite3 *)connection));
    return ok;
}

void spyglass_wal_write_counts(void *connection, long long *requested, long long *issued, long long *buffered) {
    MainFile *main;
    WalFile *wal;
    *requested = 0;
    *issued = 0;
    *buffered = 0;
    sqlite3_mutex_enter(sqlite3_db_mutex((sqlite3 *)connection));
    if (filesOf(connection, &main, &wal)) {
        *requested = wal->requested;
        *issued = wal->issued;
        *buffered = wal->length;
    }
    sqlite3_mutex_leave(sqlite3_db_mutex((sqlite3 *)connection));
}

long long spyglass_wal_rewrites(void *connection) {
    MainFile *main;
    WalFile *wal;
    if (!filesOf(connection, &main, &wal) || wal->main == NULL) return 0;
    return wal->rewrites;
}
