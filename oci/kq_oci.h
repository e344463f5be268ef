/* OCI registry client (wasi/wasm variant), safe layer extraction, content-addressed store. */
#ifndef KQ_OCI_H
#define KQ_OCI_H
#endif
