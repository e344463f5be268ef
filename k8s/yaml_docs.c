/* Manifest streams: multi-document YAML (libyaml's document loader) or JSON, turned into cJSON
 * trees and then through the same Pod decoder as API JSON. Plain scalars get JSON types (null,
 * true/false, numbers); aliases are bounded (node budget, depth) so a "billion laughs" document
 * is refused instead of expanded. Each document is decoded on its own. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yaml.h>

#include "kq_alloc.h"
#include "kq_error.h"
#include "kq_k8s_internal.h"

#define MAX_DEPTH 64
#define MAX_NODES 200000 /* cJSON values produced per document, aliases included */

typedef struct conv {
  yaml_document_t *doc;
  size_t nodes;
  const char *err; /* static */
  size_t err_line;
} conv_t;

static bool is_number(const char *s) {
  const char *p = s;
  if (*p == '-' || *p == '+') p++;
  if (!isdigit((unsigned char)*p) && !(*p == '.' && isdigit((unsigned char)p[1]))) return false;
  while (isdigit((unsigned char)*p)) p++;
  if (*p == '.') {
    p++;
    while (isdigit((unsigned char)*p)) p++;
  }
  if (*p == 'e' || *p == 'E') {
    p++;
    if (*p == '-' || *p == '+') p++;
    if (!isdigit((unsigned char)*p)) return false;
    while (isdigit((unsigned char)*p)) p++;
  }
  return *p == '\0';
}

static cJSON *scalar(const yaml_node_t *n) {
  const char *v = (const char *)n->data.scalar.value;
  if (n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE) return cJSON_CreateString(v);
  if (!*v || !strcmp(v, "~") || !strcmp(v, "null") || !strcmp(v, "Null") || !strcmp(v, "NULL"))
    return cJSON_CreateNull();
  if (!strcmp(v, "true") || !strcmp(v, "True") || !strcmp(v, "TRUE")) return cJSON_CreateTrue();
  if (!strcmp(v, "false") || !strcmp(v, "False") || !strcmp(v, "FALSE")) return cJSON_CreateFalse();
  /* integers keep their text when they would lose precision as a double */
  if (is_number(v) && strlen(v) < 16) return cJSON_CreateNumber(strtod(v, NULL));
  return cJSON_CreateString(v);
}

static cJSON *convert(conv_t *c, yaml_node_t *n, int depth) {
  if (!n) {
    c->err = "dangling node";
    return NULL;
  }
  if (++c->nodes > MAX_NODES) {
    c->err = "document too large after alias expansion";
    c->err_line = n->start_mark.line + 1;
    return NULL;
  }
  if (depth > MAX_DEPTH) {
    c->err = "nested too deeply";
    c->err_line = n->start_mark.line + 1;
    return NULL;
  }
  switch (n->type) {
    case YAML_SCALAR_NODE:
      return scalar(n);
    case YAML_SEQUENCE_NODE: {
      cJSON *a = cJSON_CreateArray();
      for (yaml_node_item_t *it = n->data.sequence.items.start; it < n->data.sequence.items.top; it++) {
        cJSON *e = convert(c, yaml_document_get_node(c->doc, *it), depth + 1);
        if (!e) {
          cJSON_Delete(a);
          return NULL;
        }
        cJSON_AddItemToArray(a, e);
      }
      return a;
    }
    case YAML_MAPPING_NODE: {
      cJSON *o = cJSON_CreateObject();
      for (yaml_node_pair_t *pr = n->data.mapping.pairs.start; pr < n->data.mapping.pairs.top; pr++) {
        yaml_node_t *k = yaml_document_get_node(c->doc, pr->key);
        if (!k || k->type != YAML_SCALAR_NODE) {
          c->err = "mapping keys must be plain strings";
          c->err_line = (k ? k->start_mark.line : n->start_mark.line) + 1;
          cJSON_Delete(o);
          return NULL;
        }
        cJSON *v = convert(c, yaml_document_get_node(c->doc, pr->value), depth + 1);
        if (!v) {
          cJSON_Delete(o);
          return NULL;
        }
        cJSON_AddItemToObject(o, (const char *)k->data.scalar.value, v);
      }
      return o;
    }
    default:
      c->err = "empty node";
      return NULL;
  }
}

