import Foundation
import XCTest
@testable import Runtime
import TestSupport

/// The architecture descriptors: names, roles, input groups, GGUF names, refused config keys.
final class ArchitectureTests: XCTestCase {
    override func setUp() { Parallel.setThreads(2) }

    /// Every block linear name parses back to its block and slot, the model finds it, and its
    /// shape fits its role; names that are not block linears parse to nil.
    func testNamesRoundTrip() throws {
        for name in ["tiny-llama", "tiny-opt", "tiny-qwen2", "tiny-mistral", "tiny-llama3"] {
            let m = try Fixtures.model(name)
            let a = m.architecture, c = m.config
            XCTAssertEqual(a.kind, c.architecture, name)
            XCTAssertEqual(m.blockLinearNames.count, c.numLayers * a.linears.count, name)
            for n in m.blockLinearNames {
                let (b, s) = try XCTUnwrap(a.parseLinear(n), n)
                XCTAssertEqual(a.linearName(block: b, slot: s), n)
                let l = try XCTUnwrap(m.linear(n), n)
                switch a.linears[s].role {
                case .mlpIn: XCTAssertEqual(l.outFeatures, c.intermediateSize, n)
                case .mlpOut: XCTAssertEqual(l.inFeatures, c.intermediateSize, n)
                case .attentionQuery: XCTAssertEqual(l.outFeatures, c.qDim, n)
                case .attentionKey, .attentionValue: XCTAssertEqual(l.outFeatures, c.kvDim, n)
                case .attentionOutput: XCTAssertEqual(l.inFeatures, c.qDim, n)
                }
                XCTAssertEqual(a.role(of: n)?.isAttention, a.linears[s].hf.hasPrefix("self_attn."), n)
            }
            let first = a.linearName(block: 0, slot: 0)
            for bad in [a.linearName(block: c.numLayers, slot: 0), first + "x", first + ".weight",
                        a.blockPrefix + "-1." + a.linears[0].hf, "lm_head"] {
                XCTAssertNil(m.linear(bad), "\(name): \(bad)")
            }
            // the other architecture's names are not this one's
            let other: ArchitectureDescriptor = a.kind == .opt ? .llama : .opt
            XCTAssertNil(a.parseLinear(other.linearName(block: 0, slot: 3)), name)
            let g = a.mlpGroup(block: 1)
            XCTAssertEqual(a.role(of: g.first), .mlpIn)
            XCTAssertEqual(a.role(of: g.last), .mlpOut)
            XCTAssertEqual(g.second != nil, a.kind != .opt)
        }
    }

    /// The observer reports, in the training tape and in the block-by-block pass, the input groups
    /// the descriptor states, and the layers of one group see the very same input.
    func testInputGroupsMatchObserver() throws {
        for name in ["tiny-llama", "tiny-opt", "tiny-qwen2", "tiny-mistral"] {
            let m = try Fixtures.model(name)
            let a = m.architecture
            let tokens: [Int32] = (0..<12).map { Int32(($0 * 7 + 3) % m.config.vocabSize) }
            let tapeSeen = GroupRecorder(), blockSeen = GroupRecorder()
            try m.makeTrainingTape().forward(tokens, observer: tapeSeen)
            var x = try m.blockInput(tokens)
            let scratch = BlockScratch()
            for b in 0..<m.blockCount { try m.forwardBlock(b, &x, T: tokens.count, observer: blockSeen, scratch: scratch) }
            for seen in [tapeSeen, blockSeen] {
                XCTAssertEqual(seen.order, m.blockLinearNames, "\(name): model order")
                for (layer, group) in seen.groups {
                    XCTAssertEqual(group, a.inputGroup(of: layer), "\(name) \(layer)")
                    XCTAssertEqual(seen.inputs[layer], seen.inputs[group], "\(name) \(layer): same input as \(group)")
                }
                let leaders = Set(seen.groups.values)
                XCTAssertEqual(leaders.count, a.inputGroups.count * m.config.numLayers, name)
            }
        }
    }

