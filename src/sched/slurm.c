/* slurm.c: backfill tasks through Slurm (slurm.h). The job runs the task's command line
 * through `sbatch --wrap`, so nothing but sbatch, scancel and a log directory the
 * compute nodes can write (the job's output file sits beside the try's log) is needed. */
#include "sched/slurm.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "base/alloc.h"
#include "base/json.h"
#include "base/str.h"
#include "sched/sched_int.h"

static int bad(const char *name, const char *key, const char *what, json_t *v, CnErr *err) {
    char txt[128] = "";
    size_t n = v ? json_dumpb(v, txt, sizeof txt - 1, JSON_ENCODE_ANY | JSON_COMPACT) : 0;
    if (n >= sizeof txt - 1) snprintf(txt, sizeof txt, "(value too long to show)");
    else txt[n] = 0;
    return cn_err_set(err, CN_ECONFIG, "%s: slurm%s%s: expected %s, got %s %s", name, *key ? "." : "", key, what,
                      cn_json_type_name(v), txt);
}

int cn_sched_slurm_parse(CnArena *a, const char *name, json_t *v, const CnSchedSlurm **out, CnErr *err) {
    *out = NULL;
    if (json_is_null(v)) return 0;
    if (!json_is_object(v)) return bad(name, "", "an object {sbatch, args, ranks} (or null: no Slurm)", v, err);
    CnSchedSlurm *s = cn_arena_calloc(a, sizeof *s);
    if (!s) return cn_err_set(err, CN_ENOMEM, "out of memory");
    s->sbatch = "sbatch";
    s->ranks = 1;
    const char *k;
    json_t *f;
    json_object_foreach(v, k, f) {
        if (!strcmp(k, "sbatch")) {
            if (!json_is_string(f) || !*json_string_value(f)) return bad(name, k, "the sbatch program", f, err);
            s->sbatch = cn_arena_strdup(a, json_string_value(f));
        } else if (!strcmp(k, "ranks")) {
            if (!json_is_integer(f) || json_integer_value(f) < 1 || json_integer_value(f) > 100000)
                return bad(name, k, "an integer from 1 to 100000 (MPI ranks per backfill)", f, err);
            s->ranks = (int)json_integer_value(f);
        } else if (!strcmp(k, "args")) {
            size_t n = json_is_array(f) ? json_array_size(f) : 0;
            if (!json_is_array(f)) return bad(name, k, "a list of sbatch options", f, err);
            s->args = cn_arena_calloc(a, (n + 1) * sizeof *s->args);
            if (!s->args) return cn_err_set(err, CN_ENOMEM, "out of memory");
            for (size_t i = 0; i < n; i++) {
                json_t *e = json_array_get(f, i);
                char key[48];
                snprintf(key, sizeof key, "args[%zu]", i);
                if (!json_is_string(e) || strncmp(json_string_value(e), "-", 1))
                    return bad(name, key, "an sbatch option starting with '-'", e, err);
                s->args[i] = cn_arena_strdup(a, json_string_value(e));
                if (!s->args[i]) return cn_err_set(err, CN_ENOMEM, "out of memory");
            }
            s->n_args = n;
        } else {
            return cn_err_set(err, CN_ECONFIG, "%s: slurm: unknown key \"%s\" (expected sbatch, args or ranks)", name,
                              k);
        }
        if (!s->sbatch) return cn_err_set(err, CN_ENOMEM, "out of memory");
    }
    *out = s;
    return 0;
}

