/* Test helpers: temp dirs and tar layers written with libarchive (hostile ones included). */
#ifndef OCI_FIXTURE_H
#define OCI_FIXTURE_H
#include <archive.h>
#include <archive_entry.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct fx_entry {
  const char *path;
  int type;              /* AE_IFREG, AE_IFDIR, AE_IFLNK, AE_IFCHR, AE_IFIFO; 0 = hardlink */
  const char *data;      /* file content / link target */
  size_t repeat;         /* content repeated this many times (bombs); 0 = once */
} fx_entry_t;

static inline char *fx_tmpdir(void) {
  char *d = strdup("/tmp/kq-oci-test.XXXXXX");
  if (!mkdtemp(d)) abort();
  return d;
}

/* filter: 0 none, 1 gzip, 2 zstd */
static inline void fx_tar(const char *out, int filter, const fx_entry_t *ents, size_t n) {
  struct archive *a = archive_write_new();
  archive_write_set_format_pax_restricted(a);
  if (filter == 1) archive_write_add_filter_gzip(a);
  if (filter == 2) archive_write_add_filter_zstd(a);
  if (archive_write_open_filename(a, out) != ARCHIVE_OK) abort();
  for (size_t i = 0; i < n; i++) {
    struct archive_entry *e = archive_entry_new();
    archive_entry_set_pathname(e, ents[i].path);
    size_t len = ents[i].data ? strlen(ents[i].data) : 0;
    size_t rep = ents[i].repeat ? ents[i].repeat : 1;
    if (ents[i].type == 0) {
      archive_entry_set_filetype(e, AE_IFREG);
      archive_entry_set_hardlink(e, ents[i].data);
      archive_entry_set_size(e, 0);
    } else {
      archive_entry_set_filetype(e, (unsigned)ents[i].type);
      if (ents[i].type == AE_IFLNK) archive_entry_set_symlink(e, ents[i].data);
      archive_entry_set_size(e, ents[i].type == AE_IFREG ? (la_int64_t)(len * rep) : 0);
    }
    archive_entry_set_perm(e, ents[i].type == AE_IFDIR ? 0755 : 04755);
    archive_write_header(a, e);
    if (ents[i].type == AE_IFREG)
      for (size_t r = 0; r < rep; r++) archive_write_data(a, ents[i].data, len);
    archive_entry_free(e);
  }
  archive_write_close(a);
  archive_write_free(a);
}

static inline void fx_write(const char *path, const char *data) {
  FILE *f = fopen(path, "wb");
  if (!f) abort();
  fwrite(data, 1, strlen(data), f);
  fclose(f);
}

static inline void fx_rmrf(const char *d) {
  char cmd[512];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", d);
  if (system(cmd) != 0) abort();
}

#endif
