import Foundation
import Runtime
import TestSupport
import Tokenize

/// Seed corpora of the model-file targets, written by the targets themselves
/// (`SURGEON_FUZZ_SEEDS=DIR fuzz-X`, see `Harness.initialize`).
public enum ModelSeeds {
    /// model.safetensors of the tiny model (F32 and BF16).
    public static func safetensors(_ dir: String) throws {
        for bf16 in [false, true] {
            let tmp = Harness.directory("seed-st-\(bf16)")
            try TinyModel.writeDirectory(tmp, bf16: bf16)
            try copy(tmp + "/model.safetensors", to: dir + "/tiny-\(bf16 ? "bf16" : "f32").safetensors")
        }
    }

    /// config.json files: the tiny model's and the fixtures' (other architectures and keys).
    public static func configs(_ dir: String) throws {
        let tiny = try JSONSerialization.data(withJSONObject: TinyModel.configJSON, options: [.sortedKeys, .prettyPrinted])
        try tiny.write(to: URL(fileURLWithPath: dir + "/tiny.json"))
        for name in ["stories260K", "tiny-llama", "tiny-llama3", "tiny-mistral", "tiny-opt", "tiny-qwen2"] {
            try copy(Harness.fixtures + "/\(name)/config.json", to: dir + "/\(name).json")
        }
    }

    /// Two GGUF models: the tiny model in F32 with a byte-level BPE vocabulary, and a wider one
    /// (hidden 32) in Q4_0/Q4_1/Q8_0/F16/BF16 with stories260K's SentencePiece vocabulary.
    public static func gguf(_ dir: String) throws {
        try tinyGGUF().bytes().write(to: URL(fileURLWithPath: dir + "/tiny-f32-gpt2.gguf"))
        try quantizedGGUF().bytes().write(to: URL(fileURLWithPath: dir + "/quant-llama-spm.gguf"))
    }

    static func llamaMetadata(hidden: Int, heads: Int, kvHeads: Int, ff: Int) -> [(String, GGUFValue)] {
        [("general.architecture", .string("llama")), ("general.alignment", .uint(32)),
         ("llama.context_length", .uint(32)), ("llama.embedding_length", .uint(UInt64(hidden))),
         ("llama.block_count", .uint(1)), ("llama.feed_forward_length", .uint(UInt64(ff))),
         ("llama.attention.head_count", .uint(UInt64(heads))), ("llama.attention.head_count_kv", .uint(UInt64(kvHeads))),
         ("llama.rope.freq_base", .float(10000)), ("llama.attention.layer_norm_rms_epsilon", .float(1e-5))]
    }

    /// GGUF tensor names with ne (innermost first) for a one-block Llama.
    static func llamaTensors(vocab: Int, hidden: Int, q: Int, kv: Int, ff: Int) -> [(String, [Int])] {
        [("token_embd.weight", [hidden, vocab]), ("output_norm.weight", [hidden]),
         ("blk.0.attn_norm.weight", [hidden]), ("blk.0.ffn_norm.weight", [hidden]),
         ("blk.0.attn_q.weight", [hidden, q]), ("blk.0.attn_k.weight", [hidden, kv]), ("blk.0.attn_v.weight", [hidden, kv]),
         ("blk.0.attn_output.weight", [q, hidden]), ("blk.0.ffn_gate.weight", [hidden, ff]),
         ("blk.0.ffn_up.weight", [hidden, ff]), ("blk.0.ffn_down.weight", [ff, hidden])]
    }

    static func f32(_ v: [Float]) -> [UInt8] { v.withUnsafeBytes { Array($0) } }