typedef struct docs {
  kq_k8s_doc_t *v;
  size_t n, cap;
} docs_t;

static kq_k8s_doc_t *doc_add(docs_t *d, int index, int line) {
  if (d->n == d->cap) {
    d->cap = d->cap ? d->cap * 2 : 4;
    d->v = kq_realloc(d->v, d->cap * sizeof(*d->v));
  }
  kq_k8s_doc_t *doc = &d->v[d->n++];
  memset(doc, 0, sizeof(*doc));
  doc->index = index;
  doc->line = line;
  return doc;
}

static void doc_fail(kq_k8s_doc_t *doc, int rc, const char *msg) {
  doc->rc = rc;
  doc->error = kq_asprintf("document %d (line %d): %s", doc->index + 1, doc->line, msg);
}

static void decode_tree(docs_t *out, const cJSON *root, int index, int line) {
  const cJSON *kind = cJSON_IsObject(root) ? cJSON_GetObjectItemCaseSensitive(root, "kind") : NULL;
  const char *k = cJSON_IsString(kind) ? kind->valuestring : NULL;
  if (k && (strcmp(k, "List") == 0 || strcmp(k, "PodList") == 0)) {
    const cJSON *items = cJSON_GetObjectItemCaseSensitive(root, "items");
    if (!cJSON_IsArray(items)) {
      kq_k8s_doc_t *doc = doc_add(out, index, line);
      doc->kind = kq_strdup(k);
      doc_fail(doc, KQ_EINVAL, "a List needs an `items` list");
      return;
    }
    const cJSON *it;
    cJSON_ArrayForEach(it, items) decode_tree(out, it, index, line);
    return;
  }
  kq_k8s_doc_t *doc = doc_add(out, index, line);
  doc->kind = k ? kq_strdup(k) : NULL;
  if (!cJSON_IsObject(root)) {
    doc_fail(doc, KQ_EINVAL, "not an object");
    return;
  }
  if (!k) {
    doc_fail(doc, KQ_EINVAL, "no `kind` (expected kind: Pod)");
    return;
  }
  if (strcmp(k, "Pod") != 0) {
    char msg[160];
    snprintf(msg, sizeof(msg), "kind \"%.64s\" is not supported (only Pod)", k);
    doc_fail(doc, KQ_ENOTSUP, msg);
    return;
  }
  kq_jd_t d;
  kq_jd_init(&d);
  kq_k8s_pod_decode(&d, root, &doc->pod);
  if (kq_jd_ok(&d) && (!doc->pod.meta.name || !doc->pod.meta.name[0]))
    kq_jd_fail(&d, KQ_EINVAL, "metadata.name is required");
  if (!kq_jd_ok(&d)) {
    kq_pod_clear(&doc->pod);
    doc_fail(doc, d.rc, d.err);
  }
  free(d.err);
}

static bool looks_like_json(const char *s, size_t len) {
  for (size_t i = 0; i < len; i++) {
    if (isspace((unsigned char)s[i])) continue;
    return s[i] == '{' || s[i] == '[';
  }
  return false;
}

