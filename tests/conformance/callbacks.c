/* SPDX-License-Identifier: MIT */
/* rill tests: the callbacks of the RxJS cases, translated to C.
 *
 * Keyed by the exact `$function` text of the data set and the role the
 * callback plays (a `() => true` is a predicate for takeWhile and a
 * comparator for distinctUntilChanged).  Side effects that only feed chai
 * assertions (`invoked++`, `expect(...)`) are kept where they change the
 * result and dropped otherwise.  A JavaScript `throw v` becomes the
 * negative code conf_throw_str(v). */
#include "conformance.h"

#include <math.h>
#include <string.h>

#define CB(c) ((conf_cb_t *)(c))

static int parse_int(rill_value_t v, double *out) {
  /* parseInt of the decimal digits at the start */
  char buf[64];
  js_tostr(v, buf, sizeof(buf));
  char *p = buf;
  while (*p == ' ')
    p++;
  double sign = 1, n = 0;
  if (*p == '-' || *p == '+')
    sign = *p++ == '-' ? -1 : 1;
  if (*p < '0' || *p > '9') {
    *out = NAN;
    return 0;
  }
  while (*p >= '0' && *p <= '9')
    n = n * 10 + (*p++ - '0');
  *out = sign * n;
  return 0;
}

static bool is_prime(double i) {
  if (!(i > 1))
    return false;
  double max = floor(sqrt(i));
  for (double j = 2; j <= max; ++j)
    if (fmod(i, j) == 0)
      return false;
  return true;
}

static bool is_str(rill_value_t v, const char *s) {
  const conf_atom_t *at = conf_atom_of(v);
  return at != NULL && at->type == CONF_STR && strcmp(at->text, s) == 0;
}

/* ---- map ----------------------------------------------------------------*/

static int m_times10(void *c, rill_value_t x, rill_value_t *out) {
  (void)c;
  *out = js_number(10 * js_num(x));
  return 0;
}
static int m_pi_times3(void *c, rill_value_t x, rill_value_t *out) {
  double d;
  (void)c;
  parse_int(x, &d);
  *out = js_number(d * 3);
  return 0;
}
static int m_pi_plus2(void *c, rill_value_t x, rill_value_t *out) {
  double d;
  (void)c;
  parse_int(x, &d);
  *out = js_number(d + 2);
  return 0;
}
static int m_pi_times2(void *c, rill_value_t x, rill_value_t *out) {
  double d;
  (void)c;
  parse_int(x, &d);
  *out = js_number(d * 2);
  return 0;
}
static int m_half(void *c, rill_value_t x, rill_value_t *out) {
  (void)c;
  *out = js_number(js_num(x) / 2);
  return 0;
}
static int m_bang(void *c, rill_value_t x, rill_value_t *out) {
  (void)c;
  *out = js_add(x, conf_str("!"));
  return 0;
}
static int m_identity(void *c, rill_value_t x, rill_value_t *out) {
  (void)c;
  *out = rill_value_retain(x);
  return 0;
}
static int m_square(void *c, rill_value_t x, rill_value_t *out) {
  (void)c;
  *out = js_number(js_num(x) * js_num(x));
  return 0;
}
static int m_throw_too_bad(void *c, rill_value_t x, rill_value_t *out) {
  (void)c;
  (void)x;
  (void)out;
  return conf_throw_str("too bad");
}
static int m_throw_bad_on_c(void *c, rill_value_t x, rill_value_t *out) {
  (void)c;
  if (is_str(x, "c"))
    return conf_throw_str("bad");
  *out = rill_value_retain(x);
  return 0;
}
/* ([a, b]) => a + b: the pair of a combineLatestWith */
static int m_pair_add(void *c, rill_value_t x, rill_value_t *out) {
  (void)c;
  if (x.kind != RILL_KIND_ARRAY || rill_array_len(x.as.array) < 2)
    return conf_throw_str("TypeError: not iterable");
  *out = js_add(rill_array_at(x.as.array, 0), rill_array_at(x.as.array, 1));
  return 0;
}
/* function (x, index) {expect(this).to.equal(foo); return parseInt(x) +
 * foo.value + index * 10;} with thisArg foo: `this` is the thisArg. */
