/* airflow.c: task commands and Airflow DAG files.
 * A run task is `chronon run --mode M --conf production/... --ds {{ ds }} --repo PATH`; a
 * sensor is `chronon table partitions <table> --has <ds or partition spec>`, which exits 0
 * once the partition exists (the contract of the table command, docs/scheduler.md).
 * `{{ ... }}` stays a Jinja template: Airflow renders bash_command before the shell runs it.
 * The DAG file uses only airflow.DAG, BashOperator, BashSensor and ExternalTaskSensor,
 * importing them from Airflow 3's standard provider or Airflow 2's core paths. */
#include "sched/sched_int.h"

#include <stdio.h>
#include <string.h>

#include "base/arena.h"

static bool plain_char(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           strchr("_./=:@%+,-", c) != NULL;
}

void cn_sched__shell_word(CnBuf *b, const char *arg) {
    size_t n = strlen(arg);
    bool plain = n > 0;
    for (size_t i = 0; i < n && plain; i++) plain = plain_char(arg[i]);
    /* A whole template renders to a date (or a date expression's value) before bash. */
    bool tmpl = n >= 4 && !strncmp(arg, "{{", 2) && strstr(arg + 2, "}}") == arg + n - 2;
    if (plain || tmpl) {
        cn_buf_puts(b, arg);
        return;
    }
    cn_buf_putc(b, '\'');
    for (size_t i = 0; i < n; i++) {
        if (arg[i] == '\'') cn_buf_puts(b, "'\\''");
        else cn_buf_putc(b, arg[i]);
    }
    cn_buf_putc(b, '\'');
}

/* The value --has takes: the date alone for a plain "ds=<v>" partition, the whole
 * partition spec otherwise. With an end partition, days after it check the end (as
 * Chronon's SensorWithEndDate does). */
static char *sensor_has(CnArena *a, const CnSchedTask *t) {
    const char *p = t->partition;
    if (strncmp(p, "ds=", 3) || strchr(p, '/')) return cn_arena_strdup(a, p);
    const char *v = p + 3;
    if (t->end && !strcmp(v, "{{ ds }}") && !strchr(t->end, '\'') && !strchr(t->end, '}'))
        return cn_arena_printf(a, "{{ ds if ds <= '%s' else '%s' }}", t->end, t->end);
    return cn_arena_strdup(a, v);
}

char *cn_sched_task_command(CnArena *a, const CnSchedModel *m, const CnSchedTask *t) {
    CnBuf b = CN_BUF_INIT;
    if (t->kind == CN_SCHED_TASK_RUN) {
        for (size_t i = 0; i < t->argc; i++) {
            if (i) cn_buf_putc(&b, ' ');
            cn_sched__shell_word(&b, t->argv[i]);
        }
    } else if (t->kind == CN_SCHED_TASK_SENSOR) {
        char *has = sensor_has(a, t);
        if (!has) goto oom;
        cn_sched__shell_word(&b, m->settings.chronon_bin);
        cn_buf_puts(&b, " table partitions ");
        cn_sched__shell_word(&b, t->table);
        cn_buf_puts(&b, " --has ");
        cn_sched__shell_word(&b, has);
    } else {
        return NULL;
    }
    if (b.oom) goto oom;
    char *r = cn_arena_strdup(a, b.data ? b.data : "");
    cn_buf_fini(&b);
    return r;
oom:
    cn_buf_fini(&b);
    return NULL;
}

/* ---- Python ---- */

/* A Python string literal. Bytes >= 0x80 pass through: the file is UTF-8 source. */
static void py_str(CnBuf *b, const char *s) {
    cn_buf_putc(b, '"');
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        switch (*p) {
        case '"': cn_buf_puts(b, "\\\""); break;
        case '\\': cn_buf_puts(b, "\\\\"); break;
        case '\n': cn_buf_puts(b, "\\n"); break;
        case '\t': cn_buf_puts(b, "\\t"); break;
        case '\r': cn_buf_puts(b, "\\r"); break;
        default:
            if (*p < 0x20 || *p == 0x7f) cn_buf_printf(b, "\\x%02x", *p);
            else cn_buf_putc(b, (char)*p);
        }
    }
    cn_buf_putc(b, '"');
}

/* "2023-02-01" -> "datetime(2023, 2, 1)"; the model only holds validated dates. */
static void py_date(CnBuf *b, const char *ds) {
    int y = 0, mo = 0, d = 0;
    if (sscanf(ds, "%d-%d-%d", &y, &mo, &d) != 3) y = 2023, mo = 2, d = 1;
    cn_buf_printf(b, "datetime(%d, %d, %d)", y, mo, d);
}

static void task_ref(CnBuf *b, const char *id) {
    cn_buf_puts(b, "tasks[");
    py_str(b, id);
    cn_buf_putc(b, ']');
}