int kq_k8s_pod_from_yaml_docs(const char *yaml, size_t len, kq_k8s_doc_t **docs, size_t *ndocs,
                              char **err) {
  docs_t out = {0};
  int rc = KQ_OK;
  if (err) *err = NULL;
  *docs = NULL;
  *ndocs = 0;
  if (len > KQ_K8S_MAX_OBJECT_BYTES) {
    if (err) *err = kq_asprintf("manifest of %zu bytes is too large (at most %u)", len,
                                (unsigned)KQ_K8S_MAX_OBJECT_BYTES);
    return KQ_ETOOBIG;
  }
  if (looks_like_json(yaml, len)) {
    kq_jd_t d;
    kq_jd_init(&d);
    cJSON *root = kq_k8s_json_parse(&d, yaml, len);
    if (!root) {
      if (err) *err = d.err;
      else free(d.err);
      return d.rc;
    }
    decode_tree(&out, root, 0, 1);
    cJSON_Delete(root);
    *docs = out.v;
    *ndocs = out.n;
    return KQ_OK;
  }
  yaml_parser_t parser;
  if (!yaml_parser_initialize(&parser)) abort();
  yaml_parser_set_input_string(&parser, (const unsigned char *)yaml, len);
  for (int index = 0;; index++) {
    yaml_document_t doc;
    if (!yaml_parser_load(&parser, &doc)) {
      if (err)
        *err = kq_asprintf("invalid YAML at line %zu column %zu: %s%s%s",
                           parser.problem_mark.line + 1, parser.problem_mark.column + 1,
                           parser.problem ? parser.problem : "syntax error",
                           parser.context ? " " : "", parser.context ? parser.context : "");
      rc = KQ_EPARSE;
      break;
    }
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    if (!root) { /* end of stream */
      yaml_document_delete(&doc);
      break;
    }
    int line = (int)doc.start_mark.line + 1;
    if (index >= KQ_K8S_MAX_YAML_DOCS) {
      yaml_document_delete(&doc);
      if (err) *err = kq_asprintf("more than %d documents", KQ_K8S_MAX_YAML_DOCS);
      rc = KQ_ETOOBIG;
      break;
    }
    bool empty = root->type == YAML_SCALAR_NODE && root->data.scalar.length == 0;
    if (!empty) {
      conv_t c = {.doc = &doc};
      cJSON *tree = convert(&c, root, 0);
      if (!tree) {
        kq_k8s_doc_t *d = doc_add(&out, index, line);
        char msg[160];
        snprintf(msg, sizeof(msg), "%s (line %zu)", c.err ? c.err : "cannot convert",
                 c.err_line ? c.err_line : (size_t)line);
        doc_fail(d, KQ_EINVAL, msg);
      } else if (cJSON_IsNull(tree)) {
        /* `---` followed by nothing but comments */
      } else {
        decode_tree(&out, tree, index, line);
      }
      cJSON_Delete(tree);
    }
    yaml_document_delete(&doc);
  }
  yaml_parser_delete(&parser);
  *docs = out.v;
  *ndocs = out.n;
  return rc;
}

cJSON *kq_k8s_yaml_to_json(const char *yaml, size_t len, char **err) {
  if (err) *err = NULL;
  if (len > KQ_K8S_MAX_OBJECT_BYTES) {
    if (err) *err = kq_asprintf("%zu bytes is too large", len);
    return NULL;
  }
  yaml_parser_t parser;
  if (!yaml_parser_initialize(&parser)) abort();
  yaml_parser_set_input_string(&parser, (const unsigned char *)yaml, len);
  yaml_document_t doc;
  cJSON *tree = NULL;
  if (!yaml_parser_load(&parser, &doc)) {
    if (err)
      *err = kq_asprintf("invalid YAML at line %zu column %zu: %s", parser.problem_mark.line + 1,
                         parser.problem_mark.column + 1,
                         parser.problem ? parser.problem : "syntax error");
  } else {
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    if (root) {
      conv_t c = {.doc = &doc};
      tree = convert(&c, root, 0);
      if (!tree && err) *err = kq_asprintf("%s", c.err ? c.err : "cannot convert");
    } else if (err) {
      *err = kq_strdup("empty document");
    }
    yaml_document_delete(&doc);
  }
  yaml_parser_delete(&parser);
  return tree;
}

void kq_k8s_docs_free(kq_k8s_doc_t *docs, size_t ndocs) {
  if (!docs) return;
  for (size_t i = 0; i < ndocs; i++) {
    free(docs[i].kind);
    free(docs[i].error);
    kq_pod_clear(&docs[i].pod);
  }
  free(docs);
}