    /// GGUF names map to Hugging Face names and back through the llama descriptor.
    func testGGUFNames() {
        let a = ArchitectureDescriptor.llama
        for (s, slot) in a.linears.enumerated() {
            guard let g = slot.gguf else { return XCTFail("\(slot.hf) has no GGUF name") }
            XCTAssertEqual(a.hfName(gguf: "blk.3.\(g).weight"), a.linearName(block: 3, slot: s) + ".weight")
            XCTAssertEqual(a.hfName(gguf: "blk.0.\(g).bias"), a.linearName(block: 0, slot: s) + ".bias")
        }
        XCTAssertEqual(a.hfName(gguf: "blk.2.attn_norm.weight"), "model.layers.2.input_layernorm.weight")
        XCTAssertEqual(a.hfName(gguf: "blk.2.ffn_norm.weight"), "model.layers.2.post_attention_layernorm.weight")
        XCTAssertEqual(a.hfName(gguf: "token_embd.weight"), "model.embed_tokens.weight")
        XCTAssertEqual(a.hfName(gguf: "output_norm.weight"), "model.norm.weight")
        XCTAssertEqual(a.hfName(gguf: "output.weight"), "lm_head.weight")
        for bad in ["blk.x.attn_q.weight", "blk.1.attn_qq.weight", "rope_freqs.weight", "blk.1.attn_q"] {
            XCTAssertNil(a.hfName(gguf: bad), bad)
        }
        XCTAssertEqual(Architecture.allCases.filter { $0.descriptor.ggufArchitectures.contains("llama") }, [.llama])
        XCTAssertEqual(Architecture.allCases.filter { $0.descriptor.ggufArchitectures.contains("qwen2") }, [.qwen2])
        // llama.cpp's Qwen2 bias names, and its q/k rows stay in Hugging Face order
        let q = ArchitectureDescriptor.qwen2
        XCTAssertEqual(q.hfName(gguf: "blk.1.attn_k.bias"), "model.layers.1.self_attn.k_proj.bias")
        XCTAssertTrue(a.ggufPermutesRotary)
        XCTAssertFalse(q.ggufPermutesRotary)
    }

    /// The config.json written for a model (e.g. from a GGUF source) reads back as the same config.
    func testConfigJSONRoundTrip() throws {
        for name in ["tiny-llama", "tiny-opt", "tiny-qwen2", "tiny-mistral", "tiny-llama3"] {
            let c = try Fixtures.model(name).config
            XCTAssertEqual(try ModelConfig.fromHuggingFace(json: c.huggingFaceJSON(), file: "config.json"), c, name)
        }
        var c = try Fixtures.model("tiny-llama").config
        for s in [RoPEScaling.linear(factor: 2), .divisors([1, 2, 3, 4, 5, 6, 7, 8])] {
            c.ropeScaling = s
            XCTAssertEqual(try ModelConfig.fromHuggingFace(json: c.huggingFaceJSON(), file: "config.json"), c, "\(s)")
        }
    }

