/* Image plane umbrella: one include for the pieces of the OCI module. Each piece has its own small
 * header (reference, manifests, auth, extraction, store, pull, registry proxy). Pull failures map to
 * a Kubernetes-visible reason (kq_oci_reason_t) plus a human message. */
#ifndef KQ_OCI_H
#define KQ_OCI_H

#include "kq_oci_ref.h"
#include "kq_oci_manifest.h"
#include "kq_oci_auth.h"
#include "kq_oci_digest.h"
#include "kq_oci_extract.h"
#include "kq_oci_store.h"
#include "kq_oci_pull.h"
#include "kq_proxy.h"

#endif