static int m_this_value(void *c, rill_value_t x, rill_value_t *out) {
  double d;
  json_t *self = CB(c)->self;
  json_t *value = json_is_object(self) ? json_object_get(self, "value") : NULL;
  parse_int(x, &d);
  if (!json_is_number(value))
    return conf_throw_str("TypeError: foo.value");
  *out = js_number(d + json_number_value(value) + (double)CB(c)->index++ * 10);
  return 0;
}
static int m_index(void *c, rill_value_t x, rill_value_t *out) {
  double d;
  parse_int(x, &d);
  *out = js_number(d + 1 + (double)CB(c)->index++ * 10);
  return 0;
}

/* ---- predicates ---------------------------------------------------------*/

static int p_false(void *c, rill_value_t v) {
  (void)c;
  (void)v;
  return 0;
}
static int p_true(void *c, rill_value_t v) {
  (void)c;
  (void)v;
  return 1;
}
static int p_even(void *c, rill_value_t v) {
  (void)c;
  return fmod(js_num(v), 2) == 0;
}
static int p_div3(void *c, rill_value_t v) {
  (void)c;
  return fmod(js_num(v), 3) == 0;
}
static int p_odd(void *c, rill_value_t v) {
  (void)c;
  return fmod(js_num(v), 2) == 1;
}
static int p_square(void *c, rill_value_t v) {
  (void)c;
  double d = js_num(v) * js_num(v);
  return d != 0 && !isnan(d);
}
static int p_prime(void *c, rill_value_t v) {
  (void)c;
  return is_prime(js_num(v));
}
static int p_prime_throw4(void *c, rill_value_t v) {
  if (++CB(c)->invoked == 4)
    return conf_throw_str("error");
  return is_prime(js_num(v));
}
static int p_prime_index(void *c, rill_value_t v) {
  return is_prime(js_num(v) + (double)CB(c)->index++ * 10);
}
static int p_prime_index_throw4(void *c, rill_value_t v) {
  int64_t i = CB(c)->index++;
  if (++CB(c)->invoked == 4)
    return conf_throw_str("error");
  return is_prime(js_num(v) + (double)i * 10);
}
static int p_truthy(void *c, rill_value_t v) {
  (void)c;
  return js_truthy(v);
}
static int p_less4(void *c, rill_value_t v) {
  (void)c;
  return js_num(v) < 4;
}
static int p_not_d(void *c, rill_value_t v) {
  (void)c;
  return !is_str(v, "d");
}
static int p_throw(void *c, rill_value_t v) {
  (void)c;
  (void)v;
  return conf_throw_str("error");
}
static int p_index_lt2(void *c, rill_value_t v) {
  (void)v;
  return CB(c)->index++ < 2;
}
static int p_index_is2(void *c, rill_value_t v) {
  (void)v;
  return CB(c)->index++ == 2;
}
static int p_is_b(void *c, rill_value_t v) {
  (void)c;
  return is_str(v, "b");
}
static int p_is_c(void *c, rill_value_t v) {
  (void)c;
  return is_str(v, "c");
}
static int p_is_s(void *c, rill_value_t v) {
  (void)c;
  return is_str(v, "s");
}
static int p_throw_from4(void *c, rill_value_t v) {
  (void)c;
  if (js_num(v) < 4)
    return 0;
  return conf_throw_str("error");
}
static int p_throw_on_c(void *c, rill_value_t v) {
  (void)c;
  if (is_str(v, "c"))
    return conf_throw_str("error");
  return 0;
}

/* ---- accumulators -------------------------------------------------------*/

