/* runner.c: the scheduler loop. Each tick (1) reaps or re-checks the processes this
 * scheduler watches, killing those past their timeout; (2) recovers tries whose scheduler
 * died: a live process (pid and start time match) is adopted, a finished one is settled
 * from the result file its wrapper wrote, a vanished one fails its try; (3) walks the
 * active DAG runs in ds order, settling task states from their upstream, poking sensors
 * and starting run tasks while slots are free.
 * A run task is a wrapper process (its own process group) that waits for a "go" byte,
 * runs the command with output into the try's log, then writes <try>.rc. The go byte is
 * sent only after the pid is in the state DB, so a try never runs unrecorded: a scheduler
 * killed in between leaves a wrapper that exits without running anything. The result file
 * lets a restarted scheduler settle a try that ended while nobody watched, so a finished
 * task is never run again. docs/scheduler.md has the lifecycle. */
#include "sched/sched.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "base/alloc.h"
#include "base/date.h"
#include "base/fs.h"
#include "sched/slurm.h"
#include "table/table.h"

typedef struct Child {
    char dag[256], task[256], ds[11];
    int try_number;
    pid_t pid;
    int64_t pid_start;
    bool own;              /* our child (waitpid); else adopted from a dead scheduler (polled) */
    int64_t deadline_ms;   /* 0: no timeout */
    char log[1024];
} Child;

struct CnSched {
    const CnSchedModel *m;
    CnSchedRunOpts o;
    CnSchedDb *db;
    CnIceCatalog *cat;     /* opened on the first sensor poke */
    char host[256];
    char owner[128];
    Child *kids;
    size_t n_kids, cap_kids;
    bool first_tick;
    int64_t beat_ms;       /* our last heartbeat in the state DB */
};

/* snprintf whose truncation is intended: messages and paths are cut, never overrun. */
static void sfmt(char *dst, size_t cap, const char *fmt, ...) CN_PRINTF(3, 4);
static void sfmt(char *dst, size_t cap, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(dst, cap, fmt, ap);
    va_end(ap);
}

static int64_t now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void say(CnSched *s, const char *fmt, ...) CN_PRINTF(2, 3);
static void say(CnSched *s, const char *fmt, ...) {
    if (!s->o.out) return;
    va_list ap;
    va_start(ap, fmt);
    vfprintf(s->o.out, fmt, ap);
    va_end(ap);
    fputc('\n', s->o.out);
    fflush(s->o.out);
}

/* ------------------------------------------------------------ processes */

/* Start time of pid in clock ticks after boot (field 22 of /proc/<pid>/stat), 0 when the
 * process does not exist; *zombie says whether it has exited unreaped. */
static int64_t proc_start(pid_t pid, bool *zombie) {
    char path[64], buf[1024];
    sfmt(path, sizeof path, "/proc/%d/stat", (int)pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return 0;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0) return 0;
    buf[n] = 0;
    char *p = strrchr(buf, ')'); /* the command name may hold spaces and parentheses */
    if (!p) return 0;
    if (zombie) *zombie = p[1] == ' ' && p[2] == 'Z';
    /* after ')': state is field 3, starttime field 22 */
    int field = 2;
    for (char *c = p + 1; *c; c++) {
        if (*c != ' ') continue;
        if (++field == 22) return strtoll(c + 1, NULL, 10);
    }
    return 0;
}

static bool proc_alive(pid_t pid, int64_t start) {
    if (pid <= 0) return false;
    bool zombie = false;
    int64_t st = proc_start(pid, &zombie);
    return st != 0 && st == start && !zombie;
}

/* Owner strings are "<host>:<pid>:<start>". True when that scheduler still runs here. */
static bool owner_alive(const CnSched *s, const char *owner) {
    const char *c2 = strrchr(owner, ':');
    if (!c2 || c2 == owner) return false;
    const char *c1 = c2 - 1;
    while (c1 > owner && *c1 != ':') c1--;
    if (*c1 != ':') return false;
    size_t hl = (size_t)(c1 - owner);
    if (hl != strlen(s->host) || strncmp(owner, s->host, hl)) return true; /* another host: not ours to judge */
    return proc_alive((pid_t)atol(c1 + 1), strtoll(c2 + 1, NULL, 10));
}

static void log_line(const char *path, const char *fmt, ...) CN_PRINTF(2, 3);
static void log_line(const char *path, const char *fmt, ...) {
    FILE *f = *path ? fopen(path, "a") : NULL;
    if (!f) return;
    va_list ap;
    va_start(ap, fmt);
    fputs("[chronon scheduler] ", f);
    vfprintf(f, fmt, ap);
    va_end(ap);
    fputc('\n', f);
    fclose(f);
}

/* "<log without .log>.rc" */
static void rc_path(const char *log, char *out, size_t cap) {
    size_t n = strlen(log);
    if (n > 4 && !strcmp(log + n - 4, ".log")) n -= 4;
    sfmt(out, cap, "%.*s.rc", (int)n, log);
}

/* Exit code the wrapper recorded, or -1 when it recorded none. */
static int read_rc(const char *log) {
    char p[1100], buf[32];
    if (!*log) return -1; /* the try never got a log, so never ran */
    rc_path(log, p, sizeof p);
    int fd = open(p, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return -1;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0) return -1;
    buf[n] = 0;
    return atoi(buf);
}

/* ------------------------------------------------------------ templates */

/* Renders Airflow's templates in arg for ds: {{ ds }}, {{ ds_nodash }},
 * {{ yesterday_ds }}, {{ tomorrow_ds }}, {{ macros.ds_add(ds, N) }}. In a; NULL with
 * *bad set to the template it does not know. */
static char *render(CnArena *a, const char *arg, const char *ds, const char **bad) {
    CnBuf b = CN_BUF_INIT;
    const char *p = arg;
    char *res = NULL;
    *bad = NULL;
    while (*p) {
        const char *open_ = strstr(p, "{{"), *close_ = open_ ? strstr(open_, "}}") : NULL;
        if (!open_ || !close_) {
            cn_buf_puts(&b, p);
            break;
        }
        cn_buf_append(&b, p, (size_t)(open_ - p));
        const char *e = open_ + 2, *f = close_;
        while (e < f && *e == ' ') e++;
        while (f > e && f[-1] == ' ') f--;
        char expr[128];
        sfmt(expr, sizeof expr, "%.*s", (int)(f - e), e);
        char out[11];
        long n = 0;
        if (!strcmp(expr, "ds")) cn_buf_puts(&b, ds);
        else if (!strcmp(expr, "ds_nodash")) {
            for (const char *c = ds; *c; c++)
                if (*c != '-') cn_buf_putc(&b, *c);
        } else if (!strcmp(expr, "yesterday_ds") && !cn_ds_add(ds, -1, out)) cn_buf_puts(&b, out);
        else if (!strcmp(expr, "tomorrow_ds") && !cn_ds_add(ds, 1, out)) cn_buf_puts(&b, out);
        else if (sscanf(expr, "macros.ds_add(ds, %ld)", &n) == 1 && !cn_ds_add(ds, n, out)) cn_buf_puts(&b, out);
        else {
            *bad = cn_arena_strdup(a, expr);
            goto done;
        }
        p = close_ + 2;
    }
    if (!b.oom) res = cn_arena_strdup(a, b.data ? b.data : "");
done:
    cn_buf_fini(&b);
    return res;
}

