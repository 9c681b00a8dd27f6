/*
 * drv.h: derivations.  The ATerm `.drv` syntax (PROTOCOL.md section 11),
 * hashDerivationModulo and output paths (section 12).
 */
#ifndef FRX_DRV_H
#define FRX_DRV_H

#include <stddef.h>

#include "hash.h"
#include "util.h"

struct drv_output {
	char *name;
	char *path;		/* "" for floating/deferred outputs */
	char *hash_algo;	/* "" or e.g. "sha256", "r:sha256" */
	char *hash;		/* "" or hex */
};

struct drv_input {
	char *path;		/* .drv store path */
	struct strv outputs;	/* sorted output names */
};

struct drv_env {
	char *key;
	char *value;
};

struct drv {
	struct drv_output *outputs;	/* sorted by name */
	size_t noutputs;
	struct drv_input *inputs;	/* sorted by path */
	size_t ninputs;
	struct strv srcs;		/* sorted */
	char *platform;
	char *builder;
	struct strv args;		/* in order */
	struct drv_env *env;		/* sorted by key */
	size_t nenv;
};

void drv_init(struct drv *d);
void drv_free(struct drv *d);

/* Parse ATerm text (not NUL-terminated necessarily).  Rejects trailing
 * bytes and malformed input with a message giving the byte offset. */
int drv_parse(const char *text, size_t len, struct drv *d);

/* Append the ATerm text of d to out.  Sorts nothing: the caller keeps the
 * arrays sorted (drv_sort does it). */
void drv_unparse(const struct drv *d, struct buf *out);
void drv_sort(struct drv *d);

/* Builders for lowering code. */
void drv_add_output(struct drv *d, const char *name, const char *path,
    const char *algo, const char *hash);
void drv_add_input(struct drv *d, const char *drvpath, const char *output);
void drv_add_src(struct drv *d, const char *path);
void drv_set_env(struct drv *d, const char *key, const char *value);
const char *drv_get_env(const struct drv *d, const char *key);

/* A fixed-output derivation has exactly one output "out" with a hash. */
int drv_is_fixed(const struct drv *d);

/* Loads the .drv at a store path (for input derivations). */
typedef int (*drv_loader_fn)(void *ctx, const char *drvpath, struct drv *d);

/*
 * hashDerivationModulo.  mask = 1 gives H_mask (used for d's own output
 * paths and DrvOutput ids), mask = 0 what dependants substitute for d.
 * Input derivations are loaded through `load`.
 */
int drv_hash_modulo(const char *storedir, const struct drv *d, int mask,
    drv_loader_fn load, void *ctx, struct hash *out);

/*
 * The text whose sha256 drv_hash_modulo returns, appended to out: the
 * substituted (and, with mask, masked) ATerm, or for a fixed-output
 * derivation the "fixed:out:<[r:]algo>:<hex>:<path>" string.  Added for
 * tests and for diagnosing hash mismatches.
 */
int drv_modulo_text(const char *storedir, const struct drv *d, int mask,
    drv_loader_fn load, void *ctx, struct buf *out);

/*
 * Fill in the output paths of d (and the env entries named after outputs),
 * as the evaluator does: for fixed outputs from the hash, for the others
 * from H_mask.  d's name comes from env "name".
 */
int drv_fill_outputs(const char *storedir, struct drv *d,
    drv_loader_fn load, void *ctx);

/*
 * Check that the output paths recorded in d are the ones its contents
 * imply; -1 with a message naming the first wrong output otherwise.
 */
int drv_check_outputs(const char *storedir, const struct drv *d,
    drv_loader_fn load, void *ctx);

/* The store path of the .drv file for d named "<name>.drv": a text path
 * whose references are the input sources and input derivations.  With
 * name NULL, env "name" is used. */
char *drv_store_path(const char *storedir, const struct drv *d,
    const char *name);

/* Loader that reads "<path>" from the file system. */
int drv_load_file(void *ctx, const char *drvpath, struct drv *d);

#endif
