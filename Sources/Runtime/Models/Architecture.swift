/// The architectures the engine runs; each has one descriptor (`LlamaArchitecture.swift`,
/// `Qwen2Architecture.swift`, `MistralArchitecture.swift`, `OPTArchitecture.swift`) and runs one
/// block implementation (`LlamaBlock.swift` for the Llama-shaped ones, `OPTBlock.swift`).
public enum Architecture: String, Sendable, CaseIterable {
    case opt
    case llama
    case qwen2
    case mistral

    /// What this architecture is: names, roles, input groups, head layout, config keys.
    public var descriptor: ArchitectureDescriptor {
        switch self {
        case .opt: return .opt
        case .llama: return .llama
        case .qwen2: return .qwen2
        case .mistral: return .mistral
        }
    }
}

/// What a block linear layer does; consumers ask the role, never the name.
public enum LinearRole: String, Sendable, CaseIterable {
    case attentionQuery, attentionKey, attentionValue, attentionOutput
    /// First layer(s) of the MLP (gate/up, fc1): [F, C].
    case mlpIn
    /// Last layer of the MLP (down, fc2): [C, F].
    case mlpOut

    public var isAttention: Bool {
        switch self {
        case .attentionQuery, .attentionKey, .attentionValue, .attentionOutput: return true
        case .mlpIn, .mlpOut: return false
        }
    }
}

/// One linear layer of a block.
public struct LinearSlot: Sendable, Equatable {
    /// Hugging Face name inside a block, without `.weight` (e.g. `self_attn.q_proj`).
    public let hf: String
    /// GGUF name inside a block, without `.weight` (e.g. `attn_q`); nil when GGUF does not carry it.
    public let gguf: String?
    public let role: LinearRole
}

/// A tensor that is not a block linear, named in Hugging Face and GGUF.
public struct TensorName: Sendable, Equatable {
    /// Hugging Face name without `.weight` (global: full name; block: name inside the block).
    public let hf: String
    public let gguf: String?
}

/// Everything the rest of the engine needs to know about an architecture without running it.
/// Names follow Hugging Face; a block linear is `blockPrefix + "\(i)." + slot.hf`.
public struct ArchitectureDescriptor: Sendable {
    public let kind: Architecture
    /// Hugging Face `model_type` values this architecture serves.
    public let modelTypes: [String]
    /// GGUF `general.architecture` values this architecture serves (empty: no GGUF support).
    public let ggufArchitectures: [String]
    /// Prefix of block i's tensors before the index: `model.layers.` (so block 0 is `model.layers.0.`).
    public let blockPrefix: String
    /// The block's linear layers in model order (the order observers see them in the forward pass).
    public let linears: [LinearSlot]
    /// Slot indices reading one and the same activation (q/k/v; gate/up); every slot is in exactly one group.
    public let inputGroups: [[Int]]
    /// Norm weights inside a block.
    public let blockNorms: [TensorName]
    /// Tensors outside the blocks (embedding, final norm, lm_head).
    public let globalTensors: [TensorName]
    /// Attention: RoPE rotate-half on q and k (GGUF files permute their rows), or learned positions.
    public let rotary: Bool
    /// Keys and values may have fewer heads than queries (num_key_value_heads).
    public let groupedQueryAttention: Bool
    /// `tie_word_embeddings` when the config does not say.
    public let tiedHeadDefault: Bool
    /// The config.json keys this architecture reads; a key it refuses is named in the error.
    public let configKeys: [String]
    /// llama.cpp stores the rotary q/k rows permuted (its `llama` layout; not for Qwen2's NEOX RoPE).
    public var ggufPermutesRotary: Bool = true

    /// `model.layers.3.` for block 3.
    public func blockName(_ block: Int) -> String { blockPrefix + "\(block)." }

    /// Hugging Face name of a block linear without `.weight`, e.g. `model.layers.0.self_attn.q_proj`.
    public func linearName(block: Int, slot: Int) -> String { blockName(block) + linears[slot].hf }

    /// Every block linear of a model with `blocks` blocks, in model order.
    public func blockLinearNames(blocks: Int) -> [String] {
        (0..<blocks).flatMap { b in linears.indices.map { linearName(block: b, slot: $0) } }
    }

    /// The slot of a role (the first one if several share it).
    public func slot(_ role: LinearRole) -> Int? { linears.firstIndex { $0.role == role } }

    /// Block index and slot of a block linear's Hugging Face name (without `.weight`); nil if it is none.
    public func parseLinear(_ name: String) -> (block: Int, slot: Int)? {
        guard name.hasPrefix(blockPrefix) else { return nil }
        let rest = name.dropFirst(blockPrefix.count)
        guard let dot = rest.firstIndex(of: "."), let b = Int(rest[..<dot]), b >= 0 else { return nil }
        let inner = rest[rest.index(after: dot)...]
        guard let s = linears.firstIndex(where: { $0.hf == inner }) else { return nil }
        return (b, s)
    }

    /// The role of a block linear by its Hugging Face name; nil if the name is not one.
    public func role(of name: String) -> LinearRole? { parseLinear(name).map { linears[$0.slot].role } }

    /// The first slot of the group reading the same input as `slot`.
    public func groupLeader(_ slot: Int) -> Int { inputGroups.first { $0.contains(slot) }?.first ?? slot }

    /// The Hugging Face name of the group leader of a block linear (what `LinearActivity.inputGroup` holds).
    public func inputGroup(of name: String) -> String? {
        parseLinear(name).map { linearName(block: $0.block, slot: groupLeader($0.slot)) }
    }

    /// The MLP layers of a block by name: the first (gate or fc1), the second reading the same input
    /// (up; nil for OPT) and the last (down or fc2). Compaction keeps their intermediate units in step.
    public func mlpGroup(block: Int) -> (first: String, second: String?, last: String) {
        let ins = linears.indices.filter { linears[$0].role == .mlpIn }
        let out = linears.lastIndex { $0.role == .mlpOut } ?? linears.count - 1
        return (linearName(block: block, slot: ins.first ?? out), ins.count > 1 ? linearName(block: block, slot: ins[1]) : nil,
                linearName(block: block, slot: out))
    }

    /// Hugging Face name of a GGUF tensor name (`blk.3.attn_q.weight` -> `model.layers.3.self_attn.q_proj.weight`).
    public func hfName(gguf g: String) -> String? {
        for t in globalTensors {
            guard let gn = t.gguf, g.hasPrefix(gn + ".") else { continue }
            return t.hf + g.dropFirst(gn.count)
        }
        let parts = g.split(separator: ".", maxSplits: 2).map(String.init)
        guard parts.count == 3, parts[0] == "blk", let n = Int(parts[1]) else { return nil }
        let sub = parts[2].split(separator: ".", maxSplits: 1).map(String.init)
        guard sub.count == 2 else { return nil }
        let inner = linears.first { $0.gguf == sub[0] }?.hf ?? blockNorms.first { $0.gguf == sub[0] }?.hf
        guard let inner else { return nil }
        return blockName(n) + inner + "." + sub[1]
    }
}