/* ------------------------------------------------------------ state changes */

static int tries_allowed(const CnSched *s, const CnSchedTask *t, const CnSchedTi *ti) {
    int retries = t->kind == CN_SCHED_TASK_RUN ? s->m->settings.retries : s->m->settings.sensor_retries;
    return ti->try_base + 1 + retries;
}

static int64_t backoff_ms(const CnSchedSettings *st, int try_no) {
    int64_t d = st->retry_delay_ms;
    if (st->retry_exponential)
        for (int i = 1; i < try_no && d < st->max_retry_delay_ms; i++) d *= 2;
    return st->retry_exponential && d > st->max_retry_delay_ms ? st->max_retry_delay_ms : d;
}

/* The try of ti (state running or queued) ended: success, else a retry after the
 * backoff, or failed when out of tries or final. reason NULL on success. */
static int settle_ex(CnSched *s, const CnSchedTask *t, const CnSchedTi *ti, bool ok, bool final, const char *reason,
                     CnErr *err) {
    CnSchedTi neu = *ti;
    int64_t now = now_ms();
    neu.end_ms = now;
    neu.pid = 0;
    neu.pid_start = 0;
    neu.next_ms = 0;
    sfmt(neu.owner, sizeof neu.owner, "%s", s->owner);
    if (ok) {
        neu.state = CN_SCHED_TI_SUCCESS;
        neu.reason[0] = 0;
    } else {
        sfmt(neu.reason, sizeof neu.reason, "try %d: %s", ti->try_number, reason);
        if (!final && ti->try_number < tries_allowed(s, t, ti)) {
            neu.state = CN_SCHED_TI_UP_FOR_RETRY;
            neu.next_ms = now + backoff_ms(&s->m->settings, ti->try_number - ti->try_base);
        } else {
            neu.state = CN_SCHED_TI_FAILED;
        }
    }
    bool won = false;
    int rc = cn_sched_db_ti_cas(s->db, ti, &neu, &won, err);
    if (!rc && won)
        say(s, "%s %s %s try %d: %s%s%s%s", ti->dag_id, ti->task_id, ti->ds, ti->try_number,
            cn_sched_ti_state_name(neu.state), ok ? "" : " (", ok ? "" : reason, ok ? "" : ")");
    return rc;
}

static int settle(CnSched *s, const CnSchedTask *t, const CnSchedTi *ti, bool ok, const char *reason, CnErr *err) {
    return settle_ex(s, t, ti, ok, false, reason, err);
}

static const CnSchedTask *task_of(const CnSched *s, const char *dag, const char *task, const CnSchedDag **dp) {
    const CnSchedDag *d = cn_sched_dag_find(s->m, dag);
    if (dp) *dp = d;
    return d ? cn_sched_task_find(d, task) : NULL;
}

/* ------------------------------------------------------------ watched processes */

static void kid_drop(CnSched *s, size_t i) {
    s->kids[i] = s->kids[--s->n_kids];
}

static int kid_finish(CnSched *s, Child *k, const char *why, CnErr *err) {
    CnSchedTi ti;
    int rc = cn_sched_db_ti_get(s->db, k->dag, k->task, k->ds, &ti, err);
    if (rc == CN_ENOTFOUND) return 0;
    if (rc) return rc;
    if (ti.state != CN_SCHED_TI_RUNNING || ti.try_number != k->try_number || strcmp(ti.owner, s->owner))
        return 0; /* cleared or taken over meanwhile */
    const CnSchedTask *t = task_of(s, k->dag, k->task, NULL);
    if (!t) return 0;
    int code = read_rc(k->log);
    char reason[300];
    if (why) sfmt(reason, sizeof reason, "%s", why);
    else if (code < 0) sfmt(reason, sizeof reason, "process ended without a result (killed?); see %s", k->log);
    else if (code > 128) sfmt(reason, sizeof reason, "killed by signal %d; see %s", code - 128, k->log);
    else sfmt(reason, sizeof reason, "exit code %d; see %s", code, k->log);
    return settle(s, t, &ti, !why && code == 0, reason, err);
}

static int watch(CnSched *s, CnErr *err) {
    int64_t now = now_ms();
    for (size_t i = 0; i < s->n_kids;) {
        Child *k = &s->kids[i];
        bool gone;
        if (k->own) {
            int st;
            pid_t r = waitpid(k->pid, &st, WNOHANG);
            gone = r == k->pid || (r < 0 && errno == ECHILD);
        } else {
            gone = !proc_alive(k->pid, k->pid_start);
        }
        const char *why = NULL;
        char buf[200];
        if (!gone && k->deadline_ms && now >= k->deadline_ms) {
            kill(-k->pid, SIGKILL); /* the whole group: the command and anything it started */
            if (k->own) waitpid(k->pid, NULL, 0);
            else
                for (int w = 0; w < 200 && proc_alive(k->pid, k->pid_start); w++) usleep(10000);
            sfmt(buf, sizeof buf, "timed out after %.3f s (task_timeout_seconds): process group %d killed",
                     (double)s->m->settings.task_timeout_ms / 1000.0, (int)k->pid);
            log_line(k->log, "%s", buf);
            why = buf;
            gone = true;
        }
        if (!gone) {
            i++;
            continue;
        }
        Child copy = *k;
        kid_drop(s, i);
        int rc = kid_finish(s, &copy, why, err);
        if (rc) return rc;
    }
    return 0;
}

static bool watched(const CnSched *s, const CnSchedTi *ti) {
    for (size_t i = 0; i < s->n_kids; i++)
        if (!strcmp(s->kids[i].dag, ti->dag_id) && !strcmp(s->kids[i].task, ti->task_id) &&
            !strcmp(s->kids[i].ds, ti->ds))
            return true;
    return false;
}

static int kid_add(CnSched *s, const Child *k, CnErr *err) {
    if (s->n_kids == s->cap_kids) {
        size_t nc = s->cap_kids ? s->cap_kids * 2 : 16;
        Child *p = cn_realloc(s->kids, nc * sizeof *p);
        if (!p) return cn_err_set(err, CN_ENOMEM, "out of memory");
        s->kids = p;
        s->cap_kids = nc;
    }
    s->kids[s->n_kids++] = *k;
    return 0;
}

