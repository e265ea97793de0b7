// extern "C" face over libsentencepiece. See include/csentencepiece.h.
#include "csentencepiece.h"

#include <sentencepiece_processor.h>

#include <cstdlib>
#include <cstring>
#include <new>
#include <string>
#include <vector>

struct csp_processor {
    sentencepiece::SentencePieceProcessor sp;
    std::vector<int32_t> types;  // piece types read from the model proto
    csp_normalizer normalizer;
};

namespace {

void write_error(char *error, size_t capacity, const std::string &message) {
    if (error == nullptr || capacity == 0) return;
    size_t n = message.size() < capacity - 1 ? message.size() : capacity - 1;
    std::memcpy(error, message.data(), n);
    error[n] = '\0';
}

// Minimal protobuf wire-format reader: just enough to read the piece types and the
// NormalizerSpec of a ModelProto (libsentencepiece's public header exposes neither
// user-defined types nor normalizer flags).
struct Wire {
    const unsigned char *p;
    const unsigned char *end;

    bool varint(uint64_t &v) {
        v = 0;
        for (int shift = 0; shift < 64 && p < end; shift += 7) {
            unsigned char b = *p++;
            v |= uint64_t(b & 0x7f) << shift;
            if ((b & 0x80) == 0) return true;
        }
        return false;
    }
    // Reads one field; for length-delimited fields `sub` spans the payload.
    bool field(uint32_t &number, uint32_t &wire, uint64_t &value, Wire &sub) {
        uint64_t tag;
        if (!varint(tag)) return false;
        number = uint32_t(tag >> 3);
        wire = uint32_t(tag & 7);
        switch (wire) {
        case 0: return varint(value);
        case 1: if (end - p < 8) return false; p += 8; return true;
        case 5: if (end - p < 4) return false; p += 4; return true;
        case 2:
            if (!varint(value) || uint64_t(end - p) < value) return false;
            sub = Wire{p, p + value};
            p += value;
            return true;
        default: return false;
        }
    }
};

bool read_model_proto(const std::string &bytes, csp_processor &out) {
    Wire top{reinterpret_cast<const unsigned char *>(bytes.data()),
             reinterpret_cast<const unsigned char *>(bytes.data()) + bytes.size()};
    csp_normalizer &norm = out.normalizer;
    norm = csp_normalizer{1, 1, 1, 0, {0}};
    uint32_t number, wire;
    uint64_t value;
    Wire sub{nullptr, nullptr};
    while (top.p < top.end) {
        if (!top.field(number, wire, value, sub)) return false;
        if (number == 1 && wire == 2) {  // SentencePiece { piece = 1; score = 2; type = 3; }
            int32_t type = 1;
            uint32_t n2, w2;
            uint64_t v2;
            Wire inner{nullptr, nullptr};
            while (sub.p < sub.end) {
                if (!sub.field(n2, w2, v2, inner)) return false;
                if (n2 == 3 && w2 == 0) type = int32_t(v2);
            }
            out.types.push_back(type);
        } else if (number == 3 && wire == 2) {  // NormalizerSpec
            uint32_t n2, w2;
            uint64_t v2;
            Wire inner{nullptr, nullptr};
            while (sub.p < sub.end) {
                if (!sub.field(n2, w2, v2, inner)) return false;
                if (n2 == 1 && w2 == 2) {
                    size_t len = size_t(inner.end - inner.p);
                    if (len > sizeof(norm.name) - 1) len = sizeof(norm.name) - 1;
                    std::memcpy(norm.name, inner.p, len);
                    norm.name[len] = '\0';
                } else if (n2 == 2 && w2 == 2) {
                    norm.has_charsmap = inner.end > inner.p ? 1 : 0;
                } else if (n2 == 3 && w2 == 0) {
                    norm.add_dummy_prefix = v2 != 0;
                } else if (n2 == 4 && w2 == 0) {
                    norm.remove_extra_whitespaces = v2 != 0;
                } else if (n2 == 5 && w2 == 0) {
                    norm.escape_whitespaces = v2 != 0;
                }
            }
        }
    }
    return true;
}

}  // namespace

extern "C" {

csp_processor *csp_load(const char *path, char *error, size_t error_capacity) {
    csp_processor *proc = new (std::nothrow) csp_processor();
    if (proc == nullptr) {
        write_error(error, error_capacity, "out of memory");
        return nullptr;
    }
    const auto status = proc->sp.Load(path);
    if (!status.ok()) {
        write_error(error, error_capacity, status.ToString());
        delete proc;
        return nullptr;
    }
    if (!read_model_proto(proc->sp.serialized_model_proto(), *proc) ||
        int(proc->types.size()) != proc->sp.GetPieceSize()) {
        write_error(error, error_capacity, "the model proto could not be read back after loading");
        delete proc;
        return nullptr;
    }
    return proc;
}

void csp_free(csp_processor *processor) { delete processor; }

int32_t *csp_encode(const csp_processor *processor, const char *text, size_t length,
                    size_t *count, char *error, size_t error_capacity) {
    std::vector<int> ids;
    const auto status = processor->sp.Encode(std::string_view(text, length), &ids);
    if (!status.ok()) {
        write_error(error, error_capacity, status.ToString());
        return nullptr;
    }
    int32_t *out = static_cast<int32_t *>(std::malloc(sizeof(int32_t) * (ids.size() + 1)));
    if (out == nullptr) {
        write_error(error, error_capacity, "out of memory");
        return nullptr;
    }
    for (size_t i = 0; i < ids.size(); ++i) out[i] = int32_t(ids[i]);
    *count = ids.size();
    return out;
}

void csp_free_ids(int32_t *ids) { std::free(ids); }

char *csp_decode(const csp_processor *processor, const int32_t *ids, size_t count,
                 size_t *length, char *error, size_t error_capacity) {
    std::vector<int> input(ids, ids + count);
    std::string text;
    const auto status = processor->sp.Decode(input, &text);
    if (!status.ok()) {
        write_error(error, error_capacity, status.ToString());
        return nullptr;
    }
    char *out = static_cast<char *>(std::malloc(text.size() + 1));
    if (out == nullptr) {
        write_error(error, error_capacity, "out of memory");
        return nullptr;
    }
    std::memcpy(out, text.data(), text.size());
    out[text.size()] = '\0';
    *length = text.size();
    return out;
}

void csp_free_text(char *text) { std::free(text); }

int32_t csp_vocab_size(const csp_processor *processor) { return processor->sp.GetPieceSize(); }

static bool in_range(const csp_processor *processor, int32_t id) {
    return id >= 0 && id < processor->sp.GetPieceSize();
}

const char *csp_piece(const csp_processor *processor, int32_t id, size_t *length) {
    if (!in_range(processor, id)) return nullptr;
    const std::string &piece = processor->sp.IdToPiece(id);
    *length = piece.size();
    return piece.data();
}

float csp_score(const csp_processor *processor, int32_t id) {
    return in_range(processor, id) ? processor->sp.GetScore(id) : 0.0f;
}

int32_t csp_piece_type(const csp_processor *processor, int32_t id) {
    return in_range(processor, id) ? processor->types[size_t(id)] : 0;
}

int32_t csp_bos_id(const csp_processor *processor) { return processor->sp.bos_id(); }
int32_t csp_eos_id(const csp_processor *processor) { return processor->sp.eos_id(); }
int32_t csp_unk_id(const csp_processor *processor) { return processor->sp.unk_id(); }

csp_normalizer csp_normalizer_spec(const csp_processor *processor) { return processor->normalizer; }

}  // extern "C"
