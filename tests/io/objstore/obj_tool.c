/* obj_tool.c: a test driver over the object store API, used by the e2e tests against
 * real S3 servers (tests/io/objstore/e2e_s3.py). Not a user command.
 *   obj_tool put   URI KEY FILE [--if-absent]
 *   obj_tool get   URI KEY OUTFILE            (OUTFILE "-" = stdout)
 *   obj_tool range URI KEY OFF LEN OUTFILE
 *   obj_tool head  URI KEY                    (prints the size)
 *   obj_tool list  URI PREFIX                 (prints "key<TAB>size" lines)
 *   obj_tool del   URI KEY
 * Options (anywhere): --part-size=N --page=N --retries=N --backoff-ms=N.
 * Exit: 0 ok, 1 error (message on stderr as "obj_tool: NAME: message"), 2 usage. */
#include "base/compat.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "base/fs.h"
#include "io/objstore/objstore.h"

static int print_entry(void *ud, const CnObjEntry *e) {
    (void)ud;
    printf("%s\t%llu\n", e->key, (unsigned long long)e->size);
    return 0;
}

static int write_out(const char *path, const CnBuf *b, CnErr *err) {
    if (strcmp(path, "-") == 0) {
        if (b->len && fwrite(b->data, 1, b->len, stdout) != b->len)
            return cn_err_set(err, CN_EIO, "stdout: write failed");
        return 0;
    }
    return cn_fs_write_atomic(path, b->len ? b->data : "", b->len, err);
}

int main(int argc, char **argv) {
    CnObjOptions opt = {0};
    bool if_absent = false;
    const char *args[8];
    int n = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strncmp(a, "--part-size=", 12) == 0) opt.part_size = strtoull(a + 12, NULL, 10);
        else if (strncmp(a, "--page=", 7) == 0) opt.list_page_size = strtoull(a + 7, NULL, 10);
        else if (strncmp(a, "--retries=", 10) == 0) opt.max_retries = atoi(a + 10);
        else if (strncmp(a, "--backoff-ms=", 13) == 0) opt.backoff_ms = atoi(a + 13);
        else if (strcmp(a, "--if-absent") == 0) if_absent = true;
        else if (n < 8) args[n++] = a;
    }
    if (n < 3) {
        fprintf(stderr, "usage: obj_tool put|get|range|head|list|del URI KEY ...\n");
        return 2;
    }
    const char *cmd = args[0], *uri = args[1], *key = args[2];
    CnErr err = CN_ERR_INIT;
    CnObjStore *s = NULL;
    CnBuf buf = CN_BUF_INIT;
    char *data = NULL;
    int rc = cn_obj_open(uri, &opt, &s, &err);
    if (rc < 0) goto done;
    if (strcmp(cmd, "put") == 0 && n == 4) {
        size_t len = 0;
        rc = cn_fs_read_all(args[3], &data, &len, &err);
        if (rc == 0)
            rc = if_absent ? cn_obj_put_if_absent(s, key, data, len, &err)
                           : cn_obj_put(s, key, data, len, &err);
    } else if (strcmp(cmd, "get") == 0 && n == 4) {
        rc = cn_obj_get(s, key, &buf, &err);
        if (rc == 0) rc = write_out(args[3], &buf, &err);
    } else if (strcmp(cmd, "range") == 0 && n == 6) {
        rc = cn_obj_get_range(s, key, strtoull(args[3], NULL, 10),
                              (size_t)strtoull(args[4], NULL, 10), &buf, &err);
        if (rc == 0) rc = write_out(args[5], &buf, &err);
    } else if (strcmp(cmd, "head") == 0 && n == 3) {
        uint64_t size = 0;
        rc = cn_obj_head(s, key, &size, &err);
        if (rc == 0) printf("%llu\n", (unsigned long long)size);
    } else if (strcmp(cmd, "list") == 0 && n == 3) {
        rc = cn_obj_list(s, key, print_entry, NULL, &err);
    } else if (strcmp(cmd, "del") == 0 && n == 3) {
        rc = cn_obj_delete(s, key, &err);
    } else {
        fprintf(stderr, "obj_tool: bad command or argument count: %s\n", cmd);
        cn_obj_close(s);
        return 2;
    }
done:
    cn_obj_close(s);
    cn_buf_fini(&buf);
    cn_free(data);
    if (rc < 0) {
        fprintf(stderr, "obj_tool: %s: %s\n", chronon_err_name(rc), cn_err_msg(&err));
        return 1;
    }
    return 0;
}