int cn_sched_airflow_render(const CnSchedModel *m, const CnSchedDag *d, CnBuf *out, CnErr *err) {
    const CnSchedSettings *s = &m->settings;
    CnArena a;
    cn_arena_init(&a, 0);
    int rc = 0;
    cn_buf_printf(out,
                  "# %s: written by `chronon airflow export` (naming: %s) from the compiled configs\n"
                  "# under production/. Change the configs and export again rather than editing this file.\n"
                  "from datetime import datetime, timedelta\n"
                  "\n"
                  "from airflow import DAG\n"
                  "\n"
                  "try:  # Airflow 3: the standard provider\n"
                  "    from airflow.providers.standard.operators.bash import BashOperator\n"
                  "    from airflow.providers.standard.sensors.bash import BashSensor\n"
                  "    from airflow.providers.standard.sensors.external_task import ExternalTaskSensor\n"
                  "except ImportError:  # Airflow 2\n"
                  "    from airflow.operators.bash import BashOperator\n"
                  "    from airflow.sensors.bash import BashSensor\n"
                  "    from airflow.sensors.external_task import ExternalTaskSensor\n"
                  "\n"
                  "default_args = {\n"
                  "    \"owner\": ",
                  d->id, cn_sched_naming_name(m->naming));
    py_str(out, d->owner);
    cn_buf_printf(out,
                  ",\n"
                  "    \"depends_on_past\": False,\n"
                  "    \"retries\": %d,\n"
                  "    \"retry_delay\": timedelta(seconds=%d),\n"
                  "}\n"
                  "\n"
                  "with DAG(\n"
                  "    dag_id=",
                  s->retries, s->retry_delay_s);
    py_str(out, d->id);
    cn_buf_puts(out, ",\n    schedule=");
    if (!strcmp(d->schedule, "@never")) cn_buf_puts(out, "None");
    else py_str(out, d->schedule);
    cn_buf_puts(out, ",\n    start_date=");
    py_date(out, d->start_date);
    cn_buf_printf(out,
                  ",\n"
                  "    catchup=%s,\n"
                  "    max_active_tasks=%d,\n"
                  "    default_args=default_args,\n"
                  "    tags=[\"chronon\", ",
                  s->catchup ? "True" : "False", d->concurrency);
    py_str(out, d->team);
    cn_buf_puts(out, "],\n) as dag:\n    tasks = {}\n");

    for (size_t i = 0; i < d->n_tasks; i++) {
        const CnSchedTask *t = &d->tasks[i];
        cn_buf_puts(out, "    ");
        task_ref(out, t->id);
        if (t->kind == CN_SCHED_TASK_EXTERNAL) {
            cn_buf_puts(out, " = ExternalTaskSensor(\n        task_id=");
            py_str(out, t->id);
            cn_buf_puts(out, ",\n        external_dag_id=");
            py_str(out, t->ext_dag);
            cn_buf_puts(out, ",\n        external_task_id=");
            py_str(out, t->ext_task);
            cn_buf_printf(out,
                          ",\n        mode=\"reschedule\",\n        poke_interval=%d,\n"
                          "        timeout=%d,\n        retries=%d,\n    )\n",
                          s->sensor_poke_s, s->sensor_timeout_s, s->sensor_retries);
            continue;
        }
        const char *cmd = cn_sched_task_command(&a, m, t);
        if (!cmd) {
            rc = cn_err_set(err, CN_ENOMEM, "out of memory rendering DAG %s", d->id);
            goto done;
        }
        if (t->kind == CN_SCHED_TASK_SENSOR) {
            cn_buf_puts(out, " = BashSensor(\n        task_id=");
            py_str(out, t->id);
            cn_buf_puts(out, ",\n        bash_command=");
            py_str(out, cmd);
            cn_buf_printf(out,
                          ",\n        mode=\"reschedule\",\n        poke_interval=%d,\n"
                          "        timeout=%d,\n        retries=%d,\n    )\n",
                          s->sensor_poke_s, s->sensor_timeout_s, s->sensor_retries);
            continue;
        }
        cn_buf_puts(out, " = BashOperator(\n        task_id=");
        py_str(out, t->id);
        cn_buf_puts(out, ",\n        bash_command=");
        py_str(out, cmd);
        if (t->env_online) {
            /* append_env keeps PATH and the rest of the worker's environment */
            cn_buf_puts(out, ",\n        env={\"CHRONON_ONLINE\": ");
            py_str(out, t->env_online);
            cn_buf_puts(out, "},\n        append_env=True");
        }
        cn_buf_puts(out, ",\n    )\n");
    }
    bool any_edge = false;
    for (size_t i = 0; i < d->n_tasks; i++) {
        const CnSchedTask *t = &d->tasks[i];
        for (size_t k = 0; k < t->n_upstream; k++) {
            if (!any_edge) cn_buf_puts(out, "\n");
            any_edge = true;
            cn_buf_puts(out, "    ");
            task_ref(out, d->tasks[t->upstream[k]].id);
            cn_buf_puts(out, " >> ");
            task_ref(out, t->id);
            cn_buf_puts(out, "\n");
        }
    }
    if (out->oom) rc = cn_err_set(err, CN_ENOMEM, "out of memory rendering DAG %s", d->id);
done:
    cn_arena_fini(&a);
    return rc;
}