/* The host part of an owner string "<host>:<pid>:<start>" (the whole string if malformed). */
static void owner_host(const char *owner, char *out, size_t cap) {
    const char *c2 = strrchr(owner, ':');
    const char *c1 = c2 && c2 > owner ? c2 - 1 : NULL;
    while (c1 && c1 > owner && *c1 != ':') c1--;
    if (!c1 || *c1 != ':') sfmt(out, cap, "%s", owner);
    else sfmt(out, cap, "%.*s", (int)(c1 - owner), owner);
}

/* A try claimed by a scheduler on another host: that host's processes cannot be seen from
 * here, so the owner's heartbeat decides. While it beat within the lease the try is
 * its; after that the owner (and, for all we know, its host) is dead: take the try
 * over and settle it from the result file when the log directory is shared, else count
 * the try as failed, so that it is retried here as the retries setting allows (Airflow's
 * zombie tasks). The old owner, should it come back, finds the row no longer its own
 * and leaves it alone. */
static int recover_remote(CnSched *s, const CnSchedTask *t, const CnSchedTi *ti, CnErr *err) {
    int64_t now = now_ms(), beat = 0, lease = s->m->settings.lease_ms;
    int rc = *ti->owner ? cn_sched_db_heartbeat_get(s->db, ti->owner, &beat, err) : CN_ENOTFOUND;
    if (rc && rc != CN_ENOTFOUND) return rc;
    int64_t last = CN_MAX(beat, ti->start_ms); /* no heartbeat yet: the claim is its sign of life */
    if (now - last < lease) return 0;
    CnSchedTi mine = *ti;
    sfmt(mine.owner, sizeof mine.owner, "%s", s->owner);
    bool won = false;
    if ((rc = cn_sched_db_ti_cas(s->db, ti, &mine, &won, err)) || !won) return rc;
    char host[256];
    owner_host(*ti->owner ? ti->owner : ti->host, host, sizeof host);
    int code = ti->state == CN_SCHED_TI_RUNNING ? read_rc(ti->log_path) : -1;
    char reason[400];
    if (code >= 0)
        sfmt(reason, sizeof reason, "exit code %d (finished while its scheduler %s on host %s was gone); see %s", code,
             ti->owner, host, ti->log_path);
    else
        sfmt(reason, sizeof reason, "its scheduler %s on host %s sent no heartbeat for %.1f s "
             "(scheduler_lease_seconds %.1f); the try is presumed lost and taken over by %s",
             ti->owner, host, (double)(now - last) / 1000.0, (double)lease / 1000.0, s->owner);
    say(s, "%s %s %s try %d: taken over from %s (no heartbeat for %.1f s)", ti->dag_id, ti->task_id, ti->ds,
        ti->try_number, ti->owner, (double)(now - last) / 1000.0);
    log_line(ti->log_path, "%s", reason);
    return settle(s, t, &mine, code == 0, reason, err);
}

/* Tries claimed by a scheduler of this host that is gone: adopt the live ones, settle the
 * rest. Tries of other hosts: recover_remote (heartbeat and lease). docs/scheduler.md. */
static int recover(CnSched *s, CnErr *err) {
    CnSchedTi *tis = NULL;
    size_t n = 0;
    int rc = cn_sched_db_ti_list(s->db, NULL, NULL, true, &tis, &n, err);
    for (size_t i = 0; !rc && i < n; i++) {
        CnSchedTi *ti = &tis[i];
        const CnSchedDag *d;
        const CnSchedTask *t = task_of(s, ti->dag_id, ti->task_id, &d);
        if (!t || t->kind != CN_SCHED_TASK_RUN || watched(s, ti) || !strcmp(ti->owner, s->owner)) continue;
        char oh[256] = "";
        if (*ti->owner) owner_host(ti->owner, oh, sizeof oh);
        if ((*ti->host && strcmp(ti->host, s->host)) || (*oh && strcmp(oh, s->host))) {
            rc = recover_remote(s, t, ti, err);
            continue;
        }
        if (*ti->owner && owner_alive(s, ti->owner)) continue;
        if (ti->state == CN_SCHED_TI_RUNNING && proc_alive((pid_t)ti->pid, ti->pid_start)) {
            CnSchedTi neu = *ti;
            sfmt(neu.owner, sizeof neu.owner, "%s", s->owner);
            bool won = false;
            if ((rc = cn_sched_db_ti_cas(s->db, ti, &neu, &won, err)) || !won) continue;
            Child k = {.try_number = ti->try_number, .pid = (pid_t)ti->pid, .pid_start = ti->pid_start};
            sfmt(k.dag, sizeof k.dag, "%s", ti->dag_id);
            sfmt(k.task, sizeof k.task, "%s", ti->task_id);
            sfmt(k.ds, sizeof k.ds, "%s", ti->ds);
            sfmt(k.log, sizeof k.log, "%s", ti->log_path);
            if (s->m->settings.task_timeout_ms) k.deadline_ms = ti->start_ms + s->m->settings.task_timeout_ms;
            say(s, "%s %s %s try %d: adopted running process %lld", ti->dag_id, ti->task_id, ti->ds, ti->try_number,
                (long long)ti->pid);
            log_line(ti->log_path, "adopted by scheduler %s (the one that started it is gone)", s->owner);
            rc = kid_add(s, &k, err);
            continue;
        }
        /* Take it over first, so that only one scheduler settles it. */
        CnSchedTi mine = *ti;
        sfmt(mine.owner, sizeof mine.owner, "%s", s->owner);
        bool won = false;
        if ((rc = cn_sched_db_ti_cas(s->db, ti, &mine, &won, err)) || !won) continue;
        int code = ti->state == CN_SCHED_TI_RUNNING ? read_rc(ti->log_path) : -1;
        char reason[300];
        if (ti->state == CN_SCHED_TI_QUEUED)
            sfmt(reason, sizeof reason, "the scheduler that was starting it died before it ran");
        else if (code < 0)
            sfmt(reason, sizeof reason, "process %lld is gone without a result (its scheduler died)",
                     (long long)ti->pid);
        else sfmt(reason, sizeof reason, "exit code %d (finished while no scheduler watched); see %s", code,
                      ti->log_path);
        rc = settle(s, t, &mine, code == 0, reason, err);
    }
    cn_free(tis);
    return rc;
}

/* ------------------------------------------------------------ starting a try */

