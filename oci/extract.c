/* Layer extraction with libarchive. Every path is written relative to a directory fd opened
 * component by component with O_NOFOLLOW, so no entry can write through a symlink, whatever
 * earlier entries created; symlink and hardlink targets are confined lexically to the root. */
#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kq_alloc.h"
#include "kq_error.h"
#include "kq_oci_extract.h"
#include "kq_oci_store.h"

#define SETERR(...) \
  do { if (err && errlen) snprintf(err, errlen, __VA_ARGS__); } while (0)

#define MAX_DEPTH 64

/* Splits a relative path into normalised components ("./a//b/" → a, b). Returns the count, or -1
 * for absolute paths, ".." segments or too deep paths. `buf` receives the component storage. */
static int split_path(const char *path, char *buf, size_t blen, char *parts[MAX_DEPTH]) {
  if (!path || path[0] == '/') return -1;
  size_t n = strlen(path);
  if (n >= blen) return -1;
  memcpy(buf, path, n + 1);
  int cnt = 0;
  char *save = NULL;
  for (char *tok = strtok_r(buf, "/", &save); tok; tok = strtok_r(NULL, "/", &save)) {
    if (strcmp(tok, ".") == 0) continue;
    if (strcmp(tok, "..") == 0) return -1;
    if (cnt == MAX_DEPTH) return -1;
    parts[cnt++] = tok;
  }
  return cnt;
}

/* Opens the directory holding parts[0..n-1] below root fd, creating missing folders when
 * `create`. Returns an fd or -1 (errno ELOOP/ENOTDIR when a component is not a real folder). */
static int open_parent(int rootfd, char **parts, int n, bool create) {
  int fd = dup(rootfd);
  for (int i = 0; i < n && fd >= 0; i++) {
    int next = openat(fd, parts[i], O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (next < 0 && errno == ENOENT && create) {
      if (mkdirat(fd, parts[i], 0755) != 0 && errno != EEXIST) { close(fd); return -1; }
      next = openat(fd, parts[i], O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    }
    int e = errno;
    close(fd);
    errno = e;
    fd = next;
  }
  return fd;
}

/* Removes name in dfd, recursively for folders, never following symlinks. */
static void remove_at(int dfd, const char *name) {
  struct stat st;
  if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) != 0) return;
  if (!S_ISDIR(st.st_mode)) {
    unlinkat(dfd, name, 0);
    return;
  }
  int fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd >= 0) {
    DIR *d = fdopendir(fd);
    if (d) {
      struct dirent *de;
      while ((de = readdir(d)))
        if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..")) remove_at(fd, de->d_name);
      closedir(d);
    } else {
      close(fd);
    }
  }
  unlinkat(dfd, name, AT_REMOVEDIR);
}

/* True when `target` of a symlink at parts[0..n-1] stays inside the root lexically. */
static bool symlink_target_ok(char **parts, int n, const char *target) {
  if (!target || !*target || target[0] == '/') return false;
  int depth = n - 1;   /* folders above the link */
  char buf[PATH_MAX];
  size_t tl = strlen(target);
  if (tl >= sizeof buf) return false;
  memcpy(buf, target, tl + 1);
  char *save = NULL;
  for (char *tok = strtok_r(buf, "/", &save); tok; tok = strtok_r(NULL, "/", &save)) {
    if (strcmp(tok, ".") == 0) continue;
    if (strcmp(tok, "..") == 0) {
      if (--depth < 0) return false;
    } else {
      depth++;
    }
  }
  return true;
}

static int copy_data(struct archive *a, int fd, const kq_oci_extract_limits_t *lim, uint64_t *written,
                     uint64_t *layer_bytes, uint64_t compressed, char *err, size_t errlen) {
  const void *blk;
  size_t sz;
  la_int64_t off;
  int r;
  uint64_t pos = 0;
  while ((r = archive_read_data_block(a, &blk, &sz, &off)) == ARCHIVE_OK) {
    uint64_t end = (uint64_t)off + sz;
    uint64_t grow = end > pos ? end - pos : 0;
    *written += grow;
    *layer_bytes += grow;
    if (*written > lim->max_bytes) {
      SETERR("image expands beyond %llu bytes", (unsigned long long)lim->max_bytes);
      return KQ_ETOOBIG;
    }
    if (*layer_bytes > (4u << 20) && *layer_bytes / (compressed ? compressed : 1) > lim->max_ratio) {
      SETERR("layer compression ratio above %u (decompression bomb?)", lim->max_ratio);
      return KQ_ETOOBIG;
    }
    if (pwrite(fd, blk, sz, (off_t)off) != (ssize_t)sz) {
      SETERR("write failed: %s", strerror(errno));
      return KQ_EIO;
    }
    if (end > pos) pos = end;
  }
  if (r != ARCHIVE_EOF) {
    SETERR("corrupt layer data: %s", archive_error_string(a) ? archive_error_string(a) : "?");
    return KQ_EPARSE;
  }
  if (ftruncate(fd, (off_t)pos) != 0) return KQ_EIO;
  return KQ_OK;
}

