/* dist.c: the MPI side of distributed backfills (dist.h): launcher detection, the
 * all-to-all shuffle of row bytes, the rank-0 commit of every rank's data files, the
 * host check for local catalogs, and abort on failure. Built without MPI, only the
 * detection and the "built without MPI" error remain. */
#include "dist/dist.h"

#include <limits.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/alloc.h"
#include "base/str.h"
#include "table/table.h"

#ifdef CN_HAVE_MPI
#include <mpi.h>
#endif

#define SHUFFLE_TAG 7001 /* point-to-point messages of the shuffle */

struct CnDist {
    int rank, size;
    uint64_t bytes_sent;
    int fail_rank; /* CN_TEST_DIST_FAIL_RANK, -1: none */
    int fail_at;   /* CN_TEST_DIST_FAIL_AT: where fail_rank fails (FAIL_*) */
    bool writing;  /* between the sync before the chunk's writes and the commit's agreement */
    bool cleanup;  /* every rank knows the chunk failed: x_fail ends them together */
};

/* CN_TEST_DIST_FAIL_AT: files (default: after writing its files, before the commit),
 * write (right after the sync, while the other ranks write theirs), commit (rank 0's
 * commit of every rank's files) */
enum { FAIL_FILES, FAIL_WRITE, FAIL_COMMIT };