static int open_log(const char *dir, const CnSchedTi *ti, int try_no, char *path, size_t cap, int *fd, char *why,
                    size_t why_len) {
    char d[1024];
    sfmt(d, sizeof d, "%s/%s/%s/%s", dir, ti->dag_id, ti->task_id, ti->ds);
    sfmt(path, cap, "%s/%d.log", d, try_no);
    CnErr e = CN_ERR_INIT;
    if (cn_fs_mkdirs(d, &e)) {
        sfmt(why, why_len, "cannot create log directory: %s", cn_err_msg(&e));
        return -1;
    }
    *fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (*fd < 0) {
        sfmt(why, why_len, "cannot write log file %s: %s", path, strerror(errno));
        return -1;
    }
    char rcp[1100];
    rc_path(path, rcp, sizeof rcp);
    unlink(rcp);
    return 0;
}

/* The wrapper: runs argv in its process group with output in the log, then records the
 * exit code in <try>.rc (temp + rename). Never returns. */
CN_NORETURN static void wrapper(int go, int logfd, const char *log, char **argv, char **envs, size_t n_env,
                                const CnSchedSlurm *slurm) {
    char c;
    ssize_t r;
    do r = read(go, &c, 1);
    while (r < 0 && errno == EINTR);
    if (r != 1) _exit(125); /* the scheduler died before recording us: run nothing */
    close(go);
    struct sigaction dfl = {.sa_handler = SIG_DFL};
    sigaction(SIGTERM, &dfl, NULL);
    sigaction(SIGINT, &dfl, NULL);
    sigaction(SIGCHLD, &dfl, NULL);
    int nul = open("/dev/null", O_RDONLY);
    if (nul >= 0) dup2(nul, 0);
    dup2(logfd, 1);
    dup2(logfd, 2);
    long maxfd = sysconf(_SC_OPEN_MAX);
    for (long fd = 3; fd < (maxfd > 0 && maxfd < 65536 ? maxfd : 65536); fd++) close((int)fd);
    for (size_t i = 0; i < n_env; i++) putenv(envs[i]);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    pid_t g = fork();
    if (g == 0) {
        if (slurm) _exit(cn_sched_slurm_run(slurm, argv, log)); /* backfills through sbatch (slurm.c) */
        execvp(argv[0], argv);
        fprintf(stderr, "[chronon scheduler] cannot run %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    int st = 0, code;
    if (g < 0) {
        fprintf(stderr, "[chronon scheduler] cannot start %s: %s\n", argv[0], strerror(errno));
        code = 126;
    } else {
        while (waitpid(g, &st, 0) < 0 && errno == EINTR) {
        }
        code = WIFEXITED(st) ? WEXITSTATUS(st) : WIFSIGNALED(st) ? 128 + WTERMSIG(st) : 1;
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    fprintf(stderr, "[chronon scheduler] exit code %d after %.3f s\n", code,
            (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
    char rcp[1100], tmp[1200], txt[16];
    rc_path(log, rcp, sizeof rcp);
    sfmt(tmp, sizeof tmp, "%s.tmp", rcp);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd >= 0) {
        int n = snprintf(txt, sizeof txt, "%d\n", code);
        bool ok = write(fd, txt, (size_t)n) == n && fsync(fd) == 0;
        close(fd);
        if (ok) rename(tmp, rcp);
    }
    _exit(code);
}

static int launch(CnSched *s, const CnSchedDag *d, const CnSchedTask *t, const CnSchedTi *ti, CnErr *err) {
    const CnSchedSettings *st = &s->m->settings;
    CnSchedTi claim = *ti;
    int try_no = ti->try_number + 1;
    int64_t now = now_ms();
    claim.state = CN_SCHED_TI_QUEUED;
    claim.try_number = try_no;
    claim.start_ms = now;
    claim.end_ms = 0;
    claim.next_ms = 0;
    claim.pid = 0;
    claim.reason[0] = 0;
    sfmt(claim.host, sizeof claim.host, "%s", s->host);
    sfmt(claim.owner, sizeof claim.owner, "%s", s->owner);
    int logfd = -1, go[2] = {-1, -1};
    char why[600] = "";
    if (open_log(s->o.log_dir, ti, try_no, claim.log_path, sizeof claim.log_path, &logfd, why, sizeof why)) {
        claim.log_path[0] = 0;
    }
    bool won = false;
    int rc = cn_sched_db_ti_cas(s->db, ti, &claim, &won, err);
    if (rc || !won) {
        if (logfd >= 0) close(logfd);
        return rc; /* another scheduler took it */
    }
    CnArena a;
    cn_arena_init(&a, 0);
    char **argv = NULL, *envs[5] = {0};
    size_t n_env = 0;
    if (!*why) {
        argv = cn_arena_calloc(&a, (t->argc + 1) * sizeof *argv);
        for (size_t i = 0; argv && i < t->argc; i++) {
            const char *bad = NULL;
            const char *arg = i == 0 && !strcmp(t->argv[0], "chronon") && s->o.self_exe ? s->o.self_exe : t->argv[i];
            argv[i] = render(&a, arg, ti->ds, &bad);
            if (!argv[i]) {
                sfmt(why, sizeof why, "argument %zu \"%s\": unknown template {{ %s }}", i, t->argv[i],
                         bad ? bad : "?");
                break;
            }
        }
        if (!argv) sfmt(why, sizeof why, "out of memory");
        if (t->env_online) envs[n_env++] = cn_arena_printf(&a, "CHRONON_ONLINE=%s", t->env_online);
        envs[n_env++] = cn_arena_printf(&a, "CN_SCHED_DAG_ID=%s", d->id);
        envs[n_env++] = cn_arena_printf(&a, "CN_SCHED_TASK_ID=%s", t->id);
        envs[n_env++] = cn_arena_printf(&a, "CN_SCHED_DS=%s", ti->ds);
        envs[n_env++] = cn_arena_printf(&a, "CN_SCHED_TRY=%d", try_no);
        for (size_t i = 0; i < n_env && !*why; i++)
            if (!envs[i]) sfmt(why, sizeof why, "out of memory");
    }
    if (!*why && pipe(go) != 0) sfmt(why, sizeof why, "cannot create a pipe: %s", strerror(errno));
    if (!*why) {
        /* the command line, for the log's first line */
        CnBuf cmd = CN_BUF_INIT;
        for (size_t i = 0; i < t->argc; i++) cn_buf_printf(&cmd, "%s%s", i ? " " : "", argv[i]);
        char hdr[2048];
        int hl = snprintf(hdr, sizeof hdr, "[chronon scheduler] dag=%s task=%s ds=%s try=%d/%d host=%s command: %s\n",
                          d->id, t->id, ti->ds, try_no, tries_allowed(s, t, &claim), s->host, cmd.data ? cmd.data : "");
        cn_buf_fini(&cmd);
        if (write(logfd, hdr, (size_t)CN_MIN(hl, (int)sizeof hdr - 1)) < 0)
            sfmt(why, sizeof why, "cannot write log file %s: %s", claim.log_path, strerror(errno));
    }
    pid_t pid = -1;
    if (!*why) {
        fflush(NULL);
        pid = fork();
        if (pid < 0) sfmt(why, sizeof why, "cannot fork: %s", strerror(errno));
        if (pid == 0) {
            setpgid(0, 0);
            close(go[1]);
            wrapper(go[0], logfd, claim.log_path, argv, envs, n_env,
                    t->mode && !strcmp(t->mode, "backfill") ? st->slurm : NULL);
        }
    }
    if (go[0] >= 0) close(go[0]);
    if (logfd >= 0) close(logfd);
    if (*why) {
        if (go[1] >= 0) close(go[1]);
        cn_arena_fini(&a);
        return settle(s, t, &claim, false, why, err);
    }
    setpgid(pid, pid); /* also here: the group must exist before a timeout's kill(-pid) */
    CnSchedTi running = claim;
    running.state = CN_SCHED_TI_RUNNING;
    running.pid = pid;
    running.pid_start = proc_start(pid, NULL);
    rc = cn_sched_db_ti_cas(s->db, &claim, &running, &won, err);
    if (rc || !won || running.pid_start == 0) {
        /* not recorded: the wrapper must not run the command */
        close(go[1]);
        kill(-pid, SIGKILL);
        waitpid(pid, NULL, 0);
        cn_arena_fini(&a);
        if (!rc && won) return settle(s, t, &running, false, "could not read the new process's start time", err);
        return rc;
    }
    ssize_t w;
    do w = write(go[1], "g", 1);
    while (w < 0 && errno == EINTR);
    close(go[1]);
    cn_arena_fini(&a);
    Child k = {.try_number = try_no, .pid = pid, .pid_start = running.pid_start, .own = true};
    sfmt(k.dag, sizeof k.dag, "%s", d->id);
    sfmt(k.task, sizeof k.task, "%s", t->id);
    sfmt(k.ds, sizeof k.ds, "%s", ti->ds);
    sfmt(k.log, sizeof k.log, "%s", claim.log_path);
    if (st->task_timeout_ms) k.deadline_ms = now + st->task_timeout_ms;
    say(s, "%s %s %s try %d: started pid %d, log %s", d->id, t->id, ti->ds, try_no, (int)pid, claim.log_path);
    return kid_add(s, &k, err);
}

/* ------------------------------------------------------------ sensors */

/* Whether the partition of sensor t for ds exists. why (OUT) says what it waits for. */
static bool poke_partition(CnSched *s, const CnSchedTask *t, const char *ds, char *why, size_t why_len) {
    char day[11];
    sfmt(day, sizeof day, "%s", ds);
    if (t->end && strcmp(ds, t->end) > 0) sfmt(day, sizeof day, "%s", t->end); /* SensorWithEndDate */
    CnArena a;
    cn_arena_init(&a, 0);
    const char *bad = NULL;
    char *part = render(&a, t->partition, day, &bad);
    bool met = false;
    char ns[129], name[129];
    CnErr e = CN_ERR_INIT;
    CnIceTable *tab = NULL;
    CnIceScan *scan = NULL;
    if (!part) {
        sfmt(why, why_len, "partition spec %s: unknown template {{ %s }}", t->spec, bad ? bad : "?");
        goto done;
    }
    if (strncmp(part, "ds=", 3) || strchr(part, '/')) {
        sfmt(why, why_len, "partition %s of %s: tables here are partitioned by ds alone (expected ds=<date>)", part,
                 t->table);
        goto done;
    }
    sfmt(why, why_len, "waiting for partition %s/%s", t->table, part);
    if (!s->cat && cn_ice_catalog_open(s->o.warehouse, s->o.catalog, &s->cat, &e)) {
        sfmt(why, why_len, "waiting for partition %s/%s: %s", t->table, part, cn_err_msg(&e));
        s->cat = NULL;
        goto done;
    }
    if (cn_ice_name_parse(t->table, ns, name, &e) || !cn_ice_table_exists(s->cat, ns, name)) goto done;
    CnIceScanOpts so = {.ds_lo = part + 3, .ds_hi = part + 3};
    if (cn_ice_table_load(s->cat, ns, name, &tab, &e) || cn_ice_scan_open(s->cat, tab, &so, &scan, &e)) {
        sfmt(why, why_len, "waiting for partition %s/%s: %s", t->table, part, cn_err_msg(&e));
        goto done;
    }
    met = cn_ice_scan_n_files(scan) > 0;
done:
    cn_ice_scan_close(scan);
    cn_ice_table_free(tab);
    cn_arena_fini(&a);
    return met;
}

/* A wait on another DAG's task: 1 met, 0 not yet, -1 that task failed. */
static int poke_external(CnSched *s, const CnSchedTask *t, const char *ds, char *why, size_t why_len, CnErr *err) {
    CnSchedTi o;
    int rc = cn_sched_db_ti_get(s->db, t->ext_dag, t->ext_task, ds, &o, err);
    if (rc == CN_ENOTFOUND) {
        sfmt(why, why_len, "waiting for task %s of DAG %s (no run for %s yet)", t->ext_task, t->ext_dag, ds);
        return 0;
    }
    if (rc) return rc;
    sfmt(why, why_len, "waiting for task %s of DAG %s (%s)", t->ext_task, t->ext_dag, cn_sched_ti_state_name(o.state));
    if (o.state == CN_SCHED_TI_SUCCESS || o.state == CN_SCHED_TI_SKIPPED) return 1;
    if (o.state == CN_SCHED_TI_FAILED || o.state == CN_SCHED_TI_UPSTREAM_FAILED) {
        sfmt(why, why_len, "task %s of DAG %s %s for %s", t->ext_task, t->ext_dag, cn_sched_ti_state_name(o.state),
                 ds);
        return -1;
    }
    return 0;
}

/* Pokes a running sensor or wait whose poke is due; claims the poke first (CAS) so that
 * two schedulers do not both poke. *waiting (OUT) says whether it still waits. */
static int poke(CnSched *s, const CnSchedTask *t, const CnSchedTi *ti, bool *waiting, CnErr *err) {
    const CnSchedSettings *st = &s->m->settings;
    int64_t now = now_ms();
    char why[600] = "";
    int met;
    if (t->kind == CN_SCHED_TASK_SENSOR) met = poke_partition(s, t, ti->ds, why, sizeof why) ? 1 : 0;
    else {
        met = poke_external(s, t, ti->ds, why, sizeof why, err);
        if (met < -1) return met;
    }
    *waiting = met == 0;
    if (met == 1) return settle(s, t, ti, true, NULL, err);
    if (met < 0 || now - ti->first_ms >= st->sensor_timeout_ms) {
        if (met == 0) {
            char r2[700];
            sfmt(r2, sizeof r2, "sensor timed out after %.3f s (%s)", (double)st->sensor_timeout_ms / 1000.0, why);
            sfmt(why, sizeof why, "%s", r2);
        }
        *waiting = false;
        /* another DAG's failed task does not heal by waiting again */
        return settle_ex(s, t, ti, false, met < 0, why, err);
    }
    CnSchedTi neu = *ti;
    neu.next_ms = now + st->sensor_poke_ms;
    sfmt(neu.reason, sizeof neu.reason, "%s", why);
    sfmt(neu.owner, sizeof neu.owner, "%s", s->owner);
    bool won;
    return cn_sched_db_ti_cas(s->db, ti, &neu, &won, err);
}

/* ------------------------------------------------------------ the tick */

static bool covered(const CnSched *s, const CnSchedDag *d, bool *paused, CnErr *err) {
    if (d->incomplete) return false;
    if (s->o.only_dag && strcmp(s->o.only_dag, d->id)) return false;
    *paused = false;
    if (cn_sched_db_is_paused(s->db, d->id, paused, err)) return false;
    return !*paused || (s->o.ignore_paused && s->o.only_dag);
}

static bool in_range(const CnSched *s, const char *ds) {
    return (!s->o.ds_lo || strcmp(ds, s->o.ds_lo) >= 0) && (!s->o.ds_hi || strcmp(ds, s->o.ds_hi) <= 0);
}

typedef struct Slots {
    int global;  /* run tasks this scheduler may still start */
} Slots;

/* Settles one run's tasks; starts what is ready. */
static int step_run(CnSched *s, const CnSchedDag *d, CnSchedRun *run, int *dag_slots, Slots *sl, bool *busy,
                    CnErr *err) {
    CnSchedTi *tis = NULL;
    size_t n = 0;
    int rc = cn_sched_db_ti_list(s->db, d->id, run->ds, false, &tis, &n, err);
    if (rc) return rc;
    bool missing = n < d->n_tasks;
    for (size_t i = 0; !missing && i < d->n_tasks; i++) {
        bool found = false;
        for (size_t k = 0; k < n && !found; k++) found = !strcmp(tis[k].task_id, d->tasks[i].id);
        missing = !found;
    }
    if (missing) { /* a new run, or a DAG that gained tasks */
        for (size_t i = 0; !rc && i < d->n_tasks; i++) rc = cn_sched_db_ti_ensure(s->db, d->id, d->tasks[i].id, run->ds, err);
        cn_free(tis);
        tis = NULL;
        if (!rc) rc = cn_sched_db_ti_list(s->db, d->id, run->ds, false, &tis, &n, err);
        if (rc) goto done;
    }
    /* index by task */
    CnSchedTi **by = cn_calloc(d->n_tasks ? d->n_tasks : 1, sizeof *by);
    if (!by) {
        rc = cn_err_set(err, CN_ENOMEM, "out of memory");
        goto done;
    }
    for (size_t i = 0; i < n; i++) {
        long k = cn_sched_task_index(d, tis[i].task_id);
        if (k >= 0) by[k] = &tis[i];
    }
    int64_t now = now_ms();
    /* Passes until nothing changes: an upstream failure reaches the last task at once. */
    bool changed = true;
    for (size_t pass = 0; changed && pass <= d->n_tasks && !rc; pass++) {
        changed = false;
        for (size_t i = 0; i < d->n_tasks && !rc; i++) {
            const CnSchedTask *t = &d->tasks[i];
            CnSchedTi *ti = by[i];
            if (!ti || cn_sched_ti_state_finished(ti->state)) continue;
            if (ti->state == CN_SCHED_TI_NONE || ti->state == CN_SCHED_TI_SCHEDULED) {
                bool failed_up = false, all_ok = true;
                for (size_t u = 0; u < t->n_upstream; u++) {
                    CnSchedTi *up = by[t->upstream[u]];
                    CnSchedTiState us = up ? up->state : CN_SCHED_TI_NONE;
                    failed_up |= us == CN_SCHED_TI_FAILED || us == CN_SCHED_TI_UPSTREAM_FAILED;
                    all_ok &= us == CN_SCHED_TI_SUCCESS || us == CN_SCHED_TI_SKIPPED;
                }
                CnSchedTi neu = *ti;
                bool won = false;
                if (failed_up) {
                    neu.state = CN_SCHED_TI_UPSTREAM_FAILED;
                    neu.end_ms = now;
                    sfmt(neu.reason, sizeof neu.reason, "an upstream task failed");
                } else if (all_ok && t->kind != CN_SCHED_TASK_RUN) {
                    neu.state = CN_SCHED_TI_RUNNING; /* sensors poke in the scheduler */
                    neu.try_number = ti->try_number + 1;
                    neu.start_ms = neu.first_ms = now;
                    neu.next_ms = now;
                    sfmt(neu.owner, sizeof neu.owner, "%s", s->owner);
                    sfmt(neu.host, sizeof neu.host, "%s", s->host);
                } else if (all_ok && ti->state == CN_SCHED_TI_NONE) {
                    neu.state = CN_SCHED_TI_SCHEDULED;
                } else {
                    continue;
                }
                if ((rc = cn_sched_db_ti_cas(s->db, ti, &neu, &won, err))) break;
                if (won) {
                    *ti = neu;
                    changed = true;
                }
            }
        }
    }
    /* Work: pokes and starts, in task order. */
    for (size_t i = 0; i < d->n_tasks && !rc; i++) {
        const CnSchedTask *t = &d->tasks[i];
        CnSchedTi *ti = by[i];
        if (!ti || cn_sched_ti_state_finished(ti->state)) continue;
        switch (ti->state) {
        case CN_SCHED_TI_UP_FOR_RETRY:
            if (ti->next_ms > now) {
                *busy = true;
                break;
            }
            if (t->kind != CN_SCHED_TASK_RUN) {
                CnSchedTi neu = *ti;
                bool won;
                neu.state = CN_SCHED_TI_RUNNING;
                neu.try_number = ti->try_number + 1;
                neu.start_ms = neu.first_ms = neu.next_ms = now;
                sfmt(neu.owner, sizeof neu.owner, "%s", s->owner);
                rc = cn_sched_db_ti_cas(s->db, ti, &neu, &won, err);
                *busy = true;
                break;
            }
            /* a run task whose delay is over starts like a scheduled one */
            /* fall through */
        case CN_SCHED_TI_SCHEDULED:
            if (t->kind != CN_SCHED_TASK_RUN) break;
            *busy = true;
            if (*dag_slots <= 0 || sl->global <= 0) break;
            (*dag_slots)--;
            sl->global--;
            rc = launch(s, d, t, ti, err);
            break;
        case CN_SCHED_TI_RUNNING:
            if (t->kind == CN_SCHED_TASK_RUN) {
                *busy = true;
            } else if (ti->next_ms <= now || s->o.once) {
                /* --once pokes every tick: a wait on another DAG must see an upstream that
                 * finished in this same pass */
                bool waiting = false;
                rc = poke(s, t, ti, &waiting, err);
                if (!waiting || !s->o.once) *busy = true;
            } else if (!s->o.once) {
                *busy = true;
            }
            break;
        case CN_SCHED_TI_QUEUED:
            *busy = true;
            break;
        default:
            break;
        }
    }
    cn_free(by);
done:
    cn_free(tis);
    return rc;
}

/* Sets the run's state from its tasks. */
static int settle_run(CnSched *s, const CnSchedDag *d, CnSchedRun *run, CnErr *err) {
    CnSchedTi *tis = NULL;
    size_t n = 0;
    int rc = cn_sched_db_ti_list(s->db, d->id, run->ds, false, &tis, &n, err);
    if (rc) return rc;
    bool all_done = n >= d->n_tasks, any_failed = false;
    for (size_t i = 0; i < n; i++) {
        all_done &= cn_sched_ti_state_finished(tis[i].state);
        any_failed |= tis[i].state == CN_SCHED_TI_FAILED || tis[i].state == CN_SCHED_TI_UPSTREAM_FAILED;
    }
    cn_free(tis);
    if (!all_done) return 0;
    run->state = any_failed ? CN_SCHED_RUN_FAILED : CN_SCHED_RUN_SUCCESS;
    run->end_ms = now_ms();
    say(s, "%s %s: run %s", d->id, run->ds, cn_sched_run_state_name(run->state));
    return cn_sched_db_run_set(s->db, run, err);
}

static int count_running(const CnSched *s, const char *dag, int *n, CnErr *err) {
    CnSchedTi *tis = NULL;
    size_t k = 0;
    *n = 0;
    int rc = cn_sched_db_ti_list(s->db, NULL, NULL, true, &tis, &k, err);
    for (size_t i = 0; !rc && i < k; i++) {
        const CnSchedTask *t = task_of(s, tis[i].dag_id, tis[i].task_id, NULL);
        if (t && t->kind == CN_SCHED_TASK_RUN && !strcmp(tis[i].dag_id, dag)) (*n)++;
    }
    cn_free(tis);
    return rc;
}

int cn_sched_tick(CnSched *s, bool *busy, CnErr *err) {
    *busy = false;
    int64_t now = now_ms(), every = CN_MIN(s->m->settings.lease_ms / 4, 10000);
    int rc = 0;
    /* the lease: other hosts' schedulers take our tries over when we fall silent */
    if (now - s->beat_ms >= every) {
        rc = cn_sched_db_heartbeat(s->db, s->owner, s->host, now, err);
        if (!rc) s->beat_ms = now;
    }
    if (!rc) rc = watch(s, err);
    if (!rc) rc = recover(s, err);
    Slots sl = {s->m->settings.parallelism - (int)s->n_kids};
    for (size_t i = 0; !rc && i < s->m->n_dags; i++) {
        const CnSchedDag *d = &s->m->dags[i];
        bool paused = false;
        if (!covered(s, d, &paused, err)) {
            rc = err->code;
            continue;
        }
        CnSchedRun *runs = NULL;
        size_t n = 0;
        if ((rc = cn_sched_db_run_list(s->db, d->id, NULL, &runs, &n, err))) break;
        int active = 0, dag_slots = 0;
        rc = count_running(s, d->id, &dag_slots, err);
        dag_slots = d->concurrency - dag_slots;
        for (size_t r = 0; r < n; r++) active += runs[r].state == CN_SCHED_RUN_RUNNING && in_range(s, runs[r].ds);
        for (size_t r = 0; !rc && r < n; r++) {
            CnSchedRun *run = &runs[r];
            if (!in_range(s, run->ds)) continue;
            if (run->state == CN_SCHED_RUN_QUEUED) {
                if (active >= s->m->settings.max_active_runs) {
                    *busy = true; /* waits for an earlier day */
                    continue;
                }
                run->state = CN_SCHED_RUN_RUNNING;
                run->start_ms = now_ms();
                if ((rc = cn_sched_db_run_set(s->db, run, err))) break;
                active++;
                say(s, "%s %s: run started", d->id, run->ds);
            }
            if (run->state != CN_SCHED_RUN_RUNNING) continue;
            if (!(rc = step_run(s, d, run, &dag_slots, &sl, busy, err))) rc = settle_run(s, d, run, err);
        }
        cn_free(runs);
    }
    s->first_tick = false;
    if (s->n_kids) *busy = true;
    return rc;
}

/* ------------------------------------------------------------ runs */

/* The model accepted only valid schedules (model.c); one that does not parse here runs
 * nothing rather than guessing. */
static bool scheduled_day(const char *schedule, int64_t day, int64_t start_day) {
    CnSchedCron c;
    char why[256];
    if (cn_sched_cron_parse(schedule, &c, why, sizeof why) < 0) return false;
    return cn_sched_cron_day(&c, day, start_day);
}

int cn_sched_create_runs(CnSched *s, int64_t today, CnErr *err) {
    const CnSchedSettings *st = &s->m->settings;
    int64_t latest = today - 1; /* the last day whose data is complete (Airflow's logical date) */
    int rc = 0;
    for (size_t i = 0; !rc && i < s->m->n_dags; i++) {
        const CnSchedDag *d = &s->m->dags[i];
        bool paused;
        if (!covered(s, d, &paused, err)) {
            rc = err->code;
            continue;
        }
        int64_t start = 0;
        if (cn_ds_parse(d->start_date, &start)) continue;
        const int64_t first_day = start;
        if (!st->catchup) start = CN_MAX(start, latest - 366); /* only the latest scheduled day, below */
        CnSchedRun last;
        int lr = cn_sched_db_run_last(s->db, d->id, &last, err);
        if (lr && lr != CN_ENOTFOUND) return lr;
        int64_t from = start;
        if (lr == 0) {
            int64_t ld;
            if (!cn_ds_parse(last.ds, &ld)) from = CN_MAX(from, ld + 1);
        }
        int64_t only = -1;
        if (!st->catchup)
            for (int64_t day = latest; day >= from && only < 0; day--)
                if (scheduled_day(d->schedule, day, first_day)) only = day;
        for (int64_t day = from; !rc && day <= latest; day++) {
            if (!scheduled_day(d->schedule, day, first_day) || (!st->catchup && day != only)) continue;
            char ds[11];
            cn_ds_format(day, ds);
            bool ins = false;
            rc = cn_sched_db_run_insert(s->db, d->id, ds, "scheduled", now_ms(), &ins, err);
            if (!rc && ins) say(s, "%s %s: run created (scheduled)", d->id, ds);
        }
    }
    return rc;
}

int cn_sched_trigger(CnSched *s, const char *dag, const char *ds, const char *run_type, CnErr *err) {
    bool ins = false;
    int rc = cn_sched_db_run_insert(s->db, dag, ds, run_type, now_ms(), &ins, err);
    if (rc) return rc;
    if (!ins) return cn_err_set(err, CN_EEXISTS, "DAG %s already has a run for %s (re-run its tasks with chronon tasks clear)", dag, ds);
    say(s, "%s %s: run created (%s)", dag, ds, run_type);
    return 0;
}

int cn_sched_loop(CnSched *s, CnErr *err) {
    int rc = 0;
    bool idle = false;
    while (!(s->o.stop && *s->o.stop)) {
        bool busy = false;
        if (!s->o.once) {
            int64_t today;
            if (!s->o.today || cn_ds_parse(s->o.today, &today)) today = cn_ms_to_days(now_ms());
            if ((rc = cn_sched_create_runs(s, today, err))) break;
        }
        if ((rc = cn_sched_tick(s, &busy, err))) break;
        /* --once stops after two idle passes in a row: the second re-pokes every sensor
         * after the last task of the first has settled */
        if (s->o.once && !busy) {
            if (idle) break;
            idle = true;
        } else {
            idle = false;
        }
        int64_t ms = s->m->settings.poll_ms;
        struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
        nanosleep(&ts, NULL); /* a signal cuts it short; the flag is checked above */
    }
    return rc;
}

int cn_sched_counts(CnSched *s, const char *ds, CnSchedCounts *c, CnErr *err) {
    memset(c, 0, sizeof *c);
    CnSchedTi *tis = NULL;
    size_t n = 0;
    int rc = cn_sched_db_ti_list(s->db, s->o.only_dag, ds, false, &tis, &n, err);
    for (size_t i = 0; !rc && i < n; i++) {
        const CnSchedDag *d = cn_sched_dag_find(s->m, tis[i].dag_id);
        bool paused = false;
        if (!d || !covered(s, d, &paused, err) || !in_range(s, tis[i].ds)) {
            rc = err->code;
            continue;
        }
        switch (tis[i].state) {
        case CN_SCHED_TI_SUCCESS: c->success++; break;
        case CN_SCHED_TI_FAILED: c->failed++; break;
        case CN_SCHED_TI_UPSTREAM_FAILED: c->upstream_failed++; break;
        case CN_SCHED_TI_SKIPPED: c->other++; break;
        default: c->blocked++; break;
        }
    }
    cn_free(tis);
    return rc;
}

int cn_sched_clear(CnSchedDb *db, const CnSchedDag *d, const char *task, const char *ds, bool downstream,
                   size_t *n_cleared, CnErr *err) {
    *n_cleared = 0;
    long root = cn_sched_task_index(d, task);
    if (root < 0) return cn_err_set(err, CN_ENOTFOUND, "DAG %s has no task '%s'", d->id, task);
    bool *pick = cn_calloc(d->n_tasks, sizeof *pick);
    if (!pick) return cn_err_set(err, CN_ENOMEM, "out of memory");
    pick[root] = true;
    for (bool grew = downstream; grew;) { /* everything downstream of a picked task */
        grew = false;
        for (size_t i = 0; i < d->n_tasks; i++)
            for (size_t u = 0; !pick[i] && u < d->tasks[i].n_upstream; u++)
                if (pick[d->tasks[i].upstream[u]]) pick[i] = grew = true;
    }
    int rc = 0;
    for (size_t i = 0; !rc && i < d->n_tasks; i++) {
        if (!pick[i]) continue;
        CnSchedTi ti;
        rc = cn_sched_db_ti_get(db, d->id, d->tasks[i].id, ds, &ti, err);
        if (rc == CN_ENOTFOUND) {
            rc = (long)i == root ? cn_err_set(err, CN_ENOTFOUND, "task %s of DAG %s has no instance for %s (no run of that day: chronon dags trigger %s --ds %s)",
                                              task, d->id, ds, d->id, ds)
                                 : 0;
            continue;
        }
        if (rc) break;
        if ((ti.state == CN_SCHED_TI_RUNNING || ti.state == CN_SCHED_TI_QUEUED) && d->tasks[i].kind == CN_SCHED_TASK_RUN) {
            rc = cn_err_set(err, CN_ECONFLICT, "task %s of DAG %s for %s is running (pid %lld); clear it when it ends",
                            ti.task_id, d->id, ds, (long long)ti.pid);
            break;
        }
        CnSchedTi neu = ti;
        neu.state = CN_SCHED_TI_NONE;
        neu.try_base = ti.try_number; /* a fresh retry budget; log numbers go on */
        neu.pid = neu.pid_start = 0;
        neu.next_ms = neu.first_ms = neu.end_ms = 0;
        neu.owner[0] = 0;
        sfmt(neu.reason, sizeof neu.reason, "cleared");
        bool won = false;
        if (!(rc = cn_sched_db_ti_cas(db, &ti, &neu, &won, err)) && won) (*n_cleared)++;
    }
    cn_free(pick);
    if (rc || !*n_cleared) return rc;
    CnSchedRun *runs = NULL;
    size_t n = 0;
    if (!(rc = cn_sched_db_run_list(db, d->id, ds, &runs, &n, err)) && n) {
        runs[0].state = CN_SCHED_RUN_RUNNING;
        runs[0].end_ms = 0;
        rc = cn_sched_db_run_set(db, &runs[0], err);
    }
    cn_free(runs);
    return rc;
}

/* ------------------------------------------------------------ life */

int cn_sched_new(const CnSchedModel *m, const CnSchedRunOpts *o, CnSched **out, CnErr *err) {
    *out = NULL;
    CnSched *s = cn_calloc(1, sizeof *s);
    if (!s) return cn_err_set(err, CN_ENOMEM, "out of memory");
    s->m = m;
    s->o = *o;
    s->first_tick = true;
    /* CHRONON_SCHEDULER_HOST: containers that share a host name, and tests of hosts */
    const char *hn = getenv("CHRONON_SCHEDULER_HOST");
    if (hn && *hn && !strchr(hn, ':')) sfmt(s->host, sizeof s->host, "%s", hn);
    else if (gethostname(s->host, sizeof s->host - 1) != 0) sfmt(s->host, sizeof s->host, "localhost");
    sfmt(s->owner, sizeof s->owner, "%.100s:%d:%lld", s->host, (int)getpid(),
             (long long)proc_start(getpid(), NULL));
    int rc = cn_sched_db_open(o->db_uri, true, &s->db, err);
    if (rc) {
        cn_free(s);
        return rc;
    }
    *out = s;
    return 0;
}

void cn_sched_free(CnSched *s) {
    if (!s) return;
    cn_ice_catalog_close(s->cat);
    cn_sched_db_close(s->db);
    cn_free(s->kids);
    cn_free(s);
}

CnSchedDb *cn_sched_db(CnSched *s) { return s->db; }