static int r_add(void *c, rill_value_t acc, rill_value_t x, rill_value_t *out) {
  (void)c;
  *out = js_add(acc, x);
  return 0;
}
static int r_add_space(void *c, rill_value_t acc, rill_value_t x,
                       rill_value_t *out) {
  (void)c;
  *out = js_add(js_add(acc, conf_str(" ")), x);
  return 0;
}
static int r_throw(void *c, rill_value_t acc, rill_value_t x,
                   rill_value_t *out) {
  (void)c;
  (void)acc;
  (void)x;
  (void)out;
  return conf_throw_str("error");
}
static int r_concat(void *c, rill_value_t acc, rill_value_t x,
                    rill_value_t *out) {
  (void)c;
  size_t n = acc.kind == RILL_KIND_ARRAY ? rill_array_len(acc.as.array) : 0;
  rill_array_t *a = rill_array_new(n + 1);
  for (size_t i = 0; i < n; i++)
    rill_array_push(a, rill_value_retain(rill_array_at(acc.as.array, i)));
  if (x.kind == RILL_KIND_ARRAY) {
    for (size_t i = 0; i < rill_array_len(x.as.array); i++)
      rill_array_push(a, rill_value_retain(rill_array_at(x.as.array, i)));
  } else {
    rill_array_push(a, rill_value_retain(x));
  }
  *out = rill_value_array(a);
  return 0;
}
static int r_concat_throw_d(void *c, rill_value_t acc, rill_value_t x,
                            rill_value_t *out) {
  if (is_str(x, "d"))
    return conf_throw_str("bad!");
  return r_concat(c, acc, x, out);
}

/* ---- comparators and key selectors --------------------------------------*/

static int e_false(void *c, rill_value_t a, rill_value_t b) {
  (void)c;
  (void)a;
  (void)b;
  return 0;
}
static int e_true(void *c, rill_value_t a, rill_value_t b) {
  (void)c;
  (void)a;
  (void)b;
  return 1;
}
static int e_even(void *c, rill_value_t a, rill_value_t b) {
  (void)c;
  (void)a;
  return fmod(js_num(b), 2) == 0;
}
static int e_odd(void *c, rill_value_t a, rill_value_t b) {
  (void)c;
  (void)a;
  return fmod(js_num(b), 2) == 1;
}
static int e_throw_d(void *c, rill_value_t a, rill_value_t b) {
  (void)c;
  if (is_str(b, "d"))
    return conf_throw_str("error");
  return conf_equal(a, b);
}
static int k_mod2(void *c, rill_value_t x, rill_value_t *out) {
  (void)c;
  *out = js_number(fmod(js_num(x), 2));
  return 0;
}
static int k_throw_d(void *c, rill_value_t x, rill_value_t *out) {
  (void)c;
  if (is_str(x, "d"))
    return conf_throw_str("error");
  *out = rill_value_retain(x);
  return 0;
}

int conf_cb_key_equal(void *ctx, rill_value_t a, rill_value_t b) {
  const conf_cb_t *cb = ctx;
  rill_value_t ka, kb;
  /* RxJS keeps the previous key; recomputing it is the same for pure keys */
  int rc = cb->key->entry->map((void *)cb->key, a, &ka);
  if (rc < 0)
    return rc;
  rc = cb->key->entry->map((void *)cb->key, b, &kb);
  if (rc < 0) {
    rill_value_release(ka);
    return rc;
  }
  int eq = cb->entry != NULL && cb->entry->equal != NULL
               ? cb->entry->equal((void *)cb, ka, kb)
               : conf_equal(ka, kb);
  rill_value_release(ka);
  rill_value_release(kb);
  return eq;
}

#define MAP(t, f)                                                              \
  { t, CB_MAP, f, NULL, NULL, NULL }
#define KEY(t, f)                                                              \
  { t, CB_KEY, f, NULL, NULL, NULL }
#define PRED(t, f)                                                             \
  { t, CB_PRED, NULL, f, NULL, NULL }
#define RED(t, f)                                                              \
  { t, CB_REDUCE, NULL, NULL, f, NULL }
#define EQ(t, f)                                                               \
  { t, CB_EQUAL, NULL, NULL, NULL, f }

