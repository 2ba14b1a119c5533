/* fs.c: local file helpers (see fs.h). */
#include "base/compat.h"

#include "base/fs.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#if defined(__linux__) && (defined(__x86_64__) || defined(__aarch64__))
#include <sys/syscall.h>
#endif

#include "base/alloc.h"

int cn_fs_read_all(const char *path, char **out, size_t *len, CnErr *err) {
    *out = NULL;
    if (len) *len = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        return cn_err_set(err, e == ENOENT ? CN_ENOTFOUND : -e, "%s: cannot open: %s", path,
                          strerror(e));
    }
    size_t cap = 4096, n = 0;
    struct stat st;
    if (fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
        close(fd);
        return cn_err_set(err, CN_EINVAL, "%s: is a directory, expected a file", path);
    }
    if (st.st_size > 0) cap = (size_t)st.st_size + 1;
    char *buf = cn_malloc(cap);
    if (!buf) {
        close(fd);
        return cn_err_set(err, CN_ENOMEM, "%s: out of memory reading %zu bytes", path, cap);
    }
    for (;;) {
        if (n + 1 >= cap) {
            char *nb = cn_realloc(buf, cap * 2);
            if (!nb) {
                cn_free(buf);
                close(fd);
                return cn_err_set(err, CN_ENOMEM, "%s: out of memory", path);
            }
            buf = nb;
            cap *= 2;
        }
        ssize_t r = read(fd, buf + n, cap - n - 1);
        if (r < 0) {
            if (errno == EINTR) continue;
            int e = errno;
            cn_free(buf);
            close(fd);
            return cn_err_set(err, -e, "%s: read failed: %s", path, strerror(e));
        }
        if (r == 0) break;
        n += (size_t)r;
    }
    close(fd);
    buf[n] = 0;
    *out = buf;
    if (len) *len = n;
    return 0;
}

int cn_fs_sync_dir_of(const char *path, CnErr *err) {
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash == dir) dir[1] = 0;
    else if (slash) *slash = 0;
    else snprintf(dir, sizeof dir, ".");
    return cn_fs_sync_path(dir, err);
}

int cn_fs_write_atomic(const char *path, const void *data, size_t len, CnErr *err) {
    char tmp[4200];
    int n = snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
    if (n < 0 || (size_t)n >= sizeof tmp)
        return cn_err_set(err, CN_EINVAL, "%s: path too long", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        int e = errno;
        return cn_err_set(err, -e, "%s: cannot create: %s", tmp, strerror(e));
    }
    const char *p = data;
    size_t left = len;
    while (left) {
        ssize_t w = write(fd, p, left);
        if (w < 0) {
            if (errno == EINTR) continue;
            int e = errno;
            close(fd);
            unlink(tmp);
            return cn_err_set(err, -e, "%s: write failed: %s", path, strerror(e));
        }
        p += w;
        left -= (size_t)w;
    }
    if (fsync(fd) < 0 || close(fd) < 0) {
        int e = errno;
        unlink(tmp);
        return cn_err_set(err, -e, "%s: fsync failed: %s", path, strerror(e));
    }
    if (rename(tmp, path) < 0) {
        int e = errno;
        unlink(tmp);
        return cn_err_set(err, -e, "%s: rename failed: %s", path, strerror(e));
    }
    (void)cn_fs_sync_dir_of(path, NULL); /* durability only: the file is complete either way */
    return 0;
}

int cn_fs_mkdirs(const char *path, CnErr *err) {
    char buf[4096];
    int n = snprintf(buf, sizeof buf, "%s", path);
    if (n < 0 || (size_t)n >= sizeof buf)
        return cn_err_set(err, CN_EINVAL, "%s: path too long", path);
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/') continue;
        *p = 0;
        if (mkdir(buf, 0755) < 0 && errno != EEXIST) {
            int e = errno;
            return cn_err_set(err, -e, "%s: cannot create directory: %s", buf, strerror(e));
        }
        *p = '/';
    }
    if (mkdir(buf, 0755) < 0 && errno != EEXIST) {
        int e = errno;
        return cn_err_set(err, -e, "%s: cannot create directory: %s", buf, strerror(e));
    }
    return 0;
}

bool cn_fs_exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0;
}

bool cn_fs_is_dir(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

void cn_fs_start_writeback(int fd, uint64_t off, uint64_t len) {
#if defined(SYS_sync_file_range) && (defined(__x86_64__) || defined(__aarch64__))
    /* the system call itself: its libc wrapper needs _GNU_SOURCE; 2 is
     * SYNC_FILE_RANGE_WRITE (start writeback of the dirty pages, do not wait) */
    (void)syscall(SYS_sync_file_range, fd, (int64_t)off, (int64_t)len, 2u);
#else
    (void)fd, (void)off, (void)len;
#endif
}

int cn_fs_sync_path(const char *path, CnErr *err) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        return cn_err_set(err, -e, "%s: cannot open to sync: %s", path, strerror(e));
    }
    int rc = fsync(fd) < 0 ? -errno : 0;
    close(fd);
    return rc ? cn_err_set(err, rc, "%s: fsync failed: %s", path, strerror(-rc)) : 0;
}