    static func tinyGGUF() -> TinyGGUF {
        var g = TinyGGUF()
        g.metadata = llamaMetadata(hidden: TinyModel.hidden, heads: TinyModel.heads, kvHeads: TinyModel.kvHeads, ff: TinyModel.ff)
        // 3 control tokens, byte-level letters and space, two merges: 64 tokens.
        var tokens = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "\u{120}"]
        tokens += (0x41...0x7A).map { String(UnicodeScalar(UInt8($0))) }
        tokens += ["he", "ll"]
        let types: [GGUFValue] = tokens.indices.map { .int($0 < 3 ? 3 : 1) }
        g.metadata += [("tokenizer.ggml.model", .string("gpt2")), ("tokenizer.ggml.pre", .string("smollm")),
                       ("tokenizer.ggml.tokens", .array(tokens.map { .string($0) })), ("tokenizer.ggml.token_type", .array(types)),
                       ("tokenizer.ggml.merges", .array([.string("h e"), .string("l l")])),
                       ("tokenizer.ggml.bos_token_id", .uint(1)), ("tokenizer.ggml.eos_token_id", .uint(2)),
                       ("tokenizer.ggml.add_bos_token", .bool(false)),
                       ("tokenizer.chat_template", .string("{% for message in messages %}<|im_start|>{{ message['role'] }}\n{{ message['content'] }}<|im_end|>\n{% endfor %}"))]
        let shapes = llamaTensors(vocab: tokens.count, hidden: TinyModel.hidden, q: TinyModel.heads * TinyModel.headDim,
                                  kv: TinyModel.kvHeads * TinyModel.headDim, ff: TinyModel.ff)
        g.tensors = shapes.enumerated().map { i, s in
            (s.0, .f32, s.1, f32(TinyModel.values(s.1.reduce(1, *), seed: UInt64(i), norm: s.1.count == 1)))
        }
        return g
    }

    static func quantizedGGUF() throws -> TinyGGUF {
        let spm = try SentencePieceTokenizer(modelFile: URL(fileURLWithPath: Harness.fixtures + "/stories260K/tokenizer.model"))
        let v = spm.vocabulary
        let hidden = 32, heads = 4, kvHeads = 2, headDim = 8, ff = 32
        var g = TinyGGUF()
        g.metadata = llamaMetadata(hidden: hidden, heads: heads, kvHeads: kvHeads, ff: ff)
        g.metadata += [("tokenizer.ggml.model", .string("llama")),
                       ("tokenizer.ggml.tokens", .array(v.pieces.map { .string($0) })),
                       ("tokenizer.ggml.scores", .array(v.scores.map { .float(Double($0)) })),
                       ("tokenizer.ggml.token_type", .array(v.types.map { .int(Int64($0.rawValue)) })),
                       ("tokenizer.ggml.bos_token_id", .uint(UInt64(v.bosId ?? 1))),
                       ("tokenizer.ggml.eos_token_id", .uint(UInt64(v.eosId ?? 2))),
                       ("tokenizer.ggml.unknown_token_id", .uint(UInt64(v.unkId ?? 0))),
                       ("tokenizer.ggml.add_bos_token", .bool(true)), ("tokenizer.ggml.add_eos_token", .bool(false)),
                       ("tokenizer.ggml.add_space_prefix", .bool(true)),
                       ("tokenizer.ggml.remove_extra_whitespaces", .bool(false))]
        let shapes = llamaTensors(vocab: v.pieces.count, hidden: hidden, q: heads * headDim, kv: kvHeads * headDim, ff: ff)
        let kinds: [GGMLType] = [.q4_0, .f32, .f32, .f32, .q8_0, .f16, .bf16, .q4_1, .q8_0, .q4_0, .q4_1]
        g.tensors = zip(shapes, kinds).enumerated().map { i, e in
            let n = e.0.1.reduce(1, *)
            let x = TinyModel.values(n, seed: UInt64(100 + i), norm: e.0.1.count == 1)
            return (e.0.0, e.1, e.0.1, encode(x, as: e.1, seed: UInt64(i)))
        }
        return g
    }

    /// `x` in ggml type `type` (quantized blocks: a small scale and generator-chosen quants).
    static func encode(_ x: [Float], as type: GGMLType, seed: UInt64) -> [UInt8] {
        func half(_ f: Float) -> [UInt8] { withUnsafeBytes(of: Float16(f).bitPattern.littleEndian) { Array($0) } }
        let q = TinyModel.values(x.count, seed: seed).map { UInt8(Int(($0 + 0.5) * 255) & 0xFF) }
        switch type {
        case .f32: return f32(x)
        case .f16: return x.flatMap(half)
        case .bf16: return x.flatMap { v in withUnsafeBytes(of: floatToBFloat16(v).littleEndian) { Array($0) } }
        case .q8_0: return stride(from: 0, to: x.count, by: 32).flatMap { b in half(0.004) + q[b..<(b + 32)] }
        case .q4_0: return stride(from: 0, to: x.count, by: 32).flatMap { b in half(0.05) + q[b..<(b + 16)] }
        case .q4_1: return stride(from: 0, to: x.count, by: 32).flatMap { b in half(0.05) + half(-0.4) + q[b..<(b + 16)] }
        }
    }

    static func copy(_ from: String, to: String) throws {
        if FileManager.default.fileExists(atPath: to) { try FileManager.default.removeItem(atPath: to) }
        try FileManager.default.copyItem(atPath: from, toPath: to)
    }
}
