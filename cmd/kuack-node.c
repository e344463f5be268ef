/* kuack-node: placeholder main until the core runtime lands. */
#include <stdio.h>
int main(void) {
  fprintf(stderr, "kuack-node: not built yet\n");
  return 1;
}
