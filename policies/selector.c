/* Label selectors over agent labels (`kuack.io/browser-selector`): the Kubernetes equality and
 * set-based subset `k=v, k==v, k!=v, k in (a,b), k notin (a,b), k, !k`. Parsing allocates once
 * (one block); matching never allocates. */
#include <stdlib.h>
#include <string.h>

#include "kq_error.h"
#include "kq_policy.h"
#include "policy_internal.h"

#define SEL_TEXT_MAX 1024
#define SEL_TERMS_MAX 32
#define SEL_VALUES_MAX 16

typedef enum { OP_EXISTS, OP_NOT_EXISTS, OP_EQ, OP_NE, OP_IN, OP_NOTIN } sel_op_t;

typedef struct sel_term {
  sel_op_t op;
  const char *key;
  uint32_t nvals;
  const char *vals[SEL_VALUES_MAX];
} sel_term_t;

struct kq_selector {
  uint32_t nterms;
  sel_term_t terms[SEL_TERMS_MAX];
  char text[]; /* the parsed copy; keys and values point into it, NUL-terminated in place */
};

typedef struct parser {
  char *s;    /* writable copy */
  size_t pos;
  char *err;
  size_t errlen;
} parser_t;

static bool is_name_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '_' || c == '.' || c == '/';
}

static void skip_ws(parser_t *p) {
  while (p->s[p->pos] == ' ' || p->s[p->pos] == '\t') p->pos++;
}

/* Reads a name at pos; returns its start (the terminating char is left in place for the caller
 * to inspect, then overwritten by terminate()). NULL + error when empty and !allow_empty. */
static char *read_name(parser_t *p, bool allow_empty, const char *what) {
  skip_ws(p);
  char *start = p->s + p->pos;
  while (is_name_char(p->s[p->pos])) p->pos++;
  if (!allow_empty && start == p->s + p->pos) {
    kq_policy_errf(p->err, p->errlen, "browser selector: expected %s at position %zu", what,
                   p->pos + 1);
    return NULL;
  }
  return start;
}

static int fail(parser_t *p, const char *what) {
  kq_policy_errf(p->err, p->errlen, "browser selector: %s at position %zu", what, p->pos + 1);
  return KQ_EINVAL;
}

/* Consumes word `w` followed by a non-name char. */
static bool eat_word(parser_t *p, const char *w) {
  size_t n = strlen(w);
  if (strncmp(p->s + p->pos, w, n) || is_name_char(p->s[p->pos + n])) return false;
  p->pos += n;
  return true;
}

static int parse_set(parser_t *p, sel_term_t *t) {
  skip_ws(p);
  if (p->s[p->pos] != '(') return fail(p, "expected '('");
  p->pos++;
  for (;;) {
    char *v = read_name(p, false, "a value");
    if (!v) return KQ_EINVAL;
    size_t end = p->pos;
    skip_ws(p);
    char c = p->s[p->pos];
    if (c != ',' && c != ')') return fail(p, "expected ',' or ')'");
    if (t->nvals >= SEL_VALUES_MAX) return fail(p, "too many values in set");
    t->vals[t->nvals++] = v;
    p->s[end] = 0;
    p->pos++;
    if (c == ')') return KQ_OK;
  }
}