bool cn_dist_launched(void) {
    static const char *const vars[] = {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK"};
    for (size_t i = 0; i < sizeof vars / sizeof *vars; i++) {
        const char *v = getenv(vars[i]);
        if (v && *v) return true;
    }
    return false;
}

int cn_dist_check_unlaunched(CnErr *err) {
    const char *n = getenv("SLURM_STEP_NUM_TASKS");
    if (!n || atoi(n) <= 1) return 0;
    return cn_err_set(err, CN_EINVAL,
                      "srun started %s tasks of this backfill without MPI, so each would run the whole job: run "
                      "mpirun inside the allocation (docs/scaling.md), or srun --mpi=pmix",
                      n);
}

#ifdef CN_HAVE_MPI
bool cn_dist_available(void) { return true; }
#else
bool cn_dist_available(void) { return false; }
#endif

int cn_dist_rank(const CnDist *d) { return d ? d->rank : 0; }
int cn_dist_size(const CnDist *d) { return d ? d->size : 1; }
uint64_t cn_dist_bytes_sent(const CnDist *d) { return d ? d->bytes_sent : 0; }

static void say_failed(CnDist *d, const CnErr *err) {
    fprintf(stderr, "chronon: rank %d of %d: %s; aborting every rank\n",
            cn_dist_rank(d), cn_dist_size(d), err && cn_err_msg(err)[0] ? cn_err_msg(err) : "failed");
    fflush(stderr);
}

static _Noreturn void abort_all(void) {
#ifdef CN_HAVE_MPI
    MPI_Abort(MPI_COMM_WORLD, 1);
#endif
    _exit(1);
}

void cn_dist_abort(CnDist *d, const CnErr *err) {
    say_failed(d, err);
    abort_all();
}

int cn_dist_open_catalog(CnDist *d, const char *warehouse, const char *catalog, CnIceCatalog **cat,
                         CnEngShard *shard, CnErr *err) {
    if (d && d->rank != 0) cn_dist_barrier(d);
    int rc = cn_ice_catalog_open(warehouse, catalog, cat, err);
    if (d && d->rank == 0) cn_dist_barrier(d);
    if (rc == 0 && d) {
        rc = cn_dist_check_catalog(d, catalog, err);
        cn_dist_shard(d, shard);
    }
    return rc;
}

#ifndef CN_HAVE_MPI

int cn_dist_init(CnDist **out, CnErr *err) {
    *out = NULL;
    return cn_err_set(err, CN_EUNSUPPORTED,
                      "this chronon was built without MPI, so it cannot run as %s ranks of an MPI job (rebuild "
                      "with libopenmpi-dev installed and cmake -DCN_MPI=ON, or run it without mpirun)",
                      getenv("OMPI_COMM_WORLD_SIZE") ? getenv("OMPI_COMM_WORLD_SIZE") : "several");
}
void cn_dist_finish(CnDist *d) { cn_free(d); }
void cn_dist_barrier(CnDist *d) { (void)d; }
void cn_dist_shard(CnDist *d, CnEngShard *out) {
    (void)d;
    memset(out, 0, sizeof *out);
}
int cn_dist_check_catalog(CnDist *d, const char *catalog_uri, CnErr *err) {
    (void)d;
    (void)catalog_uri;
    (void)err;
    return 0;
}
void cn_dist_sum_stats(CnDist *d, CnEngStats *st) {
    (void)d;
    (void)st;
}
uint64_t cn_dist_bytes_shuffled(CnDist *d) { return cn_dist_bytes_sent(d); }

#else

int cn_dist_init(CnDist **out, CnErr *err) {
    *out = NULL;
    CnDist *d = cn_calloc(1, sizeof *d);
    if (!d) return cn_err_set(err, CN_ENOMEM, "out of memory");
    /* Open MPI: poll with sched_yield in its own blocking calls (MPI_Init, MPI_Finalize),
     * so ranks sharing cores with each other or with other work give them up; the
     * caller's setting wins */
    setenv("OMPI_MCA_mpi_yield_when_idle", "1", 0);
#ifdef __GLIBC__
    /* the shuffle allocates and frees buffers of tens of MB per chunk: glibc would map
     * each afresh (above 32 MB it always mmaps) and fault in every page again; from the
     * heap, freed pages serve the next buffer (the rank's peak memory is the same) */
    mallopt(M_MMAP_THRESHOLD, 1 << 30);
    mallopt(M_TRIM_THRESHOLD, 1 << 30);
#endif
    int inited = 0;
    MPI_Initialized(&inited);
    if (!inited && MPI_Init(NULL, NULL) != MPI_SUCCESS) {
        cn_free(d);
        return cn_err_set(err, CN_EREMOTE, "MPI_Init failed (is this process started by mpirun or srun?)");
    }
    MPI_Comm_rank(MPI_COMM_WORLD, &d->rank);
    MPI_Comm_size(MPI_COMM_WORLD, &d->size);
    const char *f = getenv("CN_TEST_DIST_FAIL_RANK"), *at = getenv("CN_TEST_DIST_FAIL_AT");
    d->fail_rank = f && *f ? atoi(f) : -1;
    d->fail_at = !at || !strcmp(at, "files") ? FAIL_FILES : !strcmp(at, "write") ? FAIL_WRITE : FAIL_COMMIT;
    *out = d;
    return 0;
}

void cn_dist_finish(CnDist *d) {
    if (!d) return;
    int fin = 0;
    MPI_Finalized(&fin);
    if (!fin) cn_dist_barrier(d); /* wait for the slowest rank asleep, not in MPI_Finalize's polling */
    if (!fin) MPI_Finalize();
    cn_free(d);
}

/* Waits for a non-blocking MPI operation without spinning: a rank that reaches a
 * collective first (its share of the scan was smaller) sleeps in short naps instead of
 * busy-polling a core the other ranks need (Open MPI and MPICH poll in their blocking
 * calls). Naps grow from 20 us to 1 ms, so a wait costs at most about 1 ms of latency. */
static void wait_all(MPI_Request *reqs, int n) {
    long ns = 20000;
    for (;;) {
        int done = 0;
        MPI_Testall(n, reqs, &done, MPI_STATUSES_IGNORE);
        if (done) return;
        struct timespec t = {0, ns};
        nanosleep(&t, NULL);
        if (ns < 1000000) ns *= 2;
    }
}

static void allreduce(const void *in, void *out, int n, MPI_Datatype t, MPI_Op op) {
    MPI_Request req;
    MPI_Iallreduce(in, out, n, t, op, MPI_COMM_WORLD, &req);
    wait_all(&req, 1);
}

static int any_failed(int mine) {
    int all = 0;
    allreduce(&mine, &all, 1, MPI_INT, MPI_MAX);
    return all;
}

/* Shuffle: sizes first (MPI_Alltoall), then the bytes, point to point straight from
 * each send buffer into its place in recv (this rank's own share is a memcpy), so no
 * packed copy of everything is made. MPI counts are ints: more than 2 GiB from one rank
 * to another in one chunk is refused (CN_ELIMIT). */
static int x_exchange(void *ud, const CnBuf *send, CnBuf *recv, CnErr *err) {
    CnDist *d = ud;
    int n = d->size, rc = 0;
    int *sc = cn_calloc((size_t)n * 2 + 1, sizeof *sc);
    size_t *rd = cn_calloc((size_t)n + 1, sizeof *rd);
    MPI_Request *reqs = cn_calloc((size_t)n * 2 + 1, sizeof *reqs);
    if (!sc || !rd || !reqs) rc = cn_err_set(err, CN_ENOMEM, "shuffle: out of memory");
    int *rcnt = sc ? sc + n : NULL;
    for (int i = 0; rc == 0 && i < n; i++) {
        if (send[i].len > INT_MAX)
            rc = cn_err_set(err, CN_ELIMIT, "shuffle: %zu bytes from rank %d to rank %d, more than MPI's 2 GiB per "
                                            "message; use more ranks or lower --step-days", send[i].len, d->rank, i);
        else sc[i] = (int)send[i].len;
    }
    if (any_failed(rc != 0)) {
        rc = rc ? rc : cn_err_set(err, CN_EREMOTE, "shuffle: another rank could not send its rows");
        goto done;
    }
    MPI_Request req;
    MPI_Ialltoall(sc, 1, MPI_INT, rcnt, 1, MPI_INT, MPI_COMM_WORLD, &req);
    wait_all(&req, 1);
    size_t rtotal = 0;
    for (int i = 0; i < n; i++) rd[i] = rtotal, rtotal += (size_t)rcnt[i];
    cn_buf_reset(recv);
    if (cn_buf_reserve(recv, rtotal + 1)) rc = cn_err_set(err, CN_ENOMEM, "shuffle: out of memory");
    if (any_failed(rc != 0)) {
        rc = rc ? rc : cn_err_set(err, CN_EREMOTE, "shuffle: another rank could not receive its rows");
        goto done;
    }
    int nr = 0;
    for (int i = 0; i < n; i++) {
        if (i == d->rank) continue;
        MPI_Irecv(recv->data + rd[i], rcnt[i], MPI_BYTE, i, SHUFFLE_TAG, MPI_COMM_WORLD, &reqs[nr++]);
        MPI_Isend(send[i].data ? send[i].data : "", sc[i], MPI_BYTE, i, SHUFFLE_TAG, MPI_COMM_WORLD, &reqs[nr++]);
        d->bytes_sent += send[i].len;
    }
    if (send[d->rank].len) memcpy(recv->data + rd[d->rank], send[d->rank].data, send[d->rank].len);
    wait_all(reqs, nr);
    recv->len = rtotal;
done:
    cn_free(sc);
    cn_free(rd);
    cn_free(reqs);
    return rc;
}

void cn_dist_barrier(CnDist *d) {
    (void)d;
    MPI_Request req;
    MPI_Ibarrier(MPI_COMM_WORLD, &req);
    wait_all(&req, 1);
}

/* The engine's last collective before each rank writes the chunk's files. */
static int x_sync(void *ud, CnErr *err) {
    CnDist *d = ud;
    cn_dist_barrier(d);
    d->writing = true;
    if (d->rank == d->fail_rank && d->fail_at == FAIL_WRITE)
        return cn_err_set(err, CN_EIO, "injected failure while the other ranks write (CN_TEST_DIST_FAIL_RANK=%d)",
                          d->fail_rank);
    return 0;
}

/* Every rank finishes its files; rank 0 gathers their descriptions, adds them to its
 * own write and commits once; the outcome is broadcast. */
static int x_commit(void *ud, CnIceWrite *w, CnErr *err) {
    CnDist *d = ud;
    CnBuf desc = CN_BUF_INIT;
    int rc = 0, n = d->size;
    /* Before any file is finished the ranks agree that each of them got here; a rank that
     * failed since the sync joins this agreement from x_fail. When one failed, every rank
     * returns the error, the engine frees its unfinished write (which removes the files)
     * and x_fail ends the ranks together, with nothing left behind */
    if (d->rank == d->fail_rank && d->fail_at == FAIL_FILES)
        rc = cn_err_set(err, CN_EIO, "injected failure after writing the data files (CN_TEST_DIST_FAIL_RANK=%d)",
                        d->fail_rank);
    d->writing = false;
    if (any_failed(rc != 0)) {
        d->cleanup = true;
        return rc ? rc : cn_err_set(err, CN_EREMOTE, "another rank failed before the commit; this rank's files of "
                                                     "the chunk are removed");
    }
    if (d->rank != 0) rc = cn_ice_write_finish_files(w, &desc, err);
    if (rc) {
        cn_buf_fini(&desc);
        return rc; /* the engine calls fail: MPI_Abort before rank 0 can commit */
    }
    int len = desc.len > INT_MAX ? -1 : (int)desc.len;
    int *lens = d->rank == 0 ? cn_calloc((size_t)n * 2 + 1, sizeof *lens) : NULL;
    MPI_Request req;
    MPI_Igather(&len, 1, MPI_INT, lens, 1, MPI_INT, 0, MPI_COMM_WORLD, &req);
    wait_all(&req, 1);
    char *all = NULL;
    if (d->rank == 0) {
        size_t total = 0;
        if (!lens) return cn_err_set(err, CN_ENOMEM, "out of memory");
        for (int i = 0; i < n; i++) {
            lens[n + i] = (int)total;
            total += lens[i] > 0 ? (size_t)lens[i] : 0;
        }
        if (total > INT_MAX || !(all = cn_malloc(total + 1))) {
            cn_free(lens);
            return cn_err_set(err, CN_ENOMEM, "commit: cannot gather %zu bytes of file descriptions", total);
        }
    }
    MPI_Igatherv(desc.data ? desc.data : "", len < 0 ? 0 : len, MPI_BYTE, all, lens, lens ? lens + n : NULL,
                 MPI_BYTE, 0, MPI_COMM_WORLD, &req);
    wait_all(&req, 1);
    cn_buf_fini(&desc);
    if (d->rank == 0) {
        for (int i = 1; i < n && rc == 0; i++) {
            if (lens[i] < 0) rc = cn_err_set(err, CN_ELIMIT, "commit: rank %d wrote too many files", i);
            else rc = cn_ice_write_add_files(w, all + lens[n + i], (size_t)lens[i], err);
        }
        if (rc == 0 && d->rank == d->fail_rank && d->fail_at == FAIL_COMMIT)
            rc = cn_err_set(err, CN_EIO, "injected failure of the commit (CN_TEST_DIST_FAIL_RANK=0)");
        /* on failure the engine frees w, which removes every rank's files added to it */
        if (rc == 0) rc = cn_ice_write_commit(w, NULL, err);
        cn_free(all);
        cn_free(lens);
    }
    int ok = rc;
    MPI_Ibcast(&ok, 1, MPI_INT, 0, MPI_COMM_WORLD, &req);
    wait_all(&req, 1);
    if (d->rank != 0 && ok) rc = cn_err_set(err, ok, "rank 0 could not commit the chunk");
    d->cleanup = ok != 0; /* rank 0 removes the files: the others wait for it in x_fail */
    return rc;
}

/* The engine freed its write of the chunk (removing its uncommitted files) before this.
 * A rank failing before the sync aborts at once: no rank has written a file of the chunk
 * (each writes after the sync). After the sync the others are writing: this rank joins
 * the commit's agreement with a failure, so they remove their files too; then every
 * rank waits for the others' removals before the job ends. */
static void x_fail(void *ud, const CnErr *err) {
    CnDist *d = ud;
    if (d->writing && !d->cleanup) {
        d->writing = false;
        (void)any_failed(1);
        d->cleanup = true;
    }
    if (!d->cleanup) cn_dist_abort(d, err);
    /* Every rank says why it stops before any of them aborts: the first MPI_Abort kills
     * the others, and a rank that had not printed yet (the one that failed, whose reason
     * the user needs) would lose its message. */
    say_failed(d, err);
    cn_dist_barrier(d);
    abort_all();
}

void cn_dist_shard(CnDist *d, CnEngShard *out) {
    memset(out, 0, sizeof *out);
    out->rank = d->rank;
    out->nranks = d->size;
    out->ud = d;
    out->exchange = x_exchange;
    out->sync = x_sync;
    out->commit = x_commit;
    out->fail = x_fail;
}

int cn_dist_check_catalog(CnDist *d, const char *catalog_uri, CnErr *err) {
    if (!catalog_uri || strncmp(catalog_uri, "sqlite:", 7)) return 0;
    enum { H = 256 };
    char me[H];
    memset(me, 0, sizeof me);
    if (gethostname(me, H - 1)) snprintf(me, H, "unknown");
    const char *fake = getenv("CN_TEST_DIST_FAKE_HOSTS");
    if (fake && *fake == '1') {
        size_t l = strlen(me);
        snprintf(me + l, H - l, "-rank%d", d->rank);
    }
    char *all = cn_malloc((size_t)H * (size_t)d->size);
    if (!all) return cn_err_set(err, CN_ENOMEM, "out of memory");
    MPI_Request req;
    MPI_Iallgather(me, H, MPI_CHAR, all, H, MPI_CHAR, MPI_COMM_WORLD, &req);
    wait_all(&req, 1);
    int other = -1;
    for (int i = 1; i < d->size && other < 0; i++)
        if (strncmp(all, all + (size_t)i * H, H)) other = i;
    int rc = 0;
    if (other >= 0)
        rc = cn_err_set(err, CN_EINVAL,
                        "catalog %s is a SQLite file local to one machine, but the %d ranks run on several hosts "
                        "(rank 0 on %.64s, rank %d on %.64s): use a PostgreSQL catalog (--catalog "
                        "postgresql://...) and a warehouse every host reaches (s3://... or a shared file system), "
                        "or run every rank on one host",
                        catalog_uri, d->size, all, other, all + (size_t)other * H);
    cn_free(all);
    return rc;
}

uint64_t cn_dist_bytes_shuffled(CnDist *d) {
    uint64_t mine = d->bytes_sent, all = 0;
    allreduce(&mine, &all, 1, MPI_UINT64_T, MPI_SUM);
    return all;
}

void cn_dist_sum_stats(CnDist *d, CnEngStats *st) {
    int64_t v[8] = {st->rows_scanned, st->partitions_scanned, st->tiles_read, st->tiles_written,
                    st->rows_written, st->chunks, st->chunks_failed, 0};
    int64_t s[8];
    allreduce(v, s, 8, MPI_INT64_T, MPI_SUM);
    st->rows_scanned = s[0];
    st->tiles_read = s[2];
    st->tiles_written = s[3];
    st->rows_written = s[4];
    /* every rank plans the same chunks and days, and partitions are split across ranks
     * by file: those counters stay this rank's */
    (void)d;
}

#endif
