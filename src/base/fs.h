/* fs.h: local file helpers. Writes go to a temporary name in the same directory,
 * are fsync'ed and renamed into place, so a reader sees the old file or the new one.
 * Errors name the path and the OS reason. */
#ifndef CN_FS_H
#define CN_FS_H

#include "base/compat.h"
#include "base/err.h"

/* OWNED: *out (cn_free), NUL-terminated; *len excludes the NUL. */
int cn_fs_read_all(const char *path, char **out, size_t *len, CnErr *err);
/* Atomic replace of path with data (temp + fsync + rename + dir fsync). */
int cn_fs_write_atomic(const char *path, const void *data, size_t len, CnErr *err);
/* mkdir -p (mode 0755). */
int cn_fs_mkdirs(const char *path, CnErr *err);
bool cn_fs_exists(const char *path);
/* Starts writing bytes [off, off + len) of fd's file to the device without waiting
 * (Linux sync_file_range WRITE; elsewhere nothing): a later fsync then waits for what is
 * left instead of all of it. Only a hint: errors are ignored, and it is no substitute
 * for fsync. */
void cn_fs_start_writeback(int fd, uint64_t off, uint64_t len);
/* fsync of the file or folder at path (opened read-only): its data and, for a folder,
 * the names in it are on the device when this returns 0. */
int cn_fs_sync_path(const char *path, CnErr *err);
/* cn_fs_sync_path of the folder holding path (".": none named); err may be NULL. */
int cn_fs_sync_dir_of(const char *path, CnErr *err);
bool cn_fs_is_dir(const char *path);

#endif /* CN_FS_H */
