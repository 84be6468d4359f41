/* SPDX-License-Identifier: MIT */
/* rill example: a job pool -- many jobs, at most K at a time, on libev.
 *
 * N simulated jobs (default 100) each take a random 5..50 ms -- a timer
 * stands in for a request, a query or a child process -- and compute a
 * result (job i gives i * i).  They run on a libev loop the program owns,
 * at most K (default 4) at a time, twice:
 *
 *   1. range(0, N) -> merge_map(job, K)         results as they complete
 *   2. range(0, N) -> concat_map_eager(job, K)  results in input order
 *
 * What a Node or RxJS programmer would write for each part:
 *
 *   a job    const job = i => timer(ms[i]).pipe(map(() => i * i));
 *            // or new Promise(r => setTimeout(() => r(i * i), ms[i]))
 *            rill: rill_map(rill_timer(s, ms[i]), finish_job, ...)
 *   part 1   const limit = pLimit(4);                       // p-limit
 *            const all = await Promise.all(ids.map(i => limit(() => job(i))));
 *            from(ids).pipe(mergeMap(job, 4))                // RxJS
 *            rill: rill_merge_map(rill_range(0, N), start_job, pool, 4, 1).
 *            The operator asks range for 4 job numbers, then for one more
 *            each time a job ends: the same sliding window as p-limit
 *            (not batches of 4).  Results arrive as jobs finish; each is
 *            also kept in jobs[i], indexed by job number: that array is
 *            what Promise.all would give.
 *   part 2   for (const p of ids.map(i => limit(() => job(i))))
 *              console.log(await p);        // start all, await in order
 *            RxJS has no operator for this; RxJava calls it concatMapEager,
 *            Reactor flatMapSequential.
 *            rill: rill_concat_map_eager(rill_range(0, N), start_job, ...).
 *            Up to 4 jobs run at once, and each result goes out as soon
 *            as every earlier one has.  One difference from p-limit: a job
 *            that finishes before an earlier one keeps its slot until its
 *            result goes out, so fewer than K results are ever held back
 *            (p-limit would start another job, and hold any number).
 *
 * Part 1 prints a line as each job starts and as each result arrives, with
 * the number of jobs in flight; part 2 prints the results in input order,
 * ten to a line.  Then one summary line per part.
 *
 * The program checks its own invariants and exits 1 if one fails:
 *   - no more than K jobs are ever in flight, and min(K, N) are at some
 *     point (the pool is really used); fewer than K results held back;
 *   - every job runs once, and its result arrives exactly once, with the
 *     right value;
 *   - part 2's results arrive in input order;
 *   - each stream completes without error, and ev_run returns by itself
 *     afterwards: rill leaves nothing active on the loop, and
 *     rill_sched_free() succeeds.  A watchdog turns a hang into a failure.
 *
 * Usage: job_pool [--jobs N] [--limit K] [--seed S]   (100, 4, 1)
 * The default run takes under two seconds.  The same seed gives the same
 * durations; the exact interleaving still depends on the machine's timing. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rill/ev.h> /* rill_sched_ev_new; includes <ev.h> and <rill.h> */

#define MIN_MS 5
#define MAX_MS 50
#define WATCHDOG_S 30.0 /* a run takes about a second */

/* An invariant: report it and carry on, so that one run can show more
 * than one problem; main() turns any violation into exit status 1. */
static int violations;
#define CHECK(cond, ...)                                                       \
  do {                                                                         \
    if (!(cond)) {                                                             \
      fprintf(stderr, "job_pool: invariant violated: " __VA_ARGS__);           \
      fputc('\n', stderr);                                                     \
      violations++;                                                            \
    }                                                                          \
  } while (0)

/* ---- the state ------------------------------------------------------------*/

struct pool;

/* One job: what it is, and what happened to it.  The job's result is a
 * borrowed pointer to this record (RILL_KIND_PTR): the jobs array outlives
 * the pipeline, so nothing needs freeing. */
struct job {
  struct pool *pool;
  int64_t id;
  double ms;      /* how long it takes */
  int64_t result; /* id * id, set when it finishes */
  int starts;     /* the operator called start_job for it */
  int finishes;   /* its timer fired */
  int arrivals;   /* its result reached the subscriber */
};

/* One run of all the jobs through one operator. */
struct pool {
  const char *name; /* the operator */
  rill_sched_t *s;
  struct job *jobs;
  int64_t njobs;
  int limit;
  bool verbose;  /* part 1: a line per start and per result */
  bool ordered;  /* part 2: results must come in input order */
  double t0;     /* scheduler time at subscription */
  int in_flight; /* started, not finished */
  int max_in_flight;
  int waiting;  /* finished, result not delivered yet */
  int max_held; /* finished results held back for an earlier job */
  int64_t arrived;
  int64_t next_id; /* part 2: the job whose result must come next */
  bool in_order;   /* part 2: so far, yes */
  bool each_once;  /* after the run: every job gave exactly one result */
  int completions, errors;
};