static int extract_entry(struct archive *a, struct archive_entry *e, int rootfd,
                         const kq_oci_extract_limits_t *lim, uint64_t *written, uint64_t *layer_bytes,
                         uint64_t compressed, char *err, size_t errlen) {
  const char *path = archive_entry_pathname(e);
  char buf[PATH_MAX];
  char *parts[MAX_DEPTH];
  int n = split_path(path, buf, sizeof buf, parts);
  if (n < 0) {
    SETERR("refused entry \"%.200s\": absolute path, \"..\" or too deep", path ? path : "(null)");
    return KQ_ESECURITY;
  }
  if (n == 0) return KQ_OK;   /* "./" */
  const char *name = parts[n - 1];
  const char *hardlink = archive_entry_hardlink(e);
  mode_t type = archive_entry_filetype(e);
  if (!hardlink && type != AE_IFREG && type != AE_IFDIR && type != AE_IFLNK) {
    SETERR("refused entry \"%.200s\": device, fifo or socket", path);
    return KQ_ESECURITY;
  }
  int pfd = open_parent(rootfd, parts, n - 1, true);
  if (pfd < 0) {
    SETERR("refused entry \"%.200s\": its folder is a symlink or a file", path);
    return KQ_ESECURITY;
  }
  int rc = KQ_OK;
  if (strncmp(name, ".wh.", 4) == 0) {   /* whiteouts */
    if (strcmp(name, ".wh..wh..opq") == 0) {
      DIR *d = fdopendir(dup(pfd));
      struct dirent *de;
      while (d && (de = readdir(d)))
        if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..")) remove_at(pfd, de->d_name);
      if (d) closedir(d);
    } else if (name[4] && strcmp(name + 4, ".") && strcmp(name + 4, "..")) {
      remove_at(pfd, name + 4);
    }
    close(pfd);
    return KQ_OK;
  }
  struct stat st;
  bool exists = fstatat(pfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0;
  if (type == AE_IFDIR && !hardlink) {
    if (exists && !S_ISDIR(st.st_mode)) remove_at(pfd, name);
    if (mkdirat(pfd, name, 0755) != 0 && errno != EEXIST) rc = KQ_EIO;
    close(pfd);
    if (rc) SETERR("mkdir \"%.200s\" failed", path);
    return rc;
  }
  if (exists) remove_at(pfd, name);
  if (hardlink) {
    char tbuf[PATH_MAX];
    char *tparts[MAX_DEPTH];
    int tn = split_path(hardlink, tbuf, sizeof tbuf, tparts);
    int tdir = tn > 0 ? open_parent(rootfd, tparts, tn - 1, false) : -1;
    struct stat tst;
    if (tdir < 0 || fstatat(tdir, tparts[tn - 1], &tst, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISREG(tst.st_mode)) {
      SETERR("refused hard link \"%.200s\" -> \"%.200s\": target outside the layer or not a file", path, hardlink);
      rc = KQ_ESECURITY;
    } else if (linkat(tdir, tparts[tn - 1], pfd, name, 0) != 0) {
      SETERR("link \"%.200s\" failed: %s", path, strerror(errno));
      rc = KQ_EIO;
    }
    if (tdir >= 0) close(tdir);
  } else if (type == AE_IFLNK) {
    const char *target = archive_entry_symlink(e);
    if (!symlink_target_ok(parts, n, target)) {
      SETERR("refused symlink \"%.200s\" -> \"%.200s\": escapes the image root", path, target ? target : "");
      rc = KQ_ESECURITY;
    } else if (symlinkat(target, pfd, name) != 0) {
      SETERR("symlink \"%.200s\" failed: %s", path, strerror(errno));
      rc = KQ_EIO;
    }
  } else {
    mode_t mode = (archive_entry_perm(e) & 0755) | 0600;
    int fd = openat(pfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
    if (fd < 0) {
      SETERR("create \"%.200s\" failed: %s", path, strerror(errno));
      rc = KQ_EIO;
    } else {
      rc = copy_data(a, fd, lim, written, layer_bytes, compressed, err, errlen);
      close(fd);
    }
  }
  close(pfd);
  return rc;
}

static int copy_raw(const char *blob, int rootfd, const char *name, const kq_oci_extract_limits_t *lim,
                    uint64_t *written, char *err, size_t errlen) {
  int in = open(blob, O_RDONLY | O_CLOEXEC);
  if (in < 0) { SETERR("open blob failed"); return KQ_EIO; }
  char buf[PATH_MAX];
  char *parts[MAX_DEPTH];
  int n = split_path(name, buf, sizeof buf, parts);
  if (n <= 0) {
    close(in);
    SETERR("bad module file name \"%.200s\"", name);
    return KQ_ESECURITY;
  }
  int pfd = open_parent(rootfd, parts, n - 1, true);
  int rc = KQ_OK;
  int out = pfd >= 0 ? openat(pfd, parts[n - 1], O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0644) : -1;
  if (out < 0) {
    SETERR("create \"%.200s\" failed", name);
    rc = KQ_ESECURITY;
  }
  char data[65536];
  ssize_t r;
  while (rc == KQ_OK && (r = read(in, data, sizeof data)) > 0) {
    *written += (uint64_t)r;
    if (*written > lim->max_bytes) { SETERR("module larger than %llu bytes", (unsigned long long)lim->max_bytes); rc = KQ_ETOOBIG; break; }
    if (write(out, data, (size_t)r) != r) { rc = KQ_EIO; break; }
  }
  if (out >= 0) close(out);
  if (pfd >= 0) close(pfd);
  close(in);
  return rc;
}

int kq_oci_extract_layer(const char *blob_path, kq_oci_layer_kind_t kind, const char *root,
                         const char *raw_name, const kq_oci_extract_limits_t *limits, uint64_t *written,
                         char *err, size_t errlen) {
  kq_oci_extract_limits_t lim = limits ? *limits : (kq_oci_extract_limits_t){0};
  if (!lim.max_bytes) lim.max_bytes = 2ull << 30;
  if (!lim.max_entries) lim.max_entries = 200000;
  if (!lim.max_ratio) lim.max_ratio = 200;
  uint64_t dummy = 0;
  if (!written) written = &dummy;
  int rootfd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (rootfd < 0) { SETERR("open root failed"); return KQ_EIO; }
  if (kind == KQ_OCI_LAYER_WASM) {
    int rc = copy_raw(blob_path, rootfd, raw_name && *raw_name ? raw_name : "module.wasm", &lim, written, err, errlen);
    close(rootfd);
    return rc;
  }
  if (kind == KQ_OCI_LAYER_UNKNOWN) {
    close(rootfd);
    SETERR("unsupported layer media type");
    return KQ_ENOTSUP;
  }
  struct stat bst;
  uint64_t compressed = stat(blob_path, &bst) == 0 ? (uint64_t)bst.st_size : 1;
  struct archive *a = archive_read_new();
  if (kind == KQ_OCI_LAYER_TAR_GZIP) archive_read_support_filter_gzip(a);
  else if (kind == KQ_OCI_LAYER_TAR_ZSTD) archive_read_support_filter_zstd(a);
  else archive_read_support_filter_none(a);
  archive_read_support_format_tar(a);
  int rc = KQ_OK;
  if (archive_read_open_filename(a, blob_path, 65536) != ARCHIVE_OK) {
    SETERR("cannot read layer: %s", archive_error_string(a) ? archive_error_string(a) : "?");
    rc = KQ_EPARSE;
  }
  struct archive_entry *e;
  uint32_t entries = 0;
  uint64_t layer_bytes = 0;
  while (rc == KQ_OK) {
    int r = archive_read_next_header(a, &e);
    if (r == ARCHIVE_EOF) break;
    if (r != ARCHIVE_OK && r != ARCHIVE_WARN) {
      SETERR("corrupt layer: %s", archive_error_string(a) ? archive_error_string(a) : "?");
      rc = KQ_EPARSE;
      break;
    }
    if (++entries > lim.max_entries) {
      SETERR("layer has more than %u entries", lim.max_entries);
      rc = KQ_ETOOBIG;
      break;
    }
    rc = extract_entry(a, e, rootfd, &lim, written, &layer_bytes, compressed, err, errlen);
  }
  archive_read_free(a);
  close(rootfd);
  return rc;
}
