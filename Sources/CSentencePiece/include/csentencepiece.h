// A small C face over libsentencepiece (C++), for Swift.
// Every function is safe to call from several threads on the same processor
// (the processor is immutable after loading).
#pragma once
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct csp_processor csp_processor;

/// Loads a SentencePiece model (`tokenizer.model`). Returns NULL on failure and writes a
/// NUL-terminated message into `error` (at most `error_capacity` bytes, truncated).
csp_processor *csp_load(const char *path, char *error, size_t error_capacity);
void csp_free(csp_processor *processor);

/// Encodes `length` bytes of UTF-8 text (no BOS/EOS). Returns a malloc'ed array of
/// `*count` ids (free it with csp_free_ids), or NULL on failure with a message in `error`.
/// Empty results return a non-NULL pointer with `*count` = 0.
int32_t *csp_encode(const csp_processor *processor, const char *text, size_t length,
                    size_t *count, char *error, size_t error_capacity);
void csp_free_ids(int32_t *ids);

/// Decodes ids as libsentencepiece does (control ids vanish, byte pieces are joined).
/// Returns a malloc'ed UTF-8 buffer of `*length` bytes (free it with csp_free_text), or
/// NULL on failure with a message in `error`.
char *csp_decode(const csp_processor *processor, const int32_t *ids, size_t count,
                 size_t *length, char *error, size_t error_capacity);
void csp_free_text(char *text);

int32_t csp_vocab_size(const csp_processor *processor);
/// The piece of `id` (a pointer into the processor, valid while it lives); NULL if out of range.
const char *csp_piece(const csp_processor *processor, int32_t id, size_t *length);
float csp_score(const csp_processor *processor, int32_t id);
/// The piece type of `id`, numbered as SentencePiece (and GGUF) number them:
/// 1 normal, 2 unknown, 3 control, 4 user-defined, 5 unused, 6 byte; 0 if out of range.
int32_t csp_piece_type(const csp_processor *processor, int32_t id);
/// -1 when the model defines no such token.
int32_t csp_bos_id(const csp_processor *processor);
int32_t csp_eos_id(const csp_processor *processor);
int32_t csp_unk_id(const csp_processor *processor);

/// The model's normalizer settings (from its NormalizerSpec).
typedef struct csp_normalizer {
    int add_dummy_prefix;          // prepend a space to the text
    int remove_extra_whitespaces;  // strip leading/trailing spaces, collapse runs of spaces
    int escape_whitespaces;        // spaces become U+2581
    int has_charsmap;              // a precompiled normalization map (e.g. nmt_nfkc) is present
    char name[64];                 // normalization rule name ("identity", "nmt_nfkc", ...)
} csp_normalizer;
csp_normalizer csp_normalizer_spec(const csp_processor *processor);

#ifdef __cplusplus
}
#endif