static double elapsed(const struct pool *p) {
  return rill_sched_now(p->s) - p->t0;
}

/* ---- a job ----------------------------------------------------------------*/

/* The inner stream's last stage: the timer has fired, so the job is done.
 * In-flight is counted here, when the work ends, not when the result
 * reaches the subscriber: concat_map_eager may hold a finished job's
 * result back until the earlier jobs are out. */
static int finish_job(void *ctx, rill_value_t in, rill_value_t *out) {
  (void)in; /* the timer's 0 */
  struct job *j = ctx;
  struct pool *p = j->pool;
  j->finishes++;
  j->result = j->id * j->id;
  p->in_flight--;
  p->waiting++;
  *out = rill_value_ptr(j);
  return 0;
}

/* The operator's function (rill_flat_map_fn): given a job number, return
 * the job as an observable.  merge_map and concat_map_eager call it only
 * when a slot is free and subscribe to what it returns at once, so this
 * is the moment the job starts: p-limit calling `() => job(i)`. */
static int start_job(void *ctx, rill_value_t v, rill_observable_t **out) {
  struct pool *p = ctx;
  if (v.kind != RILL_KIND_INT || v.as.i < 0 || v.as.i >= p->njobs)
    return RILL_EINVAL; /* cannot happen: range gives 0 .. N-1 */
  struct job *j = &p->jobs[v.as.i];
  j->starts++;
  CHECK(j->starts == 1, "%s: job %" PRId64 " started %d times", p->name, j->id,
        j->starts);
  if (++p->in_flight > p->max_in_flight)
    p->max_in_flight = p->in_flight;
  CHECK(p->in_flight <= p->limit, "%s: %d jobs in flight, limit %d", p->name,
        p->in_flight, p->limit);
  if (p->verbose)
    printf("[%4.0f ms] start job %3" PRId64 " (%2.0f ms)     in flight %d\n",
           elapsed(p), j->id, j->ms, p->in_flight);
  /* timer(ms) emits 0 once, then completes; map turns it into the result.
   * The operator takes over this reference. */
  *out = rill_map(rill_timer(p->s, j->ms), finish_job, j);
  return *out != NULL ? 0 : RILL_ENOMEM; /* a failure ends the stream */
}

/* ---- the subscriber -------------------------------------------------------*/

static void on_result(void *ctx, rill_value_t v) {
  struct pool *p = ctx;
  struct job *j = v.as.ptr;
  /* Results finished but not delivered, besides this one: held back
   * (concat_map_eager holds a result until the earlier ones are out). */
  if (p->waiting - 1 > p->max_held)
    p->max_held = p->waiting - 1;
  j->arrivals++;
  p->arrived++;
  p->waiting--;
  CHECK(j->arrivals == 1, "%s: result of job %" PRId64 " arrived %d times",
        p->name, j->id, j->arrivals);
  CHECK(j->finishes == 1 && j->result == j->id * j->id,
        "%s: job %" PRId64 " gave %" PRId64 " (finished %d times)", p->name,
        j->id, j->result, j->finishes);
  if (p->ordered) {
    CHECK(j->id == p->next_id,
          "%s: result of job %" PRId64 " arrived where job %" PRId64
          "'s belongs",
          p->name, j->id, p->next_id);
    p->in_order = p->in_order && j->id == p->next_id;
    p->next_id = j->id + 1;
  }
  if (p->verbose) {
    printf("[%4.0f ms]  done job %3" PRId64 " -> %-6" PRId64
           "   in flight %d\n",
           elapsed(p), j->id, j->result, p->in_flight);
  } else { /* in input order, ten to a line */
    if (j->id % 10 == 0)
      printf("jobs %3" PRId64 "..%-3" PRId64 ":", j->id,
             j->id + 9 < p->njobs ? j->id + 9 : p->njobs - 1);
    printf(" %" PRId64, j->result);
    if (j->id % 10 == 9 || j->id == p->njobs - 1)
      printf("\n");
  }
  rill_value_release(v); /* on_next owns its value (a no-op for a pointer) */
}

static void on_failure(void *ctx, const rill_error_t *err) {
  struct pool *p = ctx;
  p->errors++;
  fprintf(stderr, "job_pool: %s: error in %s: %s\n", p->name, err->stage,
          err->message);
}