static const conf_cb_entry_t table[] = {
    MAP("(x) => 10 * +x", m_times10),
    MAP("(x) => parseInt(x) * 3", m_pi_times3),
    MAP("(x) => parseInt(x) + 2", m_pi_plus2),
    MAP("(x) => x + '!'", m_bang),
    MAP("(x) => {invoked++; return x;}", m_identity),
    MAP("(x) => {invoked1++; return parseInt(x) * 2;}", m_pi_times2),
    MAP("(x) => {invoked2++; return x / 2;}", m_half),
    MAP("(x) => {throw 'too bad';}", m_throw_too_bad),
    MAP("(x, index) => {invoked++; return parseInt(x) + 1 + index * 10;}",
        m_index),
    MAP("function (x, index) {expect(this).to.equal(foo); return parseInt(x) "
        "+ foo.value + index * 10;}",
        m_this_value),
    MAP("function identity(x) {return x;}", m_identity),
    MAP("(x) => x", m_identity),
    MAP("(x) => +x * +x", m_square),
    MAP("(n) => {if (n === 'c') {throw 'bad';} return n;}", m_throw_bad_on_c),
    MAP("([a, b]) => a + b", m_pair_add),
    MAP("([x, y]) => x + y", m_pair_add),
    PRED("() => {return false;}", p_false),
    PRED("() => {return true;}", p_true),
    PRED("() => false", p_false),
    PRED("() => true", p_true),
    PRED("() => null", p_false),
    PRED("() => {return {};}", p_true),
    PRED("(x) => +x % 2 === 0", p_even),
    PRED("(x) => +x % 3 === 0", p_div3),
    PRED("(x) => +x * +x", p_square),
    PRED("(x) => {invoked++; return isPrime(x);}", p_prime),
    PRED("function isPrime(i) {if (+i <= 1) {return false;} const max = "
         "Math.floor(Math.sqrt(+i)); for (let j = 2; j <= max; ++j) {if (+i "
         "% j === 0) {return false;}} return true;}",
         p_prime),
    PRED("function oddFilter(x) {return +x % 2 === 1;}", p_odd),
    PRED("function predicate(x) {invoked++; if (invoked === 4) {throw "
         "'error';} return isPrime(x);}",
         p_prime_throw4),
    PRED("function predicate(x, i) {invoked++; if (invoked === 4) {throw "
         "'error';} return isPrime(+x + i * 10);}",
         p_prime_index_throw4),
    PRED("function predicate(x, i) {return isPrime(+x + i * 10);}",
         p_prime_index),
    PRED("native Boolean (JS truthiness: false, 0, \"\", null, undefined and "
         "NaN are falsy)",
         p_truthy),
    PRED("(v) => +v < 4", p_less4),
    PRED("function predicate(value) {invoked++; return value !== 'd';}",
         p_not_d),
    PRED("function predicate(value) {return value !== 'd';}", p_not_d),
    PRED("function predicate(value) {throw 'error';}", p_throw),
    PRED("function predicate(value, index) {return index < 2;}", p_index_lt2),
    PRED("(value) => value === 'b'", p_is_b),
    PRED("(value) => value === 'c'", p_is_c),
    PRED("(x) => x % 2 === 1", p_odd),
    PRED("(x) => x === 's'", p_is_s),
    PRED("(_, i) => i === 2", p_index_is2),
    PRED("function (value) {if (value < 4) {return false;} else {throw "
         "'error';}}",
         p_throw_from4),
    PRED("function (x) {if (x === 'c') {throw 'error';} else {return "
         "false;}}",
         p_throw_on_c),
    RED("() => {throw 'error';}", r_throw),
    RED("(o, x) => o + ' ' + x", r_add_space),
    RED("(o, x) => o + x", r_add),
    RED("(acc, x) => acc + ' ' + x", r_add_space),
    RED("(acc, x) => acc + x", r_add),
    RED("(acc, x) => acc.concat(x)", r_concat),
    RED("(acc, x) => {if (x === 'd') {throw 'bad!';} return acc.concat(x);}",
        r_concat_throw_d),
    RED("(o, value, index) => {expect(index).to.equal(idx.shift()); return o "
        "+ value;}",
        r_add),
    RED("function (o, x) {return o + x;}", r_add),
    EQ("() => false", e_false),
    EQ("() => true", e_true),
    EQ("(x, y) => y % 2 === 0", e_even),
    EQ("(x, y) => y % 2 === 1", e_odd),
    EQ("(x, y) => {if (y === 'd') {throw 'error';} return x === y;}",
       e_throw_d),
    KEY("(x) => x % 2", k_mod2),
    KEY("(x) => {if (x === 'd') {throw 'error';} return x;}", k_throw_d),
};

const conf_cb_entry_t *conf_cb_find(const char *text, cb_kind_t kind) {
  for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++)
    if (table[i].kind == kind && strcmp(table[i].text, text) == 0)
      return &table[i];
  return NULL;
}
