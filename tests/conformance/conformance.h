/* SPDX-License-Identifier: MIT */
/* rill tests: the RxJS conformance runner (tests/rxjs_conformance.c).
 *
 * Shared between the runner and its callback table (callbacks.c): the
 * mapping of JavaScript values onto rill values and the small pieces of
 * JavaScript semantics the translated callbacks need.
 *
 * Values: numbers are RILL_KIND_INT (integral) or RILL_KIND_DOUBLE,
 * booleans RILL_KIND_BOOL, arrays RILL_KIND_ARRAY; strings, null,
 * undefined and objects are RILL_KIND_PTR to an interned atom, so two
 * equal strings are the same pointer (and rill_value_equal() compares
 * them by content, as JavaScript's === does for strings). */
#ifndef RILL_CONFORMANCE_H
#define RILL_CONFORMANCE_H

#include <jansson.h>
#include <rill.h>

enum conf_atom_type { CONF_STR, CONF_NULL, CONF_UNDEF, CONF_OBJ };

typedef struct conf_atom {
  enum conf_atom_type type;
  char *text; /* the string, or an object's canonical JSON */
  struct conf_atom *next;
} conf_atom_t;

/* Interned atoms live until conf_atoms_free(). */
rill_value_t conf_atom(enum conf_atom_type type, const char *text);
rill_value_t conf_str(const char *s);
void conf_atoms_free(void);
/* The atom of a PTR value, else NULL. */
const conf_atom_t *conf_atom_of(rill_value_t v);

/* A JSON value (with the data set's $tags) as a new owned rill value. */
rill_value_t conf_from_json(json_t *j);
/* Deep equality: numbers by value, atoms by identity, arrays elementwise. */
bool conf_equal(rill_value_t a, rill_value_t b);
/* Render for diagnostics. */
void conf_format(rill_value_t v, char *buf, size_t cap);

/* Error values: a JSON value registered here gets a negative code that a
 * callback returns (a JavaScript `throw`) or a source signals. */
#define CONF_CODE_BASE (-1000000)
int conf_error_code(json_t *value);      /* takes a new reference */
int conf_throw_str(const char *message); /* throw 'message' */
json_t *conf_error_value(int code);      /* borrowed, NULL if unknown */
void conf_errors_free(void);

/* JavaScript semantics. */
double js_num(rill_value_t v);  /* unary + */
bool js_truthy(rill_value_t v); /* Boolean(v) */
void js_tostr(rill_value_t v, char *buf, size_t cap);
rill_value_t js_number(double d);                    /* INT when integral */
rill_value_t js_add(rill_value_t a, rill_value_t b); /* a + b */

/* ---- callbacks (callbacks.c) ---- */
typedef enum { CB_MAP, CB_PRED, CB_REDUCE, CB_EQUAL, CB_KEY } cb_kind_t;

/* Per-use state: one per callback in a pipeline, fresh per case. */
typedef struct conf_cb {
  const struct conf_cb_entry *entry;
  int64_t index;             /* the JavaScript `index` argument */
  int64_t invoked;           /* a closure counter some callbacks keep */
  const struct conf_cb *key; /* for a keySelector turned comparator */
  json_t *self;              /* JavaScript `this` (thisArg; borrowed) */
  double num;                /* a number some callbacks close over */
} conf_cb_t;

typedef struct conf_cb_entry {
  const char *text; /* the $function text, exactly */
  cb_kind_t kind;
  rill_map_fn map;
  rill_pred_fn pred;
  rill_reduce_fn reduce;
  rill_equal_fn equal;
} conf_cb_entry_t;

/* The entry for a callback text, or NULL (not translated). */
const conf_cb_entry_t *conf_cb_find(const char *text, cb_kind_t kind);
/* Comparator from a keySelector entry (ctx: a conf_cb whose `key` is set):
 * RxJS's distinctUntilChanged(comparator, keySelector) compares the keys
 * with the conf_cb's own CB_EQUAL entry, or with === when it has none. */
int conf_cb_key_equal(void *ctx, rill_value_t a, rill_value_t b);

#endif
