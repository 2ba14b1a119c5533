/* obj_int.h: the backend vtable behind CnObjStore (private to io/objstore).
 * objstore.c validates keys, runs the fault hook and dispatches; a backend only moves
 * bytes. Each backend embeds CnObjStore as its first member. */
#ifndef CN_OBJ_INT_H
#define CN_OBJ_INT_H

#include "io/objstore/objstore.h"

typedef struct CnObjOps {
    const char *name;   /* "local" or "s3", for messages */
    int (*put)(CnObjStore *s, const char *key, const void *data, size_t len, bool if_absent,
               CnErr *err);
    /* len == SIZE_MAX with off == 0: the whole object. */
    int (*get)(CnObjStore *s, const char *key, uint64_t off, size_t len, CnBuf *out,
               CnErr *err);
    int (*head)(CnObjStore *s, const char *key, uint64_t *size, CnErr *err);
    int (*list)(CnObjStore *s, const char *prefix, CnObjListFn fn, void *ud, CnErr *err);
    int (*del)(CnObjStore *s, const char *key, CnErr *err);
    void (*close)(CnObjStore *s);
} CnObjOps;

enum { CN_OBJ__OP_PUT, CN_OBJ__OP_GET, CN_OBJ__OP_HEAD, CN_OBJ__OP_LIST, CN_OBJ__OP_DELETE,
       CN_OBJ__N_OPS };

#define CN_OBJ__MAX_FAULTS 8

typedef struct CnObjFault {
    int op;             /* CN_OBJ__OP_*, or -1 for any */
    uint64_t nth;       /* 1-based call number that fails */
    bool crash;         /* _exit instead of returning an error */
} CnObjFault;

struct CnObjStore {
    const CnObjOps *ops;
    char *root;                     /* OWNED: normalised root URI */
    CnObjOptions opt;               /* defaults filled in */
    bool atomic_if_absent;
    /* fault hook, parsed from CN_TEST_OBJ_FAIL at open */
    CnObjFault faults[CN_OBJ__MAX_FAULTS];
    int n_faults;
    uint64_t calls[CN_OBJ__N_OPS];
    uint64_t calls_any;
};

int cn_obj__local_open(const char *dir, CnObjStore **out, CnErr *err);
int cn_obj__s3_open(const char *bucket, const char *prefix, CnObjStore **out, CnErr *err);

/* Minimal XML helpers for S3 replies (flat, well-known element names). Finds the first
 * <tag>...</tag> at or after *pos within [p, p+len); on success sets the value span and
 * advances *pos past the closing tag. */
bool cn_obj__xml_find(const char *p, size_t len, size_t *pos, const char *tag,
                      const char **val, size_t *val_len);
/* Appends the XML-unescaped text to out. */
int cn_obj__xml_unescape(const char *v, size_t n, CnBuf *out);

#endif /* CN_OBJ_INT_H */