static int parse_term(parser_t *p, sel_term_t *t) {
  skip_ws(p);
  if (p->s[p->pos] == '!') {
    p->pos++;
    char *k = read_name(p, false, "a label key");
    if (!k) return KQ_EINVAL;
    t->op = OP_NOT_EXISTS;
    t->key = k;
    size_t end = p->pos;
    skip_ws(p);
    if (p->s[p->pos] && p->s[p->pos] != ',') return fail(p, "expected ',' or end");
    char c = p->s[p->pos];
    p->s[end] = 0;
    if (c) p->pos++;
    return KQ_OK;
  }
  char *k = read_name(p, false, "a label key");
  if (!k) return KQ_EINVAL;
  size_t kend = p->pos;
  skip_ws(p);
  char c = p->s[p->pos];
  t->key = k;
  if (c == '=' || (c == '!' && p->s[p->pos + 1] == '=')) {
    t->op = c == '=' ? OP_EQ : OP_NE;
    p->pos += c == '=' ? 1 : 2;
    if (c == '=' && p->s[p->pos] == '=') p->pos++;
    p->s[kend] = 0;
    char *v = read_name(p, true, "a value");
    size_t vend = p->pos;
    skip_ws(p);
    char d = p->s[p->pos];
    if (d && d != ',') return fail(p, "expected ',' or end after value");
    p->s[vend] = 0;
    t->vals[0] = v;
    t->nvals = 1;
    if (d) p->pos++;
    return KQ_OK;
  }
  if (c == ',' || c == 0) {
    t->op = OP_EXISTS;
    p->s[kend] = 0;
    if (c) p->pos++;
    return KQ_OK;
  }
  if (eat_word(p, "in")) t->op = OP_IN;
  else if (eat_word(p, "notin")) t->op = OP_NOTIN;
  else return fail(p, "expected '=', '!=', 'in', 'notin', ',' or end");
  p->s[kend] = 0;
  int rc = parse_set(p, t);
  if (rc) return rc;
  skip_ws(p);
  if (p->s[p->pos] && p->s[p->pos] != ',') return fail(p, "expected ',' or end after ')'");
  if (p->s[p->pos]) p->pos++;
  return KQ_OK;
}

int kq_selector_parse(const char *text, kq_selector_t **out, char *err, size_t errlen) {
  *out = NULL;
  size_t len = text ? strlen(text) : 0;
  if (len > SEL_TEXT_MAX) {
    kq_policy_errf(err, errlen, "browser selector: longer than %d characters", SEL_TEXT_MAX);
    return KQ_EINVAL;
  }
  kq_selector_t *s = calloc(1, sizeof *s + len + 1);
  if (!s) return KQ_ENOMEM;
  if (len) memcpy(s->text, text, len);
  parser_t p = {.s = s->text, .err = err, .errlen = errlen};
  skip_ws(&p);
  while (p.s[p.pos]) {
    if (s->nterms >= SEL_TERMS_MAX) {
      fail(&p, "too many terms");
      free(s);
      return KQ_EINVAL;
    }
    int rc = parse_term(&p, &s->terms[s->nterms]);
    if (rc) {
      free(s);
      return rc;
    }
    s->nterms++;
    skip_ws(&p);
  }
  size_t last = len;
  while (last > 0 && (text[last - 1] == ' ' || text[last - 1] == '\t')) last--;
  if (last > 0 && text[last - 1] == ',') {
    p.pos = last - 1;
    fail(&p, "expected a term after ','");
    free(s);
    return KQ_EINVAL;
  }
  *out = s;
  return KQ_OK;
}

void kq_selector_free(kq_selector_t *s) { free(s); }

static const char *lookup(const char *key, const char *const *keys, const char *const *values,
                          uint32_t n) {
  for (uint32_t i = 0; i < n; i++)
    if (keys[i] && !strcmp(keys[i], key)) return values[i] ? values[i] : "";
  return NULL;
}

bool kq_selector_match(const kq_selector_t *s, const char *const *keys,
                       const char *const *values, uint32_t n) {
  for (uint32_t t = 0; s && t < s->nterms; t++) {
    const sel_term_t *term = &s->terms[t];
    const char *v = lookup(term->key, keys, values, n);
    bool in = false;
    for (uint32_t j = 0; v && j < term->nvals; j++) in |= !strcmp(term->vals[j], v);
    switch (term->op) {
      case OP_EXISTS: if (!v) return false; break;
      case OP_NOT_EXISTS: if (v) return false; break;
      case OP_EQ:
      case OP_IN: if (!in) return false; break;
      case OP_NE:
      case OP_NOTIN: if (in) return false; break; /* a missing key satisfies != (as in k8s) */
    }
  }
  return true;
}