static void on_done(void *ctx) {
  struct pool *p = ctx;
  p->completions++;
}

/* ---- the watchdog ---------------------------------------------------------*/

/* If rill left a watcher active, ev_run would never return: this timer
 * turns that into a failure.  It is ev_unref'd, so it does not keep the
 * loop running itself. */
static bool timed_out;

static void watchdog_fired(struct ev_loop *loop, ev_timer *w, int revents) {
  (void)w;
  (void)revents;
  ev_ref(loop); /* libev stopped it: give back the unref */
  timed_out = true;
  ev_break(loop, EVBREAK_ALL);
}

/* ---- a run ----------------------------------------------------------------*/

/* Run every job through merge_map (eager false) or concat_map_eager, on
 * the loop, until ev_run returns by itself.  Returns the run's time. */
static double run_pool(struct ev_loop *loop, struct pool *p, bool eager) {
  rill_observable_t *ids = rill_range(0, p->njobs);
  /* prefetch 1: each job yields one value, so each inner is asked for 1. */
  rill_observable_t *pipeline =
      eager ? rill_concat_map_eager(ids, start_job, p, (size_t)p->limit, 1)
            : rill_merge_map(ids, start_job, p, (size_t)p->limit, 1);
  rill_subscriber_t sub = {
      .on_next = on_result, .on_error = on_failure, .on_complete = on_done};
  rill_subscription_t *h = NULL;
  p->t0 = rill_sched_now(p->s);
  /* Subscribe with unbounded demand (RxJS .subscribe()).  The first K jobs
   * start here, inside consume; the rest start from the loop, each as a
   * slot frees up. */
  int rc = rill_observable_consume(pipeline, &sub, p, RILL_UNBOUNDED, &h);
  rill_observable_free(pipeline); /* the subscription keeps what it needs */
  if (rc < 0) {
    fprintf(stderr, "job_pool: %s: %s\n", p->name, rill_strerror(rc));
    violations++;
    return 0;
  }

  ev_timer watchdog;
  ev_timer_init(&watchdog, watchdog_fired, WATCHDOG_S, 0.);
  ev_timer_start(loop, &watchdog);
  ev_unref(loop);
  ev_run(loop, 0); /* returns once nothing is active: every job is done */
  if (ev_is_active(&watchdog)) {
    ev_ref(loop); /* give back the unref before stopping */
    ev_timer_stop(loop, &watchdog);
  }
  double ms = elapsed(p);
  CHECK(!timed_out, "%s: ev_run still running after %.0f s", p->name,
        WATCHDOG_S);
  rill_subscription_free(h); /* done: just frees it (else: cancels) */

  CHECK(p->completions == 1 && p->errors == 0, "%s: %d completions, %d errors",
        p->name, p->completions, p->errors);
  CHECK(p->arrived == p->njobs, "%s: %" PRId64 " results for %" PRId64 " jobs",
        p->name, p->arrived, p->njobs);
  int64_t not_once = 0, first = -1;
  for (int64_t i = 0; i < p->njobs; i++)
    if (p->jobs[i].arrivals != 1 && not_once++ == 0)
      first = i;
  CHECK(not_once == 0,
        "%s: %" PRId64 " jobs without exactly one result"
        " (the first: job %" PRId64 ", %d results)",
        p->name, not_once, first, first >= 0 ? p->jobs[first].arrivals : 0);
  p->each_once = not_once == 0;
  int want = p->njobs < p->limit ? (int)p->njobs : p->limit;
  CHECK(p->max_in_flight == want, "%s: at most %d jobs in flight, expected %d",
        p->name, p->max_in_flight, want);
  CHECK(p->max_held < p->limit, "%s: %d results held back, limit %d", p->name,
        p->max_held, p->limit);
  CHECK(p->in_flight == 0 && p->waiting == 0,
        "%s: %d jobs still in flight, %d results undelivered", p->name,
        p->in_flight, p->waiting);
  CHECK(rill_sched_active(p->s) == 0, "%s: %d timers still active", p->name,
        rill_sched_active(p->s));
  return ms;
}

/* ---- main -----------------------------------------------------------------*/

/* A tiny seeded PRNG (splitmix64): the same seed gives the same durations
 * on every platform, unlike rand(). */
static uint64_t next_random(uint64_t *state) {
  uint64_t z = (*state += UINT64_C(0x9e3779b97f4a7c15));
  z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
  z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
  return z ^ (z >> 31);
}