/* Runs argv to the end with stdin from /dev/null; its stdout into out (NULL: the log). */
static pid_t spawn(char *const *argv, int out_fd, const sigset_t *old) {
    pid_t p = fork();
    if (p == 0) {
        sigprocmask(SIG_SETMASK, old, NULL);
        if (out_fd >= 0) dup2(out_fd, 1);
        execvp(argv[0], argv);
        fprintf(stderr, "[chronon scheduler] cannot run %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    return p;
}

static int exit_code(int st) { return WIFEXITED(st) ? WEXITSTATUS(st) : WIFSIGNALED(st) ? 128 + WTERMSIG(st) : 1; }

int cn_sched_slurm_run(const CnSchedSlurm *sl, char *const *argv, const char *log) {
    CnBuf wrap = CN_BUF_INIT, opt_out = CN_BUF_INIT, opt_wrap = CN_BUF_INIT;
    char out[1100], ntasks[32], job[64] = "";
    size_t ll = strlen(log);
    snprintf(out, sizeof out, "%.*s.slurm.out", (int)(ll > 4 && !strcmp(log + ll - 4, ".log") ? ll - 4 : ll), log);
    cn_buf_puts(&wrap, "exec");
    if (sl->ranks > 1) cn_buf_printf(&wrap, " mpirun -np %d", sl->ranks);
    for (size_t i = 0; argv[i]; i++) {
        cn_buf_putc(&wrap, ' ');
        cn_sched__shell_word(&wrap, argv[i]);
    }
    cn_buf_printf(&opt_out, "--output=%s", out);
    cn_buf_printf(&opt_wrap, "--wrap=%s", wrap.data ? wrap.data : "");
    snprintf(ntasks, sizeof ntasks, "--ntasks=%d", sl->ranks);
    const char **sb = cn_calloc(sl->n_args + 10, sizeof *sb);
    if (!sb || wrap.oom || opt_out.oom || opt_wrap.oom) {
        fprintf(stderr, "[chronon scheduler] sbatch: out of memory\n");
        return 1;
    }
    size_t n = 0;
    sb[n++] = sl->sbatch;
    sb[n++] = "--wait";
    sb[n++] = "--parsable";
    sb[n++] = "--job-name=chronon-backfill";
    sb[n++] = opt_out.data;
    sb[n++] = ntasks;
    for (size_t i = 0; i < sl->n_args; i++) sb[n++] = sl->args[i];
    sb[n++] = opt_wrap.data;
    fprintf(stderr, "[chronon scheduler] submitting with %s: %s\n", sl->sbatch, wrap.data);
    fflush(stderr);
    /* a timeout or a stopped scheduler signals the whole group: catch it to cancel the job */
    sigset_t stop, old;
    sigemptyset(&stop);
    sigaddset(&stop, SIGTERM);
    sigaddset(&stop, SIGINT);
    sigprocmask(SIG_BLOCK, &stop, &old);
    int pfd[2] = {-1, -1}, code = 1, st = 0;
    unlink(out);
    if (pipe(pfd) != 0) {
        fprintf(stderr, "[chronon scheduler] cannot create a pipe: %s\n", strerror(errno));
        goto done;
    }
    pid_t p = spawn((char *const *)sb, pfd[1], &old);
    close(pfd[1]);
    if (p < 0) {
        fprintf(stderr, "[chronon scheduler] cannot start %s: %s\n", sl->sbatch, strerror(errno));
        goto done;
    }
    /* --parsable prints "<job id>[;cluster]" as soon as the job is queued */
    size_t jl = 0;
    ssize_t r;
    char c;
    while (jl + 1 < sizeof job && (r = read(pfd[0], &c, 1)) != 0) {
        if (r < 0 && errno == EINTR) continue;
        if (r < 0 || c == '\n' || c == ';') break;
        job[jl++] = c;
    }
    job[jl] = 0;
    if (*job) fprintf(stderr, "[chronon scheduler] Slurm job %s, output %s\n", job, out);
    fflush(stderr);
    int sig = 0;
    for (;;) {
        pid_t w = waitpid(p, &st, WNOHANG);
        if (w == p) break;
        struct timespec t = {0, 200 * 1000 * 1000};
        int s = sigtimedwait(&stop, NULL, &t);
        if (s > 0 && !sig) {
            sig = s;
            fprintf(stderr, "[chronon scheduler] signal %d: cancelling Slurm job %s\n", s, *job ? job : "(not queued)");
            fflush(stderr);
            if (*job) {
                char *sc[] = {"scancel", job, NULL};
                pid_t q = spawn(sc, -1, &old);
                int qs = 0;
                if (q > 0) waitpid(q, &qs, 0);
            }
            kill(p, SIGTERM);
        }
    }
    code = sig ? 128 + sig : exit_code(st);
    /* the job's output, when this host sees the file (a log directory shared with the
     * compute nodes) */
    int fd = open(out, O_RDONLY);
    if (fd >= 0) {
        fprintf(stderr, "[chronon scheduler] ---- output of Slurm job %s\n", job);
        fflush(stderr);
        char buf[65536];
        while ((r = read(fd, buf, sizeof buf)) > 0)
            if (write(1, buf, (size_t)r) != r) break;
        close(fd);
        unlink(out);
        fprintf(stderr, "[chronon scheduler] ---- end of the output of Slurm job %s\n", job);
    } else {
        fprintf(stderr, "[chronon scheduler] no output file %s of Slurm job %s on this host (the log directory "
                        "must be shared with the compute nodes to collect it)\n", out, job);
    }
    fprintf(stderr, "[chronon scheduler] Slurm job %s ended: exit code %d\n", job, code);
done:
    if (pfd[0] >= 0) close(pfd[0]);
    sigprocmask(SIG_SETMASK, &old, NULL);
    cn_free(sb);
    cn_buf_fini(&wrap);
    cn_buf_fini(&opt_out);
    cn_buf_fini(&opt_wrap);
    return code;
}
