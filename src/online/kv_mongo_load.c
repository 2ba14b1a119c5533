/* kv_mongo_load.c: the MongoDB backend's stand-in inside cn_online. The backend itself
 * (kv_mongo.c, linked with libmongoc) is the module chronon_mongo.so, loaded with dlopen
 * on the first mongodb:// open. Debian's libmongoc initialises itself when it is loaded
 * and gives the process a shared-memory counter file /dev/shm/mongoc-<pid>; a process
 * killed from outside leaves the file, and a later process with the same pid prints
 * "Falling back to malloc for counters". Loaded on demand, libmongoc is never in a
 * process that does not use MongoDB, and the counters are switched off
 * (MONGOC_DISABLE_SHM) before it loads in one that does.
 *
 * The module is looked for, in order, at $CHRONON_MONGO_MODULE (a file), next to the
 * running executable, and in the build directory it was built in. It calls back into
 * the executable for the base functions (alloc, errors, log, buffers, arenas) so that
 * both share one allocator and log level: those are exported from every executable that
 * links cn_online (src/online/CMakeLists.txt), and KEEP below makes sure each is linked
 * in even when nothing else in the executable calls it. */
#include "base/compat.h"

#include <dlfcn.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "base/alloc.h"
#include "base/arena.h"
#include "base/log.h"
#include "base/str.h"
#include "online/kv_int.h"
#include "online/kv_vercache.h"

#define MODULE_FILE "chronon_mongo.so"
#define MODULE_SYMBOL "cn_kv__mongo_module_ops"

/* Every function of ours that kv_mongo.c calls (a missing one fails its dlopen, which
 * kv_mongo.contract would show). */
__attribute__((used)) static void (*const KEEP[])(void) = {
    (void (*)(void))cn_err__set,     (void (*)(void))cn_log__write,
    (void (*)(void))cn_log_level,    (void (*)(void))cn_malloc,
    (void (*)(void))cn_calloc,       (void (*)(void))cn_realloc,
    (void (*)(void))cn_free,         (void (*)(void))cn_strdup,
    (void (*)(void))cn_buf_fini,     (void (*)(void))cn_buf_reset,
    (void (*)(void))cn_buf_append,   (void (*)(void))cn_buf_puts,
    (void (*)(void))cn_arena_init,   (void (*)(void))cn_arena_fini,
    (void (*)(void))cn_arena_alloc,  (void (*)(void))cn_arena_reset,
    (void (*)(void))cn_arena_strdup, (void (*)(void))cn_kv_key_repr,
    (void (*)(void))cn_kv__copy_value, (void (*)(void))cn_kv__vc_init,
    (void (*)(void))cn_kv__vc_fini,  (void (*)(void))cn_kv__vc_get,
    (void (*)(void))cn_kv__vc_set,
};

static pthread_once_t load_once = PTHREAD_ONCE_INIT;
static const CnKvOps *module_ops;
static char load_error[PATH_MAX + 512];

/* Tries one path; false (load_error says why) when it is absent or not our module. */
static bool try_load(const char *path) {
    if (access(path, F_OK) != 0) return false;
    void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        snprintf(load_error, sizeof load_error, "%s", dlerror());
        return false;
    }
    /* never closed: libmongoc keeps global state for the life of the process */
    module_ops = dlsym(h, MODULE_SYMBOL);
    if (!module_ops) snprintf(load_error, sizeof load_error, "%s has no %s", path, MODULE_SYMBOL);
    return module_ops != NULL;
}

static void load_module(void) {
    /* Before libmongoc's initialiser runs. Once per process, at the first mongodb://
     * open: no other thread of ours reads the environment then. */
    setenv("MONGOC_DISABLE_SHM", "1", 0);
    const char *env = getenv("CHRONON_MONGO_MODULE");
    if (env && *env) {
        if (!try_load(env) && !load_error[0])
            snprintf(load_error, sizeof load_error, "CHRONON_MONGO_MODULE=%s does not exist", env);
        return;
    }
    char exe[PATH_MAX], path[PATH_MAX + sizeof MODULE_FILE + 1];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n > 0) {
        exe[n] = '\0';
        char *slash = strrchr(exe, '/');
        if (slash) *slash = '\0';
        snprintf(path, sizeof path, "%s/" MODULE_FILE, exe);
        if (try_load(path) || load_error[0]) return;
    }
#ifdef CN_MONGO_MODULE_DIR
    snprintf(path, sizeof path, "%s/" MODULE_FILE, CN_MONGO_MODULE_DIR);
    if (try_load(path) || load_error[0]) return;
#endif
    snprintf(load_error, sizeof load_error, MODULE_FILE " was not found next to the executable "
             "(%s) nor at $CHRONON_MONGO_MODULE", n > 0 ? exe : "unknown");
}

static int mongo_open(CnKv *kv, const char *target, CnErr *err) {
    pthread_once(&load_once, load_module);
    if (!module_ops)
        return cn_err_set(err, CN_EUNSUPPORTED, "%s: the MongoDB backend could not be loaded: %s",
                          kv->uri, load_error);
    kv->ops = module_ops; /* every later call goes to the module */
    return module_ops->open(kv, target, err);
}

/* Only open is called through this table (it hands kv over to the module's). */
const CnKvOps cn_kv__mongo_ops = {
    .name = "mongodb",
    .caps = CN_KV_CAP_PERSISTENT,
    .max_key_len = 1000,
    .open = mongo_open,
};