static bool parse_num(const char *s, unsigned long long max,
                      unsigned long long *out) {
  char *end;
  errno = 0;
  unsigned long long v = strtoull(s, &end, 10);
  if (errno != 0 || end == s || *end != '\0' || s[0] == '-' || v > max)
    return false;
  *out = v;
  return true;
}

/* The jobs of one run, with durations drawn from the seed: both runs get
 * the same jobs.  Returns the total work in ms, or -1 (ENOMEM). */
static double new_jobs(struct pool *p, uint64_t seed) {
  p->jobs = calloc(p->njobs > 0 ? (size_t)p->njobs : 1, sizeof(*p->jobs));
  if (p->jobs == NULL)
    return -1;
  double work = 0;
  for (int64_t i = 0; i < p->njobs; i++) {
    double ms = MIN_MS + (double)(next_random(&seed) % (MAX_MS - MIN_MS + 1));
    p->jobs[i] = (struct job){.pool = p, .id = i, .ms = ms};
    work += ms;
  }
  return work;
}

int main(int argc, char **argv) {
  unsigned long long njobs = 100, limit = 4, seed = 1;
  for (int i = 1; i < argc; i++) {
    bool ok = i + 1 < argc;
    if (ok && strcmp(argv[i], "--jobs") == 0)
      ok = parse_num(argv[++i], 1000000, &njobs);
    else if (ok && strcmp(argv[i], "--limit") == 0)
      ok = parse_num(argv[++i], 1000, &limit) && limit >= 1;
    else if (ok && strcmp(argv[i], "--seed") == 0)
      ok = parse_num(argv[++i], UINT64_MAX, &seed);
    else
      ok = false;
    if (!ok) {
      fprintf(stderr, "usage: %s [--jobs N] [--limit K (>= 1)] [--seed S]\n",
              argv[0]);
      return 2;
    }
  }

  struct pool p1 = {.name = "merge_map",
                    .njobs = (int64_t)njobs,
                    .limit = (int)limit,
                    .verbose = true};
  struct pool p2 = {.name = "concat_map_eager",
                    .njobs = (int64_t)njobs,
                    .limit = (int)limit,
                    .ordered = true,
                    .in_order = true};
  double work = new_jobs(&p1, seed);
  if (work < 0 || new_jobs(&p2, seed) < 0) {
    perror("job_pool");
    free(p1.jobs);
    return 1;
  }

  /* The program owns the loop; rill only puts timers on it. */
  struct ev_loop *loop = ev_default_loop(0);
  rill_sched_t *s = loop != NULL ? rill_sched_ev_new(loop) : NULL;
  if (s == NULL) {
    perror("job_pool: rill_sched_ev_new");
    free(p1.jobs);
    free(p2.jobs);
    return 1;
  }
  p1.s = p2.s = s;
  printf("job_pool: %llu jobs of %d..%d ms, at most %llu at a time (seed %llu)"
         "\n",
         njobs, MIN_MS, MAX_MS, limit, seed);

  /* Part 1: p-limit -- results as they complete. */
  printf("-- merge_map(job, %d): results as they complete\n", p1.limit);
  double t1 = run_pool(loop, &p1, false);
  printf("merge_map: %" PRId64 " results, %s; at most %d in flight;"
         " %.0f ms (one at a time: %.0f ms; %d at a time, at best: %.0f ms)\n",
         p1.arrived, p1.each_once ? "one per job" : "NOT one per job",
         p1.max_in_flight, t1, work, p1.limit, work / p1.limit);

  /* Part 2: the same jobs, results in input order. */
  if (!timed_out) {
    printf("-- concat_map_eager(job, %d): results in input order\n", p2.limit);
    double t2 = run_pool(loop, &p2, true);
    printf("concat_map_eager: %" PRId64 " results, %s, %s; at most %d in"
           " flight; up to %d results held back for an earlier job;"
           " %.0f ms\n",
           p2.arrived, p2.each_once ? "one per job" : "NOT one per job",
           p2.in_order ? "in input order" : "OUT OF ORDER", p2.max_in_flight,
           p2.max_held, t2);
  }

  /* Teardown, in order: the pipelines are gone, so the scheduler can go
   * (it refuses with RILL_EBUSY while any timer is alive), then the loop. */
  int freed = rill_sched_free(s);
  CHECK(freed == 0, "rill_sched_free: %s", rill_strerror(freed));
  if (freed == 0)
    ev_loop_destroy(loop);
  free(p1.jobs);
  free(p2.jobs);
  if (violations != 0) {
    printf("job_pool: %d invariant(s) violated\n", violations);
    return 1;
  }
  printf("job_pool: ok (limit held, every result once, input order kept,"
         " ev_run returned by itself)\n");
  return 0;
}