    /// What the new variants read: Qwen2's biases and no window, Mistral's window, Llama-3's scaling
    /// in both spellings (rope_parameters with rope_theta inside; rope_scaling and top-level rope_theta,
    /// with `rope_type` or the older `type`).
    func testVariantConfigs() throws {
        let qwen = try Fixtures.model("tiny-qwen2").config
        XCTAssertEqual(qwen.architecture, .qwen2)
        XCTAssertTrue(qwen.attentionBias)
        XCTAssertNil(qwen.slidingWindow)
        XCTAssertEqual(qwen.ropeTheta, 1e6)
        let qm = try XCTUnwrap(Fixtures.model("tiny-qwen2") as? LlamaModel)
        XCTAssertNotNil(qm.blocks[0].q.bias)
        XCTAssertNil(qm.blocks[0].o.bias)
        let mistral = try Fixtures.model("tiny-mistral").config
        XCTAssertEqual(mistral.architecture, .mistral)
        XCTAssertEqual(mistral.slidingWindow, 16)
        let l3 = try Fixtures.model("tiny-llama3").config
        let expected = RoPEScaling.llama3(factor: 8, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositions: 64)
        XCTAssertEqual(l3.ropeScaling, expected)
        XCTAssertEqual(l3.ropeTheta, 5e5)
        let base = try Fixtures.json(Fixtures.directory("tiny-llama3/config.json"))
        for typeKey in ["rope_type", "type"] {
            var j = base
            j["rope_parameters"] = nil
            j["rope_theta"] = 5e5
            j["rope_scaling"] = ["factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                                 "original_max_position_embeddings": 64, typeKey: "llama3"]
            XCTAssertEqual(try ModelConfig.fromHuggingFace(json: j, file: "config.json"), l3, typeKey)
        }
        // the three bands of the fixture's 8 frequencies: 1 kept, 1 interpolated, 6 divided by 8
        let rope = RoPETable(headDim: 16, positions: 4, theta: 5e5, scaling: expected)
        var kept = 0, divided = 0, between = 0
        for i in 0..<8 {
            let f = 1 / pow(5e5, Double(2 * i) / 16)
            let s = expected.scaled(f, pair: i)
            if s == f { kept += 1 } else if abs(s - f / 8) < 1e-15 * f { divided += 1 } else { between += 1; XCTAssert(s < f && s > f / 8) }
        }
        XCTAssertEqual([kept, between, divided], [1, 1, 6])
        XCTAssertEqual(rope.scaling, expected)
    }

    /// A config key the architecture does not implement is refused with an error naming it.
    func testRefusedConfigKeys() throws {
        let file = Fixtures.fixture("tiny-llama/config.json")
        let data = try Data(contentsOf: URL(fileURLWithPath: file))
        let base = try XCTUnwrap(JSONSerialization.jsonObject(with: data) as? [String: Any])
        let maxPos = try XCTUnwrap((base["max_position_embeddings"] as? NSNumber)?.intValue)
        func load(_ edit: (inout [String: Any]) -> Void) throws -> ModelConfig {
            var j = base
            edit(&j)
            return try ModelConfig.fromHuggingFace(json: j, file: "config.json")
        }
        func refusedKey(_ edit: (inout [String: Any]) -> Void) -> String? {
            do {
                _ = try load(edit)
                return nil
            } catch let ModelError.unsupportedConfigKey(_, key, _) {
                return key
            } catch {
                return "other error: \(error)"
            }
        }
        // a Llama config with a window (Hugging Face's Llama has none; Mistral says so by model_type)
        XCTAssertEqual(refusedKey { $0["sliding_window"] = 1 }, "sliding_window")
        XCTAssertEqual(try load { $0["model_type"] = "mistral"; $0["sliding_window"] = maxPos / 2 }.slidingWindow, maxPos / 2)
        for t in ["yarn", "dynamic", "longrope"] {
            XCTAssertEqual(refusedKey { $0["rope_scaling"] = ["type": t, "factor": 2.0] }, "rope_scaling", t)
            XCTAssertEqual(refusedKey { $0["rope_parameters"] = ["rope_type": t, "factor": 2.0, "rope_theta": 1e4] },
                           "rope_parameters", t)
        }
        XCTAssertEqual(try load { $0["rope_scaling"] = ["type": "linear", "factor": 2.0] }.ropeScaling, .linear(factor: 2))
        // Qwen2: per-layer windows are refused; use_sliding_window false means none, whatever sliding_window says
        XCTAssertEqual(refusedKey { $0["model_type"] = "qwen2"; $0["use_sliding_window"] = true; $0["sliding_window"] = 8 },
                       "use_sliding_window")
        XCTAssertEqual(refusedKey { $0["model_type"] = "qwen2"; $0["layer_types"] = ["full_attention", "sliding_attention"] },
                       "layer_types")
        XCTAssertNil(try load { $0["model_type"] = "qwen2"; $0["use_sliding_window"] = false; $0["sliding_window"] = 8 }.slidingWindow)
        // set but not limiting, or null: nothing to implement
        XCTAssertEqual(try load { $0["sliding_window"] = maxPos }, try load { _ in })
        XCTAssertEqual(try load { $0["sliding_window"] = NSNull(); $0["rope_scaling"] = NSNull() }, try load { _ in })
        let message = ModelError.unsupportedConfigKey(file: "config.json", key: "sliding_window", detail: "d").description
        XCTAssertTrue(message.contains("\"sliding_window\""), message)
        for arch in Architecture.allCases {
            let d = arch.descriptor
            XCTAssertTrue(d.modelTypes.contains(arch.rawValue))
            XCTAssertEqual(d.kind, arch)
            XCTAssertEqual(Set(d.inputGroups.flatMap { $0 }), Set(d.linears.indices), "\(arch): every slot in one group")
            XCTAssertEqual(d.inputGroups.flatMap { $0 }.count, d.linears.count, "\(arch): no slot in two groups")
        }
        XCTAssertTrue(ArchitectureDescriptor.llama.configKeys.contains("sliding_window"))
    }
}

/// Records what the observer sees: order, input group and the input's contents per layer.
private final class GroupRecorder: LinearObserver {
    var order: [String] = []
    var groups: [String: String] = [:]
    var inputs: [String: [Float]] = [:]

    func observe(_ a: LinearActivity) {
        order.append(a.name)
        groups[a.name] = a.inputGroup
        inputs[a.name] = Array(UnsafeBufferPointer(start: a.input, count: a.tokens * a.inFeatures))
    }
}
