/* hello-wasi: prints its arguments and $GREETING, writes one stderr line and exits with the code
 * given by `--exit N` (default 0). Used by the image and pod tests. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv) {
  int code = 0;
  printf("hello from wasi: argc=%d\n", argc);
  for (int i = 0; i < argc; i++) {
    printf("argv[%d]=%s\n", i, argv[i]);
    if (strcmp(argv[i], "--exit") == 0 && i + 1 < argc) code = atoi(argv[i + 1]);
  }
  const char *g = getenv("GREETING");
  printf("GREETING=%s\n", g ? g : "(unset)");
  fprintf(stderr, "hello-wasi: this line goes to stderr\n");
  fflush(stdout);
  return code;
}
